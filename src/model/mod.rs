//! The learned compressor's runtime: ONNX Runtime sessions (ort, load-dynamic), tokenizers,
//! device choice and model file discovery. Owns everything that touches `libonnxruntime`.
//! Never runs on Pingora's async worker threads.

mod config;

pub use config::{Device, ModelConfig, ModelKind};
