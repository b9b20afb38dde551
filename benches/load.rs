//! Load benchmark: the same small `/v1/messages` POSTs sent with `wrk` straight to a fast
//! upstream (nginx), through a bare Pingora passthrough on the system allocator (`pingora`) and
//! on headroom's allocator, mimalloc (`pingora-mi`), and through headroom, at 1 and 32
//! connections, in one run with the paths interleaved round by round (the order rotating
//! each round). Prints req/s and p50/p99 latency (medians over the rounds), headroom's req/s as
//! a ratio to both bare Pingoras and to direct, the latency each proxy adds over direct, the CPU time
//! each proxy process spent per request (user + system, from `/proc/PID/stat`: steadier than
//! req/s when other work shares the cores), the proxy's RSS idle and under load, and its RSS
//! with the learned compressor idle and after 100 compressions (int8 and fp32 files).
//!
//! Run: `cargo bench --bench load` (needs `wrk` and `curl`, from `scripts/setup.sh`, and `nginx`
//! for the upstream: `apt-get install nginx`, which on Debian also starts a system nginx on port
//! 80 — stop it if unwanted; without nginx the in-process fake upstream stands in, and the
//! header line says so).
//! Env: `LOAD_SECONDS` (default 5) per measurement, `LOAD_ROUNDS` (default 3) rounds,
//! `LOAD_PARTS` (default `load,memory`): `memory` alone measures only the RSS rows;
//! `LOAD_HEADROOM_YAML`: config lines added to headroom's (default none: the default config),
//! e.g. `$'log:\n  level: warn\nmodel:\n  enabled: false'` for the builds comparison's;
//! `LOAD_ALSO_YAML`: runs a second headroom (`headroom-b`) with these config lines in the same
//! rounds, and prints its ratios to bare Pingora and to the first: two configs compared in one
//! run (runs differ more on this kind of machine than most config changes do);
//! `LOAD_FRESH=0` keeps one set of proxy processes for the whole run instead of starting them
//! afresh (and warming them) every round. Besides the medians it prints headroom's ratios to
//! bare Pingora paired within each round: their median and their spread over the rounds; and
//! the same over the quiet rounds only, those in which neither window lost more than
//! `LOAD_QUIET_STEAL` percent (default 1) of the machine's CPU time to steal (the hypervisor
//! running other guests on its cores; each window's share is in the table's last column).
//! `LOAD_QUIET_ROUNDS=K` goes on past `LOAD_ROUNDS` until K rounds were quiet, up to
//! `LOAD_MAX_ROUNDS` (default four times `LOAD_ROUNDS`): enough quiet rounds for the quiet line
//! on a noisy host.

#[path = "load/allocator.rs"]
mod allocator;
#[path = "load/bare_pingora.rs"]
mod bare_pingora;
#[path = "load/memory.rs"]
mod memory;
#[path = "load/upstream.rs"]
mod upstream;

use headroom_test_support::fake_upstream;

use std::process::{Command, Stdio};
use std::time::Duration;

#[global_allocator]
static ALLOCATOR: allocator::Chosen = allocator::Chosen;

#[derive(Clone, Copy)]
struct WrkResult {
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
    errors: u64,
    /// Requests wrk completed in the run.
    requests: f64,
    /// CPU time the proxy process spent per request in the run, in µs (NaN: not measured).
    cpu_us: f64,
    /// The share of the machine's CPU time the hypervisor gave other guests during the run
    /// (steal, from `/proc/stat`; NaN: not measured).
    steal: f64,
}

