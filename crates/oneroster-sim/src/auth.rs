//! Authentication as a ClassLink Roster Server does it: OAuth 1.0a signed
//! requests (HMAC-SHA256 or HMAC-SHA1), OAuth2 client credentials, static bearer tokens.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use crate::config::AuthMethods;
use crate::query::decode;

/// RFC 3986 unreserved characters stay; everything else is percent-encoded.
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Percent-encoding as OAuth 1.0a (RFC 5849 3.6) requires.
pub fn enc(s: &str) -> String {
    utf8_percent_encode(s, UNRESERVED).to_string()
}

/// The OAuth 1.0a signature base string:
/// `METHOD&enc(base_url)&enc(sorted k=v pairs)`, with every key and value encoded
/// and the pairs sorted by encoded key, then encoded value.
pub fn base_string(method: &str, base_url: &str, params: &[(String, String)]) -> String {
    let mut encoded: Vec<(String, String)> = params.iter().map(|(k, v)| (enc(k), enc(v))).collect();
    encoded.sort();
    let joined = encoded
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    format!(
        "{}&{}&{}",
        method.to_ascii_uppercase(),
        enc(base_url),
        enc(&joined)
    )
}

/// Base64(HMAC(enc(secret) + "&", base)) for `HMAC-SHA256` or `HMAC-SHA1`.
pub fn signature(method: &str, client_secret: &str, base: &str) -> Option<String> {
    let key = format!("{}&", enc(client_secret));
    let raw = match method {
        "HMAC-SHA256" => {
            let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key.as_bytes()).ok()?;
            mac.update(base.as_bytes());
            mac.finalize().into_bytes().to_vec()
        }
        "HMAC-SHA1" => {
            let mut mac = Hmac::<sha1::Sha1>::new_from_slice(key.as_bytes()).ok()?;
            mac.update(base.as_bytes());
            mac.finalize().into_bytes().to_vec()
        }
        _ => return None,
    };
    Some(STANDARD.encode(raw))
}

/// Parses `OAuth k="v", k2="v2"` into decoded pairs.
pub fn parse_oauth_header(value: &str) -> Option<Vec<(String, String)>> {
    let v = value.trim();
    v.get(..6).filter(|h| h.eq_ignore_ascii_case("oauth "))?;
    let mut out = Vec::new();
    for part in v[6..].split(',') {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        let (k, val) = part.split_once('=')?;
        let val = val.trim();
        let val = val
            .strip_prefix('"')
            .and_then(|x| x.strip_suffix('"'))
            .unwrap_or(val);
        out.push((pct_decode(k.trim()), pct_decode(val)));
    }
    Some(out)
}

fn pct_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// 401 with a description.
    Unauthorized(String),
    /// 403 with a description.
    Forbidden(String),
}

pub const SCOPE_ROSTER_CORE: &str =
    "https://purl.imsglobal.org/spec/or/v1p1/scope/roster-core.readonly";
pub const SCOPE_ROSTER: &str = "https://purl.imsglobal.org/spec/or/v1p1/scope/roster.readonly";
pub const SCOPE_DEMOGRAPHICS: &str =
    "https://purl.imsglobal.org/spec/or/v1p1/scope/roster-demographics.readonly";
pub const SCOPES: [&str; 3] = [SCOPE_ROSTER_CORE, SCOPE_ROSTER, SCOPE_DEMOGRAPHICS];

struct Token {
    expires: Instant,
    scopes: Vec<String>,
}

/// Server-side auth state: credentials, remembered nonces and issued tokens.
pub struct Auth {
    pub methods: AuthMethods,
    pub client_id: String,
    pub client_secret: String,
    pub bearer_token: Option<String>,
    pub token_ttl: Duration,
    pub window: Duration,
    /// OAuth 1.0a signature methods accepted.
    pub signature_methods: Vec<String>,
    nonces: Mutex<HashMap<String, i64>>,
    tokens: Mutex<HashMap<String, Token>>,
    counter: AtomicU64,
}

/// What the token endpoint answers.
pub struct TokenAnswer {
    pub status: u16,
    pub body: serde_json::Value,
}

impl Auth {
    pub fn new(
        methods: AuthMethods,
        client_id: String,
        client_secret: String,
        bearer_token: Option<String>,
        token_ttl: Duration,
        window: Duration,
    ) -> Self {
        Auth {
            methods,
            client_id,
            client_secret,
            bearer_token,
            token_ttl,
            window,
            signature_methods: vec!["HMAC-SHA256".into(), "HMAC-SHA1".into()],
            nonces: Mutex::new(HashMap::new()),
            tokens: Mutex::new(HashMap::new()),
            counter: AtomicU64::new(0),
        }
    }

