//! Splitting a text block into the units the relevance compressor keeps or drops: headings and
//! paragraphs for prose, top-level items (functions, types, import groups) for code. Pure
//! string work; never scores anything.
//!
//! Units tile the text: concatenating every unit's `range` gives the block back byte for byte.

use std::ops::Range;

/// What a block looks like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    Prose,
    Code,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UnitKind {
    /// A markdown heading line: always kept.
    Heading,
    /// A paragraph (or a piece of a long one).
    Paragraph,
    /// A top-level code item; `signature` is the line kept when the body is dropped.
    Item { signature: Option<Range<usize>> },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unit {
    /// Bytes of the unit, including the blank lines after it.
    pub range: Range<usize>,
    /// End of the unit's content (before the trailing blank lines).
    pub content_end: usize,
    pub kind: UnitKind,
}

impl Unit {
    pub fn content<'t>(&self, text: &'t str) -> &'t str {
        &text[self.range.start..self.content_end]
    }
}

/// Prose paragraphs longer than this are cut into pieces of about `PIECE_BYTES`.
const LONG_PARAGRAPH_BYTES: usize = 1500;
const PIECE_BYTES: usize = 700;

/// Guesses whether `text` is source code: most non-blank lines end like code statements,
/// are indented, or open with a declaration keyword.
pub fn shape(text: &str) -> Shape {
    let mut lines = 0usize;
    let mut code_like = 0usize;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        lines += 1;
        let t = line.trim_end();
        let first = t.trim_start();
        let ends_like_code = matches!(
            t.chars().last(),
            Some('{' | '}' | ';' | ')' | '(' | ',' | '[' | ']')
        ) || (t.ends_with(':') && is_declaration(first));
        let indented_code = line.starts_with("    ") && !first.starts_with(['-', '*', '>']);
        if ends_like_code || indented_code || is_declaration(first) {
            code_like += 1;
        }
    }
    if lines > 0 && code_like * 100 >= lines * 45 {
        Shape::Code
    } else {
        Shape::Prose
    }
}

fn is_declaration(line: &str) -> bool {
    const KEYWORDS: &[&str] = &[
        "fn ",
        "pub ",
        "def ",
        "class ",
        "import ",
        "from ",
        "use ",
        "func ",
        "package ",
        "#include",
        "const ",
        "let ",
        "var ",
        "function ",
        "impl ",
        "struct ",
        "enum ",
        "trait ",
        "type ",
        "interface ",
        "export ",
        "async ",
        "static ",
        "mod ",
        "return ",
        "if ",
        "for ",
        "while ",
        "@",
        "#[",
    ];
    KEYWORDS.iter().any(|k| line.starts_with(k))
}

/// Splits `text` into units for its shape.
pub fn split(text: &str, shape: Shape) -> Vec<Unit> {
    match shape {
        Shape::Prose => split_prose(text),
        Shape::Code => split_code(text),
    }
}

/// `(start, end_with_newline)` of every line.
fn lines(text: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start = 0;
    for (i, b) in text.bytes().enumerate() {
        if b == b'\n' {
            out.push((start, i + 1));
            start = i + 1;
        }
    }
    if start < text.len() {
        out.push((start, text.len()));
    }
    out
}

fn is_blank(text: &str, (s, e): (usize, usize)) -> bool {
    text[s..e].trim().is_empty()
}

fn split_prose(text: &str) -> Vec<Unit> {
    let mut units: Vec<Unit> = Vec::new();
    let mut in_fence = false;
    let mut current: Option<(usize, usize)> = None; // (start, content_end)
    let flush = |units: &mut Vec<Unit>, current: &mut Option<(usize, usize)>| {
        if let Some((s, e)) = current.take() {
            units.extend(paragraph_units(text, s, e));
        }
    };
    for (s, e) in lines(text) {
        let line = &text[s..e];
        let trimmed = line.trim_start();
        let fence = trimmed.starts_with("```") || trimmed.starts_with("~~~");
        if in_fence || fence {
            if fence {
                in_fence = !in_fence;
            }
            current = Some(current.map_or((s, e), |(cs, _)| (cs, e)));
            continue;
        }
        if is_blank(text, (s, e)) {
            flush(&mut units, &mut current);
            match units.last_mut() {
                Some(u) => u.range.end = e,
                None => units.push(Unit {
                    range: s..e,
                    content_end: s,
                    kind: UnitKind::Heading,
                }),
            }
        } else if is_heading(trimmed) {
            flush(&mut units, &mut current);
            units.push(Unit {
                range: s..e,
                content_end: e,
                kind: UnitKind::Heading,
            });
        } else {
            current = Some(current.map_or((s, e), |(cs, _)| (cs, e)));
        }
    }
    flush(&mut units, &mut current);
    units
}

fn is_heading(line: &str) -> bool {
    let hashes = line.bytes().take_while(|&b| b == b'#').count();
    (1..=6).contains(&hashes) && line[hashes..].starts_with(' ')
}

