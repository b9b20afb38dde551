//! Every fixture under tests/fixtures/compress/ is routed to the compressor its content calls
//! for, shrinks a lot, and keeps every needle verbatim.

use headroom::compress::{CompressionConfig, Pipeline};
use std::path::PathBuf;

fn fixture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/compress")
}

struct Fixture {
    name: String,
    text: String,
    task: String,
    needles: Vec<String>,
}

fn fixtures() -> Vec<Fixture> {
    let mut names: Vec<String> = std::fs::read_dir(fixture_dir())
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().into_string().unwrap();
            name.strip_suffix(".txt").map(str::to_string)
        })
        .collect();
    names.sort();
    names
        .into_iter()
        .map(|name| {
            let read = |ext: &str| {
                std::fs::read_to_string(fixture_dir().join(format!("{name}.{ext}"))).unwrap()
            };
            Fixture {
                text: read("txt"),
                task: read("task").trim().to_string(),
                needles: read("needles")
                    .lines()
                    .filter(|l| !l.is_empty())
                    .map(str::to_string)
                    .collect(),
                name,
            }
        })
        .collect()
}

fn expected_kind(name: &str) -> &'static str {
    match name {
        n if n.starts_with("rg_") || n.starts_with("grep_") => "search",
        "github_repos" | "k8s_pods" | "sql_orders" | "stripe_charges" => "json",
        // A pytest run opens with its `test session starts` banner: a test report.
        "pytest_run" => "diagnostics",
        _ => "log",
    }
}

#[test]
fn every_fixture_is_routed_by_content_and_keeps_its_needles() {
    let pipeline = Pipeline::new(CompressionConfig::default(), None);
    let all = fixtures();
    assert!(all.len() >= 12, "fixtures missing: {}", all.len());
    for f in &all {
        let out = pipeline.compress_text(&f.text, &f.task).unwrap();
        assert_eq!(out.kind, expected_kind(&f.name), "{}", f.name);
        let text = out
            .output
            .as_deref()
            .unwrap_or_else(|| panic!("{} was not compressed", f.name));
        for needle in &f.needles {
            assert!(
                text.contains(needle.as_str()),
                "{}: needle {needle:?} lost:\n{text}",
                f.name
            );
        }
        assert!(out.tokens_after < out.tokens_before, "{}", f.name);
    }
}

#[test]
fn the_corpus_loses_at_least_85_percent_of_its_tokens() {
    let pipeline = Pipeline::new(CompressionConfig::default(), None);
    let (mut before, mut after) = (0, 0);
    for f in fixtures() {
        let out = pipeline.compress_text(&f.text, &f.task).unwrap();
        before += out.tokens_before;
        after += out.tokens_after;
    }
    let saved = 1.0 - after as f64 / before as f64;
    assert!(
        saved >= 0.85,
        "only {:.1} % saved ({before} → {after})",
        saved * 100.0
    );
}

#[test]
fn every_error_level_line_of_every_log_fixture_survives() {
    let pipeline = Pipeline::new(CompressionConfig::default(), None);
    for f in fixtures()
        .iter()
        .filter(|f| expected_kind(&f.name) == "log")
    {
        let out = pipeline
            .compress_text(&f.text, &f.task)
            .unwrap()
            .output
            .unwrap();
        for line in f
            .text
            .lines()
            .filter(|l| headroom::compress::marker::is_error_level(l))
        {
            assert!(out.contains(line), "{}: {line:?} lost", f.name);
        }
    }
}

#[test]
fn compressing_twice_gives_identical_bytes() {
    let a = Pipeline::new(CompressionConfig::default(), None);
    let b = Pipeline::new(CompressionConfig::default(), None);
    for f in fixtures() {
        let x = a.compress_text(&f.text, &f.task).unwrap().output;
        let y = b.compress_text(&f.text, &f.task).unwrap().output;
        assert_eq!(x, y, "{}", f.name);
    }
}
