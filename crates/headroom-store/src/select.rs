//! Slicing an original for a caller: a line range (`lines=A-B`, in the numbers the markers
//! state) or the lines matching some words with a little context (`query=WORDS`).
//!
//! Must never: return more than [`MAX_QUERY_BYTES`] for a query (a model asked for a slice, not
//! the whole original), or alter the lines it returns.

use super::Selector;

/// Lines of context kept before and after each line a query matches.
pub const QUERY_CONTEXT: usize = 2;
/// A query's answer stops growing past this many bytes (about 4 k tokens).
pub const MAX_QUERY_BYTES: usize = 16 * 1024;

/// The part of an original a [`Selector`] picked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selected {
    pub content: String,
    /// Lines of the original that were returned.
    pub lines: usize,
    /// Lines the original has.
    pub total_lines: usize,
    /// Lines a query matched (including those past the byte bound), 0 for other selectors.
    pub matches: usize,
    /// Whether a query's answer was cut at [`MAX_QUERY_BYTES`].
    pub truncated: bool,
}

/// Picks the part of `content` that `selector` names. Line numbers are 1-based and inclusive;
/// in content made of Claude Code `Read` lines (`N<TAB>text`) they are the file's own line
/// numbers (the ones the markers state), elsewhere positions in the text. A range past the end
/// is clamped (and may select nothing).
pub fn select(content: &str, selector: &Selector) -> Selected {
    let lines: Vec<&str> = content.split_inclusive('\n').collect();
    let total_lines = lines.len();
    match selector {
        Selector::Whole => Selected {
            content: content.to_string(),
            lines: total_lines,
            total_lines,
            matches: 0,
            truncated: false,
        },
        Selector::Lines { first, last } => {
            let numbered = is_read_format(&lines);
            let picked: Vec<&str> = lines
                .iter()
                .enumerate()
                .filter(|(i, line)| {
                    let n = if numbered {
                        read_number(line)
                    } else {
                        Some(i + 1)
                    };
                    n.is_some_and(|n| (*first..=*last).contains(&n))
                })
                .map(|(_, l)| *l)
                .collect();
            Selected {
                content: picked.concat(),
                lines: picked.len(),
                total_lines,
                matches: 0,
                truncated: false,
            }
        }
        Selector::Query(words) => query(&lines, words),
    }
}

/// The number of a `Read` line (`123<TAB>…`).
fn read_number(line: &str) -> Option<usize> {
    let (n, _) = line.split_once('\t')?;
    if n.is_empty() || n.len() > 9 || !n.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    n.parse().ok()
}

/// Claude Code's `Read` format: most lines (a `<system-reminder>` may precede them) start
/// with their number and a tab.
fn is_read_format(lines: &[&str]) -> bool {
    let numbered = lines.iter().filter(|l| read_number(l).is_some()).count();
    numbered > 0 && numbered * 2 >= lines.len()
}

fn query(lines: &[&str], words: &str) -> Selected {
    let needles: Vec<String> = words
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect();
    let hit: Vec<bool> = lines
        .iter()
        .map(|l| {
            let lower = l.to_lowercase();
            needles.iter().any(|n| lower.contains(n.as_str()))
        })
        .collect();
    let matches = hit.iter().filter(|h| **h).count();
    let mut keep = vec![false; lines.len()];
    for (i, _) in hit.iter().enumerate().filter(|(_, h)| **h) {
        let from = i.saturating_sub(QUERY_CONTEXT);
        let to = (i + QUERY_CONTEXT).min(lines.len() - 1);
        keep[from..=to].iter_mut().for_each(|k| *k = true);
    }
    let mut out = String::new();
    let mut returned = 0;
    let mut truncated = false;
    let mut previous: Option<usize> = None;
    for (i, line) in lines.iter().enumerate().filter(|(i, _)| keep[*i]) {
        let gap = previous.is_some_and(|p| p + 1 != i);
        let extra = line.len() + if gap { 3 } else { 0 };
        if out.len() + extra > MAX_QUERY_BYTES {
            truncated = true;
            break;
        }
        if gap {
            out.push_str("--\n");
        }
        out.push_str(line);
        if !line.ends_with('\n') {
            out.push('\n');
        }
        returned += 1;
        previous = Some(i);
    }
    Selected {
        content: out,
        lines: returned,
        total_lines: lines.len(),
        matches,
        truncated,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(first: usize, last: usize) -> Selector {
        Selector::Lines { first, last }
    }

    #[test]
    fn plain_text_ranges_are_positions() {
        let text = "a\nb\nc\nd\n";
        assert_eq!(select(text, &lines(2, 3)).content, "b\nc\n");
        assert_eq!(select(text, &lines(4, 9)).content, "d\n");
        assert_eq!(select(text, &lines(7, 9)).content, "");
        assert_eq!(select(text, &Selector::Whole).content, text);
    }

    #[test]
    fn read_format_ranges_are_the_files_line_numbers() {
        let text = "<system-reminder>partial view</system-reminder>\n\
                    210\tfn a() {\n211\t    1\n212\t}\n213\t\n214\tfn b() {}\n";
        let got = select(text, &lines(211, 212));
        assert_eq!(got.content, "211\t    1\n212\t}\n");
        assert_eq!(got.lines, 2);
        assert_eq!(got.total_lines, 6);
    }

    #[test]
    fn queries_return_matching_lines_with_context_and_gaps() {
        let text: String = (1..=20).map(|i| format!("line {i}\n")).collect();
        let text = text.replace("line 5\n", "ERROR disk full\n");
        let text = text.replace("line 15\n", "error again\n");
        let got = select(&text, &Selector::Query("Error".into()));
        assert_eq!(got.matches, 2);
        assert_eq!(
            got.content,
            "line 3\nline 4\nERROR disk full\nline 6\nline 7\n--\n\
             line 13\nline 14\nerror again\nline 16\nline 17\n"
        );
        assert!(!got.truncated);
        assert_eq!(select(&text, &Selector::Query("absent".into())).content, "");
    }

    #[test]
    fn queries_are_bounded() {
        let text: String = (0..20_000).map(|i| format!("match {i}\n")).collect();
        let got = select(&text, &Selector::Query("match".into()));
        assert!(got.truncated);
        assert!(got.content.len() <= MAX_QUERY_BYTES);
        assert_eq!(got.matches, 20_000);
    }
}
