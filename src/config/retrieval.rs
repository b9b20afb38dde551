//! The `retrieval:` section: whether compressed blocks keep their originals for retrieval, the
//! store's bounds, and the proxy-served retrieval tool's switches.
//!
//! Must never: hold runtime state, or name a directory outside the user's state directory
//! unless the config says so.

use crate::compress::MarkerIds;
use crate::store::StoreLimits;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Retrieval {
    /// Markers carry ids, originals are stored, `GET /v1/retrieve/{id}` answers.
    pub enabled: bool,
    /// Offer the model a `headroom_retrieve` tool the proxy answers itself; when off, each
    /// compressed block ends with a line saying how to fetch its original with curl.
    pub tool: bool,
    /// Retrieval rounds the proxy answers for one client request before it lets the answer
    /// through as it is.
    pub max_rounds: u32,
    /// Memory tier bound (content bytes).
    pub memory_bytes: u64,
    /// Disk tier bound (file bytes).
    pub disk_bytes: u64,
    /// Originals older than this many days are forgotten.
    pub max_age_days: u64,
    /// Disk tier directory; default: `originals/` beside the stats file.
    pub path: Option<PathBuf>,
    /// Originals waiting for the disk writer; past this, writes are dropped (and counted).
    pub write_queue: usize,
}

impl Default for Retrieval {
    fn default() -> Self {
        Retrieval {
            enabled: true,
            tool: true,
            max_rounds: 3,
            memory_bytes: 64 * 1024 * 1024,
            disk_bytes: 1024 * 1024 * 1024,
            max_age_days: 7,
            path: None,
            write_queue: 1024,
        }
    }
}

impl Retrieval {
    /// How the compression pipeline tags markers under this config, for a proxy on `listen`.
    pub fn markers(&self, listen: SocketAddr) -> MarkerIds {
        let mut addr = listen;
        if addr.ip().is_unspecified() {
            addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
        }
        MarkerIds {
            enabled: self.enabled,
            fetch_base: (self.enabled && !self.tool).then(|| format!("http://{addr}")),
        }
    }

    pub fn limits(&self) -> StoreLimits {
        StoreLimits {
            memory_bytes: self.memory_bytes,
            disk_bytes: self.disk_bytes,
            max_age: self.max_age(),
            queue: self.write_queue,
        }
    }

    pub fn max_age(&self) -> Duration {
        Duration::from_secs(self.max_age_days.saturating_mul(24 * 3600))
    }

    /// The disk tier's directory: `retrieval.path`, else `originals/` beside the stats file.
    pub fn dir(&self, stats_file: Option<&Path>) -> Option<PathBuf> {
        self.path
            .clone()
            .or_else(|| Some(stats_file?.parent()?.join("originals")))
    }

    pub fn problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        if self.max_rounds > 10 {
            p.push(format!(
                "`retrieval.max_rounds`: {} is more than 10 (each round is an upstream call)",
                self.max_rounds
            ));
        }
        if self.max_age_days == 0 {
            p.push("`retrieval.max_age_days` must be at least 1".into());
        }
        if self.write_queue == 0 {
            p.push("`retrieval.write_queue` must be at least 1".into());
        }
        p
    }
}
