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
        let (first, last) = parse_lines(lines).ok_or_else(|| {
            format!("headroom_retrieve: `lines` must look like \"120-180\" (got {lines:?})")
        })?;
        Selector::Lines { first, last }
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

/// `"A-B"` (or a single `"A"`), 1-based inclusive, `A <= B`.
fn parse_lines(s: &str) -> Option<(usize, usize)> {
    let (a, b) = match s.split_once('-') {
        Some((a, b)) => (a.trim(), b.trim()),
        None => (s, s),
    };
    let (a, b) = (a.parse::<usize>().ok()?, b.parse::<usize>().ok()?);
    (a >= 1 && a <= b).then_some((a, b))
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
    let text = select(&original.content, &request.selector);
    ToolAnswer {
        bytes: text.len(),
        text,
        is_error: false,
        hit: true,
    }
}

/// Lines of context kept around each query match.
const QUERY_CONTEXT: usize = 2;

/// The part of `content` a selector names.
pub fn select(content: &str, selector: &Selector) -> String {
    match selector {
        Selector::Whole => content.to_string(),
        Selector::Lines { first, last } => {
            let lines: Vec<&str> = content.lines().collect();
            if *first > lines.len() {
                return format!(
                    "[the original has {} lines; lines {first}-{last} do not exist]",
                    lines.len()
                );
            }
            let end = (*last).min(lines.len());
            lines[first - 1..end].join("\n")
        }
        Selector::Query(q) => {
            let words: Vec<String> = q
                .split_whitespace()
                .map(|w| w.to_lowercase())
                .filter(|w| !w.is_empty())
                .collect();
            let lines: Vec<&str> = content.lines().collect();
            let mut keep = vec![false; lines.len()];
            for (i, l) in lines.iter().enumerate() {
                let low = l.to_lowercase();
                if words.iter().any(|w| low.contains(w.as_str())) {
                    let lo = i.saturating_sub(QUERY_CONTEXT);
                    let hi = (i + QUERY_CONTEXT).min(lines.len().saturating_sub(1));
                    keep[lo..=hi].iter_mut().for_each(|k| *k = true);
                }
            }
            if !keep.iter().any(|&k| k) {
                return format!("[no line of the original matches {q:?}]");
            }
            let mut out = String::new();
            let mut gap = false;
            for (i, l) in lines.iter().enumerate() {
                if keep[i] {
                    if gap && !out.is_empty() {
                        out.push_str("…\n");
                    }
                    gap = false;
                    out.push_str(l);
                    out.push('\n');
                } else {
                    gap = true;
                }
            }
            out.pop();
            out
        }
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
            ("two\nthree", false, 9)
        );
    }

    #[test]
    fn query_keeps_matching_lines_with_context_and_marks_gaps() {
        let content = (1..=20)
            .map(|i| format!("line {i}"))
            .collect::<Vec<_>>()
            .join("\n");
        let out = select(&content, &Selector::Query("LINE 10".into()));
        // "line" matches everything: the whole text comes back.
        assert_eq!(out, content);
        let out = select(&content, &Selector::Query("17 3".into()));
        assert!(out.starts_with("line 1\n"), "{out}");
        assert!(out.contains("…\nline 11"), "{out}");
        let out = select(&content, &Selector::Query("absent".into()));
        assert!(out.contains("no line"));
        let out = select(
            &content,
            &Selector::Lines {
                first: 30,
                last: 40,
            },
        );
        assert!(out.contains("20 lines"));
    }
}
