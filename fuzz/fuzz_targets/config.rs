//! The YAML config parser and validator.
#![no_main]

#[path = "../proxy_properties.rs"]
mod proxy_properties;

libfuzzer_sys::fuzz_target!(|data: &[u8]| proxy_properties::config(data));
