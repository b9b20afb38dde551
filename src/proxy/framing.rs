//! Request framing checks on the raw header bytes, before anything is forwarded.
//!
//! Pingora resolves some ambiguous framings itself (Transfer-Encoding wins over Content-Length,
//! identical duplicate Content-Length values are merged) and hands the proxy the cleaned
//! header. A proxy in front of every model call has no reason to accept either: a client that
//! sends them is broken or probing for request smuggling, so they are refused here, where the
//! original field lines are still visible.
//!
//! Must never: log or echo header values.

/// Why a request's framing is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FramingError {
    #[error("request has both Content-Length and Transfer-Encoding")]
    LengthAndTransferEncoding,
    #[error("request has more than one Content-Length")]
    RepeatedContentLength,
    #[error("request has a Content-Length that is not a plain decimal number")]
    InvalidContentLength,
}

/// Checks the header section of one HTTP/1 request (request line, field lines, blank line).
pub fn check(raw_head: &[u8]) -> Result<(), FramingError> {
    let mut lengths = 0usize;
    let mut transfer_encoding = false;
    let mut start = match memchr::memchr(b'\n', raw_head) {
        Some(i) => i + 1,
        None => return Ok(()),
    };
    while start <= raw_head.len() {
        let end = memchr::memchr(b'\n', &raw_head[start..]).map_or(raw_head.len(), |i| start + i);
        let line = &raw_head[start..end];
        start = end + 1;
        // Only a name starting with `c` or `t` can be one of the two: skip the rest without
        // looking for their colon (the name is the line up to its colon, trimmed).
        let first = line.iter().find(|b| !b.is_ascii_whitespace());
        if !first.is_some_and(|&b| matches!(b | 0x20, b'c' | b't')) {
            continue;
        }
        let Some(colon) = memchr::memchr(b':', line) else {
            continue;
        };
        let name = line[..colon].trim_ascii();
        let value = line[colon + 1..].trim_ascii();
        if name.eq_ignore_ascii_case(b"content-length") {
            lengths += length_value(value)?;
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            transfer_encoding = true;
        }
    }
    if lengths > 0 && transfer_encoding {
        return Err(FramingError::LengthAndTransferEncoding);
    }
    if lengths > 1 {
        return Err(FramingError::RepeatedContentLength);
    }
    Ok(())
}

/// The same check on a request's parsed fields when it has no `Transfer-Encoding`: the parser
/// then keeps every `Content-Length` line, in order (it drops one only beside a
/// `Transfer-Encoding`, where [`check`] must read the raw lines). `lengths`: their values.
pub fn check_lengths<'a>(lengths: impl Iterator<Item = &'a [u8]>) -> Result<(), FramingError> {
    let mut n = 0usize;
    for value in lengths {
        n += length_value(value.trim_ascii())?;
    }
    if n > 1 {
        return Err(FramingError::RepeatedContentLength);
    }
    Ok(())
}

