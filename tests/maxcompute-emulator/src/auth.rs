//! Request authentication as the real service does it: the `Authorization: ODPS ...` header is
//! parsed and its v2 (or v4) signature recomputed with `maxcompute_core::signing` over the request
//! as received (`/api` stripped, query form-decoded); STS keys also need their security token; the
//! `Date` header must be within 15 minutes of the server clock.
//!
//! This module owns the configured key table and the verdict; it does not build error bodies.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use axum::http::HeaderMap;
use chrono::{DateTime, Utc};
use maxcompute_core::signing::{self, Secret};

use crate::service_error::{EmuError, EmuResult};
use crate::signature;

/// The largest accepted difference between the request's `Date` and the server clock.
pub const MAX_CLOCK_SKEW: chrono::Duration = chrono::Duration::minutes(15);

/// One accepted key: a long-term AccessKey pair, or a temporary (STS) key with its token.
#[derive(Debug, Clone)]
pub struct Key {
    pub secret: Secret,
    pub sts_token: Option<String>,
    /// When a temporary key stops working (keys issued by `AssumeRole`).
    pub expires_at: Option<DateTime<Utc>>,
}

/// The keys the emulator accepts, by AccessKey id: the configured ones, and those issued by the
/// `AssumeRole` stand-in (shared between clones of the store).
#[derive(Debug, Clone, Default)]
pub struct KeyStore {
    keys: HashMap<String, Key>,
    issued: Arc<RwLock<HashMap<String, Key>>>,
}

impl KeyStore {
    pub fn add_access_key(&mut self, id: &str, secret: &str) {
        self.keys.insert(
            id.to_owned(),
            Key {
                secret: Secret::new(secret),
                sts_token: None,
                expires_at: None,
            },
        );
    }

    pub fn add_sts_key(&mut self, id: &str, secret: &str, token: &str) {
        self.keys.insert(
            id.to_owned(),
            Key {
                secret: Secret::new(secret),
                sts_token: Some(token.to_owned()),
                expires_at: None,
            },
        );
    }

    /// Accepts a temporary key until `expires_at`.
    pub fn issue(&self, id: &str, secret: &str, token: &str, expires_at: DateTime<Utc>) {
        let key = Key {
            secret: Secret::new(secret),
            sts_token: Some(token.to_owned()),
            expires_at: Some(expires_at),
        };
        self.issued
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id.to_owned(), key);
    }

    /// The key with this id, configured or issued.
    pub fn lookup(&self, id: &str) -> Option<Key> {
        if let Some(k) = self.keys.get(id) {
            return Some(k.clone());
        }
        self.issued
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(id)
            .cloned()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Verifies one request. `path_and_query` is the raw request target; `prefix` is the endpoint
    /// path (`/api` or empty).
    pub fn verify(
        &self,
        method: &str,
        headers: &HeaderMap,
        path_and_query: &str,
        prefix: &str,
        now: DateTime<Utc>,
    ) -> EmuResult<()> {
        let auth = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| {
                EmuError::Unauthorized(
                    "The request is not signed: Authorization header is missing".into(),
                )
            })?;
        let parsed = signature::parse_authorization(auth)?;
        let key = self.lookup(&parsed.access_key_id).ok_or_else(|| {
            EmuError::Unauthorized(format!(
                "The AccessKey id `{}` is not known to this server",
                parsed.access_key_id
            ))
        })?;
        if key.expires_at.is_some_and(|at| at <= now) {
            return Err(EmuError::Unauthorized(format!(
                "The security token of the temporary AccessKey `{}` has expired",
                parsed.access_key_id
            )));
        }

        check_request_time(headers, now)?;
        if let Some(expected) = &key.sts_token {
            check_security_token(headers, expected, &parsed.access_key_id)?;
        }

        let header_pairs: Vec<(&str, &str)> = headers
            .iter()
            .filter_map(|(k, v)| v.to_str().ok().map(|v| (k.as_str(), v)))
            .collect();
        let string_to_sign =
            signing::canonical_string_for_request(method, &header_pairs, path_and_query, prefix);
        let ok = match &parsed.v4_scope {
            None => signature::verify_v2(&key.secret, &string_to_sign, &parsed.signature),
            Some(scope) => signature::verify_v4(
                &key.secret,
                &scope.date8,
                &scope.region,
                &string_to_sign,
                &parsed.signature,
            ),
        };
        if ok {
            Ok(())
        } else {
            tracing::debug!(access_key_id = %parsed.access_key_id, "signature mismatch");
            Err(EmuError::SignatureNotMatch(format!(
                "The request signature we calculated does not match the signature you provided. StringToSign: {string_to_sign:?}"
            )))
        }
    }
}

/// The request's `Date` is within [`MAX_CLOCK_SKEW`] of `now`.
fn check_request_time(headers: &HeaderMap, now: DateTime<Utc>) -> EmuResult<()> {
    let date = headers
        .get("date")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| EmuError::Unauthorized("The Date header is missing".into()))?;
    let at = DateTime::parse_from_rfc2822(date)
        .map_err(|_| {
            EmuError::Unauthorized(format!("The Date header `{date}` is not an RFC 1123 date"))
        })?
        .with_timezone(&Utc);
    let skew = (now - at).abs();
    if skew > MAX_CLOCK_SKEW {
        return Err(EmuError::RequestTimeTooSkewed(format!(
            "The difference between the request time ({date}) and the server time is {} s, more than {} s",
            skew.num_seconds(),
            MAX_CLOCK_SKEW.num_seconds()
        )));
    }
    Ok(())
}

