//! Strict checkers of the event sequences the two APIs produce, for streams a client received.
//! Each returns what the stream said (text, tool calls, stop reason, usage) or the first rule
//! it breaks.
//!
//! Anthropic Messages: one `message_start` first; blocks one at a time with indices 0, 1, 2, …
//! (`content_block_start`, deltas of the block's own kind, `content_block_stop`); then one
//! `message_delta` and `message_stop` last; `ping` anywhere before the end; every `event:` name
//! equal to its data's `type`; tool inputs that parse.
//! OpenAI chat: chunks of one `id`, one choice at index 0; `role` only in the first delta; tool
//! calls opened in index order 0, 1, … (first delta with `id` and `function.name`, later ones
//! arguments only); one `finish_reason`, on the last choice chunk; then an optional usage chunk
//! (`choices: []`) and `[DONE]` last; arguments that parse.
//!
//! Must never: accept a stream that breaks one of these rules.

use serde_json::Value;

/// What a stream said.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Said {
    pub text: String,
    /// (tool name, parsed input) in order.
    pub calls: Vec<(String, Value)>,
    pub stop: String,
    /// `input_tokens` of `message_start` / `prompt_tokens` of the usage chunk.
    pub input_tokens: Option<u64>,
    pub output_tokens: Option<u64>,
}

/// (event name, data) of every event in a stream.
pub fn events(body: &[u8]) -> Vec<(Option<String>, String)> {
    let text = String::from_utf8_lossy(body).replace("\r\n", "\n");
    text.split("\n\n")
        .filter(|e| !e.trim().is_empty())
        .map(|e| {
            let mut name = None;
            let mut data = String::new();
            for line in e.lines() {
                if let Some(v) = line.strip_prefix("event:") {
                    name = Some(v.trim().to_string());
                } else if let Some(v) = line.strip_prefix("data:") {
                    data.push_str(v.strip_prefix(' ').unwrap_or(v));
                }
            }
            (name, data)
        })
        .collect()
}

/// Checks an Anthropic Messages stream.
pub fn anthropic(body: &[u8]) -> Result<Said, String> {
    let mut said = Said::default();
    let mut started = false;
    let mut blocks = 0usize;
    let mut open: Option<(usize, String, String)> = None; // (index, type, tool json / name)
    let mut tool_name = String::new();
    let mut delta_seen = false;
    let mut stopped = false;
    for (n, (name, data)) in events(body).into_iter().enumerate() {
        let at = |what: &str| format!("event {n}: {what}");
        if stopped {
            return Err(at("event after message_stop"));
        }
        let v: Value = serde_json::from_str(&data).map_err(|e| at(&format!("bad JSON {e}")))?;
        let kind = v["type"].as_str().unwrap_or("").to_string();
        if name.as_deref() != Some(kind.as_str()) {
            return Err(at(&format!("event name {name:?} but type {kind}")));
        }
        if kind != "message_start" && kind != "ping" && !started {
            return Err(at("before message_start"));
        }
        match kind.as_str() {
            "ping" => {}
            "message_start" => {
                if started {
                    return Err(at("second message_start"));
                }
                started = true;
                said.input_tokens = v["message"]["usage"]["input_tokens"].as_u64();
            }
            "content_block_start" => {
                if open.is_some() || delta_seen {
                    return Err(at(
                        "block started while another is open or after message_delta",
                    ));
                }
                let i = v["index"].as_u64().ok_or_else(|| at("no index"))? as usize;
                if i != blocks {
                    return Err(at(&format!("block index {i}, expected {blocks}")));
                }
                let t = v["content_block"]["type"]
                    .as_str()
                    .unwrap_or("")
                    .to_string();
                tool_name = v["content_block"]["name"]
                    .as_str()
                    .unwrap_or("")
                    .to_string();
                open = Some((i, t, String::new()));
            }
            "content_block_delta" => {
                let Some((i, t, json)) = open.as_mut() else {
                    return Err(at("delta outside a block"));
                };
                if v["index"].as_u64() != Some(*i as u64) {
                    return Err(at("delta for another index"));
                }
                let d = v["delta"]["type"].as_str().unwrap_or("");
                let ok = matches!(
                    (t.as_str(), d),
                    ("text", "text_delta" | "citations_delta")
                        | ("tool_use", "input_json_delta")
                        | ("thinking", "thinking_delta" | "signature_delta")
                );
                if !ok {
                    return Err(at(&format!("{d} in a {t} block")));
                }
                if d == "text_delta" {
                    said.text
                        .push_str(v["delta"]["text"].as_str().unwrap_or(""));
                }
                if d == "input_json_delta" {
                    json.push_str(v["delta"]["partial_json"].as_str().unwrap_or(""));
                }
            }
            "content_block_stop" => {
                let Some((i, t, json)) = open.take() else {
                    return Err(at("stop outside a block"));
                };
                if v["index"].as_u64() != Some(i as u64) {
                    return Err(at("stop for another index"));
                }
                if t == "tool_use" {
                    let input = if json.is_empty() {
                        Value::Object(Default::default())
                    } else {
                        serde_json::from_str(&json).map_err(|_| at("tool input is not JSON"))?
                    };
                    said.calls.push((tool_name.clone(), input));
                }
                blocks += 1;
            }
            "message_delta" => {
                if open.is_some() || delta_seen {
                    return Err(at("message_delta with a block open, or twice"));
                }
                delta_seen = true;
                said.stop = v["delta"]["stop_reason"].as_str().unwrap_or("").to_string();
                said.output_tokens = v["usage"]["output_tokens"].as_u64();
            }
            "message_stop" => {
                if !delta_seen {
                    return Err(at("message_stop without message_delta"));
                }
                stopped = true;
            }
            "error" => return Err(at(&format!("error event: {data}"))),
            other => return Err(at(&format!("unknown event {other}"))),
        }
    }
    if !stopped {
        return Err("stream ended without message_stop".into());
    }
    Ok(said)
}

