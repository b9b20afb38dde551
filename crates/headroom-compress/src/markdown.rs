//! Documents: Markdown (READMEs, changelogs), plain prose with structure (licence texts, man
//! pages) and the text of HTML pages. Every heading stays, and with it the document's opening
//! paragraph and each section's first line (unless units the task names or three of its words
//! meet in answer it); paragraphs, bullets and code blocks the task's words hit stay whole. Everything else becomes one marker per run, so a kept bullet always
//! sits under the heading that gives it its meaning (a changelog line under its version);
//! definitions (man page options) the task's words do not meet in keep their term lines
//! together under one counted note per section, when that costs less than what it replaces.
//!
//! Must never: drop a heading, or keep a unit without the heading above it.

use super::detect::classify::is_changelog_entry;
use super::jsonmap::Terms;
use super::lines::{distinct_task_words, Identifiers, Lines};
use super::marker::TaskWords;
use super::{BlockInput, CompressError, Compressor};

pub struct DocumentCompressor;

impl Compressor for DocumentCompressor {
    fn name(&self) -> &'static str {
        "document"
    }

    fn compress(&self, input: &BlockInput<'_>) -> Result<Option<String>, CompressError> {
        Ok(compress_document(input.text, input.task))
    }
}

/// One paragraph, bullet, or fenced code block: lines `start..end`.
struct Unit {
    start: usize,
    end: usize,
}

pub fn compress_document(text: &str, task: &str) -> Option<String> {
    let lines = Lines::new(text);
    let src = &lines.text;
    let n = src.len();
    if n < 12 {
        return None;
    }
    let heading = headings(src);
    let units = split_units(src, &heading);
    let mut keep = heading.clone();
    // The opening paragraph says what the document is.
    // (and when it is markup or badges, the first paragraph of prose too).
    let prose = units.iter().find(|u| {
        let t = src[u.start].trim_start();
        !(t.starts_with('<') || t.starts_with('[') || t.starts_with('!'))
    });
    // So does the first paragraph under the first heading, when it is short (an HTML page's
    // body after its title and navigation).
    let first_heading = heading.iter().position(|&h| h);
    let body = first_heading
        .and_then(|h| units.iter().find(|u| u.start > h))
        .filter(|u| u.end - u.start <= 8);
    for u in units.first().into_iter().chain(prose).chain(body) {
        keep[u.start..u.end].iter_mut().for_each(|k| *k = true);
    }
    let texts: Vec<String> = units
        .iter()
        .map(|u| src[u.start..u.end].join("\n"))
        .collect();
    let words =
        TaskWords::new(task).selective(texts.iter().map(String::as_str), (units.len() / 12).max(2));
    let idents = Identifiers::new(task);
    let terms = Terms::new(task);
    let hit_lines: Vec<usize> = units
        .iter()
        .map(|u| {
            src[u.start..u.end]
                .iter()
                .filter(|l| words.matches(l) || idents.matches(l))
                .count()
        })
        .collect();
    // A task word found in one unit only points at it; one word sprinkled over several units
    // with nothing else of the task beside it ("error" on a page explaining an error) is the
    // page's own vocabulary, met by chance.
    let lone_hit = hit_lines.iter().filter(|&&h| h > 0).count() == 1;
    let mut any_hit = false;
    let mut answered = false;
    // Lines kept because the task's words met in their unit.
    let mut for_task = vec![false; n];
    for ((u, t), &hits) in units.iter().zip(&texts).zip(&hit_lines) {
        // A unit is relevant when the task's words meet in it, or it names a task identifier.
        let distinct = distinct_task_words(&words, t);
        let specific = idents.matches(t) || terms.matches_specific(t);
        if hits > 0 && (distinct >= 2 || specific || lone_hit) || terms.matches_specific(t) {
            // Only a unit kept for the task counts as the task naming something, so a vague
            // question whose words met by chance still reads a short page for an overview.
            any_hit = true;
            keep[u.start..u.end].iter_mut().for_each(|k| *k = true);
            for_task[u.start..u.end].iter_mut().for_each(|k| *k = true);
            // Two common words meet by chance (a vague question's "project", "README");
            // three, or a name the task gives, are what it asked about.
            answered |= specific || hits > 0 && distinct >= 3;
        }
    }
    // Each section's first line (unless the task was answered), and the first line of each
    // definition (`--follow` above its indented description).
    let mut after_heading = true;
    let mut prev_end = 0;
    for u in &units {
        if (prev_end..u.start).any(|i| heading[i]) {
            after_heading = true;
        }
        // Once the task's words found their units, other sections' openings are not the
        // answer: headings alone map the document.
        let opening = after_heading && !answered;
        if opening || is_definition(src, u) || is_one_line_entry(src[u.start]) {
            keep_opening(src, u, keep.as_mut_slice());
        }
        after_heading = false;
        prev_end = u.end;
    }
    // A short page read for an overview: every paragraph's opening sentence is the summary.
    let total: usize = src.iter().map(|l| l.len() + 1).sum();
    let share = if !any_hit && total <= SHORT_DOCUMENT {
        1.0
    } else if answered {
        ANSWERED_KEPT_SHARE
    } else {
        MIN_KEPT_SHARE
    };
    fill_first_lines(src, &units, &mut keep, share);
    let plain = lines.render(&keep, |run| lines.marker(&run, ""));
    match (
        fold_definitions(&lines, &units, &heading, &keep, &for_task),
        plain,
    ) {
        (Some(folded), Some(plain))
            if super::tokens::estimate(&folded) >= super::tokens::estimate(&plain) =>
        {
            Some(plain)
        }
        (folded, plain) => folded.or(plain),
    }
}

