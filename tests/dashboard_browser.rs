//! `/dashboard` in a real browser: headless Chromium loads the page from a proxy that served a
//! known set of requests through the fake upstream; the rendered DOM must show the proxy's
//! numbers, the chart must have one point per hour, and the page must not try to reach any
//! address off the machine. Saves `target/test-artifacts/dashboard.png`.
//!
//! Off-machine requests are caught by pointing Chromium's proxy at a local trap that records
//! every request it gets (loopback stays direct); a control page with an external image and
//! script proves the trap sees such requests.

use headroom_test_support as support;
use headroom_test_support::agent_session;

use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use support::fake_upstream::FakeUpstream;
use support::*;

fn chromium() -> Option<&'static str> {
    for name in ["chromium", "chromium-browser"] {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {name}")])
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if found {
            return Some(name);
        }
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "CI must have chromium: scripts/setup.sh installs it"
    );
    eprintln!("SKIPPED: chromium is not installed (scripts/setup.sh installs it)");
    None
}

/// An HTTP proxy that answers 502 to everything and remembers what was asked of it.
struct Trap {
    port: u16,
    seen: Arc<Mutex<Vec<String>>>,
}

impl Trap {
    fn start() -> Trap {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { continue };
                let mut line = String::new();
                let _ = BufReader::new(&conn).read_line(&mut line);
                log.lock().unwrap().push(line.trim().to_string());
                let _ = conn.write_all(
                    b"HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                );
            }
        });
        Trap { port, seen }
    }

    /// Hosts asked for so far (`CONNECT host:443` or `GET http://host/…`).
    fn hosts(&self) -> std::collections::BTreeSet<String> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter_map(|line| {
                let target = line.split_whitespace().nth(1)?;
                let rest = target.split_once("://").map_or(target, |(_, r)| r);
                let authority = rest.split('/').next()?;
                Some(
                    authority
                        .rsplit_once(':')
                        .map_or(authority, |(h, _)| h)
                        .to_string(),
                )
            })
            .collect()
    }
}

/// Runs headless Chromium on `url` with `extra` flags; returns stdout.
fn browse(bin: &str, trap: &Trap, url: &str, extra: &[String]) -> String {
    browse_in("UTC", bin, trap, url, extra)
}

/// As [`browse`], with the browser's time zone set to `tz`.
fn browse_in(tz: &str, bin: &str, trap: &Trap, url: &str, extra: &[String]) -> String {
    let profile = tempfile::tempdir().unwrap();
    let out = Command::new(bin)
        .env("TZ", tz)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--hide-scrollbars",
            // Chromium's own service traffic (updates, sign-in, safe browsing) off too, so
            // whatever reaches the trap came from the page.
            "--disable-extensions",
            "--disable-default-apps",
            "--disable-client-side-phishing-detection",
            "--disable-domain-reliability",
            "--no-pings",
            "--no-default-browser-check",
            "--disable-features=OptimizationHints,Translate,MediaRouter,AutofillServerCommunication,CertificateTransparencyComponentUpdater,NetworkTimeServiceQuerying",
            "--virtual-time-budget=4000",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("--proxy-server=http://127.0.0.1:{}", trap.port))
        .args(extra)
        .arg(url)
        .stderr(Stdio::null())
        .output()
        .expect("run chromium");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The value of `attr` on the element with `id`.
fn attr_of_id(dom: &str, id: &str, attr: &str) -> Option<String> {
    let at = dom.find(&format!("id=\"{id}\""))?;
    let start = dom[..at].rfind('<')?;
    let end = at + dom[at..].find('>')?;
    attr_in(&dom[start..end], attr)
}

fn attr_in(tag: &str, attr: &str) -> Option<String> {
    let key = format!(" {attr}=\"");
    let i = tag.find(&key)? + key.len();
    Some(tag[i..i + tag[i..].find('"')?].to_string())
}

/// Every opening tag containing `marker`.
fn tags_with<'a>(dom: &'a str, marker: &str) -> Vec<&'a str> {
    let mut out = Vec::new();
    let mut rest = dom;
    while let Some(i) = rest.find(marker) {
        let start = rest[..i].rfind('<').unwrap_or(0);
        let end = i + rest[i..].find('>').unwrap_or(rest.len() - i);
        out.push(&rest[start..end]);
        rest = &rest[end..];
    }
    out
}

