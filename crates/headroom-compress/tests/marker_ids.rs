//! Retrieval ids over the real-output corpus (tests/fixtures/realworld/): with ids on, the
//! first marker of every compressed block names the block's content id and every later one
//! refers to it, the request hands back the exact original under that id, and the output is
//! the ids-off output plus the ids alone.
//!
//! Must never: load the model or reach the network.

use headroom_compress::{rewrite, ApiFormat, CompressionConfig, Context, MarkerIds, Pipeline};
use headroom_store::original_id;
use std::path::PathBuf;

fn corpus() -> Vec<(String, String)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/realworld");
    let mut out: Vec<(String, String)> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("input.txt").is_file())
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read_to_string(p.join("input.txt")).unwrap())
        })
        .collect();
    out.sort();
    assert!(out.len() >= 40);
    out
}

fn pipeline(ids: bool, fetch_base: Option<&str>) -> Pipeline {
    let config = CompressionConfig {
        marker_ids: MarkerIds {
            enabled: ids,
            fetch_base: fetch_base.map(str::to_string),
        },
        ..CompressionConfig::default()
    };
    Pipeline::new(config, None)
}

fn body(text: &str) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "model": "claude-sonnet-4-5",
        "messages": [
            {"role": "user", "content": "look at this"},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "Bash", "input": {}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": text}]}
        ]
    }))
    .unwrap()
}

fn block(out: &[u8]) -> String {
    let v: serde_json::Value = serde_json::from_slice(out).unwrap();
    v["messages"][2]["content"][0]["content"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn every_marker_of_a_compressed_block_names_its_original() {
    let with = pipeline(true, None);
    let without = pipeline(false, None);
    let mut tagged_cases = 0;
    for (name, input) in corpus() {
        let req = body(&input);
        let ctx = |p| Context {
            format: ApiFormat::Anthropic,
            pipeline: p,
        };
        let r = rewrite(&req, &ctx(&with));
        let Some(out) = &r.body else {
            assert!(r.originals.is_empty(), "{name}");
            continue;
        };
        let text = block(out);
        let id = original_id(&input);
        let suffix = format!(" · id {id} …]");
        if text.contains(&suffix) {
            tagged_cases += 1;
            assert_eq!(r.originals.len(), 1, "{name}");
            assert_eq!(r.originals[0].id, id, "{name}");
            assert_eq!(&*r.originals[0].content, input.as_str(), "{name}");
            // The first marker states the id, once; every later one refers to it.
            let stated = format!(" · id {id}");
            assert_eq!(
                text.matches(&stated).count(),
                1,
                "{name}: the id stated once"
            );
            let first = text.find(&stated).unwrap_or(0);
            assert!(
                text.find(" · same id").is_none_or(|at| at > first),
                "{name}: a `same id` marker before the id"
            );
            for line in text
                .lines()
                .filter(|l| l.contains("[… ") && l.contains(" …]"))
            {
                assert!(
                    line.contains(&stated)
                        || line.contains(" · same id …]")
                        || input.contains(line),
                    "{name}: a marker without the id: {line}"
                );
            }
        } else {
            assert!(
                r.originals.is_empty(),
                "{name}: stored although no marker names it"
            );
        }
        // The ids are the only difference (when the block is compressed without them too).
        if let Some(plain) = rewrite(&req, &ctx(&without)).body {
            assert_eq!(
                text.replace(&format!(" · id {id}"), "")
                    .replace(" · same id", ""),
                block(&plain),
                "{name}"
            );
        }
        // Same block, same bytes: a second request (a cache hit) and a fresh pipeline agree.
        assert_eq!(
            rewrite(&req, &ctx(&with)).body.as_ref(),
            Some(out),
            "{name}"
        );
        let fresh = pipeline(true, None);
        assert_eq!(
            rewrite(&req, &ctx(&fresh)).body.as_ref(),
            Some(out),
            "{name}"
        );
    }
    assert!(tagged_cases >= 30, "only {tagged_cases} cases carry ids");
}

#[test]
fn without_the_tool_each_tagged_block_says_how_to_fetch_it() {
    let p = pipeline(true, Some("http://127.0.0.1:8787"));
    let (name, input) = corpus()
        .into_iter()
        .find(|(n, _)| n == "log_dpkg_large")
        .unwrap();
    let r = rewrite(
        &body(&input),
        &Context {
            format: ApiFormat::Anthropic,
            pipeline: &p,
        },
    );
    let text = block(r.body.as_ref().unwrap());
    let id = original_id(&input);
    assert!(
        text.ends_with(&format!(
            "curl -s http://127.0.0.1:8787/v1/retrieve/{id} (add ?lines=A-B or ?query=WORDS for a part)]"
        )),
        "{name}: {text}"
    );
}
