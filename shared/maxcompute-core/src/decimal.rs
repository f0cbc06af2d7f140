//! DECIMAL values as text: reading the forms clients send and fitting them to a column.
//!
//! DECIMAL cells travel as text. Java's `BigDecimal.toString` and Python's `str(Decimal)` write
//! small and large values in exponent form (`6.73261E-12`, `1E+5`), so every reader here takes
//! `[+-]digits[.digits][e[+-]digits]` (also `.5` and `5.`, which `BigDecimal` accepts).
//! [`Decimal::fit`] gives the plain form a `decimal(p,s)` column holds: more fraction digits than
//! the scale are rounded half away from zero (`RoundingMode.HALF_UP`, as the Java SDK and
//! pyodps's own check do), and more integer digits than `p - s` is an overflow. Nothing here
//! goes through binary floating point: digits stay digits.

use std::fmt;

/// A parsed decimal: `digits × 10^exponent`, with the sign apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decimal {
    negative: bool,
    /// The significant digits as written, leading zeros removed (empty for zero). Trailing zeros
    /// are kept: `1.50` stays `1.50` when it fits.
    digits: Vec<u8>,
    exponent: i64,
}

/// A decimal that, rounded to its column's scale, has more integer digits than
/// `precision - scale`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Overflow {
    pub integer_digits: u64,
}

impl Decimal {
    /// Parses a decimal number; `None` when `text` is not one. No surrounding whitespace.
    pub fn parse(text: &str) -> Option<Self> {
        let bytes = text.as_bytes();
        let (negative, rest) = match bytes.split_first() {
            Some((b'-', rest)) => (true, rest),
            Some((b'+', rest)) => (false, rest),
            _ => (false, bytes),
        };
        let (mantissa, exp_text) = match rest.iter().position(|&b| b == b'e' || b == b'E') {
            Some(at) => {
                let (m, e) = rest.split_at(at);
                (m, Some(e.get(1..).unwrap_or_default()))
            }
            None => (rest, None),
        };
        let (int, frac) = match mantissa.iter().position(|&b| b == b'.') {
            Some(dot) => {
                let (int, with_dot) = mantissa.split_at(dot);
                (int, with_dot.get(1..).unwrap_or_default())
            }
            None => (mantissa, &[][..]),
        };
        if (int.is_empty() && frac.is_empty())
            || !int.iter().all(u8::is_ascii_digit)
            || !frac.iter().all(u8::is_ascii_digit)
        {
            return None;
        }
        let exponent = match exp_text {
            None => 0,
            Some(e) => parse_exponent(e)?,
        };
        let mut digits: Vec<u8> = int.iter().chain(frac).copied().collect();
        let leading = digits.iter().take_while(|&&b| b == b'0').count();
        digits.drain(..leading);
        // Saturating: an exponent near i64's limits is out of every column's range anyway.
        let frac_len = i64::try_from(frac.len()).unwrap_or(i64::MAX);
        Some(Self {
            negative,
            digits,
            exponent: exponent.saturating_sub(frac_len),
        })
    }

    fn is_zero(&self) -> bool {
        self.digits.iter().all(|&b| b == b'0')
    }

    /// Digits before the decimal point, leading zeros not counted.
    fn integer_digits(&self) -> u64 {
        if self.is_zero() {
            // `0E+5` is zero, not a six-digit number.
            return 0;
        }
        let len = i64::try_from(self.digits.len()).unwrap_or(i64::MAX);
        u64::try_from(len.saturating_add(self.exponent)).unwrap_or(0)
    }

    /// The value rounded half away from zero to `scale` fraction digits, when it has more.
    fn rounded(&self, scale: u8) -> Self {
        let min_exponent = -i64::from(scale);
        if self.exponent >= min_exponent {
            return self.clone();
        }
        // Digits to drop from the right; all of them (and more) when the value is below the
        // last place kept.
        let drop = min_exponent.saturating_sub(self.exponent);
        let keep = i64::try_from(self.digits.len())
            .unwrap_or(i64::MAX)
            .saturating_sub(drop);
        let (mut kept, first_dropped) = match usize::try_from(keep) {
            Ok(keep) if keep <= self.digits.len() => (
                self.digits.get(..keep).unwrap_or_default().to_vec(),
                self.digits.get(keep).copied(),
            ),
            // `keep` is negative: even the first digit is dropped, and it is not the first
            // digit after the last kept place unless `keep` is exactly 0 (handled above).
            _ => (Vec::new(), None),
        };
        if first_dropped.is_some_and(|d| d >= b'5') {
            increment(&mut kept);
        }
        Self {
            negative: self.negative,
            digits: kept,
            exponent: min_exponent,
        }
    }

