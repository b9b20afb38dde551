//! An OpenAI chat-completions chunk stream, rewritten so the client never sees a retrieval.
//!
//! What is held back: `tool_calls` deltas of a `headroom_retrieve` call (matched by the
//! call's `index`, named in its first delta), the chunk carrying `finish_reason`, the usage
//! chunk (`choices: []`, sent with `stream_options.include_usage`) and `[DONE]`, until the
//! proxy knows whether it continues. What is rewritten: the client's tool calls' `index`
//! (dense from 0), and in a continuation the chunk `id` (the first round's) and the repeated
//! `role`. A chunk left with nothing to say is dropped. Unchanged chunks pass byte for byte.
//!
//! Must never: forward a retrieval call's delta, or emit `[DONE]` before the last round.

use crate::sse::{Event, Splitter};
use crate::turn::{self, Turn};
use crate::TOOL_NAME;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    Client(usize),
    Held,
}

/// The stream of one served exchange, across its rounds.
#[derive(Debug, Default)]
pub struct OpenAiStream {
    splitter: Splitter,
    round: usize,
    first_id: Option<String>,
    next_call: usize,
    slots: HashMap<u64, Slot>,
    calls: BTreeMap<u64, Value>,
    content: String,
    held_end: Vec<Event>,
}

impl OpenAiStream {
    pub fn new() -> OpenAiStream {
        OpenAiStream::default()
    }

    /// Takes bytes of the current round's upstream stream; returns the bytes for the client.
    pub fn feed(&mut self, chunk: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        for ev in self.splitter.feed(chunk) {
            self.event(ev, &mut out);
        }
        out
    }

    /// The round's upstream stream ended: returns the model's turn.
    pub fn end_round(&mut self) -> (Vec<u8>, Turn) {
        let mut out = Vec::new();
        if let Some(ev) = self.splitter.finish() {
            self.event(ev, &mut out);
        }
        let calls: Vec<Value> = std::mem::take(&mut self.calls).into_values().collect();
        let content = std::mem::take(&mut self.content);
        let content = if content.is_empty() {
            Value::Null
        } else {
            Value::String(content)
        };
        (out, turn::from_openai_message(content, &calls))
    }

    /// The proxy continues with another upstream stream for the same client answer.
    pub fn next_round(&mut self) {
        self.round += 1;
        self.slots.clear();
        self.held_end.clear();
        self.splitter = Splitter::default();
    }

    /// Ends the client's stream with the held chunks. `ended_by_proxy`: no client call is left
    /// in the answer, so `finish_reason: "tool_calls"` becomes `"stop"`.
    pub fn release(&mut self, ended_by_proxy: bool) -> Vec<u8> {
        let mut out = Vec::new();
        let no_client_calls = ended_by_proxy || self.next_call == 0;
        for ev in std::mem::take(&mut self.held_end) {
            if no_client_calls {
                if let Ok(mut v) = serde_json::from_str::<Value>(&ev.data) {
                    if let Some(f) = v.pointer_mut("/choices/0/finish_reason") {
                        if f == "tool_calls" {
                            *f = Value::String("stop".into());
                            write(&mut out, &v);
                            continue;
                        }
                    }
                }
            }
            out.extend(ev.bytes());
        }
        out
    }

    fn event(&mut self, ev: Event, out: &mut Vec<u8>) {
        if ev.data.trim() == "[DONE]" {
            self.held_end.push(ev);
            return;
        }
        let Ok(mut v) = serde_json::from_str::<Value>(&ev.data) else {
            out.extend(ev.bytes());
            return;
        };
        let mut changed = false;
        if self.round == 0 && self.first_id.is_none() {
            self.first_id = v.get("id").and_then(Value::as_str).map(str::to_string);
        } else if self.round > 0 {
            if let (Some(first), Some(id)) = (&self.first_id, v.get_mut("id")) {
                if id != first {
                    *id = Value::String(first.clone());
                    changed = true;
                }
            }
        }
        let choices_empty = v
            .get("choices")
            .and_then(Value::as_array)
            .is_some_and(|c| c.is_empty());
        if choices_empty {
            // The usage chunk: last before `[DONE]`.
            self.held_end.push(rebuilt(ev, &v, changed));
            return;
        }
        let finish = v
            .pointer("/choices/0/finish_reason")
            .is_some_and(|f| !f.is_null());
        if let Some(delta) = v.pointer_mut("/choices/0/delta") {
            changed |= self.delta(delta);
            if self.round > 0 && delta.get("role").is_some() {
                delta.as_object_mut().map(|d| d.remove("role"));
                changed = true;
            }
        }
        let ev = rebuilt(ev, &v, changed);
        if finish {
            self.held_end.push(ev);
            return;
        }
        let empty = v.pointer("/choices/0/delta").is_some_and(says_nothing);
        if changed && empty && v.get("usage").is_none_or(Value::is_null) {
            return;
        }
        out.extend(ev.bytes());
    }

