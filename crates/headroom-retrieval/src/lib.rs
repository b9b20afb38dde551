//! The proxy-served `headroom_retrieve` tool, as pure functions of bytes: the tool definition
//! and its injection into a request ([`tool`]), reading the model's calls out of an answer
//! ([`turn`] for JSON bodies, [`anthropic_sse`] / [`openai_sse`] for streams), answering them
//! from the originals store ([`answer`]), building the continuation request
//! ([`continuation`]) and the one coherent answer the client receives ([`merge`]).
//!
//! Must never: do I/O or know about HTTP servers (the proxy runs the exchange); re-serialise a
//! request body (every edit is a byte splice, so the prompt-cache prefix stays identical); let
//! a retrieval call or the tool reach what the client receives.

pub mod answer;
pub mod anthropic_sse;
pub mod continuation;
pub mod merge;
pub mod openai_sse;
mod sse;
pub mod tool;
pub mod turn;

/// The tool's name, in both APIs.
pub const TOOL_NAME: &str = "headroom_retrieve";

/// Which provider API a body speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    /// Anthropic Messages (`/v1/messages`).
    Anthropic,
    /// OpenAI chat completions (`/v1/chat/completions`).
    OpenAi,
}

/// One call of `headroom_retrieve` the model made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    /// The provider's id of the call (`toolu_…`, `call_…`), answered by the tool result.
    pub call_id: String,
    /// The tool input exactly as the model produced it (a JSON object, as text).
    pub input: String,
}

/// The stream rewriter of either API (see [`anthropic_sse`], [`openai_sse`]).
#[derive(Debug)]
pub enum EventStream {
    Anthropic(anthropic_sse::AnthropicStream),
    OpenAi(openai_sse::OpenAiStream),
}

impl EventStream {
    pub fn new(api: Api) -> EventStream {
        match api {
            Api::Anthropic => EventStream::Anthropic(anthropic_sse::AnthropicStream::new()),
            Api::OpenAi => EventStream::OpenAi(openai_sse::OpenAiStream::new()),
        }
    }

    /// Bytes of the current round's upstream stream in; bytes for the client out.
    pub fn feed(&mut self, b: &[u8]) -> Vec<u8> {
        match self {
            EventStream::Anthropic(s) => s.feed(b),
            EventStream::OpenAi(s) => s.feed(b),
        }
    }

    /// The round's upstream stream ended: the last bytes for the client and the model's turn.
    pub fn end_round(&mut self) -> (Vec<u8>, turn::Turn) {
        match self {
            EventStream::Anthropic(s) => s.end_round(),
            EventStream::OpenAi(s) => s.end_round(),
        }
    }

    /// The proxy continues: the next upstream stream belongs to the same client answer.
    pub fn next_round(&mut self) {
        match self {
            EventStream::Anthropic(s) => s.next_round(),
            EventStream::OpenAi(s) => s.next_round(),
        }
    }

    /// The held end of the client's answer (`ended_by_proxy`: rounds exhausted, no client call).
    pub fn release(&mut self, ended_by_proxy: bool) -> Vec<u8> {
        match self {
            EventStream::Anthropic(s) => s.release(ended_by_proxy),
            EventStream::OpenAi(s) => s.release(ended_by_proxy),
        }
    }

    /// An in-stream `error` event was forwarded: the stream is over.
    pub fn errored(&self) -> bool {
        matches!(self, EventStream::Anthropic(s) if s.errored)
    }
}
