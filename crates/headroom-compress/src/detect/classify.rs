//! Detection of the structured formats real tools print — compiler and test diagnostics, git
//! log / show, HTML, Markdown, column tables — and of what sits under a Claude Code envelope
//! (`<system-reminder>`, `<persisted-output>`, `N<TAB>` line numbers). Called by
//! [`super::detect`] before its generic rules.
//!
//! Must never: look at more than a bounded sample of lines, or claim a block on one line.

use super::{detect, Kind};
use crate::lines::Lines;

const SAMPLE: usize = 300;

/// The structured kind of `text`, or `None` to let the generic rules decide.
pub fn classify(text: &str) -> Option<Kind> {
    let lines = Lines::new(text);
    let sample: Vec<&str> = lines
        .text
        .iter()
        .copied()
        .filter(|l| !l.trim().is_empty())
        .take(SAMPLE)
        .collect();
    if sample.len() < 2 {
        return None;
    }
    if !lines.head.is_empty() || lines.numbers.is_some() {
        // What the envelope wraps decides; the stripped text has no envelope left.
        let inner = sample.join("\n");
        return Some(detect(&inner));
    }
    let n = sample.len();
    if is_html(text) {
        return Some(Kind::Html);
    }
    if sample.iter().filter(|l| is_changelog_entry(l)).count() >= 2 {
        return Some(Kind::Markdown);
    }
    if is_commit_header(sample[0]) {
        let commits = sample.iter().filter(|l| is_commit_header(l)).count();
        let diff = sample.iter().any(|l| l.starts_with("diff --git "));
        return Some(if commits == 1 && (diff || n < SAMPLE) {
            Kind::GitShow
        } else {
            Kind::GitLog
        });
    }
    // Diffs are the generic rules' to decide.
    if sample
        .iter()
        .any(|l| l.starts_with("diff --git ") || l.starts_with("@@ -"))
    {
        return None;
    }
    let oneline = sample.iter().filter(|l| is_oneline_commit(l)).count();
    if n >= 5 && oneline * 10 >= n * 9 {
        return Some(Kind::GitLog);
    }
    let diags = sample.iter().filter(|l| is_diagnostic_line(l)).count();
    if diags >= 2 && (diags * 20 >= n || sample.iter().any(|l| is_summary_line(l))) {
        return Some(Kind::Diagnostics);
    }
    // A pytest run opens with its banner, however few `E` lines its one failure has.
    if is_pytest_banner(sample[0]) {
        return Some(Kind::Diagnostics);
    }
    let setext = sample
        .windows(2)
        .filter(|w| {
            let u = w[1].trim();
            u.len() >= 3 && u.bytes().all(|b| b == b'=') && !w[0].trim().is_empty()
        })
        .count();
    let headings = sample.iter().filter(|l| is_md_heading(l)).count() + setext;
    let codeish = sample
        .iter()
        .filter(|l| {
            let t = l.trim_end();
            t.ends_with('{') || t.ends_with(';') || t.ends_with("):")
        })
        .count();
    if headings >= 2 && (codeish * 10 < n || headings >= 4 && codeish * 4 < n) {
        return Some(Kind::Markdown);
    }
    // Search results and diffs are the generic rules' to decide.
    let searchish = sample
        .iter()
        .filter(|l| {
            super::is_search_line(l) || l.starts_with("@@ ") || l.starts_with("diff --git ")
        })
        .count();
    if searchish * 10 >= n * 3 {
        return None;
    }
    // Lines led by a timestamp, a level or a tool's tag are a log, however aligned or wordy.
    let log_led = sample.iter().filter(|l| is_log_led(l)).count();
    if log_led * 10 >= n * 3 {
        return None;
    }
    if is_table(&sample) {
        return Some(Kind::Table);
    }
    // A long source file whose opening is atypical (a licence, a big initializer): its middle
    // decides.
    if lines.text.len() > 4 * SAMPLE {
        let mid = lines.text.len() / 2;
        let middle: Vec<&str> = lines.text[mid..]
            .iter()
            .copied()
            .filter(|l| !l.trim().is_empty())
            .take(SAMPLE)
            .collect();
        let code = middle.iter().filter(|l| super::is_code_line(l)).count();
        let first = sample.iter().filter(|l| super::is_code_line(l)).count();
        if code * 100 >= middle.len() * 35 && first * 100 >= n * 20 {
            return Some(Kind::Code);
        }
    }
    // Wrapped prose (licences, manuals): lines of words.
    let wordy = sample.iter().filter(|l| is_wordy(l)).count();
    let avg = sample.iter().map(|l| l.len()).sum::<usize>() / n;
    let keywords = sample
        .iter()
        .filter(|l| {
            let t = l.trim_start();
            [
                "def ",
                "class ",
                "import ",
                "from ",
                "fn ",
                "pub ",
                "#include",
                "function ",
                "return ",
                "let ",
                "const ",
            ]
            .iter()
            .any(|k| t.starts_with(k))
        })
        .count();
    if n >= 10 && avg >= 40 && wordy * 10 >= n * 7 && keywords * 33 < n && codeish * 20 < n {
        return Some(Kind::Prose);
    }
    None
}

