//! The line-selection primitive every line-oriented compressor is built on: a keep mask over
//! the lines of a block, and one emitter that turns each maximal run of dropped lines into one
//! marker line — or keeps the run verbatim when that is cheaper than its marker.
//!
//! A compressor is then three steps: **parse** the block into lines (and whatever it needs to
//! judge them), **select** by filling a [`KeepMask`] (`true` = the line survives), and
//! **render** with [`emit`], passing a closure that writes the marker for one dropped run
//! (it gets the run's line range, so it can count, name templates or cite line numbers).
//!
//! The cost rule, in one place ([`run_is_worth_a_marker`]): a dropped run is replaced by its
//! marker only when the run costs more than the marker *as the model will see it* — with the
//! retrieval id the pipeline appends later ([`ID_SUFFIX`]) — by more than [`MARKER_SLACK`], in
//! bytes and in estimated tokens alike; otherwise the run's lines are kept as they are. So a
//! marker never makes the output longer, ids on or off, and short gaps read as the original.
//!
//! Fewer, larger markers: two dropped runs separated only by a short stretch of filler (blank
//! lines, lone closing brackets, attribute lines, empty comment lines — see [`is_filler`])
//! become one marker when that merged marker is worth it, since the filler says nothing once
//! both its neighbours are gone.
//!
//! ```
//! use headroom_compress::runs::{emit, KeepMask};
//! let tick = "tick: 120 requests served, queue empty, 3 workers idle";
//! let lines = ["start", tick, tick, tick, tick, tick, "ERROR disk full"];
//! let mut keep = KeepMask::none(lines.len());
//! keep.set(0);
//! keep.set(6);
//! let out = emit(&lines, &keep, |run| format!("[… {} ticks omitted …]", run.len()));
//! assert_eq!(out.text, "start\n[… 5 ticks omitted …]\nERROR disk full");
//! assert_eq!(out.markers, 1);
//! ```
//!
//! Folding ([`emit_folded`]): lines of one kind repeated across a block (clippy's per-warning
//! help links, a log's commit bodies, man page option descriptions) can leave without a marker
//! each, one counted note standing for all of them where the reader meets the first.
//!
//! Must never: reorder or edit kept lines, drop a kept line that is not filler, emit two
//! markers for one run, or emit a marker that costs more than the lines it replaces.

use super::tokens;
use std::ops::Range;

/// Bytes a marker may undercut its run by and still not be worth it: markers are less useful
/// to the reader than the text, so they must win clearly.
pub const MARKER_SLACK: usize = 8;
/// The same margin in estimated tokens.
pub const MARKER_SLACK_TOKENS: usize = 2;
/// The most [`crate::marker_ids`] adds before a marker's close when retrieval is on (a
/// block's first marker gets a 12-hex id like this one, later ones the shorter ` · same id`):
/// the cost rule always counts this much, so turning ids on never makes a marker dearer than
/// its run.
pub const ID_SUFFIX: &str = " · id 3fa9c1d2e4b7";
/// Longest filler stretch (in lines) that two dropped runs are merged across.
pub const MERGE_MAX_FILLER: usize = 3;

/// Which lines of a block survive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeepMask(Vec<bool>);

impl KeepMask {
    /// Every one of `n` lines dropped.
    pub fn none(n: usize) -> Self {
        KeepMask(vec![false; n])
    }

    /// Every one of `n` lines kept.
    pub fn all(n: usize) -> Self {
        KeepMask(vec![true; n])
    }

    pub fn from_vec(keep: Vec<bool>) -> Self {
        KeepMask(keep)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn keeps(&self, line: usize) -> bool {
        self.0.get(line).copied().unwrap_or(false)
    }

    pub fn set(&mut self, line: usize) {
        if let Some(k) = self.0.get_mut(line) {
            *k = true;
        }
    }

    pub fn clear(&mut self, line: usize) {
        if let Some(k) = self.0.get_mut(line) {
            *k = false;
        }
    }

    /// Keeps every line of `range` (clipped to the mask).
    pub fn set_range(&mut self, range: Range<usize>) {
        let end = range.end.min(self.0.len());
        for k in &mut self.0[range.start.min(end)..end] {
            *k = true;
        }
    }

    /// Keeps `radius` lines either side of `line` as well as the line.
    pub fn set_around(&mut self, line: usize, radius: usize) {
        self.set_range(line.saturating_sub(radius)..line.saturating_add(radius + 1));
    }

    pub fn as_slice(&self) -> &[bool] {
        &self.0
    }

    /// The maximal runs of dropped lines, in order.
    pub fn dropped_runs(&self) -> impl Iterator<Item = Range<usize>> + '_ {
        runs(self).filter_map(|r| match r {
            Run::Dropped(range) => Some(range),
            Run::Kept(_) => None,
        })
    }
}

