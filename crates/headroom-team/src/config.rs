//! The `state:` section of the config: where shared team state lives and how long the proxy
//! may wait for it. Defaults live here and only here.
//!
//! Must never: hold a password in a log line (the URL is shown with its password masked).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StateConfig {
    /// `redis://[user:password@]host:port[/db]` (or `rediss://`). Unset: every replica keeps
    /// its state to itself (the laptop setup).
    pub redis_url: Option<String>,
    /// Prefix of every key this proxy writes, so several gateways can share one Redis.
    pub key_prefix: String,
    /// Longest wait for one Redis answer on the request path; past it Redis counts as down.
    pub timeout_ms: u64,
    /// Longest wait for a (re)connection to Redis.
    pub connect_timeout_ms: u64,
    /// Failures in a row after which Redis is skipped for `breaker_open_ms`.
    pub breaker_failures: u32,
    /// How long Redis is skipped after `breaker_failures`; then one probe is tried.
    pub breaker_open_ms: u64,
    /// How long an original stays retrievable in Redis.
    pub originals_ttl_seconds: u64,
    /// How long a shared compression result is kept.
    pub results_ttl_seconds: u64,
    /// Writes waiting for Redis at most; beyond it new writes are dropped and counted.
    pub queue_entries: usize,
}

impl Default for StateConfig {
    fn default() -> Self {
        StateConfig {
            redis_url: None,
            key_prefix: "headroom".into(),
            timeout_ms: 50,
            connect_timeout_ms: 250,
            breaker_failures: 3,
            breaker_open_ms: 2000,
            originals_ttl_seconds: 7 * 86_400,
            results_ttl_seconds: 86_400,
            queue_entries: 4096,
        }
    }
}

impl StateConfig {
    /// Problems with the values, each naming its key.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(url) = &self.redis_url {
            if !(url.starts_with("redis://")
                || url.starts_with("rediss://")
                || url.starts_with("unix://"))
            {
                out.push(format!(
                    "`state.redis_url`: {:?} must start with redis://, rediss:// or unix://",
                    masked_url(url)
                ));
            } else if redis::Client::open(url.as_str()).is_err() {
                out.push(format!(
                    "`state.redis_url`: {:?} is not a valid Redis URL (redis://host:port/db)",
                    masked_url(url)
                ));
            }
        }
        if self.timeout_ms == 0 {
            out.push("`state.timeout_ms` must be at least 1".into());
        }
        if self.connect_timeout_ms == 0 {
            out.push("`state.connect_timeout_ms` must be at least 1".into());
        }
        if self.key_prefix.is_empty() || self.key_prefix.contains(char::is_whitespace) {
            out.push("`state.key_prefix` must be a non-empty word without spaces".into());
        }
        if self.queue_entries == 0 {
            out.push("`state.queue_entries` must be at least 1".into());
        }
        out
    }
}

/// `url` with any password replaced by `***`, for logs and error messages.
pub fn masked_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (authority, tail) = rest.split_once('/').map_or((rest, ""), |(a, t)| (a, t));
    let Some((userinfo, host)) = authority.rsplit_once('@') else {
        return url.to_string();
    };
    let user = userinfo.split_once(':').map_or(userinfo, |(u, _)| u);
    let slash = if rest.contains('/') { "/" } else { "" };
    format!("{scheme}://{user}:***@{host}{slash}{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_the_password_and_keeps_the_rest() {
        assert_eq!(
            masked_url("redis://app:s3cret@redis.internal:6380/2"),
            "redis://app:***@redis.internal:6380/2"
        );
        assert_eq!(masked_url("redis://10.0.0.5:6379"), "redis://10.0.0.5:6379");
    }

    #[test]
    fn rejects_a_url_of_another_scheme_naming_the_key() {
        let c = StateConfig {
            redis_url: Some("http://:pw@redis:6379".into()),
            ..StateConfig::default()
        };
        let p = c.problems();
        assert_eq!(p.len(), 1);
        assert!(
            p[0].contains("state.redis_url") && !p[0].contains("pw"),
            "{p:?}"
        );
    }
}
