//! An endpoint URL split into what requests need: the base to prepend to resource paths and the
//! path prefix that is not part of the signed resource.

/// An endpoint URL split into what the client needs: the base to prepend to resource paths and
/// the path prefix (such as `/api`) that is not part of the signed resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    base: String,
    prefix: String,
    scheme: String,
}

impl Endpoint {
    /// Parses `http(s)://host[:port][/prefix]`.
    pub fn parse(url: &str) -> Result<Self, String> {
        let parsed = reqwest::Url::parse(url.trim()).map_err(|e| format!("{url:?}: {e}"))?;
        let scheme = parsed.scheme().to_owned();
        if scheme != "http" && scheme != "https" {
            return Err(format!("{url:?}: the scheme must be http or https"));
        }
        if parsed.host_str().is_none_or(str::is_empty) {
            return Err(format!("{url:?}: no host"));
        }
        if parsed.query().is_some() || parsed.fragment().is_some() {
            return Err(format!("{url:?}: an endpoint has no query or fragment"));
        }
        let prefix = parsed.path().trim_end_matches('/').to_owned();
        let mut base = parsed.to_string();
        while base.ends_with('/') {
            base.pop();
        }
        Ok(Self {
            base,
            prefix,
            scheme,
        })
    }

    /// The URL requests are built on, without a trailing slash.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The endpoint's own path (`/api`, or empty), removed before signing.
    pub fn path_prefix(&self) -> &str {
        &self.prefix
    }

    /// `http` or `https`.
    pub fn scheme(&self) -> &str {
        &self.scheme
    }
}
