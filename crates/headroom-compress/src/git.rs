//! `git log` (with or without `--stat`), `git show` and `git diff` output. Log: every commit's
//! hash, date and subject stay, and its author unless it repeats the one of the commit before;
//! message bodies and `--stat` file lines stay where the task's words hit them, with each
//! commit's totals line; the other bodies and file lines are counted in one note closing the
//! log (a marker per commit costs as much as its subject), and a commit the task hits keeps its
//! own markers so its kept lines read in place. Show / diff: the commit header, the whole
//! message and the diffstat stay; every file and hunk header stays; a large hunk the task does
//! not touch keeps its first lines and the rest becomes a marker with line counts.
//!
//! Must never: drop a `commit` line, a date line, a subject, a diffstat line of a shown
//! commit, a `diff --git` or `@@` header, or an author line other than a repeat of the commit
//! listed before it (then a note says so).

use super::config::DiffConfig;
use super::detect::classify::is_commit_header;
use super::diff::DiffCompressor;
use super::lines::Lines;
use super::marker::TaskWords;
use super::{BlockInput, CompressError, Compressor};

/// Owns the diff compressor, which trims long unchanged runs inside the hunks this one keeps.
pub struct GitCompressor {
    diff: DiffCompressor,
}

impl GitCompressor {
    pub fn new(cfg: DiffConfig) -> Self {
        GitCompressor {
            diff: DiffCompressor::new(cfg),
        }
    }
}

impl Compressor for GitCompressor {
    fn name(&self) -> &'static str {
        "git"
    }

    fn compress(&self, input: &BlockInput<'_>) -> Result<Option<String>, CompressError> {
        let lines = Lines::new(input.text);
        let commits = lines.text.iter().filter(|l| is_commit_header(l)).count();
        if commits >= 2 {
            return Ok(compress_log(&lines, input.task));
        }
        let elided = compress_show(&lines, input.task);
        let text = elided.as_deref().unwrap_or(input.text);
        // The diff compressor sees only the diff: header, message and diffstat stay as they are.
        let split = if text.starts_with("diff --git ") {
            0
        } else {
            match text.find("\ndiff --git ") {
                Some(at) => at + 1,
                None => return Ok(elided),
            }
        };
        let trimmed = self.diff.compress(&BlockInput {
            text: &text[split..],
            task: input.task,
        })?;
        Ok(match trimmed {
            Some(diff) => Some(format!("{}{diff}", &text[..split])),
            None => elided,
        })
    }
}

/// ` crates/ignore/src/walk.rs | 34 +++---` or ` logo.png | Bin 0 -> 1234 bytes`.
fn is_stat_file_line(line: &str) -> bool {
    line.starts_with(' ')
        && line.split_once(" | ").is_some_and(|(_, change)| {
            let c = change.trim_start();
            c.starts_with(|ch: char| ch.is_ascii_digit()) || c.starts_with("Bin ")
        })
}

/// Lines of a hunk kept before its marker when the task does not touch it.
const HUNK_HEAD: usize = 4;
/// Hunks up to this many lines stay whole.
const SMALL_HUNK: usize = 12;
/// Lines kept either side of a task hit inside a large hunk: its neighbours are mostly more
/// of the same change, and the `@@` header already says where it is.
const HIT_RADIUS: usize = 4;

fn task_words(lines: &Lines<'_>, task: &str, max_hits: usize) -> TaskWords {
    TaskWords::new(task).selective(lines.text.iter().copied(), max_hits.max(3))
}

fn compress_log(lines: &Lines<'_>, task: &str) -> Option<String> {
    let src = &lines.text;
    let commits = src.iter().filter(|l| is_commit_header(l)).count();
    let words = task_words(lines, task, commits / 30);
    let n = src.len();
    let mut keep = vec![false; n];
    let mut hit = vec![false; n];
    let mut i = 0;
    while i < n {
        if !is_commit_header(src[i]) {
            // Text before the first commit (or a format we do not know) stays.
            keep[i] = true;
            i += 1;
            continue;
        }
        let start = i;
        let mut end = i + 1;
        while end < n && !is_commit_header(src[end]) {
            end += 1;
        }
        let mut subject_seen = false;
        for j in start..end {
            let l = src[j];
            let t = l.trim();
            let header = j == start
                || l.starts_with("Author:")
                || l.starts_with("Date:")
                || l.starts_with("Merge:");
            let subject = !subject_seen && l.starts_with("    ") && !t.is_empty();
            subject_seen |= subject;
            let totals = t.contains(" changed,") && t.contains("file");
            // The blank lines that frame a commit's message stay: the log reads as `git log`.
            let frame = t.is_empty()
                && (j > start && src[j - 1].starts_with("Date:") || j + 1 == end && end < n);
            let structural = header || subject || totals || frame;
            hit[j] = !structural && words.matches(l);
            keep[j] = structural || hit[j];
        }
        i = end;
    }
    fold_bodies(lines, &keep, &hit).or_else(|| lines.render(&keep, |run| lines.marker(&run, "")))
}

