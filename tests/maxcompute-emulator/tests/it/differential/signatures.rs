//! `maxcompute_core::signing` against pyodps 0.13.2 on random requests, every run.
//!
//! `tests/differential/signatures.py` draws requests from a seeded `random.Random` (methods,
//! endpoints with and without a path, paths and queries with characters that need escaping,
//! repeated and valueless parameters, `x-odps-*` parameters and headers in mixed case,
//! Content-MD5/Content-Type present or not, random ids, secrets and STS tokens, v2, STS and v4
//! with a frozen date) and signs each with pyodps' own account classes. For every request this
//! test checks that:
//!
//! * `canonical_string_pyodps` (below: pyodps's own reading of a target) rebuilds pyodps'
//!   StringToSign, and the `Authorization` signed from it is pyodps' byte for byte (and
//!   verifies after parsing);
//! * [`canonical_string_for_request`] (the server's reading: split, then decode each part once)
//!   equals pyodps' own builder fed that reading;
//! * [`canonical_string`] on the decoded parts, with the headers as the caller gave them
//!   (repeats included), equals the same.
//!
//! The seed is printed; `DIFFERENTIAL_SEED=<n>` replays a run. `PYODPS_PYTHON` names the Python
//! with pyodps (default `<workspace>/.venv/bin/python`).

use std::fmt::Write as _;
use std::process::Command;

use maxcompute_core::signing::{
    Secret, authorization_v2, authorization_v4, canonical_string, canonical_string_for_request,
    decode_query, sign_v2, sign_v4,
};
use maxcompute_emulator::signature::{V4Scope, parse_authorization, verify_v2, verify_v4};
use percent_encoding::percent_decode_str;
use serde_json::Value as Json;
use test_support::python::{python, seed, workspace_root};

/// Requests per run.
const COUNT: usize = 1_000;
/// Differences listed in the failure message before the rest are only counted.
const SHOWN: usize = 6;

fn pyodps_requests(seed: u64) -> Vec<Json> {
    let script = workspace_root().join("tests/differential/signatures.py");
    let out = Command::new(python())
        .arg(&script)
        .args(["--seed", &seed.to_string(), "--count", &COUNT.to_string()])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    assert!(
        out.status.success(),
        "{} failed ({}); replay with DIFFERENTIAL_SEED={seed}:\n{}",
        script.display(),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: Json = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{} printed no JSON ({e})", script.display()));
    let requests = doc["requests"]
        .as_array()
        .expect("a `requests` array")
        .clone();
    assert_eq!(
        requests.len(),
        COUNT,
        "pyodps signed another number of requests"
    );
    requests
}

fn s<'a>(v: &'a Json, key: &str) -> &'a str {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("request {} lacks string {key}", v["index"]))
}

