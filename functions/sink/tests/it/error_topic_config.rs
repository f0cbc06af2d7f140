//! The error topic's security settings (`SINK_ERROR_SECURITY_PROTOCOL`, `SINK_ERROR_SASL_*`,
//! `SINK_ERROR_TLS_CA_FILE`, and Lambda's AWS variables for `AWS_MSK_IAM`): what each value
//! becomes, errors that name the variable and the accepted values, and no secret in `Debug`.

use std::collections::HashMap;

use sink::config::{Config, ConfigError};
use sink::error_topic::{AwsCredentials, KafkaSecurity, MskIam, SaslMechanism};

fn with(extra: &[(&'static str, &'static str)]) -> Result<Config, ConfigError> {
    let mut vars = HashMap::from([
        ("MAXCOMPUTE_ENDPOINT", "http://127.0.0.1:8080/api"),
        ("MAXCOMPUTE_PROJECT", "connector_test"),
        ("MAXCOMPUTE_TABLE", "test_kafka"),
        ("ALIBABA_CLOUD_ACCESS_KEY_ID", "id"),
        ("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "very-secret"),
        ("SINK_ERROR_TOPIC", "errors"),
    ]);
    vars.extend(extra.iter().copied());
    Config::from_lookup(|name| vars.get(name).map(|v| (*v).to_owned()))
}

const LAMBDA_AWS: [(&str, &str); 4] = [
    ("AWS_ACCESS_KEY_ID", "ASIAEXAMPLEKEYID"),
    ("AWS_SECRET_ACCESS_KEY", "aws-secret-never-shown"),
    ("AWS_SESSION_TOKEN", "aws-session-token-never-shown"),
    ("AWS_REGION", "eu-central-1"),
];

#[test]
fn each_sasl_mechanism_is_accepted_in_any_case() {
    for (value, want) in [
        ("PLAIN", SaslMechanism::Plain),
        ("scram-sha-256", SaslMechanism::ScramSha256),
        ("SCRAM-SHA-512", SaslMechanism::ScramSha512),
    ] {
        let c = with(&[
            ("SINK_ERROR_SECURITY_PROTOCOL", "sasl_ssl"),
            ("SINK_ERROR_SASL_MECHANISM", value),
            ("SINK_ERROR_SASL_USERNAME", "sink"),
            ("SINK_ERROR_SASL_PASSWORD", "sasl-password-never-shown"),
        ])
        .unwrap();
        let KafkaSecurity::SaslTls {
            mechanism,
            username,
            password,
            ..
        } = &c.error_security
        else {
            panic!("{value}: {:?}", c.error_security);
        };
        assert_eq!((*mechanism, username.as_str()), (want, "sink"));
        assert_eq!(password, "sasl-password-never-shown");
        let shown = format!("{c:?}");
        assert!(!shown.contains("sasl-password-never-shown"), "{shown}");
    }
}

#[test]
fn aws_msk_iam_takes_the_function_role_from_lambda_and_no_user_name() {
    let mut vars = vec![
        ("SINK_ERROR_SECURITY_PROTOCOL", "SASL_SSL"),
        ("SINK_ERROR_SASL_MECHANISM", "aws_msk_iam"),
    ];
    vars.extend(LAMBDA_AWS);
    let c = with(&vars).unwrap();
    let KafkaSecurity::MskIam { iam, .. } = &c.error_security else {
        panic!("{:?}", c.error_security);
    };
    assert_eq!(
        *iam,
        MskIam {
            region: "eu-central-1".to_owned(),
            credentials: AwsCredentials {
                access_key_id: "ASIAEXAMPLEKEYID".to_owned(),
                secret_access_key: "aws-secret-never-shown".to_owned(),
                session_token: Some("aws-session-token-never-shown".to_owned()),
            },
        }
    );
    let shown = format!("{c:?}");
    assert!(shown.contains("ASIAEXAMPLEKEYID"), "{shown}");
    assert!(!shown.contains("never-shown"), "{shown}");
}

#[test]
fn aws_msk_iam_without_lambda_credentials_names_the_missing_variable() {
    for missing in ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION"] {
        let mut vars = vec![
            ("SINK_ERROR_SECURITY_PROTOCOL", "SASL_SSL"),
            ("SINK_ERROR_SASL_MECHANISM", "AWS_MSK_IAM"),
        ];
        vars.extend(LAMBDA_AWS.iter().filter(|(k, _)| *k != missing));
        let err = with(&vars).unwrap_err();
        let shown = err.to_string();
        assert!(
            matches!(err, ConfigError::Missing { variable, .. } if variable == missing),
            "{missing}: {shown}"
        );
        assert!(shown.contains("AWS_MSK_IAM"), "{shown}");
    }
    // The session token is optional (long-term keys have none).
    let mut vars = vec![
        ("SINK_ERROR_SECURITY_PROTOCOL", "SASL_SSL"),
        ("SINK_ERROR_SASL_MECHANISM", "AWS_MSK_IAM"),
    ];
    vars.extend(LAMBDA_AWS.iter().filter(|(k, _)| *k != "AWS_SESSION_TOKEN"));
    assert!(matches!(
        with(&vars).unwrap().error_security,
        KafkaSecurity::MskIam { .. }
    ));
}

