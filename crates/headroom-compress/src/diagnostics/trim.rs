//! What a diagnostic report repeats without adding to it, found line by line inside the
//! records the diagnostics compressor keeps: the source excerpt of a diagnostic whose kind was
//! already shown in full, `= help: for further information visit …` boilerplate after its
//! first appearance, stack frames inside the standard library, and the test-function source
//! pytest prints above the failing line (the `>` line and the `E` lines say what failed), and
//! cargo's verbose command lines when the failing one is repeated under `Caused by:`.
//!
//! Must never: clear a diagnostic's header line, its `-->` location, a `>` or `E` line of a
//! pytest failure, a frame of the user's own code, or a summary line.

use super::super::detect::classify::is_summary_line;
use super::super::template::template;
use std::collections::HashMap;
use std::ops::Range;

/// A line of a diagnostic's source excerpt: the gutter (`12 |`, `   |`, `...`), a suggested
/// edit (`9 - old`, `9 + new`, `7 ~ changed`, gcc's `+++ |+`), or a `::: path` pointer.
pub fn is_excerpt_line(line: &str) -> bool {
    let t = line.trim_start();
    if t == "..." || t.starts_with("::: ") || t.starts_with("+++ |") {
        return true;
    }
    let digits = t.bytes().take_while(u8::is_ascii_digit).count();
    let rest = t[digits..].trim_start();
    rest.starts_with('|')
        || digits > 0
            && (rest.starts_with("- ") || rest.starts_with("+ ") || rest.starts_with("~ "))
}

/// Clears the excerpt of a repeated diagnostic (`record` excludes its header line), and its
/// `help:` suggestion headers, keeping the location, the `= note:` / `= help:` lines and the
/// suggested edit itself (`24 -     return counts;` / `24 +     counts`): what to change
/// differs at every location.
pub fn trim_repeat(src: &[&str], record: Range<usize>, keep: &mut [bool]) {
    for i in record {
        let t = src[i].trim_start();
        if is_excerpt_line(src[i]) && !is_suggested_edit(src[i])
            || t.starts_with("help: ") && !t.contains("-->")
        {
            keep[i] = false;
        }
    }
}

/// `9 - old`, `9 + new`, `7 ~ changed`: a line of a rustc/clippy suggestion.
pub fn is_suggested_edit(line: &str) -> bool {
    let t = line.trim_start();
    let digits = t.bytes().take_while(u8::is_ascii_digit).count();
    let rest = &t[digits..];
    digits > 0 && (rest.starts_with(" - ") || rest.starts_with(" + ") || rest.starts_with(" ~ "))
}

/// `= help:` / `= note:` lines whose kind recurs in at least three records, as families of
/// line indices in order (`= help: for further information visit <url>`, rustc's and clippy's
/// `= note: `#[warn(lint)]` on by default`). The compressor keeps each family's first kept
/// line and folds the rest into one counted note.
pub fn boilerplate(src: &[&str], records: &[Range<usize>]) -> Vec<Vec<usize>> {
    let mut families: Vec<(String, Vec<usize>, usize)> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    for r in records {
        let mut seen: Vec<usize> = Vec::new();
        for i in r.clone() {
            let Some(key) = boilerplate_key(src[i]) else {
                continue;
            };
            let f = *index.entry(key.clone()).or_insert_with(|| {
                families.push((key, Vec::new(), 0));
                families.len() - 1
            });
            families[f].1.push(i);
            if !seen.contains(&f) {
                seen.push(f);
                families[f].2 += 1;
            }
        }
    }
    families
        .into_iter()
        .filter(|(_, _, records)| *records >= 3)
        .map(|(_, lines, _)| lines)
        .collect()
}

/// What makes two notes the same kind: their template, with the lint named by a
/// `for further information` link's fragment or a `#[warn(…)]` attribute left out (the
/// diagnostic's own message says which lint it is).
fn boilerplate_key(line: &str) -> Option<String> {
    let t = line.trim_start();
    if !(t.starts_with("= help: ") || t.starts_with("= note: ")) {
        return None;
    }
    if let Some(url) = t.strip_prefix("= help: for further information visit ") {
        let page = url.split('#').next().unwrap_or(url);
        return Some(format!("= help: for further information visit {page}"));
    }
    if let Some(attr) = t.strip_prefix("= note: `#[") {
        // `#[warn(clippy::ptr_arg)]` on by default`, `… (part of `#[warn(unused)]`) on by default`.
        if let (Some((level, _)), true) = (attr.split_once('('), attr.ends_with(" on by default")) {
            return Some(format!("= note: `#[{level}(…)]` on by default"));
        }
    }
    Some(template(t))
}

