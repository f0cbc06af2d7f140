//! Value parsers the subcommands share, and how a command fails.

/// Why a command did not succeed: a usage mistake clap could not see (exit 2), or a failure
/// while running (exit 1).
#[derive(Debug)]
pub(crate) enum Failure {
    Usage(String),
    Run(String),
}

/// An AccessKey pair, `ID:SECRET`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KeyPair {
    pub id: String,
    pub secret: String,
}

pub(crate) fn key_pair(v: &str) -> Result<KeyPair, String> {
    match v.split_once(':') {
        Some((id, secret)) if !id.is_empty() && !secret.is_empty() => Ok(KeyPair {
            id: id.to_owned(),
            secret: secret.to_owned(),
        }),
        _ => Err(format!("expected ID:SECRET, got `{v}`")),
    }
}

/// `NAME=VALUE`, for a function's environment; the value may itself hold `=`.
pub(crate) fn env_pair(v: &str) -> Result<(String, String), String> {
    v.split_once('=')
        .filter(|(k, _)| !k.is_empty())
        .map(|(k, val)| (k.to_owned(), val.to_owned()))
        .ok_or_else(|| format!("expected NAME=VALUE, got `{v}`"))
}

/// Bytes given as hex digit pairs; whitespace is ignored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HexBytes(pub Vec<u8>);

pub(crate) fn hex(v: &str) -> Result<HexBytes, String> {
    let clean: Vec<u8> = v.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    if !clean.len().is_multiple_of(2) {
        return Err(format!("expected hex digit pairs, got `{v}`"));
    }
    clean
        .chunks(2)
        .map(|pair| {
            std::str::from_utf8(pair)
                .ok()
                .and_then(|p| u8::from_str_radix(p, 16).ok())
                .ok_or_else(|| format!("expected hex digits, got `{v}`"))
        })
        .collect::<Result<_, _>>()
        .map(HexBytes)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn values_parse_or_name_the_expected_form() {
        assert_eq!(key_pair("a:b:c").unwrap().secret, "b:c");
        assert!(key_pair("nocolon").unwrap_err().contains("ID:SECRET"));
        assert!(key_pair(":x").is_err());
        assert_eq!(env_pair("A=b=c").unwrap(), ("A".into(), "b=c".into()));
        assert!(env_pair("=x").is_err());
        assert_eq!(hex("ff fe41").unwrap(), HexBytes(vec![0xff, 0xfe, 0x41]));
        assert!(hex("f").is_err());
        assert!(hex("zz").is_err());
    }
}