    /// The OAuth 2.0 access tokens issued and not yet expired (for tests that check a
    /// client never shows one).
    pub fn issued_tokens(&self) -> Vec<String> {
        match self.tokens.lock() {
            Ok(tokens) => tokens.keys().cloned().collect(),
            Err(poisoned) => poisoned.into_inner().keys().cloned().collect(),
        }
    }

    /// Checks the Authorization header of an API request.
    /// `url` is `scheme://host[:port]/path` as the client addressed it.
    pub fn check(
        &self,
        method: &str,
        url: &str,
        raw_query: Option<&str>,
        authorization: Option<&str>,
        path: &str,
    ) -> Result<(), Refusal> {
        let Some(header) = authorization else {
            return Err(Refusal::Unauthorized("no Authorization header".into()));
        };
        let h = header.trim();
        if h.len() > 6 && h[..6].eq_ignore_ascii_case("oauth ") {
            if !self.methods.oauth1 {
                return Err(Refusal::Unauthorized(
                    "OAuth 1.0a is not accepted by this server".into(),
                ));
            }
            return self.check_oauth1(method, url, raw_query, h);
        }
        if h.len() > 7 && h[..7].eq_ignore_ascii_case("bearer ") {
            let token = h[7..].trim();
            if self.methods.bearer
                && let Some(t) = &self.bearer_token
                && ct_eq(t.as_bytes(), token.as_bytes())
            {
                return Ok(());
            }
            if self.methods.oauth2 {
                let tokens = self
                    .tokens
                    .lock()
                    .map_err(|_| Refusal::Unauthorized("token store unavailable".into()))?;
                if let Some(t) = tokens.get(token) {
                    if t.expires <= Instant::now() {
                        return Err(Refusal::Unauthorized("access token expired".into()));
                    }
                    return scope_allows(&t.scopes, path);
                }
            }
            return Err(Refusal::Unauthorized("unknown bearer token".into()));
        }
        Err(Refusal::Unauthorized(
            "unsupported Authorization scheme".into(),
        ))
    }

    fn check_oauth1(
        &self,
        method: &str,
        url: &str,
        raw_query: Option<&str>,
        header: &str,
    ) -> Result<(), Refusal> {
        let unauthorized = |m: &str| Err(Refusal::Unauthorized(m.to_string()));
        let Some(params) = parse_oauth_header(header) else {
            return unauthorized("malformed OAuth header");
        };
        let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        let (Some(key), Some(sig_method), Some(ts), Some(nonce), Some(sig)) = (
            get("oauth_consumer_key"),
            get("oauth_signature_method"),
            get("oauth_timestamp"),
            get("oauth_nonce"),
            get("oauth_signature"),
        ) else {
            return unauthorized("OAuth header lacks a required parameter");
        };
        if let Some(v) = get("oauth_version")
            && v != "1.0"
        {
            return unauthorized("oauth_version must be 1.0");
        }
        if !ct_eq(key.as_bytes(), self.client_id.as_bytes()) {
            return unauthorized("unknown consumer key");
        }
        if sig_method != "HMAC-SHA256" && sig_method != "HMAC-SHA1" {
            return unauthorized("unsupported oauth_signature_method");
        }
        if !self.signature_methods.iter().any(|m| m == sig_method) {
            return unauthorized(&format!(
                "signature_method_rejected: this server accepts {} only",
                self.signature_methods.join(", ")
            ));
        }
        let Ok(ts) = ts.parse::<i64>() else {
            return unauthorized("oauth_timestamp is not a number");
        };
        let now = jiff::Timestamp::now().as_second();
        let window = self.window.as_secs() as i64;
        if (now - ts).abs() > window {
            return unauthorized("oauth_timestamp outside the allowed window");
        }
        let mut all: Vec<(String, String)> = params
            .iter()
            .filter(|(k, _)| k.starts_with("oauth_") && k != "oauth_signature")
            .cloned()
            .collect();
        if let Some(q) = raw_query {
            all.extend(crate::query::decode_pairs(q));
        }
        let base = base_string(method, url, &all);
        let Some(expected) = signature(sig_method, &self.client_secret, &base) else {
            return unauthorized("unsupported oauth_signature_method");
        };
        if !ct_eq(expected.as_bytes(), sig.as_bytes()) {
            return unauthorized("invalid signature");
        }
        let mut nonces = self
            .nonces
            .lock()
            .map_err(|_| Refusal::Unauthorized("nonce store unavailable".into()))?;
        if nonces.len() > 100_000 {
            nonces.retain(|_, t| (now - *t).abs() <= window);
        }
        let nonce_key = format!("{key}\u{0}{nonce}");
        if let Some(t) = nonces.get(&nonce_key)
            && (now - *t).abs() <= window
        {
            return unauthorized("nonce already used");
        }
        nonces.insert(nonce_key, ts);
        Ok(())
    }

