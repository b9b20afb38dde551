//! The source excerpts inside diagnostics that a reader of the report does not need, found
//! record by record: the context lines a compiler or linter prints around the line it flags
//! (ruff shows two either side, rustc and gcc some) or between the edits of a suggested fix,
//! and, in a build that fails on errors, the
//! excerpts of its warnings. Both leave without a marker each (a marker costs as much as a
//! source line); the compressor counts them in one note.
//!
//! Must never: pick a flagged line (one with an underline below it) or its underline, a line
//! of a multi-line span, an edit of a suggested fix (`9 - old`, `9 + new`, `7 ~ changed`), a
//! header, a `-->` location or a note; or pick anything from an excerpt with no flagged line
//! or a suggestion with no edit.

use super::super::detect::classify::split_location;
use super::trim::{is_excerpt_line, is_suggested_edit};
use std::ops::Range;

/// `  12 |     code` → `Some("    code")`: a numbered gutter line and its source text.
fn numbered_source(line: &str) -> Option<&str> {
    let t = line.trim_start();
    let digits = t.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return None;
    }
    let rest = t[digits..].trim_start_matches(' ');
    rest.strip_prefix('|')
}

/// `   |     ^^^^ expected `u32``, `      |  ~~~^~~`, `   | |____^`: the line under a flagged
/// source line (carets, tildes, dashes, span drawing), not an empty gutter.
fn is_underline(line: &str) -> bool {
    let t = line.trim_start();
    let Some(rest) = t.strip_prefix('|') else {
        return false;
    };
    rest.trim_start()
        .starts_with(['^', '~', '-', '_', '|', '/', '\\', '+'])
}

/// A source line drawn as part of a multi-line span (`157 | /  if a:`, `158 | |  b`).
fn in_span(source: &str) -> bool {
    let s = source.strip_prefix(' ').unwrap_or(source);
    let mut chars = s.chars();
    matches!(chars.next(), Some('/' | '|' | '\\' | '_'))
        && matches!(chars.next(), None | Some(' ' | '_'))
}

/// Whether a source line of an excerpt is flagged: the line below it underlines it.
fn is_flagged(src: &[&str], i: usize) -> bool {
    src.get(i + 1).is_some_and(|l| is_underline(l))
}

