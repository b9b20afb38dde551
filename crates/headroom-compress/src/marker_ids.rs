//! Retrieval handles in markers: one pass over a compressor's output that adds the block's
//! id to its first omission marker (`[… 2,994 similar lines omitted · id 3fa9c1d2e4b7 …]`) and
//! a short reference to every later one (`[… lines 212–388 omitted · same id …]`: the whole
//! block is one original, so repeating 12 hex characters on each marker would only cost
//! tokens), and, when the proxy serves no retrieval tool, one closing line saying how to fetch
//! the original.
//!
//! Must never: depend on anything but (output, original, config) — the id is the original's
//! content hash, so a block carries the same bytes on every turn — or touch text that was
//! already in the original (a marker-looking line the tool printed itself stays as it was).

use serde::{Deserialize, Serialize};

/// How markers name their originals. Set by the proxy from its `retrieval:` section (it is not
/// a key of `compression:`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MarkerIds {
    /// Add ` · id X` to a block's first marker (` · same id` to later ones) and hand the
    /// originals back in [`crate::Rewritten`].
    pub enabled: bool,
    /// `http://127.0.0.1:8787`: when set, each tagged block ends with a line saying how to
    /// fetch its original with curl (for clients that get no retrieval tool).
    pub fetch_base: Option<String>,
}

const OPEN: &str = "[… ";
const CLOSE: &str = " …]";

/// What a block's later markers carry in place of the id its first marker states.
pub const SAME_ID: &str = " · same id";

/// `output` with ` · id {id}` before the close of its first marker that is not verbatim in
/// `original` and [`SAME_ID`] before the close of every later one, plus the fetch line when
/// configured. `None` when no marker was tagged (nothing names the id, so there is nothing to
/// store).
pub fn tag(output: &str, original: &str, id: &str, config: &MarkerIds) -> Option<String> {
    let suffix = format!(" · id {id}");
    let original_has_markers = original.contains(OPEN);
    let mut out = String::with_capacity(output.len() + 64);
    let mut tagged = 0usize;
    let mut rest = output;
    while let Some(start) = rest.find(OPEN) {
        let after_open = start + OPEN.len();
        let line_end = rest[after_open..]
            .find('\n')
            .map_or(rest.len(), |i| after_open + i);
        let Some(close) = rest[after_open..line_end]
            .find(CLOSE)
            .map(|i| after_open + i)
        else {
            out.push_str(&rest[..after_open]);
            rest = &rest[after_open..];
            continue;
        };
        let marker = &rest[start..close + CLOSE.len()];
        out.push_str(&rest[..close]);
        if !(original_has_markers && original.contains(marker)) {
            out.push_str(if tagged == 0 { &suffix } else { SAME_ID });
            tagged += 1;
        }
        out.push_str(CLOSE);
        rest = &rest[close + CLOSE.len()..];
    }
    out.push_str(rest);
    if tagged == 0 {
        return None;
    }
    if let Some(base) = &config.fetch_base {
        if !out.ends_with('\n') {
            out.push('\n');
        }
        out.push_str(&format!(
            "[omitted parts of this output: curl -s {base}/v1/retrieve/{id} (add ?lines=A-B or ?query=WORDS for a part)]"
        ));
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn on() -> MarkerIds {
        MarkerIds {
            enabled: true,
            fetch_base: None,
        }
    }

    #[test]
    fn the_first_marker_states_the_id_and_later_ones_refer_to_it() {
        let out = "a\n[… 2,994 similar lines omitted …]\nb\n[… lines 212–388 omitted: bodies of fn a, fn b …]\nc\n[… 4 lines omitted …]\n";
        let got = tag(out, "original", "3fa9c1d2e4b7", &on()).unwrap();
        assert_eq!(
            got,
            "a\n[… 2,994 similar lines omitted · id 3fa9c1d2e4b7 …]\nb\n\
             [… lines 212–388 omitted: bodies of fn a, fn b · same id …]\nc\n\
             [… 4 lines omitted · same id …]\n"
        );
    }

    #[test]
    fn markers_inside_json_strings_are_tagged_and_stay_valid_json() {
        let out = r#"{"items":[1,2,"[… 40 more items omitted …]"],"s":"abc[… 900 more chars omitted …]"}"#;
        let got = tag(out, "{}", "0123456789ab", &on()).unwrap();
        let v: serde_json::Value = serde_json::from_str(&got).unwrap();
        assert_eq!(
            v["items"][2],
            "[… 40 more items omitted · id 0123456789ab …]"
        );
        assert_eq!(v["s"], "abc[… 900 more chars omitted · same id …]");
    }

    #[test]
    fn text_that_was_in_the_original_and_unclosed_brackets_are_left_alone() {
        let original = "x\n[… 3 lines omitted …]\ny\n";
        let out = "[… 3 lines omitted …]\n[… open only\n[… 7 lines omitted …]";
        let got = tag(out, original, "0123456789ab", &on()).unwrap();
        assert_eq!(
            got,
            "[… 3 lines omitted …]\n[… open only\n[… 7 lines omitted · id 0123456789ab …]"
        );
        assert_eq!(
            tag("no markers here", original, "0123456789ab", &on()),
            None
        );
    }

    #[test]
    fn the_fetch_line_names_the_proxy_and_the_id() {
        let config = MarkerIds {
            enabled: true,
            fetch_base: Some("http://127.0.0.1:8787".into()),
        };
        let got = tag("a\n[… 5 lines omitted …]", "o", "0123456789ab", &config).unwrap();
        assert!(got.ends_with(
            "\n[omitted parts of this output: curl -s http://127.0.0.1:8787/v1/retrieve/0123456789ab (add ?lines=A-B or ?query=WORDS for a part)]"
        ));
    }
}
