//! Answers one `headroom_retrieve` call: reads the model's input (`id`, optional `lines`,
//! optional `query`), and turns the store's answer into the text of the tool result.
//!
//! Must never: return content stored under another id, fail on any input the model may
//! produce (a bad input is an error result the model can read), or grow the result past the
//! original.

use headroom_store::{Original, Selector};

/// What the model asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub id: String,
    pub selector: Selector,
}

/// The tool result the proxy sends back upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolAnswer {
    pub text: String,
    pub is_error: bool,
    /// The store held the id.
    pub hit: bool,
    /// Bytes of original content returned (0 on a miss).
    pub bytes: usize,
}

/// Reads a call's input. `Err` carries the message the model gets back.
pub fn parse_input(input: &str) -> Result<Request, String> {
    let v: serde_json::Value = serde_json::from_str(input)
        .map_err(|_| "headroom_retrieve: the input is not a JSON object".to_string())?;
    let id = v
        .get("id")
        .and_then(|i| i.as_str())
        .map(str::trim)
        .filter(|i| !i.is_empty())
        .ok_or_else(|| "headroom_retrieve: `id` (the marker's id) is required".to_string())?;
    let text = |k: &str| {
        v.get(k)
            .and_then(|x| x.as_str())
            .map(str::trim)
            .filter(|s| !s.is_empty())
    };
    let selector = if let Some(lines) = text("lines") {
        Selector::parse_lines(lines).map_err(|e| format!("headroom_retrieve: {e}"))?
    } else if let Some(q) = text("query") {
        Selector::Query(q.to_string())
    } else {
        Selector::Whole
    };
    Ok(Request {
        id: id.to_string(),
        selector,
    })
}

/// The answer for a call whose input did not parse.
pub fn invalid(message: String) -> ToolAnswer {
    ToolAnswer {
        text: message,
        is_error: true,
        hit: false,
        bytes: 0,
    }
}

/// The answer for `request` given what the store returned for its id.
pub fn answer(request: &Request, found: Option<&Original>) -> ToolAnswer {
    let Some(original) = found.filter(|o| o.id == request.id) else {
        return ToolAnswer {
            text: format!(
                "headroom_retrieve: nothing is stored under id {:?} (unknown or expired); \
                 answer from what the tool result shows, or run the tool again",
                request.id
            ),
            is_error: true,
            hit: false,
            bytes: 0,
        };
    };
    let picked = headroom_store::select(&original.content, &request.selector);
    let text = match &request.selector {
        Selector::Whole => picked.content,
        _ if picked.lines == 0 => format!(
            "[headroom: nothing of the original (id {}, {} lines) matches that selection]",
            original.id, picked.total_lines
        ),
        _ => picked.content,
    };
    ToolAnswer {
        bytes: text.len(),
        text,
        is_error: false,
        hit: true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn original(id: &str, content: &str) -> Original {
        Original {
            id: id.into(),
            content: Arc::from(content),
            compressor: "log".into(),
        }
    }

    #[test]
    fn reads_id_lines_and_query_from_the_input() {
        let r = parse_input(r#"{"id":"abc","lines":"3-5"}"#).unwrap();
        assert_eq!(r.selector, Selector::Lines { first: 3, last: 5 });
        let r = parse_input(r#"{"id":"abc","query":"timeout"}"#).unwrap();
        assert_eq!(r.selector, Selector::Query("timeout".into()));
        assert_eq!(
            parse_input(r#"{"id":"abc"}"#).unwrap().selector,
            Selector::Whole
        );
        for bad in [
            r#"{}"#,
            r#"{"id":""}"#,
            "nope",
            r#"{"id":"a","lines":"9-2"}"#,
        ] {
            assert!(parse_input(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_miss_is_an_error_result_and_a_hit_carries_the_selection() {
        let r = parse_input(r#"{"id":"abc","lines":"2-3"}"#).unwrap();
        let miss = answer(&r, None);
        assert!(miss.is_error && !miss.hit && miss.text.contains("abc"));
        // A store answer under another id is never served.
        assert!(answer(&r, Some(&original("zzz", "a\nb"))).is_error);
        let hit = answer(&r, Some(&original("abc", "one\ntwo\nthree\nfour")));
        assert_eq!(
            (hit.text.as_str(), hit.is_error, hit.bytes),
            ("two\nthree\n", false, 10)
        );
    }

    #[test]
    fn an_empty_selection_says_so() {
        let r = parse_input(r#"{"id":"abc","query":"absent"}"#).unwrap();
        let a = answer(&r, Some(&original("abc", "one\ntwo\n")));
        assert!(!a.is_error && a.text.contains("2 lines"), "{}", a.text);
    }
}
