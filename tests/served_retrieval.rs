//! The proxy-served `headroom_retrieve` tool through the real proxy: a real CI log is
//! compressed, the scripted fake model calls the tool with the marker's id (whole, by lines, by
//! query), the proxy answers from its store and continues, and the client gets an answer holding
//! a fact that only the omitted part had, in both APIs, streaming and not, without ever seeing
//! the tool or the call.

use headroom_test_support as support;
use headroom_test_support::agent_session;
use headroom_test_support::scripted_model::{Ask, Script, TOOL};
use serde_json::{json, Value};
use support::fake_upstream::FakeUpstream;
use support::*;

const TASK: &str = "CI is red on main, what broke?";

fn ci_log() -> String {
    std::fs::read_to_string(checkout().join("tests/fixtures/compress/ci_log.txt")).unwrap()
}

fn anthropic_body(output: &str, stream: bool) -> Vec<u8> {
    let messages = vec![
        json!({"role": "user", "content": [{"type": "text", "text": TASK}]}),
        json!({"role": "assistant", "content": [
            {"type": "tool_use", "id": "toolu_01", "name": "Bash", "input": {"command": "gh run view --log"}}
        ]}),
        json!({"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_01", "content": output}]}),
    ];
    let mut v: Value = serde_json::from_slice(&agent_session::request(&messages)).unwrap();
    v["stream"] = json!(stream);
    serde_json::to_vec(&v).unwrap()
}

fn openai_body(output: &str, stream: bool) -> Vec<u8> {
    let mut v = json!({
        "model": "gpt-4o",
        "messages": [
            {"role": "user", "content": TASK},
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "call_01", "type": "function", "function": {"name": "bash", "arguments": "{\"command\":\"gh run view --log\"}"}}
            ]},
            {"role": "tool", "tool_call_id": "call_01", "content": output}
        ],
        "tools": [{"type": "function", "function": {"name": "bash", "description": "Run a shell command",
                   "parameters": {"type": "object", "properties": {"command": {"type": "string"}}}}}]
    });
    if stream {
        v["stream"] = json!(true);
        v["stream_options"] = json!({"include_usage": true});
    }
    serde_json::to_vec(&v).unwrap()
}

