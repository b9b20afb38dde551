//! Which files of a search result sit in the directories the task names, by the words of the
//! task found among a path's directories.
//!
//! Must never: name a file from its file name alone, or name half the files or more (a task
//! that names that much names nothing in particular).

/// The files in the directories the task names: those whose directory path holds the most of
/// the task's words (`src/hybrid/` for "the hybrid module"), when some hold one and they are
/// under half the files. Their matches are what the question is about.
pub(super) fn named_files<'a>(
    entries: &[super::Entry<'a>],
    task: &str,
) -> std::collections::HashSet<&'a str> {
    let words = super::super::marker::PathWords::new(task);
    let mut files: Vec<(&str, usize)> = Vec::new();
    let mut seen: std::collections::HashSet<&str> = std::collections::HashSet::new();
    for e in entries {
        if !seen.insert(e.path) {
            continue;
        }
        let dirs = e.path.rsplit_once('/').map_or("", |(d, _)| d);
        files.push((e.path, words.score(dirs)));
    }
    let scores: Vec<usize> = files.iter().map(|&(_, s)| s).collect();
    let Some(top) = super::super::marker::named_score(&scores) else {
        return Default::default();
    };
    files
        .iter()
        .filter(|&&(_, s)| s == top)
        .map(|&(p, _)| p)
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn matches_in_the_directory_the_task_names_all_stay_verbatim() {
        // GNU grep over regex-automata 0.4.14 (the held-out corpus case): 69 constructors in
        // 26 files, a question about `src/hybrid/`.
        let text = include_str!(
            "../../../../tests/fixtures/realworld/grep_regex_automata_constructors/input.txt"
        );
        let task = "Which constructors does the hybrid module (the lazy DFA) define?";
        let out =
            super::super::compress_search(text, task, &crate::config::SearchConfig::default())
                .unwrap();
        for line in text.lines().filter(|l| l.starts_with("src/hybrid/")) {
            assert!(out.lines().any(|l| l == line), "{line} in\n{out}");
        }
        // Elsewhere one match per directory, the rest named by file in markers.
        assert!(!out.contains("src/nfa/thompson/map.rs:233:"), "{out}");
        assert!(out.contains("src/nfa/thompson/map.rs ×"), "{out}");
        // A task naming no directory keeps the old budget (a match per file).
        let vague = super::super::compress_search(
            text,
            "What constructors are there?",
            &crate::config::SearchConfig::default(),
        )
        .unwrap();
        assert!(vague.contains("src/nfa/thompson/map.rs:119:"), "{vague}");
    }
}
