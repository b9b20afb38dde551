//! Tokenizer loading and the padded batch fed to a BERT-style session: shared by the embedder
//! and the token classifier. Owns input naming and padding; never interprets outputs.

use super::{Device, ModelError};
use ort::session::{Session, SessionInputValue};
use ort::value::Tensor;
use std::borrow::Cow;
use std::path::Path;
use std::sync::Mutex;
use std::time::Instant;
use tokenizers::{Encoding, Tokenizer};

/// Loads `tokenizer.json` with its built-in padding and truncation turned off (the MiniLM file
/// pads and truncates to 128): headroom windows and pads by itself.
pub fn load_tokenizer(path: &Path) -> Result<Tokenizer, ModelError> {
    let err = |message: String| ModelError::Tokenizer {
        path: path.to_path_buf(),
        message,
    };
    let mut tokenizer = Tokenizer::from_file(path).map_err(|e| err(e.to_string()))?;
    tokenizer.with_padding(None);
    tokenizer
        .with_truncation(None)
        .map_err(|e| err(e.to_string()))?;
    Ok(tokenizer)
}

/// Tokenizes `text` with the model's special tokens, cut to at most `max_tokens` (keeping the
/// closing special token so the sequence stays well-formed). `offsets: false` skips computing
/// character offsets (faster; enough for embeddings).
pub fn encode(
    tokenizer: &Tokenizer,
    text: &str,
    max_tokens: usize,
    offsets: bool,
) -> Result<Encoding, ModelError> {
    let encoded = if offsets {
        tokenizer.encode(text, true)
    } else {
        tokenizer.encode_fast(text, true)
    };
    let mut enc = encoded.map_err(|e| ModelError::Encode(e.to_string()))?;
    if enc.len() > max_tokens && max_tokens >= 2 {
        let last = enc.len() - 1;
        let mut keep: Vec<usize> = (0..max_tokens - 1).collect();
        keep.push(last);
        enc = select(&enc, &keep);
    }
    Ok(enc)
}

fn select(enc: &Encoding, keep: &[usize]) -> Encoding {
    let pick_u32 = |v: &[u32]| keep.iter().map(|&i| v[i]).collect::<Vec<_>>();
    Encoding::new(
        pick_u32(enc.get_ids()),
        pick_u32(enc.get_type_ids()),
        keep.iter().map(|&i| enc.get_tokens()[i].clone()).collect(),
        keep.iter().map(|&i| enc.get_word_ids()[i]).collect(),
        keep.iter().map(|&i| enc.get_offsets()[i]).collect(),
        pick_u32(enc.get_special_tokens_mask()),
        pick_u32(enc.get_attention_mask()),
        Vec::new(),
        Default::default(),
    )
}

/// Which of the standard BERT inputs the session declares.
#[derive(Debug, Clone, Copy)]
pub struct InputNames {
    pub token_type_ids: bool,
}

impl InputNames {
    pub fn check(
        session: &Session,
        model: &Path,
        expected: &'static str,
    ) -> Result<Self, ModelError> {
        let names: Vec<&str> = session.inputs().iter().map(|i| i.name()).collect();
        for required in ["input_ids", "attention_mask"] {
            if !names.contains(&required) {
                return Err(ModelError::ModelShape {
                    path: model.to_path_buf(),
                    expected,
                    message: format!(
                        "it has no `{required}` input (inputs: {})",
                        names.join(", ")
                    ),
                });
            }
        }
        if let Some(other) = names
            .iter()
            .find(|n| !["input_ids", "attention_mask", "token_type_ids"].contains(n))
        {
            return Err(ModelError::ModelShape {
                path: model.to_path_buf(),
                expected,
                message: format!("it needs an input `{other}` that headroom does not provide"),
            });
        }
        Ok(InputNames {
            token_type_ids: names.contains(&"token_type_ids"),
        })
    }
}

/// A session shared by the threads of the blocking pool (`Session::run` needs `&mut`).
pub struct SharedSession {
    session: Mutex<Session>,
    inputs: InputNames,
    device: Device,
}

/// The first output of one run, copied out of ONNX Runtime's buffer.
pub struct Output {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

impl SharedSession {
    pub fn new(session: Session, inputs: InputNames, device: Device) -> Self {
        SharedSession {
            session: Mutex::new(session),
            inputs,
            device,
        }
    }

