//! Signature verification, the server's half of request signing: `Authorization: ODPS ...`
//! headers taken apart, v2 and v4 signatures and Alibaba Cloud RPC-style (STS) query signatures
//! checked in constant time.
//!
//! Every check recomputes the signature with `maxcompute_core::signing`, the functions the
//! sink's client signs with, over the request as it was received; only the emulator verifies,
//! so this lives here rather than in the core the functions link.

use maxcompute_core::signing::{
    RPC_SIGNATURE_PARAM, Secret, V4_SERVICE, V4_TERMINATOR, decode_query, rpc_string_to_sign,
    sign_rpc, sign_v2, sign_v4,
};

/// The credential scope of a v4 `Authorization` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V4Scope {
    pub date8: String,
    pub region: String,
}

/// An `Authorization: ODPS ...` header taken apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedAuthorization {
    pub access_key_id: String,
    /// `Some` for a v4 header.
    pub v4_scope: Option<V4Scope>,
    pub signature: String,
}

/// Why an `Authorization` header could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthorizationParseError {
    #[error("authorization header does not start with `ODPS `")]
    NotOdps,
    #[error("authorization header has no `:` between the credential and the signature")]
    MissingSignature,
    #[error("authorization header has an empty access key id or signature")]
    Empty,
    #[error(
        "authorization credential scope is not `<id>/<YYYYMMDD>/<region>/odps/aliyun_v4_request`"
    )]
    BadScope,
}

/// Parses `ODPS id:sig` (v2/STS) or `ODPS id/date8/region/odps/aliyun_v4_request:sig` (v4).
pub fn parse_authorization(header: &str) -> Result<ParsedAuthorization, AuthorizationParseError> {
    let rest = header
        .trim()
        .strip_prefix("ODPS ")
        .ok_or(AuthorizationParseError::NotOdps)?;
    // base64 never contains ':', so the last ':' separates the signature.
    let (credential, signature) = rest
        .rsplit_once(':')
        .ok_or(AuthorizationParseError::MissingSignature)?;
    let credential = credential.trim();
    if credential.is_empty() || signature.is_empty() {
        return Err(AuthorizationParseError::Empty);
    }
    let mut parts = credential.split('/');
    let access_key_id = parts.next().unwrap_or_default();
    if access_key_id.is_empty() {
        return Err(AuthorizationParseError::Empty);
    }
    let rest: Vec<&str> = parts.collect();
    let v4_scope = match rest.as_slice() {
        [] => None,
        [date8, region, service, terminator]
            if *service == V4_SERVICE
                && *terminator == V4_TERMINATOR
                && date8.len() == 8
                && date8.bytes().all(|b| b.is_ascii_digit())
                && !region.is_empty() =>
        {
            Some(V4Scope {
                date8: (*date8).to_owned(),
                region: (*region).to_owned(),
            })
        }
        _ => return Err(AuthorizationParseError::BadScope),
    };
    Ok(ParsedAuthorization {
        access_key_id: access_key_id.to_owned(),
        v4_scope,
        signature: signature.to_owned(),
    })
}

/// Whether `signature` is the v2 signature of `string_to_sign` under `secret`, compared in
/// constant time.
pub fn verify_v2(secret: &Secret, string_to_sign: &str, signature: &str) -> bool {
    constant_time_eq(
        sign_v2(secret, string_to_sign).as_bytes(),
        signature.as_bytes(),
    )
}

/// Whether `signature` is the v4 signature of `string_to_sign`, compared in constant time.
pub fn verify_v4(
    secret: &Secret,
    date8: &str,
    region: &str,
    string_to_sign: &str,
    signature: &str,
) -> bool {
    constant_time_eq(
        sign_v4(secret, date8, region, string_to_sign).as_bytes(),
        signature.as_bytes(),
    )
}

/// The comparison of `subtle`, the crate the RustCrypto MACs compare with: the time it takes
/// does not depend on where the bytes differ.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.ct_eq(b).into()
}

/// Whether `signature` is the RPC signature of `string_to_sign` under `secret`, compared in
/// constant time.
pub fn verify_rpc(secret: &Secret, string_to_sign: &str, signature: &str) -> bool {
    constant_time_eq(
        sign_rpc(secret, string_to_sign).as_bytes(),
        signature.as_bytes(),
    )
}

/// An RPC request's query as a server receives it, taken apart for verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpcQuery {
    /// All decoded parameters except `Signature`, in wire order.
    pub params: Vec<(String, String)>,
    /// The decoded `Signature` parameter, if present.
    pub signature: Option<String>,
}

impl RpcQuery {
    /// Form-decodes a raw query string (`+` is a space, `%XX` a byte) and sets the signature
    /// aside.
    pub fn parse(raw_query: &str) -> Self {
        let mut params = Vec::new();
        let mut signature = None;
        for (name, value) in decode_query(raw_query) {
            if name == RPC_SIGNATURE_PARAM {
                signature = Some(value);
            } else {
                params.push((name, value));
            }
        }
        Self { params, signature }
    }

    /// The last value of a parameter.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The StringToSign of this request, recomputed from what arrived.
    pub fn string_to_sign(&self, method: &str) -> String {
        let pairs: Vec<(&str, &str)> = self
            .params
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        rpc_string_to_sign(method, &pairs)
    }

    /// Whether the request carries a valid signature under `secret` (constant-time compare).
    pub fn verify(&self, method: &str, secret: &Secret) -> bool {
        self.signature
            .as_deref()
            .is_some_and(|sig| verify_rpc(secret, &self.string_to_sign(method), sig))
    }
}

