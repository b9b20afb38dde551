//! Each rule-based compressor (json, log, search, diff, generic) and the span-recording JSON
//! parser they share.
#![no_main]

use headroom_test_support::properties;

libfuzzer_sys::fuzz_target!(|data: &[u8]| properties::compressor(data));
