//! launchd/install.sh and uninstall.sh against the real headroom binary, with recording
//! stand-ins for launchctl, lsof and systemctl first on PATH and HOME in a temp dir. The
//! stand-ins start the binary from the generated plist / unit as launchd / systemd would, so
//! the scripts' verification step talks to the real running proxy.

mod service_support;

use service_support::*;
use std::net::TcpListener;
use std::time::Duration;

const LABEL: &str = "com.headroom.proxy";

fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn fresh_install_bootstraps_the_agent_and_the_proxy_answers_health() {
    let home = Home::new();
    let port = free_port();
    let out = home.install(&["--platform", "macos", "--port", &port.to_string()]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        stdout(&out).contains(&format!("using {}/headroom", home.bin.display())),
        "{}",
        text(&out)
    );

    let plist = home.plist(LABEL);
    assert_eq!(mode(&plist), 0o644);
    xmllint_valid(&plist).unwrap();
    let p = plistlib_json(&plist);
    assert_eq!(
        p["EnvironmentVariables"]["HEADROOM_PROXY_PORT"],
        port.to_string()
    );
    assert!(p["EnvironmentVariables"].get("ANTHROPIC_API_KEY").is_none());
    assert!(home.log_dir().is_dir());

    let calls = home.launchctl_calls();
    let bootstrap = format!("bootstrap gui/{} {}", uid(), plist.display());
    assert!(calls.contains(&bootstrap), "{calls:?}");
    assert!(
        calls.contains(&format!("print gui/{}/{LABEL}", uid())),
        "{calls:?}"
    );
    assert!(home.job_pid(LABEL).is_some());
    assert!(is_healthy(port));
    // The proxy's own log lines reach the error log launchd was told about.
    let log = std::fs::read_to_string(home.log_dir().join("proxy-error.log")).unwrap();
    assert!(log.contains("listening"), "{log}");
}

#[test]
fn reinstall_boots_out_the_running_agent_before_starting_the_new_one() {
    let home = Home::new();
    let port = free_port().to_string();
    let first = home.install(&["--platform", "macos", "--port", &port, "--unattended"]);
    assert!(first.status.success(), "{}", text(&first));
    let old_pid = home.job_pid(LABEL).unwrap();

    let second = home.install(&["--platform", "macos", "--port", &port, "--unattended"]);
    assert!(second.status.success(), "{}", text(&second));
    assert!(
        stdout(&second).contains("stopping the existing"),
        "{}",
        text(&second)
    );
    let calls = home.launchctl_calls();
    let bootout = calls
        .iter()
        .position(|c| c == &format!("bootout gui/{}/{LABEL}", uid()))
        .expect("bootout recorded");
    let last_bootstrap = calls
        .iter()
        .rposition(|c| c.starts_with("bootstrap "))
        .unwrap();
    assert!(bootout < last_bootstrap, "{calls:?}");
    let new_pid = home.job_pid(LABEL).unwrap();
    assert_ne!(old_pid, new_pid);
    assert!(is_healthy(port.parse().unwrap()));
}

#[test]
fn unattended_install_without_port_uses_8787() {
    // 8787 may be busy on a shared machine: either outcome must name port 8787.
    let home = Home::new();
    let out = home.install(&["--platform", "macos", "--unattended"]);
    let p = plistlib_json_if_exists(&home);
    if out.status.success() {
        assert_eq!(
            p.unwrap()["EnvironmentVariables"]["HEADROOM_PROXY_PORT"],
            "8787"
        );
        assert!(stdout(&out).contains("localhost:8787"), "{}", text(&out));
        let un = home.uninstall(&["--platform", "macos", "--unattended"]);
        assert!(un.status.success(), "{}", text(&un));
    } else {
        assert!(
            stderr(&out).contains("port 8787 is already in use"),
            "{}",
            text(&out)
        );
    }
}

fn plistlib_json_if_exists(home: &Home) -> Option<serde_json::Value> {
    let p = home.plist(LABEL);
    p.exists().then(|| plistlib_json(&p))
}

