//! Compiler, linter and test-runner reports (rustc/cargo, clippy, gcc/clang, tsc, eslint, mypy,
//! ruff, pytest, cargo test). Diagnostics are grouped by code, or by message template when
//! they carry none; the first of each group stays verbatim with its location and notes, as do
//! rare ones and those the task names; repeats become a marker listing their locations.
//! Summary lines (`error: aborting due to 3 previous errors`, `2 passed; 1 failed`) always stay.
//! Notes that recur in three or more diagnostics (clippy's `= help: for further information
//! visit …`, `= note: `#[warn(…)]` on by default`) stay where they first appear, followed by one
//! counted note standing for every later instance.
//!
//! Source context lines around a flagged line, the excerpts of warnings in a build that fails
//! on errors, and pytest `-l` locals that repeat a frame's arguments leave counted in one note
//! each (see `excerpt`, `locals`).
//!
//! Must never: drop a summary line, the header of the first diagnostic of a group, or a
//! diagnostic without naming its location in a marker.

use super::detect::classify::{is_diagnostic_line, is_summary_line, split_location};
use super::lines::{close_small_gaps, Identifiers, Lines};
use super::marker::{is_error_level, TaskWords};
use super::template::template;
use super::{BlockInput, CompressError, Compressor};
use std::collections::HashMap;

mod excerpt;
mod locals;
mod trim;

pub struct DiagnosticsCompressor;

impl Compressor for DiagnosticsCompressor {
    fn name(&self) -> &'static str {
        "diagnostics"
    }

    fn compress(&self, input: &BlockInput<'_>) -> Result<Option<String>, CompressError> {
        Ok(compress_diagnostics(input.text, input.task))
    }
}

/// Diagnostics of one group kept in full before repeats are folded.
const KEEP_PER_GROUP: usize = 1;
/// A group this small counts as rare: its repeats keep their message and location.
const RARE_GROUP: usize = 2;
/// A group this small whose repeats suggest an edit counts as rare too: they keep the edit,
/// which differs at every location.
const RARE_GROUP_WITH_EDITS: usize = 3;
/// Locations listed in one marker.
const MAX_LOCATIONS: usize = 8;

struct Record {
    start: usize,
    end: usize,
    group: String,
    location: String,
}

