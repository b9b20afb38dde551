//! Whole requests through `compress::rewrite`: Claude-Code-shaped bodies come out compressed,
//! everything outside the compressed strings is byte-identical, old turns stay byte-identical
//! across a growing conversation, and every failure path leaves the request untouched.

use headroom_test_support::agent_session;
use headroom_test_support::prompt_cache;

use headroom::compress::jsontree::{self, Node};
use headroom::compress::{
    rewrite, ApiFormat, BlockInput, CompressError, CompressionConfig, Compressor, Context,
    FailureReason, Pipeline,
};
use serde_json::{json, Value};
use std::sync::Arc;

fn run(body: &[u8], pipeline: &Pipeline, format: ApiFormat) -> headroom::compress::Rewritten {
    rewrite(body, &Context { format, pipeline })
}

fn fixture(name: &str) -> String {
    std::fs::read_to_string(agent_session::fixture_dir().join(format!("{name}.txt"))).unwrap()
}

/// Checks that `out` equals `input` outside the replaced spans, and that each replacement is a
/// single JSON string literal.
fn assert_untouched_outside(input: &[u8], out: &[u8], replaced: &[std::ops::Range<usize>]) {
    let out_str = std::str::from_utf8(out).unwrap();
    let (mut at_in, mut at_out) = (0usize, 0usize);
    for span in replaced {
        let segment = &input[at_in..span.start];
        assert_eq!(
            &out[at_out..at_out + segment.len()],
            segment,
            "untouched bytes changed before {span:?}"
        );
        at_out += segment.len();
        let (node, len) = jsontree::parse_prefix(&out_str[at_out..]).unwrap();
        assert!(
            matches!(node, Node::Str { .. }),
            "replacement is not a JSON string"
        );
        at_out += len;
        at_in = span.end;
    }
    assert_eq!(&out[at_out..], &input[at_in..], "untouched tail changed");
}

fn claude_code_request(tool_output: &str) -> Vec<u8> {
    let messages = vec![
        json!({"role": "user", "content": [{"type": "text", "text": "CI is red on main, what broke?"}]}),
        json!({"role": "assistant", "content": [
            {"type": "thinking", "thinking": "I should read the CI log.", "signature": "sig=="},
            {"type": "tool_use", "id": "toolu_01", "name": "Bash", "input": {"command": "gh run view --log"}}
        ]}),
        json!({"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_01", "content": tool_output}]}),
    ];
    agent_session::request(&messages)
}

#[test]
fn claude_code_request_with_a_large_tool_result_comes_out_compressed() {
    let pipeline = Pipeline::new(CompressionConfig::default(), None);
    let body = claude_code_request(&fixture("ci_log"));
    let result = run(&body, &pipeline, ApiFormat::Anthropic);
    let out = result.body.as_deref().expect("request was not compressed");
    assert!(out.len() * 3 < body.len(), "{} → {}", body.len(), out.len());
    assert_eq!(result.blocks.iter().filter(|b| b.changed()).count(), 1);
    assert!(result.failures.is_empty(), "{:?}", result.failures);

    let (a, b): (Value, Value) = (
        serde_json::from_slice(&body).unwrap(),
        serde_json::from_slice(out).unwrap(),
    );
    assert_eq!(a["system"], b["system"]);
    assert_eq!(a["tools"], b["tools"]);
    assert_eq!(b["tools"].as_array().unwrap().len(), 22);
    assert_eq!(b["stream"], json!(true));
    assert_eq!(a["messages"][1], b["messages"][1], "assistant turn changed");
    assert_eq!(
        b["messages"][2]["content"][0]["cache_control"],
        json!({"type": "ephemeral"})
    );
    let text = b["messages"][2]["content"][0]["content"].as_str().unwrap();
    assert!(text
        .contains("thread 'billing::tests::rounds_half_even' panicked at src/billing.rs:212:9:"));
    assert_untouched_outside(&body, out, &result.replaced);
}

