//! Doc comments and docstrings in source code: which lines are inside a Python docstring, the
//! first sentence of every doc comment, the file's opening comment, and the whole doc block
//! above an item the task hits. Judged on text alone, like the rest of the code compressor.
//!
//! Must never: mark a code line as documentation because it holds quotes (only a
//! triple-quoted string opens a docstring).

use super::{is_comment, Item};

/// Lines inside a triple-quoted string (Python docstrings), the quotes' own lines included.
pub(super) fn docstring_lines(src: &[&str]) -> Vec<bool> {
    let mut inside = false;
    src.iter()
        .map(|l| {
            let quotes = l.matches("\"\"\"").count() + l.matches("'''").count();
            let this = inside || quotes > 0;
            if quotes % 2 == 1 {
                inside = !inside;
            }
            this
        })
        .collect()
}

fn is_doc_start(t: &str) -> bool {
    t.starts_with("///")
        || t.starts_with("//!")
        || t.starts_with("/**")
        || t.starts_with("\"\"\"")
        || t.starts_with("r\"\"\"")
        || t.starts_with("'''")
}

/// The first sentence line of every doc comment (with the heading or opener before it).
pub(super) fn keep_doc_first_lines(src: &[&str], keep: &mut [bool]) {
    let mut prev_doc = false;
    // Inside a triple-quoted string: a `"""` line there closes the docstring, it opens none.
    let mut in_string = false;
    for i in 0..src.len() {
        let t = src[i].trim();
        let quotes = t.matches("\"\"\"").count() + t.matches("'''").count();
        let closes = in_string && quotes > 0;
        if quotes % 2 == 1 {
            in_string = !in_string;
        }
        let doc = is_doc_start(t) && !closes;
        let continues = prev_doc && (t.starts_with("///") || t.starts_with("//!"));
        if doc && !continues {
            for j in i..(i + 4).min(src.len()) {
                keep[j] = true;
                if is_prose(src[j]) {
                    break;
                }
            }
        }
        prev_doc = doc || (prev_doc && (t.starts_with("///") || t.starts_with("//!")));
    }
}

/// A comment line with a sentence in it, not only an opener or a heading.
fn is_prose(line: &str) -> bool {
    let t = line
        .trim()
        .trim_start_matches(['/', '!', '*', '"', '\'', '#', ' ']);
    t.split_whitespace()
        .filter(|w| w.chars().any(char::is_alphabetic))
        .count()
        >= 3
}

/// The file's opening comment (licence headers run long: at most its first six lines).
pub(super) fn keep_opening_comment(src: &[&str], keep: &mut [bool]) {
    let mut kept = 0;
    for (i, l) in src.iter().enumerate() {
        let t = l.trim();
        if t.is_empty() && kept == 0 {
            continue;
        }
        if !(is_comment(t) || is_doc_start(t) || t.ends_with("*/")) || kept >= 6 {
            break;
        }
        keep[i] = true;
        kept += 1;
    }
}

/// Keeps the whole doc comment right above line `i` (or the one `i` sits in) and the
/// signature it documents.
pub(super) fn keep_doc_block_before(src: &[&str], items: &[Item], i: usize, keep: &mut [bool]) {
    let is_doc_line = |t: &str| {
        t.starts_with("///")
            || t.starts_with("//!")
            || t.starts_with('*')
            || t.starts_with("/**")
            || t.starts_with("#[")
            || t.starts_with('@')
    };
    let mut lo = i;
    while lo > 0 && is_doc_line(src[lo - 1].trim()) && i - lo < 80 {
        lo -= 1;
    }
    let mut hi = i;
    if is_doc_line(src[i].trim()) {
        while hi + 1 < src.len() && is_doc_line(src[hi + 1].trim()) && hi - i < 80 {
            hi += 1;
        }
        if let Some(it) = items.iter().find(|it| it.sig == hi + 1) {
            hi = it.sig_end;
        }
    }
    keep[lo..=hi].iter_mut().for_each(|k| *k = true);
}
