//! HTML pages: parsed with the `tl` parser, scripts, styles, navigation and markup dropped,
//! headings rendered as `#` lines and list items as `- ` lines, text kept with its own line
//! breaks and entities decoded; the resulting text is compressed as a document.
//!
//! Must never: use regexes on markup, recurse without bound, or emit text from `<script>`,
//! `<style>` or `<nav>`.

use super::markdown::compress_document;
use super::{BlockInput, CompressError, Compressor};

pub struct HtmlCompressor;

impl Compressor for HtmlCompressor {
    fn name(&self) -> &'static str {
        "html"
    }

    fn compress(&self, input: &BlockInput<'_>) -> Result<Option<String>, CompressError> {
        let Some(text) = html_to_text(input.text) else {
            return Ok(None);
        };
        Ok(Some(compress_document(&text, input.task).unwrap_or(text)))
    }
}

const MAX_DEPTH: usize = 256;
const SKIP: [&str; 11] = [
    "script", "style", "noscript", "svg", "nav", "template", "iframe", "head", "button", "select",
    "canvas",
];
const BLOCK: [&str; 30] = [
    "p",
    "div",
    "ul",
    "ol",
    "li",
    "tr",
    "table",
    "pre",
    "blockquote",
    "section",
    "article",
    "header",
    "footer",
    "dl",
    "dt",
    "dd",
    "br",
    "hr",
    "title",
    "body",
    "main",
    "aside",
    "figure",
    "figcaption",
    "caption",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
];

/// The readable text of an HTML page, or `None` when it does not parse.
pub fn html_to_text(html: &str) -> Option<String> {
    // The parser mistakes a public-identifier DOCTYPE for text: start after it.
    let mut start = 0;
    let head = html[..html.floor_char_boundary(1024)].to_ascii_lowercase();
    for opener in ["<?xml", "<!doctype"] {
        if let Some(at) = head[start..].find(opener) {
            if let Some(end) = html[start + at..].find('>') {
                start += at + end + 1;
            }
        }
    }
    let markup = tidy_tag_ends(&html[start..]);
    let dom = tl::parse(&markup, tl::ParserOptions::default()).ok()?;
    let parser = dom.parser();
    let mut out = Text::default();
    // The page title, from the skipped <head>.
    if let Some(title) = dom
        .query_selector("title")
        .and_then(|mut q| q.next())
        .and_then(|h| h.get(parser))
    {
        out.block();
        out.push(&decode_entities(&title.inner_text(parser)));
        out.block();
    }
    for h in dom.children() {
        walk(h, parser, 0, &mut out);
    }
    let text = out.finish();
    // A page the parser could not read yields next to nothing: better to keep the page.
    (text.len() * 50 >= html.len() || html.len() < 2048).then_some(text)
}

/// The parser matches tag names case-sensitively and reads a tag end on the next line
/// (`</TITLE\n>`, as DocBook writes them) as text: this lowercases tag names and joins such
/// ends. Attribute values and text are copied unchanged.
fn tidy_tag_ends(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut in_tag = false;
    let mut in_name = false;
    let mut quote: Option<char> = None;
    let mut pending_ws = String::new();
    for c in html.chars() {
        if in_name {
            if c.is_alphanumeric() || c == '/' || c == '-' || c == ':' {
                out.extend(c.to_lowercase());
                continue;
            }
            in_name = false;
        }
        if in_tag {
            match (quote, c) {
                (Some(q), c) if c == q => quote = None,
                (Some(_), _) => {}
                (None, '"' | '\'') => quote = Some(c),
                (None, '>') => {
                    pending_ws.clear();
                    in_tag = false;
                }
                (None, c) if c.is_whitespace() => {
                    pending_ws.push(c);
                    continue;
                }
                _ => {}
            }
            if !pending_ws.is_empty() {
                out.push(' ');
                pending_ws.clear();
            }
            out.push(c);
        } else {
            if c == '<' {
                in_tag = true;
                in_name = true;
            }
            out.push(c);
        }
    }
    out
}

#[derive(Default)]
struct Text {
    buf: String,
    pre: usize,
}

impl Text {
    fn block(&mut self) {
        // A `- ` or `#### ` prefix waits for its text.
        let pending = self.buf.ends_with("\n- ") || self.buf == "- " || self.buf.ends_with("# ");
        if !self.buf.is_empty() && !self.buf.ends_with('\n') && !pending {
            self.buf.push('\n');
        }
    }

    fn push(&mut self, s: &str) {
        if self.pre > 0 {
            self.buf.push_str(s);
            return;
        }
        // Source line breaks stay; indentation of the markup goes.
        for (i, line) in s.split('\n').enumerate() {
            if i > 0 {
                self.buf.push('\n');
            }
            let at_line_start = self.buf.is_empty() || self.buf.ends_with('\n');
            self.buf.push_str(if at_line_start {
                line.trim_start()
            } else {
                line
            });
        }
    }

