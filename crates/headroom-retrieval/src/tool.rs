//! The `headroom_retrieve` tool definition and its injection into a request body.
//!
//! The definition is a constant: the same bytes on every request, so the prompt-cache prefix
//! that covers the tools stays stable from the first turn on. It is appended as the last
//! element of a non-empty `tools` array by splicing the original bytes.
//!
//! Must never: re-serialise the body, inject into a request without tools (that would change
//! how the model behaves in a conversation that uses none), or inject when the client already
//! defines a tool of that name.

use crate::{Api, TOOL_NAME};
use headroom_compress::jsontree::{self, Node};

/// What the model reads about the tool (kept short; it is sent with every request).
pub const DESCRIPTION: &str = "Fetch text that headroom omitted from a tool result. Tool results \
in this conversation may contain markers such as `[… 2,994 similar lines omitted · id 3fa9c1d2e4b7 …]`. \
A result's first marker states its id; later markers in the same result say `same id`. \
When the part that was left out could matter for your answer (an error, a value, a line you were \
asked about), call this tool with that id instead of guessing. Optional `lines` (\"A-B\", \
1-based, inclusive, as the marker states them) or `query` (words to search for) return only part \
of the original; without them you get the whole original.";

/// The input schema, shared by both APIs.
const SCHEMA: &str = concat!(
    r#"{"type":"object","properties":{"#,
    r#""id":{"type":"string","description":"The id from an omission marker: 12 hex characters"},"#,
    r#""lines":{"type":"string","description":"Optional 1-based inclusive line range A-B of the original"},"#,
    r#""query":{"type":"string","description":"Optional words; returns the matching lines with a little context"}"#,
    r#"},"required":["id"]}"#
);

/// The definition's exact JSON for `api`.
pub fn definition(api: Api) -> String {
    let description = jsontree::encode_str(DESCRIPTION);
    match api {
        Api::Anthropic => format!(
            r#"{{"name":"{TOOL_NAME}","description":{description},"input_schema":{SCHEMA}}}"#
        ),
        Api::OpenAi => format!(
            r#"{{"type":"function","function":{{"name":"{TOOL_NAME}","description":{description},"parameters":{SCHEMA}}}}}"#
        ),
    }
}

/// The result of trying to inject the tool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Injection {
    /// The body with the tool appended to `tools`.
    Injected(Vec<u8>),
    /// The body has no non-empty `tools` array (or is not a JSON object): left alone.
    NoTools,
    /// The client defines a tool named `headroom_retrieve` itself: left alone, and its calls
    /// are the client's.
    ClientOwnsTool,
}

/// Appends the tool to a request body's non-empty `tools` array, by a byte splice.
pub fn inject(body: &[u8], api: Api) -> Injection {
    let Ok(src) = std::str::from_utf8(body) else {
        return Injection::NoTools;
    };
    let Ok(root) = jsontree::parse(src) else {
        return Injection::NoTools;
    };
    let Some(Node::Array { span, items }) = root.get(src, "tools") else {
        return Injection::NoTools;
    };
    if items.is_empty() {
        return Injection::NoTools;
    }
    if items
        .iter()
        .any(|t| tool_name(src, t, api).as_deref() == Some(TOOL_NAME))
    {
        return Injection::ClientOwnsTool;
    }
    // The array's last byte is its `]`.
    let close = span.end - 1;
    let def = definition(api);
    let mut out = Vec::with_capacity(body.len() + def.len() + 1);
    out.extend_from_slice(&body[..close]);
    out.push(b',');
    out.extend_from_slice(def.as_bytes());
    out.extend_from_slice(&body[close..]);
    Injection::Injected(out)
}

/// The name a tool definition gives (`name`, or `function.name` in OpenAI's shape).
fn tool_name(src: &str, tool: &Node, api: Api) -> Option<String> {
    let direct = tool.get_str(src, "name").map(|s| s.into_owned());
    match api {
        Api::Anthropic => direct,
        Api::OpenAi => tool
            .get(src, "function")
            .and_then(|f| f.get_str(src, "name"))
            .map(|s| s.into_owned())
            .or(direct),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    #[test]
    fn definitions_are_valid_json_naming_the_tool() {
        let a: Value = serde_json::from_str(&definition(Api::Anthropic)).unwrap();
        assert_eq!(a["name"], TOOL_NAME);
        assert_eq!(a["input_schema"]["required"][0], "id");
        let o: Value = serde_json::from_str(&definition(Api::OpenAi)).unwrap();
        assert_eq!(o["function"]["name"], TOOL_NAME);
        assert_eq!(
            o["function"]["parameters"]["properties"]["lines"]["type"],
            "string"
        );
    }

    #[test]
    fn appends_the_same_bytes_as_the_last_tool_and_keeps_the_rest() {
        let body =
            br#"{"model":"m", "tools" : [ {"name":"Bash","input_schema":{}} ],"messages":[]}"#;
        let Injection::Injected(out) = inject(body, Api::Anthropic) else {
            panic!("not injected")
        };
        let def = definition(Api::Anthropic);
        let at = body.iter().rposition(|&b| b == b']').unwrap();
        // Everything but the splice is the client's bytes.
        let first_close = body.windows(2).position(|w| w == b" ]").unwrap() + 1;
        assert!(at > first_close);
        assert_eq!(&out[..first_close], &body[..first_close]);
        assert_eq!(&out[first_close + 1 + def.len()..], &body[first_close..]);
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["tools"][1]["name"], TOOL_NAME);
        assert_eq!(v["tools"].as_array().unwrap().len(), 2);
        // Deterministic: a second request gets byte-identical tool JSON.
        assert_eq!(inject(body, Api::Anthropic), Injection::Injected(out));
    }

    #[test]
    fn leaves_requests_without_tools_or_with_their_own_tool_alone() {
        for body in [
            &br#"{"messages":[]}"#[..],
            br#"{"tools":[],"messages":[]}"#,
            br#"{"tools":null}"#,
            br#"[1,2]"#,
            b"not json",
        ] {
            assert_eq!(inject(body, Api::Anthropic), Injection::NoTools);
        }
        let own = br#"{"tools":[{"name":"headroom_retrieve","input_schema":{}}]}"#;
        assert_eq!(inject(own, Api::Anthropic), Injection::ClientOwnsTool);
        let own = br#"{"tools":[{"type":"function","function":{"name":"headroom_retrieve"}}]}"#;
        assert_eq!(inject(own, Api::OpenAi), Injection::ClientOwnsTool);
    }

    #[test]
    fn openai_tools_get_the_function_shape() {
        let body = br#"{"model":"gpt","messages":[],"tools":[{"type":"function","function":{"name":"ls","parameters":{}}}]}"#;
        let Injection::Injected(out) = inject(body, Api::OpenAi) else {
            panic!()
        };
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["tools"][1]["type"], "function");
        assert_eq!(v["tools"][1]["function"]["name"], TOOL_NAME);
    }
}