#[test]
fn custom_label_and_port_run_a_second_instance_with_its_own_logs() {
    let home = Home::new();
    let (a, b) = (free_port(), free_port());
    let out = home.install(&["--platform", "macos", "--port", &a.to_string()]);
    assert!(out.status.success(), "{}", text(&out));
    let label2 = "com.headroom.proxy-alt";
    let out = home.install(&[
        "--platform",
        "macos",
        "--port",
        &b.to_string(),
        "--label",
        label2,
    ]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(is_healthy(a) && is_healthy(b));
    assert!(home.plist(label2).is_file());
    let log2 = home.log_dir().join(format!("{label2}-error.log"));
    assert!(std::fs::read_to_string(&log2)
        .unwrap()
        .contains("listening"));

    let out = home.uninstall(&["--platform", "macos", "--label", label2, "--remove-logs"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(!log2.exists());
    assert!(!home.plist(label2).exists());
    // The first instance and its logs are untouched.
    assert!(is_healthy(a));
    assert!(home.log_dir().join("proxy-error.log").is_file());
}

#[test]
fn missing_binary_stops_with_the_build_hint_and_installs_nothing() {
    let home = Home::new();
    std::fs::remove_file(home.bin.join("headroom")).unwrap();
    // A copy of the script outside this checkout, so target/release is not found either.
    let scripts = home.path().join("checkout/launchd");
    std::fs::create_dir_all(&scripts).unwrap();
    std::fs::copy(
        repo().join("launchd/install.sh"),
        scripts.join("install.sh"),
    )
    .unwrap();
    let out = home.run(
        scripts.join("install.sh"),
        &["--platform", "macos", "--unattended"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let err = stderr(&out);
    assert!(err.contains("no headroom binary found"), "{err}");
    assert!(err.contains("cargo install --path"), "{err}");
    assert!(!home.plist(LABEL).exists());
    assert!(home.launchctl_calls().is_empty());
}

#[test]
fn port_in_use_is_reported_with_lsof_hint_and_nothing_is_bootstrapped() {
    let home = Home::new();
    let holder = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = holder.local_addr().unwrap().port();
    let out = home.install(&["--platform", "macos", "--port", &port.to_string()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let err = stderr(&out);
    assert!(
        err.contains(&format!("port {port} is already in use")),
        "{err}"
    );
    assert!(
        err.contains(&format!("lsof -nP -iTCP:{port} -sTCP:LISTEN")),
        "{err}"
    );
    assert!(!home.plist(LABEL).exists());
    assert!(!home
        .launchctl_calls()
        .iter()
        .any(|c| c.starts_with("bootstrap")));
    let lsof = std::fs::read_to_string(home.state().join("lsof.log")).unwrap();
    assert!(lsof.contains(&format!("-iTCP:{port}")), "{lsof}");
}

#[test]
fn port_held_by_another_headroom_is_named_as_such() {
    let home = Home::new();
    let port = free_port();
    let mut other = home
        .command(BIN)
        .args(["proxy", "--host", "127.0.0.1", "--port", &port.to_string()])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    assert!(wait_for(Duration::from_secs(10), || is_healthy(port)));
    let out = home.install(&["--platform", "macos", "--port", &port.to_string()]);
    let _ = other.kill();
    let _ = other.wait();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        stderr(&out).contains("another headroom already answers"),
        "{}",
        text(&out)
    );
}

#[test]
fn api_key_from_env_makes_the_plist_private_and_missing_key_fails_with_hint() {
    let mut home = Home::new();
    let port = free_port().to_string();
    let out = home.install(&["--platform", "macos", "--port", &port, "--api-key-from-env"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        stderr(&out).contains("ANTHROPIC_API_KEY is not set"),
        "{}",
        text(&out)
    );
    assert!(!home.plist(LABEL).exists());

    home.set_env("ANTHROPIC_API_KEY", "sk-ant-secret-value");
    let out = home.install(&["--platform", "macos", "--port", &port, "--api-key-from-env"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(!text(&out).contains("sk-ant-secret-value"));
    let plist = home.plist(LABEL);
    assert_eq!(mode(&plist), 0o600);
    assert_eq!(
        plistlib_json(&plist)["EnvironmentVariables"]["ANTHROPIC_API_KEY"],
        "sk-ant-secret-value"
    );
}

#[test]
fn service_that_never_gets_healthy_is_stopped_and_its_error_log_shown() {
    let home = Home::new();
    // A "headroom" that generates the plist like the real one but dies at start like a
    // proxy whose port was taken after the check.
    let fake = home.path().join("fake-headroom");
    std::fs::write(
        &fake,
        format!(
            "#!/usr/bin/env bash\ncase \"$1\" in launchd|check|systemd) exec {BIN} \"$@\";; esac\n\
             echo 'headroom: Address already in use: 127.0.0.1:1 — another process holds the port' >&2\nexit 2\n"
        ),
    )
    .unwrap();
    std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let port = free_port().to_string();
    let out = home.install(&[
        "--platform",
        "macos",
        "--port",
        &port,
        "--binary",
        fake.to_str().unwrap(),
        "--timeout",
        "2",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let err = stderr(&out);
    assert!(err.contains("did not become healthy"), "{err}");
    assert!(err.contains("Address already in use"), "{err}");
    assert!(err.contains("lsof -nP"), "{err}");
    assert!(err.contains("proxy-error.log"), "{err}");
    assert!(
        home.plist(LABEL).exists(),
        "the plist is kept for inspection"
    );
    let calls = home.launchctl_calls();
    assert_eq!(
        calls.last().unwrap(),
        &format!("bootout gui/{}/{LABEL}", uid())
    );
}

#[test]
fn uninstall_stops_the_agent_keeps_logs_unless_asked_and_is_idempotent() {
    let home = Home::new();
    let port = free_port();
    let out = home.install(&["--platform", "macos", "--port", &port.to_string()]);
    assert!(out.status.success(), "{}", text(&out));

    let out = home.uninstall(&["--platform", "macos"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(!home.plist(LABEL).exists());
    assert!(home.job_pid(LABEL).is_none());
    assert!(wait_for(Duration::from_secs(5), || !is_healthy(port)));
    assert!(
        home.log_dir().join("proxy-error.log").is_file(),
        "logs kept"
    );
    assert!(stdout(&out).contains("kept the logs"), "{}", text(&out));

    let again = home.uninstall(&["--platform", "macos", "--remove-logs"]);
    assert!(again.status.success(), "{}", text(&again));
    assert!(stdout(&again).contains("not installed"), "{}", text(&again));
    assert!(
        !home.log_dir().exists(),
        "--remove-logs removes the log directory"
    );

    let third = home.uninstall(&["--platform", "macos", "--remove-logs"]);
    assert!(third.status.success(), "{}", text(&third));
}

#[test]
fn linux_install_writes_a_user_unit_enables_it_and_uninstall_removes_it() {
    let mut home = Home::new();
    home.set_env("ANTHROPIC_API_KEY", "sk-ant-linux-key");
    let port = free_port();
    let out = home.install(&[
        "--platform",
        "linux",
        "--port",
        &port.to_string(),
        "--api-key-from-env",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let unit = home.path().join(".config/systemd/user/headroom.service");
    let unit_text = std::fs::read_to_string(&unit).unwrap();
    assert!(unit_text.contains("Restart=on-failure"));
    assert!(
        !unit_text.contains("sk-ant-linux-key"),
        "the key stays out of the unit"
    );
    let env_file = home.path().join(".config/headroom/env");
    assert_eq!(mode(&env_file), 0o600);
    assert!(std::fs::read_to_string(&env_file)
        .unwrap()
        .contains("sk-ant-linux-key"));
    let calls = home.systemctl_calls();
    assert!(
        calls.contains(&"--user daemon-reload".to_string()),
        "{calls:?}"
    );
    assert!(
        calls.contains(&"--user enable --now headroom.service".to_string()),
        "{calls:?}"
    );
    assert!(is_healthy(port));

    let out = home.uninstall(&["--platform", "linux"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(!unit.exists());
    assert!(home.job_pid("headroom").is_none());
    assert!(home
        .systemctl_calls()
        .contains(&"--user disable --now headroom.service".to_string()));
}

#[test]
fn help_documents_every_option_and_unknown_options_fail() {
    let home = Home::new();
    let out = home.install(&["--help"]);
    assert!(out.status.success());
    for opt in [
        "--port",
        "--unattended",
        "--config",
        "--label",
        "--platform",
        "--api-key-from-env",
    ] {
        assert!(stdout(&out).contains(opt), "install --help lacks {opt}");
    }
    let out = home.uninstall(&["--help"]);
    for opt in ["--remove-logs", "--label", "--platform"] {
        assert!(stdout(&out).contains(opt), "uninstall --help lacks {opt}");
    }
    assert_eq!(home.install(&["--bogus"]).status.code(), Some(1));
    assert_eq!(home.uninstall(&["--bogus"]).status.code(), Some(1));
}

/// Runs install.sh on a pseudo-terminal (util-linux `script`), typing `input`.
fn install_on_tty(home: &Home, input: &str) -> std::process::Output {
    use std::io::Write;
    let cmd = format!(
        "'{}' --platform macos",
        repo().join("launchd/install.sh").display()
    );
    let mut child = home
        .command("script")
        .args(["-qec", &cmd, "/dev/null"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("script(1) is installed");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn interactive_install_asks_for_the_port_and_a_declined_reinstall_changes_nothing() {
    let home = Home::new();
    let port = free_port();
    let out = install_on_tty(&home, &format!("{port}\n"));
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        stdout(&out).contains("Port for the headroom proxy [8787]:"),
        "{}",
        text(&out)
    );
    assert_eq!(
        plistlib_json(&home.plist(LABEL))["EnvironmentVariables"]["HEADROOM_PROXY_PORT"],
        port.to_string()
    );
    assert!(is_healthy(port));
    let pid = home.job_pid(LABEL).unwrap();
    let bootstraps = |h: &Home| {
        h.launchctl_calls()
            .iter()
            .filter(|c| c.starts_with("bootstrap"))
            .count()
    };
    assert_eq!(bootstraps(&home), 1);

    let out = install_on_tty(&home, &format!("{port}\nn\n"));
    assert!(out.status.success(), "{}", text(&out));
    assert!(stdout(&out).contains("Reinstall it?"), "{}", text(&out));
    assert!(
        stdout(&out).contains("left the existing install as it is"),
        "{}",
        text(&out)
    );
    assert_eq!(
        home.job_pid(LABEL),
        Some(pid),
        "the running agent was not touched"
    );
    assert_eq!(bootstraps(&home), 1);
}

#[test]
fn install_with_config_runs_dash_c_and_refuses_an_invalid_config() {
    let home = Home::new();
    let port = free_port();
    let cfg = home.path().join("work.yaml");
    std::fs::write(
        &cfg,
        format!("listen: 127.0.0.1:{port}\nmodel:\n  enabled: false\n"),
    )
    .unwrap();
    let out = home.install(&[
        "--platform",
        "macos",
        "--config",
        cfg.to_str().unwrap(),
        "--port",
        &port.to_string(),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let p = plistlib_json(&home.plist(LABEL));
    assert_eq!(
        p["ProgramArguments"],
        serde_json::json!([
            home.bin.join("headroom").display().to_string(),
            "-c",
            cfg.display().to_string()
        ])
    );
    assert!(is_healthy(port));

    let bad = home.path().join("bad.yaml");
    std::fs::write(&bad, "listen: 127.0.0.1:1\nmodel:\n  devise: cpu\n").unwrap();
    let out = home.install(&["--platform", "macos", "--config", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(stderr(&out).contains("devise"), "{}", text(&out));
    assert!(stderr(&out).contains("is not valid"), "{}", text(&out));
    assert!(is_healthy(port), "the working install was left alone");
}
