//! Running headroom as a per-user service: the macOS LaunchAgent plist (`headroom launchd
//! plist`), the systemd user unit (`headroom systemd unit`) and `headroom doctor`, which checks
//! an installed setup the way the troubleshooting guide would.
//!
//! Owns: the command-line arguments of those three commands and what they print.
//! Must never: print or log an API key (it may be written into a plist only when the user asks
//! with `--api-key-from-env`), or change anything on disk: install and uninstall are the shell
//! scripts' job (`launchd/*.sh`); these commands only generate text and inspect.

mod doctor;
pub mod launchd;
mod model_check;
mod probe;
mod service_file;
pub mod systemd;

use clap::{Args, Subcommand, ValueEnum};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

pub use doctor::{doctor, DoctorArgs};

/// The label (and plist file name) used when none is given.
pub const DEFAULT_LABEL: &str = "com.headroom.proxy";
/// The systemd user unit name (without `.service`) used when none is given.
pub const DEFAULT_UNIT: &str = "headroom";
/// The port the service listens on when neither `--port` nor a config says otherwise.
pub const DEFAULT_PORT: u16 = 8787;

/// `headroom launchd ...`
#[derive(Debug, Args)]
pub struct LaunchdArgs {
    #[command(subcommand)]
    pub command: LaunchdCommand,
}

#[derive(Debug, Subcommand)]
pub enum LaunchdCommand {
    /// Print a LaunchAgent plist that runs this proxy at login and restarts it if it dies.
    ///
    /// With `-c FILE` the agent runs `headroom -c FILE`; without it, `headroom proxy --host
    /// 127.0.0.1 --port N`. Install it with launchd/install.sh, or by hand:
    /// `headroom launchd plist > ~/Library/LaunchAgents/com.headroom.proxy.plist`.
    Plist(PlistArgs),
}

#[derive(Debug, Args)]
pub struct PlistArgs {
    /// launchd label; also the plist's file name in ~/Library/LaunchAgents.
    #[arg(long, default_value = DEFAULT_LABEL, value_name = "LABEL")]
    pub label: String,
    /// Port (sets HEADROOM_PROXY_PORT). Default: the config's port, else 8787.
    #[arg(long, value_name = "N")]
    pub port: Option<u16>,
    /// The headroom binary the agent runs. Default: this binary.
    #[arg(long, value_name = "PATH")]
    pub binary: Option<PathBuf>,
    /// Home directory: working directory and the base of ~/Library/Logs. Default: $HOME.
    #[arg(long, value_name = "DIR")]
    pub home: Option<PathBuf>,
    /// Copy ANTHROPIC_API_KEY from this environment into the plist (then keep it chmod 600).
    #[arg(long)]
    pub api_key_from_env: bool,
    /// Hard limit on resident memory in bytes (HardResourceLimits.ResidentSetSize).
    #[arg(long, value_name = "BYTES")]
    pub memory_max: Option<u64>,
    /// Write the plist to FILE instead of stdout (atomically; mode 600 when it holds a key,
    /// else 644).
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// `headroom systemd ...`
#[derive(Debug, Args)]
pub struct SystemdArgs {
    #[command(subcommand)]
    pub command: SystemdCommand,
}

#[derive(Debug, Subcommand)]
pub enum SystemdCommand {
    /// Print a systemd user unit that runs this proxy and restarts it on failure.
    ///
    /// Install it with launchd/install.sh --platform linux, or by hand:
    /// `headroom systemd unit > ~/.config/systemd/user/headroom.service`, then
    /// `systemctl --user daemon-reload && systemctl --user enable --now headroom`.
    Unit(UnitArgs),
}

#[derive(Debug, Args)]
pub struct UnitArgs {
    /// Port (sets HEADROOM_PROXY_PORT). Default: the config's port, else 8787.
    #[arg(long, value_name = "N")]
    pub port: Option<u16>,
    /// The headroom binary the unit runs. Default: this binary.
    #[arg(long, value_name = "PATH")]
    pub binary: Option<PathBuf>,
}

/// Which service manager a command talks about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Platform {
    Macos,
    Linux,
}

impl Platform {
    /// The platform this binary was built for (anything that is not macOS is treated as Linux).
    pub fn current() -> Platform {
        if cfg!(target_os = "macos") {
            Platform::Macos
        } else {
            Platform::Linux
        }
    }
}

