//! Bytes from the hex strings test vectors are written in (pyodps's output, captured bodies),
//! and back.

/// The bytes of `s`, two lower-case hex digits a byte. Panics, naming the culprit, on an odd
/// length or any other character, so a mistyped vector fails its test instead of shifting bytes.
pub fn unhex(s: &str) -> Vec<u8> {
    assert!(s.len().is_multiple_of(2), "odd hex length {}", s.len());
    let nibble = |c: u8| match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        _ => panic!("{:?} is not a lower-case hex digit", char::from(c)),
    };
    s.as_bytes()
        .chunks(2)
        .map(|pair| nibble(pair[0]) << 4 | nibble(pair[1]))
        .collect()
}

/// `bytes` as two lower-case hex digits a byte, the form [`unhex`] reads.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::{hex, unhex};

    #[test]
    fn bytes_become_pairs_of_digits_and_back() {
        let all: Vec<u8> = (0..=255).collect();
        assert_eq!(hex(&[0x00, 0xff, 0x7f, 0x80]), "00ff7f80");
        assert_eq!(unhex(&hex(&all)), all);
    }

    #[test]
    fn pairs_of_digits_become_bytes() {
        assert_eq!(unhex(""), b"");
        assert_eq!(unhex("00ff7f80"), [0x00, 0xff, 0x7f, 0x80]);
    }

    #[test]
    #[should_panic(expected = "odd hex length 3")]
    fn an_odd_length_is_refused() {
        unhex("abc");
    }

    #[test]
    #[should_panic(expected = "'G' is not a lower-case hex digit")]
    fn other_characters_are_refused() {
        unhex("0G");
    }
}
