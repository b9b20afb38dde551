//! Hands the kernel back the pages of read-only code and data that only start-up touched: ONNX
//! Runtime's library (35 MB on disk; building a session touches ~20 MB of it — graph
//! optimisers, the kernel registry, protobuf parsing — of which inference uses about half) and
//! the headroom binary's own start-up code. Pages that are used again fault back in from the
//! page cache on their next use, so this changes what stays resident, never what runs.
//!
//! Must never: touch writable or anonymous mappings (heap, stacks, relocated data), the
//! memory-mapped model weights (inference reads all of them), or fail the caller (a kernel
//! without `MADV_PAGEOUT`, before Linux 5.4, or a non-Linux system just keeps the pages).

use std::path::Path;

/// Asks the kernel to reclaim the resident read-only pages mapped from any of `files`.
/// Returns the number of bytes of mappings advised (0 where unsupported).
pub fn release(files: &[&Path]) -> u64 {
    let wanted: Vec<std::path::PathBuf> = files
        .iter()
        .filter_map(|f| std::fs::canonicalize(f).ok())
        .collect();
    if wanted.is_empty() {
        return 0;
    }
    let Ok(maps) = std::fs::read_to_string("/proc/self/maps") else {
        return 0;
    };
    maps.lines()
        .filter_map(read_only_file_mapping)
        .filter(|(_, _, path)| wanted.iter().any(|w| w.as_path() == Path::new(path)))
        .map(|(start, end, _)| advise_pageout(start, end))
        .sum()
}

/// `(start, end, path)` of a `/proc/self/maps` line that maps a file without write permission.
fn read_only_file_mapping(line: &str) -> Option<(usize, usize, &str)> {
    let mut fields = line.split_whitespace();
    let range = fields.next()?;
    let perms = fields.next()?;
    let path = fields.nth(3)?;
    if perms.contains('w') || !path.starts_with('/') {
        return None;
    }
    let (start, end) = range.split_once('-')?;
    let start = usize::from_str_radix(start, 16).ok()?;
    let end = usize::from_str_radix(end, 16).ok()?;
    (end > start).then_some((start, end, path))
}

#[cfg(target_os = "linux")]
fn advise_pageout(start: usize, end: usize) -> u64 {
    // SAFETY: the range is a whole read-only file mapping of this process, taken from
    // /proc/self/maps; MADV_PAGEOUT only drops resident pages, which the kernel faults back in
    // unchanged from the file on the next access. It neither unmaps nor alters the contents.
    let rc = unsafe { libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_PAGEOUT) };
    if rc == 0 {
        (end - start) as u64
    } else {
        0
    }
}

#[cfg(not(target_os = "linux"))]
fn advise_pageout(_start: usize, _end: usize) -> u64 {
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_only_read_only_file_mappings() {
        let exec = "7f00a000-7f00c000 r-xp 00001000 08:01 42 /usr/lib/libonnxruntime.so.1.32.0";
        assert_eq!(
            read_only_file_mapping(exec),
            Some((0x7f00a000, 0x7f00c000, "/usr/lib/libonnxruntime.so.1.32.0"))
        );
        let relocated = "7f00c000-7f00d000 rw-p 00003000 08:01 42 /usr/lib/libonnxruntime.so";
        assert_eq!(read_only_file_mapping(relocated), None);
        assert_eq!(
            read_only_file_mapping("5600-5700 rw-p 00000000 00:00 0 [heap]"),
            None
        );
        assert_eq!(
            read_only_file_mapping("5600-5700 r--p 00000000 00:00 0"),
            None
        );
        assert_eq!(read_only_file_mapping("garbage"), None);
    }

    /// The test binary's own code: advising it must leave the process running the same code
    /// (the pages come back from the file) and report the mappings it advised on Linux.
    #[test]
    fn released_code_keeps_running() {
        let exe = std::env::current_exe().expect("test binary path");
        let advised = release(&[exe.as_path()]);
        if cfg!(target_os = "linux") {
            assert!(advised > 0, "no mapping of {} advised", exe.display());
        }
        let text: String = ["still", "runs"].join(" ");
        assert_eq!(text, "still runs");
        assert_eq!(release(&[Path::new("/no/such/file")]), 0);
    }
}
