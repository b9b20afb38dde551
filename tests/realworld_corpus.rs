//! The real-output corpus under tests/fixtures/realworld/ stays what its README promises:
//! every case complete, every needle verbatim in its input, the mix of sizes, shapes,
//! content types and vague questions the compression targets are measured on.
//!
//! Must never: compress anything or depend on the compressors; it checks the data alone.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const KINDS: &[&str] = &[
    "source_code",
    "compiler_diagnostics",
    "test_output",
    "git_log",
    "git_show",
    "git_diff",
    "html",
    "markdown",
    "prose",
    "json_array",
    "json_map",
    "table",
    "log_no_errors",
    "log_errors",
    "search",
];
const SHAPES: &[&str] = &["raw", "claude_read", "persisted_preview"];
const KB: usize = 1024;

struct Case {
    name: String,
    input: String,
    task: String,
    needles: Vec<String>,
    meta: serde_json::Value,
}

impl Case {
    fn str_field(&self, key: &str) -> &str {
        self.meta[key]
            .as_str()
            .unwrap_or_else(|| panic!("{}: meta.json has no string {key:?}", self.name))
    }
}

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/realworld")
}

fn read(dir: &Path, file: &str) -> String {
    std::fs::read_to_string(dir.join(file))
        .unwrap_or_else(|e| panic!("{}: cannot read {file}: {e}", dir.display()))
}

fn cases() -> Vec<Case> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(corpus_dir())
        .expect("tests/fixtures/realworld exists")
        .map(|e| e.expect("readable directory entry").path())
        .filter(|p| p.is_dir() && p.file_name().is_some_and(|n| n != "collect"))
        .collect();
    dirs.sort();
    dirs.iter()
        .map(|dir| {
            let meta = read(dir, "meta.json");
            Case {
                name: dir
                    .file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into_owned(),
                input: read(dir, "input.txt"),
                task: read(dir, "task.txt").trim().to_string(),
                needles: read(dir, "needles.txt")
                    .lines()
                    .filter(|l| !l.is_empty())
                    .map(str::to_string)
                    .collect(),
                meta: serde_json::from_str(&meta)
                    .unwrap_or_else(|e| panic!("{}: meta.json: {e}", dir.display())),
            }
        })
        .collect()
}

#[test]
fn every_needle_occurs_verbatim_in_its_input() {
    for c in cases() {
        assert!(!c.task.is_empty(), "{}: empty task", c.name);
        assert!(
            (2..=6).contains(&c.needles.len()),
            "{}: {} needles, want 2 to 6",
            c.name,
            c.needles.len()
        );
        for n in &c.needles {
            assert!(
                n.trim().len() >= 4,
                "{}: needle too short to mean anything: {n:?}",
                c.name
            );
            assert!(
                c.input.contains(n.as_str()),
                "{}: needle not in input.txt: {n:?}",
                c.name
            );
        }
    }
}

#[test]
fn meta_names_a_known_kind_shape_and_source() {
    for c in cases() {
        assert!(
            KINDS.contains(&c.str_field("kind")),
            "{}: unknown kind",
            c.name
        );
        assert!(
            SHAPES.contains(&c.str_field("shape")),
            "{}: unknown shape",
            c.name
        );
        assert!(
            c.str_field("source").len() > 10,
            "{}: source too vague",
            c.name
        );
        assert!(
            c.meta["vague"].is_boolean(),
            "{}: vague is not true|false",
            c.name
        );
    }
}

#[test]
fn shapes_look_like_what_claude_code_sends() {
    for c in cases() {
        match c.str_field("shape") {
            "claude_read" => {
                let mut lines = c.input.lines().peekable();
                if lines
                    .peek()
                    .is_some_and(|l| l.starts_with("<system-reminder>"))
                {
                    lines.next();
                }
                let mut count = 0;
                for line in lines {
                    let (num, _) = line
                        .split_once('\t')
                        .unwrap_or_else(|| panic!("{}: Read line without a tab: {line:?}", c.name));
                    assert!(
                        num.parse::<u32>().is_ok(),
                        "{}: bad line number {num:?}",
                        c.name
                    );
                    count += 1;
                }
                assert!(
                    count <= 2000,
                    "{}: a Read page holds at most 2,000 lines",
                    c.name
                );
            }
            "persisted_preview" => {
                assert!(c.input.starts_with("<persisted-output>\n"), "{}", c.name);
                assert!(
                    c.input.trim_end().ends_with("</persisted-output>"),
                    "{}",
                    c.name
                );
                assert!(c.input.len() < 3 * KB, "{}: the preview is 2 KB", c.name);
            }
            _ => {}
        }
    }
}

#[test]
fn the_mix_matches_the_corpus_promise() {
    let all = cases();
    assert!(all.len() >= 44, "only {} cases", all.len());
    let vague = all.iter().filter(|c| c.meta["vague"] == true).count();
    assert!(
        2 * vague >= all.len(),
        "{vague} of {} questions are vague",
        all.len()
    );

    let sizes: Vec<usize> = all.iter().map(|c| c.input.len()).collect();
    let large = sizes
        .iter()
        .filter(|&&s| (60 * KB..=300 * KB).contains(&s))
        .count();
    let claude_sized = sizes
        .iter()
        .filter(|&&s| (2 * KB..=30 * KB).contains(&s))
        .count();
    assert!(large >= 8, "{large} cases of 60–300 KB");
    assert!(
        2 * claude_sized > all.len(),
        "{claude_sized} cases of 2–30 KB"
    );
    for c in &all {
        assert!(
            c.input.len() <= 400 * KB,
            "{}: {} bytes is over the cap",
            c.name,
            c.input.len()
        );
    }

    let mut per_kind: BTreeMap<&str, usize> = BTreeMap::new();
    for c in &all {
        // git show and git diff are one content type.
        let kind = match c.str_field("kind") {
            "git_diff" => "git_show",
            k => k,
        };
        *per_kind.entry(kind).or_default() += 1;
    }
    for kind in KINDS.iter().filter(|&&k| k != "git_diff") {
        let n = per_kind.get(kind).copied().unwrap_or(0);
        assert!(n >= 3, "{n} cases of {kind}, want at least 3");
    }
    let shapes = |s: &str| all.iter().filter(|c| c.str_field("shape") == s).count();
    assert!(shapes("claude_read") >= 5, "too few Read pages");
    assert!(
        shapes("persisted_preview") >= 3,
        "too few persisted previews"
    );
}
