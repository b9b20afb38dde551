//! Compression speed: MB/s per compressor on ~100 KB inputs (compressor alone, and the whole
//! per-block path: detection + compression + exact token counts for never-inflate), plus a
//! ~300 KB Claude-Code-shaped request through `rewrite` with the result cache off and on.
//! Target: ≤ 5 ms per 100 KB block. Run: `cargo bench -p headroom-compress --bench compress`.

use headroom_test_support::agent_session;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use headroom_compress::{
    diff::DiffCompressor, generic::GenericCompressor, json::JsonCompressor, log::LogCompressor,
    rewrite, search::SearchCompressor, tokens, ApiFormat, BlockInput, CompressionConfig,
    Compressor, Context, DiffConfig, GenericConfig, JsonConfig, LogConfig, Pipeline, SearchConfig,
};
use serde_json::{json, Value};
use std::hint::black_box;

const SIZE: usize = 100 * 1024;

fn fixture(name: &str) -> String {
    std::fs::read_to_string(agent_session::fixture_dir().join(format!("{name}.txt")))
        .unwrap_or_default()
}

/// Lines of `text` repeated (with a running suffix so repeats are not identical) up to `SIZE`.
fn lines_to_size(text: &str) -> String {
    let mut out = String::with_capacity(SIZE + 1024);
    let mut round = 0;
    while out.len() < SIZE {
        for line in text.lines() {
            if out.len() >= SIZE {
                break;
            }
            out.push_str(line);
            if round > 0 && !line.is_empty() {
                out.push_str(&format!(" r{round}"));
            }
            out.push('\n');
        }
        round += 1;
    }
    out
}

fn json_to_size() -> String {
    let rows: Vec<Value> = serde_json::from_str(&fixture("github_repos")).unwrap_or_default();
    let mut out: Vec<Value> = Vec::new();
    let mut i = 0;
    while serde_json::to_string_pretty(&out).map_or(0, |s| s.len()) < SIZE && !rows.is_empty() {
        let mut row = rows[i % rows.len()].clone();
        row["id"] = json!(i);
        out.push(row);
        i += 1;
    }
    serde_json::to_string_pretty(&out).unwrap_or_default()
}

fn diff_to_size() -> String {
    let mut out = String::new();
    let mut f = 0;
    while out.len() < SIZE {
        out.push_str(&format!("diff --git a/src/mod_{f}.rs b/src/mod_{f}.rs\n--- a/src/mod_{f}.rs\n+++ b/src/mod_{f}.rs\n@@ -1,60 +1,60 @@\n"));
        for k in 0..25 {
            out.push_str(&format!(" fn unchanged_{k}() {{ helper_{k}(); }}\n"));
        }
        out.push_str(&format!(
            "-    let limit = {f};\n+    let limit = {};\n",
            f + 1
        ));
        for k in 0..25 {
            out.push_str(&format!(" fn after_{k}() {{ helper_{k}(); }}\n"));
        }
        f += 1;
    }
    out
}

fn generic_to_size() -> String {
    let mut out = String::new();
    let mut k = 0;
    while out.len() < SIZE {
        out.push_str(&format!("progress: step {k} of the migration finished\n"));
        for _ in 0..20 {
            out.push_str("waiting for lock on table accounts...\n");
        }
        k += 1;
    }
    out
}

fn inputs() -> Vec<(&'static str, String, Box<dyn Compressor>)> {
    vec![
        (
            "json",
            json_to_size(),
            Box::new(JsonCompressor::new(JsonConfig::default())),
        ),
        (
            "log",
            lines_to_size(&fixture("java_service")),
            Box::new(LogCompressor::new(LogConfig::default())),
        ),
        (
            "search",
            lines_to_size(&fixture("rg_serde")),
            Box::new(SearchCompressor::new(SearchConfig::default())),
        ),
        (
            "diff",
            diff_to_size(),
            Box::new(DiffCompressor::new(DiffConfig::default())),
        ),
        (
            "generic",
            generic_to_size(),
            Box::new(GenericCompressor::new(GenericConfig::default())),
        ),
    ]
}

fn no_cache() -> CompressionConfig {
    CompressionConfig {
        cache_entries: 0,
        budget_ms: 10_000,
        ..CompressionConfig::default()
    }
}

fn per_compressor(c: &mut Criterion) {
    tokens::warm_up();
    let pipeline = Pipeline::new(no_cache(), None);
    let mut group = c.benchmark_group("compressor_100k");
    for (name, text, compressor) in inputs() {
        group.throughput(Throughput::Bytes(text.len() as u64));
        group.bench_with_input(BenchmarkId::new("alone", name), &text, |b, text| {
            b.iter(|| {
                compressor.compress(&BlockInput {
                    text: black_box(text),
                    task: "why did checkout fail",
                })
            })
        });
        group.bench_with_input(
            BenchmarkId::new("block_with_token_counts", name),
            &text,
            |b, text| b.iter(|| pipeline.compress_text(black_box(text), "why did checkout fail")),
        );
    }
    group.bench_function("exact_token_count_100k_log", |b| {
        let text = lines_to_size(&fixture("java_service"));
        b.iter(|| tokens::count(black_box(&text)))
    });
    // The same count through tiktoken-rs's full `CoreBPE`, the baseline the lean counter replaced.
    group.bench_function("exact_token_count_100k_log_tiktoken_rs", |b| {
        let text = lines_to_size(&fixture("java_service"));
        let bpe = tiktoken_rs::cl100k_base().expect("tiktoken-rs builds cl100k");
        b.iter(|| bpe.encode_ordinary(black_box(&text)).len())
    });
    group.finish();
}

/// A ~300 KB request: system, 22 tools, several big tool results of each kind.
pub fn big_request() -> Vec<u8> {
    let mut messages = vec![
        json!({"role": "user", "content": [{"type": "text", "text": "CI is red on main, what broke?"}]}),
    ];
    let outputs = [
        fixture("ci_log"),
        fixture("github_repos"),
        fixture("java_service"),
        fixture("rg_serde"),
        fixture("nginx_access"),
    ];
    for (i, out) in outputs.iter().enumerate() {
        messages.push(json!({"role": "assistant", "content": [{"type": "tool_use", "id": format!("t{i}"), "name": "Bash", "input": {"command": "x"}}]}));
        messages.push(json!({"role": "user", "content": [{"type": "tool_result", "tool_use_id": format!("t{i}"), "content": out}]}));
    }
    agent_session::request(&messages)
}

fn whole_request(c: &mut Criterion) {
    tokens::warm_up();
    let body = big_request();
    let mut group = c.benchmark_group("request");
    group.throughput(Throughput::Bytes(body.len() as u64));
    let cold = Pipeline::new(no_cache(), None);
    group.bench_function(format!("rewrite_{}kb_cold", body.len() / 1024), |b| {
        b.iter(|| {
            rewrite(
                black_box(&body),
                &Context {
                    format: ApiFormat::Anthropic,
                    pipeline: &cold,
                },
            )
        })
    });
    let warm = Pipeline::new(CompressionConfig::default(), None);
    let _ = rewrite(
        &body,
        &Context {
            format: ApiFormat::Anthropic,
            pipeline: &warm,
        },
    );
    group.bench_function(format!("rewrite_{}kb_cached", body.len() / 1024), |b| {
        b.iter(|| {
            rewrite(
                black_box(&body),
                &Context {
                    format: ApiFormat::Anthropic,
                    pipeline: &warm,
                },
            )
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(std::time::Duration::from_secs(3)).warm_up_time(std::time::Duration::from_secs(1));
    targets = per_compressor, whole_request
}
criterion_main!(benches);
