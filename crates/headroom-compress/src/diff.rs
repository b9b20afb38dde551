//! The unified-diff compressor. Headers and every changed line are kept; unchanged context is
//! trimmed to a line or two around each change; changes to lock files and other generated files
//! are summarised as counts of added and removed lines; git's per-file `index` lines (blob
//! hashes) are counted in one note.
//!
//! Must never: drop an added or removed line of a source file.

use super::config::DiffConfig;
use super::marker::omitted;
use super::runs::{emit_folded, run_is_worth_a_marker, KeepMask};
use super::{BlockInput, CompressError, Compressor};
use std::ops::Range;

pub struct DiffCompressor {
    cfg: DiffConfig,
}

impl DiffCompressor {
    pub fn new(cfg: DiffConfig) -> Self {
        DiffCompressor { cfg }
    }
}

impl Compressor for DiffCompressor {
    fn name(&self) -> &'static str {
        "diff"
    }

    fn compress(&self, input: &BlockInput<'_>) -> Result<Option<String>, CompressError> {
        Ok(compress_diff(input.text, &self.cfg))
    }
}

const GENERATED: [&str; 10] = [
    "package-lock.json",
    "yarn.lock",
    "pnpm-lock.yaml",
    "Cargo.lock",
    "poetry.lock",
    "go.sum",
    "Gemfile.lock",
    "composer.lock",
    ".min.js",
    ".snap",
];

fn is_header(line: &str) -> bool {
    line.starts_with("diff ")
        || line.starts_with("index ")
        || line.starts_with("--- ")
        || line.starts_with("+++ ")
        || line.starts_with("@@")
        || line.starts_with("new file")
        || line.starts_with("deleted file")
        || line.starts_with("similarity ")
        || line.starts_with("rename ")
        || line.starts_with("Binary files")
}

pub fn compress_diff(text: &str, cfg: &DiffConfig) -> Option<String> {
    let lines: Vec<&str> = text.split('\n').collect();
    let generated = generated_hunks(&lines);
    let keep = select(&lines, &generated, cfg.context_lines);
    let (fold, notes) = fold_index_lines(&lines);
    emit_folded(
        &lines,
        keep.as_slice(),
        &fold,
        &notes,
        |run, count| match generated.iter().find(|g| g.lines == run) {
            Some(g) => omitted(
                count,
                "lines of a generated file's diff",
                &format!("+{} −{}", g.plus, g.minus),
            ),
            None if count == 1 => omitted(1, "unchanged line", ""),
            None => omitted(count, "unchanged lines", ""),
        },
    )
    .if_dropped()
}

/// git's `index 5b8eccd..d9c3b83 100644` lines (blob hashes and mode, one per file) leave,
/// counted in one note under the first file's `diff --git` line, when there are several and
/// the note costs less than they do.
fn fold_index_lines(lines: &[&str]) -> (Vec<bool>, Vec<(usize, String)>) {
    let mut fold = vec![false; lines.len()];
    let index: Vec<usize> = (1..lines.len())
        .filter(|&i| lines[i].starts_with("index ") && lines[i - 1].starts_with("diff --git "))
        .collect();
    if index.len() < 2 {
        return (fold, Vec::new());
    }
    let note = format!(
        "[… {} `index` lines (blob hashes, one per file) omitted …]",
        index.len()
    );
    let texts: Vec<&str> = index.iter().map(|&i| lines[i]).collect();
    if !run_is_worth_a_marker(&texts, &note) {
        return (fold, Vec::new());
    }
    index.iter().for_each(|&i| fold[i] = true);
    (fold, vec![(index[0] - 1, note)])
}

/// The hunks of one generated file (lock files, minified code, snapshots), from its first
/// `@@` to the next file header, with the lines they add and remove.
#[derive(Debug, PartialEq)]
struct GeneratedHunks {
    lines: Range<usize>,
    plus: usize,
    minus: usize,
}

