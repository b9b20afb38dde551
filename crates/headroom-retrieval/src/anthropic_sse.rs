//! An Anthropic Messages event stream, rewritten so the client never sees a retrieval.
//!
//! What is held back: every event of a `headroom_retrieve` `tool_use` block, and the message
//! end (`message_delta`, `message_stop`) until the proxy knows whether it continues. What is
//! dropped: a continuation's `message_start`. What is renumbered: every other block's `index`,
//! so the client's blocks count 0, 1, 2, … across all rounds. Everything else passes as it
//! came, byte for byte. The client's sequence is therefore one the API produces:
//! `message_start`, blocks (start, deltas, stop) with consecutive indices, `message_delta`,
//! `message_stop`, with `ping`s anywhere.
//!
//! Must never: forward a retrieval block's events, or emit a second `message_start`.

use crate::sse::{Event, Splitter};
use crate::turn::{self, Turn};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    /// Forwarded under this client index.
    Client(usize),
    Held,
}

/// One block as it is being assembled (for the continuation's assistant turn).
#[derive(Debug)]
struct Block {
    value: Value,
    partial_json: String,
}

/// The stream of one served exchange, across its rounds.
#[derive(Debug, Default)]
pub struct AnthropicStream {
    splitter: Splitter,
    round: usize,
    next_index: usize,
    slots: HashMap<u64, Slot>,
    blocks: BTreeMap<u64, Block>,
    held_end: Vec<Value>,
    /// An `error` event was forwarded: the stream is over.
    pub errored: bool,
}

impl AnthropicStream {
    pub fn new() -> AnthropicStream {
        AnthropicStream::default()
    }

    /// Takes bytes of the current round's upstream stream; returns the bytes for the client.
    pub fn feed(&mut self, chunk: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        for ev in self.splitter.feed(chunk) {
            self.event(ev, &mut out);
        }
        out
    }

    /// The round's upstream stream ended: flushes a last unterminated event and returns the
    /// model's turn.
    pub fn end_round(&mut self) -> (Vec<u8>, Turn) {
        let mut out = Vec::new();
        if let Some(ev) = self.splitter.finish() {
            self.event(ev, &mut out);
        }
        let content: Vec<Value> = std::mem::take(&mut self.blocks)
            .into_values()
            .map(Block::finish)
            .collect();
        (out, turn::from_anthropic_blocks(&content))
    }

    /// The proxy continues: the next upstream stream belongs to the same client message.
    pub fn next_round(&mut self) {
        self.round += 1;
        self.slots.clear();
        self.held_end.clear();
        self.splitter = Splitter::default();
    }

    /// Ends the client's message with the held end events. `ended_by_proxy`: the last round
    /// still called the retrieval tool (rounds exhausted) and no client tool, so the stop
    /// reason becomes `end_turn`.
    pub fn release(&mut self, ended_by_proxy: bool) -> Vec<u8> {
        let mut out = Vec::new();
        for mut v in std::mem::take(&mut self.held_end) {
            let name = v
                .get("type")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            if ended_by_proxy && name == "message_delta" {
                if let Some(d) = v.get_mut("delta") {
                    d["stop_reason"] = Value::String("end_turn".into());
                }
            }
            write(&mut out, &name, &v);
        }
        out
    }

    fn event(&mut self, ev: Event, out: &mut Vec<u8>) {
        let Ok(mut v) = serde_json::from_str::<Value>(&ev.data) else {
            out.extend(ev.bytes());
            return;
        };
        let kind = v
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        match kind.as_str() {
            "message_start" if self.round > 0 => {}
            "message_delta" | "message_stop" => self.held_end.push(v),
            "content_block_start" => {
                let index = v.get("index").and_then(Value::as_u64).unwrap_or(0);
                let block = v.get("content_block").cloned().unwrap_or(Value::Null);
                let slot = if turn::is_retrieval_block(&block) {
                    Slot::Held
                } else {
                    self.next_index += 1;
                    Slot::Client(self.next_index - 1)
                };
                self.slots.insert(index, slot);
                self.blocks.insert(
                    index,
                    Block {
                        value: block,
                        partial_json: String::new(),
                    },
                );
                self.forward(ev, &mut v, slot, index, out);
            }
            "content_block_delta" | "content_block_stop" => {
                let index = v.get("index").and_then(Value::as_u64).unwrap_or(0);
                if kind == "content_block_delta" {
                    if let (Some(b), Some(d)) = (self.blocks.get_mut(&index), v.get("delta")) {
                        b.apply(d);
                    }
                }
                let slot = self
                    .slots
                    .get(&index)
                    .copied()
                    .unwrap_or(Slot::Client(index as usize));
                self.forward(ev, &mut v, slot, index, out);
            }
            "error" => {
                self.errored = true;
                out.extend(ev.bytes());
            }
            _ => out.extend(ev.bytes()),
        }
    }

