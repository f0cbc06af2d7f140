//! Pins `shared::signing` to the request-signing vectors produced by pyodps 0.13.2
//! (`reference/vectors/signatures.json`): every vector's StringToSign is rebuilt twice, once from
//! the decoded parts and once from the raw request target a server receives, and its
//! `Authorization` header must match byte for byte.

// Helpers outside #[test] functions fail loudly by design: a broken vector file is a test failure.
#![allow(clippy::panic, clippy::unwrap_used, clippy::indexing_slicing)]

use std::path::PathBuf;

use serde_json::Value;
use shared::signing::{
    self, AuthorizationParseError, Secret, V4Scope, authorization_v2, authorization_v4,
    canonical_string, canonical_string_for_request, parse_authorization, sign_v2, sign_v4,
};

const EXPECTED_VECTORS: usize = 10;

fn vectors_file() -> PathBuf {
    match std::env::var_os("MAXCOMPUTE_VECTORS_DIR") {
        Some(dir) => PathBuf::from(dir).join("signatures.json"),
        None => PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../shared/reference/vectors/signatures.json"
        )),
    }
}

fn load_vectors() -> Vec<Value> {
    let path = vectors_file();
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read the signing vectors at {}: {e}. They live in shared/reference/vectors/ \
             beside the repository; set MAXCOMPUTE_VECTORS_DIR to the directory holding \
             signatures.json if it is elsewhere.",
            path.display()
        )
    });
    let doc: Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{} is not valid JSON: {e}", path.display()));
    doc["vectors"]
        .as_array()
        .unwrap_or_else(|| panic!("{} has no `vectors` array", path.display()))
        .clone()
}

fn str_field<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("vector {} lacks string field {key}", v["name"]))
}

fn pairs(v: &Value, key: &str) -> Vec<(String, String)> {
    v[key]
        .as_object()
        .unwrap_or_else(|| panic!("vector {} lacks object field {key}", v["name"]))
        .iter()
        .map(|(k, val)| (k.clone(), val.as_str().unwrap().to_owned()))
        .collect()
}

fn as_refs(p: &[(String, String)]) -> Vec<(&str, &str)> {
    p.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect()
}

/// The endpoint's own path (`/api` for the service API, empty for the tunnel).
fn endpoint_path(endpoint: &str) -> &str {
    let after_scheme = endpoint.split_once("://").map_or(endpoint, |(_, r)| r);
    after_scheme.find('/').map_or("", |i| &after_scheme[i..])
}

#[test]
fn every_vector_signs_exactly_like_pyodps() {
    let vectors = load_vectors();
    assert_eq!(vectors.len(), EXPECTED_VECTORS, "vector count changed");
    let mut kinds = std::collections::BTreeMap::new();

    for v in &vectors {
        let name = format!("{}/{}", str_field(v, "name"), str_field(v, "signing"));
        let kind = str_field(v, "signing");
        *kinds.entry(kind.to_owned()).or_insert(0) += 1;

        let method = str_field(v, "method");
        let headers = pairs(v, "headers");
        let headers = as_refs(&headers);
        let query = pairs(v, "query_params");
        let query = as_refs(&query);
        let expected = str_field(v, "canonical_string");

        let from_parts = canonical_string(
            method,
            &headers,
            str_field(v, "path_relative_to_endpoint"),
            &query,
        );
        assert_eq!(from_parts, expected, "{name}: canonical string from parts");

        let prefix = endpoint_path(str_field(v, "endpoint"));
        let from_raw = canonical_string_for_request(
            method,
            &headers,
            str_field(v, "request_path_and_query"),
            prefix,
        );
        assert_eq!(
            from_raw, expected,
            "{name}: canonical string from raw target"
        );

        let access_id = str_field(v, "access_id");
        let secret = Secret::new(str_field(v, "access_key_secret"));
        let authorization = match kind {
            "ak_v2" | "sts_v2" => authorization_v2(access_id, &sign_v2(&secret, expected)),
            "ak_v4" => {
                let date8 = str_field(v, "v4_date");
                let region = str_field(v, "region");
                authorization_v4(
                    access_id,
                    date8,
                    region,
                    &sign_v4(&secret, date8, region, expected),
                )
            }
            other => panic!("{name}: unknown signing kind {other}"),
        };
        assert_eq!(
            authorization,
            str_field(v, "authorization"),
            "{name}: Authorization"
        );

        // The emulator's path: parse the header back and verify.
        let parsed = parse_authorization(str_field(v, "authorization")).unwrap();
        assert_eq!(parsed.access_key_id, access_id, "{name}");
        match (&parsed.v4_scope, kind) {
            (None, "ak_v2" | "sts_v2") => {
                assert!(
                    signing::verify_v2(&secret, &from_raw, &parsed.signature),
                    "{name}"
                );
            }
            (Some(V4Scope { date8, region }), "ak_v4") => {
                assert_eq!(date8, str_field(v, "v4_date"), "{name}");
                assert_eq!(region, str_field(v, "region"), "{name}");
                assert!(
                    signing::verify_v4(&secret, date8, region, &from_raw, &parsed.signature),
                    "{name}"
                );
            }
            other => panic!("{name}: unexpected scope {other:?}"),
        }

        // STS vectors carry the token in an unsigned header.
        if kind == "sts_v2" {
            let token = str_field(v, "sts_token");
            assert!(
                headers
                    .iter()
                    .any(|(k, val)| k.eq_ignore_ascii_case(signing::STS_TOKEN_HEADER)
                        && *val == token),
                "{name}: token header"
            );
            assert!(
                !expected.contains(token),
                "{name}: token must not be signed"
            );
        }
    }

    let expected_kinds: std::collections::BTreeMap<String, i32> =
        [("ak_v2", 6), ("ak_v4", 2), ("sts_v2", 2)]
            .into_iter()
            .map(|(k, n)| (k.to_owned(), n))
            .collect();
    assert_eq!(kinds, expected_kinds);
}

#[test]
fn a_wrong_secret_does_not_verify() {
    let vectors = load_vectors();
    let v = &vectors[0];
    let expected = str_field(v, "canonical_string");
    let parsed = parse_authorization(str_field(v, "authorization")).unwrap();
    assert!(!signing::verify_v2(
        &Secret::new("not-the-secret"),
        expected,
        &parsed.signature
    ));
    assert_eq!(
        parse_authorization("ODPS only-id"),
        Err(AuthorizationParseError::MissingSignature)
    );
}
