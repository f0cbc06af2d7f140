//! The MaxCompute protocol's vocabulary as types: the service's error codes and the states of
//! tunnel sessions, parsed once from the wire and rendered back to it.
//!
//! The client reads them from answers and the emulator writes them into answers, so both sides
//! name a code or a state by the same enum and a misspelling is a compile error rather than a
//! comparison that never matches. Unknown values are kept (`Other`), never refused: the
//! service may add codes and states. This module does no I/O.

use std::fmt;
use std::str::FromStr;

/// Declares an enum of wire words with an `Other(String)` fallback, its one table of spellings
/// and the conversions both ways.
macro_rules! wire_words {
    (
        $(#[$meta:meta])*
        $name:ident, case_insensitive = $ci:expr,
        { $( $(#[$vmeta:meta])* $variant:ident => $text:literal, )+ }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
            /// A value this project gives no meaning to, kept as it was sent.
            Other(String),
        }

        impl $name {
            /// Every known value, in declaration order.
            pub const KNOWN: &'static [$name] = &[ $( $name::$variant, )+ ];

            /// Parses a wire word; never fails (the unknown becomes `Other`).
            pub fn parse(text: &str) -> Self {
                $(
                    if (($ci && text.eq_ignore_ascii_case($text)) || text == $text) {
                        return Self::$variant;
                    }
                )+
                Self::Other(text.to_owned())
            }

            /// The word as the service writes it.
            pub fn as_str(&self) -> &str {
                match self {
                    $( Self::$variant => $text, )+
                    Self::Other(text) => text,
                }
            }
        }

        impl FromStr for $name {
            type Err = std::convert::Infallible;
            fn from_str(text: &str) -> Result<Self, Self::Err> {
                Ok(Self::parse(text))
            }
        }

        impl From<&str> for $name {
            fn from(text: &str) -> Self {
                Self::parse(text)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.as_str() == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.as_str() == *other
            }
        }
    };
}

wire_words! {
    /// A MaxCompute error code, as carried by the service API's XML `<Code>` and the tunnel's
    /// JSON `"Code"`. Codes are case-sensitive on the wire.
    ErrorCode, case_insensitive = false,
    {
        /// The request carries no credentials the service accepts.
        Unauthorized => "Unauthorized",
        SignatureNotMatch => "SignatureNotMatch",
        InvalidAccessKeyId => "InvalidAccessKeyId",
        AuthenticationRequestExpired => "AuthenticationRequestExpired",
        RequestTimeTooSkewed => "RequestTimeTooSkewed",
        NoSuchTable => "NoSuchTable",
        /// The partition a session or a lookup names does not exist; the client creates it.
        NoSuchPartition => "NoSuchPartition",
        NoSuchObject => "NoSuchObject",
        NoSuchUpload => "NoSuchUpload",
        NoSuchDownload => "NoSuchDownload",
        /// On a repeated commit, clients take it as "committed and forgotten".
        UpsertSessionNotFound => "UpsertSessionNotFound",
        NoSuchInstance => "NoSuchInstance",
        MissingPartitionSpec => "MissingPartitionSpec",
        InvalidPartitionSpec => "InvalidPartitionSpec",
        InvalidBlockId => "InvalidBlockID",
        MalformedDataStream => "MalformedDataStream",
        /// The emulator's own code for an upsert record of another bucket than its PUT's.
        BucketMismatch => "BucketMismatch",
        InvalidRowRange => "InvalidRowRange",
        InvalidColumnSpec => "InvalidColumnSpec",
        InvalidArgument => "InvalidArgument",
        /// The session is not in a state that takes the request (closed, expired, ...).
        StatusConflict => "StatusConflict",
        /// A write through a session of an older schema than the table's (`412`): nothing of it
        /// was stored; the answer's `odps-tunnel-latest-schema-version` names the current one.
        SchemaModified => "SchemaModified",
        InstanceTypeNotSupported => "InstanceTypeNotSupported",
        MethodNotAllowed => "MethodNotAllowed",
        /// The emulator's own code for a feature it does not implement.
        NotSupported => "NotSupported",
        /// The tunnel's throttling code.
        FlowExceeded => "FlowExceeded",
        InternalServerError => "InternalServerError",
    }
}

wire_words! {
    /// The state of a tunnel session: batch upload sessions (`normal`, `closing`, `closed`,
    /// `canceled`, `expired`, `critical`) and upsert sessions (`normal`, `committing`,
    /// `committed`, `expired`, `critical`, `aborted`). The service's spelling varies in case,
    /// so parsing ignores it; rendering is lower case.
    SessionState, case_insensitive = true,
    {
        /// Open: takes data and a commit.
        Normal => "normal",
        /// A batch upload session whose commit is under way.
        Closing => "closing",
        /// A batch upload session that was committed.
        Closed => "closed",
        Canceled => "canceled",
        Expired => "expired",
        Critical => "critical",
        /// An upsert session whose commit is under way.
        Committing => "committing",
        /// An upsert session that was committed.
        Committed => "committed",
        /// An upsert session that was aborted.
        Aborted => "aborted",
    }
}

impl SessionState {
    /// Whether the session still takes data and a commit.
    pub fn is_open(&self) -> bool {
        *self == Self::Normal
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_words_round_trip_and_the_unknown_is_kept() {
        for code in ErrorCode::KNOWN {
            assert_eq!(&ErrorCode::parse(code.as_str()), code);
        }
        for state in SessionState::KNOWN {
            assert_eq!(&SessionState::parse(state.as_str()), state);
        }
        assert_eq!(
            ErrorCode::parse("InvalidBlockID"),
            ErrorCode::InvalidBlockId
        );
        assert_eq!(
            ErrorCode::parse("nosuchpartition"),
            ErrorCode::Other("nosuchpartition".to_owned())
        );
        assert_eq!(ErrorCode::parse("Teapot").as_str(), "Teapot");
        assert_eq!(SessionState::parse("COMMITTED"), SessionState::Committed);
        assert_eq!(SessionState::parse("Normal").to_string(), "normal");
        assert_eq!(
            SessionState::parse("paused"),
            SessionState::Other("paused".to_owned())
        );
        assert!(SessionState::Normal.is_open());
        assert!(!SessionState::Closing.is_open());
    }
}
