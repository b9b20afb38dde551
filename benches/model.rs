//! Benchmarks of the learned compressor on the real all-MiniLM-L6-v2 and ONNX Runtime (CPU).
//! Needs `scripts/setup-model.sh` to have run.
//!
//! - encoder throughput: tokens/s for batches of 32 unit heads of ~48 tokens, fp32 with 1 and
//!   2 intra-op threads, and the int8 copy when it was built;
//! - end to end: the relevance compressor on a 20 KB prose block (first sight; the pipeline's
//!   content-hash cache, which makes the second sight free, lives in `compress` and is not
//!   measured here).
//!
//! Run: `cargo bench --bench model`. A summary with ratios against the 1-thread fp32 baseline
//! is printed at the end.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use headroom::compress::text::{RelevanceCompressor, TextConfig};
use headroom::compress::{BlockInput, Compressor};
use headroom::model::{load_embedder, Device, Embedder, ModelConfig};
use headroom::model_glue::ModelEmbedder;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn embedder(model: &str, threads: usize) -> Option<Embedder> {
    let path = root().join("models/minilm").join(model);
    if !path.is_file() {
        eprintln!(
            "skipping {model}: {} missing (run scripts/setup-model.sh)",
            path.display()
        );
        return None;
    }
    let cfg = ModelConfig {
        device: Device::Cpu,
        threads,
        path: Some(path),
        tokenizer: Some(root().join("models/minilm/tokenizer.json")),
        ..ModelConfig::default()
    };
    match load_embedder(&cfg) {
        Ok((e, _)) => Some(e),
        Err(e) => {
            eprintln!("skipping {model}: {e}");
            None
        }
    }
}

fn guide() -> String {
    std::fs::read_to_string(root().join("tests/fixtures/model/operations_guide.md"))
        .expect("fixture")
}

/// 32 unit heads cut from the prose fixture, ~48 tokens each.
fn unit_heads() -> Vec<String> {
    let text = guide();
    let words: Vec<&str> = text.split_whitespace().collect();
    words.chunks(36).take(32).map(|c| c.join(" ")).collect()
}

/// A ~20 KB prose block: the fixture guide repeated, cut at a paragraph end.
fn prose_20kb() -> String {
    let g = guide();
    let mut s = String::new();
    while s.len() < 20_000 {
        s.push_str(&g);
        s.push('\n');
    }
    let cut = s[..20_000].rfind("\n\n").unwrap_or(20_000);
    s.truncate(cut + 1);
    s
}

const TASK: &str = "How do I rotate the TLS certificate without restarting the gateway?";
/// The start of the fixture's paragraph that answers TASK.
const ANSWER: &str = "To rotate the TLS certificate without restarting the gateway, upload";

fn tokens_in(e: &Embedder, texts: &[String]) -> u64 {
    texts
        .iter()
        .map(|t| e.count_tokens(t).unwrap_or(0).min(e.max_tokens()) as u64)
        .sum()
}

fn encoder(c: &mut Criterion) {
    let heads = unit_heads();
    let refs: Vec<&str> = heads.iter().map(String::as_str).collect();
    let mut group = c.benchmark_group("encoder");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(6));
    for (model, label) in [("model.onnx", "fp32"), ("model.int8.onnx", "int8")] {
        for threads in [1, 2] {
            let Some(e) = embedder(model, threads) else {
                continue;
            };
            group.throughput(Throughput::Elements(tokens_in(&e, &heads)));
            group.bench_function(format!("{label}/{threads}t/batch32"), |b| {
                b.iter(|| e.embed(&refs).expect("embeds"))
            });
        }
    }
    group.finish();
}

fn end_to_end(c: &mut Criterion) {
    let Some(e) = embedder("model.onnx", 1) else {
        return;
    };
    let compressor = RelevanceCompressor::new(Arc::new(ModelEmbedder(e)), TextConfig::default());
    let block = prose_20kb();
    let mut group = c.benchmark_group("relevance");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(8));
    group.bench_function("prose_20kb/fp32/1t/first_sight", |b| {
        b.iter(|| {
            compressor
                .compress(&BlockInput {
                    text: &block,
                    task: TASK,
                })
                .expect("ok")
        })
    });
    group.finish();
}