fn wrk(port: u16, conns: u32, seconds: u64, script: &std::path::Path) -> WrkResult {
    let threads = conns.min(2);
    let out = Command::new("wrk")
        .args([
            "-t",
            &threads.to_string(),
            "-c",
            &conns.to_string(),
            "-d",
            &format!("{seconds}s"),
            "--latency",
            "-s",
        ])
        .arg(script)
        .arg(format!("http://127.0.0.1:{port}/v1/messages"))
        .output()
        .expect("wrk runs (apt-get install wrk)");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let find = |prefix: &str| -> Option<String> {
        text.lines()
            .map(str::trim)
            .find(|l| l.starts_with(prefix))
            .map(|l| l.to_string())
    };
    let ms = |v: &str| -> f64 {
        let v = v.trim();
        if let Some(x) = v.strip_suffix("us") {
            x.parse::<f64>().unwrap_or(f64::NAN) / 1000.0
        } else if let Some(x) = v.strip_suffix("ms") {
            x.parse().unwrap_or(f64::NAN)
        } else if let Some(x) = v.strip_suffix('s') {
            x.parse::<f64>().unwrap_or(f64::NAN) * 1000.0
        } else {
            f64::NAN
        }
    };
    let pct = |p: &str| {
        find(p)
            .and_then(|l| l.split_whitespace().nth(1).map(ms))
            .unwrap_or(f64::NAN)
    };
    let rps = find("Requests/sec:")
        .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        .unwrap_or(f64::NAN);
    let errors = find("Non-2xx or 3xx responses:")
        .and_then(|l| l.split_whitespace().last().and_then(|v| v.parse().ok()))
        .unwrap_or(0)
        + find("Socket errors:")
            .map(|l| {
                l.split(|c: char| !c.is_ascii_digit())
                    .filter_map(|n| n.parse::<u64>().ok())
                    .sum()
            })
            .unwrap_or(0);
    // "  123456 requests in 5.00s, 45.6MB read"
    let requests = text
        .lines()
        .find(|l| l.contains(" requests in "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(f64::NAN);
    WrkResult {
        rps,
        p50_ms: pct("50%"),
        p99_ms: pct("99%"),
        errors,
        requests,
        cpu_us: f64::NAN,
        steal: f64::NAN,
    }
}

/// The machine's steal and total CPU time so far (all CPUs, in ticks), from `/proc/stat`'s
/// `cpu` line: user nice system idle iowait irq softirq steal ...
fn machine_ticks() -> Option<(f64, f64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().next()?.strip_prefix("cpu ")?;
    let t: Vec<f64> = line
        .split_whitespace()
        .take(8)
        .map(|v| v.parse().ok())
        .collect::<Option<_>>()?;
    (t.len() == 8).then(|| (t[7], t.iter().sum()))
}

/// The share of CPU time stolen between two [`machine_ticks`] readings.
fn steal_share(before: Option<(f64, f64)>, after: Option<(f64, f64)>) -> f64 {
    match (before, after) {
        (Some((s0, t0)), Some((s1, t1))) if t1 > t0 => (s1 - s0) / (t1 - t0),
        _ => f64::NAN,
    }
}

/// User + system CPU time of process `pid` (all its threads) so far, in µs.
fn cpu_us(pid: u32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return f64::NAN;
    };
    // Fields after the command name (which may hold spaces) closed by the last ')'.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line: 12 and 13 after the name.
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok());
    // SAFETY: sysconf only reads a system constant.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    match (ticks(11), ticks(12)) {
        (Some(u), Some(s)) if hz > 0.0 => (u + s) / hz * 1e6,
        _ => f64::NAN,
    }
}

/// One `/proc/PID/status` figure (`VmRSS`, `RssAnon`, ...) in MB.
fn status_mb(pid: u32, key: &str) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.strip_prefix(key).is_some_and(|r| r.starts_with(':')))
                .and_then(|l| {
                    l.split_whitespace()
                        .nth(1)
                        .and_then(|v| v.parse::<f64>().ok())
                })
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

fn rss_mb(pid: u32) -> f64 {
    status_mb(pid, "VmRSS")
}

/// Resident memory split into anonymous (heap, stacks) and file-backed (the binary, ONNX
/// Runtime's library, memory-mapped weights) MB.
fn rss_split_mb(pid: u32) -> (f64, f64) {
    (status_mb(pid, "RssAnon"), status_mb(pid, "RssFile"))
}

