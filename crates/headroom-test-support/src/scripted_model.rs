//! A scripted "model" for the fake upstream: it reads the request the way a model would and
//! decides its turn. When a tool result carries an omission marker with an id and the request
//! offers `headroom_retrieve`, it calls the tool (whole, with `lines`, or with `query`); when the
//! last message answers that call, it replies with the line of the answer that holds the fact it
//! was looking for. So the reply contains the fact only if the retrieval really returned it.
//!
//! Renders its turn in the real wire formats: Anthropic Messages JSON and SSE (text deltas,
//! `input_json_delta` fragments), OpenAI chat JSON and chunk streams (`tool_calls` deltas,
//! `finish_reason`, the usage chunk under `stream_options.include_usage`, `[DONE]`).
//!
//! Must never: look at anything but the request body.

use serde_json::{json, Value};

/// The tool the proxy serves.
pub const TOOL: &str = "headroom_retrieve";

/// How the model asks for the original.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ask {
    Whole,
    /// `lines` as the model would write them, e.g. `"120-180"`.
    Lines(String),
    Query(String),
}

/// What the model does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Script {
    pub ask: Ask,
    /// The word identifying the line the model answers with.
    pub fact: String,
    /// Say this before calling the tool (a text block ahead of the call).
    pub preamble: Option<String>,
    /// Also call the client's tool `Bash` in the same turn as the retrieval.
    pub with_client_call: bool,
    /// Call the tool again on every turn, whatever came back (to exhaust the rounds).
    pub insist: bool,
    /// Retrieve only the newest block's id, and only when it is the n-th, 2n-th, … distinct
    /// id of the conversation (a session where 1 in n compressed blocks is retrieved).
    pub retrieve_every: Option<usize>,
    /// Answer every continuation (a request whose last message answers the retrieval) with
    /// this error status instead.
    pub fail_continuation: Option<u16>,
}

impl Script {
    pub fn new(ask: Ask, fact: &str) -> Script {
        Script {
            ask,
            fact: fact.into(),
            preamble: None,
            with_client_call: false,
            insist: false,
            retrieve_every: None,
            fail_continuation: None,
        }
    }
}

/// One item of the model's turn.
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    Text(String),
    Call {
        id: String,
        name: String,
        input: Value,
    },
}

/// The model's turn.
#[derive(Debug, Clone, PartialEq)]
pub struct Turn {
    pub items: Vec<Item>,
}

impl Turn {
    fn calls(&self) -> bool {
        self.items.iter().any(|i| matches!(i, Item::Call { .. }))
    }
}

/// The marker id in `text`, if any (`· id ` followed by 12 hex characters).
pub fn marker_id(text: &str) -> Option<String> {
    let at = text.find("· id ")? + "· id ".len();
    let id: String = text[at..].chars().take(12).collect();
    (id.len() == 12 && id.bytes().all(|b| b.is_ascii_hexdigit())).then_some(id)
}

/// The texts of every tool result in a request, and the last message's tool results.
fn tool_results(req: &Value, openai: bool) -> (Vec<String>, Vec<(String, String)>) {
    let mut all = Vec::new();
    let mut last = Vec::new();
    let messages = req["messages"].as_array().cloned().unwrap_or_default();
    for (i, m) in messages.iter().enumerate() {
        let is_last = i + 1 == messages.len();
        if openai {
            if m["role"] == "tool" {
                let text = m["content"].as_str().unwrap_or("").to_string();
                all.push(text.clone());
                let id = m["tool_call_id"].as_str().unwrap_or("").to_string();
                // A run of tool messages at the end answers the last assistant turn.
                let trailing = messages[i..].iter().all(|x| x["role"] == "tool");
                if trailing {
                    last.push((id, text));
                }
            }
            continue;
        }
        for b in m["content"].as_array().into_iter().flatten() {
            if b["type"] != "tool_result" {
                continue;
            }
            let text = match &b["content"] {
                Value::String(s) => s.clone(),
                Value::Array(parts) => parts
                    .iter()
                    .filter_map(|p| p["text"].as_str())
                    .collect::<Vec<_>>()
                    .join("\n"),
                _ => String::new(),
            };
            all.push(text.clone());
            if is_last {
                last.push((b["tool_use_id"].as_str().unwrap_or("").to_string(), text));
            }
        }
    }
    (all, last)
}

