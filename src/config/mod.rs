//! The YAML configuration: typed schema, defaults in one place, environment overrides and
//! validation errors written for the person at the keyboard.
//!
//! Must never: log or print secrets (the config holds none; keys come from the environment).

use crate::compress::CompressionConfig;
use crate::model::{Device, ModelConfig, ModelKind};
mod auth;
mod retrieval;
mod yaml;
pub use retrieval::Retrieval;

use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// The embedded default config (`conf/headroom.yaml`), used when no `-c` is given.
pub const DEFAULT_YAML: &str = include_str!("../../conf/headroom.yaml");

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address the proxy listens on, `host:port`.
    pub listen: String,
    pub upstreams: Upstreams,
    pub compression: CompressionConfig,
    /// Originals of compressed blocks, kept for retrieval.
    pub retrieval: Retrieval,
    pub model: ModelConfig,
    pub limits: Limits,
    pub timeouts: Timeouts,
    pub auth: Auth,
    pub log: Log,
    pub stats: Stats,
    /// Estimated prices per model family, for the dollar figures (see `pricing.rs`).
    pub pricing: crate::pricing::Pricing,
    pub shutdown: Shutdown,
    /// Shared team state (Redis); off by default.
    pub state: headroom_team::StateConfig,
    /// Worker threads for the proxy's async runtime.
    pub threads: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Upstreams {
    /// `/v1/messages*` and everything that is not another `/v1/*` path.
    pub anthropic: String,
    /// `/v1/chat/completions`, `/v1/responses`, `/v1/embeddings` and other `/v1/*` paths.
    pub openai: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Bodies up to this size are read whole and may be compressed; bigger ones stream through.
    pub max_body_bytes: usize,
    /// Reject bodies over `max_body_bytes` with 413 instead of streaming them through.
    pub reject_oversize: bool,
    /// Compressions running at once (the blocking pool's size); further requests wait.
    pub max_concurrent_compressions: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Timeouts {
    /// TCP + TLS connect to the upstream.
    pub connect_ms: u64,
    /// Longest silence while reading the upstream's response (SSE streams included).
    pub upstream_read_ms: u64,
    /// Longest silence while writing the request to the upstream.
    pub upstream_write_ms: u64,
    /// Longest wait for a client's request headers or the next body chunk.
    pub client_read_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Auth {
    /// Add `x-api-key: $ANTHROPIC_API_KEY` to Anthropic requests that carry no credentials
    /// (trusted local requests only: see README, "Security").
    pub inject_api_key: bool,
    /// Extra `Host` names (optionally `name:port`) the proxy answers to besides localhost,
    /// 127.0.0.1 and [::1]; any other Host is refused (DNS-rebinding defence).
    pub allowed_hosts: Vec<String>,
    /// `Origin` values (`scheme://host:port`) of web apps allowed to use the proxy as a trusted
    /// local caller; requests with any other Origin get no key and no local data.
    pub allowed_origins: Vec<String>,
    /// `local` (laptop; loopback `listen` only), `tokens` (every request needs one of
    /// `tokens`) or `passthrough` (clients bring their own keys; nothing is injected).
    pub mode: headroom_team::AuthMode,
    /// Named gateway tokens, stored as sha256 hex (`headroom token hash`).
    pub tokens: Vec<headroom_team::TokenEntry>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Log {
    /// `error | warn | info | debug | trace`, or a tracing filter such as `headroom=debug`.
    pub level: String,
    pub format: LogFormat,
    /// When stderr is a regular file (launchd's StandardErrorPath, `2>> file`), rotate it past
    /// this size: `file` → `file.1` → … (0 turns rotation off).
    pub max_file_bytes: u64,
    /// Rotated files kept beside the live one.
    pub keep_files: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Stats {
    /// Lifetime totals file; default: the platform's state directory.
    pub path: Option<PathBuf>,
    /// Seconds between writes of the lifetime totals (when they changed).
    pub flush_seconds: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Shutdown {
    /// On SIGTERM/SIGINT, how long in-flight requests and open streams may take to finish.
    pub grace_seconds: u64,
    /// On SIGTERM, keep serving this long with `/health/ready` answering 503 before the
    /// listener closes, so a balancer takes the replica out of rotation first (0: close at once).
    pub unready_seconds: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: "127.0.0.1:8787".into(),
            upstreams: Upstreams::default(),
            compression: CompressionConfig::default(),
            retrieval: Retrieval::default(),
            model: ModelConfig::default(),
            limits: Limits::default(),
            timeouts: Timeouts::default(),
            auth: Auth::default(),
            log: Log::default(),
            stats: Stats::default(),
            pricing: crate::pricing::Pricing::default(),
            shutdown: Shutdown::default(),
            state: headroom_team::StateConfig::default(),
            threads: 2,
        }
    }
}

impl Default for Upstreams {
    fn default() -> Self {
        Upstreams {
            anthropic: "https://api.anthropic.com".into(),
            openai: "https://api.openai.com".into(),
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: 32 * 1024 * 1024,
            reject_oversize: false,
            max_concurrent_compressions: 4,
        }
    }
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect_ms: 10_000,
            upstream_read_ms: 600_000,
            upstream_write_ms: 60_000,
            client_read_ms: 60_000,
        }
    }
}

impl Default for Auth {
    fn default() -> Self {
        Auth {
            inject_api_key: true,
            allowed_hosts: Vec::new(),
            allowed_origins: Vec::new(),
            mode: headroom_team::AuthMode::Local,
            tokens: Vec::new(),
        }
    }
}

impl Default for Log {
    fn default() -> Self {
        Log {
            level: "info".into(),
            format: LogFormat::Text,
            max_file_bytes: 10 * 1024 * 1024,
            keep_files: 3,
        }
    }
}

impl Default for Stats {
    fn default() -> Self {
        Stats {
            path: None,
            flush_seconds: 5,
        }
    }
}

impl Default for Shutdown {
    fn default() -> Self {
        Shutdown {
            grace_seconds: 10,
            unready_seconds: 0,
        }
    }
}

/// A config that cannot be used, with every problem found.
#[derive(Debug, thiserror::Error)]
#[error("{}", .problems.join("\n"))]
pub struct ConfigError {
    pub problems: Vec<String>,
}

impl ConfigError {
    fn one(problem: String) -> Self {
        ConfigError {
            problems: vec![problem],
        }
    }
}

/// Values that override the file: environment variables first, then command-line flags.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub host: Option<String>,
    pub port: Option<u16>,
}

