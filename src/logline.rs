//! Log-field values written straight into a line buffer as the bytes tracing's text formatter
//! makes of them (their `Debug` form), without `core::fmt`'s machinery: the access line is
//! written for every request, and formatting it through `write!` cost several thousand
//! instructions.
//!
//! Must never: write bytes that differ from the value's `Debug` form; whatever the fast paths
//! are unsure of goes through `Debug` itself.

use std::io::Write as _;

/// An unsigned integer in decimal (its `Display` and `Debug` form).
pub fn push_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
}

/// `true` or `false`.
pub fn push_bool(out: &mut Vec<u8>, v: bool) {
    out.extend_from_slice(if v { b"true" } else { b"false" });
}

/// A string in its `Debug` form: quoted, with quotes, backslashes and anything outside
/// printable ASCII escaped (printable ASCII without `"` or `\` is copied as it is).
pub fn push_debug_str(out: &mut Vec<u8>, s: &str) {
    if s.bytes()
        .all(|b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\')
    {
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    } else {
        let _ = write!(out, "{s:?}");
    }
}

/// An `f64` that holds a whole number of hundredths (as `(x * 100.0).round() / 100.0` makes),
/// in its `Debug` form: `0.0`, `0.12`, `2000.0`, `1234.5`. Such a value is the double nearest
/// to `n / 100`, and the shortest decimal that reads back as it is `n / 100` itself (doubles
/// are much finer than 15 significant digits), which is what `Debug` prints. Anything else
/// (negative, not finite, huge, or not on a hundredth) goes through `Debug`.
pub fn push_hundredths_f64(out: &mut Vec<u8>, v: f64) {
    let n = (v * 100.0).round();
    if v.is_finite() && v.is_sign_positive() && (0.0..1e15).contains(&n) && n / 100.0 == v {
        let n = n as u64;
        push_u64(out, n / 100);
        out.push(b'.');
        let frac = (n % 100) as u8;
        out.push(b'0' + frac / 10);
        if !frac.is_multiple_of(10) {
            out.push(b'0' + frac % 10);
        }
    } else {
        let _ = write!(out, "{v:?}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(f: impl FnOnce(&mut Vec<u8>)) -> String {
        let mut out = Vec::new();
        f(&mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn integers_and_bools_are_their_debug_form() {
        for v in [0, 7, 10, 99, 100, 65_535, 1_000_000, u64::MAX] {
            assert_eq!(written(|o| push_u64(o, v)), format!("{v:?}"));
        }
        assert_eq!(written(|o| push_bool(o, true)), format!("{:?}", true));
        assert_eq!(written(|o| push_bool(o, false)), format!("{:?}", false));
    }

    #[test]
    fn strings_are_their_debug_form() {
        for s in [
            "",
            "/v1/messages",
            "POST",
            "ConnectTimedout",
            "a \"quoted\" path",
            "back\\slash",
            "tab\there",
            "new\nline",
            "del\u{7f}",
            "caf\u{e9}",
            "zero\u{200b}width",
            "combining\u{301}",
            "'single'",
            "~!@#$%^&*()_+{}|:<>?`-=[];,./",
        ] {
            assert_eq!(written(|o| push_debug_str(o, s)), format!("{s:?}"), "{s}");
        }
    }

    #[test]
    fn hundredths_are_their_debug_form() {
        // Every duration_ms of a request up to 10 s, a sample up to 3 hours, then odd values.
        for n in (0..1_000_000u64).chain((1_000_000..1_000_000_000).step_by(9_973)) {
            let elapsed = std::time::Duration::from_nanos(n * 10_000);
            let v = (elapsed.as_secs_f64() * 1000.0 * 100.0).round() / 100.0;
            let got = written(|o| push_hundredths_f64(o, v));
            if got != format!("{v:?}") {
                panic!("{n}: {got} != {v:?}");
            }
        }
        for v in [
            1e12 + 0.25,
            123_456_789_012.34,
            9.99e14,
            1e15,
            1e20,
            0.001,
            0.125,
            -0.0,
            -1.5,
            f64::NAN,
            f64::INFINITY,
            f64::MIN_POSITIVE,
        ] {
            assert_eq!(
                written(|o| push_hundredths_f64(o, v)),
                format!("{v:?}"),
                "{v}"
            );
        }
    }
}