fn offers_tool(req: &Value, openai: bool) -> bool {
    req["tools"].as_array().into_iter().flatten().any(|t| {
        let name = if openai {
            &t["function"]["name"]
        } else {
            &t["name"]
        };
        name == TOOL
    })
}

/// Whether the request's last message answers a `headroom_retrieve` call.
pub fn is_continuation(req: &Value, openai: bool) -> bool {
    tool_results(req, openai)
        .1
        .iter()
        .any(|(id, _)| id.contains("_hr_"))
}

/// The model's turn for a request (`openai`: chat-completions shape).
pub fn decide(script: &Script, req: &Value, openai: bool) -> Turn {
    let (all, last) = tool_results(req, openai);
    let answered: Vec<&(String, String)> =
        last.iter().filter(|(id, _)| id.contains("_hr_")).collect();
    if !answered.is_empty() && !script.insist {
        let text = answered
            .iter()
            .flat_map(|(_, t)| t.lines())
            .find(|l| l.contains(&script.fact))
            .map(|l| format!("From the full output: {}", l.trim()))
            .unwrap_or_else(|| "The retrieved text does not say.".to_string());
        return Turn {
            items: vec![Item::Text(text)],
        };
    }
    let id = match script.retrieve_every {
        None => all.iter().rev().find_map(|t| marker_id(t)),
        Some(n) => {
            let mut seen: Vec<String> = Vec::new();
            for id in all.iter().filter_map(|t| marker_id(t)) {
                if !seen.contains(&id) {
                    seen.push(id);
                }
            }
            let newest = last.iter().find_map(|(_, t)| marker_id(t));
            newest.filter(|id| {
                seen.iter()
                    .position(|s| s == id)
                    .is_some_and(|k| (k + 1) % n.max(1) == 0)
            })
        }
    };
    match id {
        Some(id) if offers_tool(req, openai) => {
            let round = req["messages"].as_array().map_or(0, |m| m.len());
            let mut input = json!({ "id": id });
            match &script.ask {
                Ask::Whole => {}
                Ask::Lines(l) => input["lines"] = json!(l),
                Ask::Query(q) => input["query"] = json!(q),
            }
            let mut items = Vec::new();
            if let Some(p) = &script.preamble {
                items.push(Item::Text(p.clone()));
            }
            let prefix = if openai { "call" } else { "toolu" };
            items.push(Item::Call {
                id: format!("{prefix}_hr_{round:02}"),
                name: TOOL.into(),
                input,
            });
            if script.with_client_call {
                items.push(Item::Call {
                    id: format!("{prefix}_bash_{round:02}"),
                    name: "Bash".into(),
                    input: json!({"command": "ls -la"}),
                });
            }
            Turn { items }
        }
        _ => Turn {
            items: vec![Item::Text("fake answer".into())],
        },
    }
}

/// Anthropic Messages JSON for a turn.
pub fn anthropic_json(turn: &Turn, model: &str, usage: (u64, u64, u64)) -> String {
    let content: Vec<Value> = turn
        .items
        .iter()
        .map(|i| match i {
            Item::Text(t) => json!({"type":"text","text":t}),
            Item::Call { id, name, input } => {
                json!({"type":"tool_use","id":id,"name":name,"input":input})
            }
        })
        .collect();
    json!({
        "id": "msg_scripted", "type": "message", "role": "assistant", "model": model,
        "content": content,
        "stop_reason": if turn.calls() { "tool_use" } else { "end_turn" },
        "stop_sequence": null,
        "usage": {"input_tokens": usage.0, "cache_creation_input_tokens": usage.1,
                  "cache_read_input_tokens": usage.2, "output_tokens": 9}
    })
    .to_string()
}

