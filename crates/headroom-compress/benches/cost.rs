//! What users pay: replays Claude-Code-shaped coding-agent sessions (24 turns, breakpoints on
//! the system prompt and the newest user block, 22 tools, varied tool outputs) directly and
//! through `compress::rewrite`, against a simulated Anthropic prompt cache, and compares
//! effective input cost = input + 1.25 × cache writes + 0.1 × cache reads.
//! Targets: ≤ 0.6× direct overall, never above 1× for any session.
//! Also prints tokens before/after per content type over the fixture corpus and needle survival
//! (target: ≥ 85 % fewer tokens, 100 % needles).
//! Run: `cargo bench -p headroom-compress --bench cost`.

use headroom_test_support::agent_session;
use headroom_test_support::prompt_cache;

use headroom_compress::{rewrite, tokens, ApiFormat, CompressionConfig, Context, Pipeline};
use prompt_cache::{PromptCache, Usage};
use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::Instant;

const SESSIONS: u64 = 10;
const TURNS: usize = 24;

fn main() -> ExitCode {
    // `cargo bench` passes `--bench`; nothing to parse.
    tokens::warm_up();
    let mut ok = true;
    ok &= sessions();
    ok &= corpus();
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn sessions() -> bool {
    let pipeline = Pipeline::new(CompressionConfig::default(), None);
    println!("== cost: {SESSIONS} sessions × {TURNS} turns, effective input cost = input + 1.25×write + 0.1×read");
    println!(
        "{:<9} {:>12} {:>12} {:>7}   {:>10} {:>10} {:>10}",
        "session", "direct", "headroom", "ratio", "input", "write", "read"
    );
    let (mut all_direct, mut all_proxy) = (0.0, 0.0);
    let mut worst: f64 = 0.0;
    let mut rewrite_ms = Vec::new();
    for seed in 1..=SESSIONS {
        let (mut direct, mut proxied) = (PromptCache::default(), PromptCache::default());
        let (mut ud, mut up) = (Usage::default(), Usage::default());
        for body in agent_session::session(seed, TURNS) {
            ud.add(direct.request(&body).unwrap_or_default());
            let started = Instant::now();
            let out = rewrite(
                &body,
                &Context {
                    format: ApiFormat::Anthropic,
                    pipeline: &pipeline,
                },
            );
            rewrite_ms.push(started.elapsed().as_secs_f64() * 1000.0);
            let sent = out.body.unwrap_or(body);
            up.add(proxied.request(&sent).unwrap_or_default());
        }
        let (cd, cp) = (ud.effective_cost(), up.effective_cost());
        let ratio = cp / cd;
        worst = worst.max(ratio);
        all_direct += cd;
        all_proxy += cp;
        println!(
            "{:<9} {:>12.0} {:>12.0} {:>6.3}×   {:>10} {:>10} {:>10}",
            format!("#{seed}"),
            cd,
            cp,
            ratio,
            up.input_tokens,
            up.cache_creation_input_tokens,
            up.cache_read_input_tokens
        );
    }
    let overall = all_proxy / all_direct;
    rewrite_ms.sort_by(f64::total_cmp);
    let pct = |p: f64| rewrite_ms[((rewrite_ms.len() - 1) as f64 * p) as usize];
    println!(
        "overall {:>12.0} {:>12.0} {:>6.3}×   (target ≤ 0.6×; worst session {:.3}×, target ≤ 1×)",
        all_direct, all_proxy, overall, worst
    );
    println!(
        "rewrite latency per request (shared pipeline, result cache on): p50 {:.2} ms, p95 {:.2} ms, max {:.2} ms",
        pct(0.5),
        pct(0.95),
        pct(1.0)
    );
    overall <= 0.6 && worst <= 1.0
}

fn corpus() -> bool {
    let pipeline = Pipeline::new(CompressionConfig::default(), None);
    println!("\n== quality over tests/fixtures/compress (exact cl100k counts)");
    println!(
        "{:<16} {:<7} {:>8} {:>8} {:>7} {:>8}",
        "fixture", "kind", "before", "after", "saved", "needles"
    );
    let mut by_kind: BTreeMap<&'static str, (usize, usize)> = BTreeMap::new();
    let (mut needles, mut kept, mut inflated) = (0, 0, 0);
    for (name, text, task, fixture_needles) in agent_session::fixtures() {
        let Ok(out) = pipeline.compress_text(&text, &task) else {
            println!("{name:<16} failed");
            continue;
        };
        let result = out.output.as_deref().unwrap_or(&text);
        let (before, after) = (tokens::count(&text), tokens::count(result));
        if after > before {
            inflated += 1;
        }
        let found = fixture_needles
            .iter()
            .filter(|n| result.contains(n.as_str()))
            .count();
        needles += fixture_needles.len();
        kept += found;
        let e = by_kind.entry(out.kind).or_default();
        e.0 += before;
        e.1 += after;
        println!(
            "{:<16} {:<7} {:>8} {:>8} {:>6.1}% {:>5}/{}",
            name,
            out.kind,
            before,
            after,
            100.0 * (1.0 - after as f64 / before as f64),
            found,
            fixture_needles.len()
        );
    }
    let (mut tb, mut ta) = (0, 0);
    for (kind, (b, a)) in &by_kind {
        println!(
            "kind {:<11} {:>8} → {:>7} tokens ({:.1} % fewer)",
            kind,
            b,
            a,
            100.0 * (1.0 - *a as f64 / *b as f64)
        );
        tb += b;
        ta += a;
    }
    let saved = 1.0 - ta as f64 / tb as f64;
    println!(
        "all             {:>8} → {:>7} tokens ({:.1} % fewer; target ≥ 85 %), needles {kept}/{needles}, inflated blocks {inflated}",
        tb,
        ta,
        saved * 100.0
    );
    saved >= 0.85 && kept == needles && inflated == 0
}
