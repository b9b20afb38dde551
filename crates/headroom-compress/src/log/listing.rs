//! Listings of paths inside the log compressor's selection: `pip show -f`, `find`, `tar -t`
//! and `ls -R` (`dir:` headers over bare names). It decides which listed lines stay — every
//! header, each directory's first entry, small directories whole, the ones the task names.
//!
//! Must never: touch a line that is not part of the listing, or drop an error-level line.

use super::super::marker::{is_error_level, TaskWords};
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

#[cfg(test)]
mod tests {
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
        // A big directory the task does not name keeps its first entry and a counted run.
        assert!(out.contains("src/runtime:\nblocking\n[… "), "{out}");
        assert!(out.len() < text.len());
    }
}
