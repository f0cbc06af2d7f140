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

/// The URL parser's error (the `url` crate's, reached through reqwest's `Url` rather than as a
/// dependency of its own).
type UrlError = <reqwest::Url as std::str::FromStr>::Err;

/// Why a text is not an endpoint URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EndpointError {
    #[error("{url:?}: {source}")]
    NotUrl {
        url: String,
        #[source]
        source: UrlError,
    },
    #[error("{url:?}: the scheme must be http or https")]
    Scheme { url: String },
    #[error("{url:?}: no host")]
    NoHost { url: String },
    #[error("{url:?}: an endpoint has no query or fragment")]
    QueryOrFragment { url: String },
}

impl Endpoint {
    /// Parses `http(s)://host[:port][/prefix]`.
    pub fn parse(url: &str) -> Result<Self, EndpointError> {
        let parsed = reqwest::Url::parse(url.trim()).map_err(|source| EndpointError::NotUrl {
            url: url.to_owned(),
            source,
        })?;
        let scheme = parsed.scheme().to_owned();
        if scheme != "http" && scheme != "https" {
            return Err(EndpointError::Scheme {
                url: url.to_owned(),
            });
        }
        if parsed.host_str().is_none_or(str::is_empty) {
            return Err(EndpointError::NoHost {
                url: url.to_owned(),
            });
        }
        if parsed.query().is_some() || parsed.fragment().is_some() {
            return Err(EndpointError::QueryOrFragment {
                url: url.to_owned(),
            });
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
