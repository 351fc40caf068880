//! Collections, envelopes, paging headers and links, single records, nested endpoints.

mod common;

use common::*;
use oneroster_sim::{Preset, SimConfig};

fn links(r: &oneroster_sim::rawhttp::Response) -> Vec<(String, String)> {
    r.header("link")
        .unwrap_or_default()
        .split(", ")
        .filter_map(|part| {
            let (url, rel) = part.split_once("; rel=")?;
            Some((
                rel.trim_matches('"').to_string(),
                url.trim_matches(|c| c == '<' || c == '>').to_string(),
            ))
        })
        .collect()
}

fn link(r: &oneroster_sim::rawhttp::Response, rel: &str) -> Option<String> {
    links(r).into_iter().find(|(k, _)| k == rel).map(|(_, v)| v)
}

#[tokio::test]
async fn every_collection_answers_its_envelope() {
    let sim = start(Preset::Tiny).await;
    for (path, key) in [
        ("/orgs", "orgs"),
        ("/schools", "orgs"),
        ("/academicSessions", "academicSessions"),
        ("/terms", "academicSessions"),
        ("/courses", "courses"),
        ("/classes", "classes"),
        ("/users", "users"),
        ("/students", "users"),
        ("/teachers", "users"),
        ("/enrollments", "enrollments"),
        ("/demographics", "demographics"),
    ] {
        let r = get(&sim, path).await;
        assert_eq!(r.status, 200, "{path}");
        assert_eq!(r.header("content-type"), Some("application/json"));
        assert!(r.header("x-perm-rev").is_some());
        let body = json(&r);
        let list = body[key]
            .as_array()
            .unwrap_or_else(|| panic!("{path} lacks {key}"));
        if path != "/demographics" {
            assert!(!list.is_empty(), "{path} is empty");
        }
        for rec in list {
            assert!(
                rec["sourcedId"].is_string()
                    && rec["status"].is_string()
                    && rec["dateLastModified"].is_string()
            );
        }
    }
    let students = fetch_all(&sim, "/students", "users", 100).await;
    assert!(students.iter().all(|u| u["role"] == "student"));
    let schools = fetch_all(&sim, "/schools", "orgs", 100).await;
    assert!(schools.iter().all(|o| o["type"] == "school"));
    let terms = fetch_all(&sim, "/terms", "academicSessions", 100).await;
    assert!(terms.iter().all(|t| t["type"] == "term"));
    sim.shutdown().await;
}

#[tokio::test]
async fn records_have_oneroster_1_1_shapes() {
    let sim = start(Preset::Small).await;
    let users = fetch_all(&sim, "/users", "users", 10_000).await;
    let roles: std::collections::BTreeSet<&str> =
        users.iter().filter_map(|u| u["role"].as_str()).collect();
    for role in [
        "student",
        "teacher",
        "administrator",
        "aide",
        "parent",
        "guardian",
        "relative",
    ] {
        assert!(roles.contains(role), "no {role}");
    }
    assert!(
        users
            .iter()
            .all(|u| u["enabledUser"] == "true" || u["enabledUser"] == "false")
    );
    assert!(
        users.iter().any(|u| u["enabledUser"] == "false"),
        "some users are disabled"
    );
    assert!(
        users.iter().any(|u| u["status"] == "tobedeleted"),
        "some users are tobedeleted"
    );
    let student = users
        .iter()
        .find(|u| u["role"] == "student" && !u["agents"].as_array().is_none_or(|a| a.is_empty()));
    let student = student.unwrap_or_else(|| panic!("a student with agents"));
    let agent = &student["agents"][0];
    assert_eq!(agent["type"], "user");
    assert!(
        agent["href"]
            .as_str()
            .unwrap_or_default()
            .starts_with(&sim.api_url())
    );
    // The agent links back to the student.
    let parent = users
        .iter()
        .find(|u| u["sourcedId"] == agent["sourcedId"])
        .unwrap_or_else(|| panic!("agent record"));
    assert!(
        parent["agents"]
            .as_array()
            .is_some_and(|a| a.iter().any(|x| x["sourcedId"] == student["sourcedId"]))
    );
    assert!(student["grades"].as_array().is_some_and(|g| g.len() == 1));
    // Some students belong to two schools.
    assert!(
        users
            .iter()
            .any(|u| u["role"] == "student" && u["orgs"].as_array().is_some_and(|o| o.len() == 2))
    );

    let classes = fetch_all(&sim, "/classes", "classes", 10_000).await;
    assert!(classes.iter().any(|c| c["classType"] == "homeroom"));
    assert!(classes.iter().any(|c| c["classType"] == "scheduled"));
    let c = &classes[0];
    assert_eq!(c["course"]["type"], "course");
    assert_eq!(c["school"]["type"], "org");
    assert_eq!(c["terms"][0]["type"], "academicSession");

    let enrollments = fetch_all(&sim, "/enrollments", "enrollments", 10_000).await;
    let e = &enrollments[0];
    for k in [
        "user",
        "class",
        "school",
        "role",
        "primary",
        "beginDate",
        "endDate",
    ] {
        assert!(e.get(k).is_some(), "enrollment lacks {k}");
    }
    assert!(
        enrollments.iter().any(|e| e["beginDate"].is_null()),
        "some open enrollments"
    );
    let sessions = fetch_all(&sim, "/academicSessions", "academicSessions", 100).await;
    let types: std::collections::BTreeSet<&str> =
        sessions.iter().filter_map(|s| s["type"].as_str()).collect();
    assert!(types.contains("schoolYear") && types.contains("term"));
    sim.shutdown().await;
}