/// Anthropic SSE events (name, data) for a turn.
pub fn anthropic_events(turn: &Turn, model: &str, usage: (u64, u64, u64)) -> Vec<(String, Value)> {
    let mut ev = vec![(
        "message_start".to_string(),
        json!({"type":"message_start","message":{"id":"msg_scripted","type":"message","role":"assistant","model":model,"content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":usage.0,"cache_creation_input_tokens":usage.1,"cache_read_input_tokens":usage.2,"output_tokens":1}}}),
    )];
    for (i, item) in turn.items.iter().enumerate() {
        let start = match item {
            Item::Text(_) => json!({"type":"text","text":""}),
            Item::Call { id, name, .. } => {
                json!({"type":"tool_use","id":id,"name":name,"input":{}})
            }
        };
        ev.push((
            "content_block_start".into(),
            json!({"type":"content_block_start","index":i,"content_block":start}),
        ));
        if i == 0 {
            ev.push(("ping".into(), json!({"type":"ping"})));
        }
        let (kind, key, full) = match item {
            Item::Text(t) => ("text_delta", "text", t.clone()),
            Item::Call { input, .. } => ("input_json_delta", "partial_json", input.to_string()),
        };
        for part in split3(&full) {
            let mut delta = json!({"type": kind});
            delta[key] = json!(part);
            ev.push((
                "content_block_delta".into(),
                json!({"type":"content_block_delta","index":i,"delta":delta}),
            ));
        }
        ev.push((
            "content_block_stop".into(),
            json!({"type":"content_block_stop","index":i}),
        ));
    }
    let stop = if turn.calls() { "tool_use" } else { "end_turn" };
    ev.push((
        "message_delta".into(),
        json!({"type":"message_delta","delta":{"stop_reason":stop,"stop_sequence":null},"usage":{"output_tokens":9}}),
    ));
    ev.push(("message_stop".into(), json!({"type":"message_stop"})));
    ev
}

/// OpenAI chat JSON for a turn.
pub fn openai_json(turn: &Turn, prompt_tokens: u64) -> String {
    let (text, calls) = openai_parts(turn);
    let mut message = json!({"role":"assistant","content": if text.is_empty() { Value::Null } else { json!(text) }});
    if !calls.is_empty() {
        message["tool_calls"] = json!(calls);
    }
    json!({
        "id": "chatcmpl-scripted", "object": "chat.completion", "created": 1, "model": "gpt-fake",
        "choices": [{"index": 0, "message": message, "logprobs": null,
                     "finish_reason": if calls.is_empty() { "stop" } else { "tool_calls" }}],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": 9, "total_tokens": prompt_tokens + 9}
    })
    .to_string()
}

fn openai_parts(turn: &Turn) -> (String, Vec<Value>) {
    let mut text = String::new();
    let mut calls = Vec::new();
    for i in &turn.items {
        match i {
            Item::Text(t) => text.push_str(t),
            Item::Call { id, name, input } => calls.push(json!({
                "id": id, "type": "function",
                "function": {"name": name, "arguments": input.to_string()}
            })),
        }
    }
    (text, calls)
}

/// OpenAI chunk payloads (`data:` values) for a turn, `[DONE]` last.
pub fn openai_chunks(
    turn: &Turn,
    prompt_tokens: u64,
    include_usage: bool,
    id: &str,
) -> Vec<String> {
    let chunk = |delta: Value, finish: Value| {
        let mut c = json!({"id":id,"object":"chat.completion.chunk","created":1,"model":"gpt-fake",
            "choices":[{"index":0,"delta":delta,"logprobs":null,"finish_reason":finish}]});
        if include_usage {
            c["usage"] = Value::Null;
        }
        c.to_string()
    };
    let (text, calls) = openai_parts(turn);
    let mut out = vec![chunk(json!({"role":"assistant","content":""}), Value::Null)];
    for part in split3(&text) {
        out.push(chunk(json!({"content": part}), Value::Null));
    }
    for (i, c) in calls.iter().enumerate() {
        out.push(chunk(
            json!({"tool_calls":[{"index":i,"id":c["id"],"type":"function","function":{"name":c["function"]["name"],"arguments":""}}]}),
            Value::Null,
        ));
        for part in split3(c["function"]["arguments"].as_str().unwrap_or("")) {
            out.push(chunk(
                json!({"tool_calls":[{"index":i,"function":{"arguments":part}}]}),
                Value::Null,
            ));
        }
    }
    let finish = if calls.is_empty() {
        "stop"
    } else {
        "tool_calls"
    };
    out.push(chunk(json!({}), json!(finish)));
    if include_usage {
        out.push(
            json!({"id":id,"object":"chat.completion.chunk","created":1,"model":"gpt-fake","choices":[],
                   "usage":{"prompt_tokens":prompt_tokens,"completion_tokens":9,"total_tokens":prompt_tokens+9}})
            .to_string(),
        );
    }
    out.push("[DONE]".into());
    out
}

/// Splits text in up to three pieces on char boundaries (streams deliver fragments).
fn split3(s: &str) -> Vec<String> {
    let chars: Vec<char> = s.chars().collect();
    if chars.is_empty() {
        return Vec::new();
    }
    let n = chars.len().div_ceil(3);
    chars.chunks(n).map(|c| c.iter().collect()).collect()
}
