//! `headroom doctor`: the troubleshooting guide as checks. Each check prints ✓ (fine), ⚠ (worth
//! knowing, not fatal) or ✗ (headroom will not work as installed) with the fix; the exit status
//! is 0 only when no check failed.
//!
//! Must never: print an API key (only where one was found), change files, or send a request
//! upstream (the upstream probe stops after the TLS handshake).

use super::launchd::{check_label, log_dir, log_files, plist_path};
use super::model_check;
use super::probe::{self, Health, Reach};
use super::service_file::{read_plist, read_unit, InstalledService};
use super::{Platform, DEFAULT_LABEL, DEFAULT_UNIT};
use crate::config::{Config, Overrides};
use crate::upstream::UpstreamUrl;
use clap::Args;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Service to check: the launchd label (macOS) or systemd unit name (Linux).
    /// Default: com.headroom.proxy on macOS, headroom on Linux.
    #[arg(long, value_name = "NAME")]
    pub label: Option<String>,
    /// Which service manager to check for. Default: this machine's.
    #[arg(long, value_enum)]
    pub platform: Option<Platform>,
    /// Seconds each network probe may take.
    #[arg(long, default_value_t = 3, value_name = "SECONDS")]
    pub timeout: u64,
    /// Skip the upstream DNS and TLS probe.
    #[arg(long)]
    pub offline: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Pass,
    Warn,
    Fail,
}

/// The outcome of one check.
struct Finding {
    status: Status,
    name: &'static str,
    summary: String,
    details: Vec<String>,
    fix: Option<String>,
}

impl Finding {
    fn new(status: Status, name: &'static str, summary: impl Into<String>) -> Finding {
        Finding {
            status,
            name,
            summary: summary.into(),
            details: Vec::new(),
            fix: None,
        }
    }

    fn fix(mut self, fix: impl Into<String>) -> Finding {
        self.fix = Some(fix.into());
        self
    }

    fn detail(mut self, line: impl Into<String>) -> Finding {
        self.details.push(line.into());
        self
    }

    fn print(&self, out: &mut impl Write) {
        let mark = match self.status {
            Status::Pass => "✓",
            Status::Warn => "⚠",
            Status::Fail => "✗",
        };
        let _ = writeln!(out, "{mark} {:<9} {}", self.name, self.summary);
        for d in &self.details {
            let _ = writeln!(out, "  {:<9} {d}", "");
        }
        if let Some(fix) = &self.fix {
            let _ = writeln!(out, "  {:<9} fix: {fix}", "");
        }
        let _ = out.flush();
    }
}

/// What the checks share: where things are and what is installed.
struct Setup {
    platform: Platform,
    home: PathBuf,
    label: String,
    service_path: PathBuf,
    service: Result<Option<InstalledService>, String>,
    timeout: Duration,
}