/// One unit for a normal paragraph; several for a long one, cut at line ends or sentence ends.
fn paragraph_units(text: &str, start: usize, end: usize) -> Vec<Unit> {
    let unit = |s: usize, e: usize| Unit {
        range: s..e,
        content_end: e,
        kind: UnitKind::Paragraph,
    };
    if end - start <= LONG_PARAGRAPH_BYTES {
        return vec![unit(start, end)];
    }
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut piece_start = start;
    for i in start..end {
        let boundary = bytes[i] == b'\n'
            || (matches!(bytes[i], b'.' | b'!' | b'?')
                && bytes.get(i + 1).is_some_and(|b| *b == b' '));
        if boundary && i + 1 - piece_start >= PIECE_BYTES && end - (i + 1) >= PIECE_BYTES / 2 {
            let cut = if bytes[i] == b'\n' { i + 1 } else { i + 2 };
            out.push(unit(piece_start, cut));
            piece_start = cut;
        }
    }
    out.push(unit(piece_start, end));
    out
}

fn split_code(text: &str) -> Vec<Unit> {
    let mut out = Vec::new();
    for unit in split_items(text, 0..text.len(), "") {
        out.extend(split_container(text, unit));
    }
    out
}

/// Items longer than this whose body holds several items of its own (a class, an `impl`
/// block) are split into their members.
const CONTAINER_LINES: usize = 30;

/// A long container becomes its members: the first keeps the container's header, the last
/// its closing lines. Anything else comes back as it was.
fn split_container(text: &str, unit: Unit) -> Vec<Unit> {
    let content = &text[unit.range.start..unit.content_end];
    if content.lines().count() <= CONTAINER_LINES {
        return vec![unit];
    }
    let Some(indent) = body_indent(content) else {
        return vec![unit];
    };
    let members = split_items(text, unit.range.clone(), indent);
    if members.len() < 3 {
        return vec![unit];
    }
    members
}

/// The indentation of the first indented non-blank line.
fn body_indent(content: &str) -> Option<&str> {
    content.lines().find_map(|l| {
        let trimmed = l.trim_start();
        let indent = &l[..l.len() - trimmed.len()];
        (!trimmed.is_empty() && !indent.is_empty()).then_some(indent)
    })
}

/// Splits `range` into items starting at lines indented exactly by `indent`. Less indented
/// lines (a container's header and closing brace) and more indented ones (bodies) join the
/// item around them; so do lines inside triple-quoted strings.
fn split_items(text: &str, range: Range<usize>, indent: &str) -> Vec<Unit> {
    let mut units: Vec<Unit> = Vec::new();
    // Whether the unit being built holds only comments / attributes / decorators so far: the
    // item they describe joins it.
    let mut header_only = true;
    let mut in_string = false;
    for (s, e) in lines(&text[range.clone()]) {
        let (s, e) = (range.start + s, range.start + e);
        let line = &text[s..e];
        let blank = is_blank(text, (s, e));
        let at_level = !blank
            && !in_string
            && line.starts_with(indent)
            && !line[indent.len()..].starts_with([' ', '\t']);
        in_string ^=
            line.matches("\"\"\"").count() % 2 == 1 || line.matches("'''").count() % 2 == 1;
        let decoration = at_level && is_decoration(line);
        let continues = units
            .last()
            .is_some_and(|u| continues_on_next_line(&text[u.range.start..u.content_end], indent));
        let new_unit =
            units.is_empty() || (at_level && !is_closer(line) && !header_only && !continues);
        if new_unit {
            units.push(Unit {
                range: s..e,
                content_end: if blank { s } else { e },
                kind: UnitKind::Item { signature: None },
            });
            header_only = blank || decoration;
        } else if let Some(u) = units.last_mut() {
            u.range.end = e;
            if !blank {
                u.content_end = e;
                header_only = header_only && decoration;
            }
        }
        if !blank && !decoration {
            if let Some(Unit {
                kind: UnitKind::Item { signature },
                ..
            }) = units.last_mut()
            {
                if signature.is_none() {
                    *signature = Some(s..e);
                }
            }
        }
    }
    merge_one_liners(text, units)
}

/// The last content line leaves a statement open (a multi-line signature or expression).
fn continues_on_next_line(content: &str, indent: &str) -> bool {
    content.lines().next_back().is_some_and(|l| {
        let t = l.trim_end();
        l.starts_with(indent)
            && !l[indent.len()..].starts_with([' ', '\t'])
            && t.ends_with(['(', ',', '\\', '=', '[', '+', '|', '&'])
    })
}

fn is_decoration(line: &str) -> bool {
    let t = line.trim_start();
    [
        "//", "#[", "#!", "@", "/*", "* ", "*/", "--", "\"\"\"", "'''",
    ]
    .iter()
    .any(|p| t.starts_with(p))
        || (t.starts_with('#') && !t.starts_with("#include") && !t.starts_with("#define"))
}