/// A definition's term line and the lines of its description.
type Definition = (usize, std::ops::Range<usize>);

/// Definitions (a man page's options, a glossary) the task's words did not meet in leave
/// their term lines standing together, and one note under the section's heading counts the
/// descriptions, instead of a marker under every term (or, for a short description, the
/// description itself, which only the cost rule kept). A description runs from the term to
/// the next line indented no deeper than the term (curl's options have several paragraphs and
/// an `Example:` each); openings kept inside it go with it. `None` when no section has two
/// such definitions or the notes would not pay for themselves, and for Read pages (whose
/// markers cite line ranges).
fn fold_definitions(
    lines: &Lines<'_>,
    units: &[Unit],
    heading: &[bool],
    keep: &[bool],
    for_task: &[bool],
) -> Option<String> {
    if lines.numbers.is_some() {
        return None;
    }
    let src = &lines.text;
    let n = src.len();
    // Section heading line → (definitions, lines counted).
    let mut sections: Vec<(usize, Vec<Definition>, usize)> = Vec::new();
    let mut k = 0;
    while k < units.len() {
        let u = &units[k];
        k += 1;
        if !is_definition(src, u) || !keep[u.start] {
            continue;
        }
        let depth = indent(src[u.start]);
        // The description: this unit's lines after the term and every later unit indented
        // deeper than the term, with no heading in between.
        let mut end = u.end;
        let mut next = k;
        while next < units.len()
            && indent(src[units[next].start]) > depth
            && !(end..units[next].start).any(|i| heading[i])
        {
            end = units[next].end;
            next += 1;
        }
        let description = u.start + 1..end;
        if for_task[description.clone()].contains(&true) {
            continue;
        }
        k = next;
        let Some(h) = (0..u.start).rev().find(|&i| heading[i]) else {
            continue;
        };
        let counted = src[description.clone()]
            .iter()
            .filter(|l| !l.trim().is_empty())
            .count();
        match sections.last_mut() {
            Some((at, defs, c)) if *at == h => {
                defs.push((u.start, description));
                *c += counted;
            }
            _ => sections.push((h, vec![(u.start, description)], counted)),
        }
    }
    let mut fold = vec![false; n];
    let mut keep = keep.to_vec();
    let mut notes = Vec::new();
    for (h, defs, count) in sections {
        if defs.len() < 2 {
            continue;
        }
        let note = format!(
            "[… descriptions of {} entries below omitted ({} lines) …]",
            defs.len(),
            super::marker::thousands(count)
        );
        let mut folded: Vec<usize> = defs.iter().flat_map(|(_, d)| d.clone()).collect();
        // The blank lines between two folded definitions go with them: their terms read as
        // one list.
        for w in defs.windows(2) {
            folded.extend((w[0].1.end..w[1].0).filter(|&i| src[i].trim().is_empty()));
        }
        let texts: Vec<&str> = folded
            .iter()
            .filter(|&&i| !keep[i])
            .map(|&i| src[i])
            .collect();
        if !super::runs::run_is_worth_a_marker(&texts, &note) && texts.len() == folded.len() {
            continue;
        }
        for &i in &folded {
            fold[i] = true;
            keep[i] = false;
        }
        notes.push((h, note));
    }
    if notes.is_empty() {
        return None;
    }
    lines.render_folded(&keep, &fold, &notes, |run, count| {
        lines.marker_counted(&run, count, "")
    })
}

