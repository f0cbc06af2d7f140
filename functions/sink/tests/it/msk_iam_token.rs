//! The `AWS_MSK_IAM` token against AWS's own Python signer: `tests/vectors/msk-iam-token.json`
//! holds tokens that aws-msk-iam-sasl-signer-python made for fixed credentials and times
//! (`tests/vectors/msk_iam.py`), and the sink must make the same URL and the same token, byte for
//! byte. A second test reruns the signer (`--check`) so that the file cannot drift from it.
//!
//! `PYODPS_PYTHON` names the project's Python (default `<workspace>/.venv/bin/python`, made by
//! `bash scripts/venv.sh`).

use chrono::{DateTime, Utc};
use serde_json::Value;
use sink::error_topic::{AwsCredentials, MskIam};
use test_support::python::{check_vectors, workspace_root};

fn text(v: &Value, key: &str) -> String {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} in {v}"))
        .to_owned()
}

#[test]
fn tokens_match_aws_msk_iam_sasl_signer() {
    let path = workspace_root().join("tests/vectors/msk-iam-token.json");
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let vectors = doc["vectors"].as_array().unwrap();
    assert!(vectors.len() >= 2, "{}", path.display());
    for v in vectors {
        let iam = MskIam {
            region: text(v, "region"),
            credentials: AwsCredentials {
                access_key_id: text(v, "access_key_id"),
                secret_access_key: text(v, "secret_access_key"),
                session_token: v["session_token"].as_str().map(str::to_owned),
            },
        };
        let at: DateTime<Utc> = DateTime::parse_from_rfc3339(&text(v, "at"))
            .unwrap()
            .with_timezone(&Utc);
        let user_agent = text(v, "user_agent");
        assert_eq!(
            iam.presigned_url(at, &user_agent),
            text(v, "url"),
            "{}",
            text(v, "name")
        );
        assert_eq!(
            iam.token(at, &user_agent),
            text(v, "token"),
            "{}",
            text(v, "name")
        );
        assert_eq!(
            v["expiry_ms"].as_i64(),
            Some((at.timestamp() + i64::from(sink::error_topic::TOKEN_EXPIRY_SECONDS)) * 1000)
        );
    }
}

#[test]
fn committed_vectors_are_what_the_aws_signer_produces() {
    check_vectors(
        "tests/vectors/msk_iam.py",
        "vectors up to date: msk-iam-token.json",
    );
}