    fn finish(self) -> String {
        let mut out = String::with_capacity(self.buf.len());
        let mut blank = 0;
        for line in self.buf.split('\n') {
            if line.trim().is_empty() {
                blank += 1;
                if blank == 1 && !out.is_empty() {
                    out.push('\n');
                }
                continue;
            }
            blank = 0;
            out.push_str(line.trim_end_matches('\r'));
            out.push('\n');
        }
        out.trim_end().to_string()
    }
}

fn walk(handle: &tl::NodeHandle, parser: &tl::Parser<'_>, depth: usize, out: &mut Text) {
    if depth > MAX_DEPTH {
        return;
    }
    let Some(node) = handle.get(parser) else {
        return;
    };
    match node {
        tl::Node::Raw(bytes) => out.push(&decode_entities(&bytes.as_utf8_str())),
        tl::Node::Comment(_) => {}
        tl::Node::Tag(tag) => {
            let name = tag.name().as_utf8_str().to_ascii_lowercase();
            if SKIP.contains(&name.as_str()) {
                return;
            }
            let block = BLOCK.contains(&name.as_str()) || name == "h6";
            if block {
                out.block();
            }
            if let Some(level) = name.strip_prefix('h').and_then(|d| d.parse::<usize>().ok()) {
                if (1..=6).contains(&level) {
                    out.buf.push_str(&"#".repeat(level));
                    out.buf.push(' ');
                }
            }
            if name == "li" {
                out.buf.push_str("- ");
            }
            // A defined term heads its definition.
            if name == "dt" {
                out.buf.push_str("#### ");
            }
            let pre = name == "pre";
            if pre {
                out.pre += 1;
            }
            for child in tag.children().top().iter() {
                walk(child, parser, depth + 1, out);
            }
            if pre {
                out.pre -= 1;
            }
            if block {
                out.block();
            }
        }
    }
}

/// `&amp;`, `&lt;`, `&#39;`, `&#x2014;` and the common named entities; others stay as written.
pub fn decode_entities(s: &str) -> String {
    if !s.contains('&') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let end = rest[..rest.len().min(12)].find(';');
        let decoded = end.and_then(|e| entity(&rest[1..e]).map(|c| (c, e)));
        match decoded {
            Some((c, e)) => {
                out.push(c);
                rest = &rest[e + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn entity(name: &str) -> Option<char> {
    if let Some(num) = name.strip_prefix('#') {
        let code = match num.strip_prefix(['x', 'X']) {
            Some(hex) => u32::from_str_radix(hex, 16).ok()?,
            None => num.parse().ok()?,
        };
        return char::from_u32(code);
    }
    Some(match name {
        "amp" => '&',
        "lt" => '<',
        "gt" => '>',
        "quot" => '"',
        "apos" => '\'',
        "nbsp" => ' ',
        "mdash" => '—',
        "ndash" => '–',
        "hellip" => '…',
        "copy" => '©',
        "reg" => '®',
        "rsquo" => '’',
        "lsquo" => '‘',
        "ldquo" => '“',
        "rdquo" => '”',
        "laquo" => '«',
        "raquo" => '»',
        "middot" => '·',
        "bull" => '•',
        "para" => '¶',
        "sect" => '§',
        "times" => '×',
        "shy" => '\u{ad}',
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_scripts_and_navigation_go_text_stays() {
        let html = "<!DOCTYPE html><html><head><title>Tool &amp; Co</title><style>p{}</style></head><body><nav><a href=/>Home</a></nav><h2>2.5 The Closure API</h2><p>This can be useful when\nwriting an interpreter.</p><script>var x = 1;</script><ul><li>one &lt;thing&gt;</li></ul></body></html>";
        let text = html_to_text(html).unwrap();
        assert_eq!(
            text,
            "Tool & Co\n## 2.5 The Closure API\nThis can be useful when\nwriting an interpreter.\n- one <thing>"
        );
    }

    #[test]
    fn tag_ends_on_the_next_line_still_parse() {
        let html = "<HTML\n><BODY\n><H1\nCLASS=\"TITLE\"\n>Users</H1\n><P\n>Some web servers run as www-data.</P\n></BODY\n></HTML\n>".repeat(3);
        let text = html_to_text(&html).unwrap();
        assert!(
            text.starts_with("# Users\nSome web servers run as www-data."),
            "{text}"
        );
    }

    #[test]
    fn numeric_entities_decode() {
        assert_eq!(decode_entities("a&#8212;b&#x41;&bogus;"), "a—bA&bogus;");
    }
}
