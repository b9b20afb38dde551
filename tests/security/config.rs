//! Configs that must not be guessed.

use super::*;

#[test]
fn an_empty_or_broken_config_is_never_taken_for_the_defaults() {
    let dir = tempfile::tempdir().unwrap();
    for text in ["", "   \n\n", "# only a comment\n---\n"] {
        let path = dir.path().join("empty.yaml");
        std::fs::write(&path, text).unwrap();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_headroom"))
            .arg("-c")
            .arg(&path)
            .env("HOME", dir.path())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(78), "{text:?}: {err}");
        assert!(err.contains("empty.yaml") && err.contains("empty"), "{err}");
    }
    // On SIGHUP: empty, truncated and invalid files keep the running config.
    let up = FakeUpstream::start();
    let p = Proxy::start(&upstreams(&up.url()));
    let good = std::fs::read_to_string(&p.config_path).unwrap();
    let truncated = &good[..good.find("upstreams").unwrap() + 14];
    for (name, text) in [
        ("empty", ""),
        ("truncated", truncated),
        ("invalid", "listen: [nope\n"),
    ] {
        std::fs::write(&p.config_path, text).unwrap();
        p.signal(libc::SIGHUP);
        let deadline = Instant::now() + Duration::from_secs(5);
        while !p.stderr().contains("reload rejected") && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let health = p.get("/health?verbose=1").json();
        assert_eq!(health["last_reload"]["result"], "error", "{name}: {health}");
        up.clear();
        assert_eq!(p.post_json("/v1/messages", body()).status, 200, "{name}");
        assert_eq!(up.requests().len(), 1, "{name}: the upstream changed");
        let log = p.stderr();
        assert!(
            log.contains("ERROR") && log.contains("headroom.yaml"),
            "{name}: {log}"
        );
        std::fs::write(&p.config_path, &good).unwrap();
    }
}
