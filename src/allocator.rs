//! The proxy's memory allocator: mimalloc, tuned to hand freed memory back at once.
//!
//! A small proxied request makes about 80 allocations, nearly all in Pingora (header maps,
//! buffers, futures). glibc's allocator spends about 18 k instructions per request on them;
//! mimalloc's thread-local free lists about 5 k. The binary installs it as the global allocator
//! (`src/main.rs`); ONNX Runtime's C++ allocations stay on the system allocator.
//!
//! Left at its defaults, mimalloc keeps freed pages for a while and commits its arenas eagerly,
//! and the proxy with the learned compressor sat at ~94 MB resident after a warm-up instead of
//! ~68. [`tune`] sets the two options that bring it back.
//!
//! Must never: override an option the user set through mimalloc's own `MIMALLOC_*` variables.

use std::os::raw::c_long;

/// mimalloc 3's option ids (`mi_option_e` in its `mimalloc.h`), which the `-sys` crate does not
/// name. The test below checks them against the options' documented defaults.
const ARENA_EAGER_COMMIT: i32 = 4;
const PURGE_DELAY: i32 = 15;

/// What [`tune`] sets, with the variable that would have set it instead.
const TUNING: [(i32, &str, c_long); 2] = [
    // Commit arena memory as it is used, not the whole arena up front.
    (ARENA_EAGER_COMMIT, "MIMALLOC_ARENA_EAGER_COMMIT", 0),
    // Return freed pages to the system at once (default: a second later, and only when the
    // thread that freed them comes back to the allocator).
    (PURGE_DELAY, "MIMALLOC_PURGE_DELAY", 0),
];

/// Sets the allocator's options; call first thing in `main`, before any thread starts
/// (mimalloc's option setter is not thread-safe).
pub fn tune() {
    for (option, variable, value) in TUNING {
        if std::env::var_os(variable).is_none() {
            // SAFETY: sets one option value; no other thread exists yet.
            unsafe { libmimalloc_sys::mi_option_set(option, value) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_option_ids_name_the_options_meant() {
        // mimalloc 3's defaults (its `options.c`): eager arena commit "on overcommit systems"
        // (2), purge delay 1000 ms. A wrong id reads another option, whose default differs.
        for (option, variable, default) in [
            (ARENA_EAGER_COMMIT, "MIMALLOC_ARENA_EAGER_COMMIT", 2),
            (PURGE_DELAY, "MIMALLOC_PURGE_DELAY", 1000),
        ] {
            if std::env::var_os(variable).is_some() {
                continue;
            }
            // SAFETY: reads one option value.
            let got = unsafe { libmimalloc_sys::mi_option_get(option) };
            assert_eq!(got, default, "{variable}");
        }
    }
}