/// What [`emit`] produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Emitted {
    /// Kept lines and markers joined by `\n` (no newline after the last).
    pub text: String,
    /// Markers written (0 means nothing was dropped: every run was cheaper to keep).
    pub markers: usize,
}

impl Emitted {
    /// The text, when at least one run became a marker.
    pub fn if_dropped(self) -> Option<String> {
        (self.markers > 0).then_some(self.text)
    }
}

/// The cost rule: whether `run` (lines of the block) is worth replacing by `marker` once the
/// marker carries its id. Bytes first (cheap); estimated tokens only for runs that pass it,
/// since a marker is denser in tokens (an id, digits, `…`) than most text.
pub fn run_is_worth_a_marker(run: &[&str], marker: &str) -> bool {
    let bytes: usize = run.iter().map(|l| l.len() + 1).sum();
    if bytes <= marker.len() + ID_SUFFIX.len() + MARKER_SLACK {
        return false;
    }
    let marker_tokens = tokens::estimate(marker) + tokens::estimate(ID_SUFFIX);
    let mut run_tokens = 0usize;
    for line in run {
        // One token for the newline; stop counting once the run clearly wins.
        run_tokens += tokens::estimate(line) + 1;
        if run_tokens > marker_tokens + MARKER_SLACK_TOKENS {
            return true;
        }
    }
    false
}

/// A line that carries nothing once the lines around it are gone: blank, only closing
/// brackets and separators (`}`, `});`, `],`), an attribute (`#[inline]`, `#![...]`), or an
/// empty comment line (`///`, `//`, `#`, `*`). A `N<TAB>` / `cat -n` line number is ignored.
pub fn is_filler(line: &str) -> bool {
    let t = line.trim_start();
    let digits = t.bytes().take_while(u8::is_ascii_digit).count();
    let t = if digits > 0 && t[digits..].starts_with('\t') {
        &t[digits + 1..]
    } else if digits > 0 && t[digits..].starts_with('→') {
        &t[digits + '→'.len_utf8()..]
    } else {
        t
    };
    let t = t.trim();
    if t.is_empty()
        || t.bytes()
            .all(|b| matches!(b, b'}' | b')' | b']' | b';' | b','))
    {
        return true;
    }
    if (t.starts_with("#[") || t.starts_with("#![")) && t.ends_with(']') {
        return true;
    }
    matches!(
        t,
        "//" | "///" | "//!" | "#" | "*" | "/*" | "*/" | "/**" | "--" | "\"\"\""
    )
}

