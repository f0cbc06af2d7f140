//! Bytes from the hex strings test vectors are written in (pyodps's output, captured bodies).

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

#[cfg(test)]
mod tests {
    use super::unhex;

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
