//! What the learned compressors need from a model, stated as two small traits so this crate
//! never links a model runtime: an embedder (texts → vectors) for [`super::RelevanceCompressor`]
//! and a word scorer (text → per-word keep probabilities) for [`super::WordCompressor`].
//! The embedding program adapts its model types to them.
//!
//! Must never: load models or know how scores are computed.

/// A model call that failed; the message says why (it ends up in a compressor error).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct ModelFailure(pub String);

/// An L2-normalised sentence embedding; the dot product of two is their cosine similarity.
pub type Embedding = Vec<f32>;

/// A sentence embedder.
pub trait SentenceEmbedder: Send + Sync {
    /// Longest input, in model tokens, that the embedder accepts.
    fn max_tokens(&self) -> usize;
    /// Tokens `text` would take (with special tokens), uncut.
    fn count_tokens(&self, text: &str) -> Result<usize, ModelFailure>;
    /// Embeds each text cut to at most `max_tokens` tokens; output order matches input order.
    fn embed_limited(
        &self,
        texts: &[&str],
        max_tokens: usize,
    ) -> Result<Vec<Embedding>, ModelFailure>;
}

/// One whitespace-separated word of a text and its keep-probability. `start..end` are byte
/// offsets into the text.
#[derive(Debug, Clone, PartialEq)]
pub struct WordScore {
    pub start: usize,
    pub end: usize,
    pub keep: f32,
}

/// A token classifier that scores every whitespace-separated word of a text, in order.
pub trait WordScorer: Send + Sync {
    fn score_words(&self, text: &str) -> Result<Vec<WordScore>, ModelFailure>;
}

/// Cosine similarity of two normalised embeddings.
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}
