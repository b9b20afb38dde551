//! Credentials never cross providers.

use super::*;

#[test]
fn credentials_never_cross_providers() {
    let anthropic = FakeUpstream::start();
    let openai = FakeUpstream::start();
    let p = Proxy::start(&format!(
        "upstreams:\n  anthropic: {}\n  openai: {}\n",
        anthropic.url(),
        openai.url()
    ));
    let host = own_host(&p);
    let ant = [
        ("host", host.as_str()),
        ("x-api-key", "sk-ant-api03-client"),
        ("anthropic-version", "2023-06-01"),
    ];
    for (method, path) in [
        ("GET", "/v1/models"),
        ("GET", "/v1/models/claude-sonnet-4-5"),
        ("GET", "/v1/files"),
        ("POST", "/v1/files"),
        ("GET", "/v1/organizations/me"),
        ("POST", "/v1/complete"),
        ("POST", "/v1/messages/batches"),
        ("GET", "/v1/messages/batches/msgbatch_01/results"),
    ] {
        anthropic.clear();
        openai.clear();
        let r = send(p.port, None, method, path, &ant, b"");
        assert_eq!(r.status, 200, "{method} {path}: {}", r.text());
        assert_eq!(
            anthropic.requests().len(),
            1,
            "{method} {path} did not reach Anthropic"
        );
        assert!(
            openai.requests().is_empty(),
            "{method} {path} reached OpenAI"
        );
    }
    // OpenAI's own paths with an OpenAI key go to OpenAI.
    let oai = [
        ("host", host.as_str()),
        ("authorization", "Bearer sk-proj-client"),
    ];
    for path in ["/v1/models", "/v1/files", "/v1/embeddings"] {
        openai.clear();
        let r = send(p.port, None, "GET", path, &oai, b"");
        assert_eq!(r.status, 200, "{path}");
        assert_eq!(openai.requests().len(), 1, "{path}");
    }
    // A credential sent to the wrong provider's path is refused, not forwarded.
    for (path, headers, shape) in [
        (
            "/v1/chat/completions",
            vec![
                ("host", host.as_str()),
                ("x-api-key", "sk-ant-api03-client"),
                ("content-type", "application/json"),
            ],
            "openai",
        ),
        (
            "/v1/embeddings",
            vec![
                ("host", host.as_str()),
                ("authorization", "Bearer sk-ant-oat01-client"),
            ],
            "openai",
        ),
        (
            "/v1/messages",
            vec![
                ("host", host.as_str()),
                ("authorization", "Bearer sk-proj-client"),
                ("content-type", "application/json"),
            ],
            "anthropic",
        ),
    ] {
        anthropic.clear();
        openai.clear();
        let r = send(p.port, None, "POST", path, &headers, body());
        assert_eq!(r.status, 400, "{path}: {}", r.text());
        let j = r.json();
        let message = if shape == "openai" {
            j["error"]["message"].as_str().unwrap().to_string()
        } else {
            assert_eq!(j["type"], "error");
            j["error"]["message"].as_str().unwrap().to_string()
        };
        assert!(message.contains("across providers"), "{message}");
        assert!(
            !message.contains("client"),
            "the credential was echoed: {message}"
        );
        assert!(
            anthropic.requests().is_empty() && openai.requests().is_empty(),
            "{path} was forwarded"
        );
    }
}
