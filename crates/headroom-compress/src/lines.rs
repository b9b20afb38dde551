//! The Claude Code envelope around a block's lines, for the structure-aware compressors (code,
//! diagnostics, git, markdown, tables, logs): a leading `<system-reminder>` or
//! `<persisted-output>` header and its tail are set aside verbatim, and `N<TAB>` / `cat -n` /
//! `git blame` line prefixes are stripped so compressors judge plain lines while the output keeps
//! them, and markers cite exact line ranges. Rendering goes through [`super::runs::emit`], the
//! one line-selection primitive (keep mask in, one marker per dropped run out, a run cheaper
//! than its marker kept as it was). Also the task-identifier matcher and mask helpers.
//!
//! Must never: drop a line the mask keeps, reorder lines, or emit two markers for one run.

use super::runs::{emit, emit_folded, KeepMask};
use std::ops::Range;

/// A block split into lines, with the Claude Code envelope set aside.
pub struct Lines<'a> {
    /// Text kept verbatim before the lines (`<system-reminder>…</system-reminder>\n`, the
    /// `<persisted-output>` header up to its preview).
    pub head: &'a str,
    /// Text kept verbatim after the lines (`...\n</persisted-output>`).
    pub tail: &'a str,
    /// The raw lines, prefixes included (what the output shows).
    pub raw: Vec<&'a str>,
    /// The lines without their `N<TAB>` prefix (what compressors read).
    pub text: Vec<&'a str>,
    /// The line numbers the prefixes carried, when every non-empty line had one.
    pub numbers: Option<Vec<usize>>,
}

impl<'a> Lines<'a> {
    pub fn new(block: &'a str) -> Self {
        let (head, body, tail) = envelope(block);
        let raw: Vec<&str> = body.split('\n').collect();
        let mut text = Vec::with_capacity(raw.len());
        let mut numbers = Vec::with_capacity(raw.len());
        let mut numbered = 0;
        for line in &raw {
            match strip_number(line) {
                Some((n, rest)) => {
                    numbered += 1;
                    numbers.push(n);
                    text.push(rest);
                }
                None => {
                    numbers.push(0);
                    text.push(*line);
                }
            }
        }
        let nonempty = raw.iter().filter(|l| !l.is_empty()).count();
        // Line numbers count up by one (a first column of ids or counts followed by a tab is
        // data, not a Read page's numbering).
        let steps = numbers.windows(2).filter(|w| w[0] > 0 && w[1] > 0).count();
        let consecutive = numbers
            .windows(2)
            .filter(|w| w[0] > 0 && w[1] == w[0] + 1)
            .count();
        let numbers =
            (nonempty > 0 && numbered * 10 >= nonempty * 9 && consecutive * 10 >= steps * 9)
                .then_some(numbers);
        let text = if numbers.is_some() { text } else { raw.clone() };
        Lines {
            head,
            tail,
            raw,
            text,
            numbers,
        }
    }

