//! The `AWS_MSK_IAM` token for SASL/OAUTHBEARER with Amazon MSK's IAM access control: a SigV4
//! presigned URL for `kafka-cluster:Connect`, base64url without padding, built the way AWS's
//! `aws-msk-iam-sasl-signer` libraries build it. It only builds the token; the SASL exchange is
//! rskafka's (`connection.rs`), and the credentials come from the configuration.
//!
//! The URL is `https://kafka.<region>.amazonaws.com/?Action=kafka-cluster%3AConnect` with the
//! SigV4 query parameters (`X-Amz-Algorithm`, `X-Amz-Credential`, `X-Amz-Date`,
//! `X-Amz-Expires=900`, `X-Amz-SignedHeaders=host`, `X-Amz-Security-Token` when there is a session
//! token), then `X-Amz-Signature`, then `User-Agent`. The signed request is `GET /` with only the
//! `host` header and the empty payload's hash, as botocore's query signer makes it. Written here with
//! `hmac` and `sha2` (both already in the workspace) rather than with `aws-sigv4`, which would
//! bring the AWS SDK's runtime crates for one presigned URL. `tests/vectors/msk-iam-token.json`,
//! made by AWS's Python signer (`tests/vectors/msk_iam.py`), pins it.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use sha2::{Digest, Sha256};

/// How long a token stays valid, in seconds (the signer libraries' default).
pub const TOKEN_EXPIRY_SECONDS: u32 = 900;
/// The `User-Agent` this sink puts into its tokens.
pub const USER_AGENT: &str = concat!("maxcompute-sink/", env!("CARGO_PKG_VERSION"));

const SERVICE: &str = "kafka-cluster";
const ACTION: &str = "kafka-cluster:Connect";

/// RFC 3986 unreserved characters stay; everything else is percent-encoded (SigV4's rule).
const SIGV4_ENCODE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

fn encode(value: &str) -> String {
    utf8_percent_encode(value, SIGV4_ENCODE).to_string()
}

/// AWS credentials (in Lambda: the function role's, from `AWS_ACCESS_KEY_ID`,
/// `AWS_SECRET_ACCESS_KEY` and `AWS_SESSION_TOKEN`). `Debug` shows the key id only.
#[derive(Clone, PartialEq, Eq)]
pub struct AwsCredentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
}

impl fmt::Debug for AwsCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AwsCredentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// What an `AWS_MSK_IAM` connection signs with: the cluster's region and the credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MskIam {
    pub region: String,
    pub credentials: AwsCredentials,
}

impl MskIam {
    /// A token signed at `at` (valid for [`TOKEN_EXPIRY_SECONDS`] from then).
    pub fn token(&self, at: DateTime<Utc>, user_agent: &str) -> String {
        URL_SAFE_NO_PAD.encode(self.presigned_url(at, user_agent))
    }

    /// The presigned URL the token encodes.
    pub fn presigned_url(&self, at: DateTime<Utc>, user_agent: &str) -> String {
        let host = format!("kafka.{}.amazonaws.com", self.region);
        let date = at.format("%Y%m%d").to_string();
        let amz_date = at.format("%Y%m%dT%H%M%SZ").to_string();
        let scope = format!("{date}/{}/{SERVICE}/aws4_request", self.region);
        let credential = format!("{}/{scope}", self.credentials.access_key_id);
        let expires = TOKEN_EXPIRY_SECONDS.to_string();

        // In the URL's order; the canonical query string sorts them.
        let mut params: Vec<(&str, &str)> = vec![
            ("Action", ACTION),
            ("X-Amz-Algorithm", "AWS4-HMAC-SHA256"),
            ("X-Amz-Credential", &credential),
            ("X-Amz-Date", &amz_date),
            ("X-Amz-Expires", &expires),
            ("X-Amz-SignedHeaders", "host"),
        ];
        if let Some(token) = &self.credentials.session_token {
            params.push(("X-Amz-Security-Token", token));
        }
        let query = |params: &[(&str, &str)]| {
            params
                .iter()
                .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
                .collect::<Vec<_>>()
                .join("&")
        };
        let mut sorted = params.clone();
        sorted.sort_unstable();
        let canonical_request = format!(
            "GET\n/\n{}\nhost:{host}\n\nhost\n{}",
            query(&sorted),
            hex(&Sha256::digest(b""))
        );
        let string_to_sign = format!(
            "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
            hex(&Sha256::digest(canonical_request.as_bytes()))
        );
        let secret = format!("AWS4{}", self.credentials.secret_access_key);
        let mut key = hmac_sha256(secret.as_bytes(), date.as_bytes());
        for part in [self.region.as_str(), SERVICE, "aws4_request"] {
            key = hmac_sha256(&key, part.as_bytes());
        }
        let signature = hex(&hmac_sha256(&key, string_to_sign.as_bytes()));
        format!(
            "https://{host}/?{}&X-Amz-Signature={signature}&User-Agent={}",
            query(&params),
            encode(user_agent)
        )
    }
}

fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    // HMAC takes keys of any length: construction cannot fail. The empty fallback keeps this
    // free of panics; the broker would refuse the token it makes.
    let Ok(mut mac) = <Hmac<Sha256> as KeyInit>::new_from_slice(key) else {
        return Vec::new();
    };
    mac.update(message);
    mac.finalize().into_bytes().to_vec()
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iam(session_token: Option<&str>) -> MskIam {
        MskIam {
            region: "us-west-2".to_owned(),
            credentials: AwsCredentials {
                access_key_id: "AKIDEXAMPLE".to_owned(),
                secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".to_owned(),
                session_token: session_token.map(str::to_owned),
            },
        }
    }

    #[test]
    fn debug_never_prints_the_secret_or_the_session_token() {
        let shown = format!("{:?}", iam(Some("FQoGZXIvYXdzE-session")));
        assert!(shown.contains("AKIDEXAMPLE"), "{shown}");
        assert!(!shown.contains("wJalrXUtnFEMI"), "{shown}");
        assert!(!shown.contains("FQoGZXIvYXdzE"), "{shown}");
    }

    #[test]
    fn the_url_has_the_parameters_in_order_and_the_token_is_unpadded_base64url() {
        let at = DateTime::parse_from_rfc3339("2026-01-02T03:04:05Z")
            .unwrap()
            .with_timezone(&Utc);
        let url = iam(Some("tok/en+=")).presigned_url(at, "ua/1.0");
        let (base, query) = url.split_once('?').unwrap();
        assert_eq!(base, "https://kafka.us-west-2.amazonaws.com/");
        let keys: Vec<&str> = query
            .split('&')
            .map(|kv| kv.split_once('=').unwrap().0)
            .collect();
        assert_eq!(
            keys,
            [
                "Action",
                "X-Amz-Algorithm",
                "X-Amz-Credential",
                "X-Amz-Date",
                "X-Amz-Expires",
                "X-Amz-SignedHeaders",
                "X-Amz-Security-Token",
                "X-Amz-Signature",
                "User-Agent"
            ]
        );
        assert!(
            query.starts_with("Action=kafka-cluster%3AConnect&"),
            "{query}"
        );
        assert!(query.contains(
            "X-Amz-Credential=AKIDEXAMPLE%2F20260102%2Fus-west-2%2Fkafka-cluster%2Faws4_request&"
        ));
        assert!(query.contains("X-Amz-Date=20260102T030405Z&X-Amz-Expires=900&"));
        assert!(query.contains("X-Amz-Security-Token=tok%2Fen%2B%3D&"));
        assert!(query.ends_with("&User-Agent=ua%2F1.0"));

        let token = iam(Some("tok/en+=")).token(at, "ua/1.0");
        assert!(!token.contains(['=', '+', '/']), "{token}");
        assert_eq!(URL_SAFE_NO_PAD.decode(&token).unwrap(), url.as_bytes());
        // No session token: no parameter for it.
        assert!(
            !iam(None)
                .presigned_url(at, "ua")
                .contains("X-Amz-Security-Token")
        );
    }
}