fn artifact_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn fixture(name: &str) -> String {
    std::fs::read_to_string(agent_session::fixture_dir().join(format!("{name}.txt"))).unwrap()
}

fn tool_request(output: &str) -> Vec<u8> {
    agent_session::request(&[
        json!({"role": "user", "content": [{"type": "text", "text": "what broke?"}]}),
        json!({"role": "assistant", "content": [
            {"type": "tool_use", "id": "toolu_01", "name": "Bash", "input": {"command": "run"}}
        ]}),
        json!({"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_01", "content": output}]}),
    ])
}

#[test]
fn dashboard_renders_the_proxys_numbers_offline_in_chromium() {
    let Some(bin) = chromium() else { return };
    let up = FakeUpstream::start();
    let proxy = Proxy::start(&upstreams(&up.url()));
    // The known set: three compressible tool outputs, two plain OpenAI calls.
    for name in ["ci_log", "docker_build", "github_repos"] {
        assert_eq!(
            proxy
                .post_json("/v1/messages", &tool_request(&fixture(name)))
                .status,
            200
        );
    }
    let chat = br#"{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}"#;
    for _ in 0..2 {
        assert_eq!(proxy.post_json("/v1/chat/completions", chat).status, 200);
    }
    let stats = proxy.stats_when(|s| s["requests"] == 5);
    let life = &stats["lifetime"];
    assert_eq!(life["requests"], 5, "{stats}");
    let saved = life["tokens_saved"].as_u64().unwrap();
    assert!(saved > 1000, "nothing compressed: {stats}");

    // What the browser asks for by itself on a blank page (update and sign-in services): the
    // dashboard may add nothing to it.
    let baseline = Trap::start();
    browse(bin, &baseline, "about:blank", &["--dump-dom".into()]);
    let browser_own = baseline.hosts();

    let trap = Trap::start();
    let url = format!("http://127.0.0.1:{}/dashboard", proxy.port);
    let today = || proxy.get("/stats").json()["today"]["tokens_saved"].clone();
    let today_before = today();
    let dom = browse(bin, &trap, &url, &["--dump-dom".into()]);
    let today_after = today();
    assert!(dom.contains("id=\"tokens-chart\""), "no page: {dom}");
    let polls: u32 = tags_with(&dom, "data-polls=")
        .first()
        .and_then(|t| attr_in(t, "data-polls"))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    assert!(polls >= 1, "the page never rendered a poll:\n{dom}");

    // Whose traffic the numbers count: a proxy without shared state says it is its own.
    assert_eq!(
        attr_of_id(&dom, "scope", "data-scope").as_deref(),
        Some("local")
    );
    assert!(
        dom.contains(">counts: this proxy</span>"),
        "no scope badge:\n{dom}"
    );
    let num =
        |id: &str| attr_of_id(&dom, id, "data-value").unwrap_or_else(|| panic!("{id} missing"));
    assert_eq!(num("lifetime-tokens"), saved.to_string());
    assert_eq!(num("lifetime-requests"), "5");
    assert_eq!(
        num("lifetime-compressed"),
        life["compressed_requests"].to_string()
    );
    // The browser runs in UTC, so its "today" is the proxy's UTC day (unless midnight passed
    // while it loaded); every request is inside the last 7 days.
    if today_before == today_after {
        assert_eq!(num("today-tokens"), today_after.to_string());
    }
    assert_eq!(num("week-tokens"), saved.to_string());
    let dollars: f64 = num("lifetime-dollars").parse().unwrap();
    let want = life["estimated_dollars_saved"].as_f64().unwrap();
    assert!(
        (dollars - want).abs() < 1e-9 && want > 0.0,
        "{dollars} vs {want}"
    );

    // The token chart: one point per hour of the last 24, holding exactly the tokens counted.
    assert_eq!(
        attr_of_id(&dom, "tokens-chart", "data-points").as_deref(),
        Some("24")
    );
    let points = tags_with(&dom, "class=\"point\" data-start=");
    let circles: Vec<&&str> = points.iter().filter(|t| t.starts_with("<circle")).collect();
    assert_eq!(circles.len(), 24, "{points:?}");
    let sum = |key: &str| -> u64 {
        circles
            .iter()
            .map(|t| attr_in(t, key).unwrap().parse::<u64>().unwrap())
            .sum()
    };
    assert_eq!(sum("data-before"), life["tokens_before"].as_u64().unwrap());
    assert_eq!(sum("data-after"), life["tokens_after"].as_u64().unwrap());
    assert_eq!(
        attr_of_id(&dom, "dollars-chart", "data-points").as_deref(),
        Some("30")
    );

    // Breakdowns and the request list.
    let models: Value = life["models"].clone();
    for name in models.as_object().unwrap().keys() {
        assert!(
            dom.contains(&format!("data-model=\"{name}\"")),
            "{name} not listed"
        );
    }
    assert!(
        dom.contains("not priced"),
        "gpt-fake is not in the price table"
    );
    for kind in life["content_types"].as_object().unwrap().keys() {
        assert!(
            dom.contains(&format!("data-type=\"{kind}\"")),
            "{kind} not listed"
        );
    }
    assert_eq!(dom.matches("<tr class=\"request\">").count(), 5);
    assert!(dom.contains(env!("CARGO_PKG_VERSION")));

    // Buckets are UTC hours; the page labels them in the browser's zone: on the hour in UTC,
    // at half past in India (UTC+05:30).
    let labels = |dom: &str| -> Vec<String> {
        let chart = &dom[dom.find("id=\"tokens-chart\"").unwrap()..];
        let chart = &chart[..chart.find("</svg>").unwrap()];
        chart
            .split("<text ")
            .skip(1)
            .filter(|t| t.contains("y=\"214\""))
            .map(|t| t[t.find('>').unwrap() + 1..t.find("</text>").unwrap()].to_string())
            .collect()
    };
    let utc = labels(&dom);
    assert!(
        utc.len() >= 4 && utc.iter().all(|l| l.contains(":00")),
        "{utc:?}"
    );
    let india = labels(&browse_in(
        "Asia/Kolkata",
        bin,
        &trap,
        &url,
        &["--dump-dom".into()],
    ));
    assert!(
        india.len() >= 4 && india.iter().all(|l| l.contains(":30")),
        "{india:?}"
    );

    let shot = artifact_dir().join("dashboard.png");
    let _ = std::fs::remove_file(&shot);
    browse(
        bin,
        &trap,
        &url,
        &[
            format!("--screenshot={}", shot.display()),
            "--window-size=1280,1000".into(),
        ],
    );
    assert!(
        std::fs::metadata(&shot).is_ok_and(|m| m.len() > 10_000),
        "no screenshot"
    );
    let extra: Vec<String> = trap.hosts().difference(&browser_own).cloned().collect();
    assert!(
        extra.is_empty(),
        "the dashboard tried to leave the machine: {extra:?}"
    );
    // The page names nothing off the machine either (its CSP would hide such a load from the trap).
    for pattern in [
        "src=\"http",
        "href=\"http",
        "url(http",
        "@import",
        "src=\"//",
        "href=\"//",
    ] {
        assert!(!dom.contains(pattern), "the dashboard references {pattern}");
    }

    // Control: a page with external assets is caught by the same trap.
    let trap = Trap::start();
    let page = TcpListener::bind("127.0.0.1:0").unwrap();
    let page_port = page.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let body = "<!doctype html><img src=\"http://assets.example.com/logo.png\"><script src=\"https://cdn.example.net/lib.js\"></script>";
        for conn in page.incoming().take(4) {
            let Ok(mut conn) = conn else { continue };
            let mut line = String::new();
            let _ = BufReader::new(&conn).read_line(&mut line);
            let _ = write!(conn, "HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}", body.len());
        }
    });
    browse(
        bin,
        &trap,
        &format!("http://127.0.0.1:{page_port}/"),
        &["--dump-dom".into()],
    );
    let seen = trap.hosts();
    assert!(
        seen.contains("assets.example.com"),
        "trap missed an external image: {seen:?}"
    );
    assert!(
        seen.contains("cdn.example.net"),
        "trap missed an external script: {seen:?}"
    );
}
