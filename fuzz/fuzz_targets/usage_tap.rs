//! The response usage tap (JSON, gzip/deflate JSON, SSE) fed in arbitrary chunks.
#![no_main]

#[path = "../proxy_properties.rs"]
mod proxy_properties;

libfuzzer_sys::fuzz_target!(|data: &[u8]| proxy_properties::usage_tap(data));
