//! Omission markers and the small text helpers every lossy compressor shares: how an omission
//! is announced, which lines are error-level, which words of the task a line mentions.
//!
//! Must never: produce output that depends on anything but its arguments (markers must be
//! byte-stable across requests, or prompt caches break).

use rust_stemmers::{Algorithm, Stemmer};
use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

/// `1234567` → `1,234,567`.
pub fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// One marker line: `[… 2,994 similar lines omitted (template: "…") …]`.
pub fn omitted(count: usize, what: &str, detail: &str) -> String {
    if detail.is_empty() {
        format!("[… {} {what} omitted …]", thousands(count))
    } else {
        format!("[… {} {what} omitted ({detail}) …]", thousands(count))
    }
}

/// Shortens `s` to at most `max` chars, on a char boundary, with an ellipsis.
pub fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Case-insensitive whole-word test for words that mark a line as error level.
pub fn is_error_level(line: &str) -> bool {
    // Fast path: no letter that starts any of our words.
    let bytes = line.as_bytes();
    if !bytes
        .iter()
        .any(|b| matches!(b | 0x20, b'e' | b'f' | b'p' | b'w' | b't' | b'c' | b's'))
    {
        return false;
    }
    words(line).any(|w| {
        let mut buf = [0u8; 16];
        if w.len() < 3 || w.len() > buf.len() {
            return false;
        }
        for (slot, b) in buf.iter_mut().zip(w.bytes()) {
            *slot = b.to_ascii_lowercase();
        }
        std::str::from_utf8(&buf[..w.len()]).is_ok_and(|lower| ERROR_WORDS.contains(lower))
    })
}

static ERROR_WORDS: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    [
        "error",
        "errors",
        "err",
        "fatal",
        "panic",
        "panicked",
        "exception",
        "traceback",
        "critical",
        "crit",
        "fail",
        "failed",
        "failure",
        "failing",
        "warn",
        "warning",
        "severe",
        "emerg",
        "alert",
        "segfault",
        "oomkilled",
        "crashloopbackoff",
        "caused",
        "denied",
        "refused",
        "unhandled",
        "abort",
        "aborted",
        "timeout",
    ]
    .into_iter()
    .collect()
});

/// Words of a line: maximal runs of alphanumerics (any script) or `_`. Scans bytes; only
/// non-ASCII characters are decoded.
pub fn words(line: &str) -> impl Iterator<Item = &str> {
    let bytes = line.as_bytes();
    let mut at = 0;
    // Whether the character at `i` is a word character, and its length in bytes.
    let class = move |i: usize| -> (bool, usize) {
        let b = bytes[i];
        if b < 0x80 {
            (b.is_ascii_alphanumeric() || b == b'_', 1)
        } else {
            let c = line[i..].chars().next().unwrap_or(' ');
            (c.is_alphanumeric(), c.len_utf8())
        }
    };
    std::iter::from_fn(move || {
        while at < bytes.len() {
            let (word, len) = class(at);
            if word {
                break;
            }
            at += len;
        }
        if at >= bytes.len() {
            return None;
        }
        let start = at;
        while at < bytes.len() {
            let (word, len) = class(at);
            if !word {
                break;
            }
            at += len;
        }
        Some(&line[start..at])
    })
}

/// Whole words of an error type name ending in Error/Exception (`ValueError`, `IOException`).
pub fn has_error_type(line: &str) -> bool {
    words(line).any(|w| {
        w.len() > 5
            && (w.ends_with("Error") || w.ends_with("Exception"))
            && w.as_bytes()[0].is_ascii_uppercase()
    })
}

/// The task's words as directory names are compared with them (two characters or more,
/// lower-case): how listings and search results tell which directories a task names.
#[derive(Debug, Default, Clone)]
pub struct PathWords(Vec<String>);

impl PathWords {
    pub fn new(task: &str) -> Self {
        PathWords(
            words(task)
                .filter(|w| w.len() >= 2)
                .map(str::to_lowercase)
                .collect(),
        )
    }

    /// Whether `name` (one path component or a bare entry name) is one of the task's words.
    pub fn is_word(&self, name: &str) -> bool {
        self.0.iter().any(|w| name.eq_ignore_ascii_case(w))
    }

    /// How many components of the `/`-separated `dir` are task words.
    pub fn score(&self, dir: &str) -> usize {
        dir.split('/').filter(|c| self.is_word(c)).count()
    }
}

/// Of items scored by [`PathWords::score`], the score of those the task names: the top one,
/// when some item holds a task word and fewer than half hold the top (a task that names that
/// much names nothing in particular).
pub fn named_score(scores: &[usize]) -> Option<usize> {
    let top = scores.iter().copied().max().unwrap_or(0);
    let named = scores.iter().filter(|&&s| s == top).count();
    (top > 0 && named * 2 < scores.len()).then_some(top)
}

