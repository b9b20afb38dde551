//! The official Python `anthropic` SDK through the real proxy.

use headroom_test_support as support;

use support::fake_upstream::FakeUpstream;
use support::*;

fn python_has_anthropic() -> bool {
    std::process::Command::new("python3")
        .args(["-c", "import anthropic"])
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn anthropic_python_sdk_round_trips_through_the_proxy() {
    if !python_has_anthropic() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must have the anthropic SDK: run scripts/setup.sh"
        );
        eprintln!("SKIPPED: python3 -m pip install anthropic to run this test");
        return;
    }
    let up = FakeUpstream::start();
    up.set(|s| s.deltas = 4);
    let proxy = Proxy::start(&upstreams(&up.url()));
    let out = std::process::Command::new("python3")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/python/sdk_client.py"
        ))
        .arg(format!("http://127.0.0.1:{}", proxy.port))
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["text"], "fake answer");
    assert_eq!(v["streamed"], "part0 part1 part2 part3 ");
    assert_eq!(v["stream_stop"], "end_turn");
    assert_eq!(v["stream_out"], 5);
    assert!(v["count"].as_u64().unwrap() > 0);
    assert_eq!(v["error"]["status"], 529, "{v}");

    let reqs = up.requests();
    assert_eq!(reqs.len(), 4);
    let first = &reqs[0];
    assert_eq!(first.path, "/v1/messages");
    // SDK versions send the key as x-api-key or as a bearer token; either way, untouched.
    let credential = first
        .header("x-api-key")
        .or(first.header("authorization"))
        .unwrap_or("");
    assert!(credential.ends_with("sk-ant-sdk-test"), "{credential}");
    assert!(first.header("anthropic-version").is_some());
    assert!(first
        .header("user-agent")
        .unwrap_or("")
        .contains("Anthropic/Python"));
    assert_eq!(first.json()["messages"][0]["content"], "Say hi");
    assert_eq!(reqs[1].json()["stream"], true);
    assert_eq!(reqs[2].path, "/v1/messages/count_tokens");
}