/// Event levels in a column make a table an event log (`kubectl get events`).
const LEVELS: [&str; 8] = [
    "Normal", "Warning", "INFO", "WARN", "ERROR", "DEBUG", "error", "warning",
];

fn is_log_led(line: &str) -> bool {
    let mut fields = line.split_whitespace();
    is_log_lead(fields.next().unwrap_or("")) || fields.take(4).any(|f| LEVELS.contains(&f))
}

fn is_log_lead(first: &str) -> bool {
    const TAGS: [&str; 12] = [
        "INFO", "WARN", "WARNING", "ERROR", "DEBUG", "TRACE", "FATAL", "npm", "yarn", "pnpm",
        "[INFO]", "[WARN]",
    ];
    let digits = first.bytes().filter(u8::is_ascii_digit).count();
    (first.len() >= 8 && digits >= 6)
        || first
            .strip_prefix('#')
            .is_some_and(|r| r.starts_with(|c: char| c.is_ascii_digit()))
        || (first.starts_with('[') && digits >= 2)
        || TAGS.contains(&first)
}

fn is_wordy(line: &str) -> bool {
    let letters = line
        .chars()
        .filter(|c| c.is_alphabetic() || *c == ' ')
        .count();
    letters * 10 >= line.chars().count() * 8
}

fn is_html(text: &str) -> bool {
    let head = &text[..text.floor_char_boundary(512)];
    let t = head.trim_start().to_ascii_lowercase();
    t.starts_with("<!doctype html")
        || t.starts_with("<html")
        || t.starts_with("<?xml") && t.contains("<html")
}

pub fn is_commit_header(line: &str) -> bool {
    line.strip_prefix("commit ").is_some_and(|rest| {
        let hash = rest.split_whitespace().next().unwrap_or("");
        hash.len() >= 40 && hash.bytes().all(|b| b.is_ascii_hexdigit())
    })
}

fn is_oneline_commit(line: &str) -> bool {
    let hash = line.split(' ').next().unwrap_or("");
    (7..=40).contains(&hash.len())
        && hash.bytes().all(|b| b.is_ascii_hexdigit())
        && hash.bytes().any(|b| b.is_ascii_digit())
        && line.len() > hash.len() + 1
}

/// The first line of a Debian changelog entry: `curl (7.88.1-10+deb12u8) bookworm;
/// urgency=medium` — the package, its version in parentheses, the distributions and the
/// urgency. Such entries are a changelog's version headings.
pub fn is_changelog_entry(line: &str) -> bool {
    let Some((package, rest)) = line.split_once(" (") else {
        return false;
    };
    let Some((version, tail)) = rest.split_once(") ") else {
        return false;
    };
    !package.is_empty()
        && package
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"+-.".contains(&b))
        && !version.is_empty()
        && !version.contains(char::is_whitespace)
        && tail.contains("; urgency=")
}

fn is_md_heading(line: &str) -> bool {
    let hashes = line.bytes().take_while(|&b| b == b'#').count();
    (1..=6).contains(&hashes)
        && line[hashes..].starts_with(' ')
        && line[hashes..]
            .trim()
            .chars()
            .next()
            .is_some_and(|c| c.is_alphanumeric() || c == '[' || c == '`')
}

/// One line of a compiler, linter or test runner report.
pub fn is_diagnostic_line(line: &str) -> bool {
    let t = line.trim_start();
    for p in [
        "error[",
        "error: ",
        "warning: ",
        "warning[",
        "note: ",
        "help: ",
    ] {
        if line.starts_with(p) {
            return true;
        }
    }
    if t.starts_with("--> ") && t.contains(':') {
        return true;
    }
    if line.starts_with("FAILED ")
        || line.starts_with("ERROR ")
        || line.starts_with("---- ") && line.ends_with(" stdout ----")
    {
        return true;
    }
    if t.starts_with("File \"") && t.contains("\", line ") {
        return true;
    }
    // path:line[:col]: severity / code, path(line,col): error TS1234
    let Some((loc, rest)) = split_location(line) else {
        return false;
    };
    let _ = loc;
    let r = rest.trim_start();
    r.starts_with("error")
        || r.starts_with("warning")
        || r.starts_with("note:")
        || r.starts_with("fatal error")
        || is_rule_code(r.split([' ', ':']).next().unwrap_or(""))
}