/// Median of `n` timed runs.
fn median(n: usize, mut f: impl FnMut()) -> Duration {
    f();
    let mut times: Vec<Duration> = (0..n)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect();
    times.sort();
    times[n / 2]
}

fn summary(_: &mut Criterion) {
    let heads = unit_heads();
    let refs: Vec<&str> = heads.iter().map(String::as_str).collect();
    println!("\nsummary (median of 15 runs; batches of 32 heads)");
    let mut baseline = None;
    for (model, label) in [("model.onnx", "fp32"), ("model.int8.onnx", "int8")] {
        for threads in [1, 2] {
            let Some(e) = embedder(model, threads) else {
                continue;
            };
            let tokens = tokens_in(&e, &heads) as f64;
            let t = median(15, || {
                e.embed(&refs).expect("embeds");
            });
            let rate = tokens / t.as_secs_f64();
            let base = *baseline.get_or_insert(rate);
            println!(
                "  encoder {label} {threads} thread(s): {rate:>7.0} tokens/s ({:>6.0} per thread), x{:.2} vs fp32/1t",
                rate / threads as f64,
                rate / base
            );
        }
    }
    let block = prose_20kb();
    for (model, label) in [("model.onnx", "fp32"), ("model.int8.onnx", "int8")] {
        for threads in [1, 2] {
            let Some(e) = embedder(model, threads) else {
                continue;
            };
            let compressor =
                RelevanceCompressor::new(Arc::new(ModelEmbedder(e)), TextConfig::default());
            let mut out = None;
            let t = median(15, || {
                out = compressor
                    .compress(&BlockInput {
                        text: &block,
                        task: TASK,
                    })
                    .expect("ok");
            });
            let out = out.unwrap_or_default();
            println!(
                "  relevance 20 KB prose ({} bytes), {label} {threads} thread(s), first sight: {:.1} ms; \
                 kept {:.0} % of bytes; answer paragraph kept: {}",
                block.len(),
                t.as_secs_f64() * 1e3,
                100.0 * out.len() as f64 / block.len() as f64,
                out.contains(ANSWER)
            );
        }
    }
}

/// First and second sight of the prose fixture (unrepeated: repeated text reads as a log) through the whole pipeline (walker, routing,
/// the learned compressor, the content-hash result cache), as the proxy runs it.
fn pipeline_second_sight(_: &mut Criterion) {
    use headroom::compress::{rewrite, ApiFormat, CompressionConfig, Context, Pipeline};
    let Some(e) = embedder("model.onnx", 1) else {
        return;
    };
    let compressor: Arc<dyn Compressor> = Arc::new(RelevanceCompressor::new(
        Arc::new(ModelEmbedder(e)),
        TextConfig::default(),
    ));
    let pipeline = Pipeline::new(CompressionConfig::default(), Some(compressor));
    let body = serde_json::to_vec(&serde_json::json!({
        "model": "claude-sonnet-4-5",
        "max_tokens": 1024,
        "messages": [
            {"role": "user", "content": TASK},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "Read", "input": {"path": "guide.md"}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": guide()}]}
        ]
    }))
    .expect("serialises");
    let ctx = Context {
        format: ApiFormat::Anthropic,
        pipeline: &pipeline,
    };
    let t = Instant::now();
    let first = rewrite(&body, &ctx);
    let first_ms = t.elapsed().as_secs_f64() * 1e3;
    let second = median(15, || {
        rewrite(&body, &ctx);
    });
    println!(
        "  pipeline, prose tool result: first sight {first_ms:.1} ms ({} -> {} bytes), second sight {:.3} ms (cached)",
        body.len(),
        first.body.as_ref().map_or(body.len(), Vec::len),
        second.as_secs_f64() * 1e3
    );
}

criterion_group!(benches, encoder, end_to_end, summary, pipeline_second_sight);
criterion_main!(benches);