/// `headroom doctor [-c FILE]`.
pub fn doctor(args: &DoctorArgs, config: Option<&Path>) -> ExitCode {
    let mut out = std::io::stdout().lock();
    let platform = args.platform.unwrap_or_else(Platform::current);
    let label = args.label.clone().unwrap_or_else(|| match platform {
        Platform::Macos => DEFAULT_LABEL.to_string(),
        Platform::Linux => DEFAULT_UNIT.to_string(),
    });
    if let Err(e) = check_label(&label) {
        let _ = writeln!(out, "headroom doctor: {e}");
        return ExitCode::from(2);
    }
    let Some(home) = std::env::var_os("HOME").filter(|h| !h.is_empty()) else {
        let _ = writeln!(out, "headroom doctor: HOME is not set");
        return ExitCode::from(2);
    };
    let home = PathBuf::from(home);
    let service_path = match platform {
        Platform::Macos => plist_path(&home, &label),
        Platform::Linux => unit_path(&home, &label),
    };
    let service = match platform {
        Platform::Macos => read_plist(&service_path),
        Platform::Linux => read_unit(&service_path, &home),
    };
    let setup = Setup {
        platform,
        home,
        label,
        service_path,
        service,
        timeout: Duration::from_secs(args.timeout.max(1)),
    };
    let kind = match platform {
        Platform::Macos => "macOS LaunchAgent",
        Platform::Linux => "systemd user unit",
    };
    let _ = writeln!(out, "headroom doctor: {kind} {}", setup.label);

    let mut findings = Vec::new();
    let mut report = |f: Finding, out: &mut std::io::StdoutLock| {
        f.print(out);
        findings.push(f.status);
    };
    let (cfg, finding) = check_config(&setup, config);
    report(finding, &mut out);
    if let Some(cfg) = &cfg {
        report(check_port(&setup, cfg), &mut out);
    }
    report(check_service_file(&setup), &mut out);
    report(check_logs(&setup), &mut out);
    report(check_api_key(&setup, cfg.as_ref()), &mut out);
    if let Some(cfg) = &cfg {
        report(check_upstream(&setup, cfg, args.offline), &mut out);
        report(check_model(cfg), &mut out);
    }
    let failed = findings.iter().filter(|s| **s == Status::Fail).count();
    let warned = findings.iter().filter(|s| **s == Status::Warn).count();
    let passed = findings.len() - failed - warned;
    let _ = writeln!(out, "{passed} passed, {warned} warning(s), {failed} failed");
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// `~/.config/systemd/user/<unit>.service`.
pub fn unit_path(home: &Path, unit: &str) -> PathBuf {
    home.join(".config")
        .join("systemd")
        .join("user")
        .join(format!("{unit}.service"))
}

fn installed(setup: &Setup) -> Option<&InstalledService> {
    setup.service.as_ref().ok().and_then(Option::as_ref)
}

fn install_hint(platform: Platform) -> &'static str {
    match platform {
        Platform::Macos => "launchd/install.sh",
        Platform::Linux => "launchd/install.sh --platform linux",
    }
}

fn check_config(setup: &Setup, explicit: Option<&Path>) -> (Option<Config>, Finding) {
    let service = installed(setup);
    let service_config = service.and_then(InstalledService::config);
    let (path, origin) = match (explicit, &service_config) {
        (Some(p), _) => (Some(p.to_path_buf()), "-c"),
        (None, Some(p)) => (Some(p.clone()), "the installed service"),
        (None, None) => (None, "embedded default"),
    };
    // The port the service runs on wins over the file, as it does for the running service.
    let same_as_service =
        explicit.is_none() || explicit.and_then(|p| std::path::absolute(p).ok()) == service_config;
    let overrides = Overrides {
        host: None,
        port: service
            .filter(|_| same_as_service)
            .and_then(InstalledService::port),
    };
    let loaded = match &path {
        Some(p) => Config::load(p, &overrides),
        None => Config::load_default(&overrides),
    };
    let what = match &path {
        Some(p) => format!("{} (from {origin})", p.display()),
        None => "the embedded default config".to_string(),
    };
    match loaded {
        Ok(cfg) => {
            let f = Finding::new(Status::Pass, "config", format!("{what} is valid"));
            (Some(cfg), f)
        }
        Err(e) => {
            let mut f = Finding::new(Status::Fail, "config", format!("{what} is not usable:"));
            for p in &e.problems {
                f = f.detail(p.clone());
            }
            let fix = match &path {
                Some(p) => format!(
                    "correct the lines above, then `headroom check -c {}`",
                    p.display()
                ),
                None => "unset or correct the HEADROOM_* variables named above".to_string(),
            };
            (None, f.fix(fix))
        }
    }
}