/// Rust backtrace frames (`  3: core::panicking::assert_failed` and its `at /rustc/…` line)
/// in the standard library or the test harness.
pub fn drop_library_frames(src: &[&str], keep: &mut [bool]) {
    let n = src.len();
    let mut i = 0;
    while i < n {
        let Some(name) = frame_name(src[i]) else {
            i += 1;
            continue;
        };
        let at = i + 1 < n && src[i + 1].trim_start().starts_with("at ");
        let end = if at { i + 2 } else { i + 1 };
        let location = if at { src[i + 1] } else { "" };
        let library = [
            "core::",
            "std::",
            "alloc::",
            "__rustc::",
            "test::",
            "<fn() ->",
        ]
        .iter()
        .any(|p| name.starts_with(p))
            || location.contains("/rustc/");
        if library {
            keep[i..end].iter_mut().for_each(|k| *k = false);
        }
        i = end;
    }
}

/// Pointers into the Rust standard library's own sources inside a diagnostic's notes
/// (`--> /rustc/<hash>/library/core/src/iter/traits/accum.rs:48:8`, `::: /rustc/…`) and the
/// empty gutter line under each: the note's text says what it is about, the path helps no one
/// fix their code. A record's own first location stays wherever it points.
pub fn drop_library_locations(src: &[&str], records: &[Range<usize>], keep: &mut [bool]) {
    for r in records {
        let mut first_location = true;
        for i in r.clone() {
            let t = src[i].trim_start();
            let location = t.starts_with("--> ") || t.starts_with("::: ");
            if !location {
                continue;
            }
            let primary = first_location && t.starts_with("--> ");
            first_location = false;
            if primary || !t[4..].starts_with("/rustc/") {
                continue;
            }
            keep[i] = false;
            if i + 1 < r.end && src[i + 1].trim() == "|" {
                keep[i + 1] = false;
            }
        }
    }
}

/// `cargo build -v` prints the whole rustc command line of every crate it compiles
/// (`Running \`rustc --crate-name memchr …\``, hundreds of bytes each). When the report's
/// `Caused by:` repeats the failing command (`process didn't exit successfully: \`…\``), the
/// `Running` lines say nothing the `Compiling` lines and that one do not: they go.
pub fn drop_cargo_commands(src: &[&str], keep: &mut [bool]) {
    let failing_command_shown = src.iter().any(|l| {
        l.trim_start()
            .starts_with("process didn't exit successfully: `")
    });
    if !failing_command_shown {
        return;
    }
    for (i, l) in src.iter().enumerate() {
        if l.trim_start().starts_with("Running `") {
            keep[i] = false;
        }
    }
}

/// `  12: name` → `name`.
fn frame_name(line: &str) -> Option<&str> {
    let t = line.trim_start();
    if t.len() == line.len() {
        return None;
    }
    let digits = t.bytes().take_while(u8::is_ascii_digit).count();
    (digits > 0).then_some(())?;
    t[digits..].strip_prefix(": ")
}

/// In pytest's long tracebacks, the test source above the failing `>` line: everything from
/// the section's first source line up to that line except `def` lines (kept for the
/// signature) and the line right above `>`.
pub fn drop_pytest_source(src: &[&str], keep: &mut [bool]) {
    let n = src.len();
    let mut i = 0;
    while i < n {
        if !is_pytest_section(src[i]) {
            i += 1;
            continue;
        }
        let mut j = i + 1;
        while j < n && !is_pytest_section(src[j]) && !src[j].starts_with('>') {
            j += 1;
        }
        if j < n && src[j].starts_with('>') {
            for k in i + 1..j.saturating_sub(1) {
                let t = src[k].trim_start();
                let source = src[k].starts_with("    ");
                if source && !(t.starts_with("def ") || t.starts_with("async def ")) {
                    keep[k] = false;
                }
            }
        }
        i = j.max(i + 1);
    }
}

/// pytest's progress lines (`tests/test_a.py ....ss.. [ 40%]`): the summary line counts the
/// passes. Lines with an `F` or `E` stay, unless the report ends with pytest's `short test
/// summary info`, which names every failure and error itself.
///
/// `pytest -v` prints one line per test instead (`tests/t.py::test_a PASSED [ 10%]`): the passing
/// ones go only when the run's closing line (`1 failed, 9 passed in 0.03s`) counts them, so a
/// cut-off run (a Claude Code preview) keeps the names of the tests that passed; the failing
/// ones always stay.
pub fn drop_pytest_progress(src: &[&str], keep: &mut [bool]) {
    let summarised = src
        .iter()
        .any(|l| l.starts_with("==") && l.contains(" short test summary info "));
    let counted = src
        .iter()
        .any(|l| l.starts_with("==") && is_summary_line(l) && l.contains(" passed"));
    for (i, l) in src.iter().enumerate() {
        let verbose = l.contains("::");
        match pytest_progress(l) {
            Some(Progress::Passed) if !verbose || counted => keep[i] = false,
            // A verbose failure line stays: it is the test's own id next to its outcome.
            Some(Progress::Failed) if summarised && !verbose => keep[i] = false,
            _ => {}
        }
    }
}

