//! Content detection: decides from a sample of a block's text whether it is JSON, a unified
//! diff, search results, a log, source code, prose, or plain text, so the router can pick a
//! compressor.
//!
//! Must never: read more than a bounded sample for line statistics (the JSON check parses the
//! whole text, which is linear and fast), or depend on anything but the text.

/// Finer detection of real tool output (diagnostics, git, documents, tables), tried first.
pub(crate) mod classify;

use super::jsontree;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Json,
    Diff,
    Search,
    Log,
    Code,
    Prose,
    Text,
    Diagnostics,
    GitLog,
    GitShow,
    Html,
    Markdown,
    Table,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Json => "json",
            Kind::Diff => "diff",
            Kind::Search => "search",
            Kind::Log => "log",
            Kind::Code => "code",
            Kind::Prose => "prose",
            Kind::Text => "text",
            Kind::Diagnostics => "diagnostics",
            Kind::GitLog => "git_log",
            Kind::GitShow => "git_show",
            Kind::Html => "html",
            Kind::Markdown => "markdown",
            Kind::Table => "table",
        }
    }
}

const SAMPLE_LINES: usize = 300;

pub fn detect(text: &str) -> Kind {
    if find_json(text).is_some() {
        return Kind::Json;
    }
    if let Some(kind) = classify::classify(text) {
        return kind;
    }
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .take(SAMPLE_LINES)
        .collect();
    if lines.is_empty() {
        return Kind::Text;
    }
    let n = lines.len();
    let share = |count: usize| count as f64 / n as f64;
    if is_diff(&lines) {
        return Kind::Diff;
    }
    let search = lines
        .iter()
        .filter(|l| is_search_line(l) || l.trim() == "--")
        .count();
    if n >= 3 && share(search) >= 0.6 || is_heading_search(&lines) {
        return Kind::Search;
    }
    let numbered = lines.iter().filter(|l| is_numbered_source_line(l)).count();
    if share(numbered) >= 0.6 {
        return Kind::Code;
    }
    // `ls -R`: `dir:` headers over bare names, a listing of paths.
    let headers = lines
        .iter()
        .filter(|l| l.ends_with(':') && !l.contains(char::is_whitespace))
        .count();
    let bare = lines
        .iter()
        .filter(|l| !l.trim().contains(char::is_whitespace))
        .count();
    if headers >= 2 && n >= 20 && bare * 10 >= n * 9 {
        return Kind::Log;
    }
    let logish = lines.iter().filter(|l| is_log_line(l)).count();
    if share(logish) >= 0.3 {
        return Kind::Log;
    }
    let code = lines.iter().filter(|l| is_code_line(l)).count();
    // A long licence comment at the top of a source file is not what decides.
    let comments = lines
        .iter()
        .filter(|l| {
            let t = l.trim_start();
            t.starts_with('*') || t.starts_with("/*")
        })
        .count();
    if share(code) >= 0.35 || n - comments >= 10 && code * 10 >= (n - comments) * 4 {
        return Kind::Code;
    }
    if n >= 20 {
        let mut templates: Vec<String> =
            lines.iter().map(|l| super::template::template(l)).collect();
        templates.sort_unstable();
        templates.dedup();
        if templates.len() * 2 <= n {
            return Kind::Log;
        }
    }
    let avg_len = lines.iter().map(|l| l.len()).sum::<usize>() / n;
    let sentences = lines
        .iter()
        .filter(|l| l.contains(". ") || l.ends_with('.'))
        .count();
    if avg_len >= 50 && share(sentences) >= 0.4 {
        return Kind::Prose;
    }
    // Unknown output with error lines in it reads like a log: errors kept with context.
    if n >= 20 && lines.iter().any(|l| super::marker::is_error_level(l)) {
        return Kind::Log;
    }
    Kind::Text
}

/// Where the JSON document inside `text` starts: at 0, or after a short preamble of at most a
/// few lines (`Found 120 items:\n[...]`). Returns (start, end) with anything after `end` being
/// a short trailer.
pub fn find_json(text: &str) -> Option<(usize, usize)> {
    let mut offset = 0;
    for (i, line) in text.split_inclusive('\n').enumerate() {
        if i >= 4 || offset > 400 {
            return None;
        }
        let trimmed = line.trim_start();
        if trimmed.starts_with('{') || trimmed.starts_with('[') {
            let start = offset + (line.len() - trimmed.len());
            let body = &text[start..];
            // Cheap shape check before parsing.
            let tail = body.trim_end();
            let closes = tail.ends_with('}') || tail.ends_with(']');
            if let Ok((node, end)) = jsontree::parse_prefix(body) {
                let trailer = body[end..].trim();
                if matches!(
                    node,
                    jsontree::Node::Object { .. } | jsontree::Node::Array { .. }
                ) && (trailer.len() <= 400 || (closes && trailer.is_empty()))
                    && end >= 2
                {
                    return Some((start, start + end));
                }
            }
            return None;
        }
        offset += line.len();
    }
    None
}

