//! The unified-diff compressor. Headers and every changed line are kept; unchanged context is
//! trimmed to a line or two around each change; changes to lock files and other generated files
//! are summarised as counts of added and removed lines.
//!
//! Must never: drop an added or removed line of a source file.

use super::config::DiffConfig;
use super::marker::omitted;
use super::runs::{emit, KeepMask};
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
    emit(&lines, &keep, |run| {
        match generated.iter().find(|g| g.lines == run) {
            Some(g) => omitted(
                run.len(),
                "lines of a generated file's diff",
                &format!("+{} −{}", g.plus, g.minus),
            ),
            None if run.len() == 1 => omitted(1, "unchanged line", ""),
            None => omitted(run.len(), "unchanged lines", ""),
        }
    })
    .if_dropped()
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
}