    /// Reads and rewrites one delta; true when it changed.
    fn delta(&mut self, delta: &mut Value) -> bool {
        if let Some(t) = delta.get("content").and_then(Value::as_str) {
            self.content.push_str(t);
        }
        let Some(calls) = delta.get_mut("tool_calls").and_then(Value::as_array_mut) else {
            return false;
        };
        let mut changed = false;
        let mut kept = Vec::new();
        for mut c in std::mem::take(calls) {
            let index = c.get("index").and_then(Value::as_u64).unwrap_or(0);
            let slot = *self.slots.entry(index).or_insert_with(|| {
                if c.pointer("/function/name").and_then(Value::as_str) == Some(TOOL_NAME) {
                    Slot::Held
                } else {
                    self.next_call += 1;
                    Slot::Client(self.next_call - 1)
                }
            });
            let assembled = self.calls.entry(index).or_insert_with(
                || json!({"id": "", "type": "function", "function": {"name": "", "arguments": ""}}),
            );
            for (ptr, key) in [("/id", "id"), ("/type", "type")] {
                if let Some(s) = c.pointer(ptr).and_then(Value::as_str) {
                    assembled[key] = Value::String(s.into());
                }
            }
            for key in ["name", "arguments"] {
                if let Some(s) = c
                    .pointer(&format!("/function/{key}"))
                    .and_then(Value::as_str)
                {
                    let old = assembled["function"][key]
                        .as_str()
                        .unwrap_or("")
                        .to_string();
                    assembled["function"][key] = Value::String(old + s);
                }
            }
            match slot {
                Slot::Held => changed = true,
                Slot::Client(i) => {
                    if i as u64 != index {
                        c["index"] = json!(i);
                        changed = true;
                    }
                    kept.push(c);
                }
            }
        }
        if kept.is_empty() {
            delta.as_object_mut().map(|d| d.remove("tool_calls"));
        } else {
            delta["tool_calls"] = Value::Array(kept);
        }
        changed
    }
}

/// A delta with no content, role, refusal or tool call left.
fn says_nothing(d: &Value) -> bool {
    d.as_object().is_none_or(|m| {
        m.iter().all(|(k, v)| match k.as_str() {
            "content" => v.is_null() || v.as_str() == Some(""),
            _ => v.is_null(),
        })
    })
}

fn rebuilt(ev: Event, v: &Value, changed: bool) -> Event {
    if !changed {
        return ev;
    }
    let data = v.to_string();
    Event {
        raw: format!("data: {data}").into_bytes(),
        name: None,
        data,
    }
}

