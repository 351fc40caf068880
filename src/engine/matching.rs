//! Matching people to the platform's existing users by email, as the guide's merge key says.

use foldhash::HashMap;

use crate::engine::MergeKey;

/// Why an email cannot be used to match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnusableEmail {
    /// No email, or only blanks.
    Missing,
    /// Hidden by ClassLink DataGuard or a similar mask (`****`, `j***@x.org`, `[REDACTED]`,
    /// `xxxx@xxxx.xxx`, ...).
    Masked,
    /// Something that is not an email address (no `@`, two `@`, blanks inside, a domain
    /// without a dot).
    NotAnEmail,
}

impl UnusableEmail {
    /// The problem code a person with such an email is listed under.
    pub fn problem_code(self) -> &'static str {
        match self {
            UnusableEmail::Missing => "NoEmail",
            UnusableEmail::Masked => "MaskedEmail",
            UnusableEmail::NotAnEmail => "InvalidEmail",
        }
    }
}

/// Characters and words DataGuard and similar tools put where a value is hidden.
const MASK_CHARACTERS: [char; 4] = ['*', '\u{2022}', '\u{25CF}', '#'];
const MASK_WORDS: [&str; 2] = ["redacted", "dataguard"];

/// A part of an address made only of `x` (`xxxx@xxxx.xxx`), the other common mask.
fn all_x(part: &str) -> bool {
    part.chars().all(|c| c == 'x' || c == 'X' || c == '.') && part.chars().any(|c| c != '.')
}

/// Checks an email the way matching needs it. Matching is case sensitive (the guide says
/// so), so the email is not changed, only trimmed of surrounding blanks. A value that is
/// masked or is not an address at all is never a key: matching on it would join strangers
/// (every `****` is the same key) or create users that duplicate existing ones.
pub fn usable_email(email: Option<&str>) -> Result<&str, UnusableEmail> {
    let email = email.map(str::trim).unwrap_or_default();
    if email.is_empty() {
        return Err(UnusableEmail::Missing);
    }
    if email.contains(MASK_CHARACTERS)
        || MASK_WORDS
            .iter()
            .any(|w| contains_ignoring_ascii_case(email, w))
    {
        return Err(UnusableEmail::Masked);
    }
    let Some((local, domain)) = email.split_once('@') else {
        return Err(UnusableEmail::NotAnEmail);
    };
    if all_x(local) && domain.split('.').all(all_x) {
        return Err(UnusableEmail::Masked);
    }
    let dotted_domain = domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..");
    if local.is_empty()
        || !dotted_domain
        || domain.contains('@')
        || email.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(UnusableEmail::NotAnEmail);
    }
    Ok(email)
}

/// Whether `haystack` contains `needle` (ASCII letters in either case), without the copy
/// that lowercasing takes: a sync checks each of its people's emails several times.
fn contains_ignoring_ascii_case(haystack: &str, needle: &str) -> bool {
    haystack
        .as_bytes()
        .windows(needle.len())
        .any(|window| window.eq_ignore_ascii_case(needle.as_bytes()))
}

/// The match key of an email under `key`, or why there is none.
pub fn match_key(email: Option<&str>, key: MergeKey) -> Result<&str, UnusableEmail> {
    Ok(key_of(usable_email(email)?, key))
}

/// The match key of an email that [`usable_email`] accepted.
pub fn key_of(email: &str, key: MergeKey) -> &str {
    match key {
        MergeKey::Email => email,
        MergeKey::EmailWithoutDomain => email.split_once('@').map_or(email, |(local, _)| local),
    }
}

/// Platform users by match key, borrowing the keys and ids from the users themselves: a
/// district's hundred thousand users each have a key of their own, and copies of both took
/// 44 MB for `xl`'s 260,000.
#[derive(Debug, Default)]
pub struct IdentityIndex<'a> {
    by_key: HashMap<&'a str, Ids<'a>>,
}

/// The users under one key: one, or how many (a shared key is never matched).
#[derive(Debug)]
enum Ids<'a> {
    One(&'a str),
    Many(usize),
}

/// What a lookup found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup<'a> {
    /// Exactly one user has the key.
    One(&'a str),
    /// No user has the key.
    None,
    /// Several users share the key: matching would be a guess.
    Ambiguous(usize),
}