/// A temporary AccessKey's request carries the security token it was issued with.
fn check_security_token(headers: &HeaderMap, expected: &str, access_key_id: &str) -> EmuResult<()> {
    let given = headers
        .get(signing::STS_TOKEN_HEADER)
        .and_then(|v| v.to_str().ok());
    if given != Some(expected) {
        return Err(EmuError::Unauthorized(format!(
            "The security token for the temporary AccessKey `{access_key_id}` is missing or invalid"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn signed(secret: &str, date: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("date", HeaderValue::from_str(date).unwrap());
        h.insert("x-odps-user-agent", HeaderValue::from_static("test"));
        let pairs: Vec<(&str, &str)> = h
            .iter()
            .map(|(k, v)| (k.as_str(), v.to_str().unwrap()))
            .collect();
        let sts = signing::canonical_string_for_request(
            "GET",
            &pairs,
            "/api/projects/p/tables/t?partition=dt%3Da+b",
            "/api",
        );
        let sig = signing::sign_v2(&Secret::new(secret), &sts);
        h.insert(
            "authorization",
            HeaderValue::from_str(&signing::authorization_v2("id", &sig)).unwrap(),
        );
        h
    }

    fn keys() -> KeyStore {
        let mut k = KeyStore::default();
        k.add_access_key("id", "secret");
        k
    }

    #[test]
    fn good_signature_passes_and_wrong_secret_fails() {
        let now = Utc::now();
        let date = signing::http_date(now);
        let target = "/api/projects/p/tables/t?partition=dt%3Da+b";
        keys()
            .verify("GET", &signed("secret", &date), target, "/api", now)
            .unwrap();
        let e = keys()
            .verify("GET", &signed("wrong", &date), target, "/api", now)
            .unwrap_err();
        assert_eq!(e.code(), "SignatureNotMatch");
        let e = keys()
            .verify("GET", &HeaderMap::new(), target, "/api", now)
            .unwrap_err();
        assert_eq!(e.code(), "Unauthorized");
    }

    #[test]
    fn v4_signatures_are_verified_with_their_scope() {
        let now = Utc::now();
        let mut h = HeaderMap::new();
        h.insert(
            "date",
            HeaderValue::from_str(&signing::http_date(now)).unwrap(),
        );
        let target = "/api/projects/p?curr_project=p";
        let pairs: Vec<(&str, &str)> = h
            .iter()
            .map(|(k, v)| (k.as_str(), v.to_str().unwrap()))
            .collect();
        let sts = signing::canonical_string_for_request("GET", &pairs, target, "/api");
        let date8 = signing::v4_date8(now);
        let sig = signing::sign_v4(&Secret::new("secret"), &date8, "cn-test", &sts);
        let mut good = h.clone();
        good.insert(
            "authorization",
            HeaderValue::from_str(&signing::authorization_v4("id", &date8, "cn-test", &sig))
                .unwrap(),
        );
        keys().verify("GET", &good, target, "/api", now).unwrap();
        let mut other_region = h;
        other_region.insert(
            "authorization",
            HeaderValue::from_str(&signing::authorization_v4("id", &date8, "cn-other", &sig))
                .unwrap(),
        );
        let e = keys()
            .verify("GET", &other_region, target, "/api", now)
            .unwrap_err();
        assert_eq!(e.code(), "SignatureNotMatch");
    }

    #[test]
    fn issued_keys_need_their_token_and_stop_at_expiry() {
        let now = Utc::now();
        let date = signing::http_date(now);
        let target = "/api/projects/p/tables/t?partition=dt%3Da+b";
        let store = KeyStore::default();
        store.issue("id", "secret", "tok", now + chrono::Duration::minutes(5));
        let mut with_token = signed("secret", &date);
        with_token.insert(signing::STS_TOKEN_HEADER, HeaderValue::from_static("tok"));
        store
            .verify("GET", &with_token, target, "/api", now)
            .unwrap();
        let e = store
            .verify("GET", &signed("secret", &date), target, "/api", now)
            .unwrap_err();
        assert!(e.to_string().contains("security token"), "{e}");
        let later = now + chrono::Duration::minutes(6);
        let e = store
            .verify("GET", &with_token, target, "/api", later)
            .unwrap_err();
        assert!(e.to_string().contains("expired"), "{e}");
    }

    #[test]
    fn skewed_date_is_refused() {
        let now = Utc::now();
        let date = signing::http_date(now - chrono::Duration::minutes(16));
        let e = keys()
            .verify(
                "GET",
                &signed("secret", &date),
                "/api/projects/p/tables/t?partition=dt%3Da+b",
                "/api",
                now,
            )
            .unwrap_err();
        assert_eq!(e.code(), "RequestTimeTooSkewed");
    }
}
