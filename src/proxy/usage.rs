//! Taps token usage from upstream responses while their bytes pass through untouched.
//!
//! JSON responses: the `usage` object of the whole body. SSE: Anthropic's
//! `message_start.message.usage` and `message_delta.usage`, OpenAI's `usage` in the final chunk.
//! Must never: delay, alter or hold back a byte of the response; grow without bound.

use super::usage_answer::bounded_model;
use bytes::Bytes;
use serde_json::Value;

/// Upper bound on a buffered JSON body or a single SSE line we try to read usage from.
const MAX_TAPPED: usize = 4 * 1024 * 1024;

pub use crate::usage::Usage;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Identity,
    Gzip,
    Deflate,
}

#[derive(Debug)]
enum Mode {
    Off,
    Json(JsonBody, Encoding),
    Sse(Vec<u8>),
}

/// A JSON body as it arrived. Most answers come in one chunk: it is kept as it is (a shared
/// reference to the bytes already passed on), not copied.
#[derive(Debug, Default)]
enum JsonBody {
    #[default]
    Empty,
    One(Bytes),
    Many(Vec<u8>),
}

impl JsonBody {
    fn len(&self) -> usize {
        match self {
            JsonBody::Empty => 0,
            JsonBody::One(b) => b.len(),
            JsonBody::Many(v) => v.len(),
        }
    }

    fn push(&mut self, chunk: &[u8], shared: Option<&Bytes>) {
        match self {
            JsonBody::Empty => {
                *self = match shared {
                    Some(b) => JsonBody::One(b.clone()),
                    None => JsonBody::Many(chunk.to_vec()),
                }
            }
            JsonBody::One(first) => {
                let mut all = Vec::with_capacity(first.len() + chunk.len());
                all.extend_from_slice(first);
                all.extend_from_slice(chunk);
                *self = JsonBody::Many(all);
            }
            JsonBody::Many(all) => all.extend_from_slice(chunk),
        }
    }

    fn as_slice(&self) -> &[u8] {
        match self {
            JsonBody::Empty => &[],
            JsonBody::One(b) => b,
            JsonBody::Many(v) => v,
        }
    }
}

/// Watches one response body.
#[derive(Debug)]
pub struct UsageTap {
    mode: Mode,
    pub usage: Usage,
    /// The model the response names (`model`, or `message.model` in `message_start`).
    pub model: Option<String>,
}

impl Default for UsageTap {
    fn default() -> Self {
        UsageTap {
            mode: Mode::Off,
            usage: Usage::default(),
            model: None,
        }
    }
}

impl UsageTap {
    /// Chooses how to read the body from its response headers.
    pub fn for_response(content_type: Option<&str>, content_encoding: Option<&str>) -> UsageTap {
        let encoding = match content_encoding.map(str::trim) {
            None => Some(Encoding::Identity),
            Some(e) if e.is_empty() || e.eq_ignore_ascii_case("identity") => {
                Some(Encoding::Identity)
            }
            Some(e) if e.eq_ignore_ascii_case("gzip") || e.eq_ignore_ascii_case("x-gzip") => {
                Some(Encoding::Gzip)
            }
            Some(e) if e.eq_ignore_ascii_case("deflate") => Some(Encoding::Deflate),
            Some(_) => None,
        };
        let ct = content_type.unwrap_or("").as_bytes();
        const SSE: &[u8] = b"text/event-stream";
        let sse = ct.len() >= SSE.len() && ct[..SSE.len()].eq_ignore_ascii_case(SSE);
        let json = names_json(ct);
        let mode = match encoding {
            Some(Encoding::Identity) if sse => Mode::Sse(Vec::new()),
            Some(enc) if json => Mode::Json(JsonBody::Empty, enc),
            _ => Mode::Off,
        };
        UsageTap {
            mode,
            usage: Usage::default(),
            model: None,
        }
    }

    /// Feeds a chunk of the body as it passes.
    pub fn feed(&mut self, chunk: &[u8]) {
        self.feed_shared(chunk, None)
    }