/// Share of the document's text that headings and hits leave at least; below it, paragraphs'
/// first lines are added in document order, so a vague question still sees what each part says.
const MIN_KEPT_SHARE: f64 = 0.2;
/// The same floor when units the task's words meet in (or that name its identifiers) stay:
/// the rest is context, not the answer.
const ANSWERED_KEPT_SHARE: f64 = 0.1;

/// Documents up to this many bytes of text, read with a question that names nothing in them,
/// keep the opening of every paragraph.
const SHORT_DOCUMENT: usize = 12 * 1024;

fn fill_first_lines(src: &[&str], units: &[Unit], keep: &mut [bool], share: f64) {
    let total: usize = src.iter().map(|l| l.len() + 1).sum();
    let mut kept: usize = src
        .iter()
        .zip(keep.iter())
        .filter(|(_, &k)| k)
        .map(|(l, _)| l.len() + 1)
        .sum();
    let target = (total as f64 * share) as usize;
    for u in units {
        if kept >= target {
            break;
        }
        if !keep[u.start] {
            let end = keep_opening(src, u, keep);
            kept += src[u.start..end].iter().map(|l| l.len() + 1).sum::<usize>();
        }
    }
}

/// Lines a paragraph's opening may take to finish its first sentence.
const OPENING_MAX_LINES: usize = 3;

/// Keeps a unit's opening: its first line, continued to the end of the first sentence when
/// that line stops mid-sentence (within [`OPENING_MAX_LINES`]). Returns the end of the kept
/// lines. A definition's term line stands alone.
fn keep_opening(src: &[&str], u: &Unit, keep: &mut [bool]) -> usize {
    let mut end = u.start + 1;
    if !is_definition(src, u) {
        while end < u.end && end - u.start < OPENING_MAX_LINES && !ends_sentence(src[end - 1]) {
            end += 1;
        }
        if !ends_sentence(src[end - 1]) {
            end = u.start + 1;
        }
    }
    keep[u.start..end].iter_mut().for_each(|k| *k = true);
    end
}

/// Whether a line finishes a sentence (or a sentence ends inside it).
fn ends_sentence(line: &str) -> bool {
    let t = line.trim_end();
    t.ends_with(['.', ':', '!', '?', ';']) || t.contains(". ") || t.is_empty()
}

/// Which lines are headings: ATX (`## x`), setext (with their underline), man-page and
/// licence section titles (short all-caps lines, `4. Conveying Verbatim Copies.`).
fn headings(src: &[&str]) -> Vec<bool> {
    let n = src.len();
    let mut h = vec![false; n];
    let mut in_fence = false;
    for i in 0..n {
        let t = src[i].trim();
        if t.starts_with("```") || t.starts_with("~~~") {
            in_fence = !in_fence;
            continue;
        }
        if in_fence || t.is_empty() {
            continue;
        }
        let hashes = t.bytes().take_while(|&b| b == b'#').count();
        let atx =
            (1..=6).contains(&hashes) && t[hashes..].starts_with(' ') && !src[i].starts_with(' ');
        let underline = |l: &str| {
            let u = l.trim();
            u.len() >= 3 && (u.bytes().all(|b| b == b'=') || u.bytes().all(|b| b == b'-'))
        };
        let setext = i + 1 < n && underline(src[i + 1]) && !underline(t);
        let letters: Vec<char> = t.chars().filter(|c| c.is_alphabetic()).collect();
        let caps = letters.len() >= 3 && t.len() <= 60 && letters.iter().all(|c| c.is_uppercase());
        let numbered_title = t.len() <= 70
            && t.split_once(". ").is_some_and(|(num, title)| {
                !num.is_empty()
                    && num.bytes().all(|b| b.is_ascii_digit())
                    && title.ends_with('.')
                    && !title[..title.len() - 1].contains('.')
                    && title.chars().next().is_some_and(char::is_uppercase)
            });
        // A man page's subsection: a short, slightly indented line above deeper text.
        let ind = indent(src[i]);
        let sub = (1..=4).contains(&ind)
            && t.len() <= 50
            && !t.ends_with('.')
            && i + 1 < n
            && indent(src[i + 1]) > ind + 2
            && !src[i + 1].trim().is_empty();
        let html_heading = t.len() >= 4
            && t.starts_with("<h")
            && t.as_bytes()[2].is_ascii_digit()
            && !src[i].starts_with(' ');
        let changelog_entry = is_changelog_entry(src[i]);
        if atx || setext || caps || numbered_title || sub || html_heading || changelog_entry {
            h[i] = true;
            if setext {
                h[i + 1] = true;
            }
        }
    }
    h
}

