//! Source code in any language, plain or as a Read page (`N<TAB>line`): keeps imports, every
//! item signature, the first line of each doc comment, the file's opening comment, and every
//! item the task's words hit (whole when small, a window around each hit when large); other
//! bodies become one marker per run naming the items and, for Read pages, the exact line
//! range so the agent can re-read it.
//!
//! Must never: drop a signature, an import or a line the task's words hit; parse beyond
//! indentation and brackets (it must work on any language and on broken code).

use super::lines::{distinct_task_words, Identifiers, Lines};
use super::marker::TaskWords;
use super::{BlockInput, CompressError, Compressor};
use docs::{docstring_lines, keep_doc_block_before, keep_doc_first_lines, keep_opening_comment};

mod docs;

pub struct CodeCompressor;

impl Compressor for CodeCompressor {
    fn name(&self) -> &'static str {
        "code"
    }

    fn compress(&self, input: &BlockInput<'_>) -> Result<Option<String>, CompressError> {
        Ok(compress_code(input.text, input.task))
    }
}

/// A hit item up to this many lines is kept whole; a bigger one keeps windows around hits.
const WHOLE_ITEM_MAX: usize = 60;
const HIT_RADIUS: usize = 6;
/// An item whose signature one task word hits is kept whole up to this many lines.
const WEAK_SIGNATURE_ITEM_MAX: usize = 30;
/// Lines kept either side of a strong hit inside a comment.
const COMMENT_HIT_RADIUS: usize = 2;

struct Item {
    sig: usize,
    /// Last line of the signature (the one opening the body).
    sig_end: usize,
    /// One past the last body line (the closing line included).
    end: usize,
    label: String,
    parent: Option<usize>,
}

