//! Listings of paths inside the log compressor's selection: `pip show -f`, `find`, `tar -t`
//! and `ls -R` (`dir:` headers over bare names). It decides which listed lines stay — every
//! header, each directory's first entry, small directories whole, the ones the task names.
//!
//! For a task that names some directories of an `ls -R` listing, the other directories'
//! entries fold into one note while every header stays (see `fold_unnamed_directories`).
//!
//! Must never: touch a line that is not part of the listing, drop an error-level line or a
//! directory header.

use super::super::lines::Lines;
use super::super::marker::{is_error_level, named_score, thousands, PathWords, TaskWords};
use super::super::runs::run_is_worth_a_marker;
use std::collections::HashMap;

/// Directories of at most this many entries keep them all in a listing of paths.
const SMALL_DIRECTORY: usize = 3;

/// A listing of paths (`pip show -f`, `find`, `tar -t`, or `ls -R` with its `dir:` headers):
/// the tree is what it says. Each directory's first entry stays, and so does every entry of a
/// small directory (the two scripts a package puts in `bin/`) or of one the task names (its
/// `dir:` header holds a task word), and the names the task's words hit, so a reader sees every directory and the names that
/// matter; big directories become counted runs. Only when four lines in five are paths.
pub fn keep_directory_entries(lines: &[&str], task: &TaskWords, keep: &mut [bool]) {
    fn single(line: &str) -> Option<&str> {
        let t = line.trim();
        (!t.is_empty() && !t.contains(char::is_whitespace)).then_some(t)
    }
    // Each line's directory (its parent, or the `ls -R` header above it) or `None`.
    let mut header: Option<&str> = None;
    let mut dir_of: Vec<Option<&str>> = Vec::with_capacity(lines.len());
    let mut headers = vec![false; lines.len()];
    for (i, l) in lines.iter().enumerate() {
        let entry = single(l);
        if let Some(h) = entry.and_then(|t| t.strip_suffix(':')) {
            header = Some(h);
            headers[i] = true;
            dir_of.push(None);
            continue;
        }
        dir_of.push(entry.and_then(|t| match t.rsplit_once('/') {
            Some((dir, _)) => Some(dir),
            None => header,
        }));
    }
    let listed = dir_of.iter().flatten().count() + headers.iter().filter(|&&h| h).count();
    let nonblank = lines.iter().filter(|l| !l.trim().is_empty()).count();
    if listed < 20 || listed * 5 < nonblank * 4 {
        return;
    }
    let mut dirs: HashMap<&str, (usize, usize)> = HashMap::new(); // dir → (entries, first line)
    for (i, d) in dir_of.iter().enumerate() {
        if let Some(d) = d {
            dirs.entry(d).or_insert((0, i)).0 += 1;
        }
    }
    // This decides for every listed line: a name is its own template, so the log's rule for
    // rare templates would keep them all.
    for (i, d) in dir_of.iter().enumerate() {
        if headers[i] {
            keep[i] = true;
        }
        if let Some(&(entries, first)) = d.and_then(|d| dirs.get(d)) {
            let named = d.is_some_and(|d| task.matches(d)) || task.matches(lines[i]);
            keep[i] = entries <= SMALL_DIRECTORY || first == i || named || is_error_level(lines[i]);
        }
    }
}

/// A recursive listing (`ls -R`: `dir:` headers, each over its bare entry names) for a task that
/// names some of its directories: the entries of every other directory leave, counted in one
/// note under the first header left without its entries, while every header (so the whole tree of directories) and the
/// named directories' entries stay. A directory is named when its path holds the most of the
/// task's words among the headers (`src/backend/linux_raw/net` for "the net module of the
/// linux_raw backend"); `None` when no header holds a task word, when the task names half the
/// directories or more, or when the note would cost more than the entries.
pub fn fold_unnamed_directories(page: &Lines<'_>, task: &str) -> Option<String> {
    let lines = &page.text;
    let task_words = PathWords::new(task);
    // Each line's section: Some(header index) for an entry, None for headers and blanks.
    let mut section: Vec<Option<usize>> = vec![None; lines.len()];
    let mut headers: Vec<(usize, usize)> = Vec::new(); // (line, score)
    let mut current: Option<usize> = None;
    let mut nonblank = 0;
    for (i, l) in lines.iter().enumerate() {
        let t = l.trim();
        if t.is_empty() {
            current = None;
            continue;
        }
        nonblank += 1;
        if t.contains(char::is_whitespace) {
            continue;
        }
        if let Some(path) = t.strip_suffix(':') {
            headers.push((i, task_words.score(path)));
            current = Some(i);
        } else {
            section[i] = current;
        }
    }
    let listed = headers.len() + section.iter().flatten().count();
    if headers.len() < 2 || listed * 10 < nonblank * 9 {
        return None;
    }
    let scores: Vec<usize> = headers.iter().map(|&(_, s)| s).collect();
    let top = named_score(&scores)?;
    let named: Vec<usize> = headers
        .iter()
        .filter(|&&(_, s)| s == top)
        .map(|&(i, _)| i)
        .collect();
    let mut fold = vec![false; lines.len()];
    let mut dirs: Vec<usize> = Vec::new();
    for (i, sec) in section.iter().enumerate() {
        let Some(h) = sec else {
            continue;
        };
        let entry = lines[i].trim();
        let asked = task_words.is_word(entry);
        if named.contains(h) || asked || is_error_level(entry) {
            continue;
        }
        fold[i] = true;
        if dirs.last() != Some(h) {
            dirs.push(*h);
        }
    }
    let folded: Vec<&str> = (0..lines.len())
        .filter(|&i| fold[i])
        .map(|i| lines[i])
        .collect();
    // Under the first header left without its entries, so no directory reads as empty.
    let note = match dirs.len() {
        1 => format!(
            "[… {} entries omitted from this directory (the task does not name it) …]",
            thousands(folded.len())
        ),
        n => format!(
            "[… {} entries omitted from this directory and the {} others below listed without theirs (the task does not name them) …]",
            thousands(folded.len()),
            thousands(n - 1)
        ),
    };
    if folded.is_empty() || !run_is_worth_a_marker(&folded, &note) {
        return None;
    }
    let keep = vec![true; lines.len()];
    if page.numbers.is_some() {
        // A Read page cites line ranges instead: each folded run is a marker of its own.
        let keep: Vec<bool> = fold.iter().map(|f| !f).collect();
        return page.render(&keep, |run| page.marker(&run, "entries"));
    }
    page.render_folded(&keep, &fold, &[(dirs[0], note)], |run, count| {
        page.marker_counted(&run, count, "")
    })
}