fn is_diff(lines: &[&str]) -> bool {
    let hunks = lines.iter().filter(|l| l.starts_with("@@ -")).count();
    let headers = lines
        .iter()
        .filter(|l| l.starts_with("diff --git ") || l.starts_with("--- ") || l.starts_with("+++ "))
        .count();
    hunks >= 1 && headers >= 2
}

/// `path:line:text`, `path:line:col:text`, or a context line `path-line-text`.
pub fn is_search_line(line: &str) -> bool {
    split_search_line(line).is_some()
}

/// Splits `path:12:rest` / `path:12:3:rest` / `path-12-rest` into (path, line, rest, is_match).
pub fn split_search_line(line: &str) -> Option<(&str, &str, &str, bool)> {
    let b = line.as_bytes();
    if b.is_empty() || b[0].is_ascii_whitespace() {
        return None;
    }
    // Find the first `:N:` or `-N-` where the part before looks like a path.
    let mut i = 0;
    while i < b.len() && i < 300 {
        let c = b[i];
        if c == b' ' || c == b'\t' {
            return None;
        }
        if (c == b':' || c == b'-') && i > 0 {
            let sep = c;
            let mut j = i + 1;
            while j < b.len() && b[j].is_ascii_digit() {
                j += 1;
            }
            if j > i + 1 && j < b.len() && b[j] == sep {
                let path = &line[..i];
                if looks_like_path(path) {
                    return Some((path, &line[i + 1..j], &line[j + 1..], sep == b':'));
                }
            }
        }
        i += 1;
    }
    None
}

pub fn looks_like_path(s: &str) -> bool {
    if s.is_empty() || s.contains(' ') {
        return false;
    }
    let has_sep = s.contains('/') || s.contains('\\');
    let has_ext = s.rsplit_once('.').is_some_and(|(stem, ext)| {
        !stem.is_empty()
            && (1..=6).contains(&ext.len())
            && ext.chars().all(|c| c.is_ascii_alphanumeric())
            && ext.chars().any(|c| c.is_ascii_alphabetic())
    });
    has_ext || (has_sep && s.chars().any(|c| c.is_ascii_alphabetic()))
}

/// rg `--heading` output: a path line, then `12:text` / `12-text` lines, blank between files.
fn is_heading_search(lines: &[&str]) -> bool {
    let mut paths = 0;
    let mut numbered = 0;
    for l in lines {
        if looks_like_path(l.trim_end()) && !l.starts_with(' ') {
            paths += 1;
        } else if is_heading_match(l) {
            numbered += 1;
        }
    }
    paths >= 1 && numbered >= 2 && (paths + numbered) * 10 >= lines.len() * 8
}

/// `12:text` or `12-text` (rg heading mode).
pub fn is_heading_match(line: &str) -> bool {
    let digits = line.bytes().take_while(u8::is_ascii_digit).count();
    digits > 0 && matches!(line.as_bytes().get(digits), Some(b':' | b'-'))
}

/// Claude Code's Read output (`   12→text`) or `cat -n` (`    12\ttext`).
fn is_numbered_source_line(line: &str) -> bool {
    let t = line.trim_start();
    let digits = t.bytes().take_while(u8::is_ascii_digit).count();
    digits > 0 && (t[digits..].starts_with('→') || t[digits..].starts_with('\t'))
}

fn is_log_line(line: &str) -> bool {
    let head = &line[..line.floor_char_boundary(48)];
    let hb = head.as_bytes();
    // ISO-ish date or clock time near the start.
    let has_time = hb
        .windows(3)
        .any(|w| w[0].is_ascii_digit() && w[1].is_ascii_digit() && w[2] == b':')
        && hb
            .windows(3)
            .any(|w| w[0] == b':' && w[1].is_ascii_digit() && w[2].is_ascii_digit());
    let has_date = hb.windows(5).any(|w| {
        w[0].is_ascii_digit()
            && w[1].is_ascii_digit()
            && w[2] == b'-'
            && w[3].is_ascii_digit()
            && w[4].is_ascii_digit()
    });
    if has_time || has_date {
        return true;
    }
    const TAGS: [&str; 14] = [
        "INFO", "DEBUG", "TRACE", "WARN", "WARNING", "ERROR", "FATAL", "CRITICAL", "NOTICE",
        "PASSED", "FAILED", "Normal", "Warning", "ERR!",
    ];
    if head
        .split(|c: char| c.is_whitespace() || c == '[' || c == ']' || c == ':' || c == '|')
        .any(|w| TAGS.contains(&w))
    {
        return true;
    }
    let t = line.trim_start();
    const PREFIXES: [&str; 11] = [
        "npm ",
        "Compiling ",
        "Downloaded ",
        "Downloading ",
        "Checking ",
        "Running ",
        "Finished ",
        "Step ",
        "test ",
        "==>",
        "---> ",
    ];
    // BuildKit steps are `#12 ...`; a bare `#` starts a Markdown heading, which is prose.
    let buildkit_step = t
        .strip_prefix('#')
        .is_some_and(|r| r.starts_with(|c: char| c.is_ascii_digit()));
    buildkit_step || PREFIXES.iter().any(|p| t.starts_with(p))
}

