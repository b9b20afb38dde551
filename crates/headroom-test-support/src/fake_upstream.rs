//! A fake Anthropic/OpenAI upstream on loopback for tests and benchmarks. Speaks HTTP/1.1
//! (Content-Length and chunked request bodies, keep-alive), answers `/v1/messages` (JSON or SSE
//! with the real event sequence), `/v1/messages/count_tokens`, `/v1/chat/completions`, and records
//! every request it receives. Behaviour for the next requests can be switched to error bodies,
//! stalls, resets and broken streams.
#![allow(dead_code)]

use crate::prompt_cache;

use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// One request as the upstream received it.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub chunked: bool,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

/// How the upstream answers.
#[derive(Debug, Clone, PartialEq)]
pub enum Behaviour {
    Normal,
    /// Answer with this status and an Anthropic error body.
    Status(u16),
    /// Read the request, then never answer.
    Stall,
    /// Read the request, then close the connection without a response.
    Reset,
    /// Stream SSE but close the connection after this many events.
    CloseMidStream(usize),
    /// Answer 200 with exactly these head fields (and a `Content-Length`) and these body bytes,
    /// whatever was asked: an answer with the fields and encodings a test chooses.
    Answer {
        fields: Vec<String>,
        body: Vec<u8>,
    },
}

#[derive(Debug)]
pub struct Settings {
    pub behaviour: Behaviour,
    /// Pause between SSE events.
    pub event_gap: Duration,
    /// Number of text deltas in a streamed answer.
    pub deltas: usize,
    /// Simulated prompt cache (Anthropic semantics) for `usage`.
    pub prompt_cache: bool,
    /// Answer `/v1/messages` and `/v1/chat/completions` as this scripted model.
    pub script: Option<crate::scripted_model::Script>,
    /// Close the connection after each scripted answer without saying so (an upstream that
    /// drops idle keep-alive connections): the client's next request on it fails.
    pub drop_idle: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            behaviour: Behaviour::Normal,
            event_gap: Duration::ZERO,
            deltas: 3,
            prompt_cache: false,
            script: None,
            drop_idle: false,
        }
    }
}

#[derive(Clone)]
pub struct FakeUpstream {
    pub port: u16,
    pub received: Arc<Mutex<Vec<Received>>>,
    pub settings: Arc<Mutex<Settings>>,
    cache: Arc<Mutex<prompt_cache::PromptCache>>,
}

