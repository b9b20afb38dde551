#[test]
fn probe() {
    let t = std::fs::read_to_string(std::env::var("PROBE_CASE").unwrap() + "/input.txt").unwrap();
    let task = std::fs::read_to_string(std::env::var("PROBE_CASE").unwrap() + "/task.txt").unwrap();
    let out = headroom_compress::search::compress_search(&t, task.trim(), &Default::default());
    println!("{}", out.unwrap_or_else(|| "NONE".into()));
}
