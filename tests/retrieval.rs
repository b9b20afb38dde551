//! Retrieval through the real proxy: a real tool output is compressed, the id its markers carry
//! fetches the exact original (whole, by lines, by query) from `GET /v1/retrieve/{id}` and from
//! `headroom retrieve`, after a restart too; only local callers get it; markers stay
//! byte-identical over a session.

use headroom_test_support as support;
use headroom_test_support::agent_session;
use serde_json::{json, Value};
use std::process::Command;
use support::fake_upstream::FakeUpstream;
use support::*;

fn fixture(path: &str) -> String {
    std::fs::read_to_string(checkout().join("tests/fixtures").join(path)).unwrap()
}

/// Sends one tool result through the proxy; returns what the upstream got for it.
fn compress_through(
    proxy: &Proxy,
    up: &FakeUpstream,
    task: &str,
    tool: &str,
    output: &str,
) -> String {
    let messages = vec![
        json!({"role": "user", "content": [{"type": "text", "text": task}]}),
        json!({"role": "assistant", "content": [
            {"type": "tool_use", "id": "toolu_01", "name": tool, "input": {}}
        ]}),
        json!({"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_01", "content": output}]}),
    ];
    let r = proxy.post_json("/v1/messages", &agent_session::request(&messages));
    assert_eq!(r.status, 200, "{}", r.text());
    let sent: Value = up.last().unwrap().json();
    sent["messages"][2]["content"][0]["content"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Every id the markers of `text` carry.
fn ids(text: &str) -> Vec<String> {
    let mut out: Vec<String> = text
        .match_indices(" · id ")
        .map(|(at, m)| text[at + m.len()..].chars().take(12).collect())
        .collect();
    out.dedup();
    out
}

/// A proxy with `extra` config, and the CI log it compressed: (upstream, proxy, log, sent).
fn ci_log_through(extra: &str) -> (FakeUpstream, Proxy, String, String) {
    let up = FakeUpstream::start();
    let proxy = Proxy::start(&format!("{}{extra}", upstreams(&up.url())));
    let output = fixture("compress/ci_log.txt");
    let task = "CI is red on main, what broke?";
    let sent = compress_through(&proxy, &up, task, "Bash", &output);
    (up, proxy, output, sent)
}

fn retrieve(proxy: &Proxy, path: &str) -> Response {
    proxy.get(&format!("/v1/retrieve/{path}"))
}

#[test]
fn the_marker_id_fetches_the_exact_original_whole_and_in_slices() {
    let up = FakeUpstream::start();
    let proxy = Proxy::start(&upstreams(&up.url()));
    let output = fixture("compress/ci_log.txt");
    let sent = compress_through(
        &proxy,
        &up,
        "CI is red on main, what broke?",
        "Bash",
        &output,
    );
    let found = ids(&sent);
    assert_eq!(found.len(), 1, "one block, one id: {sent}");
    let id = &found[0];
    // The first marker states the id; later ones refer to it.
    let markers: Vec<&str> = sent.lines().filter(|l| l.starts_with("[… ")).collect();
    assert!(markers.len() > 1, "{sent}");
    assert!(
        markers[0].ends_with(&format!(" · id {id} …]")),
        "{}",
        markers[0]
    );
    for line in &markers[1..] {
        assert!(line.ends_with(" · same id …]"), "{line}");
    }

    let whole = retrieve(&proxy, id);
    assert_eq!(whole.status, 200, "{}", whole.text());
    assert_eq!(whole.header("content-type"), Some("application/json"));
    let v = whole.json();
    assert_eq!(v["id"], id.as_str());
    assert_eq!(v["content"].as_str(), Some(output.as_str()));
    assert_eq!(v["compressor"], "log");
    assert!(v["tokens"].as_u64().unwrap() > 1000, "{}", v["tokens"]);

    let lines: Vec<&str> = output.split_inclusive('\n').collect();
    let part = retrieve(&proxy, &format!("{id}?lines=20-24")).json();
    assert_eq!(
        part["content"].as_str(),
        Some(lines[19..24].concat().as_str())
    );
    assert!(part["tokens"].as_u64().unwrap() < v["tokens"].as_u64().unwrap());

    let hits = retrieve(&proxy, &format!("{id}?query=error+FAILED")).json();
    let text = hits["content"].as_str().unwrap();
    assert!(
        text.lines().any(|l| l.to_lowercase().contains("error")),
        "{text}"
    );
    for l in text.lines().filter(|l| *l != "--") {
        assert!(
            output.lines().any(|o| o == l),
            "not a line of the original: {l}"
        );
    }
    assert!(text.len() < output.len());

    let bad = retrieve(&proxy, &format!("{id}?lines=30-10"));
    assert_eq!(bad.status, 400, "{}", bad.text());
    assert_eq!(bad.json()["error"]["type"], "invalid_request_error");
    assert!(bad.text().contains("30-10"));
}

#[test]
fn read_output_slices_by_the_files_own_line_numbers() {
    let up = FakeUpstream::start();
    let proxy = Proxy::start(&upstreams(&up.url()));
    let case = "realworld/rust_read_pingora_proxy_trait_offset";
    let output = fixture(&format!("{case}/input.txt"));
    let task = fixture(&format!("{case}/task.txt"));
    let sent = compress_through(&proxy, &up, task.trim(), "Read", &output);
    let id = ids(&sent).pop().expect("an id");
    // A marker states a range of the file's lines; those lines come back.
    let marker = sent
        .lines()
        .find(|l| l.starts_with("[… lines "))
        .unwrap_or_else(|| panic!("no line-range marker: {sent}"));
    let range = marker["[… lines ".len()..].split(' ').next().unwrap();
    let (a, b) = range.split_once('–').unwrap();
    let (a, b): (usize, usize) = (a.parse().unwrap(), b.parse().unwrap());
    let got = retrieve(&proxy, &format!("{id}?lines={a}-{b}")).json();
    let want: String = output
        .split_inclusive('\n')
        .filter(|l| {
            l.split_once('\t')
                .and_then(|(n, _)| n.parse::<usize>().ok())
                .is_some_and(|n| (a..=b).contains(&n))
        })
        .collect();
    assert!(!want.is_empty());
    assert_eq!(got["content"].as_str(), Some(want.as_str()), "{marker}");
    assert!(want.starts_with(&format!("{a}\t")));
}

#[test]
fn only_local_callers_get_originals_and_misses_are_provider_shaped() {
    let up = FakeUpstream::start();
    let proxy = Proxy::start(&upstreams(&up.url()));
    let output = fixture("compress/ci_log.txt");
    let id = ids(&compress_through(
        &proxy,
        &up,
        "what broke?",
        "Bash",
        &output,
    ))
    .remove(0);
    let path = format!("/v1/retrieve/{id}");
    let raw = raw_exchange(
        proxy.port,
        format!(
            "GET {path} HTTP/1.1\r\nhost: rebind.example:{}\r\nconnection: close\r\n\r\n",
            proxy.port
        )
        .as_bytes(),
        std::time::Duration::from_secs(5),
    );
    let raw = String::from_utf8_lossy(&raw);
    assert!(raw.starts_with("HTTP/1.1 403"), "{raw}");
    assert!(!raw.contains("cargo"), "no content leaks: {raw}");
    let origin = request(
        proxy.port,
        "GET",
        &path,
        &[("origin", "https://evil.example")],
        b"",
    )
    .unwrap();
    assert_eq!(origin.status, 403, "{}", origin.text());
    assert_eq!(origin.json()["error"]["type"], "permission_error");

    for unknown in ["000000000000", "not-an-id", "../../stats.json"] {
        let r = retrieve(&proxy, unknown);
        assert_eq!(r.status, 404, "{unknown}: {}", r.text());
        let v = r.json();
        assert_eq!(v["type"], "error");
        assert_eq!(v["error"]["type"], "not_found_error");
    }
    // Counted: one miss per unknown id, no hits yet.
    let stats = proxy.stats_when(|s| s["retrieval"]["misses"].as_u64() >= Some(3));
    assert_eq!(stats["retrieval"]["by_source"]["endpoint"]["misses"], 3);
    assert_eq!(stats["retrieval"]["hits"], 0);
    assert_eq!(stats["retrieval"]["store"]["memory_entries"], 1);
}

#[test]
fn a_restarted_proxy_and_the_cli_still_find_the_original_on_disk() {
    let up = FakeUpstream::start();
    let proxy = Proxy::start(&upstreams(&up.url()));
    let output = fixture("compress/docker_build.txt");
    let task = fixture("compress/docker_build.task");
    let id = ids(&compress_through(&proxy, &up, task.trim(), "Bash", &output)).remove(0);
    let on_disk = proxy.stats_when(|s| s["retrieval"]["store"]["disk_entries"] == 1);
    assert_eq!(
        on_disk["retrieval"]["store"]["disk_entries"], 1,
        "{on_disk}"
    );
    assert!(on_disk["retrieval"]["store"]["disk_bytes"].as_u64() > Some(output.len() as u64));

    let cli = |config: &std::path::Path, args: &[&str]| {
        Command::new(headroom_bin())
            .arg("retrieve")
            .args(args)
            .arg("-c")
            .arg(config)
            .env("HOME", config.parent().unwrap())
            .output()
            .unwrap()
    };
    // Through the running proxy (counted as the CLI's).
    let got = cli(&proxy.config_path, &[&id]);
    assert!(
        got.status.success(),
        "{}",
        String::from_utf8_lossy(&got.stderr)
    );
    assert_eq!(String::from_utf8(got.stdout).unwrap(), output);
    let metrics = proxy.get("/metrics").text();
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("headroom_retrievals_total{")
                && l.contains("source=\"cli\"")
                && l.contains("result=\"hit\"")
                && l.ends_with(" 1")),
        "{metrics}"
    );
    assert!(metrics.contains("headroom_originals_store_entries{tier=\"disk\"} 1"));

    let (dir, port, config) = proxy.into_state();
    // No proxy: the CLI reads the disk tier itself.
    let got = cli(&config, &[&id, "--lines", "1-3"]);
    assert!(
        got.status.success(),
        "{}",
        String::from_utf8_lossy(&got.stderr)
    );
    let first3: String = output.split_inclusive('\n').take(3).collect();
    assert_eq!(String::from_utf8(got.stdout).unwrap(), first3);
    let missing = cli(&config, &["000000000000"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(missing.stdout.is_empty());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no original with id 000000000000"));
    let bad = cli(&config, &["xyz"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("12 lowercase hex"));

    // A new process on the same state dir answers from disk.
    let restarted = Proxy::spawn(dir, port, config, &[]);
    let v = retrieve(&restarted, &id).json();
    assert_eq!(v["content"].as_str(), Some(output.as_str()));
}

fn session_through(proxy: &Proxy, up: &FakeUpstream) -> Vec<Vec<u8>> {
    let mut received = Vec::new();
    for body in agent_session::session(7, 10) {
        up.clear();
        let r = proxy.post_json("/v1/messages", &body);
        assert_eq!(r.status, 200, "{}", r.text());
        received.push(up.last().unwrap().body);
    }
    received
}

#[test]
fn markers_and_ids_are_byte_identical_on_every_turn_of_a_session() {
    let up = FakeUpstream::start();
    let proxy = Proxy::start(&upstreams(&up.url()));
    let received = session_through(&proxy, &up);
    let mut previous: Option<Vec<Value>> = None;
    let mut cache = support::prompt_cache::PromptCache::default();
    let mut read = 0;
    for (turn, body) in received.iter().enumerate() {
        let mut v: Value = serde_json::from_slice(body).unwrap();
        agent_session::strip_cache_control(&mut v);
        let messages = v["messages"].as_array().unwrap().clone();
        if let Some(prev) = &previous {
            assert_eq!(
                &messages[..prev.len()],
                &prev[..],
                "turn {turn} changed earlier turns"
            );
        }
        previous = Some(messages);
        read += cache.request(body).unwrap().cache_read_input_tokens;
    }
    // The ids in the conversation (the retrieval tool's description shows an example id).
    let last: Value = serde_json::from_slice(received.last().unwrap()).unwrap();
    let found = ids(&last["messages"].to_string());
    assert!(
        !found.is_empty(),
        "the session's compressed blocks carry ids"
    );
    assert!(read > 0, "the prompt cache is read on later turns");
    for id in &found {
        assert_eq!(retrieve(&proxy, id).status, 200, "{id}");
    }
}

#[test]
fn without_the_tool_blocks_say_how_to_curl_their_original() {
    let (_up, proxy, output, sent) = ci_log_through(
        "retrieval:
  tool: false
",
    );
    let id = ids(&sent).remove(0);
    let base = format!("http://127.0.0.1:{}", proxy.port);
    let hint = format!("curl -s {base}/v1/retrieve/{id}");
    assert!(sent.lines().last().unwrap().contains(&hint), "{sent}");
    // The command works as printed.
    let got = Command::new("curl")
        .args(["-s", &format!("{base}/v1/retrieve/{id}")])
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&got.stdout).unwrap();
    assert_eq!(v["content"].as_str(), Some(output.as_str()));
}

#[test]
fn with_retrieval_off_markers_carry_no_ids_and_nothing_is_served() {
    let (_up, proxy, output, sent) = ci_log_through(
        "retrieval:
  enabled: false
",
    );
    assert!(sent.contains("[… "), "still compressed");
    assert!(ids(&sent).is_empty(), "{sent}");
    let r = retrieve(&proxy, &headroom_store::original_id(&output));
    assert_eq!(r.status, 404);
    assert!(r.text().contains("retrieval.enabled: false"));
}

#[test]
fn originals_queued_at_shutdown_are_on_disk_for_the_next_run() {
    let up = FakeUpstream::start();
    let mut proxy = Proxy::start(&upstreams(&up.url()));
    let output = fixture("compress/github_repos.txt");
    let task = fixture("compress/github_repos.task");
    let sent = compress_through(&proxy, &up, task.trim(), "Bash", &output);
    let id = ids(&sent).remove(0);
    // SIGTERM at once: the shutdown waits for the store's queue.
    proxy.signal(libc::SIGTERM);
    assert_eq!(proxy.wait_exit(std::time::Duration::from_secs(15)), Some(0));
    let (dir, port, config) = proxy.into_state();
    let restarted = Proxy::spawn(dir, port, config, &[]);
    let v = retrieve(&restarted, &id).json();
    assert_eq!(v["content"].as_str(), Some(output.as_str()));
}

#[test]
fn a_reload_that_turns_retrieval_on_serves_what_it_stores_from_then_on() {
    let (up, proxy, output, sent) = ci_log_through("retrieval:\n  enabled: false\n");
    assert!(ids(&sent).is_empty());
    let config = std::fs::read_to_string(&proxy.config_path).unwrap();
    let on = config.replace(
        "retrieval:\n  enabled: false\n",
        "retrieval:\n  enabled: true\n",
    );
    std::fs::write(&proxy.config_path, on).unwrap();
    proxy.signal(libc::SIGHUP);
    let reloaded = || {
        proxy
            .get("/metrics")
            .text()
            .contains("headroom_config_reloads_total{result=\"ok\"} 1")
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !reloaded() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(reloaded(), "the reload never finished");
    let sent = compress_through(
        &proxy,
        &up,
        "CI is red on main, what broke?",
        "Bash",
        &output,
    );
    let id = ids(&sent).remove(0);
    let v = retrieve(&proxy, &id).json();
    assert_eq!(v["content"].as_str(), Some(output.as_str()));
}
