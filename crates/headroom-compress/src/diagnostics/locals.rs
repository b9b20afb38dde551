//! pytest's `-l` (`--showlocals`) blocks that only repeat what the frame already shows: under
//! `--tb=long` each frame opens with its arguments (`source = 'cash', target = 'bank'`), and the
//! locals block under the failing line lists them again, long values pretty-printed over
//! several lines. A local whose value is word for word the one in the frame's argument line
//! says nothing new.
//!
//!
//! Also the `_ _ _ …` line pytest draws between two frames of one failure (41 tokens each):
//! every frame already ends with its `path:line:` location, which stays.
//!
//! Must never: pick a local whose value differs from the argument's (the function may have
//! reassigned it), a local the argument line does not name (a variable the function made), or
//! any line outside a locals block.

/// `name      = value` → `("name", "value")`: a line of a locals block (or of a frame's argument
/// line, which pytest writes the same way).
fn local(line: &str) -> Option<(&str, &str)> {
    if line.starts_with(' ') {
        return None;
    }
    let (name, value) = line.split_once(" = ")?;
    let name = name.trim_end();
    let identifier = !name.is_empty()
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && !name.as_bytes()[0].is_ascii_digit();
    identifier.then_some((name, value))
}

/// `_ _ _ _ …` between the frames of one failure, or a failure's `____ test_x ____` title.
fn is_frame_start(line: &str) -> bool {
    let t = line.trim();
    t.len() >= 10 && (t.starts_with("_ _ ") || t.starts_with("__") && t.ends_with("__"))
}

/// The `_ _ _ …` separators between frames that follow a frame's `path:line:` location.
pub fn frame_separators(src: &[&str]) -> Vec<usize> {
    (1..src.len())
        .filter(|&i| src[i].trim().starts_with("_ _ ") && is_frame_start(src[i]))
        .filter(|&i| is_frame_location(src[i - 1]))
        .collect()
}

/// `tests/test_cart.py:26: ` or `cart.py:22: TypeError`: where a pytest frame ends.
pub fn is_frame_location(line: &str) -> bool {
    let Some((path, rest)) = line.split_once(':') else {
        return false;
    };
    let Some((number, tail)) = rest.split_once(':') else {
        return false;
    };
    let tail = tail.trim();
    !path.is_empty()
        && !path.contains(' ')
        && path.contains('.')
        && !number.is_empty()
        && number.bytes().all(|b| b.is_ascii_digit())
        && !tail.contains(' ')
        && tail
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.')
}

/// Lines of locals blocks whose entry repeats the frame's argument line exactly.
pub fn repeated_locals(src: &[&str]) -> Vec<usize> {
    let mut out = Vec::new();
    let mut args: Vec<&str> = Vec::new();
    let mut in_source = false;
    let mut i = 0;
    while i < src.len() {
        let l = src[i];
        if is_frame_start(l) {
            args.clear();
            in_source = false;
            i += 1;
            continue;
        }
        if l.starts_with("    ") || l.starts_with('>') || l.starts_with("E ") {
            in_source = true;
            i += 1;
            continue;
        }
        if !in_source {
            if local(l).is_some() {
                args.push(l);
            }
            i += 1;
            continue;
        }
        // After the frame's source: a locals block runs to the next blank line.
        if local(l).is_none() || args.is_empty() {
            i += 1;
            continue;
        }
        let start = i;
        let mut end = i;
        while end < src.len() && !src[end].trim().is_empty() {
            end += 1;
        }
        out.extend(
            repeated_entries(&src[start..end], &args)
                .into_iter()
                .map(|k| start + k),
        );
        i = end;
    }
    out
}

/// The lines (offsets into `block`) of the locals whose entry, with its indented continuation
/// lines, appears as `name = value` in one of the argument lines, ended by `, ` or the line's
/// end. A block with a line that is neither an entry nor a continuation is left whole.
fn repeated_entries(block: &[&str], args: &[&str]) -> Vec<usize> {
    // (name, value joined over its lines, its line offsets)
    let mut entries: Vec<(&str, String, Vec<usize>)> = Vec::new();
    for (k, l) in block.iter().enumerate() {
        if let Some((name, value)) = local(l) {
            entries.push((name, value.to_string(), vec![k]));
        } else if l.starts_with(' ') {
            let Some(last) = entries.last_mut() else {
                return Vec::new();
            };
            last.1.push(' ');
            last.1.push_str(l.trim());
            last.2.push(k);
        } else {
            return Vec::new();
        }
    }
    entries
        .into_iter()
        .filter(|(name, value, _)| {
            let pair = format!("{name} = {value}");
            args.iter().any(|a| {
                a.match_indices(pair.as_str()).any(|(at, _)| {
                    let before = &a[..at];
                    let after = &a[at + pair.len()..];
                    (before.is_empty() || before.ends_with(", "))
                        && (after.is_empty() || after.starts_with(", "))
                })
            })
        })
        .flat_map(|(_, _, lines)| lines)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locals_that_repeat_the_frames_arguments_are_picked() {
        // pytest 9.2 `-x --tb=long -l -vv` of a scratch project (the corpus case).
        let run = include_str!(
            "../../../../tests/fixtures/realworld/pytest_stop_first_long_tb/input.txt"
        );
        let src: Vec<&str> = run.split('\n').collect();
        let picked: Vec<&str> = repeated_locals(&src).iter().map(|&i| src[i]).collect();
        assert_eq!(picked.len(), 7, "{picked:?}");
        assert!(picked.contains(&"amount     = '12.00 EUR'"));
        assert!(
            picked.contains(&"                Entry(account='bank', amount=Decimal('250.50'))])")
        );
        // The argument lines, the failing line and its errors stay.
        assert!(!picked
            .iter()
            .any(|l| l.starts_with("source = ") || l.starts_with("E ")));
    }

    #[test]
    fn separators_after_a_frame_location_are_picked() {
        // pytest 9.2 `--tb=long -l` of a scratch project (the held-out corpus case).
        let run = include_str!("../../../../tests/fixtures/realworld/pytest_locals_cart/input.txt");
        let src: Vec<&str> = run.split('\n').collect();
        let picked = frame_separators(&src);
        assert_eq!(picked.len(), 4);
        assert!(picked.iter().all(|&i| is_frame_location(src[i - 1])));
        assert!(is_frame_location("tests/test_cart.py:26: "));
        assert!(is_frame_location("cart.py:22: TypeError"));
        assert!(!is_frame_location("E       TypeError: unsupported operand"));
        assert!(!is_frame_location(
            "platform linux -- Python 3.11.7, pytest-9.2.0"
        ));
    }

    #[test]
    fn a_local_changed_since_the_call_stays() {
        let src = [
            "_______ test_a _______",
            "",
            "amount = '12.00 EUR', rate = 2",
            "",
            "    def convert(amount, rate):",
            ">       amount = amount.split()[0]",
            "E       TypeError: boom",
            "",
            "amount     = '12.00'",
            "rate       = 2",
            "",
            "a.py:3: TypeError",
        ];
        assert_eq!(repeated_locals(&src), [9], "only `rate` is unchanged");
        let mut same = src;
        same[8] = "amount     = '12.00 EUR'";
        assert_eq!(repeated_locals(&same), [8, 9]);
        // `rate = 2` is not `rate = 20`.
        same[9] = "rate       = 20";
        assert_eq!(repeated_locals(&same), [8]);
    }
}
