//! The last requests this process served, for the dashboard: a fixed-size ring in memory.
//!
//! Must never: hold header values, query strings or bodies (only the path, the model name as
//! the upstream reported it, token counts, timing and status).

use serde::Serialize;
use std::collections::VecDeque;

/// How many requests the ring keeps.
pub const RECENT: usize = 50;
const MAX_PATH: usize = 120;

/// One finished request as the dashboard lists it.
#[derive(Debug, Default, Clone, Serialize, PartialEq)]
pub struct RecentRequest {
    pub at_unix_ms: u64,
    /// When it was recorded, on the process's monotonic clock (ns): the dashboard's order
    /// across the recording threads, unmoved by wall-clock steps.
    #[serde(skip)]
    pub order: u64,
    pub method: String,
    /// Path without the query string, cut to 120 bytes.
    pub path: String,
    pub model: String,
    pub status: u16,
    pub duration_ms: f64,
    pub tokens_before: u64,
    pub tokens_after: u64,
}

#[derive(Debug, Default)]
pub struct Ring(VecDeque<RecentRequest>);

impl Ring {
    pub fn push(&mut self, r: RecentRequest) {
        if self.0.len() == RECENT {
            self.0.pop_front();
        }
        self.0.push_back(r);
    }

    /// An entry to fill and [`Ring::push`]: the oldest one when the ring is full (its text
    /// buffers emptied and reused), else a new one.
    pub fn reuse_oldest(&mut self) -> RecentRequest {
        if self.0.len() < RECENT {
            return RecentRequest::default();
        }
        let mut r = self.0.pop_front().unwrap_or_default();
        r.method.clear();
        r.path.clear();
        r.model.clear();
        r
    }

    /// Oldest first.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &RecentRequest> {
        self.0.iter()
    }
}

/// A method fit to show: its upper-case ASCII letters, at most 10 (appended to `out`).
pub fn display_method_into(method: &str, out: &mut String) {
    // The usual case, a plain method: one copy instead of a char-by-char rebuild.
    if method.len() <= 10 && method.bytes().all(|b| b.is_ascii_uppercase()) {
        out.push_str(method);
        return;
    }
    out.extend(method.chars().filter(char::is_ascii_uppercase).take(10));
}

/// A path fit to show: no query, printable, bounded.
pub fn display_path(path: &str) -> String {
    let mut out = String::new();
    display_path_into(path, &mut out);
    out
}

/// [`display_path`] appended to `out` (empty on entry).
pub fn display_path_into(path: &str, out: &mut String) {
    // `?` is ASCII: its byte position is a character boundary.
    let path = match path.as_bytes().iter().position(|&b| b == b'?') {
        Some(q) => &path[..q],
        None => path,
    };
    // The usual case, a plain path: one copy instead of a char-by-char rebuild.
    if !path.is_empty() && path.len() <= MAX_PATH && path.bytes().all(|b| b.is_ascii_graphic()) {
        out.push_str(path);
        return;
    }
    out.extend(path.chars().filter(|c| c.is_ascii_graphic()).take(MAX_PATH));
    if out.is_empty() {
        out.push('/');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_paths_drop_queries_and_unprintable_bytes() {
        assert_eq!(display_path("/v1/messages"), "/v1/messages");
        assert_eq!(display_path("/v1/messages?beta=true"), "/v1/messages");
        assert_eq!(display_path("/v1/m\u{e9}ss ages"), "/v1/mssages");
        assert_eq!(
            display_path(&format!("/{}", "a".repeat(200))).len(),
            MAX_PATH
        );
        assert_eq!(display_path("?key=x"), "/");
        assert_eq!(display_path(""), "/");
    }

    #[test]
    fn keeps_the_newest_fifty() {
        let mut ring = Ring::default();
        for i in 0..(RECENT as u64 + 7) {
            ring.push(RecentRequest {
                at_unix_ms: i,
                method: "POST".into(),
                path: "/v1/messages".into(),
                model: "m".into(),
                status: 200,
                duration_ms: 1.0,
                tokens_before: 0,
                tokens_after: 0,
                order: i,
            });
        }
        let list: Vec<_> = ring.iter().rev().collect();
        assert_eq!(list.len(), RECENT);
        assert_eq!(list[0].at_unix_ms, RECENT as u64 + 6);
        assert_eq!(list[RECENT - 1].at_unix_ms, 7);
    }

    #[test]
    fn paths_lose_queries_and_control_characters() {
        assert_eq!(display_path("/v1/messages?key=secret"), "/v1/messages");
        assert_eq!(display_path("/a\u{1b}[31mb"), "/a[31mb");
        assert_eq!(display_path(&"/x".repeat(200)).len(), MAX_PATH);
    }
}