/// How many lengths one trimmed `Content-Length` value states.
fn length_value(value: &[u8]) -> Result<usize, FramingError> {
    // A comma-separated list counts as repeated fields (RFC 9110 §5.3).
    let commas = value.iter().filter(|&&b| b == b',').count();
    // `1*DIGIT` only: `+5` or `0x5` parse differently in different servers.
    if commas == 0 && (value.is_empty() || !value.iter().all(u8::is_ascii_digit)) {
        return Err(FramingError::InvalidContentLength);
    }
    Ok(1 + commas)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_one_length_or_one_transfer_encoding() {
        assert_eq!(
            check(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n"),
            Ok(())
        );
        assert_eq!(
            check(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"),
            Ok(())
        );
        assert_eq!(
            check(b"GET / HTTP/1.1\r\nX-Content-Length: 1\r\nX-Transfer-Encoding: 1\r\n\r\n"),
            Ok(())
        );
    }

    #[test]
    fn refuses_length_with_transfer_encoding_in_any_case_and_order() {
        for head in [
            &b"POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"[..],
            b"POST / HTTP/1.1\r\ntransfer-encoding: chunked\r\ncontent-length: 0\r\n\r\n",
            b"POST / HTTP/1.1\r\nTRANSFER-ENCODING:chunked\r\nCONTENT-LENGTH:5\r\n\r\n",
        ] {
            assert_eq!(check(head), Err(FramingError::LengthAndTransferEncoding));
        }
    }

    #[test]
    fn refuses_lengths_that_are_not_plain_digits() {
        for head in [
            &b"POST / HTTP/1.1\r\nContent-Length: +5\r\n\r\n"[..],
            b"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
            b"POST / HTTP/1.1\r\nContent-Length: 0x5\r\n\r\n",
            b"POST / HTTP/1.1\r\nContent-Length:\r\n\r\n",
        ] {
            assert_eq!(check(head), Err(FramingError::InvalidContentLength));
        }
    }

    #[test]
    fn refuses_repeated_content_length_even_when_equal() {
        for head in [
            &b"POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n"[..],
            b"POST / HTTP/1.1\r\nContent-Length: 5\r\ncontent-length: 6\r\n\r\n",
            b"POST / HTTP/1.1\r\nContent-Length: 5, 5\r\n\r\n",
        ] {
            assert_eq!(check(head), Err(FramingError::RepeatedContentLength));
        }
    }

    /// The plain reading of the rule, line by line: what [`check`] must answer.
    fn check_by_lines(raw_head: &[u8]) -> Result<(), FramingError> {
        let (mut lengths, mut te) = (0usize, false);
        for line in raw_head.split(|&b| b == b'\n').skip(1) {
            let Some(colon) = line.iter().position(|&b| b == b':') else {
                continue;
            };
            let name = line[..colon].trim_ascii();
            let value = line[colon + 1..].trim_ascii();
            if name.eq_ignore_ascii_case(b"content-length") {
                let commas = value.iter().filter(|&&b| b == b',').count();
                lengths += 1 + commas;
                if commas == 0 && (value.is_empty() || !value.iter().all(u8::is_ascii_digit)) {
                    return Err(FramingError::InvalidContentLength);
                }
            } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
                te = true;
            }
        }
        if lengths > 0 && te {
            return Err(FramingError::LengthAndTransferEncoding);
        }
        if lengths > 1 {
            return Err(FramingError::RepeatedContentLength);
        }
        Ok(())
    }

    /// The head's fields as Pingora's HTTP/1 parser (httparse) gives them; `None` when it
    /// refuses the head.
    fn parsed(head: &[u8]) -> Option<http::HeaderMap> {
        let mut fields = [httparse::EMPTY_HEADER; 16];
        let mut req = httparse::Request::new(&mut fields);
        if !matches!(req.parse(head), Ok(httparse::Status::Complete(_))) {
            return None;
        }
        let mut map = http::HeaderMap::new();
        for f in req.headers.iter() {
            map.append(
                http::HeaderName::from_bytes(f.name.as_bytes()).ok()?,
                http::HeaderValue::from_bytes(f.value).ok()?,
            );
        }
        Some(map)
    }

    proptest::proptest! {
        #[test]
        fn the_parsed_lengths_answer_like_the_raw_lines_without_transfer_encoding(
            lines in proptest::collection::vec(
                proptest::string::string_regex(
                    "(Content-Length|content-length|CONTENT-LENGTH|Host|X-Content-Length|c)[ \t]{0,1}:[ \t]{0,2}[0-9a-z, +\t\x0c]{0,6}[ \t]{0,1}"
                ).unwrap(),
                0..6,
            )
        ) {
            let head = format!("POST / HTTP/1.1\r\n{}\r\n\r\n", lines.join("\r\n"));
            if let Some(map) = parsed(head.as_bytes()) {
                let values = map.get_all(http::header::CONTENT_LENGTH).iter().map(|v| v.as_bytes());
                proptest::prop_assert_eq!(check_lengths(values), check(head.as_bytes()));
            }
        }

        #[test]
        fn skipping_lines_answers_like_reading_every_line(
            lines in proptest::collection::vec(
                proptest::string::string_regex(
                    "[ \t]{0,2}(Content-Length|content-length|TRANSFER-ENCODING|Transfer-Encoding|Host|X-Content-Length|:|c|t)[ \t]{0,2}(:[ \t]{0,2}[0-9a-z, +]{0,6})?\r?"
                ).unwrap(),
                0..6,
            )
        ) {
            let head = format!("POST / HTTP/1.1\r\n{}\r\n\r\n", lines.join("\n"));
            proptest::prop_assert_eq!(check(head.as_bytes()), check_by_lines(head.as_bytes()));
        }
    }
}
