//! The rows a collection request lists, remembered per request shape.
//!
//! A filtered, sorted or derived collection (`/students`, `/schools/{id}/classes`, any
//! `filter=` or `sort=`) is a list of row indices computed from the whole table. Paging
//! through it at `limit=100` asks for the same list thousands of times; computing it per
//! page made a sequential client measure the simulator instead of itself. So the list is
//! computed once, by the first page, and kept in a small cache keyed by everything that
//! decides it: the data revision, the path, the filter, the sort and the faults that
//! change what a filter or sort sees. A mutation moves the data revision on, so a list
//! from before it is never served after it.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use crate::config::Faults;
use crate::encode::Kind;
use crate::query::{Filter, Query};

/// Lists kept at most: the operator reads six collections with a filter, and a few
/// clients paging at once should not evict each other.
pub const LISTINGS_KEPT: usize = 8;

/// A collection request's rows, in the order served, before paging.
#[derive(Debug)]
pub struct Listing {
    pub kind: Kind,
    /// The envelope key (`users`, `orgs`, ...).
    pub envelope: &'static str,
    pub rows: Vec<u32>,
}

/// Everything that decides a [`Listing`]; `limit`, `offset` and `fields` do not.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ListingKey {
    /// [`crate::model::Dataset::revision`] of the data the list was made from.
    pub revision: u64,
    /// The request path, e.g. `/ims/oneroster/v1p1/schools/org-00001/classes`.
    pub path: String,
    pub filter: Option<Filter>,
    pub sort: Option<String>,
    pub descending: bool,
    pub seen_through: FaultView,
}

/// The faults that change which rows a request lists or how a filter or sort sees them:
/// `minimal` hides collections and ignores filters; the others change field values.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FaultView {
    minimal: bool,
    mask_emails: Option<u64>,
    junk_enabled: Option<u64>,
    incomplete_school: Option<String>,
}

impl FaultView {
    pub fn of(faults: &Faults) -> Self {
        FaultView {
            minimal: faults.minimal,
            mask_emails: faults.mask_emails.map(f64::to_bits),
            junk_enabled: faults.junk_enabled.map(f64::to_bits),
            incomplete_school: faults.incomplete_school.clone(),
        }
    }
}

impl ListingKey {
    pub fn new(revision: u64, path: &str, q: &Query, faults: &Faults) -> Self {
        ListingKey {
            revision,
            path: path.to_owned(),
            filter: q.filter.clone(),
            sort: q.sort.clone(),
            descending: q.descending,
            seen_through: FaultView::of(faults),
        }
    }
}

/// The most recently used listings, at most [`LISTINGS_KEPT`], all of one data revision.
#[derive(Debug, Default)]
pub struct ListingCache {
    /// Least recently used first.
    entries: Mutex<VecDeque<(ListingKey, Arc<Listing>)>>,
}

impl ListingCache {
    pub fn get(&self, key: &ListingKey) -> Option<Arc<Listing>> {
        let mut entries = self.lock();
        let at = entries.iter().position(|(k, _)| k == key)?;
        let entry = entries.remove(at)?;
        let listing = entry.1.clone();
        entries.push_back(entry);
        Some(listing)
    }

    /// Keeps `listing`; lists of another data revision go at once (they can never be
    /// asked for again), then the least recently used beyond [`LISTINGS_KEPT`].
    pub fn insert(&self, key: ListingKey, listing: Arc<Listing>) {
        let mut entries = self.lock();
        entries.retain(|(k, _)| k.revision == key.revision && *k != key);
        entries.push_back((key, listing));
        while entries.len() > LISTINGS_KEPT {
            entries.pop_front();
        }
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<(ListingKey, Arc<Listing>)>> {
        match self.entries.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::parse_query;

    fn key(revision: u64, path: &str, query: &str) -> ListingKey {
        let q = parse_query(Some(query), 10_000).unwrap_or_else(|e| panic!("{e:?}"));
        ListingKey::new(revision, path, &q, &Faults::default())
    }

    fn listing(rows: Vec<u32>) -> Arc<Listing> {
        Arc::new(Listing {
            kind: Kind::User,
            envelope: "users",
            rows,
        })
    }

    #[test]
    fn paging_parameters_share_a_listing_and_filters_do_not() {
        let cache = ListingCache::default();
        cache.insert(
            key(
                1,
                "/users",
                "filter=status%3D%27active%27&limit=100&offset=0",
            ),
            listing(vec![1, 2, 3]),
        );
        let page_two = key(
            1,
            "/users",
            "limit=100&offset=100&fields=sourcedId&filter=status%3D%27active%27",
        );
        assert_eq!(
            cache.get(&page_two).map(|l| l.rows.clone()),
            Some(vec![1, 2, 3])
        );
        assert!(
            cache
                .get(&key(1, "/users", "filter=status%3D%27tobedeleted%27"))
                .is_none()
        );
        assert!(
            cache
                .get(&key(
                    1,
                    "/users",
                    "filter=status%3D%27active%27&sort=familyName"
                ))
                .is_none()
        );
        assert!(
            cache
                .get(&key(1, "/students", "filter=status%3D%27active%27"))
                .is_none()
        );
    }

    #[test]
    fn a_new_data_revision_drops_every_older_listing() {
        let cache = ListingCache::default();
        cache.insert(key(1, "/users", "sort=familyName"), listing(vec![3, 1]));
        cache.insert(key(1, "/students", ""), listing(vec![1]));
        cache.insert(key(2, "/teachers", ""), listing(vec![2]));
        assert_eq!(cache.len(), 1);
        assert!(cache.get(&key(1, "/users", "sort=familyName")).is_none());
        assert!(cache.get(&key(2, "/teachers", "")).is_some());
    }

    #[test]
    fn at_most_the_kept_number_stay_and_the_least_recently_used_goes() {
        let cache = ListingCache::default();
        for n in 0..LISTINGS_KEPT {
            cache.insert(key(1, &format!("/c{n}"), ""), listing(vec![n as u32]));
        }
        // Using the oldest makes the second oldest the one to go.
        assert!(cache.get(&key(1, "/c0", "")).is_some());
        cache.insert(key(1, "/new", ""), listing(vec![]));
        assert_eq!(cache.len(), LISTINGS_KEPT);
        assert!(cache.get(&key(1, "/c0", "")).is_some());
        assert!(cache.get(&key(1, "/c1", "")).is_none());
    }

    #[test]
    fn faults_that_change_field_values_are_part_of_the_key() {
        let q =
            parse_query(Some("filter=email%3D%27x%27"), 10_000).unwrap_or_else(|e| panic!("{e:?}"));
        let plain = ListingKey::new(1, "/users", &q, &Faults::default());
        let mut masked_faults = Faults::default();
        masked_faults.set(crate::config::Fault::MaskEmails(0.5));
        let masked = ListingKey::new(1, "/users", &q, &masked_faults);
        assert_ne!(plain, masked);
        let mut slow = Faults::default();
        slow.set(crate::config::Fault::LatencyMs(50));
        assert_eq!(plain, ListingKey::new(1, "/users", &q, &slow));
    }
}