/// A log's omitted message bodies and `--stat` file lines, all in one counted note at its end
/// rather than one marker per commit: every commit keeps its header, subject and totals, and
/// a marker per body would cost as much as a commit's subject. A commit where the task's words
/// hit a body or file line keeps its markers, so what is shown of it reads in place. An
/// `Author:` line word for word the one of the commit listed just before it (one maintainer's
/// run of commits) goes too, counted in a second note: the first commit of each run keeps it,
/// and so does a commit the task hits. `None` when no note costs less than its lines.
fn fold_bodies(lines: &Lines<'_>, keep: &[bool], hit: &[bool]) -> Option<String> {
    let src = &lines.text;
    let n = src.len();
    let mut fold = vec![false; n];
    let (mut body, mut files, mut commits) = (0usize, 0usize, 0usize);
    let mut authors: Vec<usize> = Vec::new();
    let mut previous_author: Option<&str> = None;
    let mut start = src.iter().position(|l| is_commit_header(l))?;
    while start < n {
        let end = (start + 1..n)
            .find(|&j| is_commit_header(src[j]))
            .unwrap_or(n);
        let touched = hit[start..end].contains(&true);
        let author = (start..end).find(|&j| src[j].starts_with("Author:"));
        if let Some(a) = author {
            if previous_author == Some(src[a]) && !touched && keep[a] {
                authors.push(a);
            }
            previous_author = Some(src[a]);
        }
        let dropped: Vec<usize> = (start..end).filter(|&j| !keep[j]).collect();
        if !dropped.is_empty() && !touched {
            commits += 1;
            for j in dropped {
                fold[j] = true;
                if is_stat_file_line(src[j]) {
                    files += 1;
                } else if !src[j].trim().is_empty() {
                    body += 1;
                }
            }
        }
        start = end;
    }
    let mut notes = Vec::new();
    let last = src.len() - 1;
    let what = match (body, files) {
        (0, 0) => None,
        (b, 0) => Some(format!("{} body lines", super::marker::thousands(b))),
        (0, f) => Some(format!("{} --stat file lines", super::marker::thousands(f))),
        (b, f) => Some(format!(
            "{} body lines and {} --stat file lines",
            super::marker::thousands(b),
            super::marker::thousands(f)
        )),
    };
    if let Some(what) = what {
        let note = format!(
            "[… {what} omitted from {} commits …]",
            super::marker::thousands(commits)
        );
        let folded: Vec<&str> = (0..n).filter(|&j| fold[j]).map(|j| src[j]).collect();
        if super::runs::run_is_worth_a_marker(&folded, &note) {
            notes.push((last, note));
        } else {
            fold.iter_mut().for_each(|f| *f = false);
        }
    }
    if authors.len() >= 2 {
        let note = format!(
            "[… Author line omitted from {} commits: the same as the commit listed before each …]",
            super::marker::thousands(authors.len())
        );
        let folded: Vec<&str> = authors.iter().map(|&j| src[j]).collect();
        if super::runs::run_is_worth_a_marker(&folded, &note) {
            authors.iter().for_each(|&j| fold[j] = true);
            notes.push((last, note));
        }
    }
    if notes.is_empty() {
        return None;
    }
    lines.render_folded(keep, &fold, &notes, |run, _| lines.marker(&run, ""))
}

fn compress_show(lines: &Lines<'_>, task: &str) -> Option<String> {
    let src = &lines.text;
    let words = task_words(lines, task, lines.len() / 20);
    let n = src.len();
    let mut keep = vec![true; n];
    // Everything before the first `diff --git` (header, message, diffstat) stays.
    let first_diff = src.iter().position(|l| l.starts_with("diff --git "))?;
    let mut i = first_diff;
    while i < n {
        if !src[i].starts_with("@@") {
            i += 1;
            continue;
        }
        let start = i + 1;
        let mut end = start;
        while end < n && !src[end].starts_with("@@") && !src[end].starts_with("diff --git ") {
            end += 1;
        }
        elide_hunk(src, start..end, &words, &mut keep);
        i = end;
    }
    lines.render(&keep, |run| {
        let added = src[run.clone()]
            .iter()
            .filter(|l| l.starts_with('+'))
            .count();
        let removed = src[run.clone()]
            .iter()
            .filter(|l| l.starts_with('-'))
            .count();
        let context = run.len() - added - removed;
        let detail = format!("hunk lines: +{added} −{removed}, {context} unchanged");
        lines.marker(&run, &detail)
    })
}

