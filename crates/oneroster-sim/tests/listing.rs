//! Pages of a filtered, sorted or derived collection come from one listing kept between
//! pages: they must be exactly the pages of the filter and sort applied to the whole
//! collection, and a mutation must be seen by the next page.

mod common;

use common::*;
use oneroster_sim::{Mutation, Preset};
use serde_json::Value;

fn enc(s: &str) -> String {
    oneroster_sim::auth::enc(s)
}

/// Every user, unfiltered and unsorted in one page: the whole table, never a kept listing.
async fn all_users(sim: &oneroster_sim::Sim) -> Vec<Value> {
    let r = get(sim, "/users?limit=10000").await;
    assert_eq!(r.status, 200, "{}", r.text());
    let users = json(&r)["users"].as_array().cloned().unwrap_or_default();
    assert_eq!(users.len() as u64, total(&r), "one page holds every user");
    users
}

/// Active users ordered by family name, ties in sourcedId order: what
/// `filter=status='active'&sort=familyName` must list.
fn active_by_family_name(all: &[Value]) -> Vec<String> {
    let mut active: Vec<&Value> = all.iter().filter(|u| u["status"] == "active").collect();
    active.sort_by_key(|u| {
        (
            u["familyName"].as_str().unwrap_or_default().to_string(),
            sid(u),
        )
    });
    active.into_iter().map(sid).collect()
}

/// Pages of `limit` concatenated, checking every page's `X-Total-Count`.
async fn paged_ids(sim: &oneroster_sim::Sim, path: &str, limit: u64) -> Vec<String> {
    let sep = if path.contains('?') { '&' } else { '?' };
    let mut out = Vec::new();
    let mut offset = 0;
    loop {
        let r = get(sim, &format!("{path}{sep}limit={limit}&offset={offset}")).await;
        assert_eq!(r.status, 200, "{path}: {}", r.text());
        let announced = total(&r);
        let page = json(&r)["users"].as_array().cloned().unwrap_or_default();
        out.extend(page.iter().map(sid));
        offset += limit;
        if offset >= announced {
            assert_eq!(
                out.len() as u64,
                announced,
                "{path}: pages add up to the total"
            );
            return out;
        }
        assert_eq!(
            page.len() as u64,
            limit,
            "{path}: a full page before the last"
        );
    }
}

#[tokio::test]
async fn pages_of_a_filtered_sorted_collection_are_the_filter_applied_to_the_whole_list() {
    let sim = start(Preset::Small).await;
    let path = format!("/users?filter={}&sort=familyName", enc("status='active'"));
    let expected = active_by_family_name(&all_users(&sim).await);
    assert!(expected.len() > 300, "enough users for many pages");

    let paged = paged_ids(&sim, &path, 97).await;
    assert_eq!(paged, expected);
    // Read again: the same listing, now from the second page's point of view.
    assert_eq!(paged_ids(&sim, &path, 97).await, expected);
    sim.shutdown().await;
}

#[tokio::test]
async fn a_page_answered_from_the_kept_listing_is_byte_identical_to_the_first_answer() {
    let sim = start(Preset::Small).await;
    let path = format!(
        "/users?filter={}&sort=familyName&orderBy=desc&limit=50&offset=100",
        enc("role='student' AND status='active'")
    );
    let first = get(&sim, &path).await;
    let again = get(&sim, &path).await;
    assert_eq!(first.status, 200, "{}", first.text());
    assert_eq!(first.body, again.body);
    for header in ["x-total-count", "x-count", "link"] {
        assert_eq!(first.header(header), again.header(header), "{header}");
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn a_mutation_between_pages_is_seen_by_the_next_page() {
    let sim = start(Preset::Small).await;
    let path = format!("/users?filter={}&sort=familyName", enc("status='active'"));
    let before = paged_ids(&sim, &path, 100).await;

    // Renames move people in the family-name order; removals shrink the filtered total.
    sim.mutate(Mutation::ChangeUsers { count: 40 })
        .unwrap_or_else(|e| panic!("{e}"));
    sim.mutate(Mutation::RemoveUsers { count: 25 })
        .unwrap_or_else(|e| panic!("{e}"));

    let expected = active_by_family_name(&all_users(&sim).await);
    assert_ne!(expected, before, "the mutations change the listing");
    assert_eq!(expected.len(), before.len() - 25);
    assert_eq!(paged_ids(&sim, &path, 100).await, expected);
    sim.shutdown().await;
}

#[tokio::test]
async fn derived_collections_page_like_their_whole_list_and_see_mutations() {
    let sim = start(Preset::Small).await;
    let students = |all: &[Value]| -> Vec<String> {
        all.iter()
            .filter(|u| u["role"] == "student")
            .map(sid)
            .collect()
    };
    // `/students` and a school's students are derived lists, kept between pages too.
    let school = "org-00001";
    let at_school = |all: &[Value]| -> Vec<String> {
        all.iter()
            .filter(|u| {
                u["role"] == "student"
                    && u["orgs"]
                        .as_array()
                        .is_some_and(|orgs| orgs.iter().any(|o| o["sourcedId"] == school))
            })
            .map(sid)
            .collect()
    };
    let nested = format!("/schools/{school}/students");

    let all = all_users(&sim).await;
    assert_eq!(paged_ids(&sim, "/students", 100).await, students(&all));
    assert_eq!(paged_ids(&sim, &nested, 100).await, at_school(&all));

    sim.mutate(Mutation::AddUsers { count: 30 })
        .unwrap_or_else(|e| panic!("{e}"));
    let grown = all_users(&sim).await;
    assert_eq!(students(&grown).len(), students(&all).len() + 30);
    assert_eq!(paged_ids(&sim, "/students", 100).await, students(&grown));
    assert_eq!(paged_ids(&sim, &nested, 100).await, at_school(&grown));
    sim.shutdown().await;
}
