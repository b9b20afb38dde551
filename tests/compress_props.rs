//! Properties of the pipeline over generated inputs: valid JSON out where JSON came in, never
//! more tokens, deterministic, every error-level line survives, bytes outside compressed
//! strings unchanged, and the span parser accepts exactly what serde_json accepts.

use headroom::compress::jsontree;
use headroom::compress::marker::is_error_level;
use headroom::compress::{rewrite, ApiFormat, CompressionConfig, Context, Pipeline};
use proptest::prelude::*;
use serde_json::{json, Value};
use std::sync::LazyLock;

static PIPELINE: LazyLock<Pipeline> = LazyLock::new(|| {
    let config = CompressionConfig {
        budget_ms: 60_000, // unoptimised test builds are slow; the budget has its own test
        min_tokens: 50,
        ..CompressionConfig::default()
    };
    Pipeline::new(config, None)
});

fn log_line() -> impl Strategy<Value = String> {
    let level = prop_oneof![
        8 => Just("INFO"),
        2 => Just("DEBUG"),
        1 => Just("WARN"),
        1 => Just("ERROR"),
    ];
    let message = prop_oneof![
        Just("worker processed batch".to_string()),
        Just("cache refreshed".to_string()),
        Just("request served".to_string()),
        "[a-z]{3,8} [a-z]{3,8} failed: [a-z ]{5,20}",
        "[a-z]{4,10}",
    ];
    (0u32..86_400, level, message, 0u32..100_000).prop_map(|(t, level, message, id)| {
        format!(
            "2026-11-24T{:02}:{:02}:{:02}Z {level} {message} id={id}",
            t / 3600,
            t / 60 % 60,
            t % 60
        )
    })
}

fn json_row() -> impl Strategy<Value = Value> {
    (0u32..10_000, prop_oneof![9 => Just("active"), 1 => Just("error: disk full")], "[a-z]{3,10}", 0u32..1000)
        .prop_map(|(id, status, name, size)| json!({"id": id, "name": name, "status": status, "size": size}))
}

fn request_with(output: &str, task: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "model": "m",
        "system": [{"type": "text", "text": output, "cache_control": {"type": "ephemeral"}}],
        "messages": [
            {"role": "user", "content": task},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "t", "name": "Bash", "input": {"x": output}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t", "content": output, "cache_control": {"type": "ephemeral"}}]}
        ]
    }))
    .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, .. ProptestConfig::default() })]

    #[test]
    fn logs_never_grow_keep_every_error_line_and_are_deterministic(lines in prop::collection::vec(log_line(), 20..300)) {
        let text = lines.join("\n");
        let a = PIPELINE.compress_text(&text, "why did the worker fail").unwrap();
        let b = PIPELINE.compress_text(&text, "why did the worker fail").unwrap();
        prop_assert_eq!(&a.output, &b.output);
        prop_assert!(a.tokens_after <= a.tokens_before);
        if let Some(out) = &a.output {
            prop_assert!(a.tokens_after < a.tokens_before);
            for line in lines.iter().filter(|l| is_error_level(l)) {
                prop_assert!(out.contains(line.as_str()), "lost {}", line);
            }
        }
    }

    #[test]
    fn json_listings_never_grow_and_keep_error_rows(rows in prop::collection::vec(json_row(), 5..200)) {
        let text = serde_json::to_string_pretty(&rows).unwrap();
        let a = PIPELINE.compress_text(&text, "").unwrap();
        prop_assert!(a.tokens_after <= a.tokens_before);
        prop_assert_eq!(&a.output, &PIPELINE.compress_text(&text, "").unwrap().output);
        if let Some(out) = &a.output {
            let errors = rows.iter().filter(|r| r["status"] != "active").count();
            if errors > 0 && errors <= 10 {
                prop_assert!(out.contains("error: disk full"));
            }
        }
    }

    #[test]
    fn rewritten_requests_are_valid_json_identical_outside_the_tool_result(
        lines in prop::collection::vec(prop_oneof![log_line(), "\\PC{0,80}", "[\"\\\\\\t\\u{0}-\\u{1f}é🙂]{0,40}"], 10..200),
        task in "\\PC{0,40}",
    ) {
        let output = lines.join("\n");
        let body = request_with(&output, &task);
        let result = rewrite(&body, &Context { format: ApiFormat::Anthropic, pipeline: &PIPELINE });
        if let Some(out) = &result.body {
            let v: Value = serde_json::from_slice(out).expect("output is not JSON");
            let original: Value = serde_json::from_slice(&body).unwrap();
            prop_assert_eq!(&v["system"], &original["system"]);
            prop_assert_eq!(&v["messages"][0], &original["messages"][0]);
            prop_assert_eq!(&v["messages"][1], &original["messages"][1]);
            prop_assert_eq!(&v["messages"][2]["content"][0]["cache_control"], &original["messages"][2]["content"][0]["cache_control"]);
            prop_assert_eq!(result.replaced.len(), 1);
            let span = &result.replaced[0];
            prop_assert_eq!(&out[..span.start], &body[..span.start]);
            let tail = body.len() - span.end;
            prop_assert_eq!(&out[out.len() - tail..], &body[span.end..]);
        }
    }

    #[test]
    fn no_compressor_panics_on_arbitrary_text(
        lines in prop::collection::vec(prop_oneof![log_line(), "\\PC{0,60}", "[a-z/._]{1,12}:[0-9]{1,3}:\\PC{0,30}", "[ +@-]\\PC{0,30}"], 1..120),
    ) {
        use headroom::compress::*;
        let text = lines.join("\n");
        let input = BlockInput { text: &text, task: "find the error in src/main.rs" };
        let compressors: Vec<Box<dyn Compressor>> = vec![
            Box::new(json::JsonCompressor::new(JsonConfig::default())),
            Box::new(log::LogCompressor::new(LogConfig::default())),
            Box::new(search::SearchCompressor::new(SearchConfig::default())),
            Box::new(diff::DiffCompressor::new(DiffConfig::default())),
            Box::new(generic::GenericCompressor::new(GenericConfig::default())),
        ];
        for c in &compressors {
            let _ = c.compress(&input);
        }
        let _ = detect::detect(&text);
    }

    #[test]
    fn the_span_parser_accepts_exactly_what_serde_json_accepts(s in "[\\[\\]{}\",:0-9a-z.eE+\\- \\\\u]{0,24}") {
        prop_assert_eq!(jsontree::parse(&s).is_ok(), serde_json::from_str::<Value>(&s).is_ok(), "{:?}", s);
    }
}
