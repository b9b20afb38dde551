//! `headroom tokens`: the exact counts the real-output measurement uses, checked against
//! tiktoken-rs's cl100k on real program output, and its behaviour on bad input.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn headroom() -> Command {
    Command::new(env!("CARGO_BIN_EXE_headroom"))
}

fn corpus(case: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/realworld")
        .join(case)
        .join("input.txt")
}

#[test]
fn counts_equal_tiktoken_cl100k_on_real_output() {
    let reference = tiktoken_rs::cl100k_base().expect("cl100k is built into tiktoken-rs");
    // Source code, HTML, a licence, a dpkg log, JSON from npm: different token mixes.
    let cases = [
        "rust_read_tokio_mutex",
        "html_users_and_groups",
        "license_apache2",
        "log_dpkg_read",
        "json_npm_view_express_time",
    ];
    let files: Vec<PathBuf> = cases.iter().map(|c| corpus(c)).collect();
    let out = headroom().arg("tokens").args(&files).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), files.len(), "{stdout}");
    for (line, file) in lines.iter().zip(&files) {
        let (count, name) = line.split_once('\t').expect("COUNT<TAB>NAME");
        assert_eq!(name, file.display().to_string());
        let text = std::fs::read_to_string(file).unwrap();
        let want = reference.encode_ordinary(&text).len();
        assert!(want > 500, "{name} is too small to tell counters apart");
        assert_eq!(count.parse::<usize>().unwrap(), want, "{name}");
    }
}

#[test]
fn reads_standard_input_without_arguments() {
    let text = std::fs::read_to_string(corpus("license_apache2")).unwrap();
    let mut child = headroom()
        .arg("tokens")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let want = tiktoken_rs::cl100k_base()
        .unwrap()
        .encode_ordinary(&text)
        .len();
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        format!("{want}\t-\n")
    );
}

#[test]
fn unreadable_or_binary_files_fail_by_name_and_the_rest_are_counted() {
    let dir = tempfile::tempdir().unwrap();
    let binary = dir.path().join("blob.bin");
    std::fs::write(&binary, b"ok \xff\xfe not text").unwrap();
    let missing = dir.path().join("missing.txt");
    let good = dir.path().join("good.txt");
    std::fs::write(&good, "hello world").unwrap();
    let out = headroom()
        .arg("tokens")
        .args([&binary, &missing, &good])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("blob.bin: not UTF-8 text (invalid byte at offset 3)"),
        "{stderr}"
    );
    assert!(stderr.contains("missing.txt:"), "{stderr}");
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        format!("2\t{}\n", good.display())
    );
}
