//! What a log says at length without saying more: a line of many kilobytes (a package list,
//! a minified payload) and long runs of lines of one shape (a feature list, an environment
//! probe) kept only for being rare. The log compressor decides which lines may be thinned;
//! this module only shortens them.
//!
//! Must never: clip a line the caller did not hand it, or thin a run below its first two and
//! last line.

use super::super::marker::thousands;

/// Lines longer than this (bytes) are clipped to [`LONG_LINE_HEAD`] unless they matter.
pub const LONG_LINE: usize = 800;
const LONG_LINE_HEAD: usize = 300;

pub fn clip_line(line: &str) -> String {
    let head = &line[..line.floor_char_boundary(LONG_LINE_HEAD)];
    // End on a separator so the last kept item is whole.
    let head = match head.rfind([',', ' ', ';']) {
        Some(at) if at > LONG_LINE_HEAD / 2 => &head[..at + 1],
        _ => head,
    };
    let head = head.trim_end();
    format!(
        "{head} [… {} more bytes of this line …]",
        thousands(line.len() - head.len())
    )
}

/// A line's shape: its indentation and how it starts (a bullet, a `--`, a word).
fn shape(line: &str) -> Option<(usize, [u8; 2])> {
    let t = line.trim_start();
    let first = *t.as_bytes().first()?;
    let second = t.as_bytes().get(1).copied().unwrap_or(b' ');
    let lead = if first.is_ascii_alphanumeric() {
        [b'w', b' ']
    } else {
        [
            first,
            if second.is_ascii_alphanumeric() {
                b'w'
            } else {
                second
            },
        ]
    };
    Some((line.len() - t.len(), lead))
}

/// Lines kept only for being rare, in a run of many lines of one shape (a feature list, an
/// environment probe): the run keeps its first two and last line; the rest is one marker.
/// Error-level lines, task hits and their context keep their own flags.
pub fn thin_shape_runs(lines: &[&str], rare_only: &[bool], keep: &mut [bool]) {
    let n = lines.len();
    let mut i = 0;
    while i < n {
        // A run: lines of one shape, each kept only for rarity or not kept at all.
        let loose = |i: usize, keep: &[bool]| rare_only[i] || !keep[i];
        let Some(s) = shape(lines[i]).filter(|_| rare_only[i]) else {
            i += 1;
            continue;
        };
        let start = i;
        while i < n && loose(i, keep) && shape(lines[i]) == Some(s) {
            i += 1;
        }
        if i - start >= SHAPE_RUN {
            keep[start + 2..i - 1].iter_mut().for_each(|k| *k = false);
        }
    }
}

/// Runs of one shape at least this long are thinned.
const SHAPE_RUN: usize = 6;

#[cfg(test)]
mod tests {
    use super::super::{compress_lines, LogConfig};

    #[test]
    fn an_overlong_line_keeps_its_start_and_counts_the_rest() {
        let list: Vec<String> = (0..300).map(|k| format!("lib{k}:amd64 (1.{k})")).collect();
        let mut text = String::new();
        for k in 0..10 {
            text.push_str(&format!(
                "Start-Date: 2025-06-{k:02}  14:36:25
"
            ));
            text.push_str(&format!(
                "Install: {}
",
                list.join(", ")
            ));
        }
        let out = compress_lines(&text, "", &LogConfig::default()).unwrap();
        assert!(
            out.contains("Install: lib0:amd64 (1.0), lib1:amd64 (1.1),"),
            "{out}"
        );
        assert!(out.contains("more bytes of this line …]"), "{out}");
        assert!(!out.contains("lib299:amd64"));
        // A line naming the task stays whole.
        text.push_str(&format!(
            "Install: {}, zsh-common:amd64 (5.9-4)\n",
            list.join(", ")
        ));
        let out = compress_lines(
            &text,
            "when was zsh-common installed?",
            &LogConfig::default(),
        )
        .unwrap();
        assert!(
            out.contains("lib299:amd64 (1.299), zsh-common:amd64 (5.9-4)"),
            "{out}"
        );
    }

    #[test]
    fn a_long_list_of_one_shape_far_from_errors_thins_out() {
        let mut text = String::from("  -- The following features have been enabled:\n\n");
        for f in [
            "XSAVE", "SSSE3", "SSE42", "PCLMUL", "AVX2", "AVX512", "VNNI", "VPCLMUL", "NEON",
        ] {
            text.push_str(&format!("   * WITH_{f}, Build with {f} support\n"));
        }
        text.push_str("\n  -- Configuring done\n  CMake Error: the cache directory is different\n");
        let out = compress_lines(&text, "why does the build fail?", &LogConfig::default()).unwrap();
        assert!(out.contains("   * WITH_XSAVE, Build with XSAVE support\n   * WITH_SSSE3"));
        assert!(
            out.contains("   * WITH_NEON, Build with NEON support"),
            "{out}"
        );
        assert!(!out.contains("WITH_AVX2"), "{out}");
        assert!(out.contains("CMake Error: the cache directory is different"));
    }
}
