//! Generates Claude-Code-shaped coding-agent sessions for tests and the cost bench: 20+ tool
//! definitions, a long system prompt with `cache_control`, `stream: true`, and one turn per tool
//! call whose result (JSON listings, logs, search results, file reads, small outputs) is the
//! newest user block and carries the only other `cache_control` marker, as Claude Code does.
//! Deterministic for a given seed. Tool outputs come from tests/fixtures/compress/ plus
//! generated file reads and small outputs.
//!
//! Must never: depend on anything but its seed and the fixture files.

#![allow(dead_code)]

use serde_json::{json, Value};
use std::path::PathBuf;

pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

pub fn fixture_dir() -> PathBuf {
    crate::checkout().join("tests/fixtures/compress")
}

/// (name, text, task, needles) for every fixture.
pub fn fixtures() -> Vec<(String, String, String, Vec<String>)> {
    let mut names: Vec<String> = std::fs::read_dir(fixture_dir())
        .map(|d| {
            d.filter_map(|e| {
                e.ok()?
                    .file_name()
                    .into_string()
                    .ok()?
                    .strip_suffix(".txt")
                    .map(str::to_string)
            })
            .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
        .into_iter()
        .map(|name| {
            let read = |ext: &str| {
                std::fs::read_to_string(fixture_dir().join(format!("{name}.{ext}")))
                    .unwrap_or_default()
            };
            let needles = read("needles")
                .lines()
                .filter(|l| !l.is_empty())
                .map(str::to_string)
                .collect();
            (
                name.clone(),
                read("txt"),
                read("task").trim().to_string(),
                needles,
            )
        })
        .collect()
}

const TOOL_NAMES: [&str; 22] = [
    "Task",
    "Bash",
    "Glob",
    "Grep",
    "LS",
    "ExitPlanMode",
    "Read",
    "Edit",
    "MultiEdit",
    "Write",
    "NotebookEdit",
    "WebFetch",
    "TodoWrite",
    "WebSearch",
    "BashOutput",
    "KillShell",
    "SlashCommand",
    "mcp__github__list_repos",
    "mcp__github__get_issue",
    "mcp__postgres__query",
    "mcp__k8s__get_pods",
    "mcp__sentry__list_events",
];

pub fn tools() -> Vec<Value> {
    TOOL_NAMES
        .iter()
        .enumerate()
        .map(|(i, name)| {
            json!({
                "name": name,
                "description": format!(
                    "{name}: a tool the agent may call. {} Use it when the task needs it; prefer the most specific tool. Results are returned verbatim and may be long.",
                    "It accepts the parameters described in the schema and validates them before running. ".repeat(2 + i % 4)
                ),
                "input_schema": {
                    "type": "object",
                    "properties": {
                        "command": {"type": "string", "description": "What to run or read."},
                        "path": {"type": "string", "description": "Absolute path of the file or directory."},
                        "limit": {"type": "integer", "description": "Maximum number of lines or items."}
                    },
                    "required": ["command"],
                    "additionalProperties": false,
                    "$schema": "http://json-schema.org/draft-07/schema#"
                }
            })
        })
        .collect()
}

pub fn system_prompt() -> String {
    let mut s = String::from(
        "You are an interactive coding agent that helps users with software engineering tasks.\n",
    );
    let rules = [
        "Read files before editing them and keep changes minimal.",
        "Run the project's tests after every change and report failures honestly.",
        "Prefer the dedicated search tools over shell pipelines for finding code.",
        "Never commit secrets, and ask before running destructive commands.",
        "Keep answers short; show the command you ran and the relevant output.",
        "When a tool result is long, quote only the lines that matter.",
    ];
    for k in 0..60 {
        s.push_str(&format!("{}. {}\n", k + 1, rules[k % rules.len()]));
    }
    s
}

fn file_read(rng: &mut Rng, lines: usize) -> String {
    let mut out = String::new();
    for i in 1..=lines {
        let body = match rng.below(6) {
            0 => format!("fn handler_{i}(req: &Request) -> Result<Response, Error> {{"),
            1 => format!("    let value_{i} = cache.get(&key).unwrap_or_default();"),
            2 => "    }".to_string(),
            3 => format!("    // step {i}: validate input before dispatch"),
            4 => format!("    metrics.record(\"op_{i}\", started.elapsed());"),
            _ => String::new(),
        };
        out.push_str(&format!("{i:>6}→{body}\n"));
    }
    out
}

fn small_output(rng: &mut Rng) -> String {
    format!(
        "On branch feature/compress-{}\nChanges not staged for commit:\n  modified:   src/lib.rs\n  modified:   src/compress/json.rs\n",
        rng.below(1000)
    )
}

/// One tool call: (tool name, input, output).
fn tool_call(
    rng: &mut Rng,
    turn: usize,
    corpus: &[(String, String, String, Vec<String>)],
) -> (String, Value, String) {
    match (turn + rng.below(3) as usize) % 5 {
        0..=2 if !corpus.is_empty() => {
            let (name, text, _, _) = &corpus[rng.below(corpus.len() as u64) as usize];
            let tool = if name.starts_with("rg") {
                "Grep"
            } else if name.contains("repos") || name.contains("pods") || name.contains("sql") {
                "mcp__github__list_repos"
            } else {
                "Bash"
            };
            // Vary the output a little so sessions differ: a header line with the turn.
            (
                tool.to_string(),
                json!({"command": format!("inspect {name}")}),
                format!("$ inspect {name} # turn {turn}\n{text}"),
            )
        }
        3 => {
            let n = 120 + rng.below(200) as usize;
            (
                "Read".to_string(),
                json!({"command": "read", "path": format!("/repo/src/mod_{turn}.rs")}),
                file_read(rng, n),
            )
        }
        _ => (
            "Bash".to_string(),
            json!({"command": "git status"}),
            small_output(rng),
        ),
    }
}

/// The request bodies a client sends over `turns` turns of one session.
pub fn session(seed: u64, turns: usize) -> Vec<Vec<u8>> {
    let mut rng = Rng::new(seed);
    let corpus = fixtures();
    let task = corpus
        .get(rng.below(corpus.len().max(1) as u64) as usize)
        .map(|f| f.2.clone())
        .unwrap_or_else(|| "Fix the failing build.".to_string());
    let mut messages: Vec<Value> = vec![json!({
        "role": "user",
        "content": [
            {"type": "text", "text": "<system-reminder>\nThe user's environment: Linux, git repository, Rust and Python.\n</system-reminder>"},
            {"type": "text", "text": task}
        ]
    })];
    let mut bodies = Vec::with_capacity(turns);
    for turn in 0..turns {
        let (tool, input, output) = tool_call(&mut rng, turn, &corpus);
        let id = format!("toolu_{seed:04}_{turn:03}");
        messages.push(json!({
            "role": "assistant",
            "content": [
                {"type": "text", "text": format!("Let me look at this with {tool}.")},
                {"type": "tool_use", "id": id, "name": tool, "input": input}
            ]
        }));
        let result = if turn % 2 == 0 {
            json!({"type": "tool_result", "tool_use_id": id, "content": output})
        } else {
            json!({"type": "tool_result", "tool_use_id": id, "content": [{"type": "text", "text": output}]})
        };
        messages.push(json!({"role": "user", "content": [result]}));
        bodies.push(request(&messages));
    }
    bodies
}

/// Removes every `cache_control` (breakpoints move between turns; the content must not).
pub fn strip_cache_control(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.remove("cache_control");
            m.values_mut().for_each(strip_cache_control);
        }
        Value::Array(a) => a.iter_mut().for_each(strip_cache_control),
        _ => {}
    }
}

/// A request with `cache_control` on the system prompt and on the newest user block only.
pub fn request(messages: &[Value]) -> Vec<u8> {
    let mut messages = messages.to_vec();
    if let Some(last) = messages.iter_mut().rev().find(|m| m["role"] == "user") {
        if let Some(Value::Array(parts)) = last.get_mut("content") {
            if let Some(Value::Object(block)) = parts.last_mut() {
                block.insert("cache_control".into(), json!({"type": "ephemeral"}));
            }
        }
    }
    let body = json!({
        "model": "claude-sonnet-4-5-20250929",
        "max_tokens": 32000,
        "stream": true,
        "system": [
            {"type": "text", "text": "You are Claude Code, Anthropic's official CLI for Claude."},
            {"type": "text", "text": system_prompt(), "cache_control": {"type": "ephemeral"}}
        ],
        "tools": tools(),
        "metadata": {"user_id": "user_session_test"},
        "messages": messages
    });
    serde_json::to_vec(&body).unwrap_or_default()
}
