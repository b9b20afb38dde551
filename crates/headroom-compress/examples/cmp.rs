// Scratch: compress a file with a task through the default pipeline.
fn main() {
    let mut a = std::env::args().skip(1);
    let p = a.next().unwrap();
    let task = a.next().unwrap_or_default();
    let s = std::fs::read_to_string(p).unwrap();
    let pl = headroom_compress::Pipeline::new(Default::default(), None);
    let o = pl.compress_text(&s, &task).unwrap();
    eprintln!("{} {} {} -> {}", o.kind, o.compressor, o.tokens_before, o.tokens_after);
    print!("{}", o.output.unwrap_or_default());
}
