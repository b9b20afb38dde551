//! Equipment shared by the `hardening_*` tests: reading one metric, the proxy process's open
//! file descriptors and resident memory, and a raw client that can stop half-way.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// The value of one sample in a Prometheus text exposition (`name{labels}` exactly as
/// rendered), or 0 when the sample is absent.
pub fn metric(text: &str, sample: &str) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| {
            let (name, value) = l.rsplit_once(' ')?;
            (name == sample).then(|| value.parse().ok())?
        })
        .unwrap_or(0.0)
}

/// Open file descriptors of a process.
pub fn fd_count(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// What `file` (`comm`, `status`, …) holds for each thread of a process.
fn per_thread(pid: u32, file: &str) -> Vec<String> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    tasks
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join(file)).ok())
        .collect()
}

/// The names of a process's threads.
pub fn thread_names(pid: u32) -> Vec<String> {
    per_thread(pid, "comm")
        .into_iter()
        .map(|n| n.trim().to_string())
        .collect()
}

/// Context switches (voluntary and not) of all of a process's threads so far.
pub fn context_switches(pid: u32) -> u64 {
    per_thread(pid, "status")
        .iter()
        .flat_map(|status| status.lines())
        .filter(|l| l.contains("ctxt_switches"))
        .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        .sum()
}

/// Resident set size of a process, in KiB.
pub fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Polls `f` until it returns true or `within` passes; returns whether it became true.
pub fn eventually(within: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    loop {
        if f() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A connection to the proxy with a read timeout, for exchanges the ordinary client cannot
/// express (stopping half-way, pipelining, odd framing).
pub fn connect(port: u16, read_timeout: Duration) -> TcpStream {
    let s = TcpStream::connect(("127.0.0.1", port)).expect("connect to proxy");
    s.set_read_timeout(Some(read_timeout))
        .expect("read timeout");
    s.set_nodelay(true).expect("nodelay");
    s
}

/// How a read until end of stream ended.
#[derive(Debug, PartialEq, Eq)]
pub enum ReadEnd {
    /// The peer closed (EOF or reset).
    Closed,
    /// Nothing arrived for the read timeout: the peer kept the connection open.
    TimedOut,
}

/// Reads until the peer closes or the read timeout fires.
pub fn read_until_close(s: &mut TcpStream) -> (Vec<u8>, ReadEnd) {
    let mut out = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return (out, ReadEnd::Closed),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return (out, ReadEnd::TimedOut)
            }
            Err(_) => return (out, ReadEnd::Closed),
        }
    }
}

/// Writes a request head for `POST path` with the given extra header lines.
pub fn post_head(s: &mut TcpStream, path: &str, extra: &[&str]) {
    let port = s.peer_addr().map(|a| a.port()).unwrap_or(0);
    let mut head = format!("POST {path} HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\n");
    for h in extra {
        head.push_str(h);
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).expect("write head");
}

/// Number of HTTP responses (status lines) in a byte stream.
pub fn status_lines(bytes: &[u8]) -> Vec<u16> {
    let text = String::from_utf8_lossy(bytes);
    text.match_indices("HTTP/1.")
        .filter_map(|(i, _)| {
            let rest = &text[i..];
            let code = rest.split_whitespace().nth(1)?;
            (code.len() == 3).then(|| code.parse().ok())?
        })
        .collect()
}

/// A Messages API body whose user text is `text`.
pub fn messages_body(text: &str, stream: bool) -> Vec<u8> {
    serde_json::json!({
        "model": "claude-sonnet-4-5",
        "max_tokens": 64,
        "stream": stream,
        "messages": [{"role": "user", "content": text}],
    })
    .to_string()
    .into_bytes()
}
