//! Network probes for `doctor`: is a port free, does a headroom answer `/health` there, does the
//! upstream resolve and accept TLS. Every probe has a short timeout.
//!
//! Must never: send credentials anywhere (the upstream probe is a bare TLS handshake).

use crate::upstream::UpstreamUrl;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

/// What answered on a listening port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    /// `GET /health` answered 200 with `"status":"healthy"`.
    Healthy,
    /// Something answered, but not a healthy headroom; holds the status line.
    Other(String),
    /// Nothing answered (connection refused, timeout, not HTTP).
    NoAnswer(String),
}

/// Whether a listener could bind `addr` right now.
pub fn port_free(addr: SocketAddr) -> bool {
    TcpListener::bind(addr).is_ok()
}

/// `GET /health` on `addr`.
pub fn health(addr: SocketAddr, timeout: Duration) -> Health {
    let mut stream = match TcpStream::connect_timeout(&addr, timeout) {
        Ok(s) => s,
        Err(e) => return Health::NoAnswer(e.to_string()),
    };
    let _ = stream.set_read_timeout(Some(timeout));
    let _ = stream.set_write_timeout(Some(timeout));
    let request =
        format!("GET /health HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nAccept: */*\r\n\r\n");
    if let Err(e) = stream.write_all(request.as_bytes()) {
        return Health::NoAnswer(e.to_string());
    }
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while buf.len() < 64 * 1024 {
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if buf.is_empty() => return Health::NoAnswer(e.to_string()),
            Err(_) => break,
        }
    }
    let text = String::from_utf8_lossy(&buf);
    let status_line = text.lines().next().unwrap_or("").trim().to_string();
    if status_line.is_empty() {
        return Health::NoAnswer("closed without an answer".into());
    }
    let ok = status_line.split_whitespace().nth(1) == Some("200");
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    let compact: String = body.chars().filter(|c| !c.is_whitespace()).collect();
    if ok && compact.contains("\"status\":\"healthy\"") {
        Health::Healthy
    } else {
        Health::Other(status_line)
    }
}

/// How far a connection to the upstream got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reach {
    /// Resolved, connected, and (for https) completed a verified TLS handshake.
    Ok(SocketAddr),
    /// The name did not resolve in time (offline, or DNS blocked).
    NoDns(String),
    /// Resolved but TCP did not connect (offline, firewall).
    NoConnect(String),
    /// TCP connected but TLS failed: a certificate or interception problem, not being offline.
    Tls(String),
}

/// Resolves, connects and (for https) handshakes with `url`'s host within `timeout` per step.
pub fn upstream(url: &UpstreamUrl, timeout: Duration) -> Reach {
    let addrs = match resolve(&url.host, url.port, timeout) {
        Ok(a) => a,
        Err(e) => return Reach::NoDns(e),
    };
    let addr = match addrs.iter().find(|a| a.is_ipv4()).or_else(|| addrs.first()) {
        Some(a) => *a,
        None => return Reach::NoDns("no addresses".into()),
    };
    let tcp = match TcpStream::connect_timeout(&addr, timeout) {
        Ok(s) => s,
        Err(e) => return Reach::NoConnect(format!("{addr}: {e}")),
    };
    if !url.tls {
        return Reach::Ok(addr);
    }
    match tls_handshake(tcp, &url.host, timeout) {
        Ok(()) => Reach::Ok(addr),
        Err(e) => Reach::Tls(e),
    }
}

/// Name resolution on a helper thread, so a hung resolver cannot hang `doctor`.
fn resolve(host: &str, port: u16, timeout: Duration) -> Result<Vec<SocketAddr>, String> {
    let (tx, rx) = mpsc::channel();
    let target = (host.to_string(), port);
    std::thread::spawn(move || {
        let r = target
            .to_socket_addrs()
            .map(|a| a.collect::<Vec<_>>())
            .map_err(|e| e.to_string());
        let _ = tx.send(r);
    });
    match rx.recv_timeout(timeout) {
        Ok(r) => r,
        Err(_) => Err(format!("no answer from the resolver within {timeout:?}")),
    }
}

fn tls_handshake(tcp: TcpStream, host: &str, timeout: Duration) -> Result<(), String> {
    use pingora_core::tls::{
        install_default_crypto_provider, load_native_certs, ClientConfig, RootCertStore,
        ServerName, TlsConnector,
    };
    install_default_crypto_provider();
    let mut roots = RootCertStore::empty();
    let certs =
        load_native_certs().map_err(|e| format!("cannot load system CA certificates: {e}"))?;
    let (added, _ignored) = roots.add_parsable_certificates(certs);
    if added == 0 {
        return Err("no usable CA certificates found on this system".into());
    }
    let config = ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = ServerName::try_from(host.to_string())
        .map_err(|e| format!("{host:?} is not a valid TLS server name: {e}"))?;
    tcp.set_nonblocking(true).map_err(|e| e.to_string())?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async move {
        let stream = tokio::net::TcpStream::from_std(tcp).map_err(|e| e.to_string())?;
        let connector = TlsConnector::from(Arc::new(config));
        match tokio::time::timeout(timeout, connector.connect(name, stream)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!("TLS handshake took longer than {timeout:?}")),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::thread;

    fn serve_once(response: &'static str) -> SocketAddr {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        thread::spawn(move || {
            if let Ok((mut s, _)) = l.accept() {
                let mut b = [0u8; 1024];
                let _ = s.read(&mut b);
                let _ = s.write_all(response.as_bytes());
            }
        });
        addr
    }

    #[test]
    fn healthy_json_body_is_recognised() {
        let addr =
            serve_once("HTTP/1.1 200 OK\r\ncontent-length: 22\r\n\r\n{\"status\": \"healthy\"}\n");
        assert_eq!(health(addr, Duration::from_secs(2)), Health::Healthy);
    }

    #[test]
    fn other_http_server_is_not_mistaken_for_headroom() {
        let addr = serve_once("HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n");
        assert_eq!(
            health(addr, Duration::from_secs(2)),
            Health::Other("HTTP/1.1 404 Not Found".into())
        );
    }

    #[test]
    fn taken_port_is_not_free_and_closed_port_gives_no_answer() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        assert!(!port_free(addr));
        drop(l);
        assert!(port_free(addr));
        assert!(matches!(
            health(addr, Duration::from_secs(1)),
            Health::NoAnswer(_)
        ));
    }

    #[test]
    fn plain_http_upstream_is_reached_and_unresolvable_one_is_reported() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let url = UpstreamUrl::parse(&format!("http://127.0.0.1:{port}")).unwrap();
        assert!(matches!(
            upstream(&url, Duration::from_secs(2)),
            Reach::Ok(_)
        ));
        let url = UpstreamUrl::parse("https://no-such-host.invalid").unwrap();
        assert!(matches!(
            upstream(&url, Duration::from_secs(3)),
            Reach::NoDns(_)
        ));
    }
}
