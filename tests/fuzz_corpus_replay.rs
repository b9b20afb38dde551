//! Replays the committed fuzz seed corpus (`tests/fixtures/fuzz/<target>/`) through the same
//! property checks the `cargo fuzz` targets run (`headroom_test_support::properties` and
//! `fuzz/proxy_properties.rs`), so every input the
//! fuzzer ever found interesting, crashes included, stays a regression test in the normal suite.

#[path = "../fuzz/proxy_properties.rs"]
mod proxy_properties;

use headroom_test_support::properties;

use std::path::{Path, PathBuf};

fn corpus(target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/fuzz")
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("corpus entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    assert!(
        files.len() >= 5,
        "{} holds only {} seeds",
        dir.display(),
        files.len()
    );
    files
}

/// Runs `property` on every seed of `target`; returns what it returned, in file order.
fn replay<T>(target: &str, property: impl Fn(&[u8]) -> T + std::panic::RefUnwindSafe) -> Vec<T> {
    corpus(target)
        .into_iter()
        .map(|path| {
            let data = std::fs::read(&path).expect("read seed");
            std::panic::catch_unwind(|| property(&data))
                .unwrap_or_else(|_| panic!("{target}: property failed on {}", path.display()))
        })
        .collect()
}

#[test]
fn rewrite_corpus_keeps_json_valid_and_bytes_outside_strings_identical() {
    let rewritten = replay("rewrite", properties::rewrite);
    // The splice check must have had real rewrites to look at.
    assert!(
        rewritten.iter().filter(|r| **r).count() >= 2,
        "{rewritten:?}"
    );
}

#[test]
fn compressor_corpus_is_deterministic_and_keeps_error_lines() {
    replay("compressors", properties::compressor);
}

#[test]
fn usage_tap_corpus_never_panics_and_ignores_chunking() {
    replay("usage_tap", proxy_properties::usage_tap);
}

#[test]
fn config_corpus_never_panics_and_round_trips() {
    replay("config", proxy_properties::config);
}

#[test]
fn the_splice_check_sees_changes_outside_string_values() {
    let a = br#"{"k": "long value", "n": [1, 2.5e3, true], "s": "x\"y"}"#;
    let same = br#"{"k": "short", "n": [1, 2.5e3, true], "s": ""}"#;
    assert_eq!(properties::skeleton(a), properties::skeleton(same));
    for changed in [
        &br#"{"k": "long value", "n": [1, 2.5e3, false], "s": "x\"y"}"#[..],
        br#"{"K": "long value", "n": [1, 2.5e3, true], "s": "x\"y"}"#,
        br#"{"k":"long value", "n": [1, 2.5e3, true], "s": "x\"y"}"#,
        br#"{"k": "long value", "n": [1, 2500, true], "s": "x\"y"}"#,
    ] {
        assert_ne!(properties::skeleton(a), properties::skeleton(changed));
    }
}
