//! `headroom doctor` against good and broken setups in a temp HOME, with the real proxy
//! running where a check needs one.

mod service_support;

use service_support::*;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Output, Stdio};
use std::time::Duration;

const LABEL: &str = "com.headroom.proxy";

/// A config on `port` whose upstream is a local listener (so the probe needs no network) and
/// whose model is off unless a test turns it on.
fn write_config(home: &Home, port: u16, upstream: &str, extra: &str) -> PathBuf {
    let p = home.path().join("headroom.yaml");
    std::fs::write(
        &p,
        format!(
            "listen: 127.0.0.1:{port}\nupstreams:\n  anthropic: {upstream}\n{}",
            if extra.is_empty() {
                "model:\n  enabled: false\n"
            } else {
                extra
            }
        ),
    )
    .unwrap();
    p
}

/// Installs a plist as install.sh would (generated, logs directory created), without loading it.
fn write_plist(home: &Home, config: &Path, extra: &[&str]) -> PathBuf {
    write_plist_with_key(home, config, extra, None)
}

fn write_plist_with_key(home: &Home, config: &Path, extra: &[&str], key: Option<&str>) -> PathBuf {
    let plist = home.plist(LABEL);
    std::fs::create_dir_all(plist.parent().unwrap()).unwrap();
    std::fs::create_dir_all(home.log_dir()).unwrap();
    let mut args = vec!["launchd", "plist", "-c", config.to_str().unwrap()];
    args.extend_from_slice(extra);
    let mut cmd = home.command(BIN);
    cmd.args(&args);
    if let Some(k) = key {
        cmd.env("ANTHROPIC_API_KEY", k);
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    std::fs::write(&plist, &out.stdout).unwrap();
    plist
}

fn start_proxy(home: &Home, config: &Path, port: u16) -> Child {
    let child = home
        .command(BIN)
        .args(["-c", config.to_str().unwrap()])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    assert!(wait_for(Duration::from_secs(10), || is_healthy(port)));
    child
}

fn doctor(home: &Home, args: &[&str]) -> (Output, String) {
    let mut all = vec!["doctor", "--timeout", "2"];
    all.extend_from_slice(args);
    let out = home.run(BIN, &all);
    let s = String::from_utf8_lossy(&out.stdout).into_owned();
    (out, s)
}

/// The line for check `name`, starting with its mark.
fn check<'a>(report: &'a str, name: &str) -> &'a str {
    report
        .lines()
        .find(|l| l.split_whitespace().nth(1) == Some(name))
        .unwrap_or_else(|| panic!("no `{name}` check in:\n{report}"))
}

#[test]
fn healthy_install_passes_every_required_check() {
    let mut home = Home::new();
    home.set_env("ANTHROPIC_API_KEY", "sk-ant-never-printed");
    let upstream = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = free_port();
    let cfg = write_config(
        &home,
        port,
        &format!("http://127.0.0.1:{}", upstream.local_addr().unwrap().port()),
        "",
    );
    write_plist(&home, &cfg, &[]);
    let mut proxy = start_proxy(&home, &cfg, port);
    let (out, report) = doctor(&home, &["--platform", "macos"]);
    let _ = proxy.kill();
    let _ = proxy.wait();

    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(check(&report, "config").starts_with('✓'), "{report}");
    assert!(check(&report, "config").contains("from the installed service"));
    assert!(
        check(&report, "port").contains("healthy headroom"),
        "{report}"
    );
    assert!(check(&report, "service").starts_with('✓'), "{report}");
    assert!(check(&report, "logs").starts_with('✓'), "{report}");
    assert!(check(&report, "api").contains("this shell"), "{report}");
    assert!(check(&report, "upstream").starts_with('✓'), "{report}");
    assert!(check(&report, "model").contains("disabled"), "{report}");
    assert!(!text(&out).contains("sk-ant-never-printed"));
}

