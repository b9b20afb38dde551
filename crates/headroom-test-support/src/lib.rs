//! Test equipment shared by headroom's integration tests, benches and fuzz targets: Claude-Code
//! shaped agent sessions, a prompt-cache simulator and the compression properties (always);
//! the real `headroom` binary on a free port, raw HTTP clients, the fake upstream and the
//! hardening probes (feature `proxy`); model file set-up (feature `model`).
//!
//! Must never: be a dependency of anything shipped, or depend on the `headroom` crate (tests
//! reach the product through its binary and its library crates).

pub mod agent_session;
pub mod prompt_cache;
pub mod properties;
pub mod scripted_model;
pub mod sse_check;

#[cfg(feature = "proxy")]
pub mod fake_upstream;
#[cfg(feature = "proxy")]
pub mod hardening;
#[cfg(feature = "model")]
pub mod model;
#[cfg(feature = "proxy")]
mod proxy;
#[cfg(feature = "services")]
pub mod services;
#[cfg(feature = "proxy")]
pub use proxy::*;

use std::path::PathBuf;

/// A free TCP port on loopback (the OS picks it; nothing holds it afterwards).
#[cfg(any(feature = "proxy", feature = "services"))]
pub fn free_loopback_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind 127.0.0.1:0")
}

/// The checkout this crate was built from (it sits at `crates/headroom-test-support`).
pub fn checkout() -> PathBuf {
    let here = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    here.ancestors().nth(2).unwrap_or(here).to_path_buf()
}

/// The `headroom` binary cargo built next to the running test or bench (`target/<profile>/`,
/// one level above the `deps/` directory that holds test executables). `HEADROOM_BIN`
/// overrides it.
#[cfg(feature = "proxy")]
pub fn headroom_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("HEADROOM_BIN") {
        return PathBuf::from(bin);
    }
    let exe = std::env::current_exe().expect("the running test knows its own path");
    let mut dir = exe.parent().map(PathBuf::from).unwrap_or_default();
    if dir.ends_with("deps") {
        dir.pop();
    }
    dir.join(format!("headroom{}", std::env::consts::EXE_SUFFIX))
}