    fn forward(&self, ev: Event, v: &mut Value, slot: Slot, index: u64, out: &mut Vec<u8>) {
        match slot {
            Slot::Held => {}
            Slot::Client(i) if i as u64 == index => out.extend(ev.bytes()),
            Slot::Client(i) => {
                v["index"] = json!(i);
                let name = ev.name.clone().unwrap_or_default();
                write(out, &name, v);
            }
        }
    }
}

impl Block {
    fn apply(&mut self, d: &Value) {
        let s = |k: &str| d.get(k).and_then(Value::as_str).unwrap_or("");
        let append = |value: &mut Value, key: &str, more: &str| {
            let old = value
                .get(key)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            value[key] = Value::String(old + more);
        };
        match s("type") {
            "text_delta" => append(&mut self.value, "text", s("text")),
            "thinking_delta" => append(&mut self.value, "thinking", s("thinking")),
            "signature_delta" => self.value["signature"] = Value::String(s("signature").into()),
            "input_json_delta" => self.partial_json.push_str(s("partial_json")),
            "citations_delta" => {
                if let Some(c) = d.get("citation") {
                    match self
                        .value
                        .get_mut("citations")
                        .and_then(Value::as_array_mut)
                    {
                        Some(list) => list.push(c.clone()),
                        None => self.value["citations"] = json!([c]),
                    }
                }
            }
            _ => {}
        }
    }

    fn finish(mut self) -> Value {
        if !self.partial_json.is_empty() {
            self.value["input"] =
                serde_json::from_str(&self.partial_json).unwrap_or_else(|_| json!({}));
        }
        self.value
    }
}