/// Checks an OpenAI chat-completions chunk stream.
pub fn openai(body: &[u8]) -> Result<Said, String> {
    let mut said = Said::default();
    let mut id: Option<String> = None;
    let mut first = true;
    let mut calls: Vec<(String, String)> = Vec::new();
    let mut finished = false;
    let mut usage_seen = false;
    let mut done = false;
    for (n, (_, data)) in events(body).into_iter().enumerate() {
        let at = |what: &str| format!("chunk {n}: {what}");
        if done {
            return Err(at("data after [DONE]"));
        }
        if data.trim() == "[DONE]" {
            done = true;
            continue;
        }
        let v: Value = serde_json::from_str(&data).map_err(|e| at(&format!("bad JSON {e}")))?;
        if v["object"] != "chat.completion.chunk" {
            return Err(at("not a chat.completion.chunk"));
        }
        let this = v["id"].as_str().unwrap_or("").to_string();
        match &id {
            None => id = Some(this),
            Some(i) if *i != this => return Err(at(&format!("id {this} after {i}"))),
            _ => {}
        }
        let choices = v["choices"].as_array().cloned().unwrap_or_default();
        if choices.is_empty() {
            if !finished || usage_seen {
                return Err(at("usage chunk before finish_reason, or twice"));
            }
            usage_seen = true;
            said.input_tokens = v["usage"]["prompt_tokens"].as_u64();
            said.output_tokens = v["usage"]["completion_tokens"].as_u64();
            continue;
        }
        if finished {
            return Err(at("choice chunk after finish_reason"));
        }
        if choices.len() != 1 || choices[0]["index"] != 0 {
            return Err(at("expected one choice at index 0"));
        }
        let c = &choices[0];
        let d = &c["delta"];
        if d.get("role").is_some_and(|r| !r.is_null()) && !first {
            return Err(at("role after the first chunk"));
        }
        first = false;
        if let Some(t) = d["content"].as_str() {
            said.text.push_str(t);
        }
        for tc in d["tool_calls"].as_array().into_iter().flatten() {
            let i = tc["index"]
                .as_u64()
                .ok_or_else(|| at("tool call without index"))? as usize;
            if i == calls.len() {
                let name = tc["function"]["name"]
                    .as_str()
                    .ok_or_else(|| at("new call without a name"))?;
                if tc["id"].as_str().is_none() {
                    return Err(at("new call without an id"));
                }
                calls.push((name.to_string(), String::new()));
            } else if i > calls.len() {
                return Err(at(&format!("tool call index {i} skips {}", calls.len())));
            }
            if let Some(a) = tc["function"]["arguments"].as_str() {
                calls[i].1.push_str(a);
            }
        }
        if let Some(f) = c["finish_reason"].as_str() {
            finished = true;
            said.stop = f.to_string();
        }
    }
    if !done || !finished {
        return Err("stream ended without finish_reason and [DONE]".into());
    }
    for (name, args) in calls {
        let input =
            serde_json::from_str(&args).map_err(|_| format!("{name} arguments not JSON"))?;
        said.calls.push((name, input));
    }
    Ok(said)
}