pub fn compress_code(text: &str, task: &str) -> Option<String> {
    let lines = Lines::new(text);
    let src = &lines.text;
    let n = src.len();
    if n < 20 {
        return None;
    }
    let indent: Vec<usize> = src.iter().map(|l| indent_of(l)).collect();
    let items = find_items(src, &indent);
    // Innermost item whose body holds each line.
    let mut owner: Vec<Option<usize>> = vec![None; n];
    for (k, it) in items.iter().enumerate() {
        for o in &mut owner[it.sig_end + 1..it.end] {
            *o = Some(k);
        }
    }
    let mut keep = vec![false; n];
    for it in &items {
        keep[it.sig..=it.sig_end].iter_mut().for_each(|k| *k = true);
        // The closing line of a container whose children are kept.
        if it.end > it.sig_end + 1 && is_close(src[it.end - 1]) && it.end - it.sig > WHOLE_ITEM_MAX
        {
            keep[it.end - 1] = true;
        }
    }
    for i in 0..n {
        let t = src[i].trim();
        if t.is_empty() {
            keep[i] = owner[i].is_none();
        } else if is_import(t) || (owner[i].is_none() && indent[i] == 0 && !is_comment(t)) {
            keep[i] = true;
        }
    }
    keep_doc_first_lines(src, &mut keep);
    keep_opening_comment(src, &mut keep);
    let words = TaskWords::new(task);
    let words = words.selective(src.iter().copied(), (n / 25).max(4));
    let idents = Identifiers::new(task);
    let docstring = docstring_lines(src);
    if !words.is_empty() || !idents.is_empty() {
        for i in 0..n {
            // Prose in comments meets two common task words easily: it needs three.
            let comment = is_comment(src[i].trim_start()) || docstring[i];
            let strong = idents.matches(src[i])
                || compound_hit(&words, src[i])
                || distinct_task_words(&words, src[i]) >= if comment { 3 } else { 2 };
            if !strong && !words.matches(src[i]) {
                continue;
            }
            // One task word in a comment or doc line (prose, doc examples) says little; the
            // doc's first line already stays, and strong hits keep their whole doc block.
            if !strong && comment {
                continue;
            }
            keep[i] = true;
            // One task word alone is a weak hint: the line and its neighbours.
            let (whole_max, radius) = if strong {
                // A hit inside a doc comment (a doc example naming the identifier) keeps a
                // window around it, not the whole block; a hit in code keeps its item's doc.
                if comment {
                    (WHOLE_ITEM_MAX, COMMENT_HIT_RADIUS)
                } else {
                    keep_doc_block_before(src, &items, i, &mut keep);
                    (WHOLE_ITEM_MAX, HIT_RADIUS)
                }
            } else {
                (12, 1)
            };
            // A hit on a signature is a hit on that item.
            let on_signature = items
                .iter()
                .position(|it| (it.sig..=it.sig_end).contains(&i));
            // One task word in an item's signature names the item (`for Option<T>` in a
            // question about Option): a small item stays whole, as for a strong hit.
            let whole_max = if on_signature.is_some() && !strong && !comment {
                WEAK_SIGNATURE_ITEM_MAX
            } else {
                whole_max
            };
            let item = on_signature.or(owner[i]);
            match item {
                Some(k) if items[k].end - items[k].sig <= whole_max => {
                    let it = &items[k];
                    keep[it.sig..it.end].iter_mut().for_each(|k| *k = true);
                    if strong {
                        keep_doc_block_before(src, &items, it.sig, &mut keep);
                    }
                }
                _ => {
                    let lo = i.saturating_sub(radius);
                    let hi = (i + radius + 1).min(n);
                    keep[lo..hi].iter_mut().for_each(|k| *k = true);
                }
            }
            // The item a hit sits in shows where it is: its signature and its parents'.
            let mut at = owner[i];
            while let Some(k) = at {
                keep[items[k].sig..=items[k].sig_end]
                    .iter_mut()
                    .for_each(|k| *k = true);
                at = items[k].parent;
            }
        }
    }
    lines.render(&keep, |run| {
        let mut owners: Vec<usize> = Vec::new();
        for &o in owner[run.clone()].iter().flatten() {
            if !owners.contains(&o) {
                owners.push(o);
            }
        }
        // A container whose member is named goes unnamed (`body of fn new`, not also `impl X`).
        let mut names: Vec<&str> = Vec::new();
        for &o in &owners {
            let parent_of_named = owners.iter().any(|&c| items[c].parent == Some(o));
            let label = items[o].label.as_str();
            if !parent_of_named && !label.is_empty() && !names.contains(&label) {
                names.push(label);
            }
        }
        // A body that starts right under its own signature needs no name: the line above says
        // whose it is, and the name would cost as much as the marker's count.
        let under_own_signature = owner[run.start].is_some_and(|o| {
            let it = &items[o];
            run.start > it.sig_end && run.start <= it.sig_end + 2 && names == [it.label.as_str()]
        });
        // Comment lines between items (the rest of a doc comment whose first line stays) are
        // nobody's body.
        let only_comments = src[run.clone()].iter().all(|l| {
            let t = l.trim();
            t.is_empty() || is_comment(t)
        });
        let what = match names.len() {
            0 => String::new(),
            _ if only_comments => String::new(),
            1 if under_own_signature => String::new(),
            1 => format!("body of {}", names[0]),
            2 | 3 => format!("bodies of {}", names.join(", ")),
            k => format!("bodies of {} and {} more", names[..3].join(", "), k - 3),
        };
        lines.marker(&run, &what)
    })
}

/// An identifier made of two or more of the task's words (`PARSE_DEPTH_LIMIT` for "parse
/// depth limit", `maxDepth` for "max depth").
pub(crate) fn compound_hit(words: &TaskWords, line: &str) -> bool {
    super::marker::words(line).any(|w| {
        let mut parts = 0;
        let mut start = 0;
        let b = w.as_bytes();
        for i in 1..=b.len() {
            let boundary = i == b.len()
                || b[i] == b'_'
                || (b[i].is_ascii_uppercase() && b[i - 1].is_ascii_lowercase());
            if boundary {
                let part = w[start..i].trim_matches('_');
                if part.len() >= 3 && words.matches(part) {
                    parts += 1;
                }
                start = i;
            }
        }
        parts >= 2
    })
}

fn indent_of(line: &str) -> usize {
    let mut w = 0;
    for b in line.bytes() {
        match b {
            b' ' => w += 1,
            b'\t' => w += 4,
            _ => return w,
        }
    }
    usize::MAX
}

/// A comment line in most languages (`//`, `/*`, `*`, `#` but not `#[`, `#include`,
/// `#define`, `--`).
pub(crate) fn is_comment(t: &str) -> bool {
    t.starts_with("//")
        || t.starts_with("/*")
        || t.starts_with('*')
        || t.starts_with('#')
            && !t.starts_with("#[")
            && !t.starts_with("#include")
            && !t.starts_with("#define")
        || t.starts_with("--")
}

