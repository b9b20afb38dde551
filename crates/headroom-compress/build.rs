//! Writes the cl100k vocabulary as one compact blob for `src/tokens.rs`: for every rank from 0
//! upwards, one length byte and the token's bytes. tiktoken-rs (a build dependency only) is the
//! source of truth, so the proxy never carries its decoder map or sorted token list at run time.
//!
//! Must never: reach the network (the vocabulary ships inside tiktoken-rs), or write outside
//! `OUT_DIR`.

use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let bpe = match tiktoken_rs::cl100k_base() {
        Ok(bpe) => bpe,
        Err(e) => panic!("build.rs: tiktoken-rs could not build cl100k_base: {e}"),
    };
    let mut blob = Vec::with_capacity(1 << 20);
    let mut ranks = 0u32;
    // cl100k's ordinary tokens have the ranks 0..100256 without gaps; its special tokens start at
    // 100257 and are not part of an ordinary count.
    while let Ok(bytes) = bpe.decode_bytes(&[ranks]) {
        if ranks >= 100_257 {
            break;
        }
        let len = u8::try_from(bytes.len()).unwrap_or_else(|_| {
            panic!(
                "build.rs: cl100k token {ranks} is {} bytes, more than the blob's one-byte length",
                bytes.len()
            )
        });
        assert!(len > 0, "build.rs: cl100k token {ranks} is empty");
        blob.push(len);
        blob.extend_from_slice(&bytes);
        ranks += 1;
    }
    assert!(
        ranks >= 100_000,
        "build.rs: cl100k has only {ranks} consecutive ranks; tiktoken-rs changed its vocabulary?"
    );
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    std::fs::write(out.join("cl100k.bin"), &blob)
        .unwrap_or_else(|e| panic!("build.rs: writing {}: {e}", out.display()));
}