impl FakeUpstream {
    /// Starts on a fresh loopback port, on its own thread and runtime.
    pub fn start() -> FakeUpstream {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind fake upstream");
        listener.set_nonblocking(true).expect("nonblocking");
        let port = listener.local_addr().expect("addr").port();
        let up = FakeUpstream {
            port,
            received: Arc::default(),
            settings: Arc::default(),
            cache: Arc::default(),
        };
        let server = up.clone();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let listener = TcpListener::from_std(listener).expect("listener");
                loop {
                    let Ok((sock, _)) = listener.accept().await else {
                        continue;
                    };
                    let s = server.clone();
                    tokio::spawn(async move {
                        let _ = s.serve(sock).await;
                    });
                }
            });
        });
        up
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn set(&self, f: impl FnOnce(&mut Settings)) {
        f(&mut self.settings.lock().unwrap());
    }

    pub fn requests(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    pub fn last(&self) -> Option<Received> {
        self.received.lock().unwrap().last().cloned()
    }

    pub fn clear(&self) {
        self.received.lock().unwrap().clear();
    }

    async fn serve(&self, sock: TcpStream) -> std::io::Result<()> {
        let _ = sock.set_nodelay(true);
        let mut reader = BufReader::new(sock);
        loop {
            let Some(req) = read_request(&mut reader).await? else {
                return Ok(());
            };
            self.received.lock().unwrap().push(req.clone());
            let (behaviour, gap, deltas, cache, script, drop_idle) = {
                let s = self.settings.lock().unwrap();
                (
                    s.behaviour.clone(),
                    s.event_gap,
                    s.deltas,
                    s.prompt_cache,
                    s.script.clone(),
                    s.drop_idle,
                )
            };
            let sock = reader.get_mut();
            // A request may ask for an error itself (used by clients that cannot reach our state).
            let behaviour = match req.header("x-fake-status").and_then(|v| v.parse().ok()) {
                Some(code) => Behaviour::Status(code),
                None => behaviour,
            };
            match behaviour {
                Behaviour::Stall => {
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                    return Ok(());
                }
                Behaviour::Reset => return Ok(()),
                Behaviour::Status(code) => {
                    let kind = match code {
                        529 => "overloaded_error",
                        429 => "rate_limit_error",
                        400 => "invalid_request_error",
                        _ => "api_error",
                    };
                    let body = format!(
                        r#"{{"type":"error","error":{{"type":"{kind}","message":"fake upstream says {code}"}}}}"#
                    );
                    write_json(sock, code, body.as_bytes()).await?;
                    continue;
                }
                Behaviour::Answer { fields, body } => {
                    let mut head = String::from("HTTP/1.1 200 OK\r\n");
                    for f in fields {
                        head.push_str(&f);
                        head.push_str("\r\n");
                    }
                    head.push_str(&format!("content-length: {}\r\n\r\n", body.len()));
                    sock.write_all(head.as_bytes()).await?;
                    sock.write_all(&body).await?;
                    sock.flush().await?;
                    continue;
                }
                Behaviour::Normal | Behaviour::CloseMidStream(_) => {}
            }
            let usage = self.usage_for(&req, cache);
            let json = req.json();
            let stream = json.get("stream").and_then(|v| v.as_bool()) == Some(true);
            let path = req.path.split('?').next().unwrap_or("");
            if let Some(script) = script.filter(|_| req.method == "POST") {
                if path == "/v1/messages" || path == "/v1/chat/completions" {
                    scripted(sock, &script, &json, path != "/v1/messages", stream, usage).await?;
                    if drop_idle {
                        return Ok(());
                    }
                    continue;
                }
            }
            match (
                req.method.as_str(),
                req.path.split('?').next().unwrap_or(""),
            ) {
                ("POST", "/v1/messages") if stream => {
                    let limit = match behaviour {
                        Behaviour::CloseMidStream(n) => Some(n),
                        _ => None,
                    };
                    write_sse(sock, &json, usage, gap, deltas, limit).await?;
                    if limit.is_some() {
                        return Ok(());
                    }
                }
                ("POST", "/v1/messages") => {
                    let body = message_json(&json, usage);
                    write_json(sock, 200, body.as_bytes()).await?;
                }
                ("POST", "/v1/messages/count_tokens") => {
                    let body = format!(r#"{{"input_tokens":{}}}"#, usage.0);
                    write_json(sock, 200, body.as_bytes()).await?;
                }
                ("POST", "/v1/chat/completions") => {
                    let body = format!(
                        r#"{{"id":"chatcmpl-fake","object":"chat.completion","created":1,"model":"gpt-fake","choices":[{{"index":0,"message":{{"role":"assistant","content":"fake answer"}},"finish_reason":"stop"}}],"usage":{{"prompt_tokens":{},"completion_tokens":2,"total_tokens":{}}}}}"#,
                        usage.0,
                        usage.0 + 2
                    );
                    write_json(sock, 200, body.as_bytes()).await?;
                }
                _ => {
                    let body = format!(
                        r#"{{"fake":"upstream","method":"{}","path":{:?},"bytes":{}}}"#,
                        req.method,
                        req.path,
                        req.body.len()
                    );
                    write_json(sock, 200, body.as_bytes()).await?;
                }
            }
        }
    }

    /// (input, cache_creation, cache_read) tokens for a request: a rough count (bytes / 4), or
    /// with prompt caching simulated (real token counts, Anthropic's prefix rules) when enabled.
    fn usage_for(&self, req: &Received, cache: bool) -> (u64, u64, u64) {
        let total = (req.body.len() as u64 / 4).max(1);
        if !cache || !req.path.starts_with("/v1/messages") || req.path.contains("count_tokens") {
            return (total, 0, 0);
        }
        match self.cache.lock().unwrap().request(&req.body) {
            Ok(u) => (
                u.input_tokens,
                u.cache_creation_input_tokens,
                u.cache_read_input_tokens,
            ),
            Err(_) => (total, 0, 0),
        }
    }
}

async fn read_request(r: &mut BufReader<TcpStream>) -> std::io::Result<Option<Received>> {
    let mut line = String::new();
    if r.read_line(&mut line).await? == 0 {
        return Ok(None);
    }
    let mut parts = line.trim_end().splitn(3, ' ');
    let method = parts.next().unwrap_or("").to_string();
    let path = parts.next().unwrap_or("").to_string();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if r.read_line(&mut h).await? == 0 {
            return Ok(None);
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    let get = |n: &str| {
        headers
            .iter()
            .find(|(k, _): &&(String, String)| k.eq_ignore_ascii_case(n))
            .map(|(_, v)| v.clone())
    };
    let chunked =
        get("transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    let mut body = Vec::new();
    if chunked {
        loop {
            let mut size = String::new();
            r.read_line(&mut size).await?;
            let n = crate::proxy::chunk_size(&size).unwrap_or(0);
            if n == 0 {
                // trailers until blank line
                loop {
                    let mut t = String::new();
                    if r.read_line(&mut t).await? == 0 || t.trim().is_empty() {
                        break;
                    }
                }
                break;
            }
            let mut chunk = vec![0; n + 2];
            r.read_exact(&mut chunk).await?;
            body.extend_from_slice(&chunk[..n]);
        }
    } else if let Some(n) = get("content-length").and_then(|v| v.parse::<usize>().ok()) {
        body.resize(n, 0);
        r.read_exact(&mut body).await?;
    }
    Ok(Some(Received {
        method,
        path,
        headers,
        body,
        chunked,
    }))
}

async fn write_json(sock: &mut TcpStream, status: u16, body: &[u8]) -> std::io::Result<()> {
    let head = format!(
        "HTTP/1.1 {status} {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nrequest-id: req_fake\r\n\r\n",
        reason(status),
        body.len()
    );
    sock.write_all(head.as_bytes()).await?;
    sock.write_all(body).await?;
    sock.flush().await
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        529 => "Overloaded",
        _ => "Status",
    }
}

fn model_of(req: &serde_json::Value) -> String {
    req.get("model")
        .and_then(|m| m.as_str())
        .unwrap_or("claude-fake")
        .to_string()
}

fn message_json(req: &serde_json::Value, (input, creation, read): (u64, u64, u64)) -> String {
    serde_json::json!({
        "id": "msg_fake01",
        "type": "message",
        "role": "assistant",
        "model": model_of(req),
        "content": [{"type": "text", "text": "fake answer"}],
        "stop_reason": "end_turn",
        "stop_sequence": null,
        "usage": {
            "input_tokens": input,
            "cache_creation_input_tokens": creation,
            "cache_read_input_tokens": read,
            "output_tokens": 2
        }
    })
    .to_string()
}

async fn write_sse(
    sock: &mut TcpStream,
    req: &serde_json::Value,
    (input, creation, read): (u64, u64, u64),
    gap: Duration,
    deltas: usize,
    close_after: Option<usize>,
) -> std::io::Result<()> {
    let head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream; charset=utf-8\r\ncache-control: no-cache\r\ntransfer-encoding: chunked\r\nrequest-id: req_fake\r\n\r\n";
    sock.write_all(head.as_bytes()).await?;
    let mut events = vec![
        (
            "message_start",
            serde_json::json!({"type":"message_start","message":{"id":"msg_fake01","type":"message","role":"assistant","model":model_of(req),"content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":input,"cache_creation_input_tokens":creation,"cache_read_input_tokens":read,"output_tokens":1}}}),
        ),
        (
            "content_block_start",
            serde_json::json!({"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}),
        ),
        ("ping", serde_json::json!({"type":"ping"})),
    ];
    for i in 0..deltas {
        events.push((
            "content_block_delta",
            serde_json::json!({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":format!("part{i} ")}}),
        ));
    }
    events.push((
        "content_block_stop",
        serde_json::json!({"type":"content_block_stop","index":0}),
    ));
    events.push((
        "message_delta",
        serde_json::json!({"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":deltas as u64 + 1}}),
    ));
    events.push(("message_stop", serde_json::json!({"type":"message_stop"})));
    for (i, (name, data)) in events.iter().enumerate() {
        if close_after == Some(i) {
            return Ok(());
        }
        if i > 0 && !gap.is_zero() {
            tokio::time::sleep(gap).await;
        }
        let ev = format!("event: {name}\ndata: {data}\n\n");
        let chunk = format!("{:x}\r\n{ev}\r\n", ev.len());
        sock.write_all(chunk.as_bytes()).await?;
        sock.flush().await?;
    }
    sock.write_all(b"0\r\n\r\n").await?;
    sock.flush().await
}

/// Answers as the scripted model, in the request's API and mode.
async fn scripted(
    sock: &mut TcpStream,
    script: &crate::scripted_model::Script,
    req: &serde_json::Value,
    openai: bool,
    stream: bool,
    usage: (u64, u64, u64),
) -> std::io::Result<()> {
    use crate::scripted_model as m;
    if let Some(code) = script
        .fail_continuation
        .filter(|_| m::is_continuation(req, openai))
    {
        let body = format!(
            r#"{{"type":"error","error":{{"type":"rate_limit_error","message":"fake upstream says {code}"}}}}"#
        );
        return write_json(sock, code, body.as_bytes()).await;
    }
    let turn = m::decide(script, req, openai);
    let model = model_of(req);
    match (openai, stream) {
        (false, false) => {
            write_json(
                sock,
                200,
                m::anthropic_json(&turn, &model, usage).as_bytes(),
            )
            .await
        }
        (true, false) => write_json(sock, 200, m::openai_json(&turn, usage.0).as_bytes()).await,
        (false, true) => {
            let events = m::anthropic_events(&turn, &model, usage)
                .into_iter()
                .map(|(name, data)| format!("event: {name}\ndata: {data}\n\n"))
                .collect();
            write_stream(sock, events).await
        }
        (true, true) => {
            let include = req.pointer("/stream_options/include_usage")
                == Some(&serde_json::Value::Bool(true));
            let n = req["messages"].as_array().map_or(0, |m| m.len());
            let events = m::openai_chunks(&turn, usage.0, include, &format!("chatcmpl-s{n}"))
                .into_iter()
                .map(|d| format!("data: {d}\n\n"))
                .collect();
            write_stream(sock, events).await
        }
    }
}

/// Writes SSE events, one chunk each.
async fn write_stream(sock: &mut TcpStream, events: Vec<String>) -> std::io::Result<()> {
    let head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream; charset=utf-8\r\ncache-control: no-cache\r\ntransfer-encoding: chunked\r\nrequest-id: req_fake\r\n\r\n";
    sock.write_all(head.as_bytes()).await?;
    for ev in events {
        let chunk = format!("{:x}\r\n{ev}\r\n", ev.len());
        sock.write_all(chunk.as_bytes()).await?;
        sock.flush().await?;
    }
    sock.write_all(b"0\r\n\r\n").await?;
    sock.flush().await
}
