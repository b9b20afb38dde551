//! Unit tests of the diagnostics compressor on real compiler, linter and test-runner output.

use super::*;

#[test]
fn ruff_rule_codes_group_repeats_in_both_formats() {
    let mut concise = String::new();
    for k in 1..=8 {
        concise.push_str(&format!(
            "pkg/a.py:{k}:89: E501 Line too long ({} > 88)\n",
            90 + k
        ));
    }
    concise.push_str(
        "pkg/b.py:3:1: B904 Within an `except` clause, raise with `from`\nFound 9 errors.\n",
    );
    let out = compress_diagnostics(&concise, "what does ruff complain about?").unwrap();
    assert!(out.contains("pkg/a.py:1:89: E501 Line too long (91 > 88)"));
    assert!(!out.contains("pkg/a.py:5:89: E501"), "{out}");
    assert!(out.contains("of E501 at pkg/a.py:2:89, 3:89"), "{out}");
    assert!(out.contains("B904 Within an `except` clause") && out.contains("Found 9 errors."));

    let mut full = String::new();
    for k in [111, 115] {
        full.push_str(&format!("B904 Within an `except` clause, raise with `from`\n   --> pkg/f.py:{k}:9\n    |\n{k} |         raise ClassNotFound(msg)\n    |         ^^^^^^^^^^^^^^^^^^^^^^^\n    |\n\n"));
    }
    full.push_str("Found 2 errors.\n");
    let out = compress_diagnostics(&full, "what did ruff find?").unwrap();
    assert!(out.contains("111 |         raise ClassNotFound(msg)"));
    // The repeat's message is word for word the first one's: its marker names where it is.
    assert!(
        out.contains("1 more diagnostic of B904 at pkg/f.py:115:9"),
        "{out}"
    );
    assert!(!out.contains("115 |"), "{out}");
    assert_eq!(out.matches("B904 Within").count(), 1, "{out}");
    // A repeat with a message of its own keeps it, with its location.
    let full = full.replacen(
        "B904 Within an `except` clause, raise with `from`\n   --> pkg/f.py:115",
        "B904 Within an `except` clause, raise with `from` (inside `load`)\n   --> pkg/f.py:115",
        1,
    );
    let out = compress_diagnostics(&full, "what did ruff find?").unwrap();
    assert!(
        out.contains("(inside `load`)\n   --> pkg/f.py:115:9\n"),
        "{out}"
    );
}

#[test]
fn repeats_fold_into_a_marker_with_their_locations() {
    let mut text = String::new();
    for k in 0..6 {
        text.push_str(&format!(
            "src/a.py:{k}: error: Function is missing a type annotation  [no-untyped-def]\n"
        ));
    }
    text.push_str("src/b.py:9: error: Name \"x\" is not defined  [name-defined]\n");
    text.push_str("Found 7 errors in 2 files (checked 2 source files)\n");
    let out = compress_diagnostics(&text, "is anything broken?").unwrap();
    assert!(out.contains("src/a.py:0: error: Function is missing"));
    assert!(!out.contains("src/a.py:3: error"));
    assert!(out.contains("at src/a.py:1, 2, 3, 4, 5 …]"), "{out}");
    assert!(out.contains("src/b.py:9: error: Name \"x\" is not defined"));
    assert!(out.contains("Found 7 errors in 2 files"));
}

#[test]
fn clippy_boilerplate_folds_into_one_counted_note_and_each_fix_stays() {
    // `cargo clippy -- -W clippy::pedantic` on a small crate (the corpus case).
    let text = include_str!("../../../../tests/fixtures/realworld/clippy_warnings/input.txt");
    let out = compress_diagnostics(text, "What does clippy want me to change?").unwrap();
    let url = "= help: for further information visit https://rust-lang.github.io/rust-clippy/";
    assert_eq!(out.matches(url).count(), 1, "{out}");
    assert_eq!(out.matches("` on by default").count(), 1, "{out}");
    assert!(
        out.contains(
            "on by default\n[… 18 more like the 2 lines above omitted from later diagnostics …]"
        ),
        "{out}"
    );
    // A repeat keeps its message, location and suggested edit.
    assert!(out.contains("  --> src/main.rs:24:5\n"), "{out}");
    assert!(
        out.contains("24 -     return counts;\n24 +     counts\n"),
        "{out}"
    );
    // Notes that say something of their own stay.
    assert!(out.contains("= help: consider using the `Entry` API"));
    assert!(out.contains("= help: to override `-W clippy::pedantic` add"));
    assert!(out.contains("warning: `inventory` (bin \"inventory\") generated 12 warnings"));
    assert!(out.len() < text.len() * 3 / 4);
}

#[test]
fn notes_recurring_in_fewer_than_three_diagnostics_stay() {
    let text = "warning: unneeded `return` statement\n --> src/a.rs:9:18\n  |\n  = help: for further information visit https://x.test/index.html#needless_return\n  = note: `#[warn(clippy::needless_return)]` on by default\n\nwarning: length comparison to zero\n --> src/a.rs:4:8\n  |\n  = help: for further information visit https://x.test/index.html#len_zero\n  = note: `#[warn(clippy::len_zero)]` on by default\n\nwarning: `a` (bin \"a\") generated 2 warnings\n";
    let out = compress_diagnostics(text, "what is wrong?");
    assert!(
        out.as_ref().is_none_or(|o| o.contains("#len_zero")),
        "{out:?}"
    );
}

#[test]
fn libtest_passes_are_counted_under_the_running_line() {
    let run = include_str!("../../../../tests/fixtures/realworld/cargo_test_failures/input.txt");
    let out = compress_diagnostics(run, "Did the tests pass?").unwrap();
    assert!(
        out.contains("running 12 tests\n[… 8 passed tests omitted …]\n"),
        "{out}"
    );
    assert!(!out.contains(" ... ok\n"), "{out}");
    assert_eq!(out.matches(" ... FAILED").count(), 3);
    assert!(out.contains("test result: FAILED. 8 passed; 3 failed; 1 ignored;"));
}

#[test]
fn cargo_verbose_command_lines_go_when_the_failing_one_is_repeated() {
    // `cargo build -v` of a scratch crate with two type errors (the held-out corpus case).
    let text =
        include_str!("../../../../tests/fixtures/realworld/cargo_build_verbose_errors/input.txt");
    let out = compress_diagnostics(text, "Why does the build fail?").unwrap();
    assert!(!out.contains("Running `"), "{out}");
    assert!(out.contains("cargo command line"), "{out}");
    for line in [
        "   Compiling memchr v2.8.3",
        "error[E0308]: mismatched types\n  --> src/main.rs:28:21",
        "error[E0599]: no method named `push_front` found for struct `SmallVec<[u32; 4]>` in the current scope",
        "error: could not compile `inventory-report` (bin \"inventory-report\") due to 2 previous errors",
        "  process didn't exit successfully: `/root/.rustup/toolchains/stable-x86_64-unknown-linux-gnu/bin/rustc --crate-name inventory_report",
    ] {
        assert!(out.contains(line), "{line:?} in\n{out}");
    }
    assert!(out.len() * 10 < text.len() * 7);
}
