//! Reading an installed service definition back (LaunchAgent plist or systemd user unit) into
//! one shape that `doctor` can check: the command line, the environment, the file's mode.
//!
//! Must never: expose an API key's value beyond `has_api_key`.

use super::systemd::split_exec;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// What an installed service would run.
#[derive(Debug, Clone)]
pub struct InstalledService {
    /// Permission bits of the service file (e.g. `0o644`).
    pub mode: u32,
    /// The full command line, binary first.
    pub program: Vec<String>,
    /// Environment variables set in the service file itself.
    env: Vec<(String, String)>,
    /// launchd `StandardErrorPath`, where the proxy's log lines go.
    pub stderr_path: Option<PathBuf>,
    /// systemd `EnvironmentFile=`, with `%h` resolved; its mode and whether it holds a key.
    pub env_file: Option<EnvFile>,
}

#[derive(Debug, Clone)]
pub struct EnvFile {
    pub path: PathBuf,
    /// `None` when the file does not exist (allowed: `EnvironmentFile=-...`).
    pub mode: Option<u32>,
    pub has_api_key: bool,
}

impl InstalledService {
    pub fn binary(&self) -> Option<&str> {
        self.program.first().map(String::as_str)
    }

    /// The config file passed with `-c`/`--config`, if any.
    pub fn config(&self) -> Option<PathBuf> {
        flag_value(&self.program, &["-c", "--config"]).map(PathBuf::from)
    }

    /// The port the service listens on, from `HEADROOM_PROXY_PORT` or `--port`.
    pub fn port(&self) -> Option<u16> {
        flag_value(&self.program, &["--port"])
            .or_else(|| self.env_value("HEADROOM_PROXY_PORT"))
            .and_then(|p| p.trim().parse().ok())
    }

    /// Whether the service file itself holds a non-empty `ANTHROPIC_API_KEY`.
    pub fn has_api_key(&self) -> bool {
        self.env_value("ANTHROPIC_API_KEY")
            .is_some_and(|k| !k.trim().is_empty())
    }

    fn env_value(&self, name: &str) -> Option<&str> {
        self.env
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

fn flag_value<'a>(args: &'a [String], names: &[&str]) -> Option<&'a str> {
    args.windows(2)
        .find(|w| names.contains(&w[0].as_str()))
        .map(|w| w[1].as_str())
}

fn mode_of(path: &Path) -> Result<u32, String> {
    std::fs::metadata(path)
        .map(|m| m.permissions().mode() & 0o7777)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))
}

/// Reads a LaunchAgent plist; `Ok(None)` when there is none at `path`.
pub fn read_plist(path: &Path) -> Result<Option<InstalledService>, String> {
    if !path.exists() {
        return Ok(None);
    }
    let mode = mode_of(path)?;
    let value = plist::Value::from_file(path)
        .map_err(|e| format!("{} is not a readable plist: {e}", path.display()))?;
    let dict = value
        .as_dictionary()
        .ok_or_else(|| format!("{}: the top level is not a dictionary", path.display()))?;
    let program: Vec<String> = match dict.get("ProgramArguments").and_then(|v| v.as_array()) {
        Some(a) => a
            .iter()
            .map(|v| v.as_string().map(str::to_string))
            .collect::<Option<_>>()
            .ok_or_else(|| format!("{}: ProgramArguments holds a non-string", path.display()))?,
        None => match dict.get("Program").and_then(|v| v.as_string()) {
            Some(p) => vec![p.to_string()],
            None => {
                return Err(format!(
                    "{}: no ProgramArguments (nothing for launchd to run)",
                    path.display()
                ))
            }
        },
    };
    let env = dict
        .get("EnvironmentVariables")
        .and_then(|v| v.as_dictionary())
        .map(|d| {
            d.iter()
                .filter_map(|(k, v)| v.as_string().map(|s| (k.clone(), s.to_string())))
                .collect()
        })
        .unwrap_or_default();
    let stderr_path = dict
        .get("StandardErrorPath")
        .and_then(|v| v.as_string())
        .map(PathBuf::from);
    Ok(Some(InstalledService {
        mode,
        program,
        env,
        stderr_path,
        env_file: None,
    }))
}

/// Reads a systemd user unit; `Ok(None)` when there is none at `path`. `%h` means `home`.
pub fn read_unit(path: &Path, home: &Path) -> Result<Option<InstalledService>, String> {
    if !path.exists() {
        return Ok(None);
    }
    let mode = mode_of(path)?;
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let home_s = home.to_string_lossy();
    let mut program = Vec::new();
    let mut env = Vec::new();
    let mut env_file = None;
    for line in text.lines().map(str::trim) {
        if let Some(exec) = line.strip_prefix("ExecStart=") {
            program = split_exec(exec.trim_start_matches(['-', '@', '+', '!']));
        } else if let Some(e) = line.strip_prefix("Environment=") {
            for word in split_exec(e) {
                if let Some((k, v)) = word.split_once('=') {
                    env.push((k.to_string(), v.to_string()));
                }
            }
        } else if let Some(f) = line.strip_prefix("EnvironmentFile=") {
            let f = f.trim_start_matches('-').replace("%h", &home_s);
            let p = PathBuf::from(f);
            let mode = mode_of(&p).ok();
            let has_api_key = std::fs::read_to_string(&p).is_ok_and(|t| {
                t.lines().any(|l| {
                    l.trim()
                        .trim_start_matches("export ")
                        .strip_prefix("ANTHROPIC_API_KEY=")
                        .is_some_and(|v| !v.trim().trim_matches(['"', '\'']).is_empty())
                })
            });
            env_file = Some(EnvFile {
                path: p,
                mode,
                has_api_key,
            });
        }
    }
    if program.is_empty() {
        return Err(format!("{}: no ExecStart= line", path.display()));
    }
    Ok(Some(InstalledService {
        mode,
        program,
        env,
        stderr_path: None,
        env_file,
    }))
}