pub fn compress_diagnostics(text: &str, task: &str) -> Option<String> {
    let lines = Lines::new(text);
    let src = &lines.text;
    let n = src.len();
    if n < 6 {
        return None;
    }
    let records = split_records(src);
    let mut keep = vec![true; n];
    let mut group_seen: HashMap<&str, usize> = HashMap::new();
    // Where each group's first record starts.
    let mut group_first: HashMap<&str, usize> = HashMap::new();
    let mut group_size: HashMap<&str, usize> = HashMap::new();
    for r in &records {
        *group_size.entry(r.group.as_str()).or_default() += 1;
    }
    let words = TaskWords::new(task).selective(src.iter().copied(), (records.len() / 8).max(2));
    let idents = Identifiers::new(task);
    let mut record_of: Vec<Option<usize>> = vec![None; n];
    for (k, r) in records.iter().enumerate() {
        let seen = group_seen.entry(r.group.as_str()).or_default();
        *seen += 1;
        record_of[r.start..r.end]
            .iter_mut()
            .for_each(|o| *o = Some(k));
        let first = *group_first.entry(r.group.as_str()).or_insert(r.start);
        let size = group_size[r.group.as_str()];
        let edits = src[r.start..r.end]
            .iter()
            .any(|l| trim::is_suggested_edit(l));
        // A repeat whose message is word for word the first one's (its location on the next
        // line) says nothing a marker naming that location would not.
        let same_message = first != r.start && src[first] == src[r.start];
        let rare = (size <= RARE_GROUP && (edits || !same_message))
            || size <= RARE_GROUP_WITH_EDITS && edits;
        // Named by the task: its message or location holds a task word, or any of its
        // lines a task identifier (a word in a compiler's note says little).
        let named = src[r.start..r.end].iter().enumerate().any(|(k, l)| {
            let main = k == 0 || l.trim_start().starts_with("--> ");
            idents.matches(l) || main && words.matches(l)
        });
        if *seen <= KEEP_PER_GROUP || named {
            continue;
        }
        if rare {
            // Its kind was shown in full above: the message and location say the rest.
            trim::trim_repeat(src, r.start + 1..r.end, &mut keep);
            continue;
        }
        keep[r.start..r.end].iter_mut().for_each(|k| *k = false);
    }
    let ranges: Vec<std::ops::Range<usize>> = records.iter().map(|r| r.start..r.end).collect();
    let boilerplate = trim::boilerplate(src, &ranges);
    trim::drop_library_frames(src, &mut keep);
    trim::drop_pytest_source(src, &mut keep);
    trim::drop_pytest_progress(src, &mut keep);
    // Lines outside diagnostics: progress and passing tests repeat; keep rare templates,
    // summaries and error-level lines.
    let mut tpl_count: HashMap<String, usize> = HashMap::new();
    let tpls: Vec<Option<String>> = (0..n)
        .map(|i| (record_of[i].is_none() && !src[i].trim().is_empty()).then(|| template(src[i])))
        .collect();
    for t in tpls.iter().flatten() {
        *tpl_count.entry(t.clone()).or_default() += 1;
    }
    let mut tpl_kept: HashMap<&str, usize> = HashMap::new();
    for i in 0..n {
        let Some(t) = &tpls[i] else {
            continue;
        };
        let l = src[i];
        let seen = tpl_kept.entry(t.as_str()).or_default();
        *seen += 1;
        let important = is_summary_line(l)
            || is_error_level(l)
            || words.matches(l)
            || idents.matches(l)
            || locals::is_frame_location(l);
        if !important && tpl_count[t] > 3 && *seen > 2 {
            keep[i] = false;
        }
    }
    for i in 0..n {
        if is_summary_line(src[i]) {
            keep[i] = true;
        }
    }
    // A lone line between kept ones (a suggestion's `+` line inside a trimmed excerpt) stays:
    // it reads as part of what is shown, whatever the cost rule would say.
    close_small_gaps(&mut keep, 2);
    // After the gap rule: a lone library path is worth its marker on cost alone.
    trim::drop_library_locations(src, &ranges, &mut keep);
    trim::drop_cargo_commands(src, &mut keep);
    let (mut fold, mut notes) = fold_boilerplate(src, &boilerplate, &keep);
    fold_passed_tests(src, &keep, &mut fold, &mut notes);
    fold_excerpts(src, &ranges, &keep, &mut fold, &mut notes);
    lines.render_folded(&keep, &fold, &notes, |run, in_run| {
        let mut groups: Vec<&str> = Vec::new();
        let mut locations: Vec<&str> = Vec::new();
        let mut count = 0;
        let mut last = None;
        for o in record_of[run.clone()].iter().flatten() {
            if last == Some(*o) {
                continue;
            }
            last = Some(*o);
            count += 1;
            let r = &records[*o];
            if !groups.contains(&r.group.as_str()) {
                groups.push(r.group.as_str());
            }
            if !r.location.is_empty() {
                locations.push(r.location.as_str());
            }
        }
        if count == 0 {
            let what = if src[run.clone()]
                .iter()
                .all(|l| l.trim().is_empty() || trim::pytest_progress(l).is_some())
            {
                "test progress"
            } else if src[run.clone()]
                .iter()
                .all(|l| l.trim_start().starts_with("Running `"))
            {
                "cargo command lines"
            } else if src[run.clone()].iter().all(|l| l.starts_with("    ")) {
                "test source"
            } else if src[run.clone()].iter().all(|l| {
                l.trim_start().starts_with("at ")
                    || l.trim_start().starts_with(|c: char| c.is_ascii_digit())
            }) {
                "library stack frames"
            } else {
                "similar lines"
            };
            return lines.marker_counted(&run, in_run, what);
        }
        // Inside a diagnostic whose header stays: part of its excerpt or notes.
        if let Some(k) = record_of[run.start] {
            let r = &records[k];
            if run.start > r.start && keep[r.start] && run.end <= r.end {
                let library = src[run.clone()]
                    .iter()
                    .all(|l| l.contains(" /rustc/") || l.trim() == "|");
                let what = if library { "std source" } else { "excerpt" };
                return lines.marker_counted(&run, in_run, what);
            }
        }
        let mut what = format!(
            "{count} more {} of {}",
            if count == 1 {
                "diagnostic"
            } else {
                "diagnostics"
            },
            groups
                .iter()
                .take(3)
                .map(|g| super::marker::clip(g, 60))
                .collect::<Vec<_>>()
                .join("; ")
        );
        if !locations.is_empty() {
            what.push_str(" at ");
            what.push_str(&compact_locations(
                &locations[..locations.len().min(MAX_LOCATIONS)],
            ));
            if locations.len() > MAX_LOCATIONS {
                what.push_str(&format!(" and {} more", locations.len() - MAX_LOCATIONS));
            }
        }
        lines.marker_counted(&run, in_run, &what)
    })
}