impl Config {
    /// Parses YAML text; `origin` names the file in error messages.
    pub fn from_yaml(text: &str, origin: &str) -> Result<Config, ConfigError> {
        if is_blank_yaml(text) {
            return Err(ConfigError::one(format!(
                "{origin}: the file is empty (only blank lines or comments); refusing to fall back \
                 to the defaults. Write the settings you want, or run without `-c` to use the \
                 embedded default config."
            )));
        }
        let config = yaml::parse(text, origin)?;
        Ok(config)
    }

    /// Reads and parses a file, applies environment overrides and `overrides`, validates.
    pub fn load(path: &Path, overrides: &Overrides) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError::one(format!("cannot read config {}: {e}", path.display())))?;
        let origin = path.display().to_string();
        let mut config = Config::from_yaml(&text, &origin)?;
        config.apply_env(&|k| std::env::var(k).ok())?;
        config.apply_overrides(overrides);
        config.validate().map_err(|e| ConfigError {
            problems: yaml::locate_problems(e.problems, &text, &origin),
        })?;
        Ok(config)
    }

    /// The embedded default, with environment overrides and `overrides` applied.
    pub fn load_default(overrides: &Overrides) -> Result<Config, ConfigError> {
        let mut config = Config::from_yaml(DEFAULT_YAML, "embedded default config")?;
        config.apply_env(&|k| std::env::var(k).ok())?;
        config.apply_overrides(overrides);
        config.validate()?;
        Ok(config)
    }

    /// `HEADROOM_PROXY_PORT`, `HEADROOM_HOST`, `HEADROOM_COMPRESSION_PROVIDER`,
    /// `HEADROOM_LLMLINGUA_DEVICE`, `HEADROOM_REDIS_URL` (keeps a Redis password out of the
    /// config file).
    pub fn apply_env(&mut self, var: &dyn Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        let mut problems = Vec::new();
        if let Some(host) = var("HEADROOM_HOST").filter(|v| !v.trim().is_empty()) {
            self.set_host(host.trim());
        }
        if let Some(url) = var("HEADROOM_REDIS_URL").filter(|v| !v.trim().is_empty()) {
            self.state.redis_url = Some(url.trim().to_string());
        }
        if let Some(port) = var("HEADROOM_PROXY_PORT").filter(|v| !v.trim().is_empty()) {
            match port.trim().parse::<u16>() {
                Ok(p) => self.set_port(p),
                Err(_) => problems.push(format!(
                    "HEADROOM_PROXY_PORT={port:?} is not a port number (1-65535)"
                )),
            }
        }
        if let Some(provider) = var("HEADROOM_COMPRESSION_PROVIDER").filter(|v| !v.is_empty()) {
            match provider.trim().to_ascii_lowercase().as_str() {
                "llmlingua" | "llmlingua2" | "llmlingua-2" | "token_classifier" => {
                    self.model.enabled = true;
                    self.model.kind = ModelKind::TokenClassifier;
                }
                "minilm" | "embedder" | "onnx" | "model" => {
                    self.model.enabled = true;
                    self.model.kind = ModelKind::Embedder;
                }
                "rules" | "none" | "off" => self.model.enabled = false,
                other => problems.push(format!(
                    "HEADROOM_COMPRESSION_PROVIDER={other:?} is not one of llmlingua, minilm, rules"
                )),
            }
        }
        if let Some(device) = var("HEADROOM_LLMLINGUA_DEVICE").filter(|v| !v.is_empty()) {
            match Device::parse(&device) {
                Some(d) => self.model.device = d,
                None => problems.push(format!(
                    "HEADROOM_LLMLINGUA_DEVICE={device:?} is not one of auto, cpu, cuda, coreml (mps)"
                )),
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigError { problems })
        }
    }

    pub fn apply_overrides(&mut self, o: &Overrides) {
        if let Some(host) = &o.host {
            self.set_host(host);
        }
        if let Some(port) = o.port {
            self.set_port(port);
        }
    }

    fn set_host(&mut self, host: &str) {
        let port = self.listen_parts().1;
        self.listen = join_host_port(host, &port);
    }

    fn set_port(&mut self, port: u16) {
        let host = self.listen_parts().0;
        self.listen = join_host_port(&host, &port.to_string());
    }

    fn listen_parts(&self) -> (String, String) {
        match self.listen.rsplit_once(':') {
            Some((h, p)) => (h.trim_matches(['[', ']']).to_string(), p.to_string()),
            None => (self.listen.clone(), "8787".to_string()),
        }
    }

    /// The listen address, resolved (`localhost` allowed).
    pub fn listen_addr(&self) -> Result<SocketAddr, String> {
        use std::net::ToSocketAddrs;
        let (host, port) = self.listen_parts();
        let port: u16 = port
            .parse()
            .map_err(|_| format!("`listen`: {:?} has no valid port", self.listen))?;
        let host = if host.is_empty() { "127.0.0.1" } else { &host };
        (host, port)
            .to_socket_addrs()
            .ok()
            .and_then(|mut a| a.next())
            .ok_or_else(|| format!("`listen`: cannot resolve {:?}", self.listen))
    }

    /// Checks everything serde cannot: addresses, URLs, ranges.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut problems = Vec::new();
        match self.listen_addr() {
            Err(e) => problems.push(e),
            Ok(addr) if !addr.ip().is_loopback() => {
                problems.extend(self.public_listen_problem(addr))
            }
            Ok(_) => {}
        }
        for (key, list) in [
            ("auth.allowed_hosts", &self.auth.allowed_hosts),
            ("auth.allowed_origins", &self.auth.allowed_origins),
        ] {
            for v in list {
                if v.trim().is_empty() || v.contains(|c: char| c.is_whitespace() || c == '*') {
                    problems.push(format!(
                        "`{key}`: {v:?} is not a plain name (no spaces, no wildcards)"
                    ));
                }
            }
        }
        for (key, url) in [
            ("upstreams.anthropic", &self.upstreams.anthropic),
            ("upstreams.openai", &self.upstreams.openai),
        ] {
            if let Err(e) = crate::upstream::UpstreamUrl::parse(url) {
                problems.push(format!("`{key}`: {e}"));
            }
        }
        if self.limits.max_body_bytes == 0 {
            problems.push("`limits.max_body_bytes` must be greater than 0".into());
        }
        if self.limits.max_concurrent_compressions == 0 {
            problems.push("`limits.max_concurrent_compressions` must be at least 1".into());
        }
        if self.threads == 0 {
            problems.push("`threads` must be at least 1".into());
        }
        if self.model.threads == 0 {
            problems.push("`model.threads` must be at least 1".into());
        }
        if self.stats.flush_seconds == 0 {
            problems.push("`stats.flush_seconds` must be at least 1".into());
        }
        problems.extend(self.pricing.problems());
        problems.extend(self.state.problems());
        problems.extend(self.auth.problems());
        for (key, v) in [
            ("timeouts.connect_ms", self.timeouts.connect_ms),
            ("timeouts.upstream_read_ms", self.timeouts.upstream_read_ms),
            (
                "timeouts.upstream_write_ms",
                self.timeouts.upstream_write_ms,
            ),
            ("timeouts.client_read_ms", self.timeouts.client_read_ms),
        ] {
            if v == 0 {
                problems.push(format!("`{key}` must be greater than 0"));
            }
        }
        problems.extend(self.compression.text.problems());
        problems.extend(self.retrieval.problems());
        if !is_plain_log_filter(&self.log.level) {
            // tracing-subscriber panics on some non-ASCII directives (`info, é=debug`) and
            // compiles span field filters (`[{f=…}]`) into regexes that can take minutes:
            // refuse both before it parses.
            problems.push(format!(
                "`log.level`: {:?} is not a level (error, warn, info, debug, trace) or a `target=level` list (span and field filters are not supported)",
                self.log.level
            ));
        } else if let Err(e) = tracing_subscriber::EnvFilter::try_new(&self.log.level) {
            problems.push(format!(
                "`log.level`: {:?} is not a level (error, warn, info, debug, trace): {e}",
                self.log.level
            ));
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigError { problems })
        }
    }
}

