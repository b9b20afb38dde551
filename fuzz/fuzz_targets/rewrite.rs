//! The request walker and splicer through `headroom::compress::rewrite`.
#![no_main]

#[path = "../properties.rs"]
mod properties;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    properties::rewrite(data);
});
