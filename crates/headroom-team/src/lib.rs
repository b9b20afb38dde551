//! Shared state for team gateways: N headroom replicas behind one load balancer keep their
//! originals, compression results and savings counters in one Redis, so retrieval works
//! whichever replica answers and `/stats` shows the team's totals on every replica.
//!
//! Redis is a shared tier, never a dependency of a request: every call has a short timeout,
//! a circuit breaker skips Redis while it is down, writes are queued, and callers fall back to
//! their local tiers.
//!
//! Also here: inbound auth for gateways others reach (`inbound`: hashed named tokens).
//!
//! Must never: make a request wait past `state.timeout_ms` or fail because Redis is down;
//! import the `headroom` binary crate.

pub mod breaker;
pub mod client;
pub mod config;
pub mod inbound;
pub mod originals;
pub mod results;
pub mod savings;

pub use breaker::BreakerState;
pub use client::{Redis, RedisCounts, SharedError};
pub use config::StateConfig;
pub use inbound::{AuthMode, Inbound, TokenEntry, Verdict};
pub use originals::{Layered, RedisOriginals};
pub use results::SharedResults;
pub use savings::{Bucket, Fields, Retention, SharedSavings};