/// Starts the benchmarked binary on `port` with `extra` config, and waits until it is idle.
fn start_proxy(
    dir: &std::path::Path,
    port: u16,
    upstream: &str,
    extra: &str,
) -> std::process::Child {
    let config = dir.join("headroom.yaml");
    std::fs::write(
        &config,
        format!(
            "listen: 127.0.0.1:{port}\nupstreams:\n  anthropic: {upstream}\n  openai: {upstream}\nstats:\n  path: {}\n{extra}",
            dir.join("stats.json").display()
        ),
    )
    .unwrap();
    // The default log level, `info`: every request leaves its access line in a log file, as
    // under the LaunchAgent or a systemd unit writing to a file.
    let log = std::fs::File::create(dir.join("headroom.log")).expect("create the proxy's log");
    let proxy = Command::new(env!("CARGO_BIN_EXE_headroom"))
        .arg("-c")
        .arg(&config)
        .env("HOME", dir)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start headroom");
    wait_for(port);
    proxy
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

fn wait_for(port: u16) {
    for _ in 0..200 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    std::thread::sleep(Duration::from_millis(300));
}

/// The median, lowest and highest of `v` (not empty).
fn spread(mut v: Vec<f64>) -> (f64, f64, f64) {
    v.sort_by(|a, b| a.total_cmp(b));
    (v[v.len() / 2], v[0], v[v.len() - 1])
}

/// The median of each figure over the rounds.
fn median(runs: &[WrkResult]) -> WrkResult {
    let mid = |f: fn(&WrkResult) -> f64| spread(runs.iter().map(f).collect()).0;
    WrkResult {
        rps: mid(|r| r.rps),
        p50_ms: mid(|r| r.p50_ms),
        p99_ms: mid(|r| r.p99_ms),
        errors: runs.iter().map(|r| r.errors).sum(),
        requests: mid(|r| r.requests),
        cpu_us: mid(|r| r.cpu_us),
        steal: mid(|r| r.steal),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--bare-pingora") {
        match (args.get(i + 1), args.get(i + 2)) {
            (Some(listen), Some(up)) => {
                if std::env::var(allocator::VARIABLE).as_deref() == Ok("mimalloc") {
                    headroom::allocator::tune();
                }
                bare_pingora::run(listen, up, args.iter().any(|a| a == "--timeouts"))
            }
            _ => {
                eprintln!("usage: load --bare-pingora LISTEN_ADDR UPSTREAM_ADDR [--timeouts]");
                std::process::exit(2);
            }
        }
    }
    if args.iter().any(|a| a == "--list" || a == "--test") {
        return; // `cargo test --benches` / libtest probes: nothing to list
    }
    let seconds = env_number("LOAD_SECONDS", 5);
    let rounds = env_number("LOAD_ROUNDS", 3).max(1) as usize;
    let parts = std::env::var("LOAD_PARTS").unwrap_or_else(|_| "load,memory".to_string());
    let dir = tempfile::tempdir().unwrap();
    let up = upstream::Upstream::start(dir.path(), free_port());
    let up_url = format!("http://127.0.0.1:{}", up.port());
    if parts.split(',').any(|p| p.trim() == "load") {
        load(dir.path(), &up, &up_url, seconds, rounds);
    }
    if parts.split(',').any(|p| p.trim() == "memory") {
        memory::run(dir.path(), free_port(), &up_url);
    }
}

/// A whole number from the environment, or `default` when unset or not a number.
fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The req/s and latency part: direct vs bare Pingora vs headroom, interleaved round by round.
fn load(dir: &std::path::Path, up: &upstream::Upstream, up_url: &str, seconds: u64, rounds: usize) {
    let start_bare = |allocator: &str| {
        let port = free_port();
        let child = Command::new(std::env::current_exe().expect("the bench's own path"))
            .args(["--bare-pingora", &format!("127.0.0.1:{port}")])
            .arg(format!("127.0.0.1:{}", up.port()))
            .env(allocator::VARIABLE, allocator)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the bare Pingora proxy");
        wait_for(port);
        (child, port)
    };
    // The issue's baseline (the system allocator), and the same passthrough on headroom's
    // allocator (mimalloc): headroom's own cost, allocator aside. Then headroom, and a second
    // headroom with LOAD_ALSO_YAML's config lines (two configs compared under the same
    // conditions, each in its own directory: its own stats and log). In path order after
    // `direct`: pingora, pingora-mi, headroom, headroom-b.
    let extra = std::env::var("LOAD_HEADROOM_YAML").unwrap_or_default();
    let also_yaml = std::env::var("LOAD_ALSO_YAML").ok();
    let also_dir = dir.join("also");
    let start_fleet = || -> Vec<(std::process::Child, u16)> {
        let mut fleet = vec![start_bare("system"), start_bare("mimalloc")];
        let port = free_port();
        fleet.push((start_proxy(dir, port, up_url, &extra), port));
        if let Some(yaml) = &also_yaml {
            std::fs::create_dir_all(&also_dir).expect("the second headroom's directory");
            let port = free_port();
            fleet.push((start_proxy(&also_dir, port, up_url, yaml), port));
        }
        fleet
    };
    let stop_fleet = |fleet: &mut Vec<(std::process::Child, u16)>| {
        for (c, _) in fleet.iter_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
        fleet.clear();
    };
    // Fresh processes every round (default): a process keeps its placement (threads on cores,
    // memory layout) for its whole life, so with one set per run every round measured the same
    // draw of it; restarting lets the rounds sample it as they sample the machine's moments.
    let fresh = std::env::var("LOAD_FRESH").map_or(true, |v| v != "0");
    let quiet_steal = std::env::var("LOAD_QUIET_STEAL")
        .ok()
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(1.0)
        / 100.0;
    // With LOAD_QUIET_ROUNDS=K, rounds go on past LOAD_ROUNDS until K of them were quiet (see
    // the quiet line below), up to LOAD_MAX_ROUNDS (default four times LOAD_ROUNDS).
    let quiet_wanted = env_number("LOAD_QUIET_ROUNDS", 0) as usize;
    let max_rounds = (env_number("LOAD_MAX_ROUNDS", 4 * rounds as u64) as usize).max(rounds);
    let is_quiet = |h: &WrkResult, b: &WrkResult| h.steal <= quiet_steal && b.steal <= quiet_steal;
    let mut fleet = start_fleet();
    let idle_rss = rss_mb(fleet[2].0.id());

    let body = r#"{"model":"claude-sonnet-4-5","max_tokens":256,"messages":[{"role":"user","content":"What does this function return when the list is empty?"}]}"#;
    let script = dir.join("post.lua");
    std::fs::write(
        &script,
        format!(
            "wrk.method = \"POST\"\nwrk.headers[\"content-type\"] = \"application/json\"\nwrk.headers[\"anthropic-version\"] = \"2023-06-01\"\nwrk.body = '{body}'\n"
        ),
    )
    .unwrap();

    let more = if quiet_wanted > 0 {
        format!(" (then more, up to {max_rounds}, until {quiet_wanted} are quiet)")
    } else {
        String::new()
    };
    println!(
        "headroom load benchmark: small /v1/messages POSTs, {rounds} interleaved rounds{more} of {seconds}s per path, upstream: {}",
        up.name()
    );
    println!(
        "{:<6} {:<9} {:>10} {:>9} {:>9} {:>7} {:>8}",
        "conns", "path", "req/s", "p50 ms", "p99 ms", "errors", "steal %"
    );
    let mut peak_rss = idle_rss;
    let names: Vec<&str> =
        ["direct", "pingora", "pingora-mi", "headroom", "headroom-b"][..fleet.len() + 1].to_vec();
    // Each path: its name, port, and the proxy process whose CPU time is measured.
    let paths_of = |fleet: &[(std::process::Child, u16)]| -> Vec<(&str, u16, Option<u32>)> {
        let mut paths = vec![("direct", up.port(), None)];
        for (name, (c, p)) in names[1..].iter().zip(fleet) {
            paths.push((*name, *p, Some(c.id())));
        }
        paths
    };
    let also_at = (fleet.len() == 4).then_some(4);
    let mut paths = paths_of(&fleet);
    for conns in [1u32, 32] {
        let mut runs: Vec<Vec<WrkResult>> = vec![Vec::new(); paths.len()];
        let quiet_so_far = |runs: &[Vec<WrkResult>]| {
            (0..runs[3].len())
                .filter(|&k| is_quiet(&runs[3][k], &runs[1][k]))
                .count()
        };
        let mut round = 0;
        while round < rounds || (quiet_so_far(&runs) < quiet_wanted && round < max_rounds) {
            if fresh && (round > 0 || conns > 1) {
                stop_fleet(&mut fleet);
                fleet = start_fleet();
                paths = paths_of(&fleet);
            }
            // Warm every path (connection pools, page cache) before measuring.
            if fresh || round == 0 {
                for &(_, p, _) in &paths {
                    wrk(p, conns, 1, &script);
                }
            }
            // The order rotates each round, so each path runs in each place of a round equally
            // often (over a multiple of the number of paths in rounds) and none always follows
            // the same one.
            for k in 0..paths.len() {
                let i = (k + round) % paths.len();
                let (name, p, pid) = paths[i];
                let sampler = (name == "headroom").then(|| {
                    let pid = pid.unwrap_or(0);
                    std::thread::spawn(move || {
                        let mut peak = 0f64;
                        for _ in 0..(seconds * 4) {
                            std::thread::sleep(Duration::from_millis(250));
                            peak = peak.max(rss_mb(pid));
                        }
                        peak
                    })
                });
                let cpu_before = pid.map(cpu_us);
                let ticks_before = machine_ticks();
                let mut r = wrk(p, conns, seconds, &script);
                r.steal = steal_share(ticks_before, machine_ticks());
                if let (Some(pid), Some(before)) = (pid, cpu_before) {
                    r.cpu_us = (cpu_us(pid) - before) / r.requests;
                }
                runs[i].push(r);
                if let Some(s) = sampler {
                    peak_rss = peak_rss.max(s.join().unwrap_or(0.0));
                }
            }
            round += 1;
        }
        let medians: Vec<WrkResult> = runs.iter().map(|r| median(r)).collect();
        let (direct, bare_r, bare_mi_r, via) = (medians[0], medians[1], medians[2], medians[3]);
        for ((name, _, _), r) in paths.iter().zip(&medians) {
            println!(
                "{:<6} {:<9} {:>10.0} {:>9.3} {:>9.3} {:>7} {:>8.1}",
                conns,
                name,
                r.rps,
                r.p50_ms,
                r.p99_ms,
                r.errors,
                r.steal * 100.0
            );
        }
        println!(
            "{:<6} {:<9} headroom/pingora req/s = {:.3}, headroom/direct = {:.3}, pingora/direct = {:.3}",
            conns,
            "ratio",
            via.rps / bare_r.rps,
            via.rps / direct.rps,
            bare_r.rps / direct.rps,
        );
        if let Some(b) = also_at.map(|i| medians[i]) {
            println!(
                "{:<6} {:<9} headroom-b (LOAD_ALSO_YAML): headroom-b/pingora req/s = {:.3}, headroom-b/headroom = {:.3}, CPU per request {:.1} µs (headroom-b/headroom = {:.3})",
                conns,
                "ratio",
                b.rps / bare_r.rps,
                b.rps / via.rps,
                b.cpu_us,
                b.cpu_us / via.cpu_us,
            );
        }
        println!(
            "{:<6} {:<9} same allocator: headroom/pingora-mi req/s = {:.3}, pingora-mi/pingora = {:.3}",
            conns,
            "ratio",
            via.rps / bare_mi_r.rps,
            bare_mi_r.rps / bare_r.rps,
        );
        println!(
            "{:<6} {:<9} CPU per request: pingora {:.1} µs, pingora-mi {:.1} µs, headroom {:.1} µs (headroom/pingora = {:.3}, headroom/pingora-mi = {:.3})",
            conns,
            "cpu",
            bare_r.cpu_us,
            bare_mi_r.cpu_us,
            via.cpu_us,
            via.cpu_us / bare_r.cpu_us,
            via.cpu_us / bare_mi_r.cpu_us,
        );
        // Paired within each round (the same minute of the machine), then the median and the
        // spread over the rounds: how far one round's ratio can land from the run's.
        let all: Vec<usize> = (0..runs[3].len()).collect();
        let paired = |rounds: &[usize], f: fn(&WrkResult, &WrkResult) -> f64| {
            spread(
                rounds
                    .iter()
                    .map(|&k| f(&runs[3][k], &runs[1][k]))
                    .collect(),
            )
        };
        let rps_ratio = |h: &WrkResult, b: &WrkResult| h.rps / b.rps;
        let cpu_ratio = |h: &WrkResult, b: &WrkResult| h.cpu_us / b.cpu_us;
        let (rps_mid, rps_lo, rps_hi) = paired(&all, rps_ratio);
        let (cpu_mid, cpu_lo, cpu_hi) = paired(&all, cpu_ratio);
        println!(
            "{:<6} {:<9} per round: headroom/pingora req/s median {:.3} (rounds {:.3}–{:.3}), CPU per request median {:.3} ({:.3}–{:.3}); processes {}",
            conns,
            "rounds",
            rps_mid,
            rps_lo,
            rps_hi,
            cpu_mid,
            cpu_lo,
            cpu_hi,
            if fresh { "fresh each round" } else { "kept for the run (LOAD_FRESH=0)" },
        );
        // The rounds in which the hypervisor left both windows their CPUs: on a shared host
        // the steal swings from none to a tenth of the machine within a minute, and a window
        // that lost CPU time loses far more req/s than its share.
        let quiet: Vec<usize> = all
            .iter()
            .copied()
            .filter(|&k| is_quiet(&runs[3][k], &runs[1][k]))
            .collect();
        if quiet.is_empty() {
            println!(
                "{:<6} {:<9} no round of {} had both windows at or under {:.1} % steal (LOAD_QUIET_STEAL; none if /proc/stat has no steal): more rounds, or a quieter host",
                conns,
                "quiet",
                all.len(),
                quiet_steal * 100.0,
            );
        } else {
            let (q_mid, q_lo, q_hi) = paired(&quiet, rps_ratio);
            let (qc_mid, _, _) = paired(&quiet, cpu_ratio);
            let (qp_mid, _, _) = paired(&quiet, |h, b| h.p50_ms - b.p50_ms);
            println!(
                "{:<6} {:<9} {} of {} rounds with both windows at or under {:.1} % steal (LOAD_QUIET_STEAL): headroom/pingora req/s median {:.3} ({:.3}–{:.3}), CPU per request median {:.3}, p50 headroom - pingora median {:+.3} ms",
                conns,
                "quiet",
                quiet.len(),
                all.len(),
                quiet_steal * 100.0,
                q_mid,
                q_lo,
                q_hi,
                qc_mid,
                qp_mid,
            );
        }
        println!(
            "{:<6} {:<9} added p50: pingora {:.3} ms, headroom {:.3} ms (headroom - pingora = {:+.3} ms); added p99: pingora {:.3} ms, headroom {:.3} ms",
            conns,
            "latency",
            bare_r.p50_ms - direct.p50_ms,
            via.p50_ms - direct.p50_ms,
            via.p50_ms - bare_r.p50_ms,
            bare_r.p99_ms - direct.p99_ms,
            via.p99_ms - direct.p99_ms,
        );
    }
    let config = if extra.is_empty() {
        "default config, learned compressor loaded"
    } else {
        "default config with LOAD_HEADROOM_YAML"
    };
    println!("headroom RSS ({config}): idle {idle_rss:.1} MB, peak under load {peak_rss:.1} MB");
    stop_fleet(&mut fleet);

    // The same proxy without the learned compressor (rule-based compression only).
    let mut proxy = start_proxy(dir, free_port(), up_url, "model:\n  enabled: false\n");
    println!(
        "headroom RSS (model.enabled: false): idle {:.1} MB",
        rss_mb(proxy.id())
    );
    let _ = proxy.kill();
    let _ = proxy.wait();
}