fn pairs(v: &Json, key: &str) -> Vec<(String, String)> {
    v[key]
        .as_array()
        .unwrap_or_else(|| panic!("request {} lacks list {key}", v["index"]))
        .iter()
        .map(|p| {
            (
                p[0].as_str().unwrap().to_owned(),
                p[1].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn refs(p: &[(String, String)]) -> Vec<(&str, &str)> {
    p.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect()
}

/// The request's inputs, for a failure message.
fn describe(v: &Json) -> String {
    let mut inputs = v.clone();
    if let Some(map) = inputs.as_object_mut() {
        for key in [
            "canonical_string",
            "canonical_string_decoded_once",
            "authorization",
        ] {
            map.remove(key);
        }
    }
    serde_json::to_string(&inputs).unwrap()
}

/// Everything this request shows that differs from pyodps.
fn differences(v: &Json, parts_without_query_mark: &mut usize) -> Vec<String> {
    let mut out = Vec::new();
    let method = s(v, "method");
    let prefix = s(v, "endpoint_path");
    let target = s(v, "request_path_and_query");
    let headers = pairs(v, "headers");
    let headers = refs(&headers);
    let expected = s(v, "canonical_string");
    let decoded_once = s(v, "canonical_string_decoded_once");

    let pyodps_reading = canonical_string_pyodps(method, &headers, target, prefix);
    if pyodps_reading != expected {
        out.push(format!(
            "canonical_string_pyodps:\n      got  {pyodps_reading:?}\n      want {expected:?}"
        ));
    }

    let access_id = s(v, "access_id");
    let secret = Secret::new(s(v, "access_key_secret"));
    let want_auth = s(v, "authorization");
    let (auth, scope) = match s(v, "signing") {
        "ak_v2" | "sts_v2" => (
            authorization_v2(access_id, &sign_v2(&secret, &pyodps_reading)),
            None,
        ),
        "ak_v4" => {
            let (date8, region) = (s(v, "v4_date"), s(v, "region"));
            let sig = sign_v4(&secret, date8, region, &pyodps_reading);
            (
                authorization_v4(access_id, date8, region, &sig),
                Some(V4Scope {
                    date8: date8.to_owned(),
                    region: region.to_owned(),
                }),
            )
        }
        other => panic!("unknown signing kind {other}"),
    };
    if auth != want_auth {
        out.push(format!(
            "Authorization:\n      got  {auth:?}\n      want {want_auth:?}"
        ));
    }
    // The emulator's side: take pyodps' header apart and verify it.
    match parse_authorization(want_auth) {
        Ok(parsed) => {
            let verified = match &scope {
                None => verify_v2(&secret, &pyodps_reading, &parsed.signature),
                Some(V4Scope { date8, region }) => {
                    verify_v4(&secret, date8, region, &pyodps_reading, &parsed.signature)
                }
            };
            if parsed.access_key_id != access_id || parsed.v4_scope != scope || !verified {
                out.push(format!(
                    "parse_authorization + verify: {parsed:?}, verified {verified}"
                ));
            }
        }
        Err(e) => out.push(format!("parse_authorization({want_auth:?}): {e}")),
    }

    let server_reading = canonical_string_for_request(method, &headers, target, prefix);
    if server_reading != decoded_once {
        out.push(format!(
            "canonical_string_for_request:\n      got  {server_reading:?}\n      want {decoded_once:?}"
        ));
    }

    // The client's way: decoded parts and the headers as given. pyodps adds a Date when none
    // was given; the client always gives one, so the added one is passed on as given.
    let mut given = pairs(v, "headers_given");
    if !given.iter().any(|(k, _)| k.eq_ignore_ascii_case("date")) {
        let date = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("date"))
            .map(|(_, d)| (*d).to_owned())
            .expect("pyodps sent a Date");
        given.push(("Date".to_owned(), date));
    }
    let query = pairs(v, "decoded_query");
    if query.is_empty() && v["has_query"] == Json::Bool(true) {
        // `/r?&`: parts cannot say that the raw query held only empty pieces, which pyodps
        // marks with a bare `?`; the two readings above cover that target.
        *parts_without_query_mark += 1;
    } else {
        let from_parts =
            canonical_string(method, &refs(&given), s(v, "decoded_path"), &refs(&query));
        if from_parts != decoded_once {
            out.push(format!(
                "canonical_string (parts):\n      got  {from_parts:?}\n      want {decoded_once:?}"
            ));
        }
    }
    out
}

#[test]
fn signer_matches_pyodps_on_random_requests() {
    let seed = seed();
    eprintln!("signature differential: seed {seed} (replay with DIFFERENTIAL_SEED={seed})");
    let requests = pyodps_requests(seed);

    let mut failing = 0;
    let mut report = String::new();
    let mut kinds = std::collections::BTreeMap::<String, usize>::new();
    let mut pyodps_reads_differently = 0;
    let mut parts_without_query_mark = 0;
    for v in &requests {
        *kinds.entry(s(v, "signing").to_owned()).or_default() += 1;
        if s(v, "canonical_string") != s(v, "canonical_string_decoded_once") {
            pyodps_reads_differently += 1;
        }
        let diffs = differences(v, &mut parts_without_query_mark);
        if diffs.is_empty() {
            continue;
        }
        failing += 1;
        if failing <= SHOWN {
            let _ = writeln!(report, "request {}: {}", v["index"], describe(v));
            for d in diffs {
                let _ = writeln!(report, "    {d}");
            }
        }
    }
    eprintln!(
        "signature differential: {} requests {kinds:?}; pyodps' whole-URL decoding reads {} of \
         them differently from a server; {} have a query of empty parts only",
        requests.len(),
        pyodps_reads_differently,
        parts_without_query_mark
    );
    assert!(
        failing == 0,
        "{failing} of {} requests sign differently from pyodps (seed {seed}; replay with \
         DIFFERENTIAL_SEED={seed}); the first ones:\n{report}",
        requests.len()
    );
    // Every kind ran, and both readings were exercised, or the run proved less than it says.
    assert_eq!(kinds.len(), 3, "signing kinds drawn: {kinds:?}");
    assert!(
        pyodps_reads_differently > 0 && pyodps_reads_differently < requests.len(),
        "the generator no longer mixes plain targets with ones pyodps reads its own way \
         ({pyodps_reads_differently} of {})",
        requests.len()
    );
}

/// Fixed examples of the targets the random run found pyodps reading its own way, so that a
/// regression names itself without Python. Each `want` pair is what pyodps 0.13.2 built for the
/// target (its sign_request, then its builder fed the target decoded once), with the
/// `Authorization` it sent for id `id`, secret `secret` and only a `Date` header.
#[test]
fn fixed_targets_read_as_pyodps_reads_them() {
    const DATE: &str = "Mon, 24 Nov 2025 12:00:00 GMT";
    // (method, endpoint path, target, pyodps' resource, resource decoded once, Authorization)
    let cases = [
        // `%2B` and `%26` are decoded before the query is split: a space and a new parameter.
        (
            "GET",
            "/api",
            "/api/projects/p/tables/t?partition=a%2Bb&x=%26y%3Dz",
            "/projects/p/tables/t?partition=a b&x&y=z",
            "/projects/p/tables/t?partition=a+b&x=&y=z",
            "ODPS id:uSJQyNKbsj4K+lCcyfFTXIc/FNk=",
        ),
        // `;` after the last `/` starts urlparse's "params", which pyodps leaves unsigned.
        (
            "PUT",
            "",
            "/p/a%3Bb/c%3Bd?x=1",
            "/p/a;b/c?x=1",
            "/p/a;b/c;d?x=1",
            "ODPS id:yzzoYPEAFsgEfNMZu8jlBqFWq9A=",
        ),
        // Tab, CR and LF vanish; `%2541` is decoded twice.
        (
            "GET",
            "/api",
            "/api/p/%09t%0A?v=%2541&w=%0D1",
            "/p/t?v=A&w=1",
            "/p/\tt\n?v=%41&w=\r1",
            "ODPS id:YdRYh/VCkh/01yYvNAxvPZf/bCI=",
        ),
        // A decoded `//` starts a (here empty) host.
        (
            "GET",
            "/api",
            "/api/%2F%2Fhost/x?y=1",
            "/host/x?y=1",
            "///host/x?y=1",
            "ODPS id:3Id56P+KH0m9rzFKg2j2ECDPvfg=",
        ),
        // A query of empty parts only keeps a bare `?` in both readings.
        (
            "GET",
            "/api",
            "/api/projects?&",
            "/projects?",
            "/projects?",
            "ODPS id:fxr2FXzbr+Ynr/2ZIBsuWSLqI60=",
        ),
    ];
    let headers = [("Date", DATE)];
    let head = format!("\n\n\n{DATE}\n");
    for (method, prefix, target, pyodps_resource, once_resource, auth) in cases {
        let pyodps = canonical_string_pyodps(method, &headers, target, prefix);
        assert_eq!(
            pyodps,
            format!("{method}{head}{pyodps_resource}"),
            "{target}"
        );
        assert_eq!(
            authorization_v2("id", &sign_v2(&Secret::new("secret"), &pyodps)),
            auth,
            "{target}"
        );
        let once = canonical_string_for_request(method, &headers, target, prefix);
        assert_eq!(once, format!("{method}{head}{once_resource}"), "{target}");
    }
}

/// The v2 StringToSign exactly as pyodps 0.13.2 builds it for a raw request target, quirks
/// included: the client's reading, which a server does not share for unusual targets.
///
/// pyodps does not split the target before decoding it: it percent-decodes the whole target
/// (`urllib.parse.unquote`), parses the result as a URL (`urlparse`: tab, CR and LF vanish, a
/// leading `//` starts a host, the first `?` starts the query, a `;` after the last `/` ends the
/// path) and form-decodes the query a second time (`parse_qsl`). So an escaped `&`, `=`, `?`,
/// `;`, `+`, `%XX`, tab or newline in a path, name or value reads differently than in
/// `canonical_string_for_request`; for targets without those (every request the client and
/// the MaxCompute SDKs make for legal names and partition values) the two agree.
///
/// `path_prefix` is the endpoint's own path; pyodps cuts the endpoint off the URL as a string, so
/// the prefix is removed as a string too (no segment check).
fn canonical_string_pyodps(
    method: &str,
    headers: &[(&str, &str)],
    path_and_query: &str,
    path_prefix: &str,
) -> String {
    let prefix = path_prefix.trim_end_matches('/');
    let relative = path_and_query
        .strip_prefix(prefix)
        .unwrap_or(path_and_query);
    let decoded = percent_decode_str(relative).decode_utf8_lossy();
    let (path, query) = pyodps_urlparse(&decoded);
    let params = query.as_deref().map(decode_query).unwrap_or_default();
    let pairs: Vec<(&str, &str)> = params
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    if pairs.is_empty() && query.is_some_and(|q| !q.is_empty()) {
        // A query of empty parts only: pyodps still writes the `?`.
        return canonical_string(method, headers, &format!("{path}?"), &[]);
    }
    canonical_string(method, headers, &path, &pairs)
}

/// The path and query of Python 3.11's `urllib.parse.urlparse(url, allow_fragments=False)`, as
/// pyodps applies it to an already percent-decoded target.
fn pyodps_urlparse(url: &str) -> (String, Option<String>) {
    // urlsplit strips leading C0 controls and spaces, and removes tab, CR and LF everywhere.
    let cleaned: String = url
        .trim_start_matches(|c: char| c <= ' ')
        .chars()
        .filter(|c| !matches!(c, '\t' | '\r' | '\n'))
        .collect();
    let mut rest = cleaned.as_str();
    let mut scheme = String::new();
    if let Some((candidate, after)) = rest.split_once(':')
        && candidate.starts_with(|c: char| c.is_ascii_alphabetic())
        && candidate
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
    {
        scheme = candidate.to_ascii_lowercase();
        rest = after;
    }
    if let Some(after) = rest.strip_prefix("//") {
        // The "host" runs to the first `/`, `?` or `#`; pyodps signs only what follows it.
        let end = after.find(['/', '?', '#']).unwrap_or(after.len());
        rest = after.get(end..).unwrap_or_default();
    }
    let (path, query) = match rest.split_once('?') {
        Some((p, q)) => (p, Some(q.to_owned())),
        None => (rest, None),
    };
    // urlparse's `_splitparams`: for the schemes that have parameters (the empty one among
    // them), `;params` after the last `/` are cut off the path.
    let path = if URLPARSE_USES_PARAMS.contains(&scheme.as_str()) {
        let from = path.rfind('/').unwrap_or(0);
        match path.get(from..).and_then(|tail| tail.find(';')) {
            Some(i) => path.get(..from + i).unwrap_or(path),
            None => path,
        }
    } else {
        path
    };
    (path.to_owned(), query)
}

/// `urllib.parse.uses_params`: the schemes whose last path segment may carry `;params`.
const URLPARSE_USES_PARAMS: [&str; 16] = [
    "", "ftp", "hdl", "prospero", "http", "imap", "https", "shttp", "rtsp", "rtsps", "rtspu",
    "sip", "sips", "mms", "sftp", "tel",
];