/// The distinctive words of the task text a block answers.
#[derive(Debug, Default, Clone)]
pub struct TaskWords {
    words: HashSet<String>,
    /// The first two bytes of every word, as a bit set over all 65,536 pairs: a text word
    /// without one of these cannot meet a task word, stemmed or not, so it is never lowercased
    /// in full nor stemmed.
    prefixes: Prefixes,
}

/// A set of two-byte prefixes (one bit per pair).
#[derive(Clone)]
struct Prefixes(Box<[u64; 1024]>);

impl Default for Prefixes {
    fn default() -> Self {
        Prefixes(Box::new([0; 1024]))
    }
}

impl std::fmt::Debug for Prefixes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n: u32 = self.0.iter().map(|w| w.count_ones()).sum();
        write!(f, "Prefixes({n})")
    }
}

impl Prefixes {
    fn index(p: [u8; 2]) -> (usize, u64) {
        let i = (usize::from(p[0]) << 8) | usize::from(p[1]);
        (i / 64, 1 << (i % 64))
    }
    fn insert(&mut self, p: [u8; 2]) {
        let (w, bit) = Self::index(p);
        self.0[w] |= bit;
    }
    fn contains(&self, p: &[u8; 2]) -> bool {
        let (w, bit) = Self::index(*p);
        self.0[w] & bit != 0
    }
}

fn prefix(w: &str) -> Option<[u8; 2]> {
    match w.as_bytes() {
        [a, b, ..] => Some([*a, *b]),
        _ => None,
    }
}

/// The lower-case prefix of a word not yet lowercased, when its first two bytes are ASCII
/// (then lowercasing the whole word cannot change them).
fn ascii_prefix(w: &str) -> Option<[u8; 2]> {
    match w.as_bytes() {
        [a, b, ..] if a.is_ascii() && b.is_ascii() => {
            Some([a.to_ascii_lowercase(), b.to_ascii_lowercase()])
        }
        _ => None,
    }
}

impl TaskWords {
    fn from_words(words: HashSet<String>) -> Self {
        let mut prefixes = Prefixes::default();
        for p in words.iter().filter_map(|w| prefix(w)) {
            prefixes.insert(p);
        }
        TaskWords { words, prefixes }
    }

    /// Whether lower-case `w` is a task word or stems to one.
    fn has(&self, w: &str) -> bool {
        self.words.contains(w)
            || prefix(w).is_some_and(|p| self.prefixes.contains(&p))
                && self.words.contains(stem(w).as_ref())
    }

    /// A word whose prefix no task word has cannot match (checked before lowercasing it).
    fn cannot_match(&self, w: &str) -> bool {
        ascii_prefix(w).is_some_and(|p| !self.prefixes.contains(&p))
    }
}

impl TaskWords {
    pub fn new(task: &str) -> Self {
        let mut set = HashSet::new();
        // Long pasted tasks carry little signal past their start.
        let task = &task[..task.floor_char_boundary(4000)];
        for w in words(task) {
            let lower = w.to_lowercase();
            let has_digit = lower.bytes().any(|b| b.is_ascii_digit());
            let keep = if has_digit {
                lower.len() >= 3
            } else {
                lower.chars().count() >= 4 && !STOPWORDS.contains(lower.as_str())
            };
            if keep {
                if !has_digit {
                    set.insert(stem(&lower).to_string());
                }
                set.insert(lower);
            }
        }
        TaskWords::from_words(set)
    }

    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }

    /// Only the words that occur in at most `max_hits` of `texts`: a word found everywhere
    /// (`useEffect` in a search for `useEffect`) says nothing about which item matters.
    pub fn selective<'t>(
        &self,
        texts: impl Iterator<Item = &'t str>,
        max_hits: usize,
    ) -> TaskWords {
        let mut hits: HashMap<&str, usize> = HashMap::new();
        let mut seen: Vec<&str> = Vec::new();
        let mut buf = String::new();
        for text in texts {
            seen.clear();
            for w in words(text) {
                if self.cannot_match(w) {
                    continue;
                }
                buf.clear();
                buf.extend(w.chars().flat_map(char::to_lowercase));
                let stemmed = match prefix(&buf) {
                    Some(p) if self.prefixes.contains(&p) => stem(&buf),
                    _ => continue,
                };
                for candidate in [buf.as_str(), &stemmed] {
                    if let Some(word) = self.words.get(candidate) {
                        if !seen.contains(&word.as_str()) {
                            seen.push(word.as_str());
                        }
                    }
                }
            }
            for w in &seen {
                *hits.entry(w).or_default() += 1;
            }
        }
        TaskWords::from_words(
            self.words
                .iter()
                .filter(|w| hits.get(w.as_str()).copied().unwrap_or(0) <= max_hits)
                .cloned()
                .collect(),
        )
    }

    /// Whether `text` contains one of the task's words as a whole word.
    pub fn matches(&self, text: &str) -> bool {
        if self.words.is_empty() {
            return false;
        }
        let mut buf = String::new();
        words(text).any(|w| {
            if w.len() < 3 || self.cannot_match(w) {
                return false;
            }
            buf.clear();
            buf.extend(w.chars().flat_map(char::to_lowercase));
            self.has(&buf)
        })
    }
}

