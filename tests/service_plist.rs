//! The generated LaunchAgent plist and systemd unit: parsed by Python's plistlib, validated
//! against Apple's DTD, and the shipped `launchd/com.headroom.proxy.plist` kept equal to the
//! generator's output.

mod service_support;

use service_support::*;
use std::process::Command;

/// The arguments that produce the shipped plist (placeholder paths a user replaces).
const SHIPPED_ARGS: [&str; 6] = [
    "launchd",
    "plist",
    "--binary",
    "/Users/USERNAME/.cargo/bin/headroom",
    "--home",
    "/Users/USERNAME",
];

fn generate(home: &Home, args: &[&str]) -> (std::process::Output, std::path::PathBuf) {
    let out = home.run(BIN, args);
    let path = home.path().join(format!("gen-{}.plist", free_port()));
    std::fs::write(&path, &out.stdout).unwrap();
    (out, path)
}

#[test]
fn shipped_plist_is_byte_equal_to_the_generator_output() {
    let out = Command::new(BIN)
        .args(SHIPPED_ARGS)
        .env_remove("ANTHROPIC_API_KEY")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let shipped = std::fs::read(repo().join("launchd/com.headroom.proxy.plist")).unwrap();
    assert!(
        out.stdout == shipped,
        "launchd/com.headroom.proxy.plist is stale; regenerate it with:\n  \
         cargo run -- {} > launchd/com.headroom.proxy.plist",
        SHIPPED_ARGS.join(" ")
    );
    xmllint_valid(&repo().join("launchd/com.headroom.proxy.plist")).unwrap();
}

#[test]
fn default_plist_has_every_key_with_the_right_type() {
    let home = Home::new();
    let (out, path) = generate(&home, &["launchd", "plist", "--port", "9123"]);
    assert!(out.status.success(), "{}", text(&out));
    xmllint_valid(&path).unwrap();
    let p = plistlib_json(&path);
    let h = home.path().display().to_string();
    assert_eq!(p["Label"], "com.headroom.proxy");
    assert_eq!(
        p["ProgramArguments"],
        serde_json::json!([BIN, "proxy", "--host", "127.0.0.1", "--port", "9123"])
    );
    assert_eq!(
        p["EnvironmentVariables"],
        serde_json::json!({"HEADROOM_PROXY_PORT": "9123"})
    );
    assert_eq!(p["WorkingDirectory"], h.as_str());
    assert_eq!(
        p["StandardOutPath"],
        format!("{h}/Library/Logs/headroom/proxy.log").as_str()
    );
    assert_eq!(
        p["StandardErrorPath"],
        format!("{h}/Library/Logs/headroom/proxy-error.log").as_str()
    );
    assert_eq!(p["KeepAlive"], true);
    assert_eq!(p["RunAtLoad"], true);
    assert_eq!(p["ProcessType"], "Adaptive");
    assert_eq!(p["ThrottleInterval"], 10);
    assert!(p.get("HardResourceLimits").is_none());
    let keys = p.as_object().unwrap().len();
    assert_eq!(keys, 10, "unexpected keys: {p}");
}

#[test]
fn config_label_key_and_memory_limit_end_up_in_the_plist() {
    let mut home = Home::new();
    home.set_env("ANTHROPIC_API_KEY", "sk-ant-test-123");
    let cfg = home.path().join("my conf & co.yaml");
    std::fs::write(&cfg, "listen: 127.0.0.1:9555\nmodel:\n  enabled: false\n").unwrap();
    let cfg_s = cfg.display().to_string();
    let (out, path) = generate(
        &home,
        &[
            "launchd",
            "plist",
            "-c",
            &cfg_s,
            "--label",
            "com.headroom.proxy-2",
            "--api-key-from-env",
            "--memory-max",
            "2147483648",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    xmllint_valid(&path).unwrap();
    let p = plistlib_json(&path);
    assert_eq!(p["Label"], "com.headroom.proxy-2");
    assert_eq!(p["ProgramArguments"], serde_json::json!([BIN, "-c", cfg_s]));
    // The config's port is carried into the environment.
    assert_eq!(p["EnvironmentVariables"]["HEADROOM_PROXY_PORT"], "9555");
    assert_eq!(
        p["EnvironmentVariables"]["ANTHROPIC_API_KEY"],
        "sk-ant-test-123"
    );
    assert_eq!(
        p["HardResourceLimits"],
        serde_json::json!({"ResidentSetSize": 2147483648u64})
    );
    let err_log = p["StandardErrorPath"].as_str().unwrap();
    assert!(err_log.ends_with("/Library/Logs/headroom/com.headroom.proxy-2-error.log"));
}

#[test]
fn api_key_from_env_without_a_key_is_refused() {
    let home = Home::new();
    let out = home.run(BIN, &["launchd", "plist", "--api-key-from-env"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("ANTHROPIC_API_KEY is not set"));
    assert!(out.stdout.is_empty());
}

#[test]
fn missing_config_and_bad_label_are_refused_with_the_reason() {
    let home = Home::new();
    let out = home.run(BIN, &["launchd", "plist", "-c", "/nonexistent/h.yaml"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/h.yaml"));
    let out = home.run(BIN, &["launchd", "plist", "--label", "../x"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("label"));
}

#[test]
fn systemd_unit_runs_the_binary_with_restart_and_journal() {
    let home = Home::new();
    let cfg = home.path().join("h.yaml");
    std::fs::write(&cfg, "listen: 127.0.0.1:9666\n").unwrap();
    let out = home.run(BIN, &["systemd", "unit", "-c", cfg.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    let unit = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = unit.lines().collect();
    for want in [
        format!("ExecStart={BIN} -c {}", cfg.display()),
        "Environment=HEADROOM_PROXY_PORT=9666".to_string(),
        "Restart=on-failure".into(),
        "RestartSec=10".into(),
        "StandardError=journal".into(),
        "WantedBy=default.target".into(),
    ] {
        assert!(lines.contains(&want.as_str()), "missing {want:?}:\n{unit}");
    }
    for section in ["[Unit]", "[Service]", "[Install]"] {
        assert!(lines.contains(&section), "{unit}");
    }
}

#[test]
fn a_plist_written_with_a_key_is_private_and_one_without_is_not() {
    use std::os::unix::fs::PermissionsExt;
    let mut home = Home::new();
    home.set_env("ANTHROPIC_API_KEY", "sk-ant-test-123");
    let with_key = home.path().join("with-key.plist");
    let out = home.run(
        BIN,
        &[
            "launchd",
            "plist",
            "--api-key-from-env",
            "-o",
            with_key.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(out.stdout.is_empty(), "the plist went to stdout too");
    let mode = std::fs::metadata(&with_key).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "key-bearing plist has mode {mode:o}");
    assert_eq!(
        plistlib_json(&with_key)["EnvironmentVariables"]["ANTHROPIC_API_KEY"],
        "sk-ant-test-123"
    );
    let without = home.path().join("without.plist");
    let out = home.run(BIN, &["launchd", "plist", "-o", without.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    let mode = std::fs::metadata(&without).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o644);
    // No temp file is left beside them.
    let names: Vec<_> = std::fs::read_dir(home.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp-"))
        .collect();
    assert!(names.is_empty(), "{names:?}");
}