fn elide_hunk(src: &[&str], hunk: std::ops::Range<usize>, words: &TaskWords, keep: &mut [bool]) {
    if hunk.len() <= SMALL_HUNK {
        return;
    }
    let hits: Vec<usize> = hunk.clone().filter(|&j| words.matches(src[j])).collect();
    keep[hunk.clone()].iter_mut().for_each(|k| *k = false);
    let head_end = (hunk.start + HUNK_HEAD).min(hunk.end);
    keep[hunk.start..head_end]
        .iter_mut()
        .for_each(|k| *k = true);
    for h in hits {
        let lo = h.saturating_sub(HIT_RADIUS).max(hunk.start);
        let hi = (h + HIT_RADIUS + 1).min(hunk.end);
        keep[lo..hi].iter_mut().for_each(|k| *k = true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log() -> String {
        let mut s = String::new();
        for k in 0..6 {
            s.push_str(&format!(
                "commit {k:040x}\nAuthor: A <a@b.c>\nDate:   Mon May 4 18:23:17 2026 -0700\n\n    Subject number {k}\n\n    Body line one for {k}.\n    Body line two.\n    Body line three.\n\n src/file{k}.rs | 2 +-\n 1 file changed, 1 insertion(+), 1 deletion(-)\n\n"
            ));
        }
        s
    }

    fn compress(text: &str, task: &str) -> String {
        GitCompressor::new(DiffConfig::default())
            .compress(&BlockInput { text, task })
            .unwrap()
            .unwrap()
    }

    #[test]
    fn a_log_keeps_headers_subjects_and_totals() {
        let text = log();
        let out = compress(&text, "summarise");
        for k in 0..6 {
            assert!(out.contains(&format!("commit {k:040x}")));
            assert!(out.contains(&format!("    Subject number {k}")));
        }
        assert!(out.contains(" 1 file changed, 1 insertion(+), 1 deletion(-)"));
        assert!(!out.contains("Body line two."));
    }

    #[test]
    fn every_author_change_stays_and_repeats_fold_into_one_note() {
        // "Who and when" stays answerable: each run of one author's commits keeps the line on
        // its first commit, and the note says the unlabelled ones are the commit's before.
        let text = log()
            .replace(
                "Author: A <a@b.c>",
                "Author: Ada Lovelace <ada@analytical.example>",
            )
            .replacen(
                "Author: Ada Lovelace <ada@analytical.example>",
                "Author: B <b@c.d>",
                1,
            );
        let out = compress(&text, "summarise");
        assert_eq!(out.matches("Author: B <b@c.d>").count(), 1);
        assert_eq!(out.matches("Author: Ada Lovelace").count(), 1, "{out}");
        let b = out.find("Author: B").unwrap();
        let ada = out.find("Author: Ada").unwrap();
        assert!(b < ada, "the change of author stays where it happens");
        assert!(out.contains("[… Author line omitted from 4 commits: the same as the commit listed before each …]"), "{out}");
        assert_eq!(out.matches("Date:").count(), 6);
    }

    #[test]
    fn a_commit_the_task_hits_keeps_its_author() {
        let text = log()
            .replace(
                "Author: A <a@b.c>",
                "Author: Ada Lovelace <ada@analytical.example>",
            )
            .replacen("Body line two.", "Body line two names the parser.", 2);
        let out = compress(&text, "who changed the parser?");
        // Commit 0 opens the run; commit 1 is hit; 2–5 are the same author as the one above.
        assert_eq!(out.matches("Author: Ada Lovelace").count(), 2, "{out}");
        assert!(out.contains("Author line omitted from 4 commits"), "{out}");
    }

    #[test]
    fn omitted_bodies_of_a_real_log_fold_into_one_counted_note() {
        // `git log -n 40 --stat` of ripgrep (the corpus case).
        let text = include_str!("../../../tests/fixtures/realworld/git_log_stat_ripgrep/input.txt");
        let out = compress(text, "Summarise these commits.");
        let commits = text.lines().filter(|l| l.starts_with("commit ")).count();
        assert_eq!(
            out.lines().filter(|l| l.starts_with("commit ")).count(),
            commits
        );
        // Every author change stays; a repeat of the commit before is counted in a note.
        let authors: Vec<&str> = text.lines().filter(|l| l.starts_with("Author: ")).collect();
        let changes = 1 + authors.windows(2).filter(|w| w[0] != w[1]).count();
        assert_eq!(
            out.lines().filter(|l| l.starts_with("Author: ")).count(),
            changes
        );
        let repeats = commits - changes;
        assert!(out.contains(&format!("[… Author line omitted from {repeats} commits: the same as the commit listed before each …]")), "{out}");
        assert_eq!(
            out.lines().filter(|l| l.starts_with("Date: ")).count(),
            commits
        );
        assert!(out.contains("    ignore: skip loading unreachable ignore files\n"));
        assert!(
            out.contains("    globset-0.4.20\n 2 files changed, 2 insertions(+), 2 deletions(-)\n")
        );
        let notes: Vec<&str> = out.lines().filter(|l| l.starts_with("[… ")).collect();
        assert_eq!(notes.len(), 2, "{out}");
        assert!(
            notes[0].contains(" body lines and ")
                && notes[0].contains(" --stat file lines omitted from "),
            "{}",
            notes[0]
        );
        assert!(out.ends_with(notes[1]), "the notes close the log");
    }

    #[test]
    fn a_commit_the_task_hits_keeps_its_markers_in_place() {
        let text = log().replacen("Body line two.", "Body line two names the parser.", 1);
        let out = compress(&text, "which commit touched the parser?");
        assert!(out.contains("Body line two names the parser."));
        // Its short gaps stay as they were (cheaper than markers); the others fold.
        assert!(out.contains("    Body line one for 0.\n"), "{out}");
        assert!(!out.contains("Body line one for 1."), "{out}");
        assert!(out.contains("omitted from 5 commits"), "{out}");
    }

    #[test]
    fn a_log_keeps_the_stat_line_the_task_names() {
        let text = log();
        let out = GitCompressor::new(DiffConfig::default())
            .compress(&BlockInput {
                text: &text,
                task: "which commit changed file3.rs?",
            })
            .unwrap()
            .unwrap();
        assert!(out.contains(" src/file3.rs | 2 +-"));
        assert!(!out.contains(" src/file4.rs | 2 +-"));
    }

    #[test]
    fn a_show_keeps_message_and_stat_and_elides_far_hunks() {
        let body: String = (0..40).map(|k| format!("+line {k}\n")).collect();
        let text = format!(
            "commit {:040x}\nAuthor: A <a@b.c>\nDate:   today\n\n    Subject\n\n    Why it changed.\n---\n a.rs | 40 +\n\ndiff --git a/a.rs b/a.rs\n--- a/a.rs\n+++ b/a.rs\n@@ -0,0 +1,40 @@\n{body}",
            7
        );
        let out = GitCompressor::new(DiffConfig::default())
            .compress(&BlockInput {
                text: &text,
                task: "",
            })
            .unwrap()
            .unwrap();
        assert!(out.contains("    Why it changed.\n---\n a.rs | 40 +\n"));
        assert!(out.contains("@@ -0,0 +1,40 @@\n+line 0\n"));
        assert!(out.contains("hunk lines: +36 −0"), "{out}");
        assert!(!out.contains("+line 20"));
    }

    #[test]
    fn a_hit_in_a_large_hunk_keeps_four_lines_either_side() {
        // `git show` of a commit of this repository (the corpus case).
        let text = include_str!("../../../tests/fixtures/realworld/git_show_headroom/input.txt");
        let out = compress(text, "What does this commit say model.device: auto does?");
        assert!(out.contains("+`model.device: auto` tries CoreML on macOS, then CUDA, then CPU, and logs what it got; an\n"));
        assert!(
            out.contains("+**The learned compressor** runs all-MiniLM-L6-v2 through ONNX Runtime")
        );
        assert!(
            !out.contains("+hitting (`tests/proxy_compression.rs` checks this"),
            "{out}"
        );
        assert!(out.starts_with("commit e51e9358035c4862bd53718c984369e1551f6f1c\n"));
        assert_eq!(
            out.matches("\ndiff --git ").count(),
            text.matches("\ndiff --git ").count()
        );
    }
}
