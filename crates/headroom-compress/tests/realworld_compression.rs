//! The rule-based pipeline (no model) over every case of the real-output corpus in
//! tests/fixtures/realworld/: needles survive, no block grows, results are deterministic, the
//! request bytes around a compressed block stay identical in both API formats, and every
//! block reports a known content type and outcome.
//!
//! Must never: load the model or reach the network; the corpus is read, never written.

use headroom_compress::{
    rewrite, ApiFormat, CompressionConfig, Context, Outcome, Pipeline, CONTENT_TYPES,
};
use std::collections::BTreeSet;
use std::path::PathBuf;

/// Needles the rule-based path loses today, by case. A loss fixed must leave this list, and
/// a new loss fails the test.
const KNOWN_LOSSES: &[(&str, &str)] = &[];

struct Case {
    name: String,
    input: String,
    task: String,
    needles: Vec<String>,
}

fn cases() -> Vec<Case> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/realworld");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("input.txt").is_file())
        .collect();
    dirs.sort();
    let read = |p: &PathBuf, f: &str| {
        std::fs::read_to_string(p.join(f)).unwrap_or_else(|e| panic!("{}/{f}: {e}", p.display()))
    };
    let cases: Vec<Case> = dirs
        .iter()
        .map(|p| Case {
            name: p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            input: read(p, "input.txt"),
            task: read(p, "task.txt").trim().to_string(),
            needles: read(p, "needles.txt")
                .lines()
                .filter(|l| !l.is_empty())
                .map(str::to_string)
                .collect(),
        })
        .collect();
    assert!(cases.len() >= 40, "the corpus has {} cases", cases.len());
    cases
}

fn pipeline() -> Pipeline {
    Pipeline::new(CompressionConfig::default(), None)
}

fn compressed(p: &Pipeline, case: &Case) -> String {
    let out = p
        .compress_text(&case.input, &case.task)
        .unwrap_or_else(|e| panic!("{}: compression failed: {e:?}", case.name));
    out.output.unwrap_or_else(|| case.input.clone())
}

#[test]
fn every_needle_survives_except_the_known_losses() {
    let p = pipeline();
    let mut lost = BTreeSet::new();
    for case in cases() {
        let text = compressed(&p, &case);
        for n in &case.needles {
            if !text.contains(n.as_str()) {
                lost.insert((case.name.clone(), n.clone()));
            }
        }
    }
    let known: BTreeSet<(String, String)> = KNOWN_LOSSES
        .iter()
        .map(|(c, n)| (c.to_string(), n.to_string()))
        .collect();
    let new: Vec<_> = lost.difference(&known).collect();
    let fixed: Vec<_> = known.difference(&lost).collect();
    assert!(new.is_empty(), "needles lost: {new:#?}");
    assert!(
        fixed.is_empty(),
        "kept now, remove from KNOWN_LOSSES: {fixed:#?}"
    );
}

#[test]
fn no_case_grows_and_every_result_is_deterministic() {
    let p = pipeline();
    let again = pipeline();
    for case in cases() {
        let a = p.compress_text(&case.input, &case.task).ok();
        let b = again.compress_text(&case.input, &case.task).ok();
        let (Some(a), Some(b)) = (a, b) else {
            panic!("{}: compression failed", case.name);
        };
        assert!(a.tokens_after <= a.tokens_before, "{} grew", case.name);
        if let Some(out) = &a.output {
            assert!(out.len() < case.input.len(), "{} grew in bytes", case.name);
        }
        assert_eq!(a.output, b.output, "{} is not deterministic", case.name);
        assert!(
            CONTENT_TYPES.contains(&a.kind),
            "{}: unknown kind {}",
            case.name,
            a.kind
        );
        assert!(Outcome::ALL.contains(&a.outcome), "{}", case.name);
        assert_eq!(
            a.output.is_some(),
            a.outcome == Outcome::Compressed,
            "{}",
            case.name
        );
    }
}

fn body(case: &Case, format: ApiFormat) -> Vec<u8> {
    let v = match format {
        ApiFormat::Anthropic => serde_json::json!({
            "model": "claude-sonnet-4-5",
            "max_tokens": 1024,
            "messages": [
                {"role": "user", "content": case.task},
                {"role": "assistant", "content": [
                    {"type": "tool_use", "id": "toolu_1", "name": "Bash", "input": {"command": "x"}}
                ]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_1", "content": case.input}
                ]}
            ]
        }),
        ApiFormat::OpenAi => serde_json::json!({
            "model": "gpt-4o",
            "messages": [
                {"role": "user", "content": case.task},
                {"role": "assistant", "tool_calls": [
                    {"id": "call_1", "type": "function", "function": {"name": "bash", "arguments": "{}"}}
                ]},
                {"role": "tool", "tool_call_id": "call_1", "content": case.input}
            ]
        }),
    };
    serde_json::to_vec_pretty(&v).unwrap_or_default()
}

#[test]
fn bytes_around_a_compressed_block_stay_identical_in_both_formats() {
    let p = pipeline();
    let mut compressed_cases = 0;
    for case in cases() {
        for format in [ApiFormat::Anthropic, ApiFormat::OpenAi] {
            let original = body(&case, format);
            let out = rewrite(
                &original,
                &Context {
                    format,
                    pipeline: &p,
                },
            );
            let Some(new) = out.body else {
                continue;
            };
            compressed_cases += 1;
            assert_eq!(out.replaced.len(), 1, "{}: one block", case.name);
            let span = &out.replaced[0];
            assert_eq!(&new[..span.start], &original[..span.start], "{}", case.name);
            let tail = &original[span.end..];
            assert!(
                new.ends_with(tail),
                "{}: bytes after the block changed",
                case.name
            );
            let parsed: serde_json::Value = serde_json::from_slice(&new)
                .unwrap_or_else(|e| panic!("{}: rewritten body is not JSON: {e}", case.name));
            assert_eq!(parsed["messages"][0]["content"], case.task.as_str());
        }
    }
    assert!(
        compressed_cases >= 60,
        "only {compressed_cases} bodies were compressed"
    );
}

#[test]
fn a_saving_under_the_threshold_leaves_the_block_unchanged() {
    let cfg = CompressionConfig {
        min_savings_percent: 100,
        ..CompressionConfig::default()
    };
    let p = Pipeline::new(cfg, None);
    let case = cases()
        .into_iter()
        .find(|c| c.name == "git_show_ripgrep")
        .unwrap_or_else(|| panic!("git_show_ripgrep is in the corpus"));
    let out = p
        .compress_text(&case.input, &case.task)
        .unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(out.output, None);
    assert_eq!(out.outcome, Outcome::UnchangedNoGain);
    assert_eq!(out.kind, "git_show");
}