/// Lines the report repeats or does not need: a failing build's warnings' excerpts and the
/// context lines around flagged lines ([`excerpt`]), pytest locals that repeat their frame's
/// arguments ([`locals`]). Each kind leaves counted in one note closing the report, when that
/// note costs less than its lines.
fn fold_excerpts(
    src: &[&str],
    records: &[std::ops::Range<usize>],
    keep: &[bool],
    fold: &mut [bool],
    notes: &mut Vec<(usize, String)>,
) {
    let Some(last) = src.len().checked_sub(1) else {
        return;
    };
    let open = |i: &usize| keep[*i] && !fold[*i];
    // A warning's excerpt goes whether or not the repeat rule trimmed it already, as long as
    // its header shows (otherwise it is inside that record's own marker).
    let warnings: Vec<usize> = excerpt::warning_excerpts(src, records)
        .into_iter()
        .filter(|&(header, i)| keep[header] && !fold[i])
        .map(|(_, i)| i)
        .collect();
    let mut a_warnings = vec![false; src.len()];
    warnings.iter().for_each(|&i| a_warnings[i] = true);
    let context: Vec<usize> = excerpt::context_lines(src, records)
        .into_iter()
        .filter(|i| open(i) && !a_warnings[*i])
        .collect();
    let locals: Vec<usize> = locals::repeated_locals(src)
        .into_iter()
        .filter(open)
        .collect();
    for (picked, what) in [
        (
            warnings,
            "excerpt lines of warnings omitted: the errors keep theirs",
        ),
        (
            context,
            "source context lines omitted from excerpts: flagged lines stay",
        ),
        (
            locals,
            "lines of pytest locals omitted: each repeats its frame's argument line",
        ),
        (
            locals::frame_separators(src)
                .into_iter()
                .filter(open)
                .collect(),
            "`_ _ _` lines between frames omitted",
        ),
    ] {
        if picked.is_empty() {
            continue;
        }
        let note = format!("[… {} {what} …]", super::marker::thousands(picked.len()));
        let lines: Vec<&str> = picked.iter().map(|&i| src[i]).collect();
        if super::runs::run_is_worth_a_marker(&lines, &note) {
            picked.iter().for_each(|&i| fold[i] = true);
            notes.push((last, note));
        }
    }
    notes.sort_by_key(|(at, _)| *at);
}

/// libtest's `... ok` lines leave, counted in one note where the first stood (the run's
/// `test result:` line counts them too), when that note costs less than they do.
fn fold_passed_tests(
    src: &[&str],
    keep: &[bool],
    fold: &mut [bool],
    notes: &mut Vec<(usize, String)>,
) {
    let passed: Vec<usize> = trim::passed_tests(src)
        .into_iter()
        .filter(|&i| keep[i] && !fold[i])
        .collect();
    let Some(&first) = passed.first() else {
        return;
    };
    if first == 0 || passed.len() < 2 {
        return;
    }
    let note = format!("[… {} passed tests omitted …]", passed.len());
    let lines: Vec<&str> = passed.iter().map(|&i| src[i]).collect();
    if !super::runs::run_is_worth_a_marker(&lines, &note) {
        return;
    }
    passed.iter().for_each(|&i| fold[i] = true);
    notes.push((first - 1, note));
    notes.sort_by_key(|(at, _)| *at);
}

/// Every later instance of a boilerplate note that is still kept leaves, and one counted note
/// after the family's first kept instance says so — when that note costs less than they do.
/// Families whose first instances sit on consecutive lines share one note.
fn fold_boilerplate(
    src: &[&str],
    families: &[Vec<usize>],
    keep: &[bool],
) -> (Vec<bool>, Vec<(usize, String)>) {
    let mut fold = vec![false; src.len()];
    // (first kept line, later kept lines) per family, in line order.
    let mut found: Vec<(usize, Vec<usize>)> = families
        .iter()
        .filter_map(|family| {
            let mut kept = family.iter().copied().filter(|&i| keep[i]);
            let first = kept.next()?;
            let later: Vec<usize> = kept.collect();
            (later.len() >= 2).then_some((first, later))
        })
        .collect();
    found.sort_by_key(|(first, _)| *first);
    let mut notes = Vec::new();
    let mut k = 0;
    while k < found.len() {
        // A stretch of first instances on consecutive lines.
        let mut end = k + 1;
        while end < found.len() && found[end].0 == found[end - 1].0 + 1 {
            end += 1;
        }
        let later: Vec<usize> = found[k..end]
            .iter()
            .flat_map(|(_, l)| l.iter().copied())
            .collect();
        let above = if end - k == 1 {
            "the line above".to_string()
        } else {
            format!("the {} lines above", end - k)
        };
        let note = format!(
            "[… {} more like {above} omitted from later diagnostics …]",
            later.len()
        );
        let lines: Vec<&str> = later.iter().map(|&i| src[i]).collect();
        if super::runs::run_is_worth_a_marker(&lines, &note) {
            later.iter().for_each(|&i| fold[i] = true);
            notes.push((found[end - 1].0, note));
        }
        k = end;
    }
    (fold, notes)
}

