//! Shared by the `service_*` tests: a throwaway HOME, a PATH with the launchctl / lsof /
//! systemctl stand-ins first and the real headroom binary after them, and cleanup of every job
//! the stand-ins started.
#![allow(dead_code)]

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_headroom");

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn fixtures() -> PathBuf {
    repo().join("tests/fixtures/service")
}

/// A temporary HOME with `headroom` on PATH (as a symlink to the test build).
pub struct Home {
    pub dir: tempfile::TempDir,
    pub bin: PathBuf,
    extra_env: Vec<(String, String)>,
}

impl Home {
    pub fn new() -> Home {
        let dir = tempfile::tempdir().expect("temp dir");
        let bin = dir.path().join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        std::os::unix::fs::symlink(BIN, bin.join("headroom")).unwrap();
        Home {
            dir,
            bin,
            extra_env: Vec::new(),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Adds a variable to every command this home runs.
    pub fn set_env(&mut self, k: &str, v: &str) {
        self.extra_env.push((k.into(), v.into()));
    }

    /// Stand-ins first, then the headroom symlink, then the system.
    pub fn path_var(&self) -> String {
        format!(
            "{}:{}:/usr/local/bin:/usr/bin:/bin",
            fixtures().join("bin").display(),
            self.bin.display()
        )
    }

    /// A command with a clean environment: HOME, PATH and what `set_env` added.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new(program);
        c.env_clear()
            .env("HOME", self.path())
            .env("PATH", self.path_var())
            .env("LANG", "C.UTF-8")
            .env("USER", "tester")
            .stdin(Stdio::null());
        for (k, v) in &self.extra_env {
            c.env(k, v);
        }
        c
    }

    pub fn run(&self, program: impl AsRef<std::ffi::OsStr>, args: &[&str]) -> Output {
        self.command(program)
            .args(args)
            .output()
            .expect("run command")
    }

    pub fn install(&self, args: &[&str]) -> Output {
        self.run(repo().join("launchd/install.sh"), args)
    }

    pub fn uninstall(&self, args: &[&str]) -> Output {
        self.run(repo().join("launchd/uninstall.sh"), args)
    }

    pub fn state(&self) -> PathBuf {
        self.path().join(".fake-launchd")
    }

    /// Lines the launchctl stand-in recorded, in order.
    pub fn launchctl_calls(&self) -> Vec<String> {
        read_lines(&self.state().join("calls.log"))
    }

    pub fn systemctl_calls(&self) -> Vec<String> {
        read_lines(&self.state().join("systemctl.log"))
    }

    /// The pid of the job the stand-ins run for `label`, if it is alive.
    pub fn job_pid(&self, label: &str) -> Option<i32> {
        let text = std::fs::read_to_string(self.state().join(format!("{label}.pid"))).ok()?;
        let pid: i32 = text.trim().parse().ok()?;
        // SAFETY: signal 0 only checks that the process exists.
        (unsafe { libc::kill(pid, 0) } == 0).then_some(pid)
    }

    pub fn plist(&self, label: &str) -> PathBuf {
        self.path()
            .join("Library/LaunchAgents")
            .join(format!("{label}.plist"))
    }

    pub fn log_dir(&self) -> PathBuf {
        self.path().join("Library/Logs/headroom")
    }
}

impl Drop for Home {
    /// Ends every job the stand-ins started for this home, so no proxy outlives its test.
    fn drop(&mut self) {
        let Ok(entries) = std::fs::read_dir(self.state()) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.extension().is_some_and(|x| x == "pid") {
                let pid = std::fs::read_to_string(&p)
                    .ok()
                    .and_then(|t| t.trim().parse::<i32>().ok());
                // Only a process that is still one of ours (the pid may have been reused).
                let ours = |pid: i32| {
                    std::fs::read(format!("/proc/{pid}/cmdline"))
                        .is_ok_and(|c| String::from_utf8_lossy(&c).contains("headroom"))
                };
                if let Some(pid) = pid.filter(|p| ours(*p)) {
                    // SAFETY: plain kill(2) of a process this test started.
                    unsafe {
                        libc::kill(pid, libc::SIGKILL);
                    }
                }
            }
        }
    }
}

fn read_lines(p: &Path) -> Vec<String> {
    std::fs::read_to_string(p)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `GET /health` on loopback; the body when it answered 200.
pub fn health(port: u16) -> Option<String> {
    use std::io::{Read, Write};
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(1)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    s.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .ok()?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).ok()?;
    let (head, body) = buf.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.1 200").then(|| body.to_string())
}

pub fn is_healthy(port: u16) -> bool {
    health(port).is_some_and(|b| b.replace(' ', "").contains("\"status\":\"healthy\""))
}

/// Polls `f` until it is true or `limit` passes.
pub fn wait_for(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    f()
}

pub fn text(o: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}--- stderr\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

pub fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

pub fn uid() -> u32 {
    // SAFETY: getuid cannot fail.
    unsafe { libc::getuid() }
}

/// Parses a plist with Python's plistlib and returns it as JSON (lists, dicts, strings, ints,
/// bools); panics with plistlib's message if it does not parse.
pub fn plistlib_json(path: &Path) -> serde_json::Value {
    let out = Command::new("python3")
        .args([
            "-c",
            "import json,plistlib,sys; print(json.dumps(plistlib.load(open(sys.argv[1],'rb'))))",
        ])
        .arg(path)
        .output()
        .expect("python3");
    assert!(out.status.success(), "plistlib: {}", text(&out));
    serde_json::from_slice(&out.stdout).expect("json from plistlib")
}

/// Validates a plist against Apple's DTD (the copy in the fixtures) with xmllint.
pub fn xmllint_valid(path: &Path) -> Result<(), String> {
    let out = Command::new("xmllint")
        .env("XML_CATALOG_FILES", fixtures().join("catalog.xml"))
        .args(["--nonet", "--noout", "--dtdvalid"])
        .arg(fixtures().join("PropertyList-1.0.dtd"))
        .arg(path)
        .output()
        .expect("xmllint");
    if out.status.success() && out.stderr.is_empty() {
        Ok(())
    } else {
        Err(text(&out))
    }
}
