//! Matching people to the platform's existing users by email, as the guide's merge key says.

use std::collections::HashMap;

use crate::engine::MergeKey;

/// Why an email cannot be used to match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnusableEmail {
    /// No email, or only blanks.
    Missing,
    /// Hidden by ClassLink DataGuard or a similar mask (`****`, no `@`, ...).
    Masked,
}

/// Checks an email the way matching needs it. Matching is case sensitive (the guide says
/// so), so the email is not changed, only trimmed of surrounding blanks.
pub fn usable_email(email: Option<&str>) -> Result<&str, UnusableEmail> {
    let email = email.map(str::trim).unwrap_or_default();
    if email.is_empty() {
        return Err(UnusableEmail::Missing);
    }
    let Some((local, domain)) = email.split_once('@') else {
        return Err(UnusableEmail::Masked);
    };
    if email.contains('*') || local.is_empty() || domain.is_empty() {
        return Err(UnusableEmail::Masked);
    }
    Ok(email)
}

/// The match key of an email under `key`, or why there is none.
pub fn match_key(email: Option<&str>, key: MergeKey) -> Result<&str, UnusableEmail> {
    let email = usable_email(email)?;
    Ok(match key {
        MergeKey::Email => email,
        MergeKey::EmailWithoutDomain => email.split_once('@').map_or(email, |(local, _)| local),
    })
}

/// Platform users by match key.
#[derive(Debug, Default)]
pub struct IdentityIndex {
    by_key: HashMap<String, Vec<String>>,
}

/// What a lookup found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// Exactly one user has the key.
    One(String),
    /// No user has the key.
    None,
    /// Several users share the key: matching would be a guess.
    Ambiguous(usize),
}

impl IdentityIndex {
    /// Adds a user under its key.
    pub fn add(&mut self, key: &str, identity_id: &str) {
        self.by_key
            .entry(key.to_owned())
            .or_default()
            .push(identity_id.to_owned());
    }

    /// Looks a key up.
    pub fn lookup(&self, key: &str) -> Lookup {
        match self.by_key.get(key).map(Vec::as_slice) {
            None | Some([]) => Lookup::None,
            Some([one]) => Lookup::One(one.clone()),
            Some(many) => Lookup::Ambiguous(many.len()),
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
        assert_eq!(
            index.lookup("ana.lee@riverside.edu"),
            Lookup::One("id-1".into())
        );
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
        assert_eq!(
            match_key(Some("****"), MergeKey::Email),
            Err(UnusableEmail::Masked)
        );
        assert_eq!(
            match_key(Some("a***@x.org"), MergeKey::Email),
            Err(UnusableEmail::Masked)
        );
        assert_eq!(
            match_key(Some("@x.org"), MergeKey::EmailWithoutDomain),
            Err(UnusableEmail::Masked)
        );
    }

    #[test]
    fn a_key_shared_by_two_users_is_ambiguous() {
        let mut index = IdentityIndex::default();
        index.add("ana", "id-1");
        index.add("ana", "id-2");
        assert_eq!(index.lookup("ana"), Lookup::Ambiguous(2));
    }
}
