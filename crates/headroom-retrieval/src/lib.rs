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
