//! A stand-in for Alibaba Cloud STS `AssumeRole`, served at the root of the same port
//! (`GET|POST /?Action=AssumeRole&...`), so the sink's "account + RAM role" credentials path runs
//! locally. The RPC signature is verified (`signature::RpcQuery`, recomputing with
//! `maxcompute_core::signing`) against the configured keys;
//! issued temporary keys are accepted by every other endpoint until they expire and survive a
//! restart. Any well-formed role ARN is assumable: there are no RAM policies here.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use rand::RngExt;

use crate::incoming::Request;
use crate::service_error::{EmuError, EmuResult};
use crate::signature::RpcQuery;
use crate::state::AppState;

/// The API version STS answers.
pub const API_VERSION: &str = "2015-04-01";
/// Accepted `DurationSeconds`, as the service documents them.
pub const MIN_DURATION_SECS: i64 = 900;
pub const MAX_DURATION_SECS: i64 = 43_200;
pub const DEFAULT_DURATION_SECS: i64 = 3_600;
/// The largest accepted difference between `Timestamp` and the server clock.
pub const MAX_TIMESTAMP_SKEW: chrono::Duration = chrono::Duration::minutes(15);

/// Whether a request addresses the STS stand-in rather than the Tunnel.
pub fn is_sts_request(req: &Request) -> bool {
    req.segments.is_empty() && req.query.has("Action")
}

/// Whether the query string carries the call's `Signature`: then it holds every parameter and
/// the body is not part of the call.
pub fn query_is_signed(raw_query: &str) -> bool {
    maxcompute_core::signing::decode_query(raw_query)
        .iter()
        .any(|(k, _)| k == "Signature")
}

/// Why the stand-in refuses a call, each with STS's own code and status (`code`, `status`: the
/// one place they are chosen) and message.
#[derive(Debug, thiserror::Error)]
pub enum StsError {
    #[error("the STS stand-in serves only AssumeRole, not `{0}`")]
    UnknownAction(String),
    #[error("{0} is missing")]
    MissingParameter(&'static str),
    #[error("Signature is missing")]
    MissingSignature,
    #[error("only HMAC-SHA1 is supported")]
    SignatureMethod,
    #[error("Specified access key `{0}` is not found.")]
    UnknownAccessKey(String),
    #[error("the calling key's security token has expired")]
    TokenExpired,
    #[error("the SecurityToken does not match the temporary key")]
    TokenMismatch,
    #[error(
        "Specified signature is not matched with our calculation. server string to sign is:{string_to_sign}"
    )]
    SignatureDoesNotMatch { string_to_sign: String },
    #[error("`{0}` is not yyyy-MM-ddTHH:mm:ssZ")]
    TimestampFormat(String),
    #[error("Specified time stamp `{0}` is expired")]
    TimestampExpired(String),
    #[error("`{0}` is not acs:ram::<account id>:role/<role name>")]
    RoleArn(String),
    #[error("RoleSessionName must be 2 to 64 characters of letters, digits, `-_.@`")]
    RoleSessionName,
    #[error("DurationSeconds must be {MIN_DURATION_SECS}..={MAX_DURATION_SECS}, got `{0}`")]
    DurationSeconds(String),
    /// A body over the stand-in's bound (`what` says how it was found out).
    #[error("{what}: the parameters of an STS call are at most {limit} bytes")]
    BodyTooLarge { what: String, limit: usize },
}

