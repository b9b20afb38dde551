//! The search-results compressor (grep, `rg`, `rg --heading`, with or without context lines).
//! Matches with identical text seen in many places become one line listing every `path:line`;
//! when there are still too many matches, files with many hits keep their first few and those
//! that mention the task or an error, and the rest of each file becomes a marker with the count
//! and line range (naming the file unless the line right above is from it). Files with few
//! matches are kept verbatim. Files in the directories a task names (`src/hybrid/` for "the
//! hybrid module") keep every match verbatim; the other files then share one match per
//! directory when one per file is still too many.
//!
//! Must never: drop a match without saying where it was (a summary or a marker), or change a
//! kept line.

use super::code::{compound_hit, is_comment, label, opens_with_item_keyword};
use super::config::SearchConfig;
use super::detect::{is_heading_match, looks_like_path, split_search_line};
use super::lines::distinct_task_words;
use super::marker::{clip, is_error_level, omitted, thousands, TaskWords};
use super::runs::run_is_worth_a_marker;
use super::{BlockInput, CompressError, Compressor};
use directories::named_files;
use std::collections::HashMap;

mod directories;

pub struct SearchCompressor {
    cfg: SearchConfig,
}

impl SearchCompressor {
    pub fn new(cfg: SearchConfig) -> Self {
        SearchCompressor { cfg }
    }
}

impl Compressor for SearchCompressor {
    fn name(&self) -> &'static str {
        "search"
    }

    fn compress(&self, input: &BlockInput<'_>) -> Result<Option<String>, CompressError> {
        Ok(compress_search(input.text, input.task, &self.cfg))
    }
}

struct Entry<'a> {
    path: &'a str,
    lineno: &'a str,
    text: &'a str,
    is_match: bool,
}

enum Fate {
    Keep,
    /// Stated by its identical-match group's summary.
    Grouped,
    Drop,
}

pub fn compress_search(text: &str, task: &str, cfg: &SearchConfig) -> Option<String> {
    let parsed = parse(text);
    if parsed.entries.len() < 4 {
        return None;
    }
    let named = named_files(&parsed.entries, task);
    let all_words = TaskWords::new(task);
    let task = all_words.selective(
        parsed.entries.iter().map(|e| e.text),
        (parsed.entries.len() / 10).max(3),
    );
    let selection = select(&parsed.entries, &task, &all_words, &named, cfg);
    if selection.fate.iter().all(|f| matches!(f, Fate::Keep)) {
        return None;
    }
    Some(render(&parsed, &selection))
}

/// The block's lines, the matches and context lines among them, and the `rg --heading` file
/// names.
struct Parsed<'a> {
    lines: Vec<&'a str>,
    entries: Vec<Entry<'a>>,
    /// For each line, the entry it holds.
    entry_at: Vec<Option<usize>>,
    is_heading: Vec<bool>,
}

/// What happens to each entry, and the summaries of identical-match groups.
struct Selection {
    fate: Vec<Fate>,
    summaries: Vec<String>,
    /// The entry after which (a kept instance) or in place of which (a grouped one) each
    /// group's summary is printed → the group.
    summary_at: HashMap<usize, usize>,
}

fn parse(text: &str) -> Parsed<'_> {
    let lines: Vec<&str> = text.split('\n').collect();
    let n = lines.len();
    let mut entries: Vec<Entry> = Vec::new();
    let mut entry_at: Vec<Option<usize>> = vec![None; n];
    let mut heading: Option<&str> = None;
    let mut is_heading = vec![false; n];
    for (i, line) in lines.iter().enumerate() {
        if let Some((path, lineno, rest, is_match)) = split_search_line(line) {
            entry_at[i] = Some(entries.len());
            entries.push(Entry {
                path,
                lineno,
                text: rest,
                is_match,
            });
        } else if let (Some(path), true) = (heading, is_heading_match(line)) {
            let digits = line.bytes().take_while(u8::is_ascii_digit).count();
            entry_at[i] = Some(entries.len());
            entries.push(Entry {
                path,
                lineno: &line[..digits],
                text: &line[digits + 1..],
                is_match: line.as_bytes()[digits] == b':',
            });
        } else if !line.starts_with(' ') && looks_like_path(line.trim_end()) {
            heading = Some(line.trim_end());
            is_heading[i] = true;
        } else if line.trim().is_empty() {
            heading = None;
        }
    }
    Parsed {
        lines,
        entries,
        entry_at,
        is_heading,
    }
}

