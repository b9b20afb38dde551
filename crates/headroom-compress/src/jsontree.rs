//! A small JSON parser that records the byte span of every value instead of building owned
//! values. The walker uses it to find the exact bytes of a string to replace; the JSON compressor
//! uses it to read tool output without reordering keys or reformatting numbers.
//!
//! Must never: allocate decoded strings unless asked ([`decode_str`]), recurse without a depth
//! limit, or accept input that `serde_json` would reject.

use std::borrow::Cow;
use std::ops::Range;

const MAX_DEPTH: usize = 128;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid JSON at byte {at}: {what}")]
pub struct ParseError {
    pub at: usize,
    pub what: &'static str,
}

#[derive(Debug, Clone)]
pub enum Node {
    Object {
        span: Range<usize>,
        members: Vec<Member>,
    },
    Array {
        span: Range<usize>,
        items: Vec<Node>,
    },
    /// A string; the span includes both quotes.
    Str { span: Range<usize> },
    /// A number, `true`, `false` or `null`.
    Scalar { span: Range<usize> },
}

#[derive(Debug, Clone)]
pub struct Member {
    /// The key's span, quotes included.
    pub key: Range<usize>,
    pub value: Node,
}

impl Node {
    pub fn span(&self) -> Range<usize> {
        match self {
            Node::Object { span, .. }
            | Node::Array { span, .. }
            | Node::Str { span }
            | Node::Scalar { span } => span.clone(),
        }
    }

    /// The value of `key` in an object (the last one, as serde_json does for duplicates).
    pub fn get<'n>(&'n self, src: &str, key: &str) -> Option<&'n Node> {
        match self {
            Node::Object { members, .. } => members
                .iter()
                .rev()
                .find(|m| decode_str(src, &m.key) == key)
                .map(|m| &m.value),
            _ => None,
        }
    }

    /// The decoded string if this is a string node.
    pub fn as_str<'s>(&self, src: &'s str) -> Option<Cow<'s, str>> {
        match self {
            Node::Str { span } => Some(decode_str(src, span)),
            _ => None,
        }
    }

    /// The decoded string value of `key`, if present and a string.
    pub fn get_str<'s>(&self, src: &'s str, key: &str) -> Option<Cow<'s, str>> {
        self.get(src, key).and_then(|n| n.as_str(src))
    }
}

/// Decodes the string whose span (quotes included) is `span`. Borrowed when it has no escapes.
pub fn decode_str<'s>(src: &'s str, span: &Range<usize>) -> Cow<'s, str> {
    let raw = &src[span.clone()];
    let inner = &raw[1..raw.len().saturating_sub(1).max(1)];
    if !inner.contains('\\') {
        return Cow::Borrowed(inner);
    }
    // The parser validated the escapes, so this only fails on lone surrogates, which
    // serde_json rejects; fall back to the raw text rather than panic.
    match serde_json::from_str::<String>(raw) {
        Ok(s) => Cow::Owned(s),
        Err(_) => Cow::Borrowed(inner),
    }
}

/// Encodes `text` as a JSON string literal, quotes included.
pub fn encode_str(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2 + text.len() / 16);
    out.push('"');
    for ch in text.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Parses a whole document (surrounding whitespace allowed).
pub fn parse(src: &str) -> Result<Node, ParseError> {
    let mut p = Parser {
        b: src.as_bytes(),
        i: 0,
    };
    p.ws();
    let node = p.value(0)?;
    p.ws();
    if p.i != p.b.len() {
        return Err(p.err("trailing characters"));
    }
    Ok(node)
}

/// Parses one value at the start of `src` (after whitespace) and returns it with the offset
/// just past it; whatever follows is left to the caller.
pub fn parse_prefix(src: &str) -> Result<(Node, usize), ParseError> {
    let mut p = Parser {
        b: src.as_bytes(),
        i: 0,
    };
    p.ws();
    let node = p.value(0)?;
    Ok((node, p.i))
}