impl StsError {
    /// STS's code for the refusal.
    pub fn code(&self) -> &'static str {
        match self {
            Self::UnknownAction(_) => "InvalidAction.NotFound",
            Self::MissingParameter(_) => "MissingParameter",
            Self::MissingSignature => "IncompleteSignature",
            Self::SignatureMethod => "InvalidParameter.SignatureMethod",
            Self::UnknownAccessKey(_) => "InvalidAccessKeyId.NotFound",
            Self::TokenExpired => "InvalidSecurityToken.Expired",
            Self::TokenMismatch => "InvalidSecurityToken.Mismatch",
            Self::SignatureDoesNotMatch { .. } => "SignatureDoesNotMatch",
            Self::TimestampFormat(_) => "InvalidTimeStamp.Format",
            Self::TimestampExpired(_) => "InvalidTimeStamp.Expired",
            Self::RoleArn(_) => "InvalidParameter.RoleArn",
            Self::RoleSessionName => "InvalidParameter.RoleSessionName",
            Self::DurationSeconds(_) => "InvalidParameter.DurationSeconds",
            Self::BodyTooLarge { .. } => "InvalidParameter.BodyTooLarge",
        }
    }

    /// The HTTP status STS answers it with.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::UnknownAction(_) | Self::UnknownAccessKey(_) => StatusCode::NOT_FOUND,
            Self::BodyTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            _ => StatusCode::BAD_REQUEST,
        }
    }
}

fn refuse<T>(e: StsError) -> EmuResult<T> {
    Err(EmuError::Sts(e))
}

fn random_string(len: usize, alphabet: &[u8]) -> String {
    let mut rng = rand::rng();
    (0..len)
        .filter_map(|_| {
            alphabet
                .get(rng.random_range(0..alphabet.len()))
                .map(|&b| char::from(b))
        })
        .collect()
}