/// Hunks of generated files longer than 12 lines (shorter ones read fine as they are).
fn generated_hunks(lines: &[&str]) -> Vec<GeneratedHunks> {
    let n = lines.len();
    let mut out = Vec::new();
    let mut generated_file = false;
    let mut i = 0;
    while i < n {
        if lines[i].starts_with("diff ")
            || (lines[i].starts_with("--- ")
                && (i == 0
                    || !lines[i - 1].starts_with("index ") && !lines[i - 1].starts_with("diff ")))
        {
            generated_file = GENERATED.iter().any(|g| lines[i].contains(g));
        }
        if !(generated_file && lines[i].starts_with("@@")) {
            i += 1;
            continue;
        }
        let start = i;
        let (mut plus, mut minus) = (0usize, 0usize);
        let mut j = i;
        while j < n && !lines[j].starts_with("diff ") {
            if lines[j].starts_with('+') && !lines[j].starts_with("+++ ") {
                plus += 1;
            } else if lines[j].starts_with('-') && !lines[j].starts_with("--- ") {
                minus += 1;
            } else if lines[j].starts_with("--- ") && j + 1 < n && lines[j + 1].starts_with("+++ ")
            {
                break;
            }
            j += 1;
        }
        if j - start > 12 {
            out.push(GeneratedHunks {
                lines: start..j,
                plus,
                minus,
            });
        }
        i = j;
    }
    out
}

/// Keeps headers and changed lines, and unchanged context within `context` lines of one;
/// drops generated files' hunks whole.
fn select(lines: &[&str], generated: &[GeneratedHunks], context: usize) -> KeepMask {
    let is_change = |l: &str| {
        (l.starts_with('+') && !l.starts_with("+++ "))
            || (l.starts_with('-') && !l.starts_with("--- "))
    };
    let mut keep = KeepMask::from_vec(lines.iter().map(|l| !l.starts_with(' ')).collect());
    for (i, l) in lines.iter().enumerate() {
        if is_change(l) || is_header(l) {
            keep.set_around(i, context);
        }
    }
    for g in generated {
        for i in g.lines.clone() {
            keep.clear(i);
        }
    }
    keep
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_context_runs_shrink_and_changes_stay() {
        let mut text = String::from("diff --git a/src/lib.rs b/src/lib.rs\n--- a/src/lib.rs\n+++ b/src/lib.rs\n@@ -1,40 +1,40 @@\n");
        for k in 0..20 {
            text.push_str(&format!(
                " fn unchanged_{k}() {{ body_of_the_function(); }}\n"
            ));
        }
        text.push_str("-    let limit = 10;\n+    let limit = 20;\n");
        for k in 0..20 {
            text.push_str(&format!(" fn after_{k}() {{ body_of_the_function(); }}\n"));
        }
        let out = compress_diff(&text, &DiffConfig::default()).unwrap();
        assert!(out.contains("-    let limit = 10;\n+    let limit = 20;"));
        assert!(out.contains("unchanged lines omitted"));
        assert!(out.len() * 2 < text.len());
    }

    #[test]
    fn lockfile_hunks_become_counts() {
        let mut text = String::from("diff --git a/Cargo.lock b/Cargo.lock\n--- a/Cargo.lock\n+++ b/Cargo.lock\n@@ -1,30 +1,30 @@\n");
        for k in 0..30 {
            text.push_str(&format!("+name = \"crate-{k}\"\n"));
        }
        text.push_str("diff --git a/src/a.rs b/src/a.rs\n--- a/src/a.rs\n+++ b/src/a.rs\n@@ -1 +1 @@\n-old\n+new");
        let out = compress_diff(&text, &DiffConfig::default()).unwrap();
        assert!(out.contains("(+30 −0)"), "{out}");
        assert!(out.ends_with("-old\n+new"));
    }

    #[test]
    fn index_lines_of_a_multi_file_diff_fold_into_one_note() {
        // `git diff` of four files in this repository (the corpus case).
        let text = include_str!("../../../tests/fixtures/realworld/git_diff_headroom/input.txt");
        let out = compress_diff(text, &DiffConfig::default()).unwrap();
        assert!(!out.contains("\nindex "), "{out}");
        assert!(out.contains("diff --git a/src/service/doctor.rs b/src/service/doctor.rs\n[… 4 `index` lines (blob hashes, one per file) omitted …]\n--- a/src/service/doctor.rs\n"), "{out}");
        assert_eq!(out.matches("\ndiff --git ").count(), 4);
        // One file: its index line stays.
        let one = "diff --git a/a.rs b/a.rs\nindex 5b8eccd..d9c3b83 100644\n--- a/a.rs\n+++ b/a.rs\n@@ -1 +1 @@\n-a\n+b";
        assert!(compress_diff(one, &DiffConfig::default()).is_none());
    }
}
