//! `headroom retrieve ID [--lines A-B] [--query WORDS]`: prints a stored original (or a slice).
//! Asks the running proxy at the configured listen address; when none answers, reads the disk
//! tier directly.
//!
//! Must never: write to the store, or print anything but the content on stdout.

use crate::cli::RetrieveArgs;
use crate::config::Config;
use crate::store::{is_id, select, LocalStore, Selector};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::ExitCode;
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(5);

pub fn run(args: &RetrieveArgs, config: &Config) -> ExitCode {
    match retrieve(args, config) {
        Ok(content) => {
            let mut out = std::io::stdout().lock();
            if out
                .write_all(content.as_bytes())
                .and_then(|()| out.flush())
                .is_err()
            {
                return ExitCode::from(1);
            }
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("headroom retrieve: {message}");
            ExitCode::from(1)
        }
    }
}

fn retrieve(args: &RetrieveArgs, config: &Config) -> Result<String, String> {
    if !is_id(&args.id) {
        return Err(format!(
            "{:?} is not an id: ids are 12 lowercase hex characters, as in `· id 3fa9c1d2e4b7` in a marker",
            args.id
        ));
    }
    let selector = match (&args.lines, &args.query) {
        (Some(_), Some(_)) => return Err("give --lines or --query, not both".into()),
        (Some(l), None) => Selector::parse_lines(l)?,
        (None, Some(q)) if q.trim().is_empty() => return Err("--query needs words".into()),
        (None, Some(q)) => Selector::Query(q.clone()),
        (None, None) => Selector::Whole,
    };
    let mut addr = config.listen_addr()?;
    if addr.ip().is_unspecified() {
        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    match ask_proxy(addr, &args.id, &selector) {
        Ok(answer) => answer,
        Err(why) => from_disk(config, &args.id, &selector, addr, &why),
    }
}

/// `Err` when no proxy answered; `Ok(Err)` when it answered with an error.
fn ask_proxy(
    addr: SocketAddr,
    id: &str,
    selector: &Selector,
) -> Result<Result<String, String>, String> {
    let query = match selector {
        Selector::Whole => String::new(),
        Selector::Lines { first, last } => format!("?lines={first}-{last}"),
        Selector::Query(q) => format!("?query={}", encode(q)),
    };
    let mut stream = TcpStream::connect_timeout(&addr, TIMEOUT).map_err(|e| e.to_string())?;
    let _ = stream.set_read_timeout(Some(TIMEOUT));
    let request = format!(
        "GET /v1/retrieve/{id}{query} HTTP/1.1\r\nHost: {addr}\r\n{}: cli\r\nConnection: close\r\n\r\n",
        crate::proxy::retrieve::CLIENT_HEADER
    );
    stream
        .write_all(request.as_bytes())
        .map_err(|e| e.to_string())?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or("the answer was not HTTP")?;
    let status = head.split_whitespace().nth(1).unwrap_or("");
    let json: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
    if status == "200" {
        return Ok(json["content"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| format!("the proxy at {addr} answered without content")));
    }
    let message = json["error"]["message"].as_str().unwrap_or(body).trim();
    Ok(Err(format!(
        "the proxy at {addr} answered {status}: {message}"
    )))
}

fn from_disk(
    config: &Config,
    id: &str,
    selector: &Selector,
    addr: SocketAddr,
    why: &str,
) -> Result<String, String> {
    let Some(dir) = crate::retrieval::originals_dir(config) else {
        return Err(format!(
            "no proxy answered at {addr} ({why}), and there is no state directory to read (set `retrieval.path`)"
        ));
    };
    match LocalStore::read_dir(dir.clone(), id, config.retrieval.max_age()) {
        Some(o) => {
            eprintln!(
                "headroom retrieve: no proxy answered at {addr} ({why}); read {}",
                dir.display()
            );
            Ok(select(&o.content, selector).content)
        }
        None => Err(format!(
            "no original with id {id}: no proxy answered at {addr} ({why}), and {} does not hold it \
             (unknown, expired after {} days, or evicted)",
            dir.display(),
            config.retrieval.max_age_days
        )),
    }
}

/// Percent-encodes a query value.
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