#[test]
fn an_unknown_mechanism_names_the_variable_and_the_accepted_values() {
    let err = with(&[
        ("SINK_ERROR_SECURITY_PROTOCOL", "SASL_SSL"),
        ("SINK_ERROR_SASL_MECHANISM", "GSSAPI"),
        ("SINK_ERROR_SASL_USERNAME", "sink"),
        ("SINK_ERROR_SASL_PASSWORD", "pw"),
    ])
    .unwrap_err()
    .to_string();
    for part in [
        "SINK_ERROR_SASL_MECHANISM",
        "GSSAPI",
        "PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or AWS_MSK_IAM",
    ] {
        assert!(err.contains(part), "{part:?} missing from: {err}");
    }
}

#[test]
fn plain_and_scram_need_a_user_name_and_a_password() {
    for (missing, present) in [
        (
            "SINK_ERROR_SASL_USERNAME",
            ("SINK_ERROR_SASL_PASSWORD", "pw"),
        ),
        (
            "SINK_ERROR_SASL_PASSWORD",
            ("SINK_ERROR_SASL_USERNAME", "sink"),
        ),
    ] {
        let err = with(&[
            ("SINK_ERROR_SECURITY_PROTOCOL", "SASL_SSL"),
            ("SINK_ERROR_SASL_MECHANISM", "SCRAM-SHA-256"),
            present,
        ])
        .unwrap_err();
        assert!(
            matches!(err, ConfigError::Missing { variable, .. } if variable == missing),
            "{err}"
        );
    }
}

#[test]
fn the_sasl_user_and_password_can_be_a_secret_instead() {
    let secret = "arn:aws:secretsmanager:eu-central-1:123456789012:secret:AmazonMSK_sink-Ab12Cd";
    let sasl = [
        ("SINK_ERROR_SECURITY_PROTOCOL", "SASL_SSL"),
        ("SINK_ERROR_SASL_MECHANISM", "SCRAM-SHA-256"),
        ("SINK_ERROR_SASL_SECRET", secret),
    ];
    let c = with(&[&sasl[..], &[("AWS_SESSION_TOKEN", "token-never-shown")]].concat()).unwrap();
    let KafkaSecurity::SaslTlsSecret {
        mechanism,
        secret_id,
        ..
    } = &c.error_security
    else {
        panic!("{:?}", c.error_security)
    };
    assert_eq!(
        (*mechanism, secret_id.as_str()),
        (SaslMechanism::ScramSha256, secret)
    );
    assert!(!format!("{c:?}").contains("token-never-shown"));

    // The extension wants Lambda's session token.
    let err = with(&sasl).unwrap_err().to_string();
    assert!(err.starts_with("AWS_SESSION_TOKEN is required"), "{err}");
    // Not both: which would win is a guess.
    let err = with(
        &[
            &sasl[..],
            &[
                ("AWS_SESSION_TOKEN", "t"),
                ("SINK_ERROR_SASL_PASSWORD", "pw-never-shown"),
            ],
        ]
        .concat(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.starts_with("SINK_ERROR_SASL_PASSWORD=\"(set)\"")
            && err.contains("SINK_ERROR_SASL_SECRET")
            && !err.contains("pw-never-shown"),
        "{err}"
    );
}
