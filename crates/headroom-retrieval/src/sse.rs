//! Server-sent events split from a byte stream, one complete event at a time.
//!
//! Must never: lose or reorder bytes of an event, or wait for more than one event's bytes.

/// One event: its raw text (without the blank line ending it), `event:` name and `data:`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub raw: Vec<u8>,
    pub name: Option<String>,
    pub data: String,
}

impl Event {
    /// The event as it goes to the client again, blank line included.
    pub fn bytes(&self) -> Vec<u8> {
        let mut out = self.raw.clone();
        out.extend_from_slice(b"\n\n");
        out
    }
}

/// Splits a stream into events.
#[derive(Debug, Default)]
pub struct Splitter {
    pending: Vec<u8>,
}

impl Splitter {
    /// Takes a chunk; returns the events it completed.
    pub fn feed(&mut self, chunk: &[u8]) -> Vec<Event> {
        self.pending.extend_from_slice(chunk);
        let mut out = Vec::new();
        while let Some((end, next)) = blank_line(&self.pending) {
            let raw: Vec<u8> = self.pending[..end].to_vec();
            self.pending.drain(..next);
            if raw.iter().all(|b| b.is_ascii_whitespace()) {
                continue;
            }
            out.push(parse(raw));
        }
        out
    }

    /// Whatever is left at the end of the stream (an event without its blank line).
    pub fn finish(&mut self) -> Option<Event> {
        let raw = std::mem::take(&mut self.pending);
        let trimmed = raw.strip_suffix(b"\n").unwrap_or(&raw);
        let trimmed = trimmed.strip_suffix(b"\r").unwrap_or(trimmed);
        (!trimmed.iter().all(|b| b.is_ascii_whitespace())).then(|| parse(trimmed.to_vec()))
    }
}

/// End of the first event's text and the start of the next event.
fn blank_line(b: &[u8]) -> Option<(usize, usize)> {
    let mut i = 0;
    while let Some(p) = b[i..].iter().position(|&c| c == b'\n') {
        let nl = i + p;
        let rest = &b[nl + 1..];
        if rest.starts_with(b"\n") {
            let end = if nl > 0 && b[nl - 1] == b'\r' {
                nl - 1
            } else {
                nl
            };
            return Some((end, nl + 2));
        }
        if rest.starts_with(b"\r\n") {
            let end = if nl > 0 && b[nl - 1] == b'\r' {
                nl - 1
            } else {
                nl
            };
            return Some((end, nl + 3));
        }
        i = nl + 1;
    }
    None
}

fn parse(raw: Vec<u8>) -> Event {
    let text = String::from_utf8_lossy(&raw).into_owned();
    let mut name = None;
    let mut data = String::new();
    for line in text.lines() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if let Some(v) = line.strip_prefix("event:") {
            name = Some(v.trim_start().to_string());
        } else if let Some(v) = line.strip_prefix("data:") {
            if !data.is_empty() {
                data.push('\n');
            }
            data.push_str(v.strip_prefix(' ').unwrap_or(v));
        }
    }
    Event { raw, name, data }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_events_across_any_chunking_and_line_ending() {
        let stream = "event: a\ndata: {\"x\":1}\n\nevent: b\r\ndata: 2\r\n\r\ndata: [DONE]\n\n";
        for size in [1, 3, 7, stream.len()] {
            let mut s = Splitter::default();
            let mut got = Vec::new();
            for c in stream.as_bytes().chunks(size) {
                got.extend(s.feed(c));
            }
            assert!(s.finish().is_none());
            let names: Vec<_> = got
                .iter()
                .map(|e| (e.name.clone(), e.data.clone()))
                .collect();
            assert_eq!(
                names,
                vec![
                    (Some("a".into()), "{\"x\":1}".into()),
                    (Some("b".into()), "2".into()),
                    (None, "[DONE]".into())
                ],
                "chunk size {size}"
            );
            assert_eq!(got[0].bytes(), b"event: a\ndata: {\"x\":1}\n\n");
        }
    }
}