    pub fn device(&self) -> Device {
        self.device
    }

    /// Runs one right-padded batch of encodings; returns the first output.
    pub fn run(&self, batch: &[&Encoding]) -> Result<Output, ModelError> {
        let rows = batch.len();
        let cols = batch.iter().map(|e| e.len()).max().unwrap_or(0);
        if rows == 0 || cols == 0 {
            return Ok(Output {
                shape: vec![rows, cols],
                data: Vec::new(),
            });
        }
        let mut ids = vec![0i64; rows * cols];
        let mut mask = vec![0i64; rows * cols];
        let mut types = vec![0i64; rows * cols];
        let mut real_tokens = 0u64;
        for (r, enc) in batch.iter().enumerate() {
            let row = r * cols;
            for (c, ((&id, &m), &t)) in enc
                .get_ids()
                .iter()
                .zip(enc.get_attention_mask())
                .zip(enc.get_type_ids())
                .enumerate()
            {
                ids[row + c] = i64::from(id);
                mask[row + c] = i64::from(m);
                types[row + c] = i64::from(t);
            }
            real_tokens += enc.len() as u64;
        }
        let shape = [rows, cols];
        let tensor = |v: Vec<i64>| -> Result<SessionInputValue<'static>, ModelError> {
            Tensor::from_array((shape, v))
                .map(Into::into)
                .map_err(|e| ModelError::Inference(e.to_string()))
        };
        let mut inputs: Vec<(Cow<'static, str>, SessionInputValue<'static>)> = vec![
            ("input_ids".into(), tensor(ids)?),
            ("attention_mask".into(), tensor(mask)?),
        ];
        if self.inputs.token_type_ids {
            inputs.push(("token_type_ids".into(), tensor(types)?));
        }

        let started = Instant::now();
        let mut session = self.session.lock().unwrap_or_else(|p| p.into_inner());
        let outputs = session
            .run(inputs)
            .map_err(|e| ModelError::Inference(e.to_string()))?;
        let (out_shape, data) = outputs[0]
            .try_extract_tensor::<f32>()
            .map_err(|e| ModelError::Inference(e.to_string()))?;
        let out = Output {
            shape: out_shape.iter().map(|&d| d.max(0) as usize).collect(),
            data: data.to_vec(),
        };
        drop(outputs);
        drop(session);
        crate::observe::report(crate::observe::Inference {
            device: self.device,
            elapsed: started.elapsed(),
            tokens: real_tokens,
        });
        Ok(out)
    }
}

/// Groups indices (sorted by token length, so rows in a batch pad little) into batches of at
/// most `max_rows` rows and `max_cells` padded tokens.
pub fn plan_batches(lengths: &[usize], max_rows: usize, max_cells: usize) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..lengths.len()).collect();
    order.sort_by_key(|&i| (lengths[i], i));
    let mut batches: Vec<Vec<usize>> = Vec::new();
    let mut current: Vec<usize> = Vec::new();
    for i in order {
        // Sorted ascending: the newest row is the longest, so it sets the padded width.
        let width = lengths[i].max(1);
        if !current.is_empty()
            && (current.len() >= max_rows || (current.len() + 1) * width > max_cells)
        {
            batches.push(std::mem::take(&mut current));
        }
        current.push(i);
    }
    if !current.is_empty() {
        batches.push(current);
    }
    batches
}

#[cfg(test)]
mod tests {
    use super::plan_batches;

    #[test]
    fn batches_respect_row_and_cell_limits_and_cover_every_index_once() {
        let lengths = [5, 300, 7, 120, 6, 64, 64, 8];
        let batches = plan_batches(&lengths, 3, 256);
        let mut seen: Vec<usize> = batches.iter().flatten().copied().collect();
        seen.sort();
        assert_eq!(seen, (0..lengths.len()).collect::<Vec<_>>());
        for b in &batches {
            let width = b.iter().map(|&i| lengths[i]).max().unwrap();
            assert!(b.len() <= 3);
            assert!(b.len() == 1 || b.len() * width <= 256, "{b:?}");
        }
    }
}
