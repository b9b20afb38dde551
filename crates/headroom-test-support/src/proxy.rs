//! Test equipment shared by the integration tests: the real `headroom` binary started on a free
//! port with a temp config, a raw HTTP/1.1 client, and the fake upstream.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Longer than the headroom binary's access-log batching interval (100 ms), with margin for a
/// busy machine.
const ACCESS_LINES_WRITTEN_WITHIN: Duration = Duration::from_millis(250);

/// What `/health` answers.
const HEALTHY: &[u8] = br#"{"status":"healthy"}"#;

/// A running `headroom` process. Killed on drop.
pub struct Proxy {
    pub port: u16,
    pub child: Child,
    pub dir: tempfile::TempDir,
    pub config_path: PathBuf,
    pub stderr_path: PathBuf,
}

impl Proxy {
    /// Starts the binary with `yaml` (a `listen:` line is added) and waits for `/health`.
    pub fn start(yaml: &str) -> Proxy {
        Proxy::start_with_env(yaml, &[])
    }

    pub fn start_with_env(yaml: &str, env: &[(&str, &str)]) -> Proxy {
        let dir = tempfile::tempdir().unwrap();
        let port = crate::free_port();
        let config_path = dir.path().join("headroom.yaml");
        let full = format!(
            "listen: 127.0.0.1:{port}\nstats:\n  path: {}\n  flush_seconds: 1\n{yaml}",
            dir.path().join("stats.json").display()
        );
        std::fs::write(&config_path, full).unwrap();
        Proxy::spawn(dir, port, config_path, env)
    }

    /// Starts with an existing state dir and config (e.g. after a restart).
    pub fn spawn(
        dir: tempfile::TempDir,
        port: u16,
        config_path: PathBuf,
        env: &[(&str, &str)],
    ) -> Proxy {
        let stderr_path = dir.path().join(format!(
            "stderr-{}.log",
            Instant::now().elapsed().as_nanos()
        ));
        let stderr = std::fs::File::create(&stderr_path).unwrap();
        let mut cmd = Command::new(crate::headroom_bin());
        cmd.arg("-c")
            .arg(&config_path)
            .env_remove("ANTHROPIC_API_KEY")
            .env_remove("HEADROOM_PROXY_PORT")
            .env_remove("HEADROOM_HOST")
            .env_remove("HEADROOM_COMPRESSION_PROVIDER")
            .env_remove("HEADROOM_LLMLINGUA_DEVICE")
            .env("HOME", dir.path())
            .stdout(Stdio::null())
            .stderr(stderr);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("spawn headroom");
        let mut p = Proxy {
            port,
            child,
            dir,
            config_path,
            stderr_path,
        };
        p.wait_healthy();
        p
    }