/// Groups identical matches, then budgets what remains per file. Matches in the files the
/// task's directories hold (`named`) are never grouped or budgeted away; when the budget is
/// down to one match per file, the other files keep one match per directory.
fn select(
    entries: &[Entry<'_>],
    task: &TaskWords,
    all_words: &TaskWords,
    named_files: &std::collections::HashSet<&str>,
    cfg: &SearchConfig,
) -> Selection {
    let mut fate: Vec<Fate> = entries.iter().map(|_| Fate::Keep).collect();
    let mut groups: HashMap<&str, Vec<usize>> = HashMap::new();
    let mut group_order: Vec<&str> = Vec::new();
    let in_named = |e: &Entry<'_>| named_files.contains(e.path);
    for (k, e) in entries.iter().enumerate() {
        let key = e.text.trim();
        if key.len() < 3 || task.matches(key) || is_error_level(key) || in_named(e) {
            continue;
        }
        let g = groups.entry(key).or_default();
        if g.is_empty() {
            group_order.push(key);
        }
        g.push(k);
    }
    let mut summaries: Vec<String> = Vec::new();
    let mut summary_at: HashMap<usize, usize> = HashMap::new();
    for key in &group_order {
        let members = &groups[key];
        if members.len() < cfg.group_min.max(2) {
            continue;
        }
        let gi = summaries.len();
        let all_matches = members.iter().all(|&m| entries[m].is_match);
        summaries.push(group_summary(key, members, entries, all_matches));
        for &m in members {
            fate[m] = Fate::Grouped;
        }
        // One matching instance stays verbatim, the summary printed after it; repeated
        // context lines are only summarised.
        if all_matches {
            let shown = representative(members, entries);
            fate[shown] = Fate::Keep;
            summary_at.insert(shown, gi);
        } else {
            summary_at.insert(members[0], gi);
        }
    }
    // Declarations among the matches (`fn x(`, `class Y`) answer "where is it defined": those
    // whose name holds the task's words stay, and all of them when they are few, unless the search was for
    // declarations themselves.
    let declarations: Vec<usize> = (0..entries.len())
        .filter(|&k| opens_with_item_keyword(entries[k].text.trim_start()))
        .collect();
    let few_declarations = declarations.len() <= cfg.max_matches / 2;
    let for_declarations = declarations.len() * 4 > entries.len();
    let declared = |k: usize| {
        !for_declarations
            && declarations.binary_search(&k).is_ok()
            && (few_declarations || {
                let name = label(entries[k].text.trim());
                all_words.matches(&name) || compound_hit(all_words, &name)
            })
    };

    let remaining = fate.iter().filter(|f| matches!(f, Fate::Keep)).count();
    if remaining > cfg.max_matches {
        // So many files that their shares alone overrun the budget: one match each.
        let mut files: Vec<&str> = entries.iter().map(|e| e.path).collect();
        files.sort_unstable();
        files.dedup();
        let per_file = if files.len() * cfg.per_file > cfg.max_matches {
            1
        } else {
            cfg.per_file
        };
        // With one match per file still over budget and the task naming directories, the
        // other files share one match per directory.
        let by_directory = per_file == 1 && !named_files.is_empty();
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for (k, e) in entries.iter().enumerate() {
            if !matches!(fate[k], Fate::Keep) || in_named(e) {
                continue;
            }
            if summary_at.contains_key(&k) {
                // A group's verbatim instance.
                continue;
            }
            let key = if by_directory {
                e.path.rsplit_once('/').map_or("", |(d, _)| d)
            } else {
                e.path
            };
            let c = seen.entry(key).or_insert(0);
            *c += 1;
            // A task word in a comment (docs and examples mention every name) is a weak
            // reason to keep a match over the file's budget: it needs two.
            let named = if is_comment(e.text.trim_start()) {
                distinct_task_words(task, e.text) >= 2
            } else {
                task.matches(e.text)
            };
            if *c > per_file && !named && !is_error_level(e.text) && !declared(k) {
                fate[k] = Fate::Drop;
            }
        }
    }
    Selection {
        fate,
        summaries,
        summary_at,
    }
}

fn render(parsed: &Parsed<'_>, selection: &Selection) -> String {
    let Parsed {
        lines,
        entries,
        entry_at,
        is_heading,
    } = parsed;
    let Selection {
        fate,
        summaries,
        summary_at,
    } = selection;
    let n = lines.len();
    // Emit. A heading (rg --heading) is printed only if something under it is.
    let mut out: Vec<String> = Vec::with_capacity(n / 2);
    let mut pending: Option<&str> = None;
    let flush = |out: &mut Vec<String>, pending: &mut Option<&str>| {
        if let Some(h) = pending.take() {
            out.push(h.to_string());
        }
    };
    // The last marker written, its entries and first line: a dropped run that follows it with
    // nothing shown in between (only `--` separators) joins it, one marker for the region.
    let mut last_drop: Option<(usize, Vec<&Entry>, usize, Option<&str>)> = None;
    // The file of the last match or context line shown: a marker right under it for more of
    // the same file need not repeat its path.
    let mut shown_path: Option<&str> = None;
    let mut i = 0;
    while i < n {
        match entry_at[i] {
            None if is_heading[i] => {
                pending = Some(lines[i]);
                i += 1;
            }
            None => {
                let blank = lines[i].trim().is_empty();
                let sep = lines[i].trim() == "--";
                if blank && pending.take().is_some() {
                    // An emptied file section: drop its heading and the blank line after it.
                } else if !(sep
                    && out
                        .last()
                        .is_some_and(|l| l.starts_with("[…") || l.trim() == "--"))
                {
                    out.push(lines[i].to_string());
                }
                i += 1;
            }
            Some(k) => match fate[k] {
                Fate::Keep => {
                    flush(&mut out, &mut pending);
                    out.push(lines[i].to_string());
                    shown_path = Some(entries[k].path);
                    if let Some(&g) = summary_at.get(&k) {
                        out.push(summaries[g].clone());
                    }
                    i += 1;
                }
                Fate::Grouped => {
                    if let Some(&g) = summary_at.get(&k) {
                        out.push(summaries[g].clone());
                    }
                    i += 1;
                }
                Fate::Drop => {
                    let mut dropped: Vec<&Entry> = Vec::new();
                    let start = i;
                    while i < n {
                        match entry_at[i] {
                            Some(k) if matches!(fate[k], Fate::Drop) => dropped.push(&entries[k]),
                            Some(k)
                                if matches!(fate[k], Fate::Grouped)
                                    && !summary_at.contains_key(&k) => {}
                            _ => break,
                        }
                        i += 1;
                    }
                    flush(&mut out, &mut pending);
                    if let Some((at, mut earlier, from, above)) = last_drop.take() {
                        if at + 1 == out.len() {
                            earlier.extend(dropped.iter().copied());
                            let marker = drop_marker(&earlier, above);
                            if run_is_worth_a_marker(&lines[from..i], &marker) {
                                out[at] = marker;
                                last_drop = Some((at, earlier, from, above));
                                continue;
                            }
                        }
                    }
                    let marker = drop_marker(&dropped, shown_path);
                    if !run_is_worth_a_marker(&lines[start..i], &marker) {
                        // Cheaper to keep the lines than to describe them.
                        for (k, l) in lines[start..i].iter().enumerate() {
                            if entry_at[start + k].is_some_and(|e| matches!(fate[e], Fate::Drop)) {
                                out.push(l.to_string());
                            }
                        }
                    } else {
                        out.push(marker);
                        last_drop = Some((out.len() - 1, dropped, start, shown_path));
                    }
                }
            },
        }
    }
    flush(&mut out, &mut pending);
    out.join("\n")
}

/// The group member shown verbatim: the first one in the file holding most of the group,
/// where the pattern is most at home.
fn representative(members: &[usize], entries: &[Entry<'_>]) -> usize {
    let mut per_file: HashMap<&str, (usize, usize)> = HashMap::new();
    for &m in members {
        per_file.entry(entries[m].path).or_insert((0, m)).0 += 1;
    }
    let mut best = members[0];
    let mut best_count = 0;
    for &m in members {
        let (count, first) = per_file[entries[m].path];
        if first == m && count > best_count {
            best = m;
            best_count = count;
        }
    }
    best
}

fn group_summary(key: &str, members: &[usize], entries: &[Entry], all_matches: bool) -> String {
    // The directory every member shares is stated once.
    let first = entries[members[0]].path;
    let mut common = first.rfind('/').map_or(0, |i| i + 1);
    for &m in members {
        let p = entries[m].path;
        while common > 0
            && !(p.len() > common && p.is_char_boundary(common) && p[..common] == first[..common])
        {
            common = first[..common - 1].rfind('/').map_or(0, |i| i + 1);
        }
    }
    let mut places: Vec<String> = Vec::new();
    let mut last_path = "";
    for &m in members {
        let e = &entries[m];
        if e.path == last_path {
            if let Some(p) = places.last_mut() {
                p.push(',');
                p.push_str(e.lineno);
            }
        } else {
            places.push(format!("{}:{}", &e.path[common..], e.lineno));
            last_path = e.path;
        }
    }
    let under = if common > 0 {
        format!("in {}", &first[..common])
    } else {
        "at".to_string()
    };
    format!(
        "[{}× identical {} \"{}\" {under}: {}]",
        thousands(members.len()),
        if all_matches { "match" } else { "line" },
        clip(key, 120),
        places.join("; ")
    )
}

/// The marker for dropped entries; `above` is the file of the line shown right above it.
fn drop_marker(dropped: &[&Entry], above: Option<&str>) -> String {
    let mut files: Vec<(&str, usize, u64, u64)> = Vec::new();
    for e in dropped {
        let line: u64 = e.lineno.parse().unwrap_or(0);
        match files.last_mut() {
            Some(f) if f.0 == e.path => {
                f.1 += 1;
                f.2 = f.2.min(line);
                f.3 = f.3.max(line);
            }
            _ => files.push((e.path, 1, line, line)),
        }
    }
    let what = if dropped.len() == 1 {
        "more match"
    } else {
        "more matches"
    };
    if files.len() == 1 {
        let (path, _, lo, hi) = files[0];
        if above == Some(path) {
            let what = format!("{what} in this file");
            return omitted(dropped.len(), &what, &format!("lines {lo}–{hi}"));
        }
        return omitted(dropped.len(), what, &format!("{path}, lines {lo}–{hi}"));
    }
    let list: Vec<String> = files.iter().map(|f| format!("{} ×{}", f.0, f.1)).collect();
    omitted(dropped.len(), what, &list.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_matches_become_one_line_listing_every_place() {
        let mut text = String::new();
        for i in 0..30 {
            text.push_str(&format!(
                "crates/c{i}/src/lib.rs:{}:use serde::Deserialize;\n",
                i + 1
            ));
        }
        text.push_str(
            "crates/core/src/config.rs:88:    let cfg: Config = serde_yaml::from_str(&raw)?;\n",
        );
        let out = compress_search(&text, "", &SearchConfig::default()).unwrap();
        assert!(out.starts_with("crates/c0/src/lib.rs:1:use serde::Deserialize;\n"));
        assert!(out.contains(
            "\n[30× identical match \"use serde::Deserialize;\" in crates/: c0/src/lib.rs:1; "
        ));
        assert!(out.contains("; c29/src/lib.rs:30]"));
        assert!(out.contains(
            "crates/core/src/config.rs:88:    let cfg: Config = serde_yaml::from_str(&raw)?;"
        ));
    }

    #[test]
    fn many_files_keep_one_match_each() {
        let mut text = String::new();
        for f in 0..30 {
            for i in 0..3 {
                text.push_str(&format!(
                    "src/m{f}.rs:{}:    let value = helper_{f}_{i}(configuration, &mut state, deadline);\n",
                    i * 10 + 1
                ));
            }
        }
        let out = compress_search(&text, "", &SearchConfig::default()).unwrap();
        assert!(
            out.contains("src/m7.rs:1:    let value = helper_7_0("),
            "{out}"
        );
        assert!(!out.contains("helper_7_1"), "{out}");
        // The path is the line's above: the marker does not repeat it.
        assert!(
            out.contains("helper_7_0(configuration, &mut state, deadline);\n[… 2 more matches in this file omitted (lines 11–21) …]"),
            "{out}"
        );
    }

    #[test]
    fn files_with_many_matches_are_trimmed_with_line_ranges() {
        let mut text = String::new();
        for i in 0..80 {
            text.push_str(&format!("src/big.rs:{}:    call_{i}(x);\n", i * 3 + 1));
        }
        text.push_str("src/small.rs:5:    call_special(y);");
        let out = compress_search(&text, "", &SearchConfig::default()).unwrap();
        assert!(out.contains("src/big.rs:1:    call_0(x);"));
        assert!(
            out.contains("src/big.rs:4:    call_1(x);\n[… 78 more matches in this file omitted (lines 7–238) …]"),
            "{out}"
        );
        assert!(out.ends_with("src/small.rs:5:    call_special(y);"));
    }

    #[test]
    fn dropped_context_groups_with_only_separators_between_become_one_marker() {
        // `rg -C1`: groups of a match and its context, `--` between groups.
        let mut text = String::new();
        for g in 0..20 {
            let at = g * 40 + 10;
            text.push_str(&format!(
                "src/big.rs-{}-    let before_{g} = prepare(state);\n",
                at - 1
            ));
            text.push_str(&format!(
                "src/big.rs:{at}:    call_{g}(configuration, &mut state);\n"
            ));
            text.push_str(&format!(
                "src/big.rs-{}-    finish_{g}(state)?;\n--\n",
                at + 1
            ));
        }
        let out = compress_search(&text, "", &SearchConfig::default()).unwrap();
        let lines: Vec<&str> = out.lines().collect();
        assert!(
            lines
                .windows(2)
                .all(|w| !(w[0].starts_with("[…") && w[1].starts_with("[…"))),
            "{out}"
        );
        assert_eq!(
            out.lines().filter(|l| l.starts_with("[… ")).count(),
            1,
            "{out}"
        );
        assert!(out.contains("more matches in this file omitted"), "{out}");
        assert!(out.contains("src/big.rs:10:    call_0("), "{out}");
    }

    #[test]
    fn a_marker_under_a_line_of_another_file_names_its_file() {
        // grep -rn over pingora 0.9.1 (the corpus case): each marker follows a line of the
        // file it speaks for, or names the files it covers.
        let text = include_str!("../../../tests/fixtures/realworld/grep_unsafe_pingora/input.txt");
        let out = compress_search(
            text,
            "Where does pingora use unsafe code?",
            &SearchConfig::default(),
        )
        .unwrap();
        let lines: Vec<&str> = out.lines().collect();
        let mut checked = 0;
        for w in lines.windows(2) {
            if !w[1].starts_with("[… ") || !w[1].contains(" omitted") {
                continue;
            }
            if w[1].contains(" in this file omitted (lines ") {
                let (path, _, _, _) = split_search_line(w[0]).expect("a match above");
                assert!(
                    text.lines().filter(|l| l.starts_with(path)).count() > 1,
                    "{path}"
                );
                checked += 1;
            } else {
                assert!(w[1].contains(".rs"), "a marker names its files: {}", w[1]);
            }
        }
        assert!(checked >= 3, "{out}");
    }

    #[test]
    fn over_budget_a_comment_needs_two_task_words_to_stay() {
        // `rg -n spawn_blocking` over tokio 1.54's sources (the corpus case).
        let text =
            include_str!("../../../tests/fixtures/realworld/rg_tokio_spawn_blocking/input.txt");
        let task = "Where are tokio's public spawn_blocking functions defined: the free function tokio::task::spawn_blocking and the runtime Handle's method?";
        let out = compress_search(text, task, &SearchConfig::default()).unwrap();
        // The definitions stay.
        assert!(out.contains("tokio-1.54.1/src/task/blocking.rs:220:    pub fn spawn_blocking<F, R>(f: F) -> JoinHandle<R>\n"));
        assert!(out.contains("tokio-1.54.1/src/runtime/handle.rs:234:    pub fn spawn_blocking<F, R>(&self, func: F) -> JoinHandle<R>\n"));
        // A doc example that only says `task::spawn_blocking` again does not.
        assert!(
            !out.contains("tokio-1.54.1/src/sync/mutex.rs:498:"),
            "{out}"
        );
        assert!(!out.contains("tokio-1.54.1/src/task/mod.rs:182:"), "{out}");
    }
}