#[test]
fn bytes_outside_compressed_strings_are_identical_with_odd_formatting() {
    // Hand-written body: unusual whitespace, escapes, key order, unknown block types.
    let log = fixture("python_service");
    let body = format!(
        "{{ \"messages\" :[\n  {{\"content\":\"Why did invoice generation fail? \\u00e9\\ud83d\\ude00\",\"role\":\"user\"}},\n  {{\"role\":\"assistant\",\"content\":[{{\"type\":\"tool_use\",\"id\":\"t1\",\"name\":\"Read\",\"input\":{{\"log\":{log_json}}}}}]}},\n  {{\"role\":\"user\",\"content\":[ {{\"type\":\"web_search_tool_result\",\"content\":{log_json}}}, {{\"tool_use_id\":\"t1\",\"type\":\"tool_result\",\"content\":{log_json}}} ]}}\n],\"model\":\"m\" ,\"system\":{log_json}}}",
        log_json = serde_json::to_string(&log).unwrap()
    );
    let pipeline = Pipeline::new(CompressionConfig::default(), None);
    let result = run(body.as_bytes(), &pipeline, ApiFormat::Anthropic);
    let out = result.body.as_deref().expect("compressed");
    assert_eq!(result.replaced.len(), 1, "only the tool_result may change");
    assert_untouched_outside(body.as_bytes(), out, &result.replaced);
    let v: Value = serde_json::from_slice(out).unwrap();
    assert_eq!(v["system"].as_str().unwrap(), log);
    assert_eq!(
        v["messages"][1]["content"][0]["input"]["log"]
            .as_str()
            .unwrap(),
        log
    );
    assert_eq!(
        v["messages"][2]["content"][0]["content"].as_str().unwrap(),
        log
    );
}

/// The bytes of each message of a request body.
fn message_bytes(body: &[u8]) -> Vec<String> {
    let src = std::str::from_utf8(body).unwrap();
    let root = jsontree::parse(src).unwrap();
    match root.get(src, "messages") {
        Some(Node::Array { items, .. }) => {
            items.iter().map(|m| src[m.span()].to_string()).collect()
        }
        _ => Vec::new(),
    }
}

#[test]
fn old_turns_are_byte_identical_across_a_twelve_turn_conversation() {
    let pipeline = Pipeline::new(CompressionConfig::default(), None);
    let bodies = agent_session::session(7, 12);
    let outputs: Vec<Vec<u8>> = bodies
        .iter()
        .map(|b| {
            run(b, &pipeline, ApiFormat::Anthropic)
                .body
                .unwrap_or_else(|| b.clone())
        })
        .collect();
    let compressed_turns = bodies.iter().zip(&outputs).filter(|(b, o)| b != o).count();
    assert!(
        compressed_turns >= 6,
        "only {compressed_turns} turns compressed"
    );
    let strip = |m: &str| m.replace("\"cache_control\":{\"type\":\"ephemeral\"},", "");
    for n in 1..outputs.len() {
        let (prev, cur) = (message_bytes(&outputs[n - 1]), message_bytes(&outputs[n]));
        assert_eq!(cur.len(), prev.len() + 2);
        for (i, old) in prev.iter().enumerate() {
            if i + 1 == prev.len() {
                // The newest block of turn N-1 loses its cache_control marker in turn N.
                assert_eq!(strip(&cur[i]), strip(old), "turn {n}: message {i} changed");
            } else {
                assert_eq!(&cur[i], old, "turn {n}: message {i} changed");
            }
        }
    }
    // A fresh pipeline (empty result cache, all blocks at once, so a generous time budget for
    // unoptimised test builds) produces the same bytes: purity, not caching.
    let config = CompressionConfig {
        budget_ms: 60_000,
        ..CompressionConfig::default()
    };
    let fresh = Pipeline::new(config, None);
    let last = bodies.last().unwrap();
    let again = run(last, &fresh, ApiFormat::Anthropic).body.unwrap();
    assert!(
        again == *outputs.last().unwrap(),
        "a fresh pipeline produced different bytes"
    );
}

#[test]
fn the_prompt_cache_keeps_hitting_through_the_pipeline() {
    // A block past the budget on one turn (a busy machine, an unoptimised build) and compressed
    // on the next would change the prefix: this test is about the rewrite, not the budget.
    let config = CompressionConfig {
        budget_ms: 60_000,
        ..CompressionConfig::default()
    };
    let pipeline = Pipeline::new(config, None);
    let mut cache = prompt_cache::PromptCache::default();
    for (n, body) in agent_session::session(3, 8).iter().enumerate() {
        let out = run(body, &pipeline, ApiFormat::Anthropic)
            .body
            .unwrap_or_else(|| body.clone());
        let usage = cache.request(&out).unwrap();
        if n > 0 {
            assert!(
                usage.cache_read_input_tokens > usage.cache_creation_input_tokens,
                "turn {n}: {usage:?}"
            );
        }
    }
}

