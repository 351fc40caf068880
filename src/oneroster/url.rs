//! URLs: the endpoint's base, collection paths with escaped sourcedIds, and query
//! strings encoded exactly the way the OAuth 1.0a signature sees them.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::Url;

use super::error::Error;

/// RFC 3986 unreserved characters stay as they are; everything else is percent-encoded.
/// The same set serves OAuth 1.0a (RFC 5849 §3.6), query values and path segments, so
/// the URL on the wire and the signature's base string agree byte for byte.
pub(crate) const RFC3986: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Percent-encodes with [`RFC3986`].
pub(crate) fn encode(value: &str) -> String {
    utf8_percent_encode(value, RFC3986).to_string()
}

/// The OneRoster 1.1 base path that ClassLink serves.
pub const BASE_PATH: &str = "/ims/oneroster/v1p1";

/// Base paths an endpoint may already end with; nothing is appended to those.
const KNOWN_BASE_PATHS: &[&str] = &[
    "/ims/oneroster/v1p1",
    "/ims/oneroster/v1p2",
    "/ims/oneroster/rostering/v1p2",
];

/// The validated root of a Roster Server's OneRoster API, e.g.
/// `https://district-ca-v2.oneroster.com/ims/oneroster/v1p1` (no trailing slash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseUrl {
    url: Url,
}

impl BaseUrl {
    /// Parses and checks an endpoint: absolute `https` URL (or `http` when allowed),
    /// a host, no credentials, query or fragment. Appends [`BASE_PATH`] unless the path
    /// already ends in a OneRoster base path.
    pub fn parse(endpoint: &str, allow_insecure_http: bool) -> Result<Self, Error> {
        let url = parse_http_url(endpoint.trim(), allow_insecure_http, "endpoint")?;
        let mut path = url.path().trim_end_matches('/').to_owned();
        if !KNOWN_BASE_PATHS.iter().any(|base| path.ends_with(base)) {
            path.push_str(BASE_PATH);
        }
        let mut url = url;
        url.set_path(&path);
        Ok(BaseUrl { url })
    }

    /// The base URL as text.
    pub fn as_str(&self) -> &str {
        self.url.as_str()
    }

    /// The URL of a collection below the base. Each segment is one path segment,
    /// percent-encoded, so a sourcedId containing `/`, `?` or spaces stays one segment.
    pub fn collection(&self, segments: &[&str]) -> Url {
        let mut path = self.url.path().to_owned();
        for segment in segments {
            path.push('/');
            path.push_str(&encode(segment));
        }
        let mut url = self.url.clone();
        url.set_path(&path);
        url
    }

    /// Whether `url` is on the same server (scheme, host, port) and below the base path:
    /// the only places a `Link: rel="next"` is followed to, so credentials never leave
    /// for another host.
    pub fn contains(&self, url: &Url) -> bool {
        url.scheme() == self.url.scheme()
            && url.host_str() == self.url.host_str()
            && url.port_or_known_default() == self.url.port_or_known_default()
            && url.path().starts_with(self.url.path())
    }
}

/// Parses an absolute http(s) URL with a host and no embedded credentials, query or
/// fragment.
pub(crate) fn parse_http_url(
    text: &str,
    allow_insecure_http: bool,
    what: &str,
) -> Result<Url, Error> {
    let invalid = |reason: String| Error::EndpointInvalid { reason };
    let url = Url::parse(text).map_err(|e| invalid(format!("the {what} URL is not valid: {e}")))?;
    match url.scheme() {
        "https" => {}
        "http" if allow_insecure_http => {}
        "http" => {
            return Err(invalid(format!(
                "the {what} URL uses plain http; use https (plain http is only allowed when the operator runs with --allow-insecure-http)"
            )));
        }
        other => {
            return Err(invalid(format!(
                "the {what} URL must start with https://, not {other}:"
            )));
        }
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(invalid(format!("the {what} URL has no host")));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid(format!(
            "the {what} URL must not contain credentials; put them in the Secret"
        )));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid(format!(
            "the {what} URL must not have a query or fragment"
        )));
    }
    Ok(url)
}

/// The URL without query or fragment, for messages.
pub(crate) fn display_url(url: &Url) -> String {
    let mut shown = url.clone();
    shown.set_query(None);
    shown.set_fragment(None);
    shown.to_string()
}

/// A request target: URL without query plus decoded query parameters, kept apart so
/// the OAuth 1.0a signature can be computed over exactly what is sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Scheme, host, port and path; no query.
    pub url: Url,
    /// Decoded query parameters in order.
    pub query: Vec<(String, String)>,
}

impl Target {
    /// A target with no query.
    pub fn new(url: Url) -> Self {
        Target { url, query: vec![] }
    }