/// Renders `lines` under `keep`: kept lines verbatim, each dropped run as the one line
/// `marker(run)` returns — unless the run is cheaper than that marker, then it stays verbatim.
pub fn emit(
    lines: &[&str],
    keep: &KeepMask,
    mut marker: impl FnMut(Range<usize>) -> String,
) -> Emitted {
    let mut out = Emitted {
        text: String::with_capacity(lines.iter().map(|l| l.len() + 1).sum::<usize>() / 2),
        markers: 0,
    };
    let mut first = true;
    let mut push = |text: &mut String, line: &str| {
        if !first {
            text.push('\n');
        }
        first = false;
        text.push_str(line);
    };
    let segments: Vec<Run> = runs(keep).collect();
    let mut i = 0;
    while i < segments.len() {
        let range = match &segments[i] {
            Run::Kept(range) => {
                lines[range.clone()]
                    .iter()
                    .for_each(|l| push(&mut out.text, l));
                i += 1;
                continue;
            }
            Run::Dropped(range) => range.clone(),
        };
        // Extend across filler stretches to the last dropped run they separate.
        let (mut last, mut end) = (i, range.end);
        while let (Some(Run::Kept(gap)), Some(Run::Dropped(next))) =
            (segments.get(last + 1), segments.get(last + 2))
        {
            if gap.len() > MERGE_MAX_FILLER || !lines[gap.clone()].iter().all(|l| is_filler(l)) {
                break;
            }
            (last, end) = (last + 2, next.end);
        }
        if last > i {
            let merged = range.start..end;
            let m = marker(merged.clone());
            if run_is_worth_a_marker(&lines[merged], &m) {
                out.markers += 1;
                push(&mut out.text, &m);
                i = last + 1;
                continue;
            }
        }
        let m = marker(range.clone());
        if run_is_worth_a_marker(&lines[range.clone()], &m) {
            out.markers += 1;
            push(&mut out.text, &m);
        } else {
            lines[range].iter().for_each(|l| push(&mut out.text, l));
        }
        i += 1;
    }
    out
}

/// [`emit`] with some lines left out without a marker of their own: the lines `fold` marks
/// vanish, and each `(line, note)` of `notes` (in line order) is written, as a kept line, right
/// after that line and stands for them. `marker` gets a dropped run's line range and how many
/// of its lines it stands for (folded lines inside the run are their note's). The caller
/// checks that each note costs less than the lines it stands for.
pub fn emit_folded(
    lines: &[&str],
    keep: &[bool],
    fold: &[bool],
    notes: &[(usize, String)],
    mut marker: impl FnMut(Range<usize>, usize) -> String,
) -> Emitted {
    let mut view: Vec<&str> = Vec::with_capacity(lines.len() + notes.len());
    let mut origin: Vec<Option<usize>> = Vec::with_capacity(view.capacity());
    let mut view_keep: Vec<bool> = Vec::with_capacity(view.capacity());
    let mut next_note = notes.iter().peekable();
    for (i, line) in lines.iter().enumerate() {
        if !fold.get(i).copied().unwrap_or(false) {
            view.push(line);
            origin.push(Some(i));
            view_keep.push(keep.get(i).copied().unwrap_or(true));
        }
        while let Some((_, note)) = next_note.next_if(|(at, _)| *at == i) {
            view.push(note);
            origin.push(None);
            view_keep.push(true);
        }
    }
    let mut out = emit(&view, &KeepMask::from_vec(view_keep), |run| {
        let raw: Vec<usize> = origin[run].iter().flatten().copied().collect();
        match (raw.first(), raw.last()) {
            (Some(&a), Some(&b)) => marker(a..b + 1, raw.len()),
            _ => String::new(),
        }
    });
    out.markers += notes.len();
    out
}

enum Run {
    Kept(Range<usize>),
    Dropped(Range<usize>),
}