fn is_close(line: &str) -> bool {
    let t = line.trim();
    !t.is_empty() && t.chars().all(|c| matches!(c, '}' | ')' | ']' | ';' | ','))
}

fn is_import(t: &str) -> bool {
    const P: [&str; 9] = [
        "use ",
        "pub use ",
        "import ",
        "from ",
        "#include",
        "extern crate ",
        "require ",
        "package ",
        "using ",
    ];
    P.iter().any(|p| t.starts_with(p))
        || (t.starts_with("const ") || t.starts_with("var ")) && t.contains("require(")
}

const MODIFIERS: [&str; 22] = [
    "pub",
    "export",
    "default",
    "async",
    "unsafe",
    "extern",
    "\"C\"",
    "static",
    "public",
    "private",
    "protected",
    "internal",
    "abstract",
    "final",
    "override",
    "open",
    "inline",
    "virtual",
    "const",
    "declare",
    "sealed",
    "Z_EXPORT",
];
const ITEM_KEYWORDS: [&str; 18] = [
    "fn",
    "func",
    "def",
    "class",
    "struct",
    "enum",
    "trait",
    "impl",
    "interface",
    "type",
    "mod",
    "module",
    "union",
    "macro_rules!",
    "function",
    "function*",
    "typedef",
    "namespace",
];
const NOT_ITEMS: [&str; 12] = [
    "if", "for", "while", "switch", "catch", "return", "else", "match", "loop", "do", "try", "with",
];

/// Whether a trimmed line opens an item (function, type, impl, class, method).
fn is_signature(t: &str, indent: usize) -> bool {
    let first = t
        .split(|c: char| c.is_whitespace() || c == '(' || c == '<')
        .next()
        .unwrap_or("");
    if NOT_ITEMS.contains(&first) || t.ends_with(';') && !t.contains('{') {
        return false;
    }
    if opens_with_item_keyword(t) {
        return true;
    }
    // JS/TS `name = (…) =>` or `name = function`.
    if (t.contains("=> {") || t.contains("= function")) && t.ends_with('{') {
        return true;
    }
    // C-like function definitions and methods: `type name(args) {` or a header that continues.
    let opens = t.ends_with('{') || t.ends_with(')') || t.ends_with(',') || t.ends_with('(');
    let Some(paren) = t.find('(') else {
        return false;
    };
    let before = &t[..paren];
    let ident_before = before
        .trim_end()
        .chars()
        .last()
        .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$' || c == ')');
    let plain = before.chars().all(|c| {
        c.is_alphanumeric()
            || matches!(
                c,
                '_' | ' ' | '*' | '&' | ':' | '<' | '>' | '$' | ',' | '(' | ')'
            )
    });
    opens && ident_before && plain && !before.contains(" = ") && (indent == 0 || t.ends_with('{'))
}

/// Whether a trimmed line starts, after modifiers (`pub`, `async`, `static` …), with an item
/// keyword: `pub(crate) fn x(`, `unsafe fn y(`, `class Z:`, `export function w(`.
pub(crate) fn opens_with_item_keyword(t: &str) -> bool {
    let mut rest = t;
    loop {
        let word = rest.split_whitespace().next().unwrap_or("");
        let base = word.split('(').next().unwrap_or(word);
        if MODIFIERS.contains(&base) && rest.len() > word.len() {
            rest = rest[word.len()..].trim_start();
            continue;
        }
        return ITEM_KEYWORDS.contains(&base) || base.starts_with("impl<");
    }
}

