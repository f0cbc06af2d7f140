//! What a handler knows about a request: method, decoded path segments, decoded query, headers
//! and the (still encoded) body. Parsing only; no routing, auth or storage here.

use axum::http::{HeaderMap, Method};
use bytes::Bytes;
use percent_encoding::percent_decode_str;

/// The query string decoded the way form values are (`+` is a space, `%XX` escapes), in order.
#[derive(Debug, Clone, Default)]
pub struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    pub fn parse(raw: Option<&str>) -> Self {
        // The same decoding the signature check uses, so handlers see what was signed.
        Self {
            pairs: maxcompute_core::signing::decode_query(raw.unwrap_or("")),
        }
    }

    /// The value of the last parameter with this name, as pyodps lets the last one win.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn has(&self, name: &str) -> bool {
        self.pairs.iter().any(|(k, _)| k == name)
    }

    /// A boolean flag: present and not `false` (`create_partition`, `create_partition=true`).
    pub fn flag(&self, name: &str) -> bool {
        self.get(name)
            .is_some_and(|v| !v.eq_ignore_ascii_case("false"))
    }

    pub fn pairs(&self) -> &[(String, String)] {
        &self.pairs
    }
}

/// Percent-decodes a path (a `+` in a path is a literal plus).
pub fn decode_path(s: &str) -> String {
    percent_decode_str(s).decode_utf8_lossy().into_owned()
}

/// Which face of the emulator a request addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Surface {
    /// The service API under `/api`: XML errors.
    Api,
    /// The Tunnel at the root: JSON errors.
    Tunnel,
    /// The unsigned loopback-only admin endpoints under `/_emulator`.
    Admin,
}

/// One parsed request as the handlers see it.
#[derive(Debug)]
pub struct Request {
    pub method: Method,
    pub surface: Surface,
    /// The resource path relative to the endpoint (`/api` stripped), percent-decoded.
    pub resource: String,
    /// `resource` split on `/`, empty segments removed.
    pub segments: Vec<String>,
    pub query: Query,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Request {
    pub fn new(
        method: Method,
        raw_path: &str,
        raw_query: Option<&str>,
        headers: HeaderMap,
        body: Bytes,
    ) -> Self {
        let (surface, rel) = if let Some(rest) = raw_path.strip_prefix("/api") {
            if rest.is_empty() || rest.starts_with('/') {
                (Surface::Api, rest)
            } else {
                (Surface::Tunnel, raw_path)
            }
        } else if raw_path.starts_with("/_emulator") {
            (Surface::Admin, raw_path)
        } else {
            (Surface::Tunnel, raw_path)
        };
        let resource = decode_path(if rel.is_empty() { "/" } else { rel });
        let segments = resource
            .split('/')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        Self {
            method,
            surface,
            resource,
            segments,
            query: Query::parse(raw_query),
            headers,
            body,
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn segment(&self, i: usize) -> Option<&str> {
        self.segments.get(i).map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_decodes_plus_and_escapes_and_keeps_valueless_names() {
        let q = Query::parse(Some(
            "partition=dt%3D11-17-2020+15&uploads&create_partition=&x=1&x=2",
        ));
        assert_eq!(q.get("partition"), Some("dt=11-17-2020 15"));
        assert!(q.has("uploads"));
        assert_eq!(q.get("uploads"), Some(""));
        assert!(q.flag("create_partition"));
        assert_eq!(q.get("x"), Some("2"));
        assert!(!q.has("missing"));
    }

    #[test]
    fn api_prefix_is_stripped_and_tunnel_paths_are_not() {
        let r = Request::new(
            Method::GET,
            "/api/projects/p/tables/t",
            None,
            HeaderMap::new(),
            Bytes::new(),
        );
        assert_eq!(r.surface, Surface::Api);
        assert_eq!(r.resource, "/projects/p/tables/t");
        let r = Request::new(
            Method::GET,
            "/projects/p/tables/t",
            None,
            HeaderMap::new(),
            Bytes::new(),
        );
        assert_eq!(r.surface, Surface::Tunnel);
        assert_eq!(r.segments, vec!["projects", "p", "tables", "t"]);
        let r = Request::new(Method::GET, "/apix", None, HeaderMap::new(), Bytes::new());
        assert_eq!(r.surface, Surface::Tunnel);
    }
}
