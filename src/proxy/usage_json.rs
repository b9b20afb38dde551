//! A single-pass read of a JSON response body's top-level `usage` and `model`, for the usage
//! tap's common case: a plain, valid answer. It validates the whole body (grammar, string
//! contents, escapes, UTF-8, nesting) while it looks for the two fields, building nothing.
//!
//! It answers only when it is sure of serde's answer, and is stricter than serde where that is
//! simpler: any escape in a key or in the model name, a number in a usage field that is not a
//! plain unsigned integer, a repeated field, a top level that is not an object, deep nesting —
//! each gives `None`, and the tap falls back to its serde reads, which settle those cases.
//!
//! Must never: answer for a body serde would refuse, or answer differently from the typed serde
//! read for a body it accepts.

use crate::usage::Usage;

/// The usage fields the tap reads, as a response states them.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) struct Counts {
    pub input_tokens: Option<u64>,
    pub prompt_tokens: Option<u64>,
    pub output_tokens: Option<u64>,
    pub completion_tokens: Option<u64>,
    pub cache_read_input_tokens: Option<u64>,
    pub cache_creation_input_tokens: Option<u64>,
    /// `prompt_tokens_details.cached_tokens` (OpenAI).
    pub cached_tokens: Option<u64>,
}

/// What a body says: its `usage` object (absent or `null`: `None`) and `model` name.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Read<'a> {
    pub usage: Option<Counts>,
    pub model: Option<&'a str>,
}

impl Counts {
    /// What [`Usage::merge`] does with the same object as a `Value`.
    pub(super) fn merge_into(&self, usage: &mut Usage) {
        if let Some(v) = self.input_tokens.or(self.prompt_tokens) {
            usage.input = v;
        }
        if let Some(v) = self.output_tokens.or(self.completion_tokens) {
            usage.output = v;
        }
        if let Some(v) = self.cache_read_input_tokens.or(self.cached_tokens) {
            usage.cache_read = v;
        }
        if let Some(v) = self.cache_creation_input_tokens {
            usage.cache_creation = v;
        }
    }
}

/// Deeper bodies are left to serde (its own limit is 128 levels).
const MAX_DEPTH: usize = 64;

/// Reads `usage` and `model` from `body`; `None` when unsure (see the module doc).
pub(super) fn read(body: &[u8]) -> Option<Read<'_>> {
    let mut s = Scan { b: body, at: 0 };
    let mut out = Read::default();
    let (mut seen_usage, mut seen_model) = (false, false);
    s.ws();
    s.eat(b'{')?;
    s.ws();
    if !s.eat_if(b'}') {
        loop {
            let key = s.key()?;
            s.ws();
            s.eat(b':')?;
            s.ws();
            match key {
                b"usage" if !seen_usage => {
                    seen_usage = true;
                    out.usage = if s.literal(b"null") {
                        None
                    } else {
                        Some(s.usage()?)
                    };
                }
                b"model" if !seen_model => {
                    seen_model = true;
                    if !s.literal(b"null") {
                        // serde reads it as text: it must be UTF-8.
                        out.model = Some(std::str::from_utf8(s.plain_string::<false>()?).ok()?);
                    }
                }
                b"usage" | b"model" => return None,
                _ => s.skip_value(1)?,
            }
            s.ws();
            if s.eat_if(b',') {
                s.ws();
                continue;
            }
            s.eat(b'}')?;
            break;
        }
    }
    s.ws();
    (s.at == body.len()).then_some(out)
}

