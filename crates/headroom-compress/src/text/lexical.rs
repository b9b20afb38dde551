//! Cheap lexical signals for the relevance compressor: how much of the task's vocabulary a unit
//! contains (IDF-weighted), and whether a unit holds an error line. Pure functions.

use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

const STOPWORDS: &[&str] = &[
    "the", "and", "for", "are", "but", "not", "you", "all", "any", "can", "has", "have", "how",
    "its", "our", "out", "was", "what", "when", "where", "which", "who", "why", "will", "with",
    "this", "that", "these", "those", "there", "their", "then", "than", "from", "into", "does",
    "did", "doing", "done", "should", "would", "could", "about", "please", "tell", "show", "find",
    "give", "make", "need", "want", "use", "used", "using", "get", "set", "let", "also", "just",
    "more", "most", "some", "such", "only", "other", "over", "very", "your", "yours", "them",
    "they", "were", "been", "being", "here", "file", "code", "read", "look",
];

/// Lower-cased, lightly stemmed terms of `text`; identifiers split at `_`, `-`, `.`, `::` and
/// camelCase humps as well as kept whole.
pub fn terms(text: &str) -> HashSet<String> {
    let mut out = HashSet::new();
    for word in text.split(|c: char| !(c.is_alphanumeric() || c == '_')) {
        if word.is_empty() {
            continue;
        }
        add_term(&mut out, word);
        if word.contains('_') || word.chars().skip(1).any(char::is_uppercase) {
            for part in split_identifier(word) {
                add_term(&mut out, &part);
            }
        }
    }
    out
}

fn add_term(out: &mut HashSet<String>, word: &str) {
    let lower = word.to_lowercase();
    if lower.chars().count() < 3 || STOPWORDS.contains(&lower.as_str()) {
        return;
    }
    out.insert(stem(&lower));
}

fn split_identifier(word: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut prev_lower = false;
    for c in word.chars() {
        if (c == '_' || (c.is_uppercase() && prev_lower)) && !current.is_empty() {
            parts.push(std::mem::take(&mut current));
        }
        if c != '_' {
            current.push(c);
        }
        prev_lower = c.is_lowercase() || c.is_ascii_digit();
    }
    if !current.is_empty() {
        parts.push(current);
    }
    parts
}

fn stem(word: &str) -> String {
    for suffix in ["ing", "ed", "es", "s"] {
        if let Some(base) = word.strip_suffix(suffix) {
            if base.len() >= 4 {
                return base.to_string();
            }
        }
    }
    word.to_string()
}

/// For each unit, the IDF-weighted share of the task's terms it contains (0..=1). Terms that
/// occur in no unit do not count.
pub fn scores(task: &str, units: &[&str]) -> Vec<f32> {
    let task_terms = terms(task);
    let unit_terms: Vec<HashSet<String>> = units.iter().map(|u| terms(u)).collect();
    let mut df: HashMap<&str, usize> = HashMap::new();
    for t in &task_terms {
        let n = unit_terms.iter().filter(|u| u.contains(t)).count();
        if n > 0 {
            df.insert(t.as_str(), n);
        }
    }
    let n_units = units.len().max(1) as f32;
    let idf = |t: &str| df.get(t).map_or(0.0, |&d| (1.0 + n_units / d as f32).ln());
    let total: f32 = df.keys().map(|t| idf(t)).sum();
    unit_terms
        .iter()
        .map(|u| {
            if total <= 0.0 {
                return 0.0;
            }
            df.keys()
                .filter(|t| u.contains(**t))
                .map(|t| idf(t))
                .sum::<f32>()
                / total
        })
        .collect()
}

static ERROR_LINE: LazyLock<regex::Regex> = LazyLock::new(|| {
    regex::Regex::new(
        r"(?m)\b(ERROR|FATAL|PANIC|CRITICAL)\b|(?i:^\s*\[?(error|fatal|panic|critical)(\]|:|\[))|Traceback \(most recent call last\)|\w(Error|Exception):\s|panicked at ",
    )
    .expect("static regex")
});

/// Whether `text` holds a line that reports an error (kept verbatim by every lossy step).
pub fn has_error_line(text: &str) -> bool {
    ERROR_LINE.is_match(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_split_into_their_words() {
        let t = terms("parseConfigFile read_timeout_ms");
        for want in [
            "parseconfigfile",
            "parse",
            "config",
            "read_timeout_m",
            "timeout",
        ] {
            assert!(t.contains(want), "{want} missing from {t:?}");
        }
    }

    #[test]
    fn rarer_task_terms_weigh_more() {
        let units = [
            "the proxy rotates certificates",
            "the proxy logs requests",
            "proxy proxy",
        ];
        let s = scores("how does the proxy rotate certificates", &units);
        assert!(s[0] > s[1] && s[1] > 0.0, "{s:?}");
        assert!((s[0] - 1.0).abs() < 1e-6, "{s:?}");
    }

    #[test]
    fn error_lines_are_recognised_but_prose_about_errors_is_not() {
        assert!(has_error_line("ok\nERROR: disk full\n"));
        assert!(has_error_line("ValueError: bad input"));
        assert!(has_error_line("thread 'main' panicked at src/main.rs:3"));
        assert!(has_error_line("2024-05-01 12:00:00 FATAL out of memory"));
        assert!(has_error_line("error[E0308]: mismatched types"));
        assert!(!has_error_line("Error handling is described below."));
        assert!(!has_error_line("We log errors and exceptions: see below."));
    }
}
