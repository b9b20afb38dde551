//! Reads the model's turn out of a complete (non-streaming) JSON answer: which calls are
//! `headroom_retrieve`, whether the client's own tools were called too, and the turn as the
//! assistant message a continuation appends.
//!
//! Must never: treat a call of another tool as a retrieval, or fail on an answer it cannot
//! read (`None`: the answer goes to the client as it is).

use crate::{Api, Call, TOOL_NAME};
use serde_json::{json, Value};

/// One model turn, as far as retrieval cares.
#[derive(Debug, Clone, PartialEq)]
pub struct Turn {
    pub retrievals: Vec<Call>,
    /// Calls of the client's own tools in the same turn.
    pub client_calls: usize,
    /// The whole turn as an assistant message (for the continuation request).
    pub assistant: Value,
}

impl Turn {
    /// The proxy answers this turn itself (it called only `headroom_retrieve`).
    pub fn served_by_proxy(&self) -> bool {
        !self.retrievals.is_empty() && self.client_calls == 0
    }
}

/// The turn in a JSON answer, or `None` when it is not a successful answer of that API.
pub fn read_json(api: Api, answer: &Value) -> Option<Turn> {
    match api {
        Api::Anthropic => {
            let content = answer.get("content")?.as_array()?;
            Some(from_anthropic_blocks(content))
        }
        Api::OpenAi => {
            let message = answer.get("choices")?.get(0)?.get("message")?;
            let calls = message
                .get("tool_calls")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            Some(from_openai_message(
                message.get("content").cloned().unwrap_or(Value::Null),
                &calls,
            ))
        }
    }
}

/// An Anthropic turn from its content blocks.
pub fn from_anthropic_blocks(content: &[Value]) -> Turn {
    let mut t = Turn {
        retrievals: Vec::new(),
        client_calls: 0,
        assistant: json!({"role": "assistant", "content": content}),
    };
    for b in content {
        if b.get("type").and_then(Value::as_str) != Some("tool_use") {
            continue;
        }
        if is_retrieval_block(b) {
            t.retrievals.push(Call {
                call_id: b
                    .get("id")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
                input: b.get("input").map(Value::to_string).unwrap_or_default(),
            });
        } else {
            t.client_calls += 1;
        }
    }
    t
}

/// An OpenAI turn from its message content and tool calls.
pub fn from_openai_message(content: Value, calls: &[Value]) -> Turn {
    let mut t = Turn {
        retrievals: Vec::new(),
        client_calls: 0,
        assistant: json!({"role": "assistant", "content": content, "tool_calls": calls}),
    };
    for c in calls {
        if is_retrieval_call(c) {
            t.retrievals.push(Call {
                call_id: c
                    .get("id")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
                input: c
                    .pointer("/function/arguments")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
            });
        } else {
            t.client_calls += 1;
        }
    }
    t
}

/// An Anthropic content block that calls the retrieval tool.
pub fn is_retrieval_block(b: &Value) -> bool {
    b.get("type").and_then(Value::as_str) == Some("tool_use")
        && b.get("name").and_then(Value::as_str) == Some(TOOL_NAME)
}

/// An OpenAI tool call of the retrieval tool.
pub fn is_retrieval_call(c: &Value) -> bool {
    c.pointer("/function/name").and_then(Value::as_str) == Some(TOOL_NAME)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anthropic_turns_tell_retrievals_from_client_calls() {
        let answer = json!({"content":[
            {"type":"text","text":"let me look"},
            {"type":"tool_use","id":"toolu_1","name":"headroom_retrieve","input":{"id":"abc","lines":"1-2"}},
            {"type":"tool_use","id":"toolu_2","name":"Bash","input":{"command":"ls"}}
        ],"stop_reason":"tool_use"});
        let t = read_json(Api::Anthropic, &answer).unwrap();
        assert_eq!(t.retrievals.len(), 1);
        assert_eq!(t.retrievals[0].call_id, "toolu_1");
        let input: Value = serde_json::from_str(&t.retrievals[0].input).unwrap();
        assert_eq!(input["lines"], "1-2");
        assert_eq!(t.client_calls, 1);
        assert!(!t.served_by_proxy());
        assert_eq!(t.assistant["content"], answer["content"]);
        assert!(read_json(Api::Anthropic, &json!({"type":"error"})).is_none());
    }

    #[test]
    fn openai_turns_read_function_arguments() {
        let answer = json!({"choices":[{"index":0,"message":{"role":"assistant","content":null,"tool_calls":[
            {"id":"call_1","type":"function","function":{"name":"headroom_retrieve","arguments":"{\"id\":\"abc\"}"}}
        ]},"finish_reason":"tool_calls"}]});
        let t = read_json(Api::OpenAi, &answer).unwrap();
        assert!(t.served_by_proxy());
        assert_eq!(t.retrievals[0].input, r#"{"id":"abc"}"#);
        assert_eq!(t.assistant["tool_calls"][0]["id"], "call_1");
        let plain = json!({"choices":[{"message":{"role":"assistant","content":"hi"}}]});
        assert!(read_json(Api::OpenAi, &plain)
            .unwrap()
            .retrievals
            .is_empty());
    }
}
