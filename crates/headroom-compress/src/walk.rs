//! The request walker: finds the string values in an Anthropic Messages or OpenAI chat body
//! that may be compressed — user text and tool results — together with the task text each one
//! answers and the tool that produced it.
//!
//! Must never: yield anything from `system`, `tools`, assistant turns, `tool_use` inputs,
//! images/documents, block types it does not know, or results of protected tools.

use super::jsontree::{decode_str, Node};
use super::ApiFormat;
use std::collections::HashMap;
use std::ops::Range;

/// Task text longer than this is cut (its start carries the intent).
const MAX_TASK_BYTES: usize = 2000;

#[derive(Debug, Clone)]
pub struct Candidate {
    /// Span of the JSON string value (quotes included) in the body.
    pub span: Range<usize>,
    /// Where it is, for summaries: `messages[3].content[0]`.
    pub location: String,
    /// `tool_result` or `text`.
    pub role: &'static str,
    /// Index into [`Walk::tasks`].
    pub task: usize,
}

#[derive(Debug, Default)]
pub struct Walk {
    pub candidates: Vec<Candidate>,
    /// Distinct task texts, referenced by index.
    pub tasks: Vec<String>,
}

pub fn walk(src: &str, root: &Node, format: ApiFormat, protect: &[String]) -> Walk {
    let mut w = Walk {
        candidates: Vec::new(),
        tasks: vec![String::new()],
    };
    let Some(Node::Array {
        items: messages, ..
    }) = root.get(src, "messages")
    else {
        return w;
    };
    // tool call id → tool name, from assistant turns.
    let mut tool_names: HashMap<String, String> = HashMap::new();
    let mut task = 0usize;
    for (mi, msg) in messages.iter().enumerate() {
        let role = msg.get_str(src, "role");
        match (format, role.as_deref()) {
            (_, Some("assistant")) => collect_tool_names(src, msg, format, &mut tool_names),
            (ApiFormat::Anthropic, Some("user")) => {
                task = anthropic_user(src, msg, mi, task, &tool_names, protect, &mut w);
            }
            (ApiFormat::OpenAi, Some("user")) => {
                task = openai_content(src, msg, mi, task, "text", &mut w, true);
            }
            (ApiFormat::OpenAi, Some("tool")) => {
                let name = msg
                    .get_str(src, "name")
                    .map(|s| s.into_owned())
                    .or_else(|| {
                        let id = msg.get_str(src, "tool_call_id")?;
                        tool_names.get(id.as_ref()).cloned()
                    });
                if !name.is_some_and(|n| protect.contains(&n)) {
                    openai_content(src, msg, mi, task, "tool_result", &mut w, false);
                }
            }
            _ => {}
        }
    }
    w
}

fn collect_tool_names(
    src: &str,
    msg: &Node,
    format: ApiFormat,
    names: &mut HashMap<String, String>,
) {
    match format {
        ApiFormat::Anthropic => {
            if let Some(Node::Array { items, .. }) = msg.get(src, "content") {
                for block in items {
                    if block.get_str(src, "type").as_deref() == Some("tool_use") {
                        if let (Some(id), Some(name)) =
                            (block.get_str(src, "id"), block.get_str(src, "name"))
                        {
                            names.insert(id.into_owned(), name.into_owned());
                        }
                    }
                }
            }
        }
        ApiFormat::OpenAi => {
            if let Some(Node::Array { items, .. }) = msg.get(src, "tool_calls") {
                for call in items {
                    let name = call
                        .get(src, "function")
                        .and_then(|f| f.get_str(src, "name"));
                    if let (Some(id), Some(name)) = (call.get_str(src, "id"), name) {
                        names.insert(id.into_owned(), name.into_owned());
                    }
                }
            }
        }
    }
}

fn add_task(w: &mut Walk, text: String) -> usize {
    let mut text = text;
    if text.len() > MAX_TASK_BYTES {
        let cut = text.floor_char_boundary(MAX_TASK_BYTES);
        text.truncate(cut);
    }
    w.tasks.push(text);
    w.tasks.len() - 1
}