fn check_port(setup: &Setup, cfg: &Config) -> Finding {
    let addr = match cfg.listen_addr() {
        Ok(a) => a,
        Err(e) => return Finding::new(Status::Fail, "port", e),
    };
    let port = addr.port();
    let who = format!("lsof -nP -iTCP:{port} -sTCP:LISTEN");
    if probe::port_free(addr) {
        if installed(setup).is_some() {
            let restart = match setup.platform {
                Platform::Macos => format!(
                    "launchctl kickstart -k gui/$(id -u)/{}; if it keeps dying, read {}",
                    setup.label,
                    error_log(setup).display()
                ),
                Platform::Linux => format!(
                    "systemctl --user restart {0}; if it keeps dying: journalctl --user -u {0} -e",
                    setup.label
                ),
            };
            return Finding::new(
                Status::Warn,
                "port",
                format!("{addr} is free: the installed service is not running"),
            )
            .fix(restart);
        }
        return Finding::new(Status::Pass, "port", format!("{addr} is free"));
    }
    match probe::health(addr, setup.timeout) {
        Health::Healthy => Finding::new(
            Status::Pass,
            "port",
            format!("{addr} is held by a healthy headroom (/health answered)"),
        ),
        Health::Other(status) => Finding::new(
            Status::Fail,
            "port",
            format!("{addr} is taken by something that is not headroom (/health: {status})"),
        )
        .fix(format!(
            "find it with `{who}` and stop it, or use another port (install.sh --port N)"
        )),
        Health::NoAnswer(e) => Finding::new(
            Status::Fail,
            "port",
            format!("{addr} is taken and /health does not answer ({e})"),
        )
        .fix(format!(
            "find it with `{who}`; a hung headroom can be restarted, anything else moved to another port"
        )),
    }
}