/// A `pytest -v` outcome word: `PASSED`, `SKIPPED`, `XFAIL` passed; `FAILED`, `ERROR`,
/// `XPASS` did not.
fn verbose_outcome(word: &str) -> Option<Progress> {
    match word {
        "PASSED" | "SKIPPED" | "XFAIL" => Some(Progress::Passed),
        "FAILED" | "ERROR" | "XPASS" => Some(Progress::Failed),
        _ => None,
    }
}

/// libtest's passing lines (`test tests::parses_kibibytes ... ok`) when the run ends with its
/// `test result:` line, which counts them; failures and ignored tests are not among them.
pub fn passed_tests(src: &[&str]) -> Vec<usize> {
    if !src.iter().any(|l| l.starts_with("test result: ")) {
        return Vec::new();
    }
    (0..src.len())
        .filter(|&i| src[i].starts_with("test ") && src[i].ends_with(" ... ok"))
        .collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// Only `.`, `s`, `x`.
    Passed,
    /// At least one `F`, `E` or `X`.
    Failed,
}

/// A pytest progress line: an optional path, outcome characters, then `[ NN%]`; or, under
/// `-v`, a test id (`path::name[params]`), its outcome word, then `[ NN%]`.
pub fn pytest_progress(line: &str) -> Option<Progress> {
    let body = line.trim_end().strip_suffix(']')?;
    let (marks, pct) = body.rsplit_once('[')?;
    let pct = pct.trim().strip_suffix('%')?;
    if pct.is_empty() || !pct.trim().bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let marks = marks.trim_end();
    let (id, outcomes) = marks.rsplit_once(' ').unwrap_or(("", marks));
    if outcomes.is_empty() {
        return None;
    }
    if id.contains("::") && !id.starts_with(' ') {
        return verbose_outcome(outcomes);
    }
    if outcomes.bytes().all(|b| matches!(b, b'.' | b's' | b'x')) {
        return Some(Progress::Passed);
    }
    outcomes
        .bytes()
        .all(|b| matches!(b, b'.' | b's' | b'x' | b'X' | b'F' | b'E'))
        .then_some(Progress::Failed)
}

