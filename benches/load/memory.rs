//! The load bench's memory part: headroom's RSS with the learned compressor, idle and after 100
//! compressions of distinct prose and source blocks (so the result cache never answers), for
//! each MiniLM file present (int8, the default when present, and fp32), with the model's
//! tokens/s from headroom's own metrics.

use std::path::Path;
use std::process::Command;

/// 100 distinct `/v1/messages` bodies, each with one tool result the relevance compressor
/// scores: the model fixtures with their paragraphs in a different order per request.
fn bodies(root: &Path) -> Vec<String> {
    let fixtures = root.join("tests/fixtures/model");
    let doc = std::fs::read_to_string(fixtures.join("operations_guide.md")).unwrap_or_default();
    let src = std::fs::read_to_string(fixtures.join("inventory.py")).unwrap_or_default();
    let paragraphs: Vec<&str> = doc.split("\n\n").filter(|p| !p.trim().is_empty()).collect();
    let tasks = [
        "How do I rotate the TLS certificate without restarting the gateway?",
        "Who approves routing changes?",
        "How long does a rollout take?",
        "Why does moving stock between warehouse locations get refused?",
    ];
    (0..100usize)
        .map(|i| {
            let text = if i % 3 == 0 {
                format!("{src}\n# revision {i}\n")
            } else {
                let mut p = paragraphs.clone();
                let shift = i % p.len().max(1);
                p.rotate_left(shift);
                if i % 2 == 0 {
                    p.reverse();
                }
                format!("{}\n\n(revision {i})", p.join("\n\n"))
            };
            serde_json::json!({
                "model": "claude-sonnet-4-5",
                "max_tokens": 256,
                "messages": [
                    {"role": "user", "content": tasks[i % tasks.len()]},
                    {"role": "assistant", "content": [{"type": "tool_use", "id": format!("t{i}"), "name": "Read", "input": {"path": "guide.md"}}]},
                    {"role": "user", "content": [{"type": "tool_result", "tool_use_id": format!("t{i}"), "content": text}]}
                ]
            })
            .to_string()
        })
        .collect()
}

fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(name))
        .filter_map(|l| l.split_whitespace().last()?.parse::<f64>().ok())
        .sum()
}

/// Runs the memory measurement against `upstream` on `port`, printing one line per model file.
pub fn run(dir: &Path, port: u16, upstream: &str) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let bodies = bodies(root);
    let minilm = root.join("models/minilm");
    for (file, label) in [("model.int8.onnx", "int8"), ("model.onnx", "fp32")] {
        let model = minilm.join(file);
        if !model.is_file() {
            println!(
                "headroom RSS ({label}): {} missing, skipped",
                model.display()
            );
            continue;
        }
        let extra = format!("model:\n  path: {}\n", model.display());
        let mut proxy = super::start_proxy(dir, port, upstream, &extra);
        let idle = super::rss_mb(proxy.id());
        let body_file = dir.join("body.json");
        for body in &bodies {
            let _ = std::fs::write(&body_file, body);
            let _ = Command::new("curl")
                .args([
                    "-s",
                    "-o",
                    "/dev/null",
                    "-H",
                    "content-type: application/json",
                ])
                .arg("--data-binary")
                .arg(format!("@{}", body_file.display()))
                .arg(format!("http://127.0.0.1:{port}/v1/messages"))
                .status();
        }
        let after = super::rss_mb(proxy.id());
        let metrics = Command::new("curl")
            .args(["-s", &format!("http://127.0.0.1:{port}/metrics")])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).to_string())
            .unwrap_or_default();
        let scored = metric(&metrics, "headroom_model_tokens_scored_total");
        let seconds = metric(&metrics, "headroom_model_inference_seconds_sum");
        let before = metric(
            &metrics,
            "headroom_compression_tokens_total{stage=\"before\"}",
        );
        let kept = metric(
            &metrics,
            "headroom_compression_tokens_total{stage=\"after\"}",
        );
        let speed = if scored > 0.0 {
            format!("model {:.0} tokens/s", scored / seconds)
        } else {
            "the model scored none of these blocks (other compressors took them)".to_string()
        };
        println!(
            "headroom RSS ({label} {file}): idle {idle:.1} MB, after 100 compressions {after:.1} MB; \
             {speed}; tool-result tokens {before:.0} -> {kept:.0}"
        );
        let _ = proxy.kill();
        let _ = proxy.wait();
    }
}