/// The compressed text the upstream got for the tool output, and a line of the original that it
/// lost (with its 1-based line number): the fact only a retrieval can bring back.
fn omitted_fact(up: &FakeUpstream, original: &str, openai: bool) -> (String, usize) {
    let first = up
        .requests()
        .into_iter()
        .next()
        .expect("upstream got the request");
    let v = first.json();
    let sent = if openai {
        v["messages"][2]["content"].as_str().unwrap().to_string()
    } else {
        v["messages"][2]["content"][0]["content"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert!(sent.contains("· id "), "no marker id in {sent}");
    let lines: Vec<&str> = original.lines().collect();
    let (n, line) = lines
        .iter()
        .enumerate()
        .filter(|(_, l)| l.trim().len() > 30 && !sent.contains(l.trim()))
        .find(|(_, l)| lines.iter().filter(|x| x == l).count() == 1)
        .expect("a unique line was omitted");
    (line.trim().to_string(), n + 1)
}

/// Test builds are unoptimised and share the cores with other tests: a block must not miss
/// the default 250 ms budget and go through unmarked (the budget has its own test).
const SLOW_BUILD: &str = "compression:\n  budget_ms: 10000\n";

fn proxy_with_script(script: Script, extra: &str) -> (FakeUpstream, Proxy) {
    let up = FakeUpstream::start();
    up.set(|s| s.script = Some(script));
    let proxy = Proxy::start(&format!("{}{SLOW_BUILD}{extra}", upstreams(&up.url())));
    (up, proxy)
}

/// Finds the fact first (a plain model), so the script can name it and ask for its line.
fn fact_for(openai: bool) -> (String, usize) {
    let up = FakeUpstream::start();
    let proxy = Proxy::start(&format!("{}{SLOW_BUILD}", upstreams(&up.url())));
    let log = ci_log();
    let (path, body) = if openai {
        ("/v1/chat/completions", openai_body(&log, false))
    } else {
        ("/v1/messages", anthropic_body(&log, false))
    };
    assert_eq!(proxy.post_json(path, &body).status, 200);
    omitted_fact(&up, &log, openai)
}

/// What the upstream received, as JSON.
fn upstream_requests(up: &FakeUpstream) -> Vec<Value> {
    up.requests().iter().map(|r| r.json()).collect()
}

fn assert_no_leak(text: &str) {
    assert!(
        !text.contains(TOOL),
        "the retrieval leaked to the client: {text}"
    );
    assert!(!text.contains("_hr_"), "a retrieval call id leaked: {text}");
}

#[test]
fn anthropic_json_answer_carries_a_fact_only_the_original_had() {
    let (fact, _) = fact_for(false);
    let (up, proxy) = proxy_with_script(Script::new(Ask::Whole, &fact), "");
    let r = proxy.post_json("/v1/messages", &anthropic_body(&ci_log(), false));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_no_leak(&r.text());
    let v = r.json();
    assert_eq!(v["stop_reason"], "end_turn");
    let text = v["content"][0]["text"].as_str().unwrap();
    assert!(text.contains(&fact), "answer without the fact: {text}");
    let got = upstream_requests(&up);
    assert_eq!(got.len(), 2, "one client request, one continuation");
    // The tool was offered last, and the continuation carried the whole original.
    let tools = got[0]["tools"].as_array().unwrap();
    assert_eq!(tools.last().unwrap()["name"], TOOL);
    // Every upstream call and the served retrieval are counted.
    let stats = proxy.stats_when(|s| s["retrieval"]["upstream_calls"]["retrieval"] == 1);
    let r = &stats["retrieval"];
    assert_eq!(r["upstream_calls"]["client"], 1, "{r}");
    assert_eq!(r["by_source"]["tool"]["hits"], 1, "{r}");
    assert!(
        r["continuation_tokens"]["input"].as_u64().unwrap() > 0,
        "{r}"
    );
    let metrics = proxy.get("/metrics").text();
    assert!(metrics.contains("headroom_upstream_calls_total{purpose=\"retrieval\"} 1"));
    assert!(metrics.contains("headroom_retrievals_total{result=\"hit\",source=\"tool\"} 1"));
    let result = &got[1]["messages"].as_array().unwrap().last().unwrap()["content"][0];
    assert_eq!(result["type"], "tool_result");
    assert_eq!(result["content"].as_str().unwrap(), ci_log());
    // The continuation keeps the first request's bytes as its prefix (prompt cache).
    let reqs = up.requests();
    let span = raw_span(&reqs[0].body, "messages");
    let close = span.end - 1;
    assert!(
        reqs[1].body[..close] == reqs[0].body[..close]
            && reqs[1].body.ends_with(&reqs[0].body[close..]),
        "the continuation is not the first request with turns appended"
    );
}

/// The byte span of the top-level `key`'s value in a JSON body.
fn raw_span(body: &[u8], key: &str) -> std::ops::Range<usize> {
    let src = std::str::from_utf8(body).unwrap();
    let root = headroom_compress::jsontree::parse(src).unwrap();
    root.get(src, key).expect("key present").span()
}

#[test]
fn anthropic_stream_by_lines_is_one_valid_message() {
    let (fact, line) = fact_for(false);
    let mut script = Script::new(
        Ask::Lines(format!("{}-{}", line.saturating_sub(1).max(1), line + 1)),
        &fact,
    );
    script.preamble = Some("Let me look at the omitted part. ".into());
    let (up, proxy) = proxy_with_script(script, "");
    let r = proxy.post_json("/v1/messages", &anthropic_body(&ci_log(), true));
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r
        .header("content-type")
        .unwrap()
        .starts_with("text/event-stream"));
    assert_no_leak(&r.text());
    let said = sse_check::anthropic(&r.body).unwrap_or_else(|e| panic!("{e}\n{}", r.text()));
    assert!(said.text.starts_with("Let me look"), "{}", said.text);
    assert!(said.text.contains(&fact), "{}", said.text);
    assert!(said.calls.is_empty());
    assert_eq!(said.stop, "end_turn");
    let got = upstream_requests(&up);
    assert_eq!(got.len(), 2);
    let last = got[1]["messages"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    let served = last["content"][0]["content"].as_str().unwrap();
    assert!(
        served.contains(&fact) && served.lines().count() <= 3,
        "{served}"
    );
}

#[test]
fn openai_json_by_query_answers_and_hides_the_call() {
    let (fact, _) = fact_for(true);
    let word = fact
        .split_whitespace()
        .max_by_key(|w| w.len())
        .unwrap()
        .to_string();
    let (up, proxy) = proxy_with_script(Script::new(Ask::Query(word), &fact), "");
    let r = proxy.post_json("/v1/chat/completions", &openai_body(&ci_log(), false));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_no_leak(&r.text());
    let v = r.json();
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
    assert!(v["choices"][0]["message"].get("tool_calls").is_none());
    assert!(v["choices"][0]["message"]["content"]
        .as_str()
        .unwrap()
        .contains(&fact));
    let got = upstream_requests(&up);
    assert_eq!(got.len(), 2);
    assert_eq!(
        got[0]["tools"].as_array().unwrap().last().unwrap()["function"]["name"],
        TOOL
    );
    assert_eq!(
        got[1]["messages"].as_array().unwrap().last().unwrap()["role"],
        "tool"
    );
}

#[test]
fn openai_stream_with_usage_is_one_valid_completion() {
    let (fact, _) = fact_for(true);
    let (_up, proxy) = proxy_with_script(Script::new(Ask::Whole, &fact), "");
    let r = proxy.post_json("/v1/chat/completions", &openai_body(&ci_log(), true));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_no_leak(&r.text());
    let said = sse_check::openai(&r.body).unwrap_or_else(|e| panic!("{e}\n{}", r.text()));
    assert!(said.text.contains(&fact), "{}", said.text);
    assert_eq!(said.stop, "stop");
    assert!(said.calls.is_empty());
    assert!(said.input_tokens.is_some(), "usage chunk kept");
}

#[test]
fn a_turn_calling_a_client_tool_too_reaches_the_client_without_the_retrieval() {
    let mut script = Script::new(Ask::Whole, "never");
    script.with_client_call = true;
    let (up, proxy) = proxy_with_script(script, "");
    let r = proxy.post_json("/v1/messages", &anthropic_body(&ci_log(), false));
    assert_eq!(r.status, 200);
    assert_no_leak(&r.text());
    let v = r.json();
    assert_eq!(v["stop_reason"], "tool_use");
    let content = v["content"].as_array().unwrap();
    assert_eq!(content.len(), 1);
    assert_eq!(content[0]["name"], "Bash");
    assert_eq!(
        up.requests().len(),
        1,
        "no continuation for a client's turn"
    );
    // Streaming: the Bash call keeps a valid index 0.
    let r = proxy.post_json("/v1/messages", &anthropic_body(&ci_log(), true));
    assert_no_leak(&r.text());
    let said = sse_check::anthropic(&r.body).unwrap_or_else(|e| panic!("{e}\n{}", r.text()));
    assert_eq!(said.stop, "tool_use");
    assert_eq!(said.calls.len(), 1);
    assert_eq!(said.calls[0].0, "Bash");
    // The next turn, with the client's tool result, is a valid conversation again.
    let mut next: Value = serde_json::from_slice(&anthropic_body(&ci_log(), false)).unwrap();
    let msgs = next["messages"].as_array_mut().unwrap();
    msgs.push(json!({"role": "assistant", "content": content}));
    msgs.push(json!({"role": "user", "content": [{"type": "tool_result", "tool_use_id": content[0]["id"], "content": "total 0"}]}));
    let r = proxy.post_json("/v1/messages", &serde_json::to_vec(&next).unwrap());
    assert_eq!(r.status, 200);
    assert_no_leak(&r.text());
    // OpenAI: the client's call survives with index 0, finish_reason tool_calls.
    let r = proxy.post_json("/v1/chat/completions", &openai_body(&ci_log(), true));
    let said = sse_check::openai(&r.body).unwrap_or_else(|e| panic!("{e}\n{}", r.text()));
    assert_eq!(said.stop, "tool_calls");
    assert_eq!(said.calls.len(), 1);
    assert_eq!(said.calls[0].0, "Bash");
}

#[test]
fn rounds_are_bounded_and_the_last_call_is_dropped() {
    let mut script = Script::new(Ask::Whole, "never");
    script.insist = true;
    let (up, proxy) = proxy_with_script(script, "retrieval:\n  max_rounds: 2\n");
    let r = proxy.post_json("/v1/messages", &anthropic_body(&ci_log(), true));
    assert_no_leak(&r.text());
    let said = sse_check::anthropic(&r.body).unwrap_or_else(|e| panic!("{e}\n{}", r.text()));
    assert_eq!(said.stop, "end_turn");
    assert_eq!(up.requests().len(), 3, "the request and two continuations");
    let r = proxy.post_json("/v1/messages", &anthropic_body(&ci_log(), false));
    assert_no_leak(&r.text());
    assert_eq!(r.json()["stop_reason"], "end_turn");
}

#[test]
fn no_tool_when_off_bypassed_or_owned_by_the_client() {
    let (up, proxy) =
        proxy_with_script(Script::new(Ask::Whole, "x"), "retrieval:\n  tool: false\n");
    let body = anthropic_body(&ci_log(), false);
    let r = proxy.post_json("/v1/messages", &body);
    assert_eq!(r.status, 200);
    let sent = up.last().unwrap().json();
    assert!(!up
        .last()
        .unwrap()
        .body
        .windows(TOOL.len())
        .any(|w| w == TOOL.as_bytes()));
    assert_eq!(
        sent["tools"],
        serde_json::from_slice::<Value>(&body).unwrap()["tools"]
    );
    drop(proxy);

    let (up, proxy) = proxy_with_script(Script::new(Ask::Whole, "x"), "");
    let r = request(
        proxy.port,
        "POST",
        "/v1/messages",
        &[
            ("content-type", "application/json"),
            ("x-headroom-bypass", "1"),
        ],
        &body,
    )
    .unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(
        up.last().unwrap().body,
        body,
        "bypass forwards the client's bytes"
    );

    // A client with its own tool of that name keeps it, and its calls.
    let mut own: Value = serde_json::from_slice(&body).unwrap();
    own["tools"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": TOOL, "description": "mine", "input_schema": {"type": "object"}}));
    up.clear();
    let r = proxy.post_json("/v1/messages", &serde_json::to_vec(&own).unwrap());
    let got = up.last().unwrap().json();
    assert_eq!(
        got["tools"].as_array().unwrap().len(),
        own["tools"].as_array().unwrap().len()
    );
    assert_eq!(
        r.json()["content"][0]["name"],
        TOOL,
        "the client's own tool call reaches it"
    );
    assert_eq!(up.requests().len(), 1);
}

#[test]
fn a_ten_turn_session_keeps_earlier_bytes_with_the_tool_injected() {
    let up = FakeUpstream::start();
    up.set(|s| s.prompt_cache = true);
    let proxy = Proxy::start(&format!("{}{SLOW_BUILD}", upstreams(&up.url())));
    let bodies = agent_session::session(5, 10);
    let mut tools: Option<Vec<u8>> = None;
    let mut received: Vec<Value> = Vec::new();
    let mut reads = Vec::new();
    for body in &bodies {
        let r = proxy.post_json("/v1/messages", body);
        assert_eq!(r.status, 200);
        let raw = up.last().unwrap().body;
        let sent: Value = serde_json::from_slice(&raw).unwrap();
        let span = raw[raw_span(&raw, "tools")].to_vec();
        assert_eq!(
            sent["tools"].as_array().unwrap().last().unwrap()["name"],
            TOOL
        );
        match &tools {
            None => tools = Some(span),
            Some(t) => assert!(*t == span, "the tools bytes changed between turns"),
        }
        let mut v: Value = serde_json::from_slice(&raw).unwrap();
        agent_session::strip_cache_control(&mut v);
        received.push(v);
        let text = r.text();
        reads.push(text.contains("\"cache_read_input_tokens\":0"));
    }
    for n in 1..received.len() {
        let before = received[n - 1]["messages"].as_array().unwrap();
        let now = received[n]["messages"].as_array().unwrap();
        assert_eq!(
            &now[..before.len()],
            &before[..],
            "turn {n} changed earlier messages"
        );
    }
    // After the first turn, every turn reads the cache.
    assert!(
        reads[1..].iter().all(|zero| !zero),
        "cache misses after turn 1: {reads:?}"
    );
}

fn python_has_sdks() -> bool {
    std::process::Command::new("python3")
        .args(["-c", "import anthropic, openai"])
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn the_official_sdks_parse_served_answers_streaming_and_not() {
    if !python_has_sdks() {
        eprintln!("SKIPPED: python3 -m pip install anthropic openai to run this test");
        return;
    }
    let (fact, _) = fact_for(false);
    let (fact_openai, _) = fact_for(true);
    assert_eq!(fact, fact_openai, "both shapes omit the same line");
    let (up, proxy) = proxy_with_script(Script::new(Ask::Whole, &fact), "");
    let bodies = json!({
        "anthropic": serde_json::from_slice::<Value>(&anthropic_body(&ci_log(), false)).unwrap(),
        "openai": serde_json::from_slice::<Value>(&openai_body(&ci_log(), false)).unwrap(),
    });
    let path = proxy.dir.path().join("bodies.json");
    std::fs::write(&path, bodies.to_string()).unwrap();
    let out = std::process::Command::new("python3")
        .arg(checkout().join("tests/python/sdk_retrieval.py"))
        .arg(format!("http://127.0.0.1:{}", proxy.port))
        .arg(&path)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    for key in [
        "anthropic_text",
        "stream_text",
        "openai_text",
        "openai_stream_text",
    ] {
        assert!(r[key].as_str().unwrap().contains(&fact), "{key}: {r}");
    }
    assert_eq!(r["anthropic_types"], json!(["text"]));
    assert_eq!(r["stream_types"], json!(["text"]));
    assert_eq!(r["anthropic_stop"], "end_turn");
    assert_eq!(r["stream_stop"], "end_turn");
    assert_eq!(r["openai_calls"], 0);
    assert_eq!(r["openai_finish"], "stop");
    assert_eq!(r["openai_stream_finish"], "stop");
    assert_eq!(r["openai_stream_calls"], 0);
    assert!(r["openai_stream_usage"].is_u64(), "{r}");
    // Four client requests, each answered after one served round.
    assert_eq!(up.requests().len(), 8);
}

#[test]
fn a_failed_continuation_ends_the_stream_with_the_provider_error_event() {
    let mut script = Script::new(Ask::Whole, "never");
    script.preamble = Some("Checking. ".into());
    script.fail_continuation = Some(429);
    let (up, proxy) = proxy_with_script(script, "");
    let r = proxy.post_json("/v1/messages", &anthropic_body(&ci_log(), true));
    assert_eq!(
        r.status, 200,
        "the status line went out with the first round"
    );
    assert_no_leak(&r.text());
    let events = sse_check::events(&r.body);
    let (name, data) = events.last().unwrap();
    assert_eq!(name.as_deref(), Some("error"), "{}", r.text());
    let v: Value = serde_json::from_str(data).unwrap();
    assert_eq!(v["error"]["type"], "rate_limit_error");
    assert_eq!(events[0].0.as_deref(), Some("message_start"));
    assert_eq!(up.requests().len(), 2);
    // JSON: the continuation's error goes to the client as the upstream sent it.
    let r = proxy.post_json("/v1/messages", &anthropic_body(&ci_log(), false));
    assert_eq!(r.status, 429);
    assert_eq!(r.json()["error"]["type"], "rate_limit_error");
    assert_no_leak(&r.text());
}

#[test]
fn an_unknown_id_is_answered_as_an_error_result_and_counted_as_a_miss() {
    let (up, proxy) = proxy_with_script(Script::new(Ask::Whole, "never"), "");
    // A tool result that itself prints a marker-shaped line with an id nothing stored.
    let output = format!(
        "{}\n[… 40 similar lines omitted · id 000000000000 …]\n",
        "ok: step passed\n".repeat(3)
    );
    let r = proxy.post_json("/v1/messages", &anthropic_body(&output, false));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_no_leak(&r.text());
    assert_eq!(
        r.json()["content"][0]["text"],
        "The retrieved text does not say."
    );
    let got = upstream_requests(&up);
    assert_eq!(got.len(), 2);
    let result = &got[1]["messages"].as_array().unwrap().last().unwrap()["content"][0];
    assert_eq!(result["is_error"], true);
    assert!(result["content"].as_str().unwrap().contains("000000000000"));
    let stats = proxy.stats_when(|s| s["retrieval"]["by_source"]["tool"]["misses"] == 1);
    assert_eq!(
        stats["retrieval"]["by_source"]["tool"]["misses"], 1,
        "{}",
        stats["retrieval"]
    );
}

#[test]
fn a_pooled_connection_the_upstream_dropped_is_retried_on_a_fresh_one() {
    let (fact, _) = fact_for(false);
    let (up, proxy) = proxy_with_script(Script::new(Ask::Whole, &fact), "");
    up.set(|s| s.drop_idle = true);
    for _ in 0..3 {
        let r = proxy.post_json("/v1/messages", &anthropic_body(&ci_log(), false));
        assert_eq!(r.status, 200, "{}", r.text());
        assert!(r.json()["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains(&fact));
    }
    assert_eq!(
        up.requests().len(),
        6,
        "every round reached the upstream once"
    );
}
