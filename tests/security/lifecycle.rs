//! Signals, shutdown grace and log rotation.

use super::*;

#[test]
fn a_second_sigterm_exits_143_and_sighup_at_start_is_harmless() {
    let up = FakeUpstream::start();
    up.set(|s| s.behaviour = Behaviour::Stall);
    let mut p = Proxy::start(&format!(
        "{}shutdown:\n  grace_seconds: 30\n",
        upstreams(&up.url())
    ));
    let port = p.port;
    let host = own_host(&p);
    let _stalled = std::thread::spawn(move || {
        let b = body();
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        let head = format!(
            "POST /v1/messages HTTP/1.1\r\nhost: {host}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
            b.len()
        );
        let _ = s.write_all(head.as_bytes());
        let _ = s.write_all(b);
        let _ = s.read_to_end(&mut Vec::new());
    });
    std::thread::sleep(Duration::from_millis(300));
    p.signal(libc::SIGTERM);
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(
        p.wait_exit(Duration::from_millis(10)),
        None,
        "left before the grace period"
    );
    p.signal(libc::SIGTERM);
    assert_eq!(p.wait_exit(Duration::from_secs(5)), Some(143));

    // SIGHUP from the moment the program's own code runs (its first initialiser makes SIGHUP
    // ignored; /proc shows that), through start-up and while the reload handler is installed.
    // The dynamic loader's time before any program code runs cannot be covered from inside;
    // service managers send reloads only after READY=1.
    for delay_us in [0u64, 500, 2_000, 10_000, 50_000] {
        let dir = tempfile::tempdir().unwrap();
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_headroom"))
            .args(["--port", &support::free_port().to_string()])
            .env("HOME", dir.path())
            .env("HEADROOM_COMPRESSION_PROVIDER", "rules")
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while !sighup_ignored(child.id()) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_micros(100));
        }
        std::thread::sleep(Duration::from_micros(delay_us));
        unsafe { libc::kill(child.id() as i32, libc::SIGHUP) };
        std::thread::sleep(Duration::from_millis(300));
        let alive = child.try_wait().unwrap().is_none();
        let _ = child.kill();
        let _ = child.wait();
        assert!(
            alive,
            "SIGHUP {delay_us} µs into start-up killed the process"
        );
    }
}

/// Whether `pid` ignores SIGHUP or has a handler for it (from /proc/PID/status).
fn sighup_ignored(pid: u32) -> bool {
    let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
        return false;
    };
    let bit = 1u64 << (libc::SIGHUP - 1);
    ["SigIgn:", "SigCgt:"].iter().any(|field| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
            .is_some_and(|mask| mask & bit != 0)
    })
}

#[test]
fn streams_cut_at_grace_expiry_are_logged_and_their_usage_recorded() {
    let up = FakeUpstream::start();
    up.set(|s| {
        s.event_gap = Duration::from_millis(200);
        s.deltas = 100;
    });
    let mut p = Proxy::start(&format!(
        "{}shutdown:\n  grace_seconds: 1\n",
        upstreams(&up.url())
    ));
    let b = br#"{"model":"claude-sonnet-4-5","max_tokens":16,"stream":true,"messages":[{"role":"user","content":"tell me a long story"}]}"#;
    let mut s = open_post(&p, b);
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&seen).contains("message_start") {
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0, "stream ended early");
        seen.extend_from_slice(&buf[..n]);
    }
    p.signal(libc::SIGTERM);
    assert_eq!(p.wait_exit(Duration::from_secs(10)), Some(0));
    let log = p.stderr();
    assert!(log.contains("streams_cut=1"), "{log}");
    let (dir, port, config) = p.into_state();
    let again = Proxy::spawn(dir, port, config, &[]);
    let stats = again.get("/stats").json();
    let life = &stats["lifetime"];
    assert!(
        life["upstream_usage"]["input"].as_u64().unwrap_or(0) > 0,
        "{stats}"
    );
    assert_eq!(life["failed"], 1, "{stats}");
}

