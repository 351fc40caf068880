//! Keeps credentials out of every message the client produces. A hostile or careless
//! server may echo what it was sent (the `Authorization` header, the token it issued, the
//! OAuth 1.0a signature), in the encoding it was sent in or another one. The redactor knows
//! every credential the client has sent or received and removes each of them, in each
//! encoding, from error text; it also removes whatever follows the words that introduce a
//! credential (`Bearer`, `Basic`, `oauth_signature`, `access_token`, `client_secret`), so a
//! value it never saw (a signature of another request, a token of another client) goes too.

use std::collections::VecDeque;
use std::sync::Mutex;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};

use super::url::encode;

/// What replaces a credential.
pub const REDACTED: &str = "[redacted]";

/// Values shorter than this are not redacted by value: they would match ordinary text.
const MIN_LEN: usize = 4;

/// Credentials made at runtime that are remembered, oldest forgotten first: OAuth 2.0
/// tokens (about one an hour) and OAuth 1.0a signatures (one per request; an echo comes
/// back with the answer, long before 256 more requests have been signed).
const MAX_RUNTIME_VALUES: usize = 256;

/// Encodings kept per value (see [`push_encodings`]).
const ENCODINGS: usize = 7;

/// Words after which a credential follows, compared without case.
const MARKERS: [&str; 6] = [
    "bearer",
    "basic",
    "oauth_signature",
    "access_token",
    "refresh_token",
    "client_secret",
];

/// Every credential the client knows, and the redaction of text against them.
#[derive(Debug, Default)]
pub struct Redactor {
    fixed: Vec<String>,
    runtime: Mutex<VecDeque<String>>,
}

impl Redactor {
    /// A redactor for these credentials (secrets, tokens, the HTTP Basic value).
    pub fn new<'a>(credentials: impl IntoIterator<Item = &'a str>) -> Self {
        let mut fixed = Vec::new();
        for value in credentials {
            push_encodings(&mut fixed, value);
        }
        Redactor {
            fixed,
            runtime: Mutex::new(VecDeque::new()),
        }
    }

    /// Remembers a credential made or obtained while running (an OAuth 2.0 access token,
    /// an OAuth 1.0a signature).
    pub fn remember(&self, value: &str) {
        let mut added = Vec::new();
        push_encodings(&mut added, value);
        let mut runtime = match self.runtime.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        runtime.extend(added);
        while runtime.len() > MAX_RUNTIME_VALUES * ENCODINGS {
            runtime.pop_front();
        }
    }

    /// Remembers the credential an `Authorization` header value carries: the OAuth 1.0a
    /// signature (the secret and tokens are known already).
    pub fn remember_signature(&self, authorization: &str) {
        let Some(at) = authorization.find("oauth_signature=\"") else {
            return;
        };
        let rest = &authorization[at + "oauth_signature=\"".len()..];
        let encoded = rest.split('"').next().unwrap_or_default();
        let signature = percent_encoding::percent_decode_str(encoded).decode_utf8_lossy();
        self.remember(&signature);
    }

    /// The text with every known credential, and whatever follows a credential marker,
    /// replaced by `[redacted]`.
    pub fn redact(&self, text: &str) -> String {
        let mut out = redact_after_markers(text);
        let runtime: Vec<String> = match self.runtime.lock() {
            Ok(guard) => guard.iter().cloned().collect(),
            Err(poisoned) => poisoned.into_inner().iter().cloned().collect(),
        };
        // Longest first, so an encoding that contains another is removed whole.
        let mut values: Vec<&String> = self.fixed.iter().chain(runtime.iter()).collect();
        values.sort_by_key(|v| std::cmp::Reverse(v.len()));
        for value in values {
            if out.contains(value.as_str()) {
                out = out.replace(value.as_str(), REDACTED);
            }
        }
        out
    }
}

/// Longest server text quoted in a message, after redaction.
pub const QUOTE_CHARS: usize = 300;

/// Longest server text kept for redaction: generous, so a credential is whole when it is
/// redacted and only cut afterwards.
pub const READ_CHARS: usize = 4096;

/// The text cut to `max` characters. A cut through a run of credential characters drops
/// the whole run, so a cut never leaves the start of a credential that redaction could no
/// longer recognise.
pub fn cap(text: &str, max: usize) -> String {
    let Some((end, _)) = text.char_indices().nth(max) else {
        return text.to_owned();
    };
    let kept = &text[..end];
    let cut_inside_a_word = text[end..].starts_with(credential_char);
    let kept = if cut_inside_a_word {
        kept.trim_end_matches(credential_char)
    } else {
        kept
    };
    format!("{}…", kept.trim_end())
}

/// The value as sent and in every encoding it may come back in: percent-encoded, form
/// encoded, and Base64 (standard and URL-safe, with and without padding).
fn push_encodings(out: &mut Vec<String>, value: &str) {
    if value.len() < MIN_LEN {
        return;
    }
    let candidates = [
        value.to_owned(),
        encode(value),
        encode(value).replace("%20", "+"),
        STANDARD.encode(value),
        STANDARD_NO_PAD.encode(value),
        URL_SAFE.encode(value),
        URL_SAFE_NO_PAD.encode(value),
    ];
    for candidate in candidates {
        if candidate.len() >= MIN_LEN && !out.contains(&candidate) {
            out.push(candidate);
        }
    }
}