    /// The plain text a `decimal(precision, scale)` column holds for this value: no exponent,
    /// no `+`, no superfluous leading zeros, no `-` on zero, the fraction digits as written when
    /// there are at most `scale` of them, else rounded to `scale`.
    pub fn fit(&self, precision: u8, scale: u8) -> Result<String, Overflow> {
        let value = self.rounded(scale);
        let integer_digits = value.integer_digits();
        if integer_digits > u64::from(precision.saturating_sub(scale)) {
            return Err(Overflow { integer_digits });
        }
        Ok(value.to_string())
    }

    /// The value as an `i64` when it is integral and in range (`1.0` and `1e3` are integral).
    pub fn to_i64(&self) -> Option<i64> {
        if !self.fraction_digits_are_zero() || self.integer_digits() > 19 {
            return None;
        }
        let fraction = usize::try_from((-self.exponent).max(0)).ok()?;
        let int = self
            .digits
            .get(..self.digits.len().saturating_sub(fraction))?;
        let mut n: i128 = 0;
        for &d in int {
            n = n * 10 + i128::from(d - b'0');
        }
        for _ in 0..self.exponent.max(0) {
            n *= 10;
        }
        i64::try_from(if self.negative { -n } else { n }).ok()
    }

    fn fraction_digits_are_zero(&self) -> bool {
        if self.exponent >= 0 {
            return true;
        }
        let fraction = usize::try_from(self.exponent.unsigned_abs()).unwrap_or(usize::MAX);
        let start = self.digits.len().saturating_sub(fraction);
        self.digits
            .get(start..)
            .unwrap_or_default()
            .iter()
            .all(|&b| b == b'0')
    }
}

/// Adds one unit in the last place of a digit string, carrying left.
fn increment(digits: &mut Vec<u8>) {
    for d in digits.iter_mut().rev() {
        if *d == b'9' {
            *d = b'0';
        } else {
            *d += 1;
            return;
        }
    }
    digits.insert(0, b'1');
}