/// `_____ test_name _____` (a failure's section title) or `===== FAILURES =====`.
fn is_pytest_section(line: &str) -> bool {
    (line.starts_with("__") && line.ends_with("__") && line.contains(' '))
        || (line.starts_with("==") && line.ends_with("==")) && !is_summary_line(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excerpt_lines_are_the_gutter_and_suggestions() {
        assert!(is_excerpt_line("11 |     items.iter()"));
        assert!(is_excerpt_line("   |     ^^^^ expected `u32`"));
        assert!(is_excerpt_line("9 -         Ok(p) => return Some(p),"));
        assert!(is_excerpt_line(
            "  ::: /rustc/abc/library/core/src/iter/traits/accum.rs:70:8"
        ));
        assert!(!is_excerpt_line("  --> src/main.rs:11:39"));
        assert!(!is_excerpt_line(
            "   = help: the trait `Mul<u64>` is not implemented for `u32`"
        ));
    }

    #[test]
    fn std_frames_go_and_the_users_frames_stay() {
        let src = [
            "stack backtrace:",
            "   0: __rustc::rust_begin_unwind",
            "             at /rustc/5980/library/std/src/panicking.rs:689:5",
            "   4: inventory::tests::parses_gibibytes",
            "             at ./src/lib.rs:79:9",
            "   7: <fn() -> core::result::Result<(), String> as core::ops::FnOnce<()>>::call_once",
            "             at /rustc/5980/library/core/src/ops/function.rs:250:5",
        ];
        let mut keep = vec![true; src.len()];
        drop_library_frames(&src, &mut keep);
        assert_eq!(keep, [true, false, false, true, true, false, false]);
    }

    #[test]
    fn pytest_progress_lines_that_only_passed_go() {
        let src = [
            "tests/test_slug.py ........ss.......... [ 40%]",
            "........................................ [ 96%]",
            "FF..F                                    [100%]",
            "title = [ 40%]",
        ];
        let mut keep = vec![true; src.len()];
        drop_pytest_progress(&src, &mut keep);
        assert_eq!(keep, [false, false, true, true]);
    }

    #[test]
    fn pytest_progress_with_failures_goes_when_the_short_summary_names_them() {
        // pytest 9.2 `-q`-less run of tests/fixtures/realworld/pytest_failures.
        let src = [
            "tests/test_slug.py ..................................................... [ 40%]",
            "FF..F                                                                    [100%]",
            "=========================== short test summary info ============================",
            "FAILED tests/test_slug.py::test_empty_title_raises - Failed: DID NOT RAISE Va...",
        ];
        let mut keep = vec![true; src.len()];
        drop_pytest_progress(&src, &mut keep);
        assert_eq!(keep, [false, false, true, true]);
    }

    #[test]
    fn pytest_verbose_passes_go_only_when_the_closing_line_counts_them() {
        // pytest 9.2 `-v` over a scratch project (the held-out corpus case).
        let run =
            include_str!("../../../../tests/fixtures/realworld/pytest_verbose_units/input.txt");
        let src: Vec<&str> = run.split('\n').collect();
        let mut keep = vec![true; src.len()];
        drop_pytest_progress(&src, &mut keep);
        let gone: Vec<&str> = (0..src.len())
            .filter(|&i| !keep[i])
            .map(|i| src[i])
            .collect();
        assert_eq!(gone.len(), 9, "{gone:?}");
        assert!(gone
            .iter()
            .all(|l| l.starts_with("tests/test_units.py::") && l.contains(" PASSED ")));
        assert!(gone.contains(
            &"tests/test_units.py::test_parse_round_trips[0.5 tbsp] PASSED             [100%]"
        ));
        // The failure is named by the short summary, which stays.
        assert!(
            keep[src
                .iter()
                .position(|l| l.starts_with("FAILED tests/test_units.py::"))
                .unwrap()]
        );
        // Cut before its closing line (a Claude Code preview), the run keeps every test line.
        let cut: Vec<&str> = src[..16].to_vec();
        let mut keep = vec![true; cut.len()];
        drop_pytest_progress(&cut, &mut keep);
        assert!(keep.iter().all(|&k| k));
        assert_eq!(
            pytest_progress("tests/a.py::test_x[1 g] SKIPPED   [ 80%]"),
            Some(Progress::Passed)
        );
        assert_eq!(pytest_progress("books = 1   [ 80%]"), None);
    }

    #[test]
    fn pytest_keeps_the_def_the_failing_line_and_its_errors() {
        let src = [
            "_______ test_titles _______",
            "",
            "    @pytest.mark.parametrize(",
            "        \"title\", [1, 2],",
            "    )",
            "    def test_titles(title):",
            "        x = 1",
            "        y = 2",
            ">       assert slugify(title) == expected",
            "E       AssertionError: assert '' == 'ri-ben-yu'",
        ];
        let mut keep = vec![true; src.len()];
        drop_pytest_source(&src, &mut keep);
        assert_eq!(
            keep,
            [true, true, false, false, false, true, false, true, true, true]
        );
    }

    #[test]
    fn libtest_passes_go_when_the_result_line_counts_them() {
        // `cargo test` of a small crate with three failing tests (the corpus case).
        let run =
            include_str!("../../../../tests/fixtures/realworld/cargo_test_failures/input.txt");
        let src: Vec<&str> = run.split('\n').collect();
        let passed = passed_tests(&src);
        let at = |needle: &str| src.iter().position(|l| *l == needle).unwrap();
        assert_eq!(passed.len(), 8);
        assert!(passed.contains(&at("test tests::keeps_equals_in_value ... ok")));
        assert!(!passed.contains(&at("test tests::parses_gibibytes ... FAILED")));
        assert!(!passed.contains(&at(
            "test tests::reads_settings_file ... ignored, needs a settings file on disk"
        )));
        let without_summary: Vec<&str> = src
            .iter()
            .copied()
            .filter(|l| !l.starts_with("test result:"))
            .collect();
        assert!(passed_tests(&without_summary).is_empty());
    }

    #[test]
    fn notes_pointing_into_the_standard_library_lose_their_paths() {
        // `cargo build` of a small crate with nine errors (the corpus case).
        let run = include_str!("../../../../tests/fixtures/realworld/rustc_build_errors/input.txt");
        let src: Vec<&str> = run.split('\n').collect();
        let records = std::iter::once(0..src.len()).collect::<Vec<_>>();
        let mut keep = vec![true; src.len()];
        drop_library_locations(&src, &records, &mut keep);
        let gone: Vec<&str> = (0..src.len())
            .filter(|&i| !keep[i])
            .map(|i| src[i])
            .collect();
        assert!(
            gone.iter()
                .all(|l| l.contains("/rustc/") || l.trim() == "|"),
            "{gone:?}"
        );
        assert_eq!(
            gone.iter().filter(|l| l.contains("/rustc/")).count(),
            4,
            "{gone:?}"
        );
        // The notes themselves stay.
        let at = |needle: &str| src.iter().position(|l| l.contains(needle)).unwrap();
        assert!(keep[at("note: required by a bound in `std::iter::Iterator::sum`")]);
        assert!(keep[at("= note: `u64` implements `Sum<&u64>`")]);
    }
}