struct Parser<'a> {
    b: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn err(&self, what: &'static str) -> ParseError {
        ParseError { at: self.i, what }
    }

    fn ws(&mut self) {
        while let Some(c) = self.b.get(self.i) {
            if matches!(c, b' ' | b'\n' | b'\r' | b'\t') {
                self.i += 1;
            } else {
                break;
            }
        }
    }

    /// `depth` counts the arrays and objects around this value. Like `serde_json` (whose limit
    /// of 128 counts down to zero), fewer than `MAX_DEPTH` may be open at once; scalars do not
    /// count.
    fn value(&mut self, depth: usize) -> Result<Node, ParseError> {
        match self.b.get(self.i) {
            Some(b'{' | b'[') if depth + 1 >= MAX_DEPTH => Err(self.err("nested too deeply")),
            Some(b'{') => self.object(depth),
            Some(b'[') => self.array(depth),
            Some(b'"') => {
                let span = self.string()?;
                Ok(Node::Str { span })
            }
            Some(b't') => self.literal(b"true"),
            Some(b'f') => self.literal(b"false"),
            Some(b'n') => self.literal(b"null"),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(_) => Err(self.err("expected a value")),
            None => Err(self.err("unexpected end")),
        }
    }

    fn literal(&mut self, word: &[u8]) -> Result<Node, ParseError> {
        let start = self.i;
        if self.b[self.i..].starts_with(word) {
            self.i += word.len();
            Ok(Node::Scalar {
                span: start..self.i,
            })
        } else {
            Err(self.err("invalid literal"))
        }
    }

    fn digits(&mut self) -> usize {
        let start = self.i;
        while matches!(self.b.get(self.i), Some(b'0'..=b'9')) {
            self.i += 1;
        }
        self.i - start
    }

    fn number(&mut self) -> Result<Node, ParseError> {
        let start = self.i;
        if self.b.get(self.i) == Some(&b'-') {
            self.i += 1;
        }
        match self.b.get(self.i) {
            Some(b'0') => self.i += 1,
            Some(b'1'..=b'9') => {
                self.digits();
            }
            _ => return Err(self.err("invalid number")),
        }
        if self.b.get(self.i) == Some(&b'.') {
            self.i += 1;
            if self.digits() == 0 {
                return Err(self.err("invalid number"));
            }
        }
        if matches!(self.b.get(self.i), Some(b'e' | b'E')) {
            self.i += 1;
            if matches!(self.b.get(self.i), Some(b'+' | b'-')) {
                self.i += 1;
            }
            if self.digits() == 0 {
                return Err(self.err("invalid number"));
            }
        }
        Ok(Node::Scalar {
            span: start..self.i,
        })
    }

    fn hex4(&mut self) -> Result<u32, ParseError> {
        let s = self
            .b
            .get(self.i..self.i + 4)
            .ok_or(self.err("bad \\u escape"))?;
        let mut v = 0u32;
        for &c in s {
            let d = (c as char).to_digit(16).ok_or(self.err("bad \\u escape"))?;
            v = v * 16 + d;
        }
        self.i += 4;
        Ok(v)
    }

    /// Returns the span of a string starting at `self.i` (which is a quote), quotes included.
    fn string(&mut self) -> Result<Range<usize>, ParseError> {
        let start = self.i;
        self.i += 1;
        loop {
            // Fast skip over plain bytes.
            let rest = &self.b[self.i..];
            let skip = rest
                .iter()
                .position(|&c| c == b'"' || c == b'\\' || c < 0x20)
                .ok_or(self.err("unterminated string"))?;
            self.i += skip;
            match self.b[self.i] {
                b'"' => {
                    self.i += 1;
                    return Ok(start..self.i);
                }
                b'\\' => {
                    self.i += 1;
                    match self.b.get(self.i) {
                        Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => self.i += 1,
                        Some(b'u') => {
                            self.i += 1;
                            let v = self.hex4()?;
                            if (0xD800..0xDC00).contains(&v) {
                                // A high surrogate must be followed by a low one.
                                if self.b.get(self.i..self.i + 2) != Some(b"\\u") {
                                    return Err(self.err("lone surrogate"));
                                }
                                self.i += 2;
                                let lo = self.hex4()?;
                                if !(0xDC00..0xE000).contains(&lo) {
                                    return Err(self.err("lone surrogate"));
                                }
                            } else if (0xDC00..0xE000).contains(&v) {
                                return Err(self.err("lone surrogate"));
                            }
                        }
                        _ => return Err(self.err("bad escape")),
                    }
                }
                _ => return Err(self.err("control character in string")),
            }
        }
    }

    fn object(&mut self, depth: usize) -> Result<Node, ParseError> {
        let start = self.i;
        self.i += 1;
        let mut members = Vec::new();
        self.ws();
        if self.b.get(self.i) == Some(&b'}') {
            self.i += 1;
            return Ok(Node::Object {
                span: start..self.i,
                members,
            });
        }
        loop {
            self.ws();
            if self.b.get(self.i) != Some(&b'"') {
                return Err(self.err("expected a key"));
            }
            let key = self.string()?;
            self.ws();
            if self.b.get(self.i) != Some(&b':') {
                return Err(self.err("expected ':'"));
            }
            self.i += 1;
            self.ws();
            let value = self.value(depth + 1)?;
            members.push(Member { key, value });
            self.ws();
            match self.b.get(self.i) {
                Some(b',') => self.i += 1,
                Some(b'}') => {
                    self.i += 1;
                    return Ok(Node::Object {
                        span: start..self.i,
                        members,
                    });
                }
                _ => return Err(self.err("expected ',' or '}'")),
            }
        }
    }

    fn array(&mut self, depth: usize) -> Result<Node, ParseError> {
        let start = self.i;
        self.i += 1;
        let mut items = Vec::new();
        self.ws();
        if self.b.get(self.i) == Some(&b']') {
            self.i += 1;
            return Ok(Node::Array {
                span: start..self.i,
                items,
            });
        }
        loop {
            self.ws();
            items.push(self.value(depth + 1)?);
            self.ws();
            match self.b.get(self.i) {
                Some(b',') => self.i += 1,
                Some(b']') => {
                    self.i += 1;
                    return Ok(Node::Array {
                        span: start..self.i,
                        items,
                    });
                }
                _ => return Err(self.err("expected ',' or ']'")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_string_spans_with_quotes() {
        let src = r#" {"a": "x\"y", "b": [1, -2.5e3, true, null]} "#;
        let node = parse(src).unwrap();
        let a = node.get(src, "a").unwrap();
        assert_eq!(&src[a.span()], r#""x\"y""#);
        assert_eq!(a.as_str(src).unwrap(), "x\"y");
        let b = node.get(src, "b").unwrap();
        assert_eq!(&src[b.span()], "[1, -2.5e3, true, null]");
    }

    #[test]
    fn rejects_what_serde_json_rejects() {
        for bad in [
            "{",
            "[1,]",
            "{\"a\" 1}",
            "01",
            "1.",
            "\"\\x\"",
            "\"a\nb\"",
            "\"\\ud800\"",
            "[] x",
            "-",
            "tru",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} should fail");
            assert!(serde_json::from_str::<serde_json::Value>(bad).is_err());
        }
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        let deep = "[".repeat(100_000);
        assert!(parse(&deep).is_err());
    }

    #[test]
    fn encoding_round_trips_through_serde_json() {
        let text = "tab\t nl\n quote\" back\\ bell\u{7} é 🙂 \u{2028}";
        let enc = encode_str(text);
        assert_eq!(serde_json::from_str::<String>(&enc).unwrap(), text);
    }

    #[test]
    fn nesting_limit_matches_serde_json() {
        for n in 126..=130 {
            for inner in ["", "1", "{}", "\"s\""] {
                let doc = format!("{}{inner}{}", "[".repeat(n), "]".repeat(n));
                let serde = serde_json::from_str::<serde_json::Value>(&doc).is_ok();
                assert_eq!(parse(&doc).is_ok(), serde, "{n} arrays around {inner:?}");
            }
        }
    }
}