/// The English (Porter2 / Snowball) stem of a lower-case word, so `checkouts`, `failing`,
/// `retried` and `rotates` meet `checkout`, `fail`, `retry` and `rotate`.
fn stem(w: &str) -> Cow<'_, str> {
    static ENGLISH: LazyLock<Stemmer> = LazyLock::new(|| Stemmer::create(Algorithm::English));
    ENGLISH.stem(w)
}

static STOPWORDS: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    [
        "about",
        "above",
        "after",
        "again",
        "also",
        "because",
        "been",
        "before",
        "being",
        "below",
        "between",
        "both",
        "could",
        "does",
        "doing",
        "done",
        "down",
        "each",
        "from",
        "have",
        "having",
        "here",
        "into",
        "just",
        "like",
        "look",
        "make",
        "more",
        "most",
        "need",
        "only",
        "other",
        "over",
        "please",
        "same",
        "should",
        "show",
        "some",
        "such",
        "than",
        "that",
        "their",
        "them",
        "then",
        "there",
        "these",
        "they",
        "this",
        "those",
        "through",
        "under",
        "until",
        "very",
        "want",
        "were",
        "what",
        "when",
        "where",
        "which",
        "while",
        "will",
        "with",
        "would",
        "your",
        "check",
        "find",
        "tell",
        "let's",
        "lets",
        "thanks",
        "why",
        "how",
        "can",
        "the",
        "and",
        "for",
        "you",
        "fix",
        "file",
        "files",
        "code",
        "run",
        "running",
        "output",
        "using",
        "use",
        "used",
        "help",
        "know",
        "think",
        "something",
        "anything",
        "everything",
        "into",
        "onto",
        "true",
        "false",
        "null",
        "none",
    ]
    .into_iter()
    .collect()
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inflections_of_a_task_word_meet() {
        for (task, line) in [
            (
                "rotate the certificate",
                "the job rotates certificates nightly",
            ),
            ("how do I parse it", "parsed 12 records"),
            ("which process died", "2 processes exited"),
            ("retry the checkout", "retried checkouts: 3"),
        ] {
            let words = TaskWords::new(task);
            assert!(words.matches(line), "{task:?} should match {line:?}");
        }
        assert!(!TaskWords::new("rotate the certificate").matches("parsed 12 records"));
    }

    #[test]
    fn markers_use_thousands_separators() {
        assert_eq!(
            omitted(2994, "similar lines", "template: \"x\""),
            "[… 2,994 similar lines omitted (template: \"x\") …]"
        );
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
    }

    #[test]
    fn error_level_lines_are_recognised_as_whole_words() {
        assert!(is_error_level("2024-01-01 ERROR db: connection refused"));
        assert!(is_error_level("thread 'main' panicked at src/main.rs:3:5"));
        assert!(is_error_level("npm ERR! code ERESOLVE"));
        assert!(!is_error_level("INFO terrorform applied"));
        assert!(!is_error_level("GET /index.html 200"));
    }

    #[test]
    fn task_words_match_identifiers_case_insensitively() {
        let t = TaskWords::new("Why does InvoiceService fail for customer 48213?");
        assert!(t.matches("at com.acme.billing.InvoiceService.charge(InvoiceService.java:214)"));
        assert!(t.matches("customer_id=48213"));
        assert!(!t.matches("does the thing"));
        let everywhere = [
            "useEffect(a)",
            "useEffect(b)",
            "useEffect(c)",
            "setInterval(poll)",
        ];
        let t = TaskWords::new("which useEffect never clears its interval poll")
            .selective(everywhere.into_iter(), 1);
        assert!(!t.matches("useEffect(x)"));
        assert!(t.matches("poll"));
        let t = TaskWords::new("any failed checkouts?");
        assert!(t.matches("POST /api/v1/checkout"));
    }
}