    pub fn len(&self) -> usize {
        self.raw.len()
    }

    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }

    /// The line numbers a run of lines covers (`212–388`), when lines carry numbers.
    pub fn span(&self, run: &Range<usize>) -> Option<(usize, usize)> {
        let numbers = self.numbers.as_ref()?;
        let first = numbers[run.clone()].iter().find(|&&n| n > 0)?;
        let last = numbers[run.clone()].iter().rev().find(|&&n| n > 0)?;
        Some((*first, *last))
    }

    /// Renders the kept lines through [`emit`] (the one line-selection primitive): each
    /// dropped run becomes the line `marker(run)` returns (the run's line indices), unless the
    /// run is cheaper than its marker. Returns `None` when nothing was dropped.
    pub fn render(
        &self,
        keep: &[bool],
        marker: impl FnMut(Range<usize>) -> String,
    ) -> Option<String> {
        if keep.iter().all(|&k| k) {
            return None;
        }
        let out = emit(&self.raw, &KeepMask::from_vec(keep.to_vec()), marker).if_dropped()?;
        Some(format!("{}{out}{}", self.head, self.tail))
    }

    /// Renders like [`Lines::render`], except that the lines `fold` marks leave without a
    /// marker of their own: each `(line, note)` of `notes` (in line order) is written right
    /// after that kept line and stands for them. `marker` gets a dropped run's line indices and
    /// how many of its lines it stands for (folded lines inside the run are their note's).
    /// Only for blocks without line numbers: a folded line leaves no gap a range could cite.
    pub fn render_folded(
        &self,
        keep: &[bool],
        fold: &[bool],
        notes: &[(usize, String)],
        mut marker: impl FnMut(Range<usize>, usize) -> String,
    ) -> Option<String> {
        if notes.is_empty() || self.numbers.is_some() {
            return self.render(keep, |run| {
                let count = run.len();
                marker(run, count)
            });
        }
        let out = emit_folded(&self.raw, keep, fold, notes, marker);
        Some(format!("{}{}{}", self.head, out.text, self.tail))
    }

    /// A marker naming the run's size, its line range when known, and `what` was in it.
    pub fn marker(&self, run: &Range<usize>, what: &str) -> String {
        self.marker_counted(run, run.len(), what)
    }

    /// [`Lines::marker`] for a run that stands for `count` of its lines.
    pub fn marker_counted(&self, run: &Range<usize>, count: usize, what: &str) -> String {
        let unit = if count == 1 { "line" } else { "lines" };
        let detail = if what.is_empty() {
            String::new()
        } else {
            format!(": {what}")
        };
        match self.span(run) {
            Some((a, b)) if a != b => format!("[… lines {a}–{b} omitted{detail} …]"),
            Some((a, _)) => format!("[… line {a} omitted{detail} …]"),
            None => format!(
                "[… {} {unit} omitted{detail} …]",
                super::marker::thousands(count)
            ),
        }
    }
}

/// The identifiers a task names (`try_lock`, `HttpProxy`, `Mutex::lock`), matched inside
/// longer identifiers too: `try_lock` hits `TryLockError` and `try_lock_owned`.
#[derive(Debug, Default)]
pub struct Identifiers {
    names: Vec<String>,
}

