//! The unified-diff compressor. Headers and every changed line are kept; unchanged context is
//! trimmed to a line or two around each change; changes to lock files and other generated files
//! are summarised as counts of added and removed lines.
//!
//! Must never: drop an added or removed line of a source file.

use super::config::DiffConfig;
use super::marker::omitted;
use super::{BlockInput, CompressError, Compressor};

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
    let n = lines.len();
    let mut keep = vec![true; n];
    let mut generated_file = false;
    let mut changed = false;
    let mut summaries: Vec<(usize, String)> = Vec::new();

    // Generated files: one summary per file section.
    let mut i = 0;
    while i < n {
        if lines[i].starts_with("diff ")
            || (lines[i].starts_with("--- ")
                && (i == 0
                    || !lines[i - 1].starts_with("index ") && !lines[i - 1].starts_with("diff ")))
        {
            generated_file = GENERATED.iter().any(|g| lines[i].contains(g));
        }
        if generated_file && lines[i].starts_with("@@") {
            let start = i;
            let (mut plus, mut minus) = (0usize, 0usize);
            let mut j = i;
            while j < n && !lines[j].starts_with("diff ") {
                if lines[j].starts_with('+') && !lines[j].starts_with("+++ ") {
                    plus += 1;
                } else if lines[j].starts_with('-') && !lines[j].starts_with("--- ") {
                    minus += 1;
                } else if lines[j].starts_with("--- ")
                    && j + 1 < n
                    && lines[j + 1].starts_with("+++ ")
                {
                    break;
                }
                j += 1;
            }
            if j - start > 12 {
                for k in &mut keep[start..j] {
                    *k = false;
                }
                summaries.push((
                    start,
                    omitted(
                        j - start,
                        "lines of a generated file's diff",
                        &format!("+{plus} −{minus}"),
                    ),
                ));
                changed = true;
            }
            i = j;
            continue;
        }
        i += 1;
    }

    // Context trimming.
    let ctx = cfg.context_lines;
    let is_change = |l: &str| {
        (l.starts_with('+') && !l.starts_with("+++ "))
            || (l.starts_with('-') && !l.starts_with("--- "))
    };
    let mut near = vec![false; n];
    for (i, l) in lines.iter().enumerate() {
        if is_change(l) || is_header(l) {
            let lo = i.saturating_sub(ctx);
            let hi = (i + ctx).min(n - 1);
            for v in &mut near[lo..=hi] {
                *v = true;
            }
        }
    }
    let mut out: Vec<String> = Vec::with_capacity(n);
    let mut i = 0;
    while i < n {
        if let Some((_, s)) = summaries.iter().find(|(at, _)| *at == i) {
            out.push(s.clone());
            while i < n && !keep[i] {
                i += 1;
            }
            continue;
        }
        let l = lines[i];
        let context = l.starts_with(' ') && !near[i];
        if !context {
            out.push(l.to_string());
            i += 1;
            continue;
        }
        let start = i;
        while i < n && lines[i].starts_with(' ') && !near[i] && keep[i] {
            i += 1;
        }
        let marker = omitted(i - start, "unchanged lines", "");
        let run: usize = lines[start..i].iter().map(|l| l.len() + 1).sum();
        if run > marker.len() + 8 {
            out.push(marker);
            changed = true;
        } else {
            out.extend(lines[start..i].iter().map(|l| l.to_string()));
        }
    }
    changed.then(|| out.join("\n"))
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
