//! The response usage tap (JSON, gzip/deflate JSON, SSE) fed in arbitrary chunks.
#![no_main]

#[path = "../properties.rs"]
mod properties;

libfuzzer_sys::fuzz_target!(|data: &[u8]| properties::usage_tap(data));