    /// Feeds a chunk the proxy holds as `Bytes` (a JSON body that is one chunk is kept, not
    /// copied).
    pub fn feed_bytes(&mut self, chunk: &Bytes) {
        self.feed_shared(chunk, Some(chunk))
    }

    fn feed_shared(&mut self, chunk: &[u8], shared: Option<&Bytes>) {
        match &mut self.mode {
            Mode::Off => {}
            Mode::Json(buf, _) => {
                if buf.len() + chunk.len() > MAX_TAPPED {
                    self.mode = Mode::Off;
                } else {
                    buf.push(chunk, shared);
                }
            }
            Mode::Sse(pending) => {
                let mut rest = chunk;
                while let Some(i) = rest.iter().position(|&b| b == b'\n') {
                    pending.extend_from_slice(&rest[..i]);
                    let line = std::mem::take(pending);
                    sse_line(&line, &mut self.usage, &mut self.model);
                    rest = &rest[i + 1..];
                }
                if pending.len() + rest.len() > MAX_TAPPED {
                    pending.clear();
                } else {
                    pending.extend_from_slice(rest);
                }
            }
        }
    }

    /// Call once the body has ended (the proxy does in its logging phase, after the answer has
    /// gone out: a JSON answer is read whole here).
    pub fn finish(&mut self) {
        match std::mem::replace(&mut self.mode, Mode::Off) {
            Mode::Json(buf, enc) => {
                let Some(buf) = decode(buf.as_slice(), enc) else {
                    return;
                };
                super::usage_answer::read_answer(&buf, &mut self.usage, &mut self.model);
            }
            Mode::Sse(pending) => sse_line(&pending, &mut self.usage, &mut self.model),
            Mode::Off => {}
        }
    }
}

/// True when a `Content-Type` value names JSON (`application/json`, `…+json`, any case).
pub(crate) fn names_json(content_type: &[u8]) -> bool {
    content_type
        .windows(4)
        .any(|w| w.eq_ignore_ascii_case(b"json"))
}

/// Undoes a content encoding, bounded by `MAX_TAPPED` output bytes.
fn decode(buf: &[u8], enc: Encoding) -> Option<std::borrow::Cow<'_, [u8]>> {
    use std::io::Read;
    let mut out = Vec::new();
    let limit = MAX_TAPPED as u64 + 1;
    let read = match enc {
        Encoding::Identity => return Some(std::borrow::Cow::Borrowed(buf)),
        Encoding::Gzip => flate2::read::GzDecoder::new(buf)
            .take(limit)
            .read_to_end(&mut out),
        Encoding::Deflate => flate2::read::ZlibDecoder::new(buf)
            .take(limit)
            .read_to_end(&mut out),
    };
    (read.is_ok() && out.len() <= MAX_TAPPED).then_some(std::borrow::Cow::Owned(out))
}

/// Keeps the first model name seen (bounded: it ends up in stats and the dashboard).
fn note_model(v: &Value, model: &mut Option<String>) {
    if model.is_none() {
        if let Some(m) = v.get("model").and_then(Value::as_str) {
            *model = Some(bounded_model(m));
        }
    }
}