/// Maximal runs of equal mask values, in order.
fn runs(keep: &KeepMask) -> impl Iterator<Item = Run> + '_ {
    let mask = keep.as_slice();
    let mut i = 0;
    std::iter::from_fn(move || {
        let start = i;
        let kept = *mask.get(start)?;
        while i < mask.len() && mask[i] == kept {
            i += 1;
        }
        Some(if kept {
            Run::Kept(start..i)
        } else {
            Run::Dropped(start..i)
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(n: usize) -> Vec<String> {
        (0..n)
            .map(|i| format!("line number {i:02} of the fixture"))
            .collect()
    }

    #[test]
    fn one_marker_per_dropped_run_and_kept_lines_verbatim() {
        let owned = lines(10);
        let l: Vec<&str> = owned.iter().map(String::as_str).collect();
        let mut keep = KeepMask::none(10);
        keep.set(0);
        keep.set(5);
        keep.set(9);
        let out = emit(&l, &keep, |r| format!("[{}..{}]", r.start, r.end));
        assert_eq!(
            out.text,
            "line number 00 of the fixture\n[1..5]\nline number 05 of the fixture\n[6..9]\nline number 09 of the fixture"
        );
        assert_eq!(out.markers, 2);
    }

    #[test]
    fn a_run_cheaper_than_its_marker_stays() {
        let l = ["keep", "a", "b", "keep"];
        let keep = KeepMask::from_vec(vec![true, false, false, true]);
        let out = emit(&l, &keep, |_| "[… 2 lines omitted …]".to_string());
        assert_eq!(out.text, "keep\na\nb\nkeep");
        assert_eq!(out.markers, 0);
        assert_eq!(out.clone().if_dropped(), None);
    }

    #[test]
    fn a_marker_never_costs_more_than_its_run_once_the_id_is_added() {
        // 3 lines of 9 bytes + newlines = 30 bytes: cheaper than the 24-byte marker plus its
        // 19-byte id suffix, though the bare marker alone would have undercut it.
        let l = ["keep", "aaaaaaaaa", "bbbbbbbbb", "ccccccccc", "keep"];
        let keep = KeepMask::from_vec(vec![true, false, false, false, true]);
        let out = emit(&l, &keep, |_| "[… 3 lines omitted …]".to_string());
        assert_eq!(out.markers, 0);
        assert_eq!(out.text, l.join("\n"));
        // Every marker `emit` writes, tagged as the pipeline tags it, is cheaper than its run.
        let owned = lines(40);
        let l: Vec<&str> = owned.iter().map(String::as_str).collect();
        for gap in 1..12 {
            let keep = KeepMask::from_vec((0..40).map(|i| i % (gap + 1) == 0).collect());
            let mut runs_seen = Vec::new();
            let out = emit(&l, &keep, |r| {
                runs_seen.push(r.clone());
                format!("[… {} lines omitted …]", r.len())
            });
            for r in keep.dropped_runs() {
                let marker = format!("[… {} lines omitted{ID_SUFFIX} …]", r.len());
                let bytes: usize = l[r.clone()].iter().map(|x| x.len() + 1).sum();
                if out
                    .text
                    .contains(&format!("[… {} lines omitted …]", r.len()))
                {
                    assert!(
                        bytes > marker.len(),
                        "gap {gap}: marker dearer than run {r:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn runs_separated_only_by_filler_become_one_marker() {
        let owned = lines(16);
        let mut l: Vec<&str> = owned.iter().map(String::as_str).collect();
        l[6] = "";
        l[7] = "    });";
        l[8] = "  12\t#[inline]";
        let keep = KeepMask::from_vec((0..16).map(|i| matches!(i, 0 | 6 | 7 | 8 | 15)).collect());
        let marker = |r: Range<usize>| format!("[… lines {}–{} omitted …]", r.start, r.end - 1);
        let out = emit(&l, &keep, marker);
        assert_eq!(out.markers, 1);
        assert_eq!(
            out.text,
            "line number 00 of the fixture\n[… lines 1–14 omitted …]\nline number 15 of the fixture"
        );
        // A kept line that says something keeps the runs apart.
        l[7] = "    fn kept_signature() {";
        let out = emit(&l, &keep, marker);
        assert_eq!(out.markers, 2);
        assert!(out
            .text
            .contains("[… lines 1–5 omitted …]\n\n    fn kept_signature() {"));
    }

    #[test]
    fn filler_is_blank_brackets_attributes_and_empty_comments() {
        for f in [
            "",
            "   ",
            "}",
            "  });",
            "],",
            "#[derive(Debug)]",
            "    ///",
            "12\t}",
            "   7→",
        ] {
            assert!(is_filler(f), "{f:?}");
        }
        for t in [
            "fn main() {",
            "x",
            "// why",
            "12\tlet a = 1;",
            "#include <a.h>",
            "end",
        ] {
            assert!(!is_filler(t), "{t:?}");
        }
    }

    #[test]
    fn dropped_runs_are_maximal_and_in_order() {
        let keep = KeepMask::from_vec(vec![false, true, false, false, true, false]);
        let runs: Vec<_> = keep.dropped_runs().collect();
        assert_eq!(runs, vec![0..1, 2..4, 5..6]);
    }

    #[test]
    fn set_around_clips_at_both_ends() {
        let mut keep = KeepMask::none(5);
        keep.set_around(0, 2);
        keep.set_around(4, 0);
        assert_eq!(keep.as_slice(), &[true, true, true, false, true]);
    }
}
