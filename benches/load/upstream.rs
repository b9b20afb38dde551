//! The load bench's upstream: nginx in one process (so killing it leaves no worker behind)
//! answering every `/v1/messages` POST with one fixed Anthropic
//! message (the fastest server at hand, so the proxies are what is measured), started with its
//! own config in a temp dir. Without nginx, the in-process fake upstream stands in.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The answer nginx serves: a real Anthropic Messages response shape with usage.
const MESSAGE: &str = r#"{"id":"msg_01","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[{"type":"text","text":"An empty list gives None."}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":21,"output_tokens":9,"cache_read_input_tokens":0,"cache_creation_input_tokens":0}}"#;

pub enum Upstream {
    Nginx { child: Child, port: u16 },
    Fake(super::fake_upstream::FakeUpstream),
}

impl Upstream {
    /// nginx when it is installed, else the fake upstream.
    pub fn start(dir: &Path, port: u16) -> Upstream {
        match start_nginx(dir, port) {
            Some(child) => Upstream::Nginx { child, port },
            None => Upstream::Fake(super::fake_upstream::FakeUpstream::start()),
        }
    }

    pub fn port(&self) -> u16 {
        match self {
            Upstream::Nginx { port, .. } => *port,
            Upstream::Fake(f) => f.port,
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Upstream::Nginx { .. } => "nginx (fixed JSON answer, 1 worker)",
            Upstream::Fake(_) => "the in-process fake upstream (nginx not installed)",
        }
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        if let Upstream::Nginx { child, .. } = self {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn start_nginx(dir: &Path, port: u16) -> Option<Child> {
    let bin = [
        "/usr/sbin/nginx",
        "/usr/local/sbin/nginx",
        "/opt/homebrew/bin/nginx",
    ]
    .into_iter()
    .find(|p| Path::new(p).exists())?;
    let root = dir.join("nginx");
    std::fs::create_dir_all(root.join("tmp")).ok()?;
    let d = root.display();
    let conf = format!(
        "daemon off;\nmaster_process off;\nworker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\n\
         events {{ worker_connections 1024; }}\n\
         http {{\n  access_log off;\n  client_body_temp_path {d}/tmp;\n  proxy_temp_path {d}/tmp;\n\
         \x20 fastcgi_temp_path {d}/tmp;\n  uwsgi_temp_path {d}/tmp;\n  scgi_temp_path {d}/tmp;\n\
         \x20 keepalive_requests 1000000;\n\
         \x20 server {{\n    listen 127.0.0.1:{port};\n    location / {{\n\
         \x20     default_type application/json;\n      return 200 '{MESSAGE}';\n    }}\n  }}\n}}\n"
    );
    let path = root.join("nginx.conf");
    std::fs::write(&path, conf).ok()?;
    let mut child = Command::new(bin)
        .arg("-p")
        .arg(&root)
        .arg("-c")
        .arg(&path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    for _ in 0..200 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Some(child);
        }
        if let Ok(Some(_)) = child.try_wait() {
            return None;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    let _ = child.kill();
    None
}