    /// Adds a query parameter.
    pub fn with(mut self, key: &str, value: impl Into<String>) -> Self {
        self.query.push((key.to_owned(), value.into()));
        self
    }

    /// Splits a full URL (a `Link` header's `next`) into a target.
    pub fn from_url(url: &Url) -> Self {
        let query = url
            .query_pairs()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        let mut bare = url.clone();
        bare.set_query(None);
        bare.set_fragment(None);
        Target { url: bare, query }
    }

    /// The value of a query parameter.
    pub fn param(&self, key: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The URL as sent: query values encoded with [`RFC3986`] (spaces as `%20`, quotes
    /// as `%27`), the same encoding the signature uses.
    pub fn to_url(&self) -> Url {
        let mut url = self.url.clone();
        if self.query.is_empty() {
            url.set_query(None);
        } else {
            let query = self
                .query
                .iter()
                .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
                .collect::<Vec<_>>()
                .join("&");
            url.set_query(Some(&query));
        }
        url
    }

    /// The URL for messages: no query, so nothing from it can leak.
    pub fn display(&self) -> String {
        display_url(&self.url)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_path_is_appended_to_a_bare_host() {
        let base = BaseUrl::parse("https://district-ca-v2.oneroster.com", false).unwrap();
        assert_eq!(
            base.as_str(),
            "https://district-ca-v2.oneroster.com/ims/oneroster/v1p1"
        );
        let base = BaseUrl::parse("https://proxy.example/tenant42/", false).unwrap();
        assert_eq!(
            base.as_str(),
            "https://proxy.example/tenant42/ims/oneroster/v1p1"
        );
    }

    #[test]
    fn an_endpoint_with_the_base_path_is_kept() {
        for endpoint in [
            "https://x.oneroster.com/ims/oneroster/v1p1",
            "https://x.oneroster.com/ims/oneroster/v1p1/",
            " https://X.OneRoster.com/ims/oneroster/v1p1 ",
        ] {
            let base = BaseUrl::parse(endpoint, false).unwrap();
            assert_eq!(base.as_str(), "https://x.oneroster.com/ims/oneroster/v1p1");
        }
    }

    #[test]
    fn plain_http_needs_the_insecure_switch() {
        let err = BaseUrl::parse("http://127.0.0.1:8080", false).unwrap_err();
        assert_eq!(err.code(), crate::error_code::ErrorCode::EndpointInvalid);
        assert!(err.to_string().contains("--allow-insecure-http"));
        assert!(BaseUrl::parse("http://127.0.0.1:8080", true).is_ok());
    }

    #[test]
    fn bad_endpoints_are_endpoint_invalid() {
        for endpoint in [
            "",
            "district.oneroster.com",
            "ftp://x.example",
            "https://user:pw@x.example",
            "https://x.example/?key=1",
            "https://x.example/#top",
        ] {
            let err = BaseUrl::parse(endpoint, true).unwrap_err();
            assert_eq!(
                err.code(),
                crate::error_code::ErrorCode::EndpointInvalid,
                "{endpoint}"
            );
            assert!(!err.to_string().contains("pw@"), "{err}");
        }
    }

    #[test]
    fn sourced_ids_are_one_escaped_path_segment() {
        let base = BaseUrl::parse("https://x.example", false).unwrap();
        let url = base.collection(&["schools", "a/b ?c#d%", "classes"]);
        assert_eq!(
            url.as_str(),
            "https://x.example/ims/oneroster/v1p1/schools/a%2Fb%20%3Fc%23d%25/classes"
        );
        assert!(base.contains(&url));
    }

    #[test]
    fn query_is_encoded_like_the_signature() {
        let base = BaseUrl::parse("https://x.example", false).unwrap();
        let target = Target::new(base.collection(&["users"]))
            .with("limit", "100")
            .with("filter", "status='active' AND role='student'");
        assert_eq!(
            target.to_url().as_str(),
            "https://x.example/ims/oneroster/v1p1/users?limit=100&filter=status%3D%27active%27%20AND%20role%3D%27student%27"
        );
        let back = Target::from_url(&target.to_url());
        assert_eq!(back, target);
        assert_eq!(
            target.display(),
            "https://x.example/ims/oneroster/v1p1/users"
        );
    }

    #[test]
    fn next_links_elsewhere_are_not_contained() {
        let base = BaseUrl::parse("https://x.example/ims/oneroster/v1p1", false).unwrap();
        for other in [
            "https://evil.example/ims/oneroster/v1p1/users",
            "http://x.example/ims/oneroster/v1p1/users",
            "https://x.example:8443/ims/oneroster/v1p1/users",
            "https://x.example/other/users",
        ] {
            assert!(!base.contains(&Url::parse(other).unwrap()), "{other}");
        }
    }
}