#[test]
fn invalid_config_fails_and_names_the_problem() {
    let home = Home::new();
    let cfg = home.path().join("bad.yaml");
    std::fs::write(&cfg, "listen: 127.0.0.1:1\nmodel:\n  devise: cpu\n").unwrap();
    let (out, report) = doctor(&home, &["--platform", "macos", "-c", cfg.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(check(&report, "config").starts_with('✗'));
    assert!(report.contains("devise"), "{report}");
    assert!(report.contains("headroom check -c"), "{report}");
}

#[test]
fn port_taken_by_something_else_fails_with_lsof_hint() {
    let home = Home::new();
    let holder = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = holder.local_addr().unwrap().port();
    // Accept and close connections, like a non-HTTP service would.
    std::thread::spawn(move || {
        for s in holder.incoming() {
            drop(s);
        }
    });
    let cfg = write_config(&home, port, "http://127.0.0.1:9", "");
    let (out, report) = doctor(&home, &["--platform", "macos", "-c", cfg.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(check(&report, "port").starts_with('✗'), "{report}");
    assert!(
        report.contains(&format!("lsof -nP -iTCP:{port} -sTCP:LISTEN")),
        "{report}"
    );
}

#[test]
fn plist_with_key_readable_by_others_and_missing_binary_fails_with_fixes() {
    // doctor runs without the key in its own environment: it must find the plist's.
    let home = Home::new();
    let cfg = write_config(&home, free_port(), "http://127.0.0.1:9", "");
    let plist = write_plist_with_key(
        &home,
        &cfg,
        &[
            "--api-key-from-env",
            "--binary",
            "/nonexistent/bin/headroom",
        ],
        Some("sk-ant-in-plist"),
    );
    std::fs::set_permissions(&plist, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    let (out, report) = doctor(&home, &["--platform", "macos", "--offline"]);

    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(check(&report, "service").starts_with('✗'), "{report}");
    assert!(
        report.contains("/nonexistent/bin/headroom, which is missing"),
        "{report}"
    );
    assert!(
        report.contains(&format!("chmod 600 {}", plist.display())),
        "{report}"
    );
    assert!(
        check(&report, "api").contains("the service file"),
        "{report}"
    );
    assert!(!text(&out).contains("sk-ant-in-plist"));
}

#[test]
fn error_lines_in_the_log_are_shown_as_a_warning() {
    let home = Home::new();
    let cfg = write_config(&home, free_port(), "http://127.0.0.1:9", "");
    write_plist(&home, &cfg, &[]);
    std::fs::write(
        home.log_dir().join("proxy-error.log"),
        "2026-01-01T00:00:00Z  INFO headroom::server: headroom listening\n\
         headroom: Address already in use: 127.0.0.1:8787 — another process holds the port\n",
    )
    .unwrap();
    let (out, report) = doctor(&home, &["--platform", "macos", "--offline"]);
    assert!(check(&report, "logs").starts_with('⚠'), "{report}");
    assert!(report.contains("Address already in use"), "{report}");
    assert!(!report.contains("headroom listening"), "{report}");
    assert_eq!(
        out.status.code(),
        Some(0),
        "warnings alone do not fail: {report}"
    );
}

#[test]
fn unreachable_upstream_is_a_warning_not_a_failure() {
    let home = Home::new();
    let cfg = write_config(&home, free_port(), "https://headroom-doctor.invalid", "");
    let (out, report) = doctor(&home, &["--platform", "macos", "-c", cfg.to_str().unwrap()]);
    assert!(check(&report, "upstream").starts_with('⚠'), "{report}");
    assert!(
        check(&report, "upstream").contains("does not resolve"),
        "{report}"
    );
    assert_eq!(out.status.code(), Some(0), "{report}");
}

#[test]
fn enabled_model_needs_runtime_and_files_present() {
    let home = Home::new();
    let dir = home.path().join("models");
    std::fs::create_dir_all(&dir).unwrap();
    let lib = dir.join("libonnxruntime.so.1.32.0");
    let model = dir.join("model.onnx");
    let model_cfg = format!(
        "model:\n  enabled: true\n  device: cpu\n  runtime: {}\n  path: {}\n",
        lib.display(),
        model.display()
    );
    let cfg = write_config(&home, free_port(), "http://127.0.0.1:9", &model_cfg);
    let args = [
        "--platform",
        "macos",
        "--offline",
        "-c",
        cfg.to_str().unwrap(),
    ];
    let (out, report) = doctor(&home, &args);
    assert_eq!(out.status.code(), Some(1), "{report}");
    assert!(check(&report, "model").starts_with('✗'), "{report}");
    let model_section = &report[report.find("model ").unwrap()..];
    assert!(
        model_section.contains(&lib.display().to_string()),
        "{report}"
    );

    for f in [&lib, &model, &dir.join("tokenizer.json")] {
        std::fs::write(f, b"x").unwrap();
    }
    let (out, report) = doctor(&home, &args);
    assert!(check(&report, "model").starts_with('✓'), "{report}");
    assert_eq!(out.status.code(), Some(0), "{report}");
}

#[test]
fn linux_unit_with_world_readable_key_file_fails() {
    let home = Home::new();
    let cfg = write_config(&home, free_port(), "http://127.0.0.1:9", "");
    let unit_dir = home.path().join(".config/systemd/user");
    std::fs::create_dir_all(&unit_dir).unwrap();
    let gen = home.run(BIN, &["systemd", "unit", "-c", cfg.to_str().unwrap()]);
    std::fs::write(unit_dir.join("headroom.service"), &gen.stdout).unwrap();
    let env_file = home.path().join(".config/headroom/env");
    std::fs::create_dir_all(env_file.parent().unwrap()).unwrap();
    std::fs::write(&env_file, "ANTHROPIC_API_KEY=sk-ant-file\n").unwrap();
    std::fs::set_permissions(
        &env_file,
        std::os::unix::fs::PermissionsExt::from_mode(0o644),
    )
    .unwrap();

    let (out, report) = doctor(&home, &["--platform", "linux", "--offline"]);
    assert_eq!(out.status.code(), Some(1), "{report}");
    assert!(
        report.contains(&format!("chmod 600 {}", env_file.display())),
        "{report}"
    );
    assert!(check(&report, "logs").contains("journalctl --user -u headroom"));
    assert!(!report.contains("sk-ant-file"));

    std::fs::set_permissions(
        &env_file,
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    let (out, report) = doctor(&home, &["--platform", "linux", "--offline"]);
    assert!(check(&report, "service").starts_with('✓'), "{report}");
    assert!(
        check(&report, "api").contains("environment file"),
        "{report}"
    );
    assert_eq!(out.status.code(), Some(0), "{report}");
}