struct Scan<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Scan<'a> {
    #[inline]
    fn peek(&self) -> Option<u8> {
        self.b.get(self.at).copied()
    }

    #[inline]
    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\n' | b'\t' | b'\r')) {
            self.at += 1;
        }
    }

    #[inline]
    fn eat(&mut self, c: u8) -> Option<()> {
        self.eat_if(c).then_some(())
    }

    #[inline]
    fn eat_if(&mut self, c: u8) -> bool {
        let hit = self.peek() == Some(c);
        self.at += usize::from(hit);
        hit
    }

    #[inline]
    fn literal(&mut self, word: &[u8]) -> bool {
        let hit = self.b[self.at..].starts_with(word);
        if hit {
            self.at += word.len();
        }
        hit
    }

    /// A string without escapes or control characters (with `ASCII`, only ASCII);
    /// its content.
    #[inline]
    fn plain_string<const ASCII: bool>(&mut self) -> Option<&'a [u8]> {
        self.eat(b'"')?;
        let rest = &self.b[self.at..];
        let end = string_stop::<ASCII>(rest)?;
        if rest[end] != b'"' {
            return None;
        }
        self.at += end + 1;
        Some(&rest[..end])
    }

    /// A key serde compares with field names: plain ASCII (serde reads keys as UTF-8 text;
    /// ASCII is stricter and cheaper to check, in the same scan that finds the key's end).
    #[inline]
    fn key(&mut self) -> Option<&'a [u8]> {
        self.plain_string::<true>()
    }

    /// Any string, escapes checked (serde checks no UTF-8 in strings it skips).
    #[inline(always)]
    fn skip_string(&mut self) -> Option<()> {
        self.eat(b'"')?;
        let b = self.b;
        let mut at = self.at;
        loop {
            at += string_stop::<false>(b.get(at..)?)?;
            match b[at] {
                b'"' => {
                    self.at = at + 1;
                    return Some(());
                }
                b'\\' => {}
                _ => return None, // a control character
            }
            match *b.get(at + 1)? {
                b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => at += 2,
                b'u' => {
                    let hex = b.get(at + 2..at + 6)?;
                    if !hex.iter().all(u8::is_ascii_hexdigit) {
                        return None;
                    }
                    at += 6;
                }
                _ => return None,
            }
        }
    }

    /// A JSON number: `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`.
    fn skip_number(&mut self) -> Option<()> {
        self.eat_if(b'-');
        match self.peek()? {
            b'0' => self.at += 1,
            b'1'..=b'9' => self.digits(),
            _ => return None,
        }
        if self.eat_if(b'.') {
            self.some_digits()?;
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.at += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.at += 1;
            }
            self.some_digits()?;
        }
        Some(())
    }

    fn digits(&mut self) {
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.at += 1;
        }
    }

    fn some_digits(&mut self) -> Option<()> {
        let from = self.at;
        self.digits();
        (self.at > from).then_some(())
    }

    /// Any value, its nesting checked without recursion: `objects` holds one bit per open
    /// container (1: an object, whose members start with a key), innermost lowest.
    #[inline(always)]
    fn skip_value(&mut self, depth: usize) -> Option<()> {
        let mut objects: u64 = 0;
        let mut open = 0usize;
        loop {
            // A value starts here.
            match self.peek()? {
                b'"' => self.skip_string()?,
                c @ (b'{' | b'[') => {
                    if depth + open >= MAX_DEPTH {
                        return None;
                    }
                    let keyed = c == b'{';
                    self.at += 1;
                    self.ws();
                    if !self.eat_if(if keyed { b'}' } else { b']' }) {
                        objects = (objects << 1) | u64::from(keyed);
                        open += 1;
                        if keyed {
                            self.member_key()?;
                        }
                        continue;
                    }
                }
                b't' => self.literal(b"true").then_some(())?,
                b'f' => self.literal(b"false").then_some(())?,
                b'n' => self.literal(b"null").then_some(())?,
                _ => self.skip_number()?,
            }
            // A value ended: the next member, or the end of containers.
            loop {
                if open == 0 {
                    return Some(());
                }
                self.ws();
                let keyed = objects & 1 == 1;
                if self.eat_if(b',') {
                    self.ws();
                    if keyed {
                        self.member_key()?;
                    }
                    break;
                }
                self.eat(if keyed { b'}' } else { b']' })?;
                objects >>= 1;
                open -= 1;
            }
        }
    }

    /// A skipped member's key and colon, up to its value.
    #[inline(always)]
    fn member_key(&mut self) -> Option<()> {
        self.skip_string()?;
        self.ws();
        self.eat(b':')?;
        self.ws();
        Some(())
    }

    /// A plain unsigned integer or `null` (serde's `Option<u64>` accepts more; those go to it).
    #[inline(always)]
    fn count(&mut self) -> Option<Option<u64>> {
        if self.literal(b"null") {
            return Some(None);
        }
        let mut n: u64 = 0;
        match self.peek()? {
            b'0' => self.at += 1,
            b'1'..=b'9' => {
                while let Some(d) = self.peek().filter(u8::is_ascii_digit) {
                    n = n.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
                    self.at += 1;
                }
            }
            _ => return None,
        }
        if matches!(self.peek(), Some(b'.' | b'e' | b'E')) {
            return None;
        }
        Some(Some(n))
    }

    /// A `usage` object; its counts.
    fn usage(&mut self) -> Option<Counts> {
        let mut c = Counts::default();
        let mut seen = 0u8;
        self.keyed(|s, key| {
            // By length first: one jump, then at most two comparisons (of a handful of words).
            let (bit, slot) = match key.len() {
                12 if key == b"input_tokens" => (0, &mut c.input_tokens),
                13 if key == b"prompt_tokens" => (1, &mut c.prompt_tokens),
                13 if key == b"output_tokens" => (2, &mut c.output_tokens),
                17 if key == b"completion_tokens" => (3, &mut c.completion_tokens),
                23 if key == b"cache_read_input_tokens" => (4, &mut c.cache_read_input_tokens),
                27 if key == b"cache_creation_input_tokens" => {
                    (5, &mut c.cache_creation_input_tokens)
                }
                21 if key == b"prompt_tokens_details" => {
                    if seen & (1 << 6) != 0 {
                        return None;
                    }
                    seen |= 1 << 6;
                    c.cached_tokens = s.details()?;
                    return Some(());
                }
                _ => return s.skip_value(2),
            };
            if seen & (1 << bit) != 0 {
                return None;
            }
            seen |= 1 << bit;
            *slot = s.count()?;
            Some(())
        })?;
        Some(c)
    }

    /// `prompt_tokens_details`: `null` or an object; its `cached_tokens`.
    fn details(&mut self) -> Option<Option<u64>> {
        if self.literal(b"null") {
            return Some(None);
        }
        let mut cached = None;
        let mut seen = false;
        self.keyed(|s, key| {
            if key != b"cached_tokens" {
                return s.skip_value(3);
            }
            if std::mem::replace(&mut seen, true) {
                return None;
            }
            cached = s.count()?;
            Some(())
        })?;
        Some(cached)
    }

    /// An object whose keys are plain strings; `field` reads each value.
    #[inline(always)]
    fn keyed(&mut self, mut field: impl FnMut(&mut Self, &[u8]) -> Option<()>) -> Option<()> {
        self.eat(b'{')?;
        self.ws();
        if self.eat_if(b'}') {
            return Some(());
        }
        loop {
            let key = self.key()?;
            self.ws();
            self.eat(b':')?;
            self.ws();
            field(self, key)?;
            self.ws();
            if self.eat_if(b',') {
                self.ws();
                continue;
            }
            return self.eat(b'}');
        }
    }
}