#[cfg(test)]
mod tests {
    use maxcompute_core::signing::{
        authorization_v2, canonical_string_for_request, rpc_canonicalized_query, rpc_percent_encode,
    };

    use super::*;

    #[test]
    fn authorization_parsing() {
        let v2 = parse_authorization("ODPS STS.abc:gasVtZ4uxCvDLr3SnpgR7uQjGfY=").unwrap();
        assert_eq!(v2.access_key_id, "STS.abc");
        assert_eq!(v2.v4_scope, None);
        assert_eq!(v2.signature, "gasVtZ4uxCvDLr3SnpgR7uQjGfY=");

        let v4 = parse_authorization(
            "ODPS testAccessId/20251124/cn-hangzhou/odps/aliyun_v4_request:HSVzpI0Ahm2Q9yUGJMUS/SQoPOM=",
        )
        .unwrap();
        assert_eq!(v4.access_key_id, "testAccessId");
        assert_eq!(
            v4.v4_scope,
            Some(V4Scope {
                date8: "20251124".to_owned(),
                region: "cn-hangzhou".to_owned()
            })
        );
        assert_eq!(v4.signature, "HSVzpI0Ahm2Q9yUGJMUS/SQoPOM=");

        assert_eq!(
            parse_authorization("Bearer x"),
            Err(AuthorizationParseError::NotOdps)
        );
        assert_eq!(
            parse_authorization("ODPS nocolon"),
            Err(AuthorizationParseError::MissingSignature)
        );
        assert_eq!(
            parse_authorization("ODPS :sig"),
            Err(AuthorizationParseError::Empty)
        );
        assert_eq!(
            parse_authorization("ODPS id/2025/r/odps/aliyun_v4_request:sig"),
            Err(AuthorizationParseError::BadScope)
        );
    }

    /// The reference's worked example (see `maxcompute_core::signing`) verifies, and only under
    /// its own secret.
    #[test]
    fn worked_example_verifies() {
        let headers = [
            ("Content-Type", "application/octet-stream"),
            ("Date", "Mon, 24 Nov 2025 12:00:00 GMT"),
            ("x-odps-tunnel-version", "6"),
            (
                "X-ODPS-User-Agent",
                "pyodps/0.13.2 CPython/3.11.7 Linux/6.1.0",
            ),
            ("Transfer-Encoding", "chunked"),
        ];
        let s = canonical_string_for_request(
            "put",
            &headers,
            "/projects/my_proj/tables/kafka_sink?uploadid=20251124120000abcdef0123456789&blockid=0&partition=dt%3D2020111715&curr_project=my_proj",
            "",
        );
        let sig = sign_v2(&Secret::new("testAccessKeySecret"), &s);
        assert_eq!(
            authorization_v2("testAccessId", &sig),
            "ODPS testAccessId:JmqWPsYhazf+f0AorTPrXjpJ03s="
        );
        assert!(verify_v2(&Secret::new("testAccessKeySecret"), &s, &sig));
        assert!(!verify_v2(&Secret::new("wrong"), &s, &sig));
    }

    /// The documented RPC example (see `maxcompute_core::signing`) verifies, and only exactly.
    #[test]
    fn documented_rpc_example_verifies() {
        let params = [
            ("Timestamp", "2016-02-23T12:46:24Z"),
            ("Format", "XML"),
            ("AccessKeyId", "testid"),
            ("Action", "DescribeRegions"),
            ("SignatureMethod", "HMAC-SHA1"),
            ("SignatureNonce", "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf"),
            ("Version", "2014-05-26"),
            ("SignatureVersion", "1.0"),
        ];
        let s = rpc_string_to_sign("get", &params);
        let secret = Secret::new("testsecret");
        assert!(verify_rpc(&secret, &s, "OLeaidS1JvxuMvnyHOwuJ+uX5qY="));
        assert!(!verify_rpc(
            &Secret::new("testsecreT"),
            &s,
            "OLeaidS1JvxuMvnyHOwuJ+uX5qY="
        ));
        assert!(!verify_rpc(&secret, &s, "OLeaidS1JvxuMvnyHOwuJ+uX5qY"));
    }

    #[test]
    fn a_server_verifies_the_query_it_received() {
        let secret = Secret::new("testsecret");
        let params = [("Action", "AssumeRole"), ("RoleSessionName", "a b+c")];
        let sig = sign_rpc(&secret, &rpc_string_to_sign("GET", &params));
        let raw = format!(
            "{}&Signature={}",
            rpc_canonicalized_query(&params),
            rpc_percent_encode(&sig)
        );
        let q = RpcQuery::parse(&raw);
        assert_eq!(q.signature.as_deref(), Some(sig.as_str()));
        assert_eq!(q.get("RoleSessionName"), Some("a b+c"));
        assert!(q.verify("GET", &secret));
        assert!(!q.verify("POST", &secret));
        assert!(!q.verify("GET", &Secret::new("other")));

        // A changed parameter or a missing signature fails.
        let tampered = RpcQuery::parse(&raw.replace("AssumeRole", "AssumeRolf"));
        assert!(!tampered.verify("GET", &secret));
        let unsigned = RpcQuery::parse(&rpc_canonicalized_query(&params));
        assert_eq!(unsigned.signature, None);
        assert!(!unsigned.verify("GET", &secret));
    }
}
