//! The log compressor. Lines are clustered by template (numbers, ids, paths, quoted values
//! masked). Kept verbatim: every error-level line (error, warn, fatal, panic, exception,
//! traceback …) with a few lines of context, stack traces (their ends and every frame outside
//! well-known library code), the first and last line of every template, rare templates, and
//! lines mentioning the task, and the opening lines of blank-separated records that share their
//! keys (apt history's `Start-Date:` and `Commandline:`). In a listing of paths (`pip show -f`, `find`, `ls -R`)
//! the directories decide (see `listing`). Rare lines far from any error that form a long run of one shape
//! are thinned, and lines over 800 bytes keep their start unless they are error-level or name
//! the task (see `thin`). Each run of dropped lines becomes one marker naming its templates and
//! counts, or on a Read page (`N<TAB>line`) the exact line range.
//!
//! Must never: drop or clip an error-level line, or leave a gap without a marker.

use super::config::LogConfig;
use super::lines::Lines;
use super::marker::{clip, has_error_type, is_error_level, omitted, thousands, TaskWords};
use super::runs::{emit, KeepMask};
use super::template::{template_with_values, Clusters};
use super::{BlockInput, CompressError, Compressor};
use listing::keep_directory_entries;
use std::collections::HashMap;
use thin::{clip_line, thin_shape_runs, LONG_LINE};

mod listing;
mod thin;

pub struct LogCompressor {
    cfg: LogConfig,
}

impl LogCompressor {
    pub fn new(cfg: LogConfig) -> Self {
        LogCompressor { cfg }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Class {
    Important,
    Frame,
    Normal,
}

/// Frames from these places are dropped first inside long stack traces.
const LIBRARY_FRAMES: [&str; 24] = [
    "at java.",
    "at javax.",
    "at sun.",
    "at jdk.",
    "at com.sun.",
    "at org.springframework.",
    "at org.apache.",
    "at io.netty.",
    "at kotlin.",
    "at scala.",
    "at akka.",
    "node:internal",
    "node_modules",
    "site-packages",
    "/usr/lib/python",
    "<frozen",
    "std::",
    "core::",
    "tokio::",
    "alloc::",
    "/rustc/",
    "futures_util::",
    "at reactor.",
    "at org.junit.",
];

/// Frames of the Rust standard library (a backtrace's panic machinery and closure calls).
const RUST_STD_FRAMES: [&str; 5] = ["/rustc/", ": __rustc::", ": core::", ": std::", ": alloc::"];

pub fn is_frame(line: &str, prev_was_python_frame: bool) -> bool {
    let t = line.trim_start();
    if t.len() == line.len() {
        // Frames are indented, except Python's "File" lines in some formatters.
        return false;
    }
    if t.starts_with("at ")
        || t.starts_with("File \"")
        || t.starts_with("... ") && t.ends_with(" more")
    {
        return true;
    }
    let digits = t.bytes().take_while(u8::is_ascii_digit).count();
    if digits > 0 && t[digits..].starts_with(": ") {
        return true;
    }
    prev_was_python_frame
}

impl Compressor for LogCompressor {
    fn name(&self) -> &'static str {
        "log"
    }

    fn compress(&self, input: &BlockInput<'_>) -> Result<Option<String>, CompressError> {
        Ok(compress_lines(input.text, input.task, &self.cfg))
    }
}

pub fn compress_lines(text: &str, task: &str, cfg: &LogConfig) -> Option<String> {
    // A Read page of a log: judge the lines without their `N<TAB>` prefixes, cite line ranges.
    let page = Lines::new(text);
    let lines: Vec<&str> = page.text.clone();
    if lines.len() < 8 {
        return None;
    }
    if let Some(out) = listing::fold_unnamed_directories(&page, task) {
        return Some(out);
    }
    let n = lines.len();
    let parsed = parse(&lines);
    // Words found on most lines (`installed` in dpkg.log) say nothing about which rows matter.
    let task = TaskWords::new(task).selective(lines.iter().copied(), (n / 50).max(3));
    let keep = select(&lines, &parsed, &task, cfg);
    // Very long lines (a package list, a minified payload) keep their start unless they are
    // error-level or name the task; the rest of the line becomes an inline marker.
    let clipped: Vec<Option<String>> = (0..lines.len())
        .map(|i| {
            let l = lines[i];
            (l.len() > LONG_LINE && parsed.class[i] != Class::Important && !task.matches(l))
                .then(|| clip_line(page.raw[i]))
        })
        .collect();
    let shown: Vec<&str> = page
        .raw
        .iter()
        .zip(&clipped)
        .map(|(l, c)| c.as_deref().unwrap_or(l))
        .collect();
    let clipped_any = clipped
        .iter()
        .zip(keep.as_slice())
        .any(|(c, &k)| k && c.is_some());
    // One marker per dropped run.
    let out = emit(&shown, &keep, |run| {
        if page.numbers.is_some() {
            return page.marker(&run, "");
        }
        gap_marker(
            &lines[run.clone()],
            &parsed.class[run.clone()],
            &parsed.tpl_ids[run],
            &parsed.tpl_names,
        )
    });
    (out.markers > 0 || clipped_any).then(|| format!("{}{}{}", page.head, out.text, page.tail))
}

/// Every line classified and templated.
struct ParsedLog<'a> {
    class: Vec<Class>,
    /// Each line's exact template (values masked), as an index into the raw templates.
    raw_ids: Vec<usize>,
    raw_templates: usize,
    /// Each line's masked values, in order.
    values: Vec<Vec<&'a str>>,
    /// Each line's template cluster (similar raw templates merged).
    tpl_ids: Vec<usize>,
    tpl_names: Vec<String>,
}

