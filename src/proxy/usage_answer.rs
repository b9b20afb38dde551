//! How the usage tap reads a whole JSON answer: the single validating pass of
//! [`super::usage_json`] when it is sure, else serde's typed read of the two fields, else
//! serde's general read (which settles every odd case the same way it always did).
//!
//! Must never: build the answer's text, or read usage that differs from the general read's.

use super::usage_json::{self, Counts};
use crate::usage::Usage;
use serde_json::Value;

/// Reads a JSON answer's usage into `usage` and, when none is known yet, its model into
/// `model`.
pub(super) fn read_answer(body: &[u8], usage: &mut Usage, model: &mut Option<String>) {
    // Fastest: one validating pass that builds nothing (plain, valid answers).
    if let Some(read) = usage_json::read(body) {
        if let Some(c) = &read.usage {
            c.merge_into(usage);
        }
        if model.is_none() {
            *model = read.model.map(bounded_model);
        }
        return;
    }
    // The usage numbers and the model read straight into plain fields, nothing else built. Any
    // field of an unexpected type falls back to the general read below, which gives the same
    // answer for every body the typed read reads.
    if let Ok(top) = serde_json::from_slice::<TypedFields>(body) {
        if let Some(u) = &top.usage {
            u.merge_into(usage);
        }
        if model.is_none() {
            *model = top.model.as_deref().map(bounded_model);
        }
        return;
    }
    // Only the two fields we read are built; the rest (the answer's text) is skipped.
    if let Ok(top) = serde_json::from_slice::<UsageFields>(body) {
        if let Some(u) = &top.usage {
            usage.merge(u);
        }
        if model.is_none() {
            if let Some(Value::String(m)) = &top.model {
                *model = Some(bounded_model(m));
            }
        }
    }
}

/// A model name cut to 64 characters.
pub(super) fn bounded_model(m: &str) -> String {
    if m.len() <= 64 {
        // At most 64 bytes is at most 64 characters: one copy, no character walk.
        return m.to_string();
    }
    m.chars().take(64).collect()
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

#[cfg(test)]
mod tests {
    use super::*;

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
            let (mut usage, mut model) = (Usage::default(), None);
            read_answer(body.as_bytes(), &mut usage, &mut model);
            assert_eq!((usage, model), general_read(body.as_bytes()), "{body}");
        }
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
            let read = usage_json::read(body).expect("a plain answer is read");
            let mut usage = Usage::default();
            read.usage.unwrap().merge_into(&mut usage);
            assert_eq!(
                Some((usage, read.model.map(str::to_string))),
                typed_read(body)
            );
        }
    }

    /// Nesting up to the single-pass read's limit is read, deeper is left to serde, and either
    /// way the answer is serde's: arrays, objects and a mix, closed or cut, at each depth
    /// around the limit.
    #[test]
    fn single_pass_read_bounds_nesting_and_agrees_with_serde() {
        for depth in [1usize, 2, 30, 61, 62, 63, 64, 65, 70, 127, 128, 129] {
            let nested = |open: &dyn Fn(usize) -> &'static str| {
                let (mut head, mut tail) = (String::new(), String::new());
                for i in 0..depth {
                    let o = open(i);
                    head.push_str(o);
                    tail.insert(0, if o == "[" { ']' } else { '}' });
                }
                format!("{head}1{tail}")
            };
            for value in [
                nested(&|_| "["),
                nested(&|_| r#"{"k":"#),
                nested(&|i| if i % 2 == 0 { "[" } else { r#"{"a":[],"k":"# }),
            ] {
                let body = format!(
                    r#"{{"id":{value},"model":"m","usage":{{"input_tokens":3,"x":{value}}}}}"#
                );
                let read = usage_json::read(body.as_bytes());
                // `usage` holds the value one level deeper than the top-level object does.
                if depth <= 60 {
                    assert!(read.is_some(), "depth {depth}");
                } else if depth >= 63 {
                    assert!(read.is_none(), "depth {depth}");
                }
                if let Some(read) = read {
                    let mut usage = Usage::default();
                    read.usage.unwrap().merge_into(&mut usage);
                    assert_eq!(
                        Some((usage, read.model.map(str::to_string))),
                        typed_read(body.as_bytes()),
                        "depth {depth}"
                    );
                }
                // Past serde's own limit (128 levels) the typed read, which skips what it does
                // not read, still reads a body the general read (building `usage` as a value)
                // refuses: the two reads are compared below it.
                if depth < 120 {
                    let (mut usage, mut model) = (Usage::default(), None);
                    read_answer(body.as_bytes(), &mut usage, &mut model);
                    assert_eq!(
                        (usage, model),
                        general_read(body.as_bytes()),
                        "depth {depth}"
                    );
                }
                let cut = &body.as_bytes()[..body.len() - 2];
                assert!(usage_json::read(cut).is_none(), "cut at depth {depth}");
            }
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
            Just("completion_tokens"),
            Just("cache_read_input_tokens"),
            Just("cache_creation_input_tokens"),
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
                if let Some(read) = usage_json::read(&v) {
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
