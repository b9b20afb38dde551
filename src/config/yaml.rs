//! Reading YAML text into the typed config (serde-saphyr: panic-free, with source locations),
//! and finding the line of a dotted key so semantic problems found after parsing ("`listen`
//! must be host:port") can name their line too.
//!
//! Must never: panic on any input; echo more of the file than the offending key.

use super::{Config, ConfigError};

/// Parses `text`; errors read `origin line N: `key.path`: message`.
pub fn parse(text: &str, origin: &str) -> Result<Config, ConfigError> {
    serde_saphyr::from_str::<Config>(text).map_err(|e| {
        let line = e.location().map(|l| l.line() as usize).filter(|l| *l > 0);
        let message = first_message_line(&e.to_string());
        let path = line.and_then(|l| key_path_at(text, l));
        let location = line.map(|l| format!(" line {l}")).unwrap_or_default();
        let key = path.map(|p| format!(" `{p}`:")).unwrap_or_default();
        ConfigError {
            problems: vec![format!("{origin}{location}:{key} {message}")],
        }
    })
}

/// The first line of a saphyr error without its `error: line L column C: ` prefix.
fn first_message_line(display: &str) -> String {
    let first = display.lines().next().unwrap_or("").trim();
    let first = first.strip_prefix("error: ").unwrap_or(first);
    match first.strip_prefix("line ") {
        Some(rest) => match rest.split_once(": ") {
            Some((_, msg)) => msg.to_string(),
            None => first.to_string(),
        },
        None => first.to_string(),
    }
}

/// A block-style line's indentation and key (`  key: value` → (2, "key")).
fn key_of(line: &str) -> Option<(usize, &str)> {
    let indent = line.len() - line.trim_start_matches(' ').len();
    let rest = &line[indent..];
    if rest.starts_with('#') || rest.starts_with('-') {
        return None;
    }
    let (key, _) = rest.split_once(':')?;
    let key = key.trim().trim_matches(|c| c == '"' || c == '\'');
    (!key.is_empty() && !key.contains(' ')).then_some((indent, key))
}

/// The dotted path of the key on (or owning) 1-based `line`.
pub fn key_path_at(text: &str, line: usize) -> Option<String> {
    let lines: Vec<&str> = text.lines().collect();
    let idx = line.checked_sub(1)?;
    let here = *lines.get(idx)?;
    let (mut indent, key) = match key_of(here) {
        Some(k) => k,
        None => {
            // A sequence item or continuation: its owner is the nearest less-indented key.
            let i = here.len() - here.trim_start().len();
            let owner = lines[..idx]
                .iter()
                .rev()
                .filter_map(|l| key_of(l))
                .find(|(ind, _)| *ind < i || i == 0)?;
            owner
        }
    };
    let mut path = vec![key];
    for l in lines[..idx].iter().rev() {
        if indent == 0 {
            break;
        }
        if let Some((ind, k)) = key_of(l) {
            if ind < indent {
                path.push(k);
                indent = ind;
            }
        }
    }
    path.reverse();
    Some(path.join("."))
}

/// The 1-based line where dotted `path` is set in `text`, if it is.
pub fn line_of(text: &str, path: &str) -> Option<usize> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| key_of(l).is_some())
        .find(|(i, _)| key_path_at(text, i + 1).as_deref() == Some(path))
        .map(|(i, _)| i + 1)
}

/// Puts `origin line N:` before each problem that names a key set in `text` (problems name
/// their key first, in backticks).
pub fn locate_problems(problems: Vec<String>, text: &str, origin: &str) -> Vec<String> {
    problems
        .into_iter()
        .map(|p| {
            let key = p
                .strip_prefix('`')
                .and_then(|r| r.split_once('`'))
                .map(|(k, _)| k);
            match key.and_then(|k| line_of(text, k)) {
                Some(line) => format!("{origin} line {line}: {p}"),
                None => format!("{origin}: {p}"),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "# headroom\nlisten: 127.0.0.1:8787\nupstreams:\n  anthropic: https://a\n  openai: ftp://b\nmodel:\n  device: gpu\ncompression:\n  protect_tools:\n    - Read\n";

    #[test]
    fn finds_dotted_paths_and_lines() {
        assert_eq!(key_path_at(TEXT, 2).as_deref(), Some("listen"));
        assert_eq!(key_path_at(TEXT, 5).as_deref(), Some("upstreams.openai"));
        assert_eq!(key_path_at(TEXT, 7).as_deref(), Some("model.device"));
        assert_eq!(
            key_path_at(TEXT, 10).as_deref(),
            Some("compression.protect_tools")
        );
        assert_eq!(line_of(TEXT, "upstreams.openai"), Some(5));
        assert_eq!(line_of(TEXT, "limits.max_body_bytes"), None);
    }

    #[test]
    fn parse_errors_name_the_line_and_the_key() {
        let e = parse("model:\n  device: gpu\n", "c.yaml")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("c.yaml line 2: `model.device`: unknown variant `gpu`"),
            "{e}"
        );
        let e = parse("listen: x\nbogus: 1\n", "c.yaml")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("c.yaml line 2: `bogus`: unknown field `bogus`"),
            "{e}"
        );
        let e = parse("listen: [nope\n", "c.yaml").unwrap_err().to_string();
        assert!(e.starts_with("c.yaml line 1"), "{e}");
    }

    #[test]
    fn semantic_problems_get_the_line_of_their_key() {
        let got = locate_problems(
            vec![
                "`upstreams.openai`: \"ftp://b\" must start with https:// or http://".into(),
                "`threads` must be at least 1".into(),
            ],
            TEXT,
            "c.yaml",
        );
        assert!(
            got[0].starts_with("c.yaml line 5: `upstreams.openai`"),
            "{}",
            got[0]
        );
        assert!(got[1].starts_with("c.yaml: `threads`"), "{}", got[1]);
    }
}