fn write(out: &mut Vec<u8>, name: &str, v: &Value) {
    out.extend_from_slice(format!("event: {name}\ndata: {v}\n\n").as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(name: &str, data: Value) -> String {
        format!("event: {name}\ndata: {data}\n\n")
    }

    /// An upstream round: optional text, then optional retrieval call, then the end.
    fn round(text: Option<&str>, retrieve: Option<&str>, stop: &str) -> String {
        let mut s = ev(
            "message_start",
            json!({"type":"message_start","message":{"id":"msg_x","usage":{"input_tokens":10}}}),
        );
        let mut i = 0;
        if let Some(t) = text {
            s += &ev(
                "content_block_start",
                json!({"type":"content_block_start","index":i,"content_block":{"type":"text","text":""}}),
            );
            s += &ev("ping", json!({"type":"ping"}));
            s += &ev(
                "content_block_delta",
                json!({"type":"content_block_delta","index":i,"delta":{"type":"text_delta","text":t}}),
            );
            s += &ev(
                "content_block_stop",
                json!({"type":"content_block_stop","index":i}),
            );
            i += 1;
        }
        if let Some(input) = retrieve {
            s += &ev(
                "content_block_start",
                json!({"type":"content_block_start","index":i,"content_block":{"type":"tool_use","id":"toolu_r","name":"headroom_retrieve","input":{}}}),
            );
            let (a, b) = input.split_at(input.len() / 2);
            for part in [a, b] {
                s += &ev(
                    "content_block_delta",
                    json!({"type":"content_block_delta","index":i,"delta":{"type":"input_json_delta","partial_json":part}}),
                );
            }
            s += &ev(
                "content_block_stop",
                json!({"type":"content_block_stop","index":i}),
            );
        }
        s += &ev(
            "message_delta",
            json!({"type":"message_delta","delta":{"stop_reason":stop},"usage":{"output_tokens":7}}),
        );
        s += &ev("message_stop", json!({"type":"message_stop"}));
        s
    }

    fn events(bytes: &[u8]) -> Vec<Value> {
        let mut s = Splitter::default();
        s.feed(bytes)
            .into_iter()
            .map(|e| serde_json::from_str(&e.data).unwrap())
            .collect()
    }

    #[test]
    fn holds_the_retrieval_block_and_renumbers_the_continuation() {
        let mut st = AnthropicStream::new();
        let first = round(
            Some("Let me check. "),
            Some(r#"{"id":"abc","lines":"2-4"}"#),
            "tool_use",
        );
        let mut client = Vec::new();
        for c in first.as_bytes().chunks(11) {
            client.extend(st.feed(c));
        }
        let (rest, turn) = st.end_round();
        client.extend(rest);
        assert!(turn.served_by_proxy());
        assert_eq!(turn.retrievals[0].input, r#"{"id":"abc","lines":"2-4"}"#);
        assert_eq!(turn.assistant["content"][0]["text"], "Let me check. ");
        assert_eq!(turn.assistant["content"][1]["input"]["lines"], "2-4");
        st.next_round();
        client.extend(st.feed(round(Some("The answer is 42."), None, "end_turn").as_bytes()));
        let (rest, turn) = st.end_round();
        client.extend(rest);
        assert!(turn.retrievals.is_empty());
        client.extend(st.release(false));
        let text = String::from_utf8(client.clone()).unwrap();
        assert!(!text.contains("headroom_retrieve"), "{text}");
        let kinds: Vec<String> = events(&client)
            .iter()
            .map(|v| {
                format!(
                    "{}{}",
                    v["type"].as_str().unwrap(),
                    v.get("index").map(|i| i.to_string()).unwrap_or_default()
                )
            })
            .collect();
        assert_eq!(
            kinds,
            [
                "message_start",
                "content_block_start0",
                "ping",
                "content_block_delta0",
                "content_block_stop0",
                "content_block_start1",
                "ping",
                "content_block_delta1",
                "content_block_stop1",
                "message_delta",
                "message_stop"
            ]
        );
        // Events that needed no change pass byte for byte.
        assert!(text.starts_with(&first[..first.find("\n\n").unwrap() + 2]));
    }

    #[test]
    fn a_stream_without_retrieval_passes_unchanged() {
        let mut st = AnthropicStream::new();
        let s = round(Some("hello"), None, "end_turn");
        let mut out = st.feed(s.as_bytes());
        let (rest, turn) = st.end_round();
        out.extend(rest);
        assert!(turn.retrievals.is_empty());
        out.extend(st.release(false));
        assert_eq!(String::from_utf8(out).unwrap(), s);
    }

    #[test]
    fn rounds_exhausted_end_the_turn_and_drop_the_call() {
        let mut st = AnthropicStream::new();
        let mut out = st.feed(round(None, Some(r#"{"id":"x"}"#), "tool_use").as_bytes());
        let (rest, turn) = st.end_round();
        out.extend(rest);
        assert!(turn.served_by_proxy());
        out.extend(st.release(true));
        let evs = events(&out);
        assert_eq!(evs.len(), 3, "{evs:?}");
        assert_eq!(evs[1]["delta"]["stop_reason"], "end_turn");
    }

    #[test]
    fn a_client_call_after_a_held_retrieval_takes_its_index() {
        let mut st = AnthropicStream::new();
        let mut s = round(None, Some(r#"{"id":"abc"}"#), "tool_use");
        // A client tool call at upstream index 1, after the held retrieval block at 0.
        let cut = s.find("event: message_delta").unwrap();
        let client = ev(
            "content_block_start",
            json!({"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_c","name":"Bash","input":{}}}),
        ) + &ev(
            "content_block_delta",
            json!({"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"command\":\"ls\"}"}}),
        ) + &ev(
            "content_block_stop",
            json!({"type":"content_block_stop","index":1}),
        );
        s.insert_str(cut, &client);
        let mut out = st.feed(s.as_bytes());
        let (rest, turn) = st.end_round();
        out.extend(rest);
        assert!(!turn.served_by_proxy());
        assert_eq!(turn.client_calls, 1);
        out.extend(st.release(false));
        let evs = events(&out);
        let starts: Vec<&Value> = evs
            .iter()
            .filter(|v| v["type"] == "content_block_start")
            .collect();
        assert_eq!(starts.len(), 1);
        assert_eq!(starts[0]["index"], 0);
        assert_eq!(starts[0]["content_block"]["name"], "Bash");
        let delta = evs.iter().find(|v| v["type"] == "message_delta").unwrap();
        assert_eq!(delta["delta"]["stop_reason"], "tool_use");
        assert!(!String::from_utf8(out)
            .unwrap()
            .contains("headroom_retrieve"));
    }
}
