//! Sentence embeddings from a BERT-style encoder (all-MiniLM-L6-v2 by default): mean pooling
//! over real tokens, L2-normalised, batched by length. Never decides what to keep.

use super::batch::{encode, plan_batches, SharedSession};
use super::{Device, ModelError};
use tokenizers::Tokenizer;

/// Rows per inference batch.
const MAX_ROWS: usize = 64;
/// Padded tokens per inference batch (bounds memory and keeps batches cache-friendly).
const MAX_CELLS: usize = 4096;

/// An L2-normalised embedding; the dot product of two is their cosine similarity.
pub type Embedding = Vec<f32>;

pub struct Embedder {
    session: SharedSession,
    tokenizer: Tokenizer,
    /// Longest sequence fed to the model (all-MiniLM-L6-v2 was trained with 256).
    max_tokens: usize,
}

impl Embedder {
    pub(crate) fn new(session: SharedSession, tokenizer: Tokenizer, max_tokens: usize) -> Self {
        Embedder {
            session,
            tokenizer,
            max_tokens,
        }
    }

    pub fn device(&self) -> Device {
        self.session.device()
    }

    pub fn max_tokens(&self) -> usize {
        self.max_tokens
    }

    /// Embeds each text (cut to `max_tokens` tokens). Output order matches input order.
    pub fn embed(&self, texts: &[&str]) -> Result<Vec<Embedding>, ModelError> {
        self.embed_limited(texts, self.max_tokens)
    }

    /// Like [`Embedder::embed`] with a tighter token limit per text (for scoring unit heads).
    pub fn embed_limited(
        &self,
        texts: &[&str],
        max_tokens: usize,
    ) -> Result<Vec<Embedding>, ModelError> {
        let limit = max_tokens.clamp(2, self.max_tokens);
        let encodings = texts
            .iter()
            .map(|t| encode(&self.tokenizer, t, limit, false))
            .collect::<Result<Vec<_>, _>>()?;
        let lengths: Vec<usize> = encodings.iter().map(|e| e.len()).collect();
        let mut out: Vec<Embedding> = vec![Vec::new(); texts.len()];
        for batch in plan_batches(&lengths, MAX_ROWS, MAX_CELLS) {
            let rows: Vec<_> = batch.iter().map(|&i| &encodings[i]).collect();
            let output = self.session.run(&rows)?;
            let pooled = mean_pool(&output.shape, &output.data, &rows)?;
            for (slot, emb) in batch.into_iter().zip(pooled) {
                out[slot] = emb;
            }
        }
        Ok(out)
    }

    /// Tokens `text` would take (with special tokens), uncut.
    pub fn count_tokens(&self, text: &str) -> Result<usize, ModelError> {
        Ok(encode(&self.tokenizer, text, usize::MAX, false)?.len())
    }
}

/// Mean of the token vectors under the attention mask, L2-normalised. A model whose first
/// output is already pooled (`[batch, hidden]`) is only normalised.
fn mean_pool(
    shape: &[usize],
    data: &[f32],
    rows: &[&tokenizers::Encoding],
) -> Result<Vec<Embedding>, ModelError> {
    let bad = || {
        ModelError::Inference(format!(
            "unexpected embedder output shape {shape:?} for {} rows",
            rows.len()
        ))
    };
    match *shape {
        [b, hidden] if b == rows.len() => Ok(data
            .chunks_exact(hidden.max(1))
            .map(|v| normalise(v.to_vec()))
            .collect()),
        [b, seq, hidden] if b == rows.len() && data.len() == b * seq * hidden => {
            let mut out = Vec::with_capacity(b);
            for (r, enc) in rows.iter().enumerate() {
                let mut sum = vec![0f32; hidden];
                let mut n = 0f32;
                for (t, &m) in enc.get_attention_mask().iter().enumerate().take(seq) {
                    if m == 0 {
                        continue;
                    }
                    let start = (r * seq + t) * hidden;
                    for (s, &x) in sum.iter_mut().zip(&data[start..start + hidden]) {
                        *s += x;
                    }
                    n += 1.0;
                }
                let n = n.max(1.0);
                sum.iter_mut().for_each(|s| *s /= n);
                out.push(normalise(sum));
            }
            Ok(out)
        }
        _ => Err(bad()),
    }
}

fn normalise(mut v: Vec<f32>) -> Vec<f32> {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 1e-12 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
    v
}