#[tokio::test]
async fn paging_totals_links_last_page_and_past_the_end() {
    let sim = start(Preset::Tiny).await;
    let all = fetch_all(&sim, "/users", "users", 1000).await;
    let n = all.len() as u64;
    assert!(n > 20);

    let first = get(&sim, "/users?limit=10").await;
    assert_eq!(total(&first), n);
    assert_eq!(first.header("x-count"), Some(n.to_string().as_str()));
    assert_eq!(json(&first)["users"].as_array().map(Vec::len), Some(10));
    assert!(link(&first, "prev").is_none());
    let next = link(&first, "next").unwrap_or_else(|| panic!("next link"));
    assert!(
        next.starts_with(&sim.base_url()) && next.contains("limit=10&offset=10"),
        "{next}"
    );
    let last_offset = (n - 1) / 10 * 10;
    assert!(link(&first, "last").is_some_and(|l| l.ends_with(&format!("offset={last_offset}"))));
    assert!(link(&first, "first").is_some_and(|l| l.ends_with("offset=0")));

    // Following next links visits every record exactly once.
    let mut seen = Vec::new();
    let mut url = Some(format!(
        "{}/ims/oneroster/v1p1/users?limit=10",
        sim.base_url()
    ));
    while let Some(u) = url {
        let r = get_raw(&sim, u.trim_start_matches(&sim.base_url())).await;
        seen.extend(
            json(&r)["users"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .iter()
                .map(sid),
        );
        url = link(&r, "next");
    }
    assert_eq!(seen, all.iter().map(sid).collect::<Vec<_>>());

    let last = get(&sim, &format!("/users?limit=10&offset={last_offset}")).await;
    assert_eq!(
        json(&last)["users"].as_array().map(Vec::len),
        Some((n - last_offset) as usize)
    );
    assert!(link(&last, "next").is_none());
    assert!(link(&last, "prev").is_some());

    let past = get(&sim, &format!("/users?limit=10&offset={}", n + 50)).await;
    assert_eq!(past.status, 200);
    assert_eq!(json(&past)["users"].as_array().map(Vec::len), Some(0));
    assert_eq!(total(&past), n);

    // Default page size 100; other query parameters survive in links.
    let d = get(&sim, "/users?filter=status%3D%27active%27").await;
    assert!(json(&d)["users"].as_array().is_some_and(|a| a.len() <= 100));
    assert!(link(&d, "first").is_some_and(|l| l.contains("filter=status%3D%27active%27")));
    sim.shutdown().await;
}

#[tokio::test]
async fn limit_above_the_maximum_is_clamped() {
    let sim = start_with(config(Preset::Tiny).max_page_size(7)).await;
    let r = get(&sim, "/users?limit=500").await;
    assert_eq!(json(&r)["users"].as_array().map(Vec::len), Some(7));
    assert!(link(&r, "next").is_some_and(|l| l.contains("limit=7&offset=7")));
    let bad = get(&sim, "/users?limit=many").await;
    assert_eq!(bad.status, 400);
    sim.shutdown().await;
}

#[tokio::test]
async fn single_records_and_unknown_ids() {
    let sim = start(Preset::Tiny).await;
    let users = fetch_all(&sim, "/users", "users", 1000).await;
    let student = users
        .iter()
        .find(|u| u["role"] == "student")
        .map(sid)
        .unwrap_or_default();
    let teacher = users
        .iter()
        .find(|u| u["role"] == "teacher")
        .map(sid)
        .unwrap_or_default();
    let r = get(&sim, &format!("/users/{student}")).await;
    assert_eq!(json(&r)["user"]["sourcedId"], student.as_str());
    assert_eq!(get(&sim, &format!("/students/{student}")).await.status, 200);
    assert_eq!(get(&sim, &format!("/teachers/{student}")).await.status, 404);
    assert_eq!(get(&sim, &format!("/teachers/{teacher}")).await.status, 200);
    let orgs = fetch_all(&sim, "/schools", "orgs", 100).await;
    let school = sid(&orgs[0]);
    assert_eq!(
        json(&get(&sim, &format!("/schools/{school}")).await)["org"]["type"],
        "school"
    );
    let classes = fetch_all(&sim, "/classes", "classes", 1000).await;
    let class = sid(&classes[0]);
    assert!(json(&get(&sim, &format!("/classes/{class}")).await)["class"].is_object());
    let missing = get(&sim, "/users/nobody").await;
    assert_eq!(missing.status, 404);
    assert_eq!(error_minor(&json(&missing)), "unknownobject");
    assert_eq!(json(&missing)["imsx_severity"], "error");
    assert_eq!(get(&sim, "/nothing").await.status, 404);
    sim.shutdown().await;
}

#[tokio::test]
async fn nested_endpoints_agree_with_the_flat_collections() {
    let sim = start_with(
        SimConfig::new(Preset::Small)
            .seed(3)
            .as_of(as_of())
            .bearer_token(TOKEN),
    )
    .await;
    let schools = fetch_all(&sim, "/schools", "orgs", 100).await;
    let school = sid(&schools[1]);
    let classes = fetch_all(&sim, "/classes", "classes", 10_000).await;
    let expect: Vec<String> = classes
        .iter()
        .filter(|c| c["school"]["sourcedId"] == school.as_str())
        .map(sid)
        .collect();
    let nested = fetch_all(&sim, &format!("/schools/{school}/classes"), "classes", 1000).await;
    assert_eq!(nested.iter().map(sid).collect::<Vec<_>>(), expect);
    let students = fetch_all(&sim, &format!("/schools/{school}/students"), "users", 1000).await;
    assert!(!students.is_empty() && students.iter().all(|u| u["role"] == "student"));
    assert!(students.iter().all(|u| {
        u["orgs"]
            .as_array()
            .is_some_and(|o| o.iter().any(|x| x["sourcedId"] == school.as_str()))
    }));
    let teachers = fetch_all(&sim, &format!("/schools/{school}/teachers"), "users", 1000).await;
    assert!(!teachers.is_empty() && teachers.iter().all(|u| u["role"] == "teacher"));
    let enr = fetch_all(
        &sim,
        &format!("/schools/{school}/enrollments"),
        "enrollments",
        10_000,
    )
    .await;
    assert!(
        enr.iter()
            .all(|e| e["school"]["sourcedId"] == school.as_str())
    );
    let class = &expect[0];
    let cs = fetch_all(&sim, &format!("/classes/{class}/students"), "users", 100).await;
    assert!(cs.iter().all(|u| u["role"] == "student"));
    let ct = fetch_all(&sim, &format!("/classes/{class}/teachers"), "users", 100).await;
    assert!(!ct.is_empty() && ct.iter().all(|u| u["role"] == "teacher"));
    assert_eq!(get(&sim, "/schools/nope/classes").await.status, 404);
    sim.shutdown().await;
}