#[test]
fn openai_tool_messages_are_compressed_and_assistant_turns_are_not() {
    let log = fixture("java_service");
    let body = serde_json::to_vec(&json!({
        "model": "gpt-4.1",
        "messages": [
            {"role": "system", "content": log},
            {"role": "user", "content": "Checkout is timing out, find the cause in the logs."},
            {"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "read_logs", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": log},
            {"role": "assistant", "content": log}
        ]
    }))
    .unwrap();
    let pipeline = Pipeline::new(CompressionConfig::default(), None);
    let result = run(&body, &pipeline, ApiFormat::OpenAi);
    let v: Value = serde_json::from_slice(result.body.as_deref().expect("compressed")).unwrap();
    assert_eq!(v["messages"][0]["content"].as_str().unwrap(), log);
    assert_eq!(v["messages"][4]["content"].as_str().unwrap(), log);
    let tool = v["messages"][3]["content"].as_str().unwrap();
    assert!(tool.len() * 10 < log.len());
    assert!(tool.contains("Caused by: java.sql.SQLTimeoutException: ORA-01013"));
}

#[test]
fn results_of_protected_tools_pass_through() {
    let config = CompressionConfig {
        protect_tools: vec!["Bash".to_string()],
        ..CompressionConfig::default()
    };
    let pipeline = Pipeline::new(config, None);
    let body = claude_code_request(&fixture("ci_log"));
    assert!(run(&body, &pipeline, ApiFormat::Anthropic).body.is_none());
}

#[test]
fn small_blocks_disabled_config_and_non_json_bodies_pass_through() {
    let pipeline = Pipeline::new(CompressionConfig::default(), None);
    let small = claude_code_request("error: file not found\n".repeat(5).as_str());
    assert!(run(&small, &pipeline, ApiFormat::Anthropic).body.is_none());

    let config = CompressionConfig {
        enabled: false,
        ..CompressionConfig::default()
    };
    let off = Pipeline::new(config, None);
    assert!(run(
        &claude_code_request(&fixture("ci_log")),
        &off,
        ApiFormat::Anthropic
    )
    .body
    .is_none());

    let broken = run(b"{\"messages\": [", &pipeline, ApiFormat::Anthropic);
    assert!(broken.body.is_none());
    assert_eq!(broken.failures, vec![FailureReason::NotJson]);
}

#[test]
fn an_exhausted_time_budget_leaves_new_blocks_untouched() {
    let config = CompressionConfig {
        budget_ms: 0,
        ..CompressionConfig::default()
    };
    let pipeline = Pipeline::new(config, None);
    let result = run(
        &claude_code_request(&fixture("ci_log")),
        &pipeline,
        ApiFormat::Anthropic,
    );
    assert!(result.body.is_none());
    assert_eq!(result.failures, vec![FailureReason::Budget]);
}

struct Panicking;
impl Compressor for Panicking {
    fn name(&self) -> &'static str {
        "panicking"
    }
    fn compress(&self, _: &BlockInput<'_>) -> Result<Option<String>, CompressError> {
        panic!("model exploded")
    }
}

struct Halving;
impl Compressor for Halving {
    fn name(&self) -> &'static str {
        "halving"
    }
    fn compress(&self, input: &BlockInput<'_>) -> Result<Option<String>, CompressError> {
        Ok(Some(input.text[..input.text.len() / 2].to_string()))
    }
}

fn prose_request() -> Vec<u8> {
    let prose = "The deployment pipeline builds the image, runs the migrations and then shifts traffic gradually. Each stage reports its status to the dashboard. ".repeat(40);
    agent_session::request(&[json!({"role": "user", "content": [{"type": "text", "text": prose}]})])
}

#[test]
fn a_panicking_text_compressor_leaves_the_block_untouched() {
    let pipeline = Pipeline::new(CompressionConfig::default(), Some(Arc::new(Panicking)));
    let result = run(&prose_request(), &pipeline, ApiFormat::Anthropic);
    assert!(result.body.is_none());
    assert_eq!(result.failures, vec![FailureReason::Panic]);
}

#[test]
fn prose_goes_to_the_text_compressor_when_one_is_loaded_and_stays_otherwise() {
    let with = Pipeline::new(CompressionConfig::default(), Some(Arc::new(Halving)));
    let result = run(&prose_request(), &with, ApiFormat::Anthropic);
    assert!(result.body.is_some());
    assert_eq!(result.blocks[0].compressor, "halving");
    assert_eq!(result.blocks[0].kind, "prose");
    let without = Pipeline::new(CompressionConfig::default(), None);
    assert!(run(&prose_request(), &without, ApiFormat::Anthropic)
        .body
        .is_none());
}

#[test]
fn repeated_requests_are_served_from_the_result_cache() {
    let pipeline = Pipeline::new(CompressionConfig::default(), None);
    let body = claude_code_request(&fixture("nginx_access"));
    let first = run(&body, &pipeline, ApiFormat::Anthropic);
    let second = run(&body, &pipeline, ApiFormat::Anthropic);
    assert!(!first.blocks[0].cached);
    assert!(second.blocks[0].cached);
    assert_eq!(first.body, second.body);
}
