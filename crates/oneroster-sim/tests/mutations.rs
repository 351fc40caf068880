//! Mutations between syncs, through the library and the admin API.

mod common;

use common::*;
use oneroster_sim::rawhttp;
use oneroster_sim::{Mutation, Preset};

fn ok<T, E: std::fmt::Display>(r: Result<T, E>) -> T {
    r.unwrap_or_else(|e| panic!("{e}"))
}

#[tokio::test]
async fn add_remove_change_users_and_perm_rev_moves() {
    let sim = start(Preset::Small).await;
    let before = fetch_all(&sim, "/users", "users", 10_000).await;
    let rev0 = get(&sim, "/users?limit=1")
        .await
        .header("x-perm-rev")
        .map(str::to_string);

    let added = ok(sim.mutate(Mutation::AddUsers { count: 4 }));
    assert_eq!(added.affected.len(), 4);
    let rev1 = get(&sim, "/users?limit=1")
        .await
        .header("x-perm-rev")
        .map(str::to_string);
    assert_ne!(rev0, rev1);
    assert_eq!(rev1, Some(added.perm_rev.to_string()));
    for id in &added.affected {
        let r = get(&sim, &format!("/users/{id}")).await;
        assert_eq!(r.status, 200);
        assert_eq!(json(&r)["user"]["role"], "student");
        let classes = fetch_all(&sim, &format!("/users/{id}/classes"), "classes", 100).await;
        assert_eq!(classes.len(), 1, "a newcomer gets a homeroom");
    }

    let removed = ok(sim.mutate(Mutation::RemoveUsers { count: 3 }));
    for id in &removed.affected {
        assert_eq!(get(&sim, &format!("/users/{id}")).await.status, 404);
    }
    let enr = fetch_all(&sim, "/enrollments", "enrollments", 10_000).await;
    assert!(!enr.iter().any(|e| {
        removed
            .affected
            .iter()
            .any(|id| e["user"]["sourcedId"] == id.as_str())
    }));

    let changed = ok(sim.mutate(Mutation::ChangeUsers { count: 2 }));
    for id in &changed.affected {
        let now = json(&get(&sim, &format!("/users/{id}")).await)["user"].clone();
        let old = before
            .iter()
            .find(|u| sid(u) == *id)
            .cloned()
            .unwrap_or_default();
        assert_ne!(now["familyName"], old["familyName"]);
        assert_ne!(now["email"], old["email"]);
        assert!(now["dateLastModified"].as_str() > old["dateLastModified"].as_str());
    }
    let after = fetch_all(&sim, "/users", "users", 10_000).await;
    assert_eq!(after.len(), before.len() + 4 - 3);
    sim.shutdown().await;
}

#[tokio::test]
async fn end_enrollments_and_move_a_student() {
    let sim = start(Preset::Small).await;
    let stats0 = sim.stats();
    let ended = ok(sim.mutate(Mutation::EndEnrollments { count: 10 }));
    assert_eq!(ended.affected.len(), 10);
    for id in &ended.affected {
        let e = json(&get(&sim, &format!("/enrollments/{id}")).await)["enrollment"].clone();
        assert_eq!(
            e["endDate"], "2026-03-01",
            "endDate is exclusive: ended as of the as-of date"
        );
    }
    assert!(
        sim.stats().counts.students_with_current_enrollment
            <= stats0.counts.students_with_current_enrollment
    );

    let schools = fetch_all(&sim, "/schools", "orgs", 100).await;
    let students = fetch_all(
        &sim,
        &format!("/schools/{}/students", sid(&schools[0])),
        "users",
        10_000,
    )
    .await;
    let student = sid(&students[0]);
    let to = sid(&schools[2]);
    let moved = ok(sim.mutate(Mutation::MoveStudent {
        student: Some(student.clone()),
        to_school: Some(to.clone()),
    }));
    assert_eq!(moved.affected[0], student);
    let u = json(&get(&sim, &format!("/users/{student}")).await)["user"].clone();
    assert_eq!(u["orgs"].as_array().map(Vec::len), Some(1));
    assert_eq!(u["orgs"][0]["sourcedId"], to.as_str());
    let at_new = fetch_all(&sim, &format!("/schools/{to}/students"), "users", 10_000).await;
    assert!(at_new.iter().any(|x| sid(x) == student));
    let enr = fetch_all(
        &sim,
        &format!("/schools/{}/enrollments", sid(&schools[0])),
        "enrollments",
        10_000,
    )
    .await;
    assert!(
        !enr.iter()
            .any(|e| e["user"]["sourcedId"] == student.as_str())
    );
    assert!(
        sim.mutate(Mutation::MoveStudent {
            student: Some("nobody".into()),
            to_school: None
        })
        .is_err()
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn remove_half_the_users_through_the_admin_api() {
    let sim = start(Preset::Small).await;
    let n = total(&get(&sim, "/users?limit=1").await);
    let r = ok(rawhttp::request(
        sim.addr(),
        "POST",
        "/admin/mutations",
        &[("content-type", "application/json")],
        br#"{"kind":"removeHalfUsers"}"#,
    )
    .await);
    assert_eq!(r.status, 200, "{}", r.text());
    let report = json(&r);
    assert_eq!(
        report["affected"].as_array().map(Vec::len),
        Some((n / 2) as usize)
    );
    assert_eq!(total(&get(&sim, "/users?limit=1").await), n - n / 2);
    let r = ok(rawhttp::request(
        sim.addr(),
        "POST",
        "/admin/mutations",
        &[],
        br#"{"kind":"addUsers","count":2}"#,
    )
    .await);
    assert_eq!(json(&r)["affected"].as_array().map(Vec::len), Some(2));
    let bad = ok(rawhttp::request(
        sim.addr(),
        "POST",
        "/admin/mutations",
        &[],
        br#"{"kind":"explode"}"#,
    )
    .await);
    assert_eq!(bad.status, 400);
    let stats = ok(rawhttp::get(sim.addr(), "/admin/stats", &[]).await);
    assert_eq!(
        json(&stats),
        serde_json::to_value(sim.stats()).unwrap_or_default()
    );
    sim.shutdown().await;
}