fn parse<'a>(lines: &[&'a str]) -> ParsedLog<'a> {
    let n = lines.len();
    let mut class = Vec::with_capacity(n);
    let mut raw_ids = Vec::with_capacity(n);
    let mut raw_index: HashMap<String, usize> = HashMap::new();
    let mut raw_cluster: Vec<usize> = Vec::new();
    let mut clusters = Clusters::default();
    let mut prev_python = false;
    let mut values: Vec<Vec<&str>> = Vec::with_capacity(n);
    for line in lines {
        let c = if is_error_level(line) || has_error_type(line) {
            Class::Important
        } else if is_frame(line, prev_python) {
            Class::Frame
        } else {
            Class::Normal
        };
        prev_python = line.trim_start().starts_with("File \"");
        class.push(c);
        let mut v = Vec::new();
        let t = template_with_values(line, Some(&mut v));
        values.push(v);
        let id = match raw_index.get(&t) {
            Some(&id) => id,
            None => {
                raw_cluster.push(clusters.assign(&t));
                raw_index.insert(t, raw_cluster.len() - 1);
                raw_cluster.len() - 1
            }
        };
        raw_ids.push(id);
    }
    let tpl_ids: Vec<usize> = raw_ids.iter().map(|&r| raw_cluster[r]).collect();
    let tpl_names: Vec<String> = (0..clusters.len()).map(|c| clusters.template(c)).collect();
    ParsedLog {
        class,
        raw_ids,
        raw_templates: raw_cluster.len(),
        values,
        tpl_ids,
        tpl_names,
    }
}

