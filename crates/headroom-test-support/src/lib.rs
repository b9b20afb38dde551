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

/// A free TCP port on loopback for a server a test starts (a proxy, nginx, Redis); nothing holds
/// it afterwards, so the server binds it itself.
///
/// Two races are kept out:
/// - A port the kernel picked for a bind to port 0 is free again once the probe closes, and the
///   next bind to port 0 in the process (a fake upstream's) can get it before the server binds
///   it. The server then fails to start while its port answers as the fake upstream. So ports
///   come from below the kernel's ephemeral range (`ip_local_port_range`), which no bind to
///   port 0 and no outgoing connection is given.
/// - Tests run side by side, and two proxies given one port would both bind it (Pingora sets
///   `SO_REUSEPORT`) and share its connections. So no port is handed out twice in a process.
#[cfg(any(feature = "proxy", feature = "services"))]
pub fn free_port() -> u16 {
    use std::sync::Mutex;
    static GIVEN: Mutex<std::collections::BTreeSet<u16>> =
        Mutex::new(std::collections::BTreeSet::new());
    let mut given = GIVEN
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let (lo, hi) = fixed_port_range();
    let span = u32::from(hi - lo);
    // Processes started one after another begin at different places in the range.
    let start = std::process::id().wrapping_mul(7919) % span;
    for step in 0..span {
        let port = lo + ((start + step) % span) as u16;
        if !given.contains(&port) && std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            given.insert(port);
            return port;
        }
    }
    panic!("no free loopback port in {lo}..{hi}");
}

/// Ports below the kernel's ephemeral range (its lower half, at least 1024 up); read once.
#[cfg(any(feature = "proxy", feature = "services"))]
fn fixed_port_range() -> (u16, u16) {
    static RANGE: std::sync::OnceLock<(u16, u16)> = std::sync::OnceLock::new();
    *RANGE.get_or_init(read_fixed_port_range)
}

#[cfg(any(feature = "proxy", feature = "services"))]
fn read_fixed_port_range() -> (u16, u16) {
    let ephemeral_low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32768);
    let hi = ephemeral_low.max(2048);
    (1024.max(hi / 2), hi)
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
