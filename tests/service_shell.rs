//! launchd/shell-integration.sh sourced by real bash and zsh, against the real proxy; and
//! ShellCheck over every script this feature ships.

mod service_support;

use service_support::*;
use std::process::{Child, Output, Stdio};
use std::time::Duration;

const SHELLS: [&str; 2] = ["bash", "zsh"];

fn integration() -> String {
    repo()
        .join("launchd/shell-integration.sh")
        .display()
        .to_string()
}

/// Sources the integration in `shell` (twice when `twice`), then prints what it left behind:
/// `BASE=<ANTHROPIC_BASE_URL or unset>` and `NEW=<names of variables and functions added>`
/// (bash's own PIPESTATUS, set by any pipeline, is not counted).
fn source_in(home: &Home, shell: &str, port: u16, twice: bool) -> Output {
    let list = match shell {
        "zsh" => "print -l ${(k)parameters} ${(k)functions} | LC_ALL=C sort",
        _ => "{ compgen -v; compgen -A function; } | LC_ALL=C sort",
    };
    let script = format!(
        "before=\"$({list})\"\n\
         . '{path}'\n\
         {again}\
         after=\"$({list})\"\n\
         printf 'BASE=%s\\n' \"${{ANTHROPIC_BASE_URL:-unset}}\"\n\
         printf 'NEW=%s\\n' \"$(LC_ALL=C comm -13 <(printf '%s\\n' \"$before\") <(printf '%s\\n' \"$after\") | grep -vx -e before -e after -e PIPESTATUS | tr '\\n' ' ')\"\n",
        path = integration(),
        again = if twice {
            format!(". '{}'\n", integration())
        } else {
            String::new()
        },
    );
    home.command(shell)
        .arg("-c")
        .arg(script)
        .env("HEADROOM_PROXY_PORT", port.to_string())
        .output()
        .expect("shell runs")
}

fn start_proxy(home: &Home, port: u16) -> Child {
    let child = home
        .command(BIN)
        .args(["proxy", "--host", "127.0.0.1", "--port", &port.to_string()])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    assert!(wait_for(Duration::from_secs(10), || is_healthy(port)));
    child
}

fn line<'a>(o: &'a str, key: &str) -> &'a str {
    o.lines()
        .find_map(|l| l.strip_prefix(key))
        .unwrap_or_else(|| panic!("no {key} in {o}"))
}

#[test]
fn proxy_up_sets_base_url_silently_and_leaves_only_two_names() {
    for shell in SHELLS {
        let home = Home::new();
        let port = free_port();
        let mut proxy = start_proxy(&home, port);
        let out = source_in(&home, shell, port, false);
        let _ = proxy.kill();
        let _ = proxy.wait();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(out.status.success(), "{shell}: {}", text(&out));
        assert_eq!(
            line(&stdout, "BASE="),
            format!("http://localhost:{port}"),
            "{shell}"
        );
        let mut new: Vec<&str> = line(&stdout, "NEW=").split_whitespace().collect();
        new.sort();
        assert_eq!(
            new,
            ["ANTHROPIC_BASE_URL", "HEADROOM_SHELL_INTEGRATION_LOADED"],
            "{shell} left helpers behind"
        );
        assert!(out.stderr.is_empty(), "{shell}: {}", text(&out));
        assert!(
            home.launchctl_calls().is_empty(),
            "{shell}: nothing to start"
        );
    }
}

#[test]
fn proxy_down_with_plist_installed_bootstraps_it_and_sets_base_url() {
    for shell in SHELLS {
        let home = Home::new();
        let port = free_port();
        let plist = home.plist("com.headroom.proxy");
        std::fs::create_dir_all(plist.parent().unwrap()).unwrap();
        std::fs::create_dir_all(home.log_dir()).unwrap();
        let gen = home.run(BIN, &["launchd", "plist", "--port", &port.to_string()]);
        assert!(gen.status.success(), "{}", text(&gen));
        std::fs::write(&plist, &gen.stdout).unwrap();

        let out = source_in(&home, shell, port, false);
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(out.status.success(), "{shell}: {}", text(&out));
        let calls = home.launchctl_calls();
        assert_eq!(
            calls.first().map(String::as_str),
            Some(format!("bootstrap gui/{} {}", uid(), plist.display()).as_str()),
            "{shell}: {calls:?}"
        );
        assert!(
            stdout.contains("headroom: started the proxy"),
            "{shell}: {stdout}"
        );
        assert_eq!(line(&stdout, "BASE="), format!("http://localhost:{port}"));
        assert!(is_healthy(port), "{shell}: the agent is running");
    }
}

#[test]
fn proxy_down_without_service_says_so_and_starts_nothing() {
    for shell in SHELLS {
        let home = Home::new();
        let port = free_port();
        let out = source_in(&home, shell, port, false);
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "{shell}: {}", text(&out));
        assert_eq!(line(&stdout, "BASE="), "unset", "{shell}");
        assert!(
            stderr.contains("no service is installed"),
            "{shell}: {stderr}"
        );
        assert!(home.launchctl_calls().is_empty());
        assert!(home.systemctl_calls().is_empty());
    }
}

#[test]
fn sourcing_twice_runs_once() {
    for shell in SHELLS {
        let home = Home::new();
        let port = free_port();
        let out = source_in(&home, shell, port, true);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "{shell}: {}", text(&out));
        assert_eq!(
            stderr.matches("no proxy answers").count(),
            1,
            "{shell}: {stderr}"
        );
    }
}

#[test]
fn systemd_unit_is_started_when_no_plist_exists() {
    let home = Home::new();
    let port = free_port();
    let unit_dir = home.path().join(".config/systemd/user");
    std::fs::create_dir_all(&unit_dir).unwrap();
    let gen = home.run(BIN, &["systemd", "unit", "--port", &port.to_string()]);
    std::fs::write(unit_dir.join("headroom.service"), &gen.stdout).unwrap();
    let out = source_in(&home, "bash", port, false);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        home.systemctl_calls()
            .contains(&"--user start headroom.service".to_string()),
        "{}",
        text(&out)
    );
    assert_eq!(line(&stdout, "BASE="), format!("http://localhost:{port}"));
}

#[test]
fn every_shipped_script_and_stand_in_is_shellcheck_clean() {
    let mut files: Vec<std::path::PathBuf> = ["install.sh", "uninstall.sh", "shell-integration.sh"]
        .iter()
        .map(|f| repo().join("launchd").join(f))
        .collect();
    for e in std::fs::read_dir(fixtures().join("bin")).unwrap() {
        files.push(e.unwrap().path());
    }
    let out = std::process::Command::new("shellcheck")
        .args(&files)
        .output()
        .expect("shellcheck is installed");
    assert!(out.status.success(), "{}", text(&out));
    // The integration must also parse as zsh, which ShellCheck does not check.
    let out = std::process::Command::new("zsh")
        .args(["-n", &integration()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
}