/// Context lines of every record's excerpts: numbered source lines nothing underlines, outside
/// multi-line spans, in records that flag at least one line (the flagged line and its
/// underline say where and what). In a `help:` suggestion the same goes for the unchanged
/// lines between its edits (`9 - old` / `9 + new` / `7 ~ changed`), when it has edits: the
/// numbered edits say what to change where.
pub fn context_lines(src: &[&str], records: &[Range<usize>]) -> Vec<usize> {
    let mut out = Vec::new();
    for r in records {
        // (candidates, whether the section shows what it is about) per section: the
        // excerpt, then each `help:` suggestion.
        let mut sections: Vec<(Vec<usize>, bool)> = vec![(Vec::new(), false)];
        let mut in_help = false;
        for i in r.start + 1..r.end {
            let t = src[i].trim_start();
            if t.starts_with("help:") {
                sections.push((Vec::new(), false));
                in_help = true;
                continue;
            }
            let Some(section) = sections.last_mut() else {
                continue;
            };
            let Some(source) = numbered_source(src[i]) else {
                // `9 - old`, `9 + new`, `7 ~ changed`: an edit of the suggestion.
                section.1 |= in_help && is_suggested_edit(src[i]);
                continue;
            };
            if is_flagged(src, i) {
                section.1 = true;
            } else if !in_span(source) {
                section.0.push(i);
            }
        }
        for (candidates, shown) in sections {
            if shown {
                out.extend(candidates);
            }
        }
    }
    out
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Level {
    Error,
    Warning,
    Note,
    Other,
}

/// The level a record's header line states: `error[E0308]: …`, `a.c:3:1: warning: …`.
fn level(header: &str) -> Level {
    let message = split_location(header)
        .map_or(header, |(_, rest)| rest)
        .trim_start();
    if message.starts_with("error") || message.starts_with("fatal error") {
        Level::Error
    } else if message.starts_with("warning") {
        Level::Warning
    } else if message.starts_with("note:") {
        Level::Note
    } else {
        Level::Other
    }
}

/// In a report with at least one error: the excerpt lines of its warnings (and of the notes
/// gcc prints as records of their own right after a warning), suggested edits aside, each with
/// the header line of its record. The build fails on the errors, which keep theirs; a
/// warning's header names its location and message.
pub fn warning_excerpts(src: &[&str], records: &[Range<usize>]) -> Vec<(usize, usize)> {
    let levels: Vec<Level> = records.iter().map(|r| level(src[r.start])).collect();
    if !levels.contains(&Level::Error) {
        return Vec::new();
    }
    let mut out = Vec::new();
    let mut owner = Level::Other;
    for (r, &lv) in records.iter().zip(&levels) {
        if lv != Level::Note {
            owner = lv;
        }
        if owner != Level::Warning {
            continue;
        }
        out.extend(
            (r.start + 1..r.end)
                .filter(|&i| is_excerpt_line(src[i]) && !is_suggested_edit(src[i]))
                .map(|i| (r.start, i)),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &str) -> Vec<&str> {
        text.split('\n').collect()
    }

    #[test]
    fn ruff_context_around_the_flagged_line_goes_and_the_fix_stays() {
        // ruff 0.17 over pygments/formatters (the corpus case, inside Claude Code's preview).
        let text =
            include_str!("../../../../tests/fixtures/realworld/ruff_full_persisted/input.txt");
        let src = lines(text);
        let at = |needle: &str| src.iter().position(|l| l.starts_with(needle)).unwrap();
        let start = at("B904 Within");
        let record = start..start + src[start..].iter().position(|l| l.is_empty()).unwrap();
        let picked = context_lines(&src, std::slice::from_ref(&record));
        let picked: Vec<&str> = picked.iter().map(|&i| src[i]).collect();
        assert_eq!(
            picked,
            [
                "109 |         return formatter_class(**options)",
                "110 |     except OSError as err:",
                "112 |     except ClassNotFound:",
                "113 |         raise",
            ]
        );
    }

    #[test]
    fn multi_line_spans_and_suggested_fixes_stay() {
        // ruff 0.17 over pluggy 1.7 (the held-out corpus case).
        let text = include_str!("../../../../tests/fixtures/realworld/ruff_full_pluggy/input.txt");
        let src = lines(text);
        let records = std::iter::once(0..src.len()).collect::<Vec<_>>();
        let picked: Vec<&str> = context_lines(&src, &records)
            .iter()
            .map(|&i| src[i])
            .collect();
        // The first record's context around its flagged `else:` goes, and so does the
        // unchanged line after the edits of its fix; the edits stay.
        assert!(picked.contains(&"110 |         if function is not None:"));
        assert!(!picked.contains(&"112 |         else:"));
        assert!(picked.contains(&"113 |"), "{picked:?}");
        assert!(!picked
            .iter()
            .any(|l| is_suggested_edit(l) || l.trim_start().starts_with("- ")));
        let per_record = |head: &str| {
            let start = src.iter().position(|l| l.starts_with(head)).unwrap();
            let end = start + src[start..].iter().position(|l| l.is_empty()).unwrap();
            context_lines(&src, std::slice::from_ref(&(start..end)))
                .iter()
                .map(|&i| src[i])
                .collect::<Vec<_>>()
        };
        let sim = per_record("SIM108");
        assert!(sim.contains(&"161 |"), "{sim:?}");
        assert!(
            !sim.iter().any(|l| l.contains("if firstresult:")),
            "{sim:?}"
        );
        assert!(
            !sim.iter().any(|l| l.contains("result = results")),
            "{sim:?}"
        );
    }

    #[test]
    fn a_failing_builds_warnings_lose_their_excerpts_and_its_errors_keep_them() {
        // gcc 12 over two small broken C files (the corpus case).
        let text = include_str!("../../../../tests/fixtures/realworld/gcc_errors/input.txt");
        let src = lines(text);
        let records: Vec<Range<usize>> = super::super::split_records(&src)
            .iter()
            .map(|r| r.start..r.end)
            .collect();
        let picked: Vec<&str> = warning_excerpts(&src, &records)
            .iter()
            .map(|&(_, i)| src[i])
            .collect();
        assert!(picked.contains(&"   32 |     memset(r->buf, 0, r->cap);"));
        assert!(
            picked.contains(&"  +++ |+#include <string.h>"),
            "the note under a warning"
        );
        assert!(!picked.contains(&"   21 |         r->head = (r->head + 1) % r->capacity;"));
        assert!(!picked.contains(&"   14 |     return (r->head - r->tail) % r->cap"));
        assert!(!picked
            .iter()
            .any(|l| l.contains("warning:") || l.contains("note:")));
        // Without an error, warnings keep their excerpts.
        let warnings_only: Vec<Range<usize>> = records
            .iter()
            .filter(|r| !src[r.start].contains("error:"))
            .cloned()
            .collect();
        assert!(warning_excerpts(&src, &warnings_only).is_empty());
    }
}