/// Error-level lines with their context, each template's first and last line, rare templates,
/// a few lines per template that mention the task, the ends of stack traces and lines carrying
/// a rare value of a masked field.
fn select(lines: &[&str], parsed: &ParsedLog<'_>, task: &TaskWords, cfg: &LogConfig) -> KeepMask {
    let n = lines.len();
    let ParsedLog {
        class,
        raw_ids,
        raw_templates,
        values,
        tpl_ids,
        tpl_names,
    } = parsed;
    let ntpl = tpl_names.len();
    let mut count = vec![0usize; ntpl];
    let mut first = vec![usize::MAX; ntpl];
    let mut last = vec![0usize; ntpl];
    for (i, &t) in tpl_ids.iter().enumerate() {
        count[t] += 1;
        first[t] = first[t].min(i);
        last[t] = i;
    }

    let mut keep = vec![false; n];
    // Lines kept for nothing but a rare template (see [`thin_shape_runs`]).
    let mut rare_only = vec![false; n];
    let mut task_hits = vec![0usize; ntpl];
    // Without error lines, the rows the task names are what the reader came for.
    let task_cap = if class.contains(&Class::Important) {
        3
    } else {
        40
    };
    for i in 0..n {
        let t = tpl_ids[i];
        match class[i] {
            Class::Important => {
                keep[i] = true;
                let lo = i.saturating_sub(cfg.context_lines);
                let hi = (i + cfg.context_lines).min(n - 1);
                for j in lo..=hi {
                    if class[j] == Class::Normal {
                        keep[j] = true;
                    }
                }
            }
            Class::Normal => {
                let hit = task.matches(lines[i]);
                if first[t] == i || last[t] == i || count[t] <= cfg.rare_template_max {
                    keep[i] = true;
                    rare_only[i] = !keep_near_error(class, i, cfg.context_lines) && !hit;
                } else if hit {
                    task_hits[t] += 1;
                    if task_hits[t] <= task_cap {
                        keep[i] = true;
                    }
                }
            }
            Class::Frame => {}
        }
    }
    thin_shape_runs(lines, &rare_only, &mut keep);
    keep_frames(lines, class, &mut keep);
    let mut raw_count = vec![0usize; *raw_templates];
    for &r in raw_ids.iter() {
        raw_count[r] += 1;
    }
    keep_rare_values(raw_ids, values, &raw_count, &mut keep);
    keep_record_headers(lines, &mut keep);
    keep_directory_entries(lines, task, &mut keep);
    // A question that names nothing in an error-free log asks for an overview.
    if !class.contains(&Class::Important) && !task_hits.iter().any(|&h| h > 0) {
        keep_first_mentions(lines, &mut keep);
    }

    KeepMask::from_vec(keep)
}

/// Logs made of blank-line-separated records that open with the same keys (apt's
/// `Start-Date:` then `Commandline:`): those opening lines are the records' headers — when and
/// what — and stay like a table's header row.
fn keep_record_headers(lines: &[&str], keep: &mut [bool]) {
    fn key(l: &str) -> Option<&str> {
        l.split_once(": ")
            .map(|(k, _)| k)
            .filter(|k| !k.is_empty() && k.len() <= 32 && !k.contains(' ') && !l.starts_with(' '))
    }
    let starts: Vec<usize> = (0..lines.len())
        .filter(|&i| !lines[i].trim().is_empty() && (i == 0 || lines[i - 1].trim().is_empty()))
        .collect();
    if starts.len() < 3 {
        return;
    }
    for depth in 0..2 {
        let first = starts
            .iter()
            .find_map(|&s| lines.get(s + depth).and_then(|l| key(l)));
        let Some(common) = first else {
            return;
        };
        let same = starts
            .iter()
            .filter(|&&s| lines.get(s + depth).and_then(|l| key(l)) == Some(common))
            .count();
        if same * 10 < starts.len() * 9 {
            return;
        }
        for &s in &starts {
            if lines.get(s + depth).and_then(|l| key(l)) == Some(common) {
                keep[s + depth] = true;
            }
        }
    }
}

/// Whether line `i` sits within `radius` lines of an error-level line.
fn keep_near_error(class: &[Class], i: usize, radius: usize) -> bool {
    let lo = i.saturating_sub(radius);
    let hi = (i + radius + 1).min(class.len());
    class[lo..hi].contains(&Class::Important)
}

/// An entity token: a package, id or version (`libpq5:amd64`, `15.18-0+deb12u1`, `job-42`),
/// a letter with a digit or joining punctuation; plain words and timestamps are not.
fn is_entity(token: &str) -> bool {
    token.len() >= 4
        && token.bytes().any(|b| b.is_ascii_alphabetic())
        && token
            .bytes()
            .any(|b| b.is_ascii_digit() || matches!(b, b'-' | b':' | b'.' | b'+' | b'_' | b'@'))
}

/// In a log without errors read for an overview, the line that first names an entity the log keeps returning to
/// (the `install` row before a package's `status` rows) says what happened to it. Kept when
/// such lines are few (≤ a quarter of the log); otherwise they pick nothing out.
fn keep_first_mentions(lines: &[&str], keep: &mut [bool]) {
    let mut seen: HashMap<&str, (usize, usize)> = HashMap::new(); // token → (count, first line)
    for (i, line) in lines.iter().enumerate() {
        for token in line.split_whitespace().filter(|t| is_entity(t)) {
            let e = seen.entry(token).or_insert((0, i));
            e.0 += 1;
        }
    }
    let mut first: Vec<usize> = seen
        .values()
        .filter(|&&(count, _)| count >= 2)
        .map(|&(_, line)| line)
        .collect();
    first.sort_unstable();
    first.dedup();
    if first.len() * 4 <= lines.len() {
        for i in first {
            keep[i] = true;
        }
    }
}

