//! The macOS LaunchAgent plist, built as a `plist::Value` and serialised by the `plist` crate
//! (never hand-written XML), so every path and key is escaped correctly.
//!
//! Must never: include `ANTHROPIC_API_KEY` unless the caller asked for it.

use super::{program_arguments, PlistArgs, ServiceCommand, ServiceError, DEFAULT_LABEL};
use plist::{Dictionary, Value};
use std::path::{Path, PathBuf};

/// Everything that varies between two generated plists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlistSpec {
    pub label: String,
    pub binary: PathBuf,
    /// Absolute config path; `None` runs `headroom proxy --host 127.0.0.1 --port N`.
    pub config: Option<PathBuf>,
    pub port: u16,
    pub home: PathBuf,
    /// Set only when the user asked to copy the key into the plist.
    pub api_key: Option<String>,
    pub memory_max: Option<u64>,
}

impl PlistSpec {
    /// Resolves the command-line arguments; `env` reads the generator's environment.
    pub fn from_args(
        args: &PlistArgs,
        config: Option<&Path>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<PlistSpec, ServiceError> {
        check_label(&args.label)?;
        let home = match &args.home {
            Some(h) => super::absolute(h, "home")?,
            None => env("HOME")
                .filter(|h| !h.is_empty())
                .map(PathBuf::from)
                .ok_or(ServiceError::NoHome)?,
        };
        let command = ServiceCommand::resolve(args.binary.as_deref(), config, args.port)?;
        let api_key = if args.api_key_from_env {
            let key = env("ANTHROPIC_API_KEY").filter(|k| !k.trim().is_empty());
            Some(key.ok_or(ServiceError::NoApiKey)?)
        } else {
            None
        };
        Ok(PlistSpec {
            label: args.label.clone(),
            binary: command.binary,
            config: command.config,
            port: command.port,
            home,
            api_key,
            memory_max: args.memory_max,
        })
    }

    /// Where launchd writes the proxy's standard output.
    pub fn stdout_path(&self) -> PathBuf {
        log_files(&self.home, &self.label).0
    }

    /// Where launchd writes the proxy's standard error (its log lines and errors).
    pub fn stderr_path(&self) -> PathBuf {
        log_files(&self.home, &self.label).1
    }

    /// The plist as a value tree, keys in the order a reader expects.
    pub fn to_value(&self) -> Value {
        let args = program_arguments(&self.binary, self.config.as_deref(), self.port)
            .into_iter()
            .map(Value::String)
            .collect();
        let mut env = Dictionary::new();
        env.insert(
            "HEADROOM_PROXY_PORT".into(),
            Value::String(self.port.to_string()),
        );
        if let Some(key) = &self.api_key {
            env.insert("ANTHROPIC_API_KEY".into(), Value::String(key.clone()));
        }
        let mut d = Dictionary::new();
        d.insert("Label".into(), Value::String(self.label.clone()));
        d.insert("ProgramArguments".into(), Value::Array(args));
        d.insert("EnvironmentVariables".into(), Value::Dictionary(env));
        d.insert("WorkingDirectory".into(), path_value(&self.home));
        d.insert("StandardOutPath".into(), path_value(&self.stdout_path()));
        d.insert("StandardErrorPath".into(), path_value(&self.stderr_path()));
        d.insert("RunAtLoad".into(), Value::Boolean(true));
        d.insert("KeepAlive".into(), Value::Boolean(true));
        d.insert("ProcessType".into(), Value::String("Adaptive".into()));
        d.insert("ThrottleInterval".into(), Value::Integer(10.into()));
        if let Some(bytes) = self.memory_max {
            let mut limits = Dictionary::new();
            limits.insert("ResidentSetSize".into(), Value::Integer(bytes.into()));
            d.insert("HardResourceLimits".into(), Value::Dictionary(limits));
        }
        Value::Dictionary(d)
    }

    /// The plist as XML (Apple's PropertyList-1.0 DOCTYPE), ending in a newline.
    pub fn to_xml(&self) -> Result<Vec<u8>, ServiceError> {
        let mut out = Vec::new();
        self.to_value().to_writer_xml(&mut out)?;
        if out.last() != Some(&b'\n') {
            out.push(b'\n');
        }
        Ok(out)
    }
}

/// `~/Library/Logs/headroom`: where the LaunchAgent's logs go.
pub fn log_dir(home: &Path) -> PathBuf {
    home.join("Library").join("Logs").join("headroom")
}

/// The agent's (stdout, stderr) logs: `proxy.log` and `proxy-error.log` for the default label;
/// `<label>.log` and `<label>-error.log` for others, so a second instance keeps its own logs.
pub fn log_files(home: &Path, label: &str) -> (PathBuf, PathBuf) {
    let dir = log_dir(home);
    if label == DEFAULT_LABEL {
        (dir.join("proxy.log"), dir.join("proxy-error.log"))
    } else {
        (
            dir.join(format!("{label}.log")),
            dir.join(format!("{label}-error.log")),
        )
    }
}

/// `~/Library/LaunchAgents/<label>.plist`.
pub fn plist_path(home: &Path, label: &str) -> PathBuf {
    home.join("Library")
        .join("LaunchAgents")
        .join(format!("{label}.plist"))
}

fn path_value(p: &Path) -> Value {
    Value::String(p.to_string_lossy().into_owned())
}

/// Labels become file names and launchctl service targets: keep them to a safe alphabet.
pub(super) fn check_label(label: &str) -> Result<(), ServiceError> {
    let ok = !label.is_empty()
        && !label.starts_with('.')
        && label
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
    if ok {
        Ok(())
    } else {
        Err(ServiceError::BadLabel(label.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> PlistSpec {
        PlistSpec {
            label: "com.headroom.proxy".into(),
            binary: "/opt/h r/headroom".into(),
            config: None,
            port: 9000,
            home: "/Users/ann".into(),
            api_key: None,
            memory_max: None,
        }
    }

    fn dict(v: &Value) -> &Dictionary {
        v.as_dictionary().expect("plist root is a dictionary")
    }

    #[test]
    fn without_config_runs_proxy_subcommand_on_loopback() {
        let v = spec().to_value();
        let args: Vec<&str> = dict(&v)["ProgramArguments"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_string().unwrap())
            .collect();
        assert_eq!(
            args,
            [
                "/opt/h r/headroom",
                "proxy",
                "--host",
                "127.0.0.1",
                "--port",
                "9000"
            ]
        );
    }

    #[test]
    fn with_config_runs_dash_c_and_keeps_port_in_environment() {
        let mut s = spec();
        s.config = Some("/etc/h.yaml".into());
        let v = s.to_value();
        let d = dict(&v);
        let args: Vec<&str> = d["ProgramArguments"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_string().unwrap())
            .collect();
        assert_eq!(args, ["/opt/h r/headroom", "-c", "/etc/h.yaml"]);
        let env = d["EnvironmentVariables"].as_dictionary().unwrap();
        assert_eq!(env["HEADROOM_PROXY_PORT"].as_string(), Some("9000"));
        assert!(env.get("ANTHROPIC_API_KEY").is_none());
    }

    #[test]
    fn key_and_memory_limit_appear_only_when_asked() {
        let mut s = spec();
        s.api_key = Some("sk-test".into());
        s.memory_max = Some(1 << 30);
        let v = s.to_value();
        let d = dict(&v);
        let env = d["EnvironmentVariables"].as_dictionary().unwrap();
        assert_eq!(env["ANTHROPIC_API_KEY"].as_string(), Some("sk-test"));
        let limits = d["HardResourceLimits"].as_dictionary().unwrap();
        assert_eq!(
            limits["ResidentSetSize"].as_unsigned_integer(),
            Some(1 << 30)
        );
        assert!(dict(&spec().to_value()).get("HardResourceLimits").is_none());
    }

    #[test]
    fn xml_escapes_markup_in_paths() {
        let mut s = spec();
        s.home = "/Users/a&b<c>".into();
        let xml = String::from_utf8(s.to_xml().unwrap()).unwrap();
        assert!(xml.contains("/Users/a&amp;b&lt;c&gt;"), "{xml}");
        let back = Value::from_reader_xml(xml.as_bytes()).unwrap();
        assert_eq!(
            dict(&back)["WorkingDirectory"].as_string(),
            Some("/Users/a&b<c>")
        );
    }

    #[test]
    fn second_instance_gets_its_own_log_files() {
        let mut s = spec();
        assert!(s
            .stderr_path()
            .ends_with("Library/Logs/headroom/proxy-error.log"));
        s.label = "com.headroom.proxy-9000".into();
        assert!(s
            .stderr_path()
            .ends_with("Library/Logs/headroom/com.headroom.proxy-9000-error.log"));
        assert!(s
            .stdout_path()
            .ends_with("Library/Logs/headroom/com.headroom.proxy-9000.log"));
    }

    #[test]
    fn labels_outside_the_safe_alphabet_are_refused() {
        assert!(check_label("com.headroom.proxy-2").is_ok());
        for bad in ["", "../evil", "a b", "x/y", ".hidden"] {
            assert!(check_label(bad).is_err(), "{bad:?}");
        }
    }
}