/// `a.py:6:89, a.py:7:89, b.py:3:1` → `a.py:6:89, 7:89, b.py:3:1`: a location in the same file
/// as the one before it names only its line and column.
fn compact_locations(locations: &[&str]) -> String {
    let mut out = String::new();
    let mut prev_path: Option<&str> = None;
    for loc in locations {
        let (path, rest) = match loc.split_once(':') {
            Some((p, r)) if !p.is_empty() && r.starts_with(|c: char| c.is_ascii_digit()) => {
                (Some(p), r)
            }
            _ => (None, *loc),
        };
        if !out.is_empty() {
            out.push_str(", ");
        }
        if path.is_some() && path == prev_path {
            out.push_str(rest);
        } else {
            out.push_str(loc);
        }
        prev_path = path;
    }
    out
}

/// A linter's rule code as the first word of a message: `E501`, `B904`, `SIM108`, `UP031`.
fn is_rule_code(w: &str) -> bool {
    let letters = w.bytes().take_while(u8::is_ascii_uppercase).count();
    let digits = w.len() - letters;
    (1..=4).contains(&letters)
        && (2..=4).contains(&digits)
        && w[letters..].bytes().all(|b| b.is_ascii_digit())
}

/// Where each diagnostic starts and ends: a header line, then its notes and code excerpt
/// (indented lines, `= note:` lines, `-->` lines) up to the next header or a blank line.
fn split_records(src: &[&str]) -> Vec<Record> {
    let n = src.len();
    let mut records = Vec::new();
    let mut i = 0;
    while i < n {
        let l = src[i];
        // ruff's full format: `B904 Within an except clause …` above its `--> path:line:col`.
        let ruff_header = l.split_whitespace().next().is_some_and(is_rule_code)
            && src
                .get(i + 1)
                .is_some_and(|n| n.trim_start().starts_with("--> "));
        if !is_record_header(l) && !ruff_header {
            i += 1;
            continue;
        }
        let start = i;
        i += 1;
        while i < n
            && !src[i].trim().is_empty()
            && !is_record_header(src[i])
            && !is_summary_line(src[i])
        {
            i += 1;
        }
        // rustc separates diagnostics by one blank line; include it.
        if i < n && src[i].trim().is_empty() {
            i += 1;
        }
        let (group, location) = describe(&src[start..i]);
        records.push(Record {
            start,
            end: i,
            group,
            location,
        });
    }
    records
}

fn is_record_header(l: &str) -> bool {
    !l.starts_with(' ')
        && is_diagnostic_line(l)
        && !is_summary_line(l)
        && !l.starts_with("note: ")
        && !l.starts_with("help: ")
}

/// A diagnostic's group (its code, or its message template) and location.
fn describe(record: &[&str]) -> (String, String) {
    let head = record[0];
    let mut location = String::new();
    let mut message = head;
    if let Some((loc, rest)) = split_location(head) {
        location = loc.trim_end_matches(':').to_string();
        message = rest.trim();
    }
    for l in record.iter().skip(1) {
        if let Some(loc) = l.trim_start().strip_prefix("--> ") {
            if location.is_empty() {
                location = loc.trim().to_string();
            }
            break;
        }
    }
    // A code in brackets (`error[E0308]`, mypy's `[arg-type]`, ruff's `F401`, tsc's `TS2339`).
    let code = message
        .split_whitespace()
        .find(|w| {
            let w = w.trim_end_matches(':');
            (w.starts_with('[') && w.ends_with(']'))
                || w.contains("[E")
                || w.starts_with("TS") && w[2..].bytes().all(|b| b.is_ascii_digit()) && w.len() > 2
        })
        .or_else(|| {
            message
                .split_whitespace()
                .next()
                .filter(|w| is_rule_code(w))
        })
        .or_else(|| message.rsplit_once(" [").map(|(_, c)| c))
        .map(|c| c.trim_end_matches(':').to_string());
    let mut severity = message.split([':', '[']).next().unwrap_or("").trim();
    if message.split_whitespace().next().is_some_and(is_rule_code) {
        // `E501 Line too long (250 > 88)`: the code is the whole group.
        severity = "";
    }
    let group = match code {
        // `error[E0308]` already says its severity.
        Some(c) if !c.is_empty() && (severity.is_empty() || c.starts_with(severity)) => c,
        Some(c) if !c.is_empty() => format!("{severity} {c}"),
        _ => template(message),
    };
    (group, location)
}

#[cfg(test)]
mod tests;
