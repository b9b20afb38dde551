//! The request walker and splicer through `headroom::compress::rewrite`.
#![no_main]

use headroom_test_support::properties;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    properties::rewrite(data);
});