/// A log filter made only of levels and `target=level` directives: ASCII, no span or field
/// filters, of reasonable length.
pub fn is_plain_log_filter(spec: &str) -> bool {
    spec.len() <= 512
        && spec
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_:,=-. ".contains(&b))
}

fn join_host_port(host: &str, port: &str) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// True when YAML text holds nothing but blank lines, comments and document markers.
fn is_blank_yaml(text: &str) -> bool {
    text.lines().all(|l| {
        let t = l.trim();
        t.is_empty() || t.starts_with('#') || t == "---" || t == "..."
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_default_parses_and_validates() {
        let c = Config::from_yaml(DEFAULT_YAML, "default").unwrap();
        c.validate().unwrap();
        assert_eq!(c.listen, "127.0.0.1:8787");
        assert_eq!(c.limits.max_body_bytes, 33_554_432);
        // The shipped file documents the defaults: it must say exactly what the code does.
        assert_eq!(c, Config::default());
    }

    #[test]
    fn unknown_key_is_named_with_its_line() {
        let err = Config::from_yaml(
            "listen: 127.0.0.1:1\ncompression:\n  enabeld: true\n",
            "x.yaml",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("x.yaml line 3"), "{err}");
        assert!(err.contains("enabeld"), "{err}");
        assert!(err.contains("compression"), "{err}");
    }

    #[test]
    fn bad_device_lists_the_choices() {
        let err = Config::from_yaml("model:\n  device: gpu2\n", "c.yaml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("model.device"), "{err}");
        assert_eq!(err.matches("model.device").count(), 1, "{err}");
        assert!(err.contains("coreml"), "{err}");
    }

    #[test]
    fn mps_is_coreml() {
        let c = Config::from_yaml("model:\n  device: mps\n", "c").unwrap();
        assert_eq!(c.model.device, Device::Coreml);
    }

    #[test]
    fn env_overrides_then_flags() {
        let mut c = Config::default();
        let env = |k: &str| match k {
            "HEADROOM_PROXY_PORT" => Some("9999".to_string()),
            "HEADROOM_HOST" => Some("0.0.0.0".to_string()),
            "HEADROOM_LLMLINGUA_DEVICE" => Some("mps".to_string()),
            "HEADROOM_COMPRESSION_PROVIDER" => Some("llmlingua".to_string()),
            _ => None,
        };
        c.apply_env(&env).unwrap();
        assert_eq!(c.listen, "0.0.0.0:9999");
        assert_eq!(c.model.device, Device::Coreml);
        assert_eq!(c.model.kind, ModelKind::TokenClassifier);
        c.apply_overrides(&Overrides {
            host: Some("::1".into()),
            port: Some(1234),
        });
        assert_eq!(c.listen, "[::1]:1234");
        assert_eq!(c.listen_addr().unwrap().port(), 1234);
    }

    #[test]
    fn bad_env_port_is_an_error() {
        let mut c = Config::default();
        let err = c
            .apply_env(&|k| (k == "HEADROOM_PROXY_PORT").then(|| "http".to_string()))
            .unwrap_err();
        assert!(err.to_string().contains("HEADROOM_PROXY_PORT"));
    }

    #[test]
    fn empty_files_are_errors_not_defaults() {
        for text in ["", " \n", "# nothing\n", "---\n# c\n...\n"] {
            let e = Config::from_yaml(text, "h.yaml").unwrap_err().to_string();
            assert!(e.starts_with("h.yaml: the file is empty"), "{text:?}: {e}");
        }
        assert!(Config::from_yaml("threads: 3\n", "h.yaml").is_ok());
    }

    #[test]
    fn validation_collects_every_problem() {
        let c = Config::from_yaml(
            "listen: nowhere\nupstreams:\n  anthropic: ftp://x\nthreads: 0\n",
            "c",
        )
        .unwrap();
        let err = c.validate().unwrap_err();
        assert!(err.problems.len() >= 3, "{:?}", err.problems);
    }

    #[test]
    fn non_ascii_and_span_filter_log_levels_are_an_error_not_a_panic_or_hang() {
        for level in [
            "info, é=debug",
            " é=debug",
            "headroom=débug",
            "info[{x=<<<<|<<00}]",
            "[span]=debug",
        ] {
            let mut c = Config::default();
            c.log.level = level.into();
            let err = c.validate().expect_err(level).to_string();
            assert!(err.contains("log.level"), "{err}");
        }
    }
}