/// Bytes that end a string's plain run: `"`, backslash and control characters.
const STOPS: [bool; 256] = {
    let mut t = [false; 256];
    let mut c = 0;
    while c < 0x20 {
        t[c] = true;
        c += 1;
    }
    t[b'"' as usize] = true;
    t[b'\\' as usize] = true;
    t
};

/// The index of the first `"`, backslash or control character in `s` (with `ASCII`, also the
/// first byte above 0x7f), eight bytes at a time. In each word a byte is flagged when it is
/// below 0x20 or equal to either (the zero-byte test); a borrow can only flag bytes above a
/// truly flagged one, so the lowest flag is the answer.
#[inline(always)]
fn string_stop<const ASCII: bool>(s: &[u8]) -> Option<usize> {
    const ONES: u64 = u64::MAX / 255;
    const HIGH: u64 = ONES << 7;
    let mut i = 0;
    while let Some(chunk) = s.get(i..i + 8) {
        let w = u64::from_le_bytes(chunk.try_into().ok()?);
        let quote = w ^ (ONES * u64::from(b'"'));
        let slash = w ^ (ONES * u64::from(b'\\'));
        let high = if ASCII { w } else { 0 };
        let flagged = ((w.wrapping_sub(ONES * 0x20) & !w)
            | (quote.wrapping_sub(ONES) & !quote)
            | (slash.wrapping_sub(ONES) & !slash)
            | high)
            & HIGH;
        if flagged != 0 {
            return Some(i + (flagged.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    s[i..]
        .iter()
        .position(|&c| STOPS[usize::from(c)] || (ASCII && c > 0x7f))
        .map(|j| i + j)
}

#[cfg(test)]
mod tests {
    #[test]
    fn string_stop_is_exact_for_every_byte_at_every_position() {
        let reference = |s: &[u8]| s.iter().position(|&c| c == b'"' || c == b'\\' || c < 0x20);
        let ascii_reference = |s: &[u8]| {
            s.iter()
                .position(|&c| c == b'"' || c == b'\\' || !(0x20..=0x7f).contains(&c))
        };
        let check = |s: &[u8], what: &str| {
            assert_eq!(super::string_stop::<false>(s), reference(s), "{what}");
            assert_eq!(
                super::string_stop::<true>(s),
                ascii_reference(s),
                "ASCII {what}"
            );
        };
        // Fillers next to the stop byte include those whose borrow could mislead the word test.
        for filler in [b'a', 0x20, 0x7f, 0x80, 0xa0, 0xff] {
            for v in 0..=255u8 {
                for at in 0..20 {
                    for len in [at + 1, 24] {
                        let mut s = vec![filler; len];
                        s[at] = v;
                        check(&s, &format!("{filler} {v} {at}"));
                        if at + 1 < len {
                            s[at + 1] = 0x00;
                            check(&s, &format!("{v} {at} then 0"));
                        }
                    }
                }
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn string_stop_finds_the_first_quote_backslash_or_control_byte(
            s in proptest::collection::vec(
                proptest::prop_oneof![
                    4 => 0x20u8..=0xff,
                    1 => proptest::sample::select(vec![b'"', b'\\', 0x00, 0x1f, 0x7f, 0x80]),
                ],
                0..80,
            )
        ) {
            let plain = s.iter().position(|&c| c == b'"' || c == b'\\' || c < 0x20);
            proptest::prop_assert_eq!(super::string_stop::<false>(&s), plain);
            let ascii = s.iter().position(|&c| c == b'"' || c == b'\\' || !(0x20..=0x7f).contains(&c));
            proptest::prop_assert_eq!(super::string_stop::<true>(&s), ascii);
        }
    }
}