fn indent(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

fn is_bullet(line: &str) -> bool {
    let t = line.trim_start();
    if t.starts_with("- ") || t.starts_with("* ") || t.starts_with("+ ") {
        return true;
    }
    let digits = t.bytes().take_while(u8::is_ascii_digit).count();
    digits > 0 && digits <= 3 && (t[digits..].starts_with(". ") || t[digits..].starts_with(") "))
}

/// Paragraphs (split at bullets) and fenced code blocks, skipping headings and blank lines.
fn split_units(src: &[&str], heading: &[bool]) -> Vec<Unit> {
    let n = src.len();
    let mut units = Vec::new();
    let mut i = 0;
    while i < n {
        let t = src[i].trim();
        if t.is_empty() || heading[i] {
            i += 1;
            continue;
        }
        let start = i;
        if t.starts_with("```") || t.starts_with("~~~") {
            i += 1;
            while i < n && !(src[i].trim().starts_with("```") || src[i].trim().starts_with("~~~")) {
                i += 1;
            }
            i = (i + 1).min(n);
        } else {
            i += 1;
            while i < n
                && !src[i].trim().is_empty()
                && !heading[i]
                && !is_bullet(src[i])
                && !src[i].trim().starts_with("```")
            {
                i += 1;
            }
        }
        units.push(Unit { start, end: i });
    }
    units
}

/// A list entry on one line: a short term, a run of spaces, its description
/// (`2      Fatal error.`, `-a, --all    do not ignore entries`).
fn is_one_line_entry(line: &str) -> bool {
    let t = line.trim_start();
    let Some(gap) = t.find("  ") else {
        return false;
    };
    let term = &t[..gap];
    let rest = t[gap..].trim_start();
    !term.is_empty() && term.len() <= 24 && !rest.is_empty() && indent(line) > 0
}

/// A short first line above a more indented body: a man page option or a definition term.
fn is_definition(src: &[&str], u: &Unit) -> bool {
    u.end - u.start >= 2
        && src[u.start].trim().len() <= 60
        && indent(src[u.start + 1]) > indent(src[u.start])
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHANGELOG: &str = "# Changelog\n\nAll notable changes.\n\n## 1.2.0 (2024-01-02)\n\n- parser: add `frobnicate()` support\n- docs: typo fixes\n- build: bump dependency one\n- build: bump dependency two\n\n## 1.1.0 (2023-05-06)\n\n- runtime: faster spawning\n- runtime: fewer allocations\n- io: new buffered reader\n- io: new buffered writer\n- io: vectored writes on every platform\n- fs: metadata calls reuse one buffer\n";

    #[test]
    fn a_kept_bullet_keeps_its_version_heading() {
        let out = compress_document(CHANGELOG, "which release added frobnicate()?").unwrap();
        assert!(out.contains("## 1.2.0 (2024-01-02)\n\n- parser: add `frobnicate()` support"));
        assert!(out.contains("## 1.1.0 (2023-05-06)"));
        assert!(!out.contains("new buffered writer"));
        assert!(out.contains("lines omitted"));
    }

    #[test]
    fn a_paragraph_opening_runs_to_the_end_of_its_first_sentence() {
        let mut doc = String::from("# API\n\nWhat the library does.\n\n");
        for k in 0..8 {
            doc.push_str(&format!(
                "## Function f{k}\n\nFirst line of f{k} which stops\nmid-sentence here. More.\nAnd a third line.\nAnd a fourth line.\n\nSecond paragraph of f{k} returns OK if everything\nwent ok, or an error.\nTrailing detail one.\nTrailing detail two.\nTrailing detail three, which is longer.\nTrailing detail four.\n\n"
            ));
        }
        let out = compress_document(&doc, "what does this page explain?").unwrap();
        // A short page read for an overview: every paragraph's first sentence.
        assert!(out.contains("First line of f3 which stops\nmid-sentence here. More."));
        assert!(
            out.contains("returns OK if everything\nwent ok, or an error."),
            "{out}"
        );
        assert!(!out.contains("Trailing detail two."), "{out}");
    }

    #[test]
    fn man_page_sections_and_options_stay() {
        let page = "NAME\n       tool - does things\n\nSYNOPSIS\n       tool [options]\n\nOPTIONS\n       --follow\n           Continue listing the history beyond renames.\n           More text here.\n\n       --other\n           Something else entirely, described at length.\n           Even more.\n\nEXIT STATUS\n       0 on success.\n";
        let out = compress_document(page, "how do I keep following history across renames?")
            .unwrap_or_else(|| page.to_string());
        assert!(out.contains("EXIT STATUS"));
        assert!(out
            .contains("       --follow\n           Continue listing the history beyond renames."));
        assert!(out.contains("       --other"));
    }

    #[test]
    fn a_man_pages_dropped_option_descriptions_are_counted_under_their_section() {
        // `MANWIDTH=100 man -P cat tar` (the corpus case).
        let page = include_str!("../../../tests/fixtures/realworld/man_tar/input.txt");
        let out = compress_document(page, "What does this man page cover?").unwrap();
        assert!(
            out.contains("       -c, --create\n       -d, --diff, --compare\n"),
            "{out}"
        );
        let lines: Vec<&str> = out.lines().collect();
        let at = lines
            .iter()
            .position(|l| *l == "   Operation modifiers")
            .unwrap();
        let note = lines[at + 1];
        assert!(
            note.starts_with("[… descriptions of ") && note.contains(" entries below omitted ("),
            "{note}"
        );
        assert!(
            out.contains("       --check-device\n       -g, --listed-incremental=FILE\n"),
            "{out}"
        );
        // A description the task asks about stays under its option.
        let out =
            compress_document(page, "What does --keep-old-files do when extracting?").unwrap();
        assert!(out.contains("       -k, --keep-old-files\n              Don't replace existing files when extracting."), "{out}");
        for heading in [
            "NAME",
            "SYNOPSIS",
            "DESCRIPTION",
            "OPTIONS",
            "RETURN VALUE",
            "SEE ALSO",
        ] {
            assert!(out.lines().any(|l| l == heading), "{heading}");
        }
    }

    #[test]
    fn once_the_task_is_answered_other_sections_keep_only_their_headings() {
        // regex's CHANGELOG.md from the cargo registry (the corpus case).
        let log = include_str!("../../../tests/fixtures/realworld/changelog_regex_large/input.txt");
        let opening =
            "This is a release that fixes a bug where incorrect regex match offsets could be";
        let task = "Which regex release added the \\< and \\> word boundary assertions, and what MSRV did it require?";
        let out = compress_document(log, task).unwrap();
        assert!(out.contains(
            "word boundary assertions. That is, `\\<` and `\\>`. The minimum supported Rust"
        ));
        assert!(
            out.contains("1.13.1 (2026-07-15)\n===================\n[… "),
            "{out}"
        );
        assert!(!out.contains(opening));
        // A vague question still gets every section's opening.
        let out = compress_document(log, "What changed in recent releases?").unwrap();
        assert!(out.contains(opening));
    }

    #[test]
    fn one_chance_word_of_a_vague_question_still_gets_a_short_pages_overview() {
        // `rustc --explain E0038` (the held-out corpus case): "error" meets four paragraphs
        // alone, by chance, so every paragraph's opening is the summary, remedies included.
        let page = include_str!("../../../tests/fixtures/realworld/rustc_explain_e0038/input.txt");
        let out =
            compress_document(page, "What does this error mean and how do I fix it?").unwrap();
        assert!(out.contains("### Method has generic type parameters"));
        assert!(
            out.contains(
                "If only some methods aren't dyn-compatible, you can add a `where Self: Sized`"
            ),
            "{out}"
        );
        assert!(out.contains("To fix this, it is suggested to use a `where Self: Sized` bound"));
        assert!(out.len() < page.len());
        // A question whose words meet in a unit keeps that unit, not every opening.
        let out = compress_document(
            page,
            "Why can't a trait with an associated constant be made into a trait object?",
        )
        .unwrap();
        assert!(out.contains("### Trait contains associated constants"));
        assert!(
            !out.contains("This code works because `dyn Trait`, if it exists"),
            "{out}"
        );
    }

    #[test]
    fn a_debian_changelogs_entries_are_its_version_headings() {
        // `zcat /usr/share/doc/curl/changelog.Debian.gz` (the held-out corpus case).
        let log = include_str!("../../../tests/fixtures/realworld/changelog_debian_curl/input.txt");
        assert_eq!(crate::detect::detect(log), crate::detect::Kind::Markdown);
        let task = "Which Debian release of curl fixed CVE-2024-8096, and what was the problem?";
        let out = compress_document(log, task).unwrap();
        assert!(
            out.contains("curl (7.88.1-10+deb12u8) bookworm; urgency=medium\n"),
            "{out}"
        );
        assert!(out.contains("    - CVE-2024-8096: When the TLS backend is GnuTLS, curl may incorrectly\n      handle OCSP stapling."));
        assert!(out.contains("curl (7.88.1-10+deb12u7) bookworm; urgency=medium"));
        assert!(out.len() * 2 < log.len());
    }
}
