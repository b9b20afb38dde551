//! Taps token usage from upstream responses while their bytes pass through untouched.
//!
//! JSON responses: the `usage` object of the whole body. SSE: Anthropic's
//! `message_start.message.usage` and `message_delta.usage`, OpenAI's `usage` in the final chunk.
//! Must never: delay, alter or hold back a byte of the response; grow without bound.

use super::usage_json::Counts;
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

    /// Call at end of body.
    pub fn finish(&mut self) {
        match std::mem::replace(&mut self.mode, Mode::Off) {
            Mode::Json(buf, enc) => {
                let Some(buf) = decode(buf.as_slice(), enc) else {
                    return;
                };
                // Fastest: one validating pass that builds nothing (plain, valid answers).
                if let Some(read) = super::usage_json::read(&buf) {
                    if let Some(c) = &read.usage {
                        c.merge_into(&mut self.usage);
                    }
                    if self.model.is_none() {
                        self.model = read.model.map(bounded_model);
                    }
                    return;
                }
                // Fast path: the usage numbers and the model read straight into plain fields,
                // nothing else built. Any field of an unexpected type falls back to the general
                // read below, which gives the same answer for every body the fast path reads.
                if let Ok(top) = serde_json::from_slice::<TypedFields>(&buf) {
                    if let Some(u) = &top.usage {
                        u.merge_into(&mut self.usage);
                    }
                    if self.model.is_none() {
                        self.model = top.model.as_deref().map(bounded_model);
                    }
                    return;
                }
                // Only the two fields we read are built; the rest (the answer's text) is skipped.
                if let Ok(top) = serde_json::from_slice::<UsageFields>(&buf) {
                    if let Some(u) = &top.usage {
                        self.usage.merge(u);
                    }
                    if self.model.is_none() {
                        if let Some(Value::String(m)) = &top.model {
                            self.model = Some(bounded_model(m));
                        }
                    }
                }
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

/// The fields of a JSON response body the tap reads; every other field is skipped unbuilt.
#[derive(serde::Deserialize)]
struct UsageFields {
    #[serde(default)]
    usage: Option<Value>,
    #[serde(default)]
    model: Option<Value>,
}

/// The same two fields with the types providers send: reading them allocates nothing but
/// the model name (borrowed unless it has escapes).
#[derive(serde::Deserialize)]
struct TypedFields<'a> {
    #[serde(default)]
    usage: Option<TypedUsage>,
    #[serde(default, borrow)]
    model: Option<std::borrow::Cow<'a, str>>,
}

/// A usage object, Anthropic and OpenAI field names.
#[derive(serde::Deserialize)]
struct TypedUsage {
    input_tokens: Option<u64>,
    prompt_tokens: Option<u64>,
    output_tokens: Option<u64>,
    completion_tokens: Option<u64>,
    cache_read_input_tokens: Option<u64>,
    cache_creation_input_tokens: Option<u64>,
    prompt_tokens_details: Option<TypedDetails>,
}

#[derive(serde::Deserialize)]
struct TypedDetails {
    cached_tokens: Option<u64>,
}

impl TypedUsage {
    /// What [`Usage::merge`] does with the same object as a `Value`.
    fn merge_into(&self, usage: &mut Usage) {
        Counts {
            input_tokens: self.input_tokens,
            prompt_tokens: self.prompt_tokens,
            output_tokens: self.output_tokens,
            completion_tokens: self.completion_tokens,
            cache_read_input_tokens: self.cache_read_input_tokens,
            cache_creation_input_tokens: self.cache_creation_input_tokens,
            cached_tokens: self
                .prompt_tokens_details
                .as_ref()
                .and_then(|d| d.cached_tokens),
        }
        .merge_into(usage)
    }
}

impl Counts {
    /// What [`Usage::merge`] does with the same object as a `Value`.
    fn merge_into(&self, usage: &mut Usage) {
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

/// A model name cut to 64 characters.
fn bounded_model(m: &str) -> String {
    if m.len() <= 64 {
        // At most 64 bytes is at most 64 characters: one copy, no character walk.
        return m.to_string();
    }
    m.chars().take(64).collect()
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

    /// The general read, as the tap did before the typed fast path.
    fn general_read(body: &[u8]) -> (Usage, Option<String>) {
        let mut usage = Usage::default();
        let mut model = None;
        if let Ok(top) = serde_json::from_slice::<UsageFields>(body) {
            if let Some(u) = &top.usage {
                usage.merge(u);
            }
            if let Some(Value::String(m)) = &top.model {
                model = Some(m.chars().take(64).collect());
            }
        }
        (usage, model)
    }

    #[test]
    fn typed_read_answers_like_the_general_read() {
        let long = format!(
            r#"{{"model":"{}","usage":{{"input_tokens":1}}}}"#,
            "m".repeat(90)
        );
        let bodies: Vec<&str> = vec![
            r#"{"id":"msg_01","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[{"type":"text","text":"An empty list gives None."}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":21,"output_tokens":9,"cache_read_input_tokens":0,"cache_creation_input_tokens":0}}"#,
            r#"{"model":"gpt-4o","usage":{"prompt_tokens":10,"completion_tokens":4,"prompt_tokens_details":{"cached_tokens":6}}}"#,
            r#"{"model":"gpt-4o","usage":{"prompt_tokens":10,"prompt_tokens_details":null}}"#,
            r#"{"usage":{"input_tokens":null,"prompt_tokens":5}}"#,
            r#"{"usage":{"input_tokens":-3,"output_tokens":2}}"#,
            r#"{"usage":{"input_tokens":2.0,"output_tokens":2}}"#,
            r#"{"usage":{"input_tokens":"12"},"model":"a"}"#,
            r#"{"usage":[1,2],"model":"claude"}"#,
            r#"{"usage":null,"model":null}"#,
            r#"{"model":7,"usage":{"output_tokens":3}}"#,
            r#"{"model":"café "x"","usage":{"prompt_tokens_details":{"cached_tokens":true}}}"#,
            r#"{"usage":{"input_tokens":1,"input_tokens":2}}"#,
            r#"{"usage":{"input_tokens":1}} trailing"#,
            r#"[{"usage":{"input_tokens":1}}]"#,
            "not json",
            &long,
        ];
        for body in bodies {
            let mut tap = UsageTap::for_response(Some("application/json"), None);
            tap.feed(body.as_bytes());
            tap.finish();
            assert_eq!(
                (tap.usage, tap.model),
                general_read(body.as_bytes()),
                "{body}"
            );
        }
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

    /// The typed serde read, as `finish` did before the single-pass read.
    fn typed_read(body: &[u8]) -> Option<(Usage, Option<String>)> {
        let top = serde_json::from_slice::<TypedFields>(body).ok()?;
        let mut usage = Usage::default();
        if let Some(u) = &top.usage {
            u.merge_into(&mut usage);
        }
        Some((usage, top.model.map(|m| m.into_owned())))
    }

    #[test]
    fn single_pass_read_answers_real_answers() {
        let anthropic = br#"{"id":"msg_01","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[{"type":"text","text":"An empty list gives None.\n\u00e9\"q\""}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":21,"output_tokens":9,"cache_read_input_tokens":0,"cache_creation_input_tokens":0,"service_tier":"standard","server_tool_use":{"web_search_requests":0}}}"#;
        let openai = br#"{
  "id": "chatcmpl-1", "object": "chat.completion", "created": 1741569952, "model": "gpt-4o-2024-08-06",
  "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi", "refusal": null}, "logprobs": null, "finish_reason": "stop"}],
  "usage": {"prompt_tokens": 19, "completion_tokens": 10, "total_tokens": 29,
            "prompt_tokens_details": {"cached_tokens": 6, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0, "accepted_prediction_tokens": 0}},
  "service_tier": "default", "system_fingerprint": "fp_1", "score": -1.5e-3
}"#;
        for body in [&anthropic[..], &openai[..]] {
            let read = super::super::usage_json::read(body).expect("a plain answer is read");
            let mut usage = Usage::default();
            read.usage.unwrap().merge_into(&mut usage);
            assert_eq!(
                Some((usage, read.model.map(str::to_string))),
                typed_read(body)
            );
        }
    }

    fn json_text() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just("null".to_string()),
            Just("true".to_string()),
            Just("0".to_string()),
            Just("-0".to_string()),
            Just("17".to_string()),
            Just("1.5e3".to_string()),
            Just("18446744073709551616".to_string()),
            Just(r#""a\"b\\c\u00e9""#.to_string()),
            Just(r#""claude-sonnet-4-5""#.to_string()),
            Just("\"caf\u{e9} \u{1f600}\"".to_string()),
            Just("\"tab\tinside\"".to_string()),
            "[a-z\\\\\"]{0,6}".prop_map(|s| format!("\"{s}\"")),
        ];
        let key = prop_oneof![
            Just("usage"),
            Just("model"),
            Just("input_tokens"),
            Just("prompt_tokens"),
            Just("output_tokens"),
            Just("cache_read_input_tokens"),
            Just("prompt_tokens_details"),
            Just("cached_tokens"),
            Just("us\\u0061ge"),
            Just("id"),
            Just("mod\u{e8}l"),
        ];
        leaf.prop_recursive(4, 40, 5, move |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4)
                    .prop_map(|v| format!("[{}]", v.join(","))),
                proptest::collection::vec((key.clone(), inner), 0..5).prop_map(|kv| {
                    let fields: Vec<String> =
                        kv.iter().map(|(k, v)| format!("\"{k}\" : {v}")).collect();
                    format!("{{ {} }}", fields.join(","))
                }),
            ]
        })
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(1024))]
        /// Whatever the single-pass read answers, the typed serde read answers the same; and it
        /// answers nothing for a body serde refuses (a cut or a stray byte included).
        #[test]
        fn single_pass_read_never_disagrees_with_serde(
            body in json_text(),
            cut in 0usize..200,
            stray in proptest::sample::select(vec![None, Some(b'}'), Some(b','), Some(b'\x01'), Some(b'"'), Some(0xff), Some(0xc3)]),
        ) {
            let mut variants = vec![
                body.clone().into_bytes(),
                format!("{{\"usage\": {body}, \"model\": \"m\"}}").into_bytes(),
                format!("{{\"id\": {body}, \"usage\": {{\"input_tokens\": {body}}}}}").into_bytes(),
            ];
            let mut cut_body = body.clone().into_bytes();
            cut_body.truncate(cut.min(cut_body.len()));
            variants.push(cut_body);
            if let Some(b) = stray {
                let mut v = body.into_bytes();
                v.insert(cut.min(v.len()), b);
                variants.push(v);
            }
            for v in variants {
                if let Some(read) = super::super::usage_json::read(&v) {
                    let mut usage = Usage::default();
                    if let Some(c) = &read.usage {
                        c.merge_into(&mut usage);
                    }
                    proptest::prop_assert_eq!(
                        Some((usage, read.model.map(str::to_string))),
                        typed_read(&v),
                        "{}", String::from_utf8_lossy(&v)
                    );
                }
            }
        }
    }
}