impl<'a> IdentityIndex<'a> {
    /// An index with room for `users` users (most have a key of their own).
    pub fn with_capacity(users: usize) -> Self {
        IdentityIndex {
            by_key: HashMap::with_capacity_and_hasher(users, Default::default()),
        }
    }

    /// Adds a user under its key.
    pub fn add(&mut self, key: &'a str, identity_id: &'a str) {
        self.by_key
            .entry(key)
            .and_modify(|ids| {
                *ids = match ids {
                    Ids::One(_) => Ids::Many(2),
                    Ids::Many(n) => Ids::Many(*n + 1),
                }
            })
            .or_insert(Ids::One(identity_id));
    }

    /// Looks a key up.
    pub fn lookup(&self, key: &str) -> Lookup<'a> {
        match self.by_key.get(key) {
            None => Lookup::None,
            Some(Ids::One(one)) => Lookup::One(one),
            Some(Ids::Many(n)) => Lookup::Ambiguous(*n),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_key_is_the_whole_address_and_case_sensitive() {
        assert_eq!(
            match_key(Some("Ana.Lee@riverside.edu"), MergeKey::Email),
            Ok("Ana.Lee@riverside.edu")
        );
        let mut index = IdentityIndex::default();
        index.add("ana.lee@riverside.edu", "id-1");
        assert_eq!(index.lookup("Ana.Lee@riverside.edu"), Lookup::None);
        assert_eq!(index.lookup("ana.lee@riverside.edu"), Lookup::One("id-1"));
    }

    #[test]
    fn email_without_domain_key_is_the_part_before_the_at() {
        assert_eq!(
            match_key(
                Some("ana.lee@students.riverside.edu"),
                MergeKey::EmailWithoutDomain
            ),
            Ok("ana.lee")
        );
        assert_eq!(
            match_key(Some("Ana.Lee@x.org"), MergeKey::EmailWithoutDomain),
            Ok("Ana.Lee")
        );
    }

    #[test]
    fn missing_and_masked_emails_have_no_key() {
        assert_eq!(
            match_key(None, MergeKey::Email),
            Err(UnusableEmail::Missing)
        );
        assert_eq!(
            match_key(Some("  "), MergeKey::Email),
            Err(UnusableEmail::Missing)
        );
        for masked in [
            "****",
            "a***@x.org",
            "@x.org*",
            "xxxx@xxxx.xxx",
            "XXXXX@XXXX.XX",
            "[REDACTED]",
            "redacted@dataguard.classlink.com",
            "\u{2022}\u{2022}\u{2022}\u{2022}",
            "####",
        ] {
            for key in [MergeKey::Email, MergeKey::EmailWithoutDomain] {
                assert_eq!(
                    match_key(Some(masked), key),
                    Err(UnusableEmail::Masked),
                    "{masked:?}"
                );
            }
        }
    }

    #[test]
    fn values_that_are_not_addresses_have_no_key() {
        for junk in [
            "ana.lee",
            "@x.org",
            "ana@",
            "ana@localhost",
            "ana@x..org",
            "ana@.org",
            "ana@x.org.",
            "ana lee@x.org",
            "ana@b@x.org",
            "N/A",
        ] {
            for key in [MergeKey::Email, MergeKey::EmailWithoutDomain] {
                assert_eq!(
                    match_key(Some(junk), key),
                    Err(UnusableEmail::NotAnEmail),
                    "{junk:?}"
                );
            }
        }
        assert_eq!(
            match_key(Some(" ana@x.org "), MergeKey::Email),
            Ok("ana@x.org")
        );
        assert_eq!(
            match_key(Some("maxx@x.org"), MergeKey::Email),
            Ok("maxx@x.org")
        );
    }

    #[test]
    fn a_key_shared_by_two_users_is_ambiguous() {
        let mut index = IdentityIndex::default();
        index.add("ana", "id-1");
        index.add("ana", "id-2");
        assert_eq!(index.lookup("ana"), Lookup::Ambiguous(2));
        index.add("ana", "id-3");
        assert_eq!(index.lookup("ana"), Lookup::Ambiguous(3));
        index.add("bo", "id-4");
        assert_eq!(index.lookup("bo"), Lookup::One("id-4"));
    }
}