fn check_service_file(setup: &Setup) -> Finding {
    let path = setup.service_path.display().to_string();
    let svc = match &setup.service {
        Ok(Some(s)) => s,
        Ok(None) => {
            return Finding::new(Status::Warn, "service", format!("not installed ({path})"))
                .fix(format!("to run at login: {}", install_hint(setup.platform)))
        }
        Err(e) => {
            return Finding::new(Status::Fail, "service", e.clone()).fix(format!(
                "regenerate it: {} (it replaces the file)",
                install_hint(setup.platform)
            ))
        }
    };
    let mut problems = Vec::new();
    let mut fixes = Vec::new();
    match svc.binary() {
        Some(b) if is_executable(Path::new(b)) => {}
        Some(b) => {
            problems.push(format!("runs {b}, which is missing or not executable"));
            fixes.push(format!(
                "rebuild/install headroom, then {}",
                install_hint(setup.platform)
            ));
        }
        None => problems.push("runs nothing".to_string()),
    }
    if let Some(c) = svc.config() {
        if !c.is_file() {
            problems.push(format!("uses config {}, which does not exist", c.display()));
            fixes.push(format!(
                "restore it or {} --config FILE",
                install_hint(setup.platform)
            ));
        }
    }
    if svc.has_api_key() && svc.mode & 0o077 != 0 {
        problems.push(format!(
            "holds ANTHROPIC_API_KEY but is readable by others (mode {:o})",
            svc.mode
        ));
        fixes.push(format!("chmod 600 {path}"));
    } else if svc.mode & 0o022 != 0 {
        problems.push(format!("is writable by others (mode {:o})", svc.mode));
        fixes.push(format!("chmod 644 {path}"));
    }
    if let Some(env) = &svc.env_file {
        if let Some(mode) = env.mode.filter(|m| env.has_api_key && m & 0o077 != 0) {
            problems.push(format!(
                "{} holds ANTHROPIC_API_KEY but is readable by others (mode {mode:o})",
                env.path.display()
            ));
            fixes.push(format!("chmod 600 {}", env.path.display()));
        }
    }
    if problems.is_empty() {
        let bin = svc.binary().unwrap_or_default();
        return Finding::new(
            Status::Pass,
            "service",
            format!("{path} runs {bin} (mode {:o})", svc.mode),
        );
    }
    let mut f = Finding::new(Status::Fail, "service", format!("{path}:"));
    for p in problems {
        f = f.detail(p);
    }
    f.fix(fixes.join("; "))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

fn check_logs(setup: &Setup) -> Finding {
    if setup.platform == Platform::Linux {
        return Finding::new(
            Status::Pass,
            "logs",
            format!(
                "the service logs to the journal: journalctl --user -u {} -e",
                setup.label
            ),
        );
    }
    let dir = log_dir(&setup.home);
    let shown = dir.display().to_string();
    if !dir.is_dir() {
        let status = if installed(setup).is_some() {
            Status::Fail
        } else {
            Status::Warn
        };
        return Finding::new(status, "logs", format!("{shown} does not exist"))
            .fix(format!("mkdir -p {shown} (install.sh creates it)"));
    }
    let probe_file = dir.join(format!(".doctor-{}", std::process::id()));
    if let Err(e) = std::fs::write(&probe_file, b"") {
        return Finding::new(
            Status::Fail,
            "logs",
            format!("{shown} is not writable: {e}"),
        )
        .fix(format!("chown -R \"$USER\" {shown} && chmod u+rwx {shown}"));
    }
    let _ = std::fs::remove_file(&probe_file);
    let error_log = error_log(setup);
    let errors = recent_error_lines(&error_log, 5);
    if errors.is_empty() {
        return Finding::new(Status::Pass, "logs", format!("{shown} is writable"));
    }
    let mut f = Finding::new(
        Status::Warn,
        "logs",
        format!("{} has errors; the last ones:", error_log.display()),
    );
    for e in errors {
        f = f.detail(e);
    }
    f
}

/// The proxy's error log: the installed plist's `StandardErrorPath`, else the default name.
fn error_log(setup: &Setup) -> PathBuf {
    installed(setup)
        .and_then(|s| s.stderr_path.clone())
        .unwrap_or_else(|| log_files(&setup.home, &setup.label).1)
}

/// The last `n` lines of a log that report errors (tracing `ERROR` events, panics, and the
/// binary's own fatal `headroom: ...` messages), from its final 64 KiB.
fn recent_error_lines(path: &Path, n: usize) -> Vec<String> {
    let Ok(bytes) = std::fs::read(path) else {
        return Vec::new();
    };
    let tail = &bytes[bytes.len().saturating_sub(64 * 1024)..];
    let text = String::from_utf8_lossy(tail);
    let mut hits: Vec<String> = text
        .lines()
        .filter(|l| is_error_line(l))
        .map(|l| l.chars().take(200).collect())
        .collect();
    let skip = hits.len().saturating_sub(n);
    hits.drain(..skip);
    hits
}

fn is_error_line(l: &str) -> bool {
    l.contains(" ERROR ")
        || l.starts_with("ERROR")
        || l.contains("panicked")
        || l.starts_with("headroom: ")
        || l.to_ascii_lowercase().contains("fatal")
}

fn check_api_key(setup: &Setup, cfg: Option<&Config>) -> Finding {
    let svc = installed(setup);
    let mut sources = Vec::new();
    if svc.is_some_and(InstalledService::has_api_key) {
        sources.push(format!("the service file {}", setup.service_path.display()));
    }
    if let Some(env) = svc
        .and_then(|s| s.env_file.as_ref())
        .filter(|e| e.has_api_key)
    {
        sources.push(format!("the environment file {}", env.path.display()));
    }
    let shell_key = std::env::var("ANTHROPIC_API_KEY").is_ok_and(|k| !k.trim().is_empty());
    if shell_key {
        sources.push("ANTHROPIC_API_KEY in this shell".to_string());
    }
    if cfg.is_some_and(|c| !c.auth.inject_api_key) {
        return Finding::new(
            Status::Pass,
            "api key",
            "not injected (auth.inject_api_key: false): clients send their own",
        );
    }
    if sources.is_empty() {
        let fix = match setup.platform {
            Platform::Macos => "export ANTHROPIC_API_KEY in your shell profile, or reinstall with install.sh --api-key-from-env",
            Platform::Linux => "put ANTHROPIC_API_KEY=... in ~/.config/headroom/env (chmod 600), or export it in your shell profile",
        };
        return Finding::new(
            Status::Warn,
            "api key",
            "none found: clients must send their own (Claude Code does when logged in)",
        )
        .fix(fix);
    }
    let mut f = Finding::new(
        Status::Pass,
        "api key",
        format!("found in {}", sources.join(" and ")),
    );
    if shell_key && sources.len() == 1 && svc.is_some() {
        f = f.detail(
            "the service does not see your shell's variables; clients started from this shell send the key themselves",
        );
    }
    f
}

fn check_upstream(setup: &Setup, cfg: &Config, offline: bool) -> Finding {
    let url = match UpstreamUrl::parse(&cfg.upstreams.anthropic) {
        Ok(u) => u,
        Err(e) => return Finding::new(Status::Fail, "upstream", e),
    };
    let shown = url.display();
    if offline {
        return Finding::new(
            Status::Warn,
            "upstream",
            format!("{shown}: not probed (--offline)"),
        );
    }
    match probe::upstream(&url, setup.timeout) {
        Reach::Ok(addr) => {
            let how = if url.tls { "TLS handshake verified" } else { "connects (plain http)" };
            Finding::new(Status::Pass, "upstream", format!("{shown} resolves to {} and {how}", addr.ip()))
        }
        Reach::NoDns(e) => Finding::new(
            Status::Warn,
            "upstream",
            format!("{shown}: {} does not resolve ({e}); offline?", url.host),
        )
        .fix("check the network, VPN or DNS; requests fail with 502 until it resolves"),
        Reach::NoConnect(e) => Finding::new(
            Status::Warn,
            "upstream",
            format!("{shown}: cannot connect ({e}); offline or firewalled?"),
        )
        .fix("check the network, VPN or firewall; requests fail with 502 until it connects"),
        Reach::Tls(e) => Finding::new(
            Status::Fail,
            "upstream",
            format!("{shown}: TCP connects but TLS fails: {e}"),
        )
        .fix("a TLS-intercepting proxy or out-of-date CA certificates; install the CA system-wide or point upstreams.anthropic at your gateway"),
    }
}

fn check_model(cfg: &Config) -> Finding {
    if !cfg.model.enabled {
        return Finding::new(
            Status::Pass,
            "model",
            "learned compressor disabled (model.enabled: false): rule-based compression only",
        );
    }
    let setup_fix = "run scripts/setup-model.sh in the headroom checkout, set model.runtime / ORT_DYLIB_PATH and model.path, or set model.enabled: false";
    let files = match model_check::locate(&cfg.model) {
        Ok(f) => f,
        // With default model settings the proxy starts without the model (prose and code pass
        // through uncompressed); with explicit ones it refuses to start.
        Err(e) if !crate::model_glue::model_required(&cfg.model) => {
            return Finding::new(
                Status::Warn,
                "model",
                format!("{e}\nThe proxy runs without the learned compressor until this is fixed."),
            )
            .fix(setup_fix)
        }
        Err(e) => return Finding::new(Status::Fail, "model", e).fix(setup_fix),
    };
    match model_check::check_device(cfg.model.device, &files.runtime) {
        Ok(device) => Finding::new(
            Status::Pass,
            "model",
            format!(
                "{} with {} on {device}",
                files.model.display(),
                files.runtime.display()
            ),
        ),
        Err(e) => Finding::new(Status::Fail, "model", e)
            .fix("set model.device to cpu or auto, or install the runtime for that device"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_error_events_and_fatal_messages_count_as_log_errors() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("proxy-error.log");
        std::fs::write(
            &log,
            "2026-01-01T00:00:00Z  WARN headroom::upstream: cannot resolve error=failed\n\
             2026-01-01T00:00:01Z  INFO headroom::server: headroom listening\n\
             2026-01-01T00:00:02Z ERROR headroom::proxy: upstream reset\n\
             headroom: Address already in use: 127.0.0.1:8787\n\
             thread 'main' panicked at src/x.rs:1:1\n",
        )
        .unwrap();
        let hits = recent_error_lines(&log, 2);
        assert_eq!(hits.len(), 2, "{hits:?}");
        assert!(hits[0].starts_with("headroom: Address already in use"));
        assert!(hits[1].contains("panicked"));
        assert_eq!(recent_error_lines(&log, 10).len(), 3);
        assert!(recent_error_lines(&dir.path().join("missing.log"), 5).is_empty());
    }
}