#[test]
fn a_file_backed_log_is_rotated_by_size_and_keeps_a_bounded_number_of_copies() {
    let up = FakeUpstream::start();
    let p = Proxy::start(&format!(
        "{}log:\n  max_file_bytes: 4000\n  keep_files: 2\nmodel:\n  enabled: false\n",
        upstreams(&up.url())
    ));
    let rotated = |n: u32| {
        let mut s = p.stderr_path.as_os_str().to_os_string();
        s.push(format!(".{n}"));
        std::path::PathBuf::from(s)
    };
    let mut sent = 0;
    for round in 0..3 {
        for _ in 0..30 {
            assert_eq!(p.post_json("/v1/messages", body()).status, 200);
            sent += 1;
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while !rotated(round.min(1) + 1).exists() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        std::thread::sleep(Duration::from_millis(1200));
    }
    assert!(
        rotated(1).exists() && rotated(2).exists(),
        "no rotation happened"
    );
    assert!(!rotated(3).exists(), "more copies kept than keep_files");
    let live = std::fs::metadata(&p.stderr_path).unwrap().len();
    assert!(live < 40_000, "live log grew to {live} bytes");
    // The newest copies hold every request line written since the oldest kept one began.
    let all: String = [rotated(2), rotated(1), p.stderr_path.clone()]
        .iter()
        .map(|f| std::fs::read_to_string(f).unwrap())
        .collect();
    let lines = all
        .lines()
        .filter(|l| l.contains("headroom::request"))
        .count();
    assert!(
        lines > 0 && lines <= sent,
        "{lines} request lines for {sent} requests"
    );
    assert!(all.contains("log file rotated"), "{all}");
}

/// Access lines are batched, but none is lost: the lines waiting when a reload or a shutdown
/// comes are written before it. The log file is read directly (not through `Proxy::stderr`,
/// which waits out the batching interval).
#[test]
fn batched_access_lines_are_written_before_a_reload_and_at_shutdown() {
    let up = FakeUpstream::start();
    let mut p = Proxy::start(&upstreams(&up.url()));
    let read = |p: &Proxy| std::fs::read_to_string(&p.stderr_path).unwrap_or_default();
    let access = |text: &str| {
        text.lines()
            .filter(|l| l.contains("headroom::request"))
            .count()
    };
    for _ in 0..20 {
        assert_eq!(p.post_json("/v1/messages", body()).status, 200);
    }
    // Each line is made just after its answer went out: let the last one be made (and wait in
    // the batch) before the reload comes.
    assert!(p.settled(), "{}", p.get("/health?verbose=1").text());
    p.signal(libc::SIGHUP);
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut log = read(&p);
    while !log.contains("reload") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
        log = read(&p);
    }
    let reload = log.find("reload").expect("the reload is logged");
    assert_eq!(access(&log[..reload]), 20, "{log}");
    for _ in 0..20 {
        assert_eq!(p.post_json("/v1/messages", body()).status, 200);
    }
    p.signal(libc::SIGTERM);
    assert_eq!(p.wait_exit(Duration::from_secs(10)), Some(0));
    let log = read(&p);
    assert_eq!(access(&log), 40, "{log}");
}

/// The access line follows the log level across reloads: `warn` stops it, `info` brings it
/// back (the proxy remembers its level check between reloads, never across one).
#[test]
fn access_lines_follow_the_log_level_across_reloads() {
    let up = FakeUpstream::start();
    let mut p = Proxy::start(&upstreams(&up.url()));
    let original = std::fs::read_to_string(&p.config_path).unwrap();
    let read = |p: &Proxy| std::fs::read_to_string(&p.stderr_path).unwrap_or_default();
    let access = |text: &str| {
        text.lines()
            .filter(|l| l.contains("headroom::request"))
            .count()
    };
    let reload_to = |p: &Proxy, level: &str| {
        // A request's line is made just after its answer went out: let the ones answered so
        // far be made under the level they were answered at.
        assert!(p.settled(), "{}", p.get("/health?verbose=1").text());
        let before = p.get("/health?verbose=1").json()["last_reload"].clone();
        std::fs::write(
            &p.config_path,
            format!("{original}log:\n  level: {level}\n"),
        )
        .unwrap();
        p.signal(libc::SIGHUP);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let now = p.get("/health?verbose=1").json()["last_reload"].clone();
            // Each reload here is the next one: a changed record, or the first.
            if now["result"] == "ok" && (now != before || before.is_null()) {
                break;
            }
            assert!(Instant::now() < deadline, "no reload to {level}: {now}");
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    for _ in 0..3 {
        assert_eq!(p.post_json("/v1/messages", body()).status, 200);
    }
    reload_to(&p, "warn");
    for _ in 0..4 {
        assert_eq!(p.post_json("/v1/messages", body()).status, 200);
    }
    // A second apart, so the second reload's record (in whole seconds) differs from the first.
    std::thread::sleep(Duration::from_millis(1100));
    reload_to(&p, "info");
    for _ in 0..2 {
        assert_eq!(p.post_json("/v1/messages", body()).status, 200);
    }
    p.signal(libc::SIGTERM);
    assert_eq!(p.wait_exit(Duration::from_secs(10)), Some(0));
    let log = read(&p);
    assert_eq!(access(&log), 5, "{log}");
}