/// Why a service file could not be generated.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("HOME is not set; pass --home DIR")]
    NoHome,
    #[error("cannot find this binary's own path ({0}); pass --binary PATH")]
    NoBinary(std::io::Error),
    #[error("{what} {path}: {source}")]
    Path {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config {path}: {message}")]
    Config { path: PathBuf, message: String },
    #[error("--api-key-from-env: ANTHROPIC_API_KEY is not set (or empty) in this environment")]
    NoApiKey,
    #[error("label {0:?} may only contain letters, digits, '.', '-' and '_'")]
    BadLabel(String),
    #[error("cannot write the plist: {0}")]
    Plist(#[from] plist::Error),
}

/// `headroom launchd ...`: prints the plist; exit 1 with the reason on error.
pub fn launchd_command(args: &LaunchdArgs, config: Option<&Path>) -> ExitCode {
    let LaunchdCommand::Plist(a) = &args.command;
    let result = launchd::PlistSpec::from_args(a, config, &|k| std::env::var(k).ok())
        .and_then(|spec| spec.to_xml());
    match (&a.output, result) {
        (Some(path), Ok(xml)) => match write_private(path, &xml, a.api_key_from_env) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("headroom: cannot write {}: {e}", path.display());
                ExitCode::from(1)
            }
        },
        (_, result) => print_or_fail(result),
    }
}

/// Writes `bytes` to `path` through a temp file created with the final mode, so a key-bearing
/// plist is never readable by others, not even for a moment.
fn write_private(path: &Path, bytes: &[u8], secret: bool) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mode = if secret { 0o600 } else { 0o644 };
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        // The umask may have narrowed the mode; say exactly what we mean.
        std::fs::set_permissions(&tmp, std::os::unix::fs::PermissionsExt::from_mode(mode))?;
        std::fs::rename(&tmp, path)
    };
    let result = write();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// `headroom systemd ...`: prints the unit; exit 1 with the reason on error.
pub fn systemd_command(args: &SystemdArgs, config: Option<&Path>) -> ExitCode {
    let SystemdCommand::Unit(a) = &args.command;
    let result = systemd::UnitSpec::from_args(a, config).map(|u| u.render().into_bytes());
    print_or_fail(result)
}

fn print_or_fail(result: Result<Vec<u8>, ServiceError>) -> ExitCode {
    match result {
        Ok(bytes) => {
            let mut out = std::io::stdout().lock();
            if out.write_all(&bytes).and_then(|_| out.flush()).is_err() {
                return ExitCode::from(1);
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("headroom: {e}");
            ExitCode::from(1)
        }
    }
}

/// An absolute form of `path` (relative to the current directory), without requiring it to exist.
fn absolute(path: &Path, what: &'static str) -> Result<PathBuf, ServiceError> {
    std::path::absolute(path).map_err(|source| ServiceError::Path {
        what,
        path: path.to_path_buf(),
        source,
    })
}

/// What a service runs: the binary, the config it is given (if any), and its port (`--port`,
/// else the config's `listen` port, else the default).
pub(crate) struct ServiceCommand {
    pub binary: PathBuf,
    pub config: Option<PathBuf>,
    pub port: u16,
}

impl ServiceCommand {
    pub fn resolve(
        binary: Option<&Path>,
        config: Option<&Path>,
        port: Option<u16>,
    ) -> Result<ServiceCommand, ServiceError> {
        let binary = service_binary(binary)?;
        let config = service_config(config)?;
        let port = port
            .or(config.as_ref().map(|c| c.1))
            .unwrap_or(DEFAULT_PORT);
        Ok(ServiceCommand {
            binary,
            config: config.map(|c| c.0),
            port,
        })
    }
}

/// The command line a service manager runs: `BINARY -c CONFIG`, or, without a config,
/// `BINARY proxy --host 127.0.0.1 --port N` (the form the macOS guide uses).
pub(crate) fn program_arguments(binary: &Path, config: Option<&Path>, port: u16) -> Vec<String> {
    let mut args = vec![binary.to_string_lossy().into_owned()];
    match config {
        Some(c) => {
            args.push("-c".into());
            args.push(c.to_string_lossy().into_owned());
        }
        None => {
            for a in ["proxy", "--host", "127.0.0.1", "--port"] {
                args.push(a.into());
            }
            args.push(port.to_string());
        }
    }
    args
}

/// The binary the service runs: `--binary`, else the running executable.
fn service_binary(binary: Option<&Path>) -> Result<PathBuf, ServiceError> {
    match binary {
        Some(b) => absolute(b, "binary"),
        None => std::env::current_exe().map_err(ServiceError::NoBinary),
    }
}

/// The config the service runs with, absolute and checked to exist, and the port it implies.
fn service_config(config: Option<&Path>) -> Result<Option<(PathBuf, u16)>, ServiceError> {
    let Some(path) = config else {
        return Ok(None);
    };
    let path = absolute(path, "config")?;
    let text = std::fs::read_to_string(&path).map_err(|source| ServiceError::Path {
        what: "config",
        path: path.clone(),
        source,
    })?;
    let origin = path.display().to_string();
    let cfg =
        crate::config::Config::from_yaml(&text, &origin).map_err(|e| ServiceError::Config {
            path: path.clone(),
            message: e.to_string(),
        })?;
    let port = cfg
        .listen_addr()
        .map_err(|message| ServiceError::Config {
            path: path.clone(),
            message,
        })?
        .port();
    Ok(Some((path, port)))
}