/// `path:12:3:` / `path:12:` / `path(12,3):` → (location, rest after it).
/// `===== test session starts =====`: the first line of every pytest run.
fn is_pytest_banner(line: &str) -> bool {
    let t = line.trim();
    t.starts_with("==") && t.ends_with("==") && t.contains(" test session starts ")
}

pub fn split_location(line: &str) -> Option<(&str, &str)> {
    if line.starts_with(' ') {
        return None;
    }
    if let Some(open) = line.find('(') {
        if let Some(close) = line[open..].find("):") {
            let inside = &line[open + 1..open + close];
            if !inside.is_empty()
                && inside.bytes().all(|b| b.is_ascii_digit() || b == b',')
                && super::looks_like_path(&line[..open])
            {
                return Some((&line[..open + close + 1], &line[open + close + 2..]));
            }
        }
    }
    let (path, line_no, rest, is_match) = super::split_search_line(line)?;
    if !is_match {
        return None;
    }
    let _ = (path, line_no);
    // An optional column.
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    let rest = if digits > 0 && rest[digits..].starts_with(':') {
        &rest[digits + 1..]
    } else {
        rest
    };
    let loc_len = line.len() - rest.len();
    Some((&line[..loc_len], rest))
}

/// `E501`, `F401`, `TS2339`, `no-unused-vars`-style codes are too loose; letters then digits.
fn is_rule_code(w: &str) -> bool {
    let letters = w.bytes().take_while(u8::is_ascii_uppercase).count();
    (1..=4).contains(&letters)
        && w.len() > letters
        && w.len() <= letters + 5
        && w[letters..].bytes().all(|b| b.is_ascii_digit())
}

/// Totals a report ends with; never dropped.
pub fn is_summary_line(line: &str) -> bool {
    let t = line.trim();
    t.starts_with("error: aborting due to")
        || t.starts_with("error: could not compile")
        || t.starts_with("warning: build failed")
        || (t.starts_with("warning: `") && t.contains("generated"))
        || t.starts_with("test result: ")
        || t.starts_with("Found ") && (t.contains(" error") || t.contains(" warning"))
        || t.starts_with("Success: no issues")
        || (t.starts_with("==")
            && t.ends_with("==")
            && (t.contains(" passed") || t.contains(" failed") || t.contains(" error")))
        || t.starts_with("FAILED (")
        || t.starts_with("Ran ") && t.contains(" test")
        || t.ends_with(" generated.")
        || t.contains(" errors generated")
        || t.contains(" error generated")
        || t.starts_with("error: test failed")
        || t.starts_with("failures:")
        || (t.contains("problem") && t.contains('✖'))
}

/// Column output: most lines split into the same number (≥ 4) of whitespace-separated fields.
fn is_table(sample: &[&str]) -> bool {
    let n = sample.len();
    if n < 5 {
        return false;
    }
    let mut counts: Vec<usize> = sample
        .iter()
        .map(|l| l.split_whitespace().count())
        .collect();
    counts.sort_unstable();
    let median = counts[n / 2];
    if median < 4 {
        return false;
    }
    let near = sample
        .iter()
        .filter(|l| {
            let c = l.split_whitespace().count();
            c >= median.saturating_sub(1) && c <= median + 12
        })
        .count();
    let prose = sample
        .iter()
        .filter(|l| l.trim_end().ends_with('.') || l.contains(". "))
        .count();
    (near * 10 >= n * 8 || aligned_columns(sample) >= 3) && prose * 4 < n
}

/// How many field start positions (after the first) most lines share: fixed-width columns, as
/// `dpkg -l` and `kubectl get` print them, with free text of any length in the last one.
fn aligned_columns(sample: &[&str]) -> usize {
    let starts = |l: &str| -> Vec<usize> {
        let b = l.as_bytes();
        (1..b.len().min(200))
            .filter(|&i| b[i] != b' ' && b[i - 1] == b' ')
            .collect()
    };
    let probe = sample[sample.len().min(6) - 1];
    let all: Vec<Vec<usize>> = sample.iter().map(|l| starts(l)).collect();
    starts(probe)
        .into_iter()
        .filter(|p| {
            let shared = all.iter().filter(|s| s.binary_search(p).is_ok()).count();
            shared * 10 >= sample.len() * 7
        })
        .count()
}