pub fn is_code_line(line: &str) -> bool {
    let t = line.trim();
    if t.ends_with('{') || t.ends_with('}') || t.ends_with(';') || t.ends_with("):") || t == ")" {
        return true;
    }
    // Go's short declarations and its block openers (`import (`, `var (`).
    if t.contains(" := ") || t.ends_with(" (") {
        return true;
    }
    const KEYWORDS: [&str; 23] = [
        "fn ",
        "pub ",
        "use ",
        "def ",
        "class ",
        "import ",
        "from ",
        "return ",
        "let ",
        "const ",
        "function ",
        "#include",
        "package ",
        "if ",
        "for ",
        "//",
        "# ",
        "impl ",
        "func ",
        "type ",
        "var ",
        "defer ",
        "case ",
    ];
    KEYWORDS.iter().any(|k| t.starts_with(k))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_each_kind_on_typical_samples() {
        assert_eq!(detect(r#"{"items": [{"id": 1}, {"id": 2}]}"#), Kind::Json);
        assert_eq!(
            detect("Found 2 repos:\n[{\"id\": 1}, {\"id\": 2}]\n"),
            Kind::Json
        );
        assert_eq!(
            detect(
                "src/a.rs:12:    let x = 1;\nsrc/b.rs:40:7:let y = 2;\nsrc/c/d.py:3:import os\n"
            ),
            Kind::Search
        );
        assert_eq!(
            detect("src/a.rs\n12:    let x = 1;\n14-    foo();\n\nsrc/b.rs\n40:let y = 2;\n"),
            Kind::Search
        );
        assert_eq!(
            detect("diff --git a/x b/x\n--- a/x\n+++ b/x\n@@ -1,2 +1,2 @@\n-a\n+b\n"),
            Kind::Diff
        );
        let log = "2024-05-01T12:00:01Z INFO start\n2024-05-01T12:00:02Z WARN slow\n";
        assert_eq!(detect(log), Kind::Log);
        let markdown = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/fixtures/model/operations_guide.md"
        ))
        .unwrap();
        assert_eq!(
            detect(&markdown),
            Kind::Markdown,
            "Markdown headings are not log lines"
        );
        assert_eq!(
            detect("     1→use std::io;\n     2→fn main() {\n     3→}\n"),
            Kind::Code
        );
        let prose =
            "This is a long paragraph of text that explains a design decision. It goes on.\n"
                .repeat(5);
        assert_eq!(detect(&prose), Kind::Prose);
    }

    #[test]
    fn a_pytest_run_with_one_failure_is_a_diagnostics_report() {
        // pytest 9.2 `-x --tb=long -l -vv` of a scratch project (the corpus case): one `E`
        // line, its verbose `PASSED` lines read like a log.
        let run =
            include_str!("../../../tests/fixtures/realworld/pytest_stop_first_long_tb/input.txt");
        assert_eq!(detect(run), Kind::Diagnostics);
        let banner_only = run.replacen("test session starts", "session", 1);
        assert_ne!(detect(&banner_only), Kind::Diagnostics);
    }

    #[test]
    fn a_bracketed_log_line_is_not_json() {
        assert_ne!(detect("[1/3] Building crate\n[2/3] Linking\n"), Kind::Json);
    }

    #[test]
    fn clock_times_are_not_search_paths() {
        assert!(!is_search_line("12:00:01 INFO started"));
        assert!(is_search_line("README.md:3:headroom"));
    }

    #[test]
    fn go_source_reads_as_code() {
        // A Prometheus example from Debian's docs (the held-out corpus case, a Read page).
        let page =
            include_str!("../../../tests/fixtures/realworld/go_read_prometheus_adapter/input.txt");
        assert_eq!(detect(page), Kind::Code);
        assert!(is_code_line("\tlogger := promlog.New(&cfg.promlogConfig)"));
        assert!(is_code_line("import ("));
        assert!(!is_code_line(
            "2026-12-01 07:03:04 install ripgrep:amd64 <none> 13.0.0-4+b2"
        ));
    }
}
