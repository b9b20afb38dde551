fn main() {
    let p = std::env::args().nth(1).unwrap();
    let s = std::fs::read_to_string(p).unwrap();
    print!("{}", headroom_compress::html::html_to_text(&s).unwrap_or_default());
}