/// Handles one Anthropic user message; returns the task index for later messages.
fn anthropic_user(
    src: &str,
    msg: &Node,
    mi: usize,
    task: usize,
    tool_names: &HashMap<String, String>,
    protect: &[String],
    w: &mut Walk,
) -> usize {
    match msg.get(src, "content") {
        Some(Node::Str { span }) => {
            w.candidates.push(Candidate {
                span: span.clone(),
                location: format!("messages[{mi}].content"),
                role: "text",
                task,
            });
            add_task(w, decode_str(src, span).into_owned())
        }
        Some(Node::Array { items, .. }) => {
            // Text seen so far in this message becomes the task for later blocks in it.
            let mut own_text = String::new();
            let mut current = task;
            for (bi, block) in items.iter().enumerate() {
                match block.get_str(src, "type").as_deref() {
                    Some("text") => {
                        if let Some(Node::Str { span }) = block.get(src, "text") {
                            w.candidates.push(Candidate {
                                span: span.clone(),
                                location: format!("messages[{mi}].content[{bi}]"),
                                role: "text",
                                task: current,
                            });
                            if own_text.len() < MAX_TASK_BYTES {
                                if !own_text.is_empty() {
                                    own_text.push('\n');
                                }
                                own_text.push_str(&decode_str(src, span));
                                current = add_task(w, own_text.clone());
                            }
                        }
                    }
                    Some("tool_result") => {
                        let name = block
                            .get_str(src, "tool_use_id")
                            .and_then(|id| tool_names.get(id.as_ref()));
                        if name.is_some_and(|n| protect.contains(n)) {
                            continue;
                        }
                        match block.get(src, "content") {
                            Some(Node::Str { span }) => w.candidates.push(Candidate {
                                span: span.clone(),
                                location: format!("messages[{mi}].content[{bi}].content"),
                                role: "tool_result",
                                task: current,
                            }),
                            Some(Node::Array { items: parts, .. }) => {
                                for (pi, part) in parts.iter().enumerate() {
                                    if part.get_str(src, "type").as_deref() != Some("text") {
                                        continue;
                                    }
                                    if let Some(Node::Str { span }) = part.get(src, "text") {
                                        w.candidates.push(Candidate {
                                            span: span.clone(),
                                            location: format!(
                                                "messages[{mi}].content[{bi}].content[{pi}]"
                                            ),
                                            role: "tool_result",
                                            task: current,
                                        });
                                    }
                                }
                            }
                            _ => {}
                        }
                    }
                    _ => {}
                }
            }
            if own_text.is_empty() {
                task
            } else {
                current
            }
        }
        _ => task,
    }
}

/// Handles an OpenAI user or tool message; returns the task index for later messages.
fn openai_content(
    src: &str,
    msg: &Node,
    mi: usize,
    task: usize,
    role: &'static str,
    w: &mut Walk,
    is_user: bool,
) -> usize {
    let mut texts: Vec<(Range<usize>, String)> = Vec::new();
    match msg.get(src, "content") {
        Some(Node::Str { span }) => texts.push((span.clone(), format!("messages[{mi}].content"))),
        Some(Node::Array { items, .. }) => {
            for (pi, part) in items.iter().enumerate() {
                if part.get_str(src, "type").as_deref() == Some("text") {
                    if let Some(Node::Str { span }) = part.get(src, "text") {
                        texts.push((span.clone(), format!("messages[{mi}].content[{pi}]")));
                    }
                }
            }
        }
        _ => {}
    }
    let mut own = String::new();
    let mut current = task;
    for (span, location) in texts {
        w.candidates.push(Candidate {
            span: span.clone(),
            location,
            role,
            task: current,
        });
        if is_user && own.len() < MAX_TASK_BYTES {
            if !own.is_empty() {
                own.push('\n');
            }
            own.push_str(&decode_str(src, &span));
            current = add_task(w, own.clone());
        }
    }
    current
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jsontree::parse;

    fn run(body: &str, format: ApiFormat, protect: &[String]) -> (Vec<(String, String)>, Walk) {
        let root = parse(body).unwrap();
        let w = walk(body, &root, format, protect);
        let found = w
            .candidates
            .iter()
            .map(|c| {
                (
                    decode_str(body, &c.span).into_owned(),
                    w.tasks[c.task].clone(),
                )
            })
            .collect();
        (found, w)
    }

    #[test]
    fn a_tool_result_answers_the_user_text_before_it_not_the_newest() {
        let body = r#"{"system":"sys","messages":[
            {"role":"user","content":"first question"},
            {"role":"assistant","content":[{"type":"tool_use","id":"a","name":"Bash","input":{"x":"in"}}]},
            {"role":"user","content":[{"type":"tool_result","tool_use_id":"a","content":"result A"}]},
            {"role":"assistant","content":[{"type":"thinking","thinking":"t"},{"type":"tool_use","id":"b","name":"Read","input":{}}]},
            {"role":"user","content":[{"type":"tool_result","tool_use_id":"b","content":[{"type":"text","text":"result B"},{"type":"image","source":{}}]},{"type":"text","text":"second question"}]},
            {"role":"user","content":[{"type":"server_tool_use","id":"c"},{"type":"text","text":"third"}]}
        ]}"#;
        let (found, _) = run(body, ApiFormat::Anthropic, &[]);
        let expect = [
            ("first question", ""),
            ("result A", "first question"),
            ("result B", "first question"),
            ("second question", "first question"),
            ("third", "second question"),
        ];
        let got: Vec<(&str, &str)> = found
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect();
        assert_eq!(got, expect);
    }

    #[test]
    fn protected_tools_are_skipped_in_both_formats() {
        let anthropic = r#"{"messages":[
            {"role":"assistant","content":[{"type":"tool_use","id":"a","name":"Secret","input":{}}]},
            {"role":"user","content":[{"type":"tool_result","tool_use_id":"a","content":"hidden"}]}]}"#;
        let protect = vec!["Secret".to_string()];
        assert!(run(anthropic, ApiFormat::Anthropic, &protect).0.is_empty());
        let openai = r#"{"messages":[
            {"role":"system","content":"sys"},
            {"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"Secret","arguments":"{}"}}]},
            {"role":"tool","tool_call_id":"c1","content":"hidden"},
            {"role":"tool","tool_call_id":"c2","content":"shown"}]}"#;
        let (found, _) = run(openai, ApiFormat::OpenAi, &protect);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].0, "shown");
    }
}