#[cfg(test)]
mod tests {
    use super::{fold_unnamed_directories, Lines};
    use crate::config::LogConfig;

    #[test]
    fn a_listing_of_paths_keeps_each_directory_and_small_ones_whole() {
        // `pip show -f pytest` (the held-out corpus case).
        let text =
            include_str!("../../../../tests/fixtures/realworld/table_pip_show_files/input.txt");
        let out = super::super::compress_lines(
            text,
            "What does this package install?",
            &LogConfig::default(),
        )
        .unwrap();
        for line in [
            "Requires: iniconfig, packaging, pluggy, pygments",
            "  ../../../bin/py.test\n  ../../../bin/pytest\n",
            "  _pytest/assertion/__pycache__/",
            "  pytest-9.2.0.dist-info/",
        ] {
            assert!(out.contains(line), "{line:?} in\n{out}");
        }
        assert!(
            !out.contains("_pytest/assertion/__pycache__/truncate.cpython-311.pyc"),
            "{out}"
        );
        assert!(out.len() * 2 < text.len());
    }

    #[test]
    fn ls_recursive_keeps_every_header_and_the_directories_the_task_names() {
        // `ls -R src` in tokio 1.54.1 (the held-out corpus case).
        let text =
            include_str!("../../../../tests/fixtures/realworld/table_ls_recursive_tokio/input.txt");
        assert_eq!(crate::detect::detect(text), crate::detect::Kind::Log);
        let out = super::super::compress_lines(
            text,
            "Which files make up the mpsc channel?",
            &LogConfig::default(),
        )
        .unwrap();
        let mpsc = out.split("src/sync/mpsc:\n").nth(1).unwrap_or_default();
        for name in [
            "block.rs",
            "bounded.rs",
            "chan.rs",
            "list.rs",
            "unbounded.rs",
        ] {
            assert!(mpsc.lines().take(20).any(|l| l == name), "{name} in\n{out}");
        }
        for header in ["src:", "src/runtime/scheduler:", "src/io/util:"] {
            assert!(out.lines().any(|l| l == header), "{header}");
        }
        // A directory the task does not name keeps its header; its entries are counted in
        // one note under the first such header.
        assert!(
            out.contains("src/runtime:\n\nsrc/runtime/blocking:\n"),
            "{out}"
        );
        let first_folded = out
            .lines()
            .position(|l| {
                l.starts_with("[… ") && l.contains("entries omitted from this directory and the")
            })
            .expect("the note");
        assert!(
            out.lines()
                .nth(first_folded - 1)
                .is_some_and(|l| l.ends_with(':')),
            "{out}"
        );
        assert!(!out.lines().any(|l| l == "builder.rs"), "{out}");
        let dirs = text.lines().filter(|l| l.ends_with(':')).count();
        assert_eq!(out.lines().filter(|l| l.ends_with(':')).count(), dirs);
        assert_eq!(
            out.matches("(the task does not name them) …]").count(),
            1,
            "{out}"
        );
        assert!(out.len() * 3 < text.len());
    }

    #[test]
    fn the_directory_holding_the_most_task_words_is_the_named_one() {
        // `ls -R src` in rustix 1.1.6 (the held-out corpus case): `net` sits in three
        // directories, `linux_raw` over twenty; only one holds both.
        let text = include_str!(
            "../../../../tests/fixtures/realworld/table_ls_recursive_rustix/input.txt"
        );
        let page = Lines::new(text);
        let task = "Which files make up the net module of the linux_raw backend?";
        let out = fold_unnamed_directories(&page, task).unwrap();
        let section = |header: &str| -> Vec<String> {
            out.split(&format!("{header}\n"))
                .nth(1)
                .unwrap_or_default()
                .lines()
                .take_while(|l| !l.is_empty())
                .map(str::to_string)
                .collect()
        };
        assert_eq!(section("src/backend/linux_raw/net:").len(), 9, "{out}");
        assert!(section("src/backend/libc/net:").is_empty(), "{out}");
        assert!(section("src/backend/linux_raw/fs:").is_empty(), "{out}");
        // A task naming no directory, or most of them, leaves the listing to the log rules.
        assert!(fold_unnamed_directories(&page, "What is in this crate?").is_none());
        assert!(fold_unnamed_directories(&page, "Which files are under src?").is_none());
    }
}