fn parse_exponent(e: &[u8]) -> Option<i64> {
    let (negative, digits) = match e.split_first() {
        Some((b'-', rest)) => (true, rest),
        Some((b'+', rest)) => (false, rest),
        _ => (false, e),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    // Saturates instead of failing: `1e99999999999999999999` is a number, just out of range.
    let magnitude = digits.iter().fold(0i64, |n, &d| {
        n.saturating_mul(10).saturating_add(i64::from(d - b'0'))
    });
    Some(if negative { -magnitude } else { magnitude })
}

/// The plain form: `-123.4500`, `0.00012`, `100000`.
impl fmt::Display for Decimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.negative && !self.is_zero() {
            f.write_str("-")?;
        }
        let digits = std::str::from_utf8(&self.digits).map_err(|_| fmt::Error)?;
        if self.exponent >= 0 {
            if digits.is_empty() {
                return f.write_str("0");
            }
            f.write_str(digits)?;
            for _ in 0..self.exponent {
                f.write_str("0")?;
            }
            return Ok(());
        }
        let fraction = usize::try_from(self.exponent.unsigned_abs()).map_err(|_| fmt::Error)?;
        if digits.len() > fraction {
            let (int, frac) = digits.split_at(digits.len() - fraction);
            write!(f, "{int}.{frac}")
        } else {
            write!(f, "0.{:0>fraction$}", digits)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fit(text: &str, precision: u8, scale: u8) -> Result<String, Overflow> {
        Decimal::parse(text)
            .unwrap_or_else(|| panic!("{text:?} is a decimal"))
            .fit(precision, scale)
    }

    #[test]
    fn plain_values_keep_their_digits() {
        assert_eq!(fit("12.34", 10, 2).unwrap(), "12.34");
        assert_eq!(fit("-0.50", 10, 2).unwrap(), "-0.50");
        assert_eq!(fit("+007", 10, 0).unwrap(), "7");
        assert_eq!(fit("0", 10, 0).unwrap(), "0");
        assert_eq!(fit("-0.0", 10, 2).unwrap(), "0.0");
        assert_eq!(fit(".5", 10, 2).unwrap(), "0.5");
        assert_eq!(fit("5.", 10, 2).unwrap(), "5");
        assert_eq!(
            fit("123456789012.123456789", 38, 9).unwrap(),
            "123456789012.123456789"
        );
        assert_eq!(
            fit("12345678901234567890.123456789", 38, 9).unwrap(),
            "12345678901234567890.123456789"
        );
        assert_eq!(fit("0.000000001", 38, 9).unwrap(), "0.000000001");
    }

    #[test]
    fn exponent_forms_become_plain() {
        assert_eq!(fit("6.73261E-12", 38, 18).unwrap(), "0.00000000000673261");
        assert_eq!(fit("1E+5", 10, 0).unwrap(), "100000");
        assert_eq!(fit("1.0E+3", 10, 2).unwrap(), "1000");
        assert_eq!(fit("1e-9", 38, 9).unwrap(), "0.000000001");
        assert_eq!(fit("0E-9", 38, 9).unwrap(), "0.000000000");
        assert_eq!(fit("-2.5e1", 10, 0).unwrap(), "-25");
        assert_eq!(
            fit("1.2345678901234567e+19", 38, 0).unwrap(),
            "12345678901234567000"
        );
    }

    #[test]
    fn extra_places_round_half_away_from_zero() {
        assert_eq!(fit("6.73261E-12", 38, 9).unwrap(), "0.000000000");
        assert_eq!(fit("1.005", 10, 2).unwrap(), "1.01");
        assert_eq!(fit("-1.005", 10, 2).unwrap(), "-1.01");
        assert_eq!(fit("1.004999", 10, 2).unwrap(), "1.00");
        assert_eq!(fit("9.995", 10, 2).unwrap(), "10.00");
        assert_eq!(fit("0.5", 10, 0).unwrap(), "1");
        assert_eq!(fit("0.05", 10, 1).unwrap(), "0.1");
        assert_eq!(fit("0.004", 10, 2).unwrap(), "0.00");
        assert_eq!(fit("-0.004", 10, 2).unwrap(), "0.00");
        assert_eq!(fit("1.500000000000", 38, 9).unwrap(), "1.500000000");
        assert_eq!(fit("5e-1000", 10, 2).unwrap(), "0.00");
    }

    #[test]
    fn too_many_integer_digits_overflow() {
        assert_eq!(fit("123.4", 4, 2), Err(Overflow { integer_digits: 3 }));
        // Rounding can add an integer digit.
        assert_eq!(fit("99.995", 4, 2), Err(Overflow { integer_digits: 3 }));
        assert_eq!(fit("99.994", 4, 2).unwrap(), "99.99");
        assert!(matches!(
            fit("1e99999999999999999999", 38, 0),
            Err(Overflow { .. })
        ));
        assert_eq!(fit("0.0001", 1, 1).unwrap(), "0.0");
        assert_eq!(fit("0E+400", 5, 5).unwrap(), "0");
        assert_eq!(fit("-0e19", 1, 0).unwrap(), "0");
    }

    #[test]
    fn non_decimals_are_refused() {
        for bad in [
            "", "-", "+", ".", "e5", "1e", "1e+", "1.2.3", " 1", "1 ", "--1", "NaN", "Infinity",
            "1,5", "0x10", "1e5.5", "١",
        ] {
            assert_eq!(Decimal::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn integral_values_convert_to_i64() {
        let i = |t: &str| Decimal::parse(t).and_then(|d| d.to_i64());
        assert_eq!(i("42"), Some(42));
        assert_eq!(i("-42.000"), Some(-42));
        assert_eq!(i("1e3"), Some(1000));
        assert_eq!(i("1.5e1"), Some(15));
        assert_eq!(i("9223372036854775807"), Some(i64::MAX));
        assert_eq!(i("-9223372036854775808"), Some(i64::MIN));
        assert_eq!(i("9223372036854775808"), None);
        assert_eq!(i("1.5"), None);
        assert_eq!(i("1e-3"), None);
        assert_eq!(i("0.0"), Some(0));
        assert_eq!(i("1e30"), None);
    }
}
