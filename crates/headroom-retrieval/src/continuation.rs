//! The continuation request: the request that was sent, with the model's turn and the answers
//! to its retrieval calls appended to `messages`, by a byte splice.
//!
//! Every byte of the previous request stays where it was (only the end of `messages` grows),
//! so the provider's prompt cache covers the whole earlier prefix.
//!
//! Must never: re-serialise or reorder what was already there.

use crate::answer::ToolAnswer;
use crate::Api;
use headroom_compress::jsontree::{self, Node};
use serde_json::{json, Value};

/// One answered call.
#[derive(Debug, Clone)]
pub struct Served {
    pub call_id: String,
    pub answer: ToolAnswer,
}

/// The messages to append after the model's turn (`assistant` is that turn's message JSON).
fn appended(api: Api, assistant: &Value, served: &[Served]) -> String {
    let mut out = assistant.to_string();
    match api {
        Api::Anthropic => {
            let results: Vec<Value> = served
                .iter()
                .map(|s| {
                    let mut r = json!({
                        "type": "tool_result",
                        "tool_use_id": s.call_id,
                        "content": s.answer.text,
                    });
                    if s.answer.is_error {
                        r["is_error"] = Value::Bool(true);
                    }
                    r
                })
                .collect();
            out.push(',');
            out.push_str(&json!({"role": "user", "content": results}).to_string());
        }
        Api::OpenAi => {
            for s in served {
                out.push(',');
                out.push_str(
                    &json!({"role": "tool", "tool_call_id": s.call_id, "content": s.answer.text})
                        .to_string(),
                );
            }
        }
    }
    out
}

/// `body` with the model's turn and the tool results appended to `messages`. `None` when the
/// body has no `messages` array (the exchange then ends with what the model said).
pub fn extend(body: &[u8], api: Api, assistant: &Value, served: &[Served]) -> Option<Vec<u8>> {
    let src = std::str::from_utf8(body).ok()?;
    let root = jsontree::parse(src).ok()?;
    let Some(Node::Array { span, items }) = root.get(src, "messages") else {
        return None;
    };
    let close = span.end - 1;
    let add = appended(api, assistant, served);
    let mut out = Vec::with_capacity(body.len() + add.len() + 1);
    out.extend_from_slice(&body[..close]);
    if !items.is_empty() {
        out.push(b',');
    }
    out.extend_from_slice(add.as_bytes());
    out.extend_from_slice(&body[close..]);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn served(id: &str, text: &str, is_error: bool) -> Served {
        Served {
            call_id: id.into(),
            answer: ToolAnswer {
                text: text.into(),
                is_error,
                hit: !is_error,
                bytes: text.len(),
            },
        }
    }

    #[test]
    fn anthropic_continuation_keeps_the_prefix_and_adds_turn_and_results() {
        let body = br#"{"model":"m","messages":[{"role":"user","content":"hi"}] ,"stream":true}"#;
        let turn = json!({"role":"assistant","content":[{"type":"tool_use","id":"toolu_1","name":"headroom_retrieve","input":{"id":"abc"}}]});
        let out = extend(
            body,
            Api::Anthropic,
            &turn,
            &[
                served("toolu_1", "the original", false),
                served("toolu_2", "gone", true),
            ],
        )
        .unwrap();
        let close = body.iter().position(|&b| b == b']').unwrap();
        assert_eq!(&out[..close], &body[..close]);
        assert!(out.ends_with(br#"] ,"stream":true}"#));
        let v: Value = serde_json::from_slice(&out).unwrap();
        let m = v["messages"].as_array().unwrap();
        assert_eq!(m.len(), 3);
        assert_eq!(m[1], turn);
        assert_eq!(m[2]["content"][0]["tool_use_id"], "toolu_1");
        assert!(m[2]["content"][0].get("is_error").is_none());
        assert_eq!(m[2]["content"][1]["is_error"], true);
    }

    #[test]
    fn openai_continuation_adds_one_tool_message_per_call() {
        let body = br#"{"messages":[{"role":"user","content":"hi"}]}"#;
        let turn = json!({"role":"assistant","content":null,"tool_calls":[]});
        let out = extend(
            body,
            Api::OpenAi,
            &turn,
            &[served("call_1", "x", false), served("call_2", "y", false)],
        )
        .unwrap();
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["messages"][2]["role"], "tool");
        assert_eq!(v["messages"][3]["tool_call_id"], "call_2");
        assert!(extend(br#"{"prompt":"x"}"#, Api::OpenAi, &turn, &[]).is_none());
    }
}
