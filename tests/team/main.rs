//! The team gateway against real equipment: the `headroom` binary as three replicas, a real
//! `redis-server`, a real `nginx` round-robin balancer in front (each started as this user on
//! loopback by headroom-test-support's `services`), and the fake provider upstream.

mod auth;
mod deploy;
mod replicas;
mod shared;

use headroom_test_support::fake_upstream::FakeUpstream;
use headroom_test_support::{request, Proxy, Response};

/// The gateway token the tests' client holds, and its name in `auth.tokens`.
pub const TOKEN: &str = "3f9c2a1e7b6d4c0a9e8f7a6b5c4d3e2f1a0b9c8d";
pub const TOKEN_NAME: &str = "alice";

/// The gateway token as a request header.
pub const TOKEN_HEADER: (&str, &str) = ("x-headroom-token", TOKEN);

fn sha256_hex(s: &str) -> String {
    headroom_test_support::sha256_hex(s.as_bytes())
}

/// Config of a replica: tokens mode, the model off (three replicas load fast), and Redis when
/// given. `Proxy::start_with_env` adds `listen` and `stats`.
pub fn gateway_yaml(up: &FakeUpstream, redis_url: Option<&str>) -> String {
    let mut y = format!(
        "{}auth:\n  mode: tokens\n  inject_api_key: false\n  tokens:\n    - {{ name: {TOKEN_NAME}, sha256: {} }}\n    - {{ name: bob, sha256: {} }}\nmodel:\n  enabled: false\n",
        headroom_test_support::upstreams(&up.url()),
        sha256_hex(TOKEN),
        sha256_hex("bob-token"),
    );
    if let Some(url) = redis_url {
        y.push_str(&format!(
            "state:\n  redis_url: {url}\n  timeout_ms: 100\n  breaker_open_ms: 500\n"
        ));
    }
    y
}

/// POST a JSON body with the gateway token.
pub fn post_with_token(port: u16, path: &str, body: &[u8]) -> std::io::Result<Response> {
    request(
        port,
        "POST",
        path,
        &[
            ("content-type", "application/json"),
            TOKEN_HEADER,
            ("x-api-key", "sk-ant-client-own-key"),
            ("anthropic-version", "2023-06-01"),
        ],
        body,
    )
}

/// `GET path` on a replica as a token holder.
pub fn get_with_token(proxy: &Proxy, path: &str) -> Response {
    request(proxy.port, "GET", path, &[TOKEN_HEADER], b"").unwrap()
}

/// A counter's value summed over its label sets in a Prometheus text page (0 when absent).
pub fn metric(page: &str, name: &str) -> f64 {
    page.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with(' ') || rest.starts_with('{'))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}