/// Items by indentation: a signature at indent d owns the following lines indented deeper,
/// plus its closing line at indent d.
fn find_items(src: &[&str], indent: &[usize]) -> Vec<Item> {
    let n = src.len();
    let mut items: Vec<Item> = Vec::new();
    let mut stack: Vec<usize> = Vec::new();
    let mut i = 0;
    while i < n {
        let t = src[i].trim();
        while let Some(&top) = stack.last() {
            if i >= items[top].end {
                stack.pop();
            } else {
                break;
            }
        }
        if t.is_empty() || is_comment(t) || !is_signature(t, indent[i]) {
            i += 1;
            continue;
        }
        let d = indent[i];
        // The signature ends at the line that opens the body.
        let mut sig_end = i;
        while sig_end < n && sig_end < i + 12 {
            let s = src[sig_end].trim_end();
            if s.ends_with('{') || s.ends_with(':') || s.ends_with(';') || s.ends_with("=>") {
                break;
            }
            if sig_end + 1 < n && src[sig_end + 1].trim() == "{" {
                sig_end += 1;
                break;
            }
            sig_end += 1;
        }
        if sig_end >= n || sig_end >= i + 12 || src[sig_end].trim_end().ends_with(';') {
            i += 1;
            continue;
        }
        let mut end = sig_end + 1;
        while end < n {
            let l = src[end];
            if l.trim().is_empty() || indent[end] > d {
                end += 1;
                continue;
            }
            if indent[end] == d && l.trim_start().starts_with(['}', ')', ']']) {
                end += 1;
            }
            break;
        }
        // Trailing blank lines belong to the gap after the item.
        while end > sig_end + 1 && src[end - 1].trim().is_empty() {
            end -= 1;
        }
        items.push(Item {
            sig: i,
            sig_end,
            end,
            label: label(t),
            parent: stack.last().copied(),
        });
        stack.push(items.len() - 1);
        i = sig_end + 1;
    }
    items
}