fn is_closer(line: &str) -> bool {
    let t = line.trim_start();
    t.starts_with(['}', ')', ']', '{'])
        || ["end", "else", "elif ", "except", "finally", "catch"]
            .iter()
            .any(|k| t.starts_with(k))
}

/// Runs of one-line items (imports, constants) become one unit, so they are judged together.
fn merge_one_liners(text: &str, units: Vec<Unit>) -> Vec<Unit> {
    let one_line = |u: &Unit| {
        let c = u.content(text);
        !c.trim().is_empty() && !c.trim_end_matches('\n').contains('\n')
    };
    let mut out: Vec<Unit> = Vec::with_capacity(units.len());
    let mut previous_one_line = false;
    for u in units {
        let this_one_line = one_line(&u);
        if this_one_line && previous_one_line {
            if let Some(prev) = out.last_mut() {
                if prev.content_end == prev.range.end {
                    prev.range.end = u.range.end;
                    prev.content_end = u.content_end;
                    // A group of imports or constants has no one line that stands for it.
                    prev.kind = UnitKind::Item { signature: None };
                    continue;
                }
            }
        }
        previous_one_line = this_one_line;
        out.push(u);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts<'t>(text: &'t str, units: &[Unit]) -> Vec<&'t str> {
        units.iter().map(|u| u.content(text)).collect()
    }

    fn assert_tiles(text: &str, units: &[Unit]) {
        let joined: String = units.iter().map(|u| &text[u.range.clone()]).collect();
        assert_eq!(joined, text);
    }

    #[test]
    fn prose_splits_at_blank_lines_and_headings_are_their_own_units() {
        let t = "# Title\nIntro line one\nline two.\n\nSecond para.\n\n\n## Part\nThird.";
        let units = split(t, Shape::Prose);
        assert_tiles(t, &units);
        assert_eq!(
            texts(t, &units),
            [
                "# Title\n",
                "Intro line one\nline two.\n",
                "Second para.\n",
                "## Part\n",
                "Third."
            ]
        );
        assert_eq!(units[0].kind, UnitKind::Heading);
        assert_eq!(units[1].kind, UnitKind::Paragraph);
    }

    #[test]
    fn fenced_code_in_prose_stays_in_one_unit() {
        let t = "Text.\n\n```\na\n\nb\n```\n\nMore.";
        let units = split(t, Shape::Prose);
        assert_tiles(t, &units);
        assert_eq!(texts(t, &units)[1], "```\na\n\nb\n```\n");
    }

    #[test]
    fn long_paragraphs_are_cut_at_sentence_ends() {
        let sentence = "This sentence is about forty-five bytes long. ";
        let t = sentence.repeat(60);
        let units = split(&t, Shape::Prose);
        assert_tiles(&t, &units);
        assert!(units.len() >= 3, "{}", units.len());
        for u in &units[..units.len() - 1] {
            assert!(u.content(&t).ends_with(". "), "{:?}", u.content(&t));
        }
    }

    #[test]
    fn rust_source_splits_into_items_with_doc_comments_attached() {
        let t = "use a::b;\nuse c::d;\n\n/// Doc.\n#[inline]\npub fn one() -> u32 {\n    1\n}\n\nfn two() {\n    let x = 2;\n}\nstruct S;\n";
        assert_eq!(shape(t), Shape::Code);
        let units = split(t, Shape::Code);
        assert_tiles(t, &units);
        assert_eq!(
            texts(t, &units),
            [
                "use a::b;\nuse c::d;\n",
                "/// Doc.\n#[inline]\npub fn one() -> u32 {\n    1\n}\n",
                "fn two() {\n    let x = 2;\n}\n",
                "struct S;\n"
            ]
        );
        match &units[1].kind {
            UnitKind::Item { signature: Some(s) } => {
                assert_eq!(&t[s.clone()], "pub fn one() -> u32 {\n")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn python_source_splits_at_top_level_defs_without_blank_lines() {
        let t = "import os\ndef a():\n    return 1\ndef b():\n    if x:\n        pass\n    else:\n        pass\n@dec\nclass C:\n    pass\n";
        assert_eq!(shape(t), Shape::Code);
        let units = split(t, Shape::Code);
        assert_tiles(t, &units);
        assert_eq!(
            texts(t, &units),
            [
                "import os\n",
                "def a():\n    return 1\n",
                "def b():\n    if x:\n        pass\n    else:\n        pass\n",
                "@dec\nclass C:\n    pass\n"
            ]
        );
    }

    #[test]
    fn plain_prose_is_not_mistaken_for_code() {
        let t = "The proxy listens on loopback.\nIt forwards requests upstream.\n\nConfiguration lives in YAML.\n";
        assert_eq!(shape(t), Shape::Prose);
    }
}