    /// `POST /oauth2/token` (client credentials grant).
    pub fn token(&self, authorization: Option<&str>, body: &str) -> TokenAnswer {
        let err = |status: u16, e: &str, d: &str| TokenAnswer {
            status,
            body: serde_json::json!({"error": e, "error_description": d}),
        };
        if !self.methods.oauth2 {
            return err(
                400,
                "unsupported_grant_type",
                "OAuth2 is not enabled on this server",
            );
        }
        let form = crate::query::decode_pairs(body);
        let field = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        if field("grant_type").as_deref() != Some("client_credentials") {
            return err(
                400,
                "unsupported_grant_type",
                "grant_type must be client_credentials",
            );
        }
        let basic = authorization.and_then(|h| {
            let h = h.trim();
            let rest = h
                .get(6..)
                .filter(|_| h[..6].eq_ignore_ascii_case("basic "))?;
            let raw = STANDARD.decode(rest.trim()).ok()?;
            let text = String::from_utf8(raw).ok()?;
            let (id, secret) = text.split_once(':')?;
            Some((decode(id), decode(secret)))
        });
        let creds = basic.or_else(|| Some((field("client_id")?, field("client_secret")?)));
        let Some((id, secret)) = creds else {
            return err(401, "invalid_client", "client credentials missing");
        };
        if !(ct_eq(id.as_bytes(), self.client_id.as_bytes())
            && ct_eq(secret.as_bytes(), self.client_secret.as_bytes()))
        {
            return err(401, "invalid_client", "client authentication failed");
        }
        let requested: Vec<String> = field("scope")
            .map(|s| s.split_whitespace().map(str::to_string).collect())
            .unwrap_or_default();
        if let Some(bad) = requested.iter().find(|s| !SCOPES.contains(&s.as_str())) {
            return err(400, "invalid_scope", &format!("unknown scope {bad}"));
        }
        let scopes = if requested.is_empty() {
            SCOPES.iter().map(|s| s.to_string()).collect()
        } else {
            requested
        };
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let mut rng =
            crate::rng::SplitMix64::new(n ^ jiff::Timestamp::now().as_nanosecond() as u64);
        let token = format!("sim-{:016x}{:016x}", rng.next_u64(), rng.next_u64());
        let scope_text = scopes.join(" ");
        if let Ok(mut tokens) = self.tokens.lock() {
            let now = Instant::now();
            tokens.retain(|_, t| t.expires > now);
            tokens.insert(
                token.clone(),
                Token {
                    expires: now + self.token_ttl,
                    scopes,
                },
            );
        }
        TokenAnswer {
            status: 200,
            body: serde_json::json!({
                "access_token": token,
                "token_type": "bearer",
                "expires_in": self.token_ttl.as_secs(),
                "scope": scope_text,
            }),
        }
    }
}

/// `roster.readonly` covers everything; `roster-core.readonly` all but
/// demographics; `roster-demographics.readonly` only demographics.
fn scope_allows(scopes: &[String], path: &str) -> Result<(), Refusal> {
    let demographics = path.contains("/demographics");
    let ok = scopes.iter().any(|s| {
        s == SCOPE_ROSTER
            || (s == SCOPE_ROSTER_CORE && !demographics)
            || (s == SCOPE_DEMOGRAPHICS && demographics)
    });
    if ok {
        Ok(())
    } else {
        Err(Refusal::Forbidden(
            "the token's scope does not cover this resource".into(),
        ))
    }
}

/// Builds an `Authorization: OAuth ...` header value the way ClassLink's
/// reference libraries sign requests. For the simulator's own tests and bench.
#[allow(clippy::too_many_arguments)]
pub fn oauth1_header(
    method: &str,
    url_without_query: &str,
    query: Option<&str>,
    client_id: &str,
    client_secret: &str,
    signature_method: &str,
    timestamp: i64,
    nonce: &str,
) -> String {
    let mut params = vec![
        ("oauth_consumer_key".to_string(), client_id.to_string()),
        (
            "oauth_signature_method".to_string(),
            signature_method.to_string(),
        ),
        ("oauth_timestamp".to_string(), timestamp.to_string()),
        ("oauth_nonce".to_string(), nonce.to_string()),
        ("oauth_version".to_string(), "1.0".to_string()),
    ];
    let oauth = params.clone();
    if let Some(q) = query {
        params.extend(crate::query::decode_pairs(q));
    }
    let base = base_string(method, url_without_query, &params);
    let sig = signature(signature_method, client_secret, &base).unwrap_or_default();
    let mut parts: Vec<String> = oauth
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", enc(v)))
        .collect();
    parts.push(format!("oauth_signature=\"{}\"", enc(&sig)));
    format!("OAuth {}", parts.join(","))
}