/// Inside a big template, a masked field with few distinct values (a status code, a method, a
/// level) marks the lines carrying one of its rare values (≤ 2 %) as anomalies to keep.
fn keep_rare_values(tpl_ids: &[usize], values: &[Vec<&str>], count: &[usize], keep: &mut [bool]) {
    let mut by_template: HashMap<usize, Vec<usize>> = HashMap::new();
    for (i, &t) in tpl_ids.iter().enumerate() {
        if count[t] >= 20 {
            by_template.entry(t).or_default().push(i);
        }
    }
    for members in by_template.values() {
        let width = values[members[0]].len();
        for pos in 0..width {
            let mut freq: HashMap<&str, usize> = HashMap::new();
            for &i in members {
                if let Some(v) = values[i].get(pos) {
                    *freq.entry(v).or_default() += 1;
                    if freq.len() > 8 {
                        break;
                    }
                }
            }
            if freq.len() < 2 || freq.len() > 8 {
                continue;
            }
            let mut kept = 0;
            for &i in members {
                let rare = values[i]
                    .get(pos)
                    .is_some_and(|v| freq.get(v).is_some_and(|&k| k * 50 <= members.len()));
                if rare && kept < 20 {
                    keep[i] = true;
                    kept += 1;
                }
            }
        }
    }
}

/// Inside each run of stack frames keep the first three, the last two and every frame that is
/// not library code (up to 12 per run).
fn keep_frames(lines: &[&str], class: &[Class], keep: &mut [bool]) {
    let n = lines.len();
    let mut i = 0;
    while i < n {
        if class[i] != Class::Frame {
            i += 1;
            continue;
        }
        let start = i;
        while i < n && class[i] == Class::Frame {
            i += 1;
        }
        let run = start..i;
        let len = run.len();
        let mut own = 0;
        for (k, j) in run.enumerate() {
            let library = LIBRARY_FRAMES.iter().any(|p| lines[j].contains(p));
            // Rust's own panic and call machinery says nothing about where the failure is.
            let rust_std = RUST_STD_FRAMES.iter().any(|p| lines[j].contains(p));
            if (k < 3 || k + 2 >= len) && !rust_std || (!library && own < 12) {
                keep[j] = true;
                if k >= 3 && k + 2 < len {
                    own += 1;
                }
            }
        }
    }
}