fn sse_line(line: &[u8], usage: &mut Usage, model: &mut Option<String>) {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let Some(data) = line.strip_prefix(b"data:") else {
        return;
    };
    // Cheap filter: most events (content deltas) carry no usage.
    if !contains(data, b"usage") {
        return;
    }
    let Ok(v) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    match v.get("type").and_then(Value::as_str) {
        Some("message_start") => {
            if let Some(m) = v.get("message") {
                note_model(m, model);
            }
            if let Some(u) = v.get("message").and_then(|m| m.get("usage")) {
                usage.merge(u);
            }
        }
        _ => {
            note_model(&v, model);
            if let Some(u) = v.get("usage").filter(|u| u.is_object()) {
                usage.merge(u);
            }
        }
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_the_model_from_json_and_sse_responses() {
        let mut tap = UsageTap::for_response(Some("application/json"), None);
        tap.feed(br#"{"model":"claude-sonnet-4-5","usage":{"input_tokens":3}}"#);
        tap.finish();
        assert_eq!(tap.model.as_deref(), Some("claude-sonnet-4-5"));
        let mut tap = UsageTap::for_response(Some("text/event-stream"), None);
        tap.feed(b"event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"model\":\"claude-haiku-4-5\",\"usage\":{\"input_tokens\":1}}}\n\n");
        tap.finish();
        assert_eq!(tap.model.as_deref(), Some("claude-haiku-4-5"));
    }

    #[test]
    fn reads_anthropic_sse_usage_across_split_chunks() {
        let stream = concat!(
            "event: message_start\n",
            "data: {\"type\":\"message_start\",\"message\":{\"id\":\"m\",\"usage\":{\"input_tokens\":25,\"cache_read_input_tokens\":7,\"cache_creation_input_tokens\":3,\"output_tokens\":1}}}\n\n",
            "event: content_block_delta\n",
            "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"hi\"}}\n\n",
            "event: message_delta\r\n",
            "data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":15}}\r\n\r\n",
        );
        for split in [1usize, 7, 64, stream.len()] {
            let mut tap = UsageTap::for_response(Some("text/event-stream; charset=utf-8"), None);
            for c in stream.as_bytes().chunks(split) {
                tap.feed(c);
            }
            tap.finish();
            assert_eq!(
                tap.usage,
                Usage {
                    input: 25,
                    output: 15,
                    cache_read: 7,
                    cache_creation: 3
                },
                "split {split}"
            );
        }
    }

    #[test]
    fn reads_json_and_openai_usage() {
        let mut tap = UsageTap::for_response(Some("application/json"), None);
        tap.feed(br#"{"id":"x","usage":{"prompt_tokens":10,"completion_tokens":4,"prompt_tokens_details":{"cached_tokens":6}}}"#);
        tap.finish();
        assert_eq!(
            tap.usage,
            Usage {
                input: 10,
                output: 4,
                cache_read: 6,
                cache_creation: 0
            }
        );
    }

    #[test]
    fn reads_json_usage_from_shared_chunks_however_split() {
        let body = Bytes::from_static(
            br#"{"model":"claude-haiku-4-5","usage":{"input_tokens":12,"output_tokens":3}}"#,
        );
        for split in [1usize, 5, body.len()] {
            let mut tap = UsageTap::for_response(Some("application/json"), None);
            let mut at = 0;
            while at < body.len() {
                let end = (at + split).min(body.len());
                tap.feed_bytes(&body.slice(at..end));
                at = end;
            }
            tap.finish();
            assert_eq!(
                (tap.usage.input, tap.usage.output),
                (12, 3),
                "split {split}"
            );
            assert_eq!(tap.model.as_deref(), Some("claude-haiku-4-5"));
        }
    }

    #[test]
    fn reads_gzipped_json_usage() {
        use std::io::Write;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(br#"{"usage":{"input_tokens":42,"output_tokens":7}}"#)
            .unwrap();
        let bytes = gz.finish().unwrap();
        let mut tap = UsageTap::for_response(Some("application/json"), Some("gzip"));
        for c in bytes.chunks(5) {
            tap.feed(c);
        }
        tap.finish();
        assert_eq!((tap.usage.input, tap.usage.output), (42, 7));
    }

    #[test]
    fn ignores_encoded_and_garbage_bodies() {
        let mut tap = UsageTap::for_response(Some("application/json"), Some("br"));
        tap.feed(b"whatever");
        tap.finish();
        assert!(tap.usage.is_empty());
        let mut tap = UsageTap::for_response(Some("application/json"), Some("gzip"));
        tap.feed(b"\x1f\x8b garbage");
        tap.finish();
        assert!(tap.usage.is_empty());
        let mut tap = UsageTap::for_response(Some("text/event-stream"), None);
        tap.feed(b"data: {not json usage\n\ndata: [DONE]\n");
        tap.finish();
        assert!(tap.usage.is_empty());
    }
}
