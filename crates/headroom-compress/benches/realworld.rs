//! The rule-based pipeline (no model) over the real-output corpus in tests/fixtures/realworld/:
//! per case and per content type, tokens before and after, % saved, needles kept, and the time
//! one block takes at first sight (no result cache), median of several runs.
//!
//!     cargo bench -p headroom-compress --bench realworld
//!
//! The with-model column comes from `tests/fixtures/realworld/measure.py`, which drives the
//! `headroom` binary (the model runtime lives there, not in this crate).
//!
//! Must never: write into the corpus, or assert on timings (it reports them).

use headroom_compress::{CompressionConfig, Pipeline};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

const RUNS: usize = 5;

struct Row {
    name: String,
    kind: String,
    bytes: usize,
    detected: &'static str,
    before: usize,
    after: usize,
    needles: usize,
    kept: usize,
    ms: f64,
}

fn main() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/realworld");
    let mut dirs: Vec<PathBuf> = match std::fs::read_dir(&dir) {
        Ok(rd) => rd
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.join("input.txt").is_file())
            .collect(),
        Err(e) => {
            eprintln!("realworld: cannot read {}: {e}", dir.display());
            std::process::exit(1);
        }
    };
    dirs.sort();
    let pipeline = Pipeline::new(CompressionConfig::default(), None);
    let mut rows = Vec::new();
    for d in &dirs {
        let read = |f: &str| std::fs::read_to_string(d.join(f)).unwrap_or_default();
        let input = read("input.txt");
        let task = read("task.txt");
        let task = task.trim();
        let needles: Vec<String> = read("needles.txt")
            .lines()
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect();
        let meta: serde_json::Value = serde_json::from_str(&read("meta.json")).unwrap_or_default();
        let mut times = Vec::with_capacity(RUNS);
        let mut outcome = None;
        for _ in 0..RUNS {
            let t0 = Instant::now();
            let out = pipeline.compress_text(&input, task);
            times.push(t0.elapsed().as_secs_f64() * 1000.0);
            outcome = out.ok();
        }
        times.sort_by(f64::total_cmp);
        let Some(out) = outcome else {
            eprintln!("realworld: {} failed to compress", d.display());
            continue;
        };
        let text = out.output.as_deref().unwrap_or(&input);
        rows.push(Row {
            name: d
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            kind: meta["kind"].as_str().unwrap_or("?").to_string(),
            bytes: input.len(),
            detected: out.kind,
            before: out.tokens_before,
            after: out.tokens_after,
            needles: needles.len(),
            kept: needles.iter().filter(|n| text.contains(n.as_str())).count(),
            ms: times[RUNS / 2],
        });
    }
    print_cases(&rows);
    print_kinds(&rows);
    print_totals(&rows);
}

fn pct(before: usize, after: usize) -> f64 {
    if before == 0 {
        0.0
    } else {
        100.0 * (before as f64 - after as f64) / before as f64
    }
}

fn print_cases(rows: &[Row]) {
    println!(
        "{:<38} {:<21} {:>6} {:<12} {:>7} {:>7} {:>6} {:>7} {:>7}",
        "case", "kind", "KB", "detected", "before", "after", "saved", "needles", "ms"
    );
    for r in rows {
        println!(
            "{:<38} {:<21} {:>6.1} {:<12} {:>7} {:>7} {:>5.1}% {:>3}/{:<3} {:>7.2}",
            r.name,
            r.kind,
            r.bytes as f64 / 1024.0,
            r.detected,
            r.before,
            r.after,
            pct(r.before, r.after),
            r.kept,
            r.needles,
            r.ms
        );
    }
}

fn print_kinds(rows: &[Row]) {
    let mut kinds: BTreeMap<&str, Vec<&Row>> = BTreeMap::new();
    for r in rows {
        kinds.entry(r.kind.as_str()).or_default().push(r);
    }
    println!();
    println!(
        "{:<22} {:>5} {:>8} {:>8} {:>8} {:>7} {:>5} {:>10}",
        "content type", "cases", "before", "after", "total %", "mean %", "lost", "ms/100KB"
    );
    for (kind, rs) in &kinds {
        let b: usize = rs.iter().map(|r| r.before).sum();
        let a: usize = rs.iter().map(|r| r.after).sum();
        let mean = rs.iter().map(|r| pct(r.before, r.after)).sum::<f64>() / rs.len() as f64;
        let lost: usize = rs.iter().map(|r| r.needles - r.kept).sum();
        let bytes: usize = rs.iter().map(|r| r.bytes).sum();
        let ms: f64 = rs.iter().map(|r| r.ms).sum();
        println!(
            "{:<22} {:>5} {:>8} {:>8} {:>7.1}% {:>6.1}% {:>5} {:>10.2}",
            kind,
            rs.len(),
            b,
            a,
            pct(b, a),
            mean,
            lost,
            ms * 100.0 * 1024.0 / bytes.max(1) as f64
        );
    }
}

fn print_totals(rows: &[Row]) {
    let b: usize = rows.iter().map(|r| r.before).sum();
    let a: usize = rows.iter().map(|r| r.after).sum();
    let mean = rows.iter().map(|r| pct(r.before, r.after)).sum::<f64>() / rows.len().max(1) as f64;
    let needles: usize = rows.iter().map(|r| r.needles).sum();
    let kept: usize = rows.iter().map(|r| r.kept).sum();
    let inflated = rows.iter().filter(|r| r.after > r.before).count();
    let cc: Vec<&Row> = rows
        .iter()
        .filter(|r| (2048..=30 * 1024).contains(&r.bytes))
        .collect();
    let cc_mean = cc.iter().map(|r| pct(r.before, r.after)).sum::<f64>() / cc.len().max(1) as f64;
    let small: Vec<&Row> = rows.iter().filter(|r| r.bytes <= 30 * 1024).collect();
    let worst_small = small.iter().map(|r| r.ms).fold(0.0, f64::max);
    let bytes: usize = rows.iter().map(|r| r.bytes).sum();
    let ms: f64 = rows.iter().map(|r| r.ms).sum();
    println!();
    println!("cases: {}; inflated: {inflated}", rows.len());
    println!(
        "total: {b} → {a} tokens, {:.1} % saved; mean per case {mean:.1} %",
        pct(b, a)
    );
    println!("2–30 KB cases: {}, mean {cc_mean:.1} %", cc.len());
    println!("needles: {kept}/{needles} kept");
    println!(
        "time: {:.2} ms per 100 KB over the corpus; slowest block ≤ 30 KB: {worst_small:.2} ms",
        ms * 100.0 * 1024.0 / bytes.max(1) as f64
    );
}