impl Identifiers {
    pub fn new(task: &str) -> Self {
        let mut names: Vec<String> = Vec::new();
        for w in super::marker::words(task) {
            let inner_upper = w.chars().skip(1).any(|c| c.is_ascii_uppercase());
            if !(w.contains('_') || inner_upper) {
                continue;
            }
            let norm = normalize(w);
            if norm.len() >= 5 && !names.contains(&norm) {
                names.push(norm);
            }
        }
        Identifiers { names }
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    pub fn matches(&self, line: &str) -> bool {
        !self.names.is_empty()
            && super::marker::words(line).any(|w| {
                w.len() >= 5 && {
                    let norm = normalize(w);
                    self.names.iter().any(|n| norm.contains(n.as_str()))
                }
            })
    }
}

fn normalize(w: &str) -> String {
    w.chars()
        .filter(|&c| c != '_')
        .flat_map(char::to_lowercase)
        .collect()
}

/// How many different task words `text` holds (a unit where several meet is relevant; one
/// word alone is a weak hint).
pub fn distinct_task_words(words: &super::marker::TaskWords, text: &str) -> usize {
    let mut seen: Vec<String> = Vec::new();
    for w in super::marker::words(text) {
        if w.len() >= 3 && words.matches(w) {
            let lower = w.to_lowercase();
            if !seen.contains(&lower) {
                seen.push(lower);
            }
        }
    }
    seen.len()
}

/// Keeps dropped runs shorter than `min_run` lines. Most compressors leave this to the cost
/// rule in [`emit`]; diagnostics keep lone lines inside the excerpts they show.
pub fn close_small_gaps(keep: &mut [bool], min_run: usize) {
    let n = keep.len();
    let mut i = 0;
    while i < n {
        if keep[i] {
            i += 1;
            continue;
        }
        let start = i;
        while i < n && !keep[i] {
            i += 1;
        }
        if i - start < min_run {
            keep[start..i].iter_mut().for_each(|k| *k = true);
        }
    }
}

/// Marks `radius` lines either side of every line `hit` marks.
pub fn widen(keep: &mut [bool], hit: &[bool], radius: usize) {
    let n = keep.len();
    for (i, _) in hit.iter().enumerate().filter(|(_, &h)| h) {
        let lo = i.saturating_sub(radius);
        let hi = (i + radius + 1).min(n);
        keep[lo..hi].iter_mut().for_each(|k| *k = true);
    }
}

/// `12\ttext` (Claude Code Read) or `    12\ttext` / `    12→text` (`cat -n`, older Read).
pub fn strip_number(line: &str) -> Option<(usize, &str)> {
    if let Some(blamed) = strip_blame(line) {
        return Some(blamed);
    }
    let t = line.trim_start_matches(' ');
    let digits = t.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 || digits > 9 {
        return None;
    }
    let rest = &t[digits..];
    let rest = rest.strip_prefix('\t').or_else(|| rest.strip_prefix('→'))?;
    let n = t[..digits].parse().ok()?;
    Some((n, rest))
}

/// `git blame`'s prefix: `671f700d (David Tolnay 2024-12-22 03:11:30 -0800  99) code` (a
/// `^` before a boundary commit's hash, a path after the hash with `-f`), as the file's line
/// number and the code after it, so a blamed file reads as the code it annotates.
fn strip_blame(line: &str) -> Option<(usize, &str)> {
    let (hash, rest) = line.split_once(' ')?;
    let hash = hash.strip_prefix('^').unwrap_or(hash);
    if !(7..=40).contains(&hash.len()) || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let open = rest.find('(')?;
    let close = open + rest[open..].find(')')?;
    let inside = &rest[open + 1..close];
    let number = inside.rsplit(' ').next()?;
    let dated = inside
        .split(' ')
        .any(|w| w.len() == 10 && w.as_bytes()[4] == b'-' && w.as_bytes()[7] == b'-');
    if !dated || number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let code = &rest[close + 1..];
    let code = code.strip_prefix(' ').unwrap_or(code);
    Some((number.parse().ok()?, code))
}

/// Splits a Claude Code envelope off a block: (verbatim head, body, verbatim tail).
pub fn envelope(block: &str) -> (&str, &str, &str) {
    let mut head_end = 0;
    let rest = block;
    if rest.starts_with("<system-reminder>") {
        if let Some(end) = rest.find("</system-reminder>") {
            let mut e = end + "</system-reminder>".len();
            if rest[e..].starts_with('\n') {
                e += 1;
            }
            head_end = e;
        }
    } else if rest.starts_with("<persisted-output>") {
        // Header lines up to and including `Preview (…):`.
        if let Some(p) = rest.find("\nPreview") {
            if let Some(nl) = rest[p + 1..].find('\n') {
                head_end = p + 1 + nl + 1;
            }
        }
    }
    let body = &block[head_end..];
    let mut tail_start = block.len();
    if block.starts_with("<persisted-output>") {
        if let Some(t) = body.rfind("\n</persisted-output>") {
            let mut t = head_end + t;
            if block[..t].ends_with("\n...") {
                t -= 4;
            }
            tail_start = t;
        }
    }
    (
        &block[..head_end],
        &block[head_end..tail_start],
        &block[tail_start..],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_pages_lose_prefixes_for_compressors_and_keep_them_in_output() {
        let block = "<system-reminder>partial view</system-reminder>\n10\tfn a() {\n11\t    let first = compute_the_first_value();\n12\t    let second = compute_the_second_value();\n13\t}";
        let lines = Lines::new(block);
        assert_eq!(
            lines.head,
            "<system-reminder>partial view</system-reminder>\n"
        );
        assert_eq!(lines.text[0], "fn a() {");
        let keep = [true, false, false, true];
        let out = lines.render(&keep, |r| lines.marker(&r, "body")).unwrap();
        assert_eq!(
            out,
            "<system-reminder>partial view</system-reminder>\n10\tfn a() {\n[… lines 11–12 omitted: body …]\n13\t}"
        );
        // A run cheaper than its marker stays as it was.
        let short = Lines::new("10\tfn a() {\n11\t    1\n12\t}");
        assert_eq!(
            short.render(&[true, false, true], |r| short.marker(&r, "body")),
            None
        );
    }

    #[test]
    fn a_numbered_first_column_that_does_not_count_up_is_data() {
        let lines = Lines::new("17\tGET /a\n4\tGET /b\n230\tPOST /c\n9\tGET /d");
        assert!(lines.numbers.is_none());
        assert_eq!(lines.text[0], "17\tGET /a");
    }

    #[test]
    fn persisted_output_keeps_its_header_and_closing_tag() {
        let block = "<persisted-output>\nOutput too large (41.0KB). Full output saved to: /x\n\nPreview (first 2KB):\na\nb\n...\n</persisted-output>";
        let (head, body, tail) = envelope(block);
        assert!(head.ends_with("Preview (first 2KB):\n"));
        assert_eq!(body, "a\nb");
        assert_eq!(tail, "\n...\n</persisted-output>");
    }

    #[test]
    fn small_gaps_are_closed() {
        let mut keep = [true, false, true, false, false, false, true];
        close_small_gaps(&mut keep, 2);
        assert_eq!(keep, [true, true, true, false, false, false, true]);
    }

    #[test]
    fn folded_lines_leave_one_note_and_runs_count_only_their_own_lines() {
        let block = "head\n  = note: same\nbody one\n  = note: same\ndropped a: the first of two lines long enough together to be worth a marker\ndropped b: and the second of them, which says nothing the reader needs here\n  = note: same\nend";
        let lines = Lines::new(block);
        let keep = [true, true, true, true, false, false, true, true];
        let fold = [false, false, false, true, false, false, true, false];
        let notes = vec![(1, "[… 2 more like the line above omitted …]".to_string())];
        let out = lines
            .render_folded(&keep, &fold, &notes, |run, n| {
                format!("[… {n} of lines {}–{} omitted …]", run.start, run.end - 1)
            })
            .unwrap();
        assert_eq!(
            out,
            "head\n  = note: same\n[… 2 more like the line above omitted …]\nbody one\n[… 2 of lines 4–5 omitted …]\nend"
        );
    }

    #[test]
    fn git_blame_reads_as_the_code_it_annotates() {
        // `git blame -L 1,200 src/context.rs` of dtolnay/anyhow (the held-out corpus case).
        let text =
            include_str!("../../../tests/fixtures/realworld/git_blame_anyhow_context/input.txt");
        let lines = Lines::new(text);
        let numbers = lines.numbers.as_ref().unwrap();
        assert_eq!(numbers[98], 99);
        assert_eq!(
            lines.text[98],
            "            None => Err(Error::construct_from_display(context, backtrace!())),"
        );
        assert_eq!(lines.text[4], "");
        assert_eq!(crate::detect::detect(text), crate::detect::Kind::Code);
        // The question names Option: the small impl for Option stays whole, blame and all.
        let task =
            "When was the None branch of context() for Option last changed, and in which commit?";
        let out = crate::code::compress_code(text, task).unwrap();
        assert!(out.contains("671f700d (David Tolnay 2024-12-22 03:11:30 -0800  99)             None => Err(Error::construct_from_display(context, backtrace!())),"), "{out}");
        assert!(out.contains("[… lines "), "{out}");
        assert!(out.len() < text.len());
        // Not blame: a hash-led line without a dated parenthesis.
        assert_eq!(strip_number("3fce3b5 (tag: v1) ripgrep 14"), None);
    }
}