/// `pub async fn upstream_request_filter(` → `fn upstream_request_filter`.
pub(crate) fn label(sig: &str) -> String {
    // `pub(crate)` and `pub(super)` are visibility, not the argument list.
    let sig = match sig.strip_prefix("pub(").and_then(|r| r.split_once(')')) {
        Some((_, rest)) => rest.trim_start(),
        None => sig,
    };
    let cut = sig.find(['(', '{', '=', '<', '[']).unwrap_or(sig.len());
    let words: Vec<&str> = sig[..cut]
        .split(|c: char| !(c.is_alphanumeric() || c == '_' || c == '$'))
        .filter(|w| !w.is_empty() && !MODIFIERS.contains(w))
        .collect();
    match words.as_slice() {
        [] => String::new(),
        [one] => (*one).to_string(),
        [.., a, b] => format!("{a} {b}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RUST: &str = "use std::io;\n\n/// Adds two numbers together.\n/// More numbers words here.\n/// And more.\n/// And yet more.\n/// The rest of this comment says nothing a reader needs.\npub fn add(a: i32, b: i32) -> i32 {\n    let c = a + b;\n    let d = c * 2;\n    let e = d - c;\n    let f = e * e - d;\n    let g = f + c * 3;\n    g - e\n}\n\nimpl Thing {\n    /// Makes one.\n    pub fn new() -> Self {\n        let x = 1;\n        let y = 2;\n        let z = 3;\n        let w = x + y + z;\n        let v = w * 2;\n        Thing { x, y, z, v }\n    }\n\n    fn frobnicate(&self) -> usize {\n        let q = self.x;\n        let r = q + 1;\n        let s = r + 2;\n        let t = s * r;\n        let u = t - q;\n        u\n    }\n}\n";

    #[test]
    fn bodies_go_and_signatures_stay() {
        let out = compress_code(RUST, "what does this do?").unwrap();
        assert!(out.contains("pub fn add(a: i32, b: i32) -> i32 {"));
        assert!(out.contains("    pub fn new() -> Self {"));
        assert!(out.contains("/// Adds two numbers together."));
        assert!(!out.contains("/// More numbers words here."));
        assert!(!out.contains("let d = c * 2;"));
        // The marker sits right under the signature that names it.
        assert!(
            out.contains("pub fn add(a: i32, b: i32) -> i32 {\n[… 7 lines omitted …]"),
            "{out}"
        );
    }

    #[test]
    fn the_item_a_task_word_hits_is_kept_whole() {
        let out = compress_code(RUST, "how does frobnicate work?").unwrap();
        assert!(out.contains("let r = q + 1;"));
        assert!(!out.contains("let y = 2;"));
    }

    #[test]
    fn one_task_word_in_a_doc_line_keeps_nothing_more() {
        let out = compress_code(RUST, "which numbers are added?").unwrap();
        assert!(!out.contains("/// More numbers words here."), "{out}");
        // In code the same word keeps its line and neighbours.
        let out = compress_code(
            &RUST.replace("let d = c * 2;", "let numbers = c * 2;"),
            "which numbers are added?",
        )
        .unwrap();
        assert!(out.contains("let numbers = c * 2;"), "{out}");
    }

    #[test]
    fn read_pages_name_the_exact_omitted_range() {
        let page: String = RUST
            .lines()
            .enumerate()
            .map(|(i, l)| format!("{}\t{l}\n", i + 100))
            .collect();
        let out = compress_code(&page, "").unwrap();
        assert!(
            out.contains("107\tpub fn add(a: i32, b: i32) -> i32 {\n[… lines 108–114 omitted …]"),
            "{out}"
        );
        assert!(out.contains("107\tpub fn add("));
    }

    #[test]
    fn a_doc_comment_meeting_two_common_task_words_does_not_pull_in_its_item() {
        // A Read page of pingora-proxy 0.9.1's `src/proxy_trait.rs` (the corpus case).
        let page = include_str!(
            "../../../tests/fixtures/realworld/rust_read_pingora_proxy_trait_offset/input.txt"
        );
        let task = "If my upstream_request_filter removes Content-Length on a request with a body, does Pingora add Transfer-Encoding: chunked by itself?";
        let out = compress_code(page, task).unwrap();
        // The doc that answers (three task words and more) stays with its item.
        assert!(
            out.contains("leaves neither `Content-Length` nor `Transfer-Encoding`, Pingora adds")
        );
        assert!(out.contains("322\t    async fn upstream_request_filter("));
        // A neighbour's doc that only meets "upstream" and "request"-like words keeps its first
        // line, its signature, and a marker with the exact range.
        assert!(out.contains("334\t    /// Adjust upstream modules before they process the response header.\n[… lines 335–353 omitted"), "{out}");
        assert!(out.contains("354\t    async fn adjust_upstream_modules("));
    }

    #[test]
    fn python_docstrings_are_told_from_code() {
        // A Read page of pytest 9.2's `_pytest/python_api.py` (the corpus case).
        let page =
            include_str!("../../../tests/fixtures/realworld/python_read_pytest_approx/input.txt");
        let lines = Lines::new(page);
        let doc = docstring_lines(&lines.text);
        let at = |needle: &str| lines.text.iter().position(|l| l.contains(needle)).unwrap();
        assert!(doc[at("``Approx`` objects support (approximate) equality comparisons")]);
        assert!(doc[at("\"\"\"The return type of :func:`pytest.approx`.")]);
        assert!(!doc[at("__module__ = \"pytest\"")]);
        assert!(!doc[at("class Approx(abc.ABC, Generic[ExpectedT]):")]);
    }

    #[test]
    fn a_doc_example_naming_the_identifier_keeps_a_window_not_its_whole_doc() {
        // A Read page of tokio 1.54's `src/sync/mutex.rs` (the corpus case).
        let page =
            include_str!("../../../tests/fixtures/realworld/rust_read_tokio_mutex/input.txt");
        let task = "How does tokio's Mutex::try_lock report that the lock is already held?";
        let out = compress_code(page, task).unwrap();
        // The code the task names stays with its doc.
        assert!(out.contains("pub fn try_lock(&self) -> Result<MutexGuard<'_, T>, TryLockError> {"));
        assert!(out.contains(
            "/// `Mutex::try_lock` operation will only fail if the mutex is already locked."
        ));
        assert!(out.contains("pub struct TryLockError(pub(super) ());"));
        // `blocking_lock`'s doc example calls `try_lock`: that line and two either side stay,
        // the rest of the 50-line doc goes behind a marker citing its lines.
        assert!(out.contains("    ///     let n = mutex.try_lock().unwrap();"));
        assert!(
            !out.contains("    ///     // Await the completion of the blocking task.\n"),
            "{out}"
        );
        assert!(out.contains("    /// Blockingly locks this `Mutex`. When the lock has been acquired, function returns a\n[… lines 469–"));
    }

    #[test]
    fn a_docstrings_closing_quotes_open_no_doc_of_their_own() {
        // pluggy 1.x `_manager.py`, plain (the corpus case).
        let text =
            include_str!("../../../tests/fixtures/realworld/python_plain_pluggy_manager/input.txt");
        let out = compress_code(text, "What does this file do?").unwrap();
        assert!(out.contains("    def register(self, plugin: _Plugin, name: str | None = None) -> str | None:\n        \"\"\"Register a plugin and return its name.\n[… "), "{out}");
        // The docstring's rest and the body are one omission, not two around a lone `"""`.
        assert!(
            !out.contains("        \"\"\"\n        if plugin is None:"),
            "{out}"
        );
    }
}