fn gap_marker(gap: &[&str], class: &[Class], tpl_ids: &[usize], names: &[String]) -> String {
    if class.iter().all(|c| *c == Class::Frame) {
        return omitted(
            gap.len(),
            if gap.len() == 1 {
                "stack frame"
            } else {
                "stack frames"
            },
            "",
        );
    }
    // Count per template, most frequent first, ties by first appearance.
    let mut order: Vec<usize> = Vec::new();
    let mut counts: HashMap<usize, usize> = HashMap::new();
    for &t in tpl_ids {
        let e = counts.entry(t).or_insert(0);
        if *e == 0 {
            order.push(t);
        }
        *e += 1;
    }
    order.sort_by(|a, b| counts[b].cmp(&counts[a]));
    if order.len() == 1 {
        return omitted(
            gap.len(),
            if gap.len() == 1 {
                "similar line"
            } else {
                "similar lines"
            },
            &format!("template: \"{}\"", clip(&names[order[0]], 90)),
        );
    }
    // Many templates: the commonest one names the run; the rest are counted.
    let named = if order.len() > 3 { 1 } else { 2 };
    let mut parts: Vec<String> = order
        .iter()
        .take(named)
        .map(|t| format!("{}× \"{}\"", thousands(counts[t]), clip(&names[*t], 60)))
        .collect();
    if order.len() > named {
        parts.push(format!("{} other templates", order.len() - named));
    }
    omitted(gap.len(), "lines", &parts.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> String {
        let mut s = String::new();
        for i in 0..500 {
            s.push_str(&format!(
                "2024-05-01T12:{:02}:{:02}Z INFO worker processed batch id={} in {}ms\n",
                i / 60 % 60,
                i % 60,
                1000 + i,
                i % 17
            ));
            if i == 250 {
                s.push_str("2024-05-01T12:04:10Z ERROR worker batch id=1250 failed: deadlock detected on table orders\n");
            }
            if i % 100 == 0 {
                s.push_str(&format!("2024-05-01T12:00:00Z DEBUG gc pause {}ms\n", i));
            }
        }
        s.push_str("2024-05-01T12:09:00Z INFO worker shutting down");
        s
    }

    #[test]
    fn keeps_errors_with_context_and_counts_dropped_templates() {
        let text = sample();
        let out = compress_lines(&text, "", &LogConfig::default()).unwrap();
        assert!(
            out.contains("ERROR worker batch id=1250 failed: deadlock detected on table orders")
        );
        assert!(
            out.contains("id=1249 in"),
            "context before the error: {out}"
        );
        assert!(out.contains("similar lines omitted (template: \"<*> INFO worker processed batch id=<*> in <*>\")"), "{out}");
        assert!(out.contains("shutting down"));
        assert!(
            out.len() * 10 < text.len(),
            "{} vs {}",
            out.len(),
            text.len()
        );
    }

    #[test]
    fn a_read_page_of_a_log_cites_line_ranges() {
        let mut text = String::new();
        for k in 1..=60 {
            text.push_str(&format!(
                "{k}\t2024-05-01 12:00:{:02} INFO worker tick {k}\n",
                k % 60
            ));
        }
        text.push_str("61\t2024-05-01 12:01:01 ERROR worker crashed: disk full");
        let out = compress_lines(&text, "", &LogConfig::default()).unwrap();
        assert!(out.contains("[… lines 2–58 omitted …]"), "{out}");
        assert!(out.contains("61\t2024-05-01 12:01:01 ERROR worker crashed"));
    }

    #[test]
    fn long_java_traces_keep_their_ends_and_application_frames() {
        let mut text = String::from("2024-05-01 10:00:00 ERROR request failed\njava.lang.IllegalStateException: invoice 8812 already settled\n");
        text.push_str("\tat com.acme.billing.InvoiceService.settle(InvoiceService.java:214)\n");
        for k in 0..40 {
            text.push_str(&format!("\tat org.springframework.web.servlet.FrameworkServlet.service(FrameworkServlet.java:{k})\n"));
        }
        text.push_str("\tat com.acme.web.Controller.handle(Controller.java:88)\n");
        for k in 0..20 {
            text.push_str(&format!("\tat org.apache.catalina.core.StandardWrapperValve.invoke(StandardWrapperValve.java:{k})\n"));
        }
        text.push_str(
            "\tat java.base/java.lang.Thread.run(Thread.java:840)\n2024-05-01 10:00:01 INFO next\n",
        );
        let out = compress_lines(&text, "", &LogConfig::default()).unwrap();
        assert!(out.contains("InvoiceService.java:214"));
        assert!(out.contains("Controller.java:88"));
        assert!(out.contains("Thread.java:840"));
        assert!(out.contains("stack frames omitted"), "{out}");
    }

    #[test]
    fn every_record_of_an_apt_history_keeps_its_start_date_and_command_line() {
        // A Read page of this machine's /var/log/apt/history.log (the corpus case).
        let page = include_str!("../../../tests/fixtures/realworld/log_apt_history_read/input.txt");
        let task = "What has been installed or removed on this machine, and when?";
        let out = compress_lines(page, task, &LogConfig::default()).unwrap();
        for key in ["\tStart-Date: ", "\tCommandline: "] {
            let before = page.matches(key).count();
            assert!(before >= 10, "{key}");
            assert_eq!(out.matches(key).count(), before, "{key}");
        }
        assert!(out.len() < page.len() / 2);
    }

    #[test]
    fn blank_separated_lines_without_common_keys_are_not_records() {
        let mut keep = vec![false; 8];
        let lines = ["a: 1", "b: 2", "", "c: 3", "", "d: 4", "", "e: 5"];
        keep_record_headers(&lines, &mut keep);
        assert!(!keep.contains(&true));
    }
}