const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// `acs:ram::<account id>:role/<role name>`.
fn valid_role_arn(arn: &str) -> bool {
    let Some(rest) = arn.strip_prefix("acs:ram::") else {
        return false;
    };
    let Some((account, role)) = rest.split_once(":role/") else {
        return false;
    };
    !account.is_empty()
        && account.bytes().all(|b| b.is_ascii_digit())
        && !role.is_empty()
        && role.len() <= 64
        && role
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

fn valid_session_name(name: &str) -> bool {
    (2..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.@".contains(&b))
}

/// Handles one STS call. `raw_query` is the query string as received; a POST may carry the
/// parameters as a form body instead, and the parameters of the call are then those of the
/// query and of the body together (RPC signs them all), so `Action` in the query counts.
pub fn handle(
    state: &AppState,
    req: &Request,
    raw_query: &str,
    now: DateTime<Utc>,
) -> EmuResult<Response> {
    let raw = if query_is_signed(raw_query) || req.body.is_empty() {
        raw_query.to_owned()
    } else {
        format!("{raw_query}&{}", String::from_utf8_lossy(&req.body))
    };
    let q = RpcQuery::parse(&raw);
    check_parameters(&q)?;
    authenticate(state, req.method.as_str(), &q, now)?;
    let (role_arn, session, duration) = requested_role(&q)?;
    issue(state, role_arn, session, duration, now)
}

/// The action is AssumeRole, and every parameter it needs is there.
fn check_parameters(q: &RpcQuery) -> EmuResult<()> {
    match q.get("Action") {
        Some("AssumeRole") => {}
        Some(other) => {
            return refuse(StsError::UnknownAction(other.to_owned()));
        }
        None => {
            return refuse(StsError::MissingParameter("Action"));
        }
    }
    for name in [
        "AccessKeyId",
        "SignatureMethod",
        "SignatureNonce",
        "Timestamp",
        "RoleArn",
        "RoleSessionName",
    ] {
        if q.get(name).is_none_or(str::is_empty) {
            return refuse(StsError::MissingParameter(name));
        }
    }
    if q.signature.is_none() {
        return refuse(StsError::MissingSignature);
    }
    if q.get("SignatureMethod") != Some("HMAC-SHA1") {
        return refuse(StsError::SignatureMethod);
    }
    Ok(())
}

/// The caller's key exists and is current, and the request is signed with it, recently.
fn authenticate(state: &AppState, method: &str, q: &RpcQuery, now: DateTime<Utc>) -> EmuResult<()> {
    let id = q.get("AccessKeyId").unwrap_or_default();
    let Some(key) = state.keys.lookup(id) else {
        return refuse(StsError::UnknownAccessKey(id.to_owned()));
    };
    if key.expires_at.is_some_and(|at| at <= now) {
        return refuse(StsError::TokenExpired);
    }
    if let Some(token) = &key.sts_token
        && q.get("SecurityToken") != Some(token.as_str())
    {
        return refuse(StsError::TokenMismatch);
    }
    if !q.verify(method, &key.secret) {
        return refuse(StsError::SignatureDoesNotMatch {
            string_to_sign: q.string_to_sign(method),
        });
    }
    let ts = q.get("Timestamp").unwrap_or_default();
    let at = DateTime::parse_from_rfc3339(ts)
        .map(|t| t.with_timezone(&Utc))
        .or_else(|_| refuse(StsError::TimestampFormat(ts.to_owned())))?;
    if (now - at).abs() > MAX_TIMESTAMP_SKEW {
        return refuse(StsError::TimestampExpired(ts.to_owned()));
    }
    Ok(())
}

/// The role, the session name and the duration asked for, each checked as STS checks them.
fn requested_role(q: &RpcQuery) -> EmuResult<(&str, &str, i64)> {
    let role_arn = q.get("RoleArn").unwrap_or_default();
    if !valid_role_arn(role_arn) {
        return refuse(StsError::RoleArn(role_arn.to_owned()));
    }
    let session = q.get("RoleSessionName").unwrap_or_default();
    if !valid_session_name(session) {
        return refuse(StsError::RoleSessionName);
    }
    let duration = match q.get("DurationSeconds") {
        None | Some("") => DEFAULT_DURATION_SECS,
        Some(d) => match d.parse::<i64>() {
            Ok(d) if (MIN_DURATION_SECS..=MAX_DURATION_SECS).contains(&d) => d,
            _ => {
                return refuse(StsError::DurationSeconds(d.to_owned()));
            }
        },
    };
    Ok((role_arn, session, duration))
}

/// Issues the temporary key, keeps it, and answers with it as STS does.
fn issue(
    state: &AppState,
    role_arn: &str,
    session: &str,
    duration: i64,
    now: DateTime<Utc>,
) -> EmuResult<Response> {
    let access_key_id = format!("STS.{}", random_string(24, ALNUM));
    let secret = random_string(40, ALNUM);
    let token = format!("CAIS{}", random_string(96, ALNUM));
    // Whole seconds, as STS reports them.
    let expires_at = DateTime::from_timestamp(now.timestamp() + duration, 0).unwrap_or(now);
    state.store().save_issued_key(
        &access_key_id,
        &secret,
        &token,
        expires_at.timestamp_millis(),
    )?;
    state
        .keys
        .issue(&access_key_id, &secret, &token, expires_at);
    tracing::info!(%role_arn, session, access_key_id, duration, "assumed role");
    let account = role_arn
        .trim_start_matches("acs:ram::")
        .split(':')
        .next()
        .unwrap_or_default();
    let body = serde_json::json!({
        "RequestId": random_string(32, ALNUM),
        "AssumedRoleUser": {
            "Arn": format!("{role_arn}/{session}"),
            "AssumedRoleId": format!("3{}:{session}", random_string(16, b"0123456789")),
        },
        "Credentials": {
            "AccessKeyId": access_key_id,
            "AccessKeySecret": secret,
            "SecurityToken": token,
            "Expiration": expires_at.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        },
        "SourceIdentity": account,
    });
    Ok((
        StatusCode::OK,
        [("content-type", "application/json")],
        body.to_string(),
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_arns_and_session_names_are_checked() {
        assert!(valid_role_arn(
            "acs:ram::1234567890:role/AliyunKafkaMaxComputeUser1"
        ));
        assert!(!valid_role_arn("acs:ram::abc:role/x"));
        assert!(!valid_role_arn("acs:ram::123:user/x"));
        assert!(!valid_role_arn("arn:aws:iam::123:role/x"));
        assert!(valid_session_name("kafka-sink@fn.1"));
        assert!(!valid_session_name("x"));
        assert!(!valid_session_name("has space"));
    }
}
