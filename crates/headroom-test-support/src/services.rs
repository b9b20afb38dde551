//! Real infrastructure for the team-gateway tests: a `redis-server` and an `nginx` round-robin
//! balancer, each started as the current user on a free loopback port with its own config in
//! a temp dir (never the system services), killed on drop.
//!
//! Must never: skip silently. A missing program panics with a message naming
//! `scripts/setup.sh`, which installs it.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn find(program: &str, places: &[&str]) -> PathBuf {
    for p in places {
        if Path::new(p).exists() {
            return PathBuf::from(p);
        }
    }
    panic!(
        "`{program}` is not installed (looked in {places:?}): run scripts/setup.sh, which \
         apt-installs it, then run the tests again"
    );
}

fn wait_port(child: &mut Child, port: u16, what: &str, log: &Path) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!(
                "{what} exited ({status}): {}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("{what} did not listen on 127.0.0.1:{port} within 10 s");
}

/// A `redis-server` with no persistence, on a loopback port.
pub struct RedisServer {
    pub port: u16,
    child: Option<Child>,
    dir: tempfile::TempDir,
}

impl RedisServer {
    pub fn start() -> RedisServer {
        let dir = tempfile::tempdir().expect("temp dir for redis");
        let mut r = RedisServer {
            port: crate::free_port(),
            child: None,
            dir,
        };
        r.restart();
        r
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// Starts it again on the same port (after [`RedisServer::kill`]); the data is gone.
    pub fn restart(&mut self) {
        self.kill();
        let bin = find(
            "redis-server",
            &[
                "/usr/bin/redis-server",
                "/usr/local/bin/redis-server",
                "/opt/homebrew/bin/redis-server",
            ],
        );
        let log = self.dir.path().join("redis.log");
        let mut child = Command::new(bin)
            .arg("--port")
            .arg(self.port.to_string())
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(self.dir.path())
            .arg("--logfile")
            .arg(&log)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn redis-server");
        wait_port(&mut child, self.port, "redis-server", &log);
        self.child = Some(child);
    }

    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// nginx balancing round-robin over `backends` (loopback ports), retrying the next backend
/// when one refuses the connection (as a balancer in front of replicas is set up to).
pub struct Balancer {
    pub port: u16,
    child: Child,
    _dir: tempfile::TempDir,
}

impl Balancer {
    pub fn start(backends: &[u16]) -> Balancer {
        let bin = find(
            "nginx",
            &[
                "/usr/sbin/nginx",
                "/usr/local/sbin/nginx",
                "/opt/homebrew/bin/nginx",
            ],
        );
        let dir = tempfile::tempdir().expect("temp dir for nginx");
        let port = crate::free_port();
        let d = dir.path().display();
        std::fs::create_dir_all(dir.path().join("tmp")).expect("nginx tmp dir");
        let servers: String = backends
            .iter()
            .map(|p| format!("    server 127.0.0.1:{p} max_fails=0;\n"))
            .collect();
        let conf = format!(
            "daemon off;\nmaster_process off;\nworker_processes 1;\npid {d}/nginx.pid;\n\
             error_log {d}/error.log;\nevents {{ worker_connections 1024; }}\n\
             http {{\n  access_log off;\n  client_body_temp_path {d}/tmp;\n  proxy_temp_path {d}/tmp;\n\
             \x20 fastcgi_temp_path {d}/tmp;\n  uwsgi_temp_path {d}/tmp;\n  scgi_temp_path {d}/tmp;\n\
             \x20 client_max_body_size 64m;\n\
             \x20 upstream replicas {{\n{servers}  }}\n\
             \x20 server {{\n    listen 127.0.0.1:{port};\n    location / {{\n\
             \x20     proxy_pass http://replicas;\n      proxy_http_version 1.1;\n\
             \x20     proxy_set_header Connection \"\";\n      proxy_buffering off;\n\
             \x20     proxy_request_buffering on;\n\
             \x20     proxy_next_upstream error timeout non_idempotent;\n    }}\n  }}\n}}\n"
        );
        let path = dir.path().join("nginx.conf");
        std::fs::write(&path, conf).expect("write nginx.conf");
        let log = dir.path().join("error.log");
        let mut child = Command::new(bin)
            .arg("-p")
            .arg(dir.path())
            .arg("-c")
            .arg(&path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn nginx");
        wait_port(&mut child, port, "nginx", &log);
        Balancer {
            port,
            child,
            _dir: dir,
        }
    }
}

impl Drop for Balancer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
