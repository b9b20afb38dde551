//! The one answer a client receives from a served exchange (non-streaming): what the model
//! said in every round, without the retrieval calls, in the shape of the final round's answer
//! (its id, stop reason and usage).
//!
//! What the client gets, exactly:
//! - Anthropic: the final answer with `content` = the non-retrieval blocks of every round in
//!   order; `stop_reason` is the final round's, except that a turn left holding only retrieval
//!   calls (rounds exhausted) ends as `end_turn`.
//! - OpenAI: the final answer with `message.content` = the text of every round joined, the
//!   retrieval entries removed from `tool_calls` (the key dropped when none is left);
//!   `finish_reason: "tool_calls"` becomes `"stop"` when no client call is left.
//!
//! Must never: let a `headroom_retrieve` call through.

use crate::turn::{is_retrieval_block, is_retrieval_call};
use crate::Api;
use serde_json::Value;

/// Collects what earlier rounds said.
#[derive(Debug)]
pub struct Merger {
    api: Api,
    blocks: Vec<Value>,
    text: String,
}

impl Merger {
    pub fn new(api: Api) -> Merger {
        Merger {
            api,
            blocks: Vec::new(),
            text: String::new(),
        }
    }

    /// Keeps what a round that the proxy continued said to the user.
    pub fn absorb(&mut self, answer: &Value) {
        match self.api {
            Api::Anthropic => {
                if let Some(c) = answer.get("content").and_then(Value::as_array) {
                    self.blocks
                        .extend(c.iter().filter(|b| !is_retrieval_block(b)).cloned());
                }
            }
            Api::OpenAi => {
                if let Some(t) = answer
                    .pointer("/choices/0/message/content")
                    .and_then(Value::as_str)
                {
                    self.text.push_str(t);
                }
            }
        }
    }

    /// The client's answer, built on the final round's.
    pub fn finish(self, mut last: Value) -> Vec<u8> {
        match self.api {
            Api::Anthropic => {
                let own = last
                    .get("content")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                let had_retrieval = own.iter().any(is_retrieval_block);
                let mut content = self.blocks;
                content.extend(own.into_iter().filter(|b| !is_retrieval_block(b)));
                let client_calls = content
                    .iter()
                    .any(|b| b.get("type").and_then(Value::as_str) == Some("tool_use"));
                if had_retrieval && !client_calls {
                    last["stop_reason"] = Value::String("end_turn".into());
                }
                last["content"] = Value::Array(content);
            }
            Api::OpenAi => {
                if let Some(m) = last.pointer_mut("/choices/0/message") {
                    let own = m.get("content").and_then(Value::as_str).unwrap_or("");
                    let text = format!("{}{own}", self.text);
                    if !text.is_empty() {
                        m["content"] = Value::String(text);
                    }
                    let mut left = 0;
                    if let Some(obj) = m.as_object_mut() {
                        if let Some(Value::Array(calls)) = obj.get_mut("tool_calls") {
                            calls.retain(|c| !is_retrieval_call(c));
                            left = calls.len();
                            if left == 0 {
                                obj.remove("tool_calls");
                            }
                        }
                    }
                    if left == 0 {
                        if let Some(f) = last.pointer_mut("/choices/0/finish_reason") {
                            if f == "tool_calls" {
                                *f = Value::String("stop".into());
                            }
                        }
                    }
                }
            }
        }
        serde_json::to_vec(&last).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn anthropic_rounds_merge_into_one_answer_without_the_call() {
        let mut m = Merger::new(Api::Anthropic);
        m.absorb(&json!({"content":[{"type":"text","text":"Looking. "},{"type":"tool_use","id":"t","name":"headroom_retrieve","input":{}}]}));
        let out = m.finish(json!({"id":"msg_2","content":[{"type":"text","text":"It is 42."}],"stop_reason":"end_turn","usage":{"output_tokens":5}}));
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["content"].as_array().unwrap().len(), 2);
        assert_eq!(v["content"][1]["text"], "It is 42.");
        assert!(!String::from_utf8_lossy(&out).contains("headroom_retrieve"));
        // Rounds exhausted: the leftover call is dropped and the turn ends.
        let out = Merger::new(Api::Anthropic).finish(json!({"content":[{"type":"tool_use","id":"t","name":"headroom_retrieve","input":{}}],"stop_reason":"tool_use"}));
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["stop_reason"], "end_turn");
        assert_eq!(v["content"], json!([]));
    }

    #[test]
    fn mixed_turns_keep_client_calls_and_tool_use_stop() {
        let out = Merger::new(Api::Anthropic).finish(json!({"content":[
            {"type":"tool_use","id":"t1","name":"headroom_retrieve","input":{}},
            {"type":"tool_use","id":"t2","name":"Bash","input":{"command":"ls"}}],"stop_reason":"tool_use"}));
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["stop_reason"], "tool_use");
        assert_eq!(v["content"][0]["name"], "Bash");
        let out = Merger::new(Api::OpenAi).finish(json!({"choices":[{"message":{"role":"assistant","content":null,"tool_calls":[
            {"id":"c1","type":"function","function":{"name":"headroom_retrieve","arguments":"{}"}},
            {"id":"c2","type":"function","function":{"name":"ls","arguments":"{}"}}]},"finish_reason":"tool_calls"}]}));
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(
            v["choices"][0]["message"]["tool_calls"]
                .as_array()
                .unwrap()
                .len(),
            1
        );
        assert_eq!(v["choices"][0]["finish_reason"], "tool_calls");
    }

    #[test]
    fn openai_rounds_join_text_and_end_with_stop() {
        let mut m = Merger::new(Api::OpenAi);
        m.absorb(&json!({"choices":[{"message":{"content":"Checking. ","tool_calls":[]}}]}));
        let out = m.finish(json!({"choices":[{"message":{"role":"assistant","content":"Found it."},"finish_reason":"stop"}]}));
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["choices"][0]["message"]["content"], "Checking. Found it.");
        let out = Merger::new(Api::OpenAi).finish(json!({"choices":[{"message":{"content":null,"tool_calls":[
            {"id":"c1","function":{"name":"headroom_retrieve","arguments":"{}"}}]},"finish_reason":"tool_calls"}]}));
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert!(v["choices"][0]["message"].get("tool_calls").is_none());
        assert_eq!(v["choices"][0]["finish_reason"], "stop");
    }
}