/// Characters a credential is made of in any of the encodings above.
fn credential_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-._~+/=%".contains(c)
}

/// Replaces the value after each marker (`Bearer xyz`, `oauth_signature="xyz"`,
/// `"access_token": "xyz"`) with `[redacted]`.
fn redact_after_markers(text: &str) -> String {
    let lower = text.to_ascii_lowercase();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut search = 0;
    while let Some((at, marker)) = MARKERS
        .iter()
        .filter_map(|m| lower[search..].find(m).map(|i| (search + i, *m)))
        .min_by_key(|(i, _)| *i)
    {
        let after_marker = at + marker.len();
        // A marker inside a longer word (`basically`) is not one.
        let joined_before = text[..at]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
        let joined_after = text[after_marker..]
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
        if joined_before || joined_after {
            search = after_marker;
            continue;
        }
        let separators = text[after_marker..]
            .find(|c: char| !(c.is_whitespace() || "\"':=\\".contains(c)))
            .unwrap_or(text.len() - after_marker);
        let value_start = after_marker + separators;
        let value_len = text[value_start..]
            .find(|c: char| !credential_char(c))
            .unwrap_or(text.len() - value_start);
        let value = &text[value_start..value_start + value_len];
        // "the Bearer token expired": a plain short word is not a credential.
        let plain_word = value.len() < 16 && value.chars().all(|c| c.is_ascii_lowercase());
        if separators == 0 || value_len == 0 || plain_word {
            search = after_marker;
            continue;
        }
        out.push_str(&text[copied..value_start]);
        out.push_str(REDACTED);
        copied = value_start + value_len;
        search = copied;
    }
    out.push_str(&text[copied..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_credential_is_redacted_in_every_encoding() {
        let redactor = Redactor::new(["s3cret/with+chars and space"]);
        let value = "s3cret/with+chars and space";
        for echoed in [
            value.to_owned(),
            encode(value),
            encode(value).replace("%20", "+"),
            STANDARD.encode(value),
            URL_SAFE_NO_PAD.encode(value),
        ] {
            let text = format!("you sent ({echoed}) which is wrong");
            let clean = redactor.redact(&text);
            assert!(!clean.contains(&echoed), "{clean}");
            assert!(clean.contains(REDACTED), "{clean}");
        }
    }

    #[test]
    fn a_cut_never_leaves_part_of_a_credential() {
        assert_eq!(cap("short", 10), "short");
        assert_eq!(cap("the token Zm9vYmFyYmF6cXV4", 14), "the token…");
        assert_eq!(cap("one two three", 8), "one two…");
    }

    #[test]
    fn tokens_remembered_at_runtime_are_redacted() {
        let redactor = Redactor::new(["client-secret-1"]);
        assert_eq!(redactor.redact("token tok-98765"), "token tok-98765");
        redactor.remember("tok-98765");
        assert_eq!(redactor.redact("token tok-98765"), "token [redacted]");
    }

    #[test]
    fn signatures_of_sent_requests_are_redacted_bare() {
        let redactor = Redactor::default();
        redactor.remember_signature(
            r#"OAuth oauth_consumer_key="k", oauth_signature="q%2BZx9%2Fab%3D", oauth_version="1.0""#,
        );
        assert_eq!(
            redactor.redact("bad signature q+Zx9/ab= for this request"),
            "bad signature [redacted] for this request"
        );
    }

    #[test]
    fn values_after_credential_words_are_redacted() {
        let redactor = Redactor::default();
        for (text, kept) in [
            (
                "Authorization: Bearer abc.def-ghi",
                "Authorization: Bearer ",
            ),
            ("got Basic dXNlcjpwYXNz==, refused", "got Basic "),
            (
                r#"OAuth oauth_consumer_key="k", oauth_signature="a%2Bb%3D", x"#,
                "oauth_signature=\"",
            ),
            (r#"{"access_token": "t0k3n"}"#, "access_token\": \""),
            ("client_secret=hunter22&x=1", "client_secret="),
        ] {
            let clean = redactor.redact(text);
            assert!(clean.contains(REDACTED), "{text} -> {clean}");
            assert!(clean.contains(kept), "{text} -> {clean}");
            for secret in [
                "abc.def-ghi",
                "dXNlcjpwYXNz",
                "a%2Bb%3D",
                "t0k3n",
                "hunter22",
            ] {
                assert!(!clean.contains(secret), "{text} -> {clean}");
            }
        }
    }

    #[test]
    fn ordinary_words_are_left_alone() {
        let redactor = Redactor::new(["abc"]);
        for text in [
            "basically the basic plan failed",
            "the Bearer token expired",
            "insufficient_scope",
            "abc is too short to redact by value",
        ] {
            assert_eq!(redactor.redact(text), text);
        }
    }
}
