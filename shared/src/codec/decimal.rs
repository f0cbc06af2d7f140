//! Syntax and size checks for DECIMAL cells, which travel as plain decimal strings.
//!
//! Only the shape is checked here (`[+-]digits[.digits]`, what Java's `toPlainString` and
//! Python's `str(Decimal)` produce for ordinary values); no arithmetic or rounding is done.

/// Significant digit counts of a plain decimal string: integer digits without leading zeros,
/// fraction digits without trailing zeros. `None` when the bytes are not a plain decimal.
pub(crate) fn significant_digits(s: &[u8]) -> Option<(usize, usize)> {
    let unsigned = match s.split_first() {
        Some((b'+' | b'-', rest)) => rest,
        _ => s,
    };
    let (int, frac) = match unsigned.iter().position(|&b| b == b'.') {
        Some(dot) => {
            let (int, with_dot) = unsigned.split_at(dot);
            let frac = with_dot.get(1..).unwrap_or_default();
            if frac.is_empty() {
                return None;
            }
            (int, frac)
        }
        None => (unsigned, &[][..]),
    };
    if int.is_empty() || !int.iter().all(u8::is_ascii_digit) || !frac.iter().all(u8::is_ascii_digit)
    {
        return None;
    }
    let int_digits = int.iter().skip_while(|&&b| b == b'0').count();
    let frac_digits = frac.len() - frac.iter().rev().take_while(|&&b| b == b'0').count();
    Some((int_digits, frac_digits))
}

#[cfg(test)]
mod tests {
    use super::significant_digits as d;

    #[test]
    fn plain_decimals() {
        assert_eq!(d(b"12.34"), Some((2, 2)));
        assert_eq!(d(b"-0.50"), Some((0, 1)));
        assert_eq!(d(b"+007"), Some((1, 0)));
        assert_eq!(d(b"0"), Some((0, 0)));
        assert_eq!(d(b"100.000"), Some((3, 0)));
        for bad in [
            &b""[..],
            b"-",
            b".5",
            b"5.",
            b"1e5",
            b"1.2.3",
            b" 1",
            b"--1",
            b"NaN",
            b"1,5",
        ] {
            assert_eq!(d(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }
}
