//! OAuth 1.0a request signing (RFC 5849) the way ClassLink's own libraries do it.
//!
//! - parameters: `oauth_consumer_key`, `oauth_nonce`, `oauth_signature_method`,
//!   `oauth_timestamp` (no token, no `oauth_version`);
//! - base string: `GET&enc(url without query)&enc(k=v&k=v...)`, where the pairs are
//!   the oauth parameters and the query parameters, each key and value encoded with
//!   RFC 3986 and sorted by key, then value;
//! - key: `enc(client secret)&` (no token secret);
//! - signature: Base64 of the HMAC, sent in `Authorization: OAuth k="v",...`.
//!
//! This is the one place the client signs a request.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};

use super::config::SignatureMethod;
use super::url::{Target, display_url, encode};

/// The per-request values of an OAuth 1.0a signature.
#[derive(Debug, Clone)]
pub(crate) struct Nonce {
    /// Seconds since the Unix epoch.
    pub timestamp: u64,
    /// A fresh random string.
    pub nonce: String,
}

impl Nonce {
    /// Now, with 128 random bits.
    pub fn fresh() -> Self {
        let timestamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let nonce = format!("{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..));
        Nonce { timestamp, nonce }
    }
}

/// The `Authorization` header value for a GET of `target`.
pub(crate) fn authorization_header(
    target: &Target,
    client_id: &str,
    client_secret: &str,
    method: SignatureMethod,
    nonce: &Nonce,
) -> String {
    let timestamp = nonce.timestamp.to_string();
    let mut oauth = vec![
        ("oauth_consumer_key", client_id),
        ("oauth_nonce", nonce.nonce.as_str()),
        ("oauth_signature_method", method.as_oauth_str()),
        ("oauth_timestamp", timestamp.as_str()),
    ];
    let signature = sign("GET", target, &oauth, client_secret, "", method);
    oauth.push(("oauth_signature", &signature));
    oauth.sort();
    let fields = oauth
        .iter()
        .map(|(k, v)| format!("{}=\"{}\"", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join(",");
    format!("OAuth {fields}")
}

/// The signature base string (RFC 5849 §3.4.1).
pub(crate) fn base_string(http_method: &str, target: &Target, oauth: &[(&str, &str)]) -> String {
    let mut pairs: Vec<(String, String)> = oauth
        .iter()
        .map(|(k, v)| (encode(k), encode(v)))
        .chain(target.query.iter().map(|(k, v)| (encode(k), encode(v))))
        .collect();
    pairs.sort();
    let normalized = pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    format!(
        "{}&{}&{}",
        http_method.to_ascii_uppercase(),
        encode(&display_url(&target.url)),
        encode(&normalized)
    )
}

/// The Base64 signature over the base string, keyed `enc(client secret)&enc(token secret)`.
pub(crate) fn sign(
    http_method: &str,
    target: &Target,
    oauth: &[(&str, &str)],
    client_secret: &str,
    token_secret: &str,
    method: SignatureMethod,
) -> String {
    let base = base_string(http_method, target, oauth);
    let key = format!("{}&{}", encode(client_secret), encode(token_secret));
    let digest = match method {
        SignatureMethod::HmacSha256 => hmac_digest::<Hmac<sha2::Sha256>>(&key, &base),
        SignatureMethod::HmacSha1 => hmac_digest::<Hmac<sha1::Sha1>>(&key, &base),
    };
    BASE64.encode(digest)
}

fn hmac_digest<M: Mac + hmac::digest::KeyInit>(key: &str, message: &str) -> Vec<u8> {
    // HMAC takes keys of any length, so this cannot fail; an empty digest would only
    // make the server answer 401.
    match <M as hmac::digest::KeyInit>::new_from_slice(key.as_bytes()) {
        Ok(mut mac) => {
            mac.update(message.as_bytes());
            mac.finalize().into_bytes().to_vec()
        }
        Err(_) => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::Url;

    /// RFC 5849 §1.2: the published example request and its signature.
    #[test]
    fn rfc5849_example_signature() {
        let target = Target::new(Url::parse("http://photos.example.net/photos").unwrap())
            .with("file", "vacation.jpg")
            .with("size", "original");
        let oauth = [
            ("oauth_consumer_key", "dpf43f3p2l4k3l03"),
            ("oauth_token", "nnch734d00sl2jdk"),
            ("oauth_signature_method", "HMAC-SHA1"),
            ("oauth_timestamp", "137131202"),
            ("oauth_nonce", "chapoH"),
        ];
        let signature = sign(
            "GET",
            &target,
            &oauth,
            "kd94hf93k423kf44",
            "pfkkdhi9sl3r4s00",
            SignatureMethod::HmacSha1,
        );
        assert_eq!(signature, "MdpQcU8iPSUjWoN/UDMsK2sui9I=");
    }

    /// RFC 5849 §3.4.1.1: host lower-cased, default port dropped, parameters sorted by
    /// encoded name then value, including repeated names.
    #[test]
    fn rfc5849_base_string_normalization() {
        let target = Target::new(Url::parse("HTTP://Example.COM:80/request").unwrap())
            .with("b5", "=%3D")
            .with("a3", "a")
            .with("c@", "")
            .with("a2", "r b");
        let oauth = [
            ("oauth_consumer_key", "9djdj82h48djs9d2"),
            ("oauth_token", "kkk9d7dh3k39sjv7"),
            ("oauth_signature_method", "HMAC-SHA1"),
            ("oauth_timestamp", "137131201"),
            ("oauth_nonce", "7d8f3e4a"),
        ];
        let base = base_string("get", &target, &oauth);
        assert_eq!(
            base,
            "GET&http%3A%2F%2Fexample.com%2Frequest&a2%3Dr%2520b%26a3%3Da%26b5%3D%253D%25253D%26c%2540%3D%26oauth_consumer_key%3D9djdj82h48djs9d2%26oauth_nonce%3D7d8f3e4a%26oauth_signature_method%3DHMAC-SHA1%26oauth_timestamp%3D137131201%26oauth_token%3Dkkk9d7dh3k39sjv7"
        );
    }

    fn classlink_example() -> (Target, Nonce) {
        let target = Target::new(
            Url::parse("https://district-ca-v2.oneroster.com/ims/oneroster/v1p1/users").unwrap(),
        )
        .with("limit", "100")
        .with("offset", "0")
        .with("filter", "status='active' AND role='teacher'");
        let nonce = Nonce {
            timestamp: 1_767_225_600,
            nonce: "abc123XYZ".into(),
        };
        (target, nonce)
    }

    /// A ClassLink-style request with a filter holding quotes and spaces. The expected
    /// values were computed independently (Python's `urllib.parse.quote(safe='~')`,
    /// `hmac`, `hashlib.sha256`, `base64`).
    #[test]
    fn classlink_style_filter_request_hmac_sha256() {
        let (target, nonce) = classlink_example();
        let oauth = [
            ("oauth_consumer_key", "ck-123"),
            ("oauth_nonce", "abc123XYZ"),
            ("oauth_signature_method", "HMAC-SHA256"),
            ("oauth_timestamp", "1767225600"),
        ];
        assert_eq!(
            base_string("GET", &target, &oauth),
            "GET&https%3A%2F%2Fdistrict-ca-v2.oneroster.com%2Fims%2Foneroster%2Fv1p1%2Fusers&filter%3Dstatus%253D%2527active%2527%2520AND%2520role%253D%2527teacher%2527%26limit%3D100%26oauth_consumer_key%3Dck-123%26oauth_nonce%3Dabc123XYZ%26oauth_signature_method%3DHMAC-SHA256%26oauth_timestamp%3D1767225600%26offset%3D0"
        );
        let header = authorization_header(
            &target,
            "ck-123",
            "s3cr3t&+/=",
            SignatureMethod::HmacSha256,
            &nonce,
        );
        assert_eq!(
            header,
            format!(
                "OAuth oauth_consumer_key=\"ck-123\",oauth_nonce=\"abc123XYZ\",oauth_signature=\"{}\",oauth_signature_method=\"HMAC-SHA256\",oauth_timestamp=\"1767225600\"",
                encode(CLASSLINK_SHA256)
            )
        );
    }

    const CLASSLINK_SHA256: &str = "ajwghDH7BLk3Qpta79JPKywsuJaZ6muH/Dk0vsYIcaU=";
    const CLASSLINK_SHA1: &str = "lWUmz1hABTi+4Minl4r5RkTvuoQ=";

    #[test]
    fn classlink_style_filter_request_hmac_sha1() {
        let (target, nonce) = classlink_example();
        let header = authorization_header(
            &target,
            "ck-123",
            "s3cr3t&+/=",
            SignatureMethod::HmacSha1,
            &nonce,
        );
        assert!(
            header.contains(&format!("oauth_signature=\"{}\"", encode(CLASSLINK_SHA1))),
            "{header}"
        );
        assert!(header.contains("oauth_signature_method=\"HMAC-SHA1\""));
    }

    #[test]
    fn nonces_differ() {
        assert_ne!(Nonce::fresh().nonce, Nonce::fresh().nonce);
    }
}