fn write(out: &mut Vec<u8>, v: &Value) {
    out.extend_from_slice(format!("data: {v}\n\n").as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(id: &str, delta: Value, finish: Option<&str>) -> String {
        let v = json!({"id":id,"object":"chat.completion.chunk","created":1,"model":"gpt","choices":[{"index":0,"delta":delta,"finish_reason":finish}]});
        format!("data: {v}\n\n")
    }

    fn usage(id: &str) -> String {
        format!(
            "data: {}\n\n",
            json!({"id":id,"object":"chat.completion.chunk","created":1,"model":"gpt","choices":[],"usage":{"prompt_tokens":9,"completion_tokens":3,"total_tokens":12}})
        )
    }

    fn call_round(id: &str, calls: &[(&str, &str)]) -> String {
        let mut s = chunk(id, json!({"role":"assistant","content":null}), None);
        for (i, (name, args)) in calls.iter().enumerate() {
            s += &chunk(
                id,
                json!({"tool_calls":[{"index":i,"id":format!("call_{i}"),"type":"function","function":{"name":name,"arguments":""}}]}),
                None,
            );
            let (a, b) = args.split_at(args.len() / 2);
            for part in [a, b] {
                s += &chunk(
                    id,
                    json!({"tool_calls":[{"index":i,"function":{"arguments":part}}]}),
                    None,
                );
            }
        }
        s += &chunk(id, json!({}), Some("tool_calls"));
        s += &usage(id);
        s + "data: [DONE]\n\n"
    }

    fn text_round(id: &str, text: &str) -> String {
        let mut s = chunk(id, json!({"role":"assistant","content":""}), None);
        s += &chunk(id, json!({"content":text}), None);
        s += &chunk(id, json!({}), Some("stop"));
        s += &usage(id);
        s + "data: [DONE]\n\n"
    }

    fn data(bytes: &[u8]) -> Vec<String> {
        let mut s = Splitter::default();
        s.feed(bytes).into_iter().map(|e| e.data).collect()
    }

    #[test]
    fn a_served_call_disappears_and_the_continuation_joins_the_first_answer() {
        let mut st = OpenAiStream::new();
        let mut out = Vec::new();
        for c in call_round(
            "chatcmpl-1",
            &[(TOOL_NAME, r#"{"id":"abc","query":"timeout"}"#)],
        )
        .as_bytes()
        .chunks(13)
        {
            out.extend(st.feed(c));
        }
        let (rest, turn) = st.end_round();
        out.extend(rest);
        assert!(turn.served_by_proxy());
        assert_eq!(
            turn.retrievals[0].input,
            r#"{"id":"abc","query":"timeout"}"#
        );
        assert_eq!(
            turn.assistant["tool_calls"][0]["function"]["name"],
            TOOL_NAME
        );
        st.next_round();
        out.extend(st.feed(text_round("chatcmpl-2", "The timeout was 30 s.").as_bytes()));
        let (rest, _) = st.end_round();
        out.extend(rest);
        out.extend(st.release(false));
        let text = String::from_utf8(out.clone()).unwrap();
        assert!(
            !text.contains(TOOL_NAME) && !text.contains("chatcmpl-2"),
            "{text}"
        );
        let d = data(&out);
        assert_eq!(d.last().unwrap(), "[DONE]");
        assert_eq!(
            d.iter().filter(|x| x.contains("\"role\"")).count(),
            1,
            "{d:?}"
        );
        assert_eq!(d.iter().filter(|x| x.contains("\"usage\":{")).count(), 1);
        assert!(d.iter().any(|x| x.contains("The timeout was 30 s.")));
        assert!(d[d.len() - 3].contains("\"finish_reason\":\"stop\""));
    }

    #[test]
    fn client_calls_keep_dense_indices_beside_a_held_retrieval() {
        let mut st = OpenAiStream::new();
        let mut out = st.feed(
            call_round(
                "c",
                &[(TOOL_NAME, r#"{"id":"a"}"#), ("ls", r#"{"path":"."}"#)],
            )
            .as_bytes(),
        );
        let (rest, turn) = st.end_round();
        out.extend(rest);
        assert!(!turn.served_by_proxy());
        out.extend(st.release(false));
        let d = data(&out);
        let calls: Vec<Value> = d
            .iter()
            .filter_map(|x| serde_json::from_str::<Value>(x).ok())
            .filter_map(|v| v.pointer("/choices/0/delta/tool_calls").cloned())
            .collect();
        assert_eq!(calls.len(), 3);
        assert!(calls.iter().all(|c| c[0]["index"] == 0));
        assert_eq!(calls[0][0]["function"]["name"], "ls");
        assert!(d
            .iter()
            .any(|x| x.contains("\"finish_reason\":\"tool_calls\"")));
    }

    #[test]
    fn a_plain_stream_passes_byte_for_byte() {
        let mut st = OpenAiStream::new();
        let s = text_round("x", "hi");
        let mut out = st.feed(s.as_bytes());
        out.extend(st.end_round().0);
        out.extend(st.release(false));
        assert_eq!(String::from_utf8(out).unwrap(), s);
    }
}
