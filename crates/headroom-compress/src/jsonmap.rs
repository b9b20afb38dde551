//! Selection inside big JSON containers that are not tables: objects used as maps
//! (version → date, id → record, name → requirement) and long arrays of scalars. The first
//! and last entries stay, and so does every entry whose key or scalar value the task names;
//! the rest become one marker entry. Long strings keep their start.
//!
//! Must never: drop an entry the task names, or reorder entries (the renderer in `json` keeps
//! the survivors in document order).

use super::jsontree::{decode_str, Member, Node};
use super::marker::{thousands, TaskWords};

/// Containers with more entries than this are selected.
pub const MAX_ENTRIES: usize = 24;
/// Entries kept at each end.
const ENDS: usize = 4;
/// Strings longer than this (in chars) keep only their start.
pub const MAX_STRING: usize = 1200;
const STRING_HEAD: usize = 400;

/// The task's terms as written (`4.21.2`, `express@5`, `pytest`), for exact key and value
/// matches that word splitting would break apart.
pub struct Terms {
    terms: Vec<String>,
    words: TaskWords,
}

impl Terms {
    pub fn new(task: &str) -> Self {
        let mut terms = Vec::new();
        for raw in task.split_whitespace() {
            let t = raw.trim_matches(|c: char| !(c.is_alphanumeric() || c == '_'));
            if t.chars().count() >= 3 && !terms.iter().any(|x: &String| x == t) {
                terms.push(t.to_lowercase());
            }
        }
        Terms {
            terms,
            words: TaskWords::new(task),
        }
    }

    /// Whether `text` is one of the task's terms or contains one as a whole token.
    pub fn matches(&self, text: &str) -> bool {
        self.matches_specific(text) || self.words.matches(text)
    }

    /// Whether `field` is exactly one of the task's terms (`git` in "which git is installed?").
    pub fn names(&self, field: &str) -> bool {
        const COMMON: [&str; 16] = [
            "the", "and", "are", "which", "what", "how", "for", "this", "that", "with", "does",
            "from", "why", "when", "where", "any",
        ];
        self.terms
            .iter()
            .any(|t| !COMMON.contains(&t.as_str()) && t.eq_ignore_ascii_case(field))
    }

    /// Whether `text` holds one of the task's specific terms (versions, `www-data`,
    /// `pkg@1.2`, paths) as a whole token.
    pub fn matches_specific(&self, text: &str) -> bool {
        let lower = text.to_lowercase();
        self.terms.iter().any(|t| {
            t.bytes()
                .any(|b| b.is_ascii_digit() || matches!(b, b'.' | b'@' | b'-' | b'_' | b'/' | b':'))
                && contains_token(&lower, t)
        })
    }
}

fn contains_token(hay: &str, needle: &str) -> bool {
    let mut from = 0;
    while let Some(at) = hay[from..].find(needle) {
        let start = from + at;
        let end = start + needle.len();
        let before = hay[..start].chars().next_back();
        let after = hay[end..].chars().next();
        let edge = |c: Option<char>| c.is_none_or(|c| !(c.is_alphanumeric() || c == '.'));
        // A sentence's full stop ends a token (`www-data.`); `1.2` inside `1.2.3` does not.
        let mut rest = hay[end..].chars();
        let full_stop = rest.next() == Some('.') && rest.next().is_none_or(char::is_whitespace);
        if edge(before) && (edge(after) || full_stop) {
            return true;
        }
        from = start + needle.len().max(1);
    }
    false
}

/// Which members of a big object to keep (all when it is small).
pub fn select_members(src: &str, members: &[Member], terms: &Terms) -> Vec<bool> {
    let n = members.len();
    // A map's values are all of one shape; a record with many fields is not a map.
    let shape = |node: &Node| match node {
        Node::Object { .. } => 0,
        Node::Array { .. } => 1,
        _ => 2,
    };
    let uniform = members
        .windows(2)
        .all(|w| shape(&w[0].value) == shape(&w[1].value));
    if n <= MAX_ENTRIES || !uniform {
        return vec![true; n];
    }
    (0..n)
        .map(|i| {
            let m = &members[i];
            i < ENDS
                || i + ENDS >= n
                || terms.matches(&decode_str(src, &m.key))
                || scalar_text(src, &m.value).is_some_and(|v| terms.matches(v))
        })
        .collect()
}

/// Which items of a long array of scalars to keep; `None` when the array is not one.
pub fn select_items(src: &str, items: &[Node], terms: &Terms) -> Option<Vec<bool>> {
    let n = items.len();
    if n <= MAX_ENTRIES || !items.iter().all(|i| scalar_text(src, i).is_some()) {
        return None;
    }
    Some(
        (0..n)
            .map(|i| {
                i < ENDS
                    || i + ENDS >= n
                    || scalar_text(src, &items[i]).is_some_and(|v| terms.matches(v))
            })
            .collect(),
    )
}

fn scalar_text<'s>(src: &'s str, node: &Node) -> Option<&'s str> {
    match node {
        Node::Str { span } | Node::Scalar { span } => Some(&src[span.clone()]),
        _ => None,
    }
}

/// The marker entry for `count` dropped entries: a JSON string, so the skeleton stays JSON.
pub fn marker(count: usize, what: &str) -> String {
    format!("\"[… {} more {what} omitted …]\"", thousands(count))
}

/// A long decoded string cut to its start, with a marker.
pub fn clip_text(s: &str) -> String {
    let head: String = s.chars().take(STRING_HEAD).collect();
    let rest = s.chars().count().saturating_sub(STRING_HEAD);
    format!("{head}[… {} more chars omitted …]", thousands(rest))
}

/// A long string literal cut to its start, still a valid JSON string.
pub fn clip_string(literal: &str) -> Option<String> {
    let inner = literal.strip_prefix('"')?.strip_suffix('"')?;
    if inner.chars().count() <= MAX_STRING {
        return None;
    }
    let mut end = 0;
    for (count, (i, c)) in inner.char_indices().enumerate() {
        if count >= STRING_HEAD {
            break;
        }
        end = i + c.len_utf8();
    }
    // Never cut an escape in half.
    let mut head = &inner[..end];
    let trailing = head.bytes().rev().take_while(|&b| b == b'\\').count();
    if trailing % 2 == 1 {
        head = &head[..head.len() - 1];
    }
    let rest = inner.chars().count() - head.chars().count();
    Some(format!(
        "\"{head}[… {} more chars omitted …]\"",
        thousands(rest)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_terms_match_whole_keys_only() {
        let t = Terms::new("When were express 4.21.2 and 5.0.0 published?");
        assert!(t.matches("4.21.2"));
        assert!(t.matches("5.0.0"));
        assert!(!t.matches("4.21.20"));
        assert!(!t.matches("15.0.0"));
    }

    #[test]
    fn long_strings_keep_their_start_and_stay_json() {
        let lit = format!("\"{}\\n{}\"", "a".repeat(398), "b".repeat(2000));
        let out = clip_string(&lit).unwrap();
        assert!(out.starts_with("\"aaa"));
        assert!(out.ends_with("more chars omitted …]\""));
        assert!(serde_json::from_str::<String>(&out).is_ok());
    }
}
