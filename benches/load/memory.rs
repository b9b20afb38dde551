//! The load bench's memory part: headroom's RSS with the learned compressor, idle and after 100
//! compressions of distinct prose blocks that reach the model (so the result cache never answers), for
//! each MiniLM file present (int8, the default when present, and fp32), with the model's
//! tokens/s from headroom's own metrics.

use std::path::Path;
use std::process::Command;

/// Real prose from the corpus (`tests/fixtures/realworld/`) as unwrapped paragraphs, the way
/// a web fetch or an SDK agent's document tool hands it over; with its question.
fn prose_sources(root: &Path) -> Vec<(Vec<String>, String)> {
    let cases = root.join("tests/fixtures/realworld");
    [
        "license_apache2",
        "license_gpl3",
        "man_tar",
        "man_git_log_large",
    ]
    .iter()
    .filter_map(|case| {
        let text = std::fs::read_to_string(cases.join(case).join("input.txt")).ok()?;
        let task = std::fs::read_to_string(cases.join(case).join("task.txt")).ok()?;
        let paragraphs: Vec<String> = text
            .split("\n\n")
            .map(|p| p.split_whitespace().collect::<Vec<_>>().join(" "))
            .filter(|p| p.split(' ').count() > 40)
            .collect();
        Some((paragraphs, task.trim().to_string()))
    })
    .collect()
}

/// 100 distinct `/v1/messages` bodies whose tool result is prose the rule-based document
/// compressor leaves to the learned one (5–6 long unwrapped paragraphs, under its 12 lines): windows
/// at different places in each source, never the same window twice, so the result
/// cache never answers and the model scores every block.
fn bodies(root: &Path) -> Vec<String> {
    let sources = prose_sources(root);
    let mut windows: Vec<(usize, usize, usize)> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for step in 0..10_000usize {
        if windows.len() >= 100 || sources.is_empty() {
            break;
        }
        let s = step % sources.len();
        let n = sources[s].0.len();
        let width = (5 + step % 2).min(n);
        let start = (step * 5) % (n - width + 1);
        if seen.insert((s, start, width)) {
            windows.push((s, start, width));
        }
    }
    windows
        .into_iter()
        .enumerate()
        .map(|(i, (s, start, width))| {
            let (paragraphs, task) = &sources[s];
            let text = paragraphs[start..start + width].join("\n\n");
            serde_json::json!({
                "model": "claude-sonnet-4-5",
                "max_tokens": 256,
                "messages": [
                    {"role": "user", "content": task},
                    {"role": "assistant", "content": [{"type": "tool_use", "id": format!("t{i}"), "name": "WebFetch", "input": {"url": "https://example.org/doc"}}]},
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
        let by_model = metric(
            &metrics,
            "headroom_compression_duration_seconds_count{compressor=\"text\"}",
        );
        let speed = if scored > 0.0 {
            format!("model {:.0} tokens/s", scored / seconds)
        } else {
            "the model scored none of these blocks (other compressors took them)".to_string()
        };
        let (anon, mapped) = super::rss_split_mb(proxy.id());
        println!(
            "headroom RSS ({label} {file}): idle {idle:.1} MB, after {} compressions {after:.1} MB \
             (anonymous {anon:.1} MB, file-backed {mapped:.1} MB); {by_model:.0} blocks compressed by \
             the model, {speed}; tool-result tokens {before:.0} -> {kept:.0}",
            bodies.len()
        );
        println!(
            "  resident by mapping ({label}): {}",
            by_mapping(proxy.id())
        );
        let _ = proxy.kill();
        let _ = proxy.wait();
    }
}

/// The largest resident mappings of `pid` from `/proc/PID/smaps`, merged by name (anonymous
/// mappings as `[anon]`, files by their base name), as `name MB` pairs, largest first.
fn by_mapping(pid: u32) -> String {
    let Ok(smaps) = std::fs::read_to_string(format!("/proc/{pid}/smaps")) else {
        return "(no /proc/PID/smaps)".to_string();
    };
    let mut totals: std::collections::BTreeMap<String, u64> = Default::default();
    let mut name = String::new();
    for line in smaps.lines() {
        let mut fields = line.split_whitespace();
        let first = fields.next().unwrap_or("");
        if first.contains('-') && first.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
            let path = fields.nth(4).unwrap_or("");
            name = match path.rsplit('/').next() {
                Some(base) if !base.is_empty() => base.to_string(),
                _ => "[anon]".to_string(),
            };
        } else if first == "Rss:" {
            let kb: u64 = fields.next().and_then(|v| v.parse().ok()).unwrap_or(0);
            *totals.entry(name.clone()).or_default() += kb;
        }
    }
    let mut rows: Vec<(String, u64)> = totals.into_iter().collect();
    rows.sort_by_key(|row| std::cmp::Reverse(row.1));
    rows.iter()
        .take(8)
        .map(|(n, kb)| format!("{n} {:.1}", *kb as f64 / 1024.0))
        .collect::<Vec<_>>()
        .join(", ")
}