    fn wait_healthy(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("headroom exited early ({status}): {}", self.stderr());
            }
            // Only headroom's own answer counts: another server on the port is not this proxy.
            if let Ok(r) = request(self.port, "GET", "/health", &[], b"") {
                if r.status == 200 && r.body == HEALTHY {
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        panic!("headroom did not become healthy: {}", self.stderr());
    }

    /// The proxy's log so far. A running proxy batches its access lines and writes them within
    /// 100 ms (`logging::ACCESS_LOG_FLUSH` in the headroom crate): this waits a little longer
    /// first, so every request answered before the call has its line in the text.
    pub fn stderr(&self) -> String {
        std::thread::sleep(ACCESS_LINES_WRITTEN_WITHIN);
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    pub fn signal(&self, sig: i32) {
        unsafe {
            libc::kill(self.child.id() as i32, sig);
        }
    }

    /// Waits for exit; returns the exit code (None: still running at the deadline).
    pub fn wait_exit(&mut self, within: Duration) -> Option<i32> {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Ok(Some(s)) = self.child.try_wait() {
                return s.code();
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        None
    }

    pub fn post_json(&self, path: &str, body: &[u8]) -> Response {
        request(
            self.port,
            "POST",
            path,
            &[("content-type", "application/json")],
            body,
        )
        .expect("request through proxy")
    }

    /// `/stats` once `ready` holds for it (requests are recorded just after their response
    /// goes out, so a client can ask before the last one is counted), or as it is after 5 s.
    pub fn stats_when(&self, ready: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let s = self.get("/stats").json();
            if ready(&s) || Instant::now() > deadline {
                return s;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Whether, within 5 s, nothing is in flight but the asking `/health?verbose=1` itself: every
    /// request answered before the call has then been through its logging phase (metrics,
    /// stats record, access line), which runs just after its response goes out.
    pub fn settled(&self) -> bool {
        self.settled_with(&[])
    }

    /// [`Proxy::settled`] with `headers` on the probe (e.g. a gateway's token).
    pub fn settled_with(&self, headers: &[(&str, &str)]) -> bool {
        crate::hardening::eventually(Duration::from_secs(5), || {
            request(self.port, "GET", "/health?verbose=1", headers, b"")
                .is_ok_and(|r| r.json()["in_flight"] == 1)
        })
    }

    pub fn get(&self, path: &str) -> Response {
        request(self.port, "GET", path, &[], b"").expect("GET through proxy")
    }
}

impl Proxy {
    /// Stops the process (if still running) and hands back its state dir, port and config, so
    /// a new process can start on the same state.
    pub fn into_state(mut self) -> (tempfile::TempDir, u16, PathBuf) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let dir = std::mem::replace(&mut self.dir, tempfile::tempdir().unwrap());
        (dir, self.port, self.config_path.clone())
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
}

/// One request on a fresh connection (`Connection: close`).
pub fn request(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<Response> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut head =
        format!("{method} {path} HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\nconnection: close\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty() || method == "POST" {
        head.push_str(&format!("content-length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes())?;
    s.write_all(body)?;
    read_response(&mut BufReader::new(s))
}

/// The size a chunked body's size line gives (hex digits, any `;` extension ignored), or None
/// when it names none.
pub fn chunk_size(line: &str) -> Option<usize> {
    let hex = line.split(';').next().unwrap_or_default().trim();
    usize::from_str_radix(hex, 16).ok()
}

/// The error [`read_response`] gives for a chunked body whose connection closed before its last
/// chunk.
pub const CUT_CHUNKED_BODY: &str = "the connection closed before the chunked body's last chunk";

/// Reads one response (Content-Length, chunked, or until close); a chunked body cut short is an
/// error ([`CUT_CHUNKED_BODY`]).
pub fn read_response<R: BufRead>(r: &mut R) -> std::io::Result<Response> {
    let mut line = String::new();
    r.read_line(&mut line)?;
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad status line {line:?}")))?;
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        r.read_line(&mut h)?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    let get = |n: &str| headers.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
    let mut body = Vec::new();
    if get("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
        loop {
            // A connection that closes before the last chunk is a cut answer, as curl reports
            // it, not a short one.
            let mut size = String::new();
            if r.read_line(&mut size)? == 0 {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    CUT_CHUNKED_BODY,
                ));
            }
            let n = chunk_size(&size).ok_or_else(|| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("bad chunk size line {size:?}"),
                )
            })?;
            if n == 0 {
                let mut end = String::new();
                let _ = r.read_line(&mut end);
                break;
            }
            let mut chunk = vec![0; n + 2];
            r.read_exact(&mut chunk)?;
            body.extend_from_slice(&chunk[..n]);
        }
    } else if let Some(n) = get("content-length").and_then(|v| v.parse::<usize>().ok()) {
        body.resize(n, 0);
        r.read_exact(&mut body)?;
    } else if status != 204 && status != 304 {
        r.read_to_end(&mut body)?;
    }
    Ok(Response {
        status,
        headers,
        body,
    })
}

/// Sends raw bytes and reads whatever comes back until close or timeout.
pub fn raw_exchange(port: u16, bytes: &[u8], timeout: Duration) -> Vec<u8> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(timeout)).unwrap();
    s.write_all(bytes).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    out
}

/// A config fragment pointing both upstreams at `url`.
pub fn upstreams(url: &str) -> String {
    format!("upstreams:\n  anthropic: {url}\n  openai: {url}\n")
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
