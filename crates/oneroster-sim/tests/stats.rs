//! Ground truth agrees with what the API serves, counted through the API.

mod common;

use std::collections::{BTreeMap, HashMap, HashSet};

use common::*;
use oneroster_sim::{Counts, DatasetSpec, Preset, Sim, SimConfig, Stats};
use serde_json::Value;

fn day(s: &str) -> i64 {
    s.parse::<jiff::civil::Date>()
        .map(|d| {
            d.since(jiff::civil::date(1970, 1, 1))
                .map(|s| i64::from(s.get_days()))
                .unwrap_or(0)
        })
        .unwrap_or(0)
}

fn bump(c: &mut Counts, role: &str) {
    match role {
        "student" => c.students += 1,
        "teacher" => c.teachers += 1,
        "administrator" | "aide" => c.staff += 1,
        "parent" => c.parents += 1,
        "guardian" => c.guardians += 1,
        "relative" => c.relatives += 1,
        _ => {}
    }
}

/// Recounts the definitions from API records only.
async fn count_through_api(sim: &Sim, as_of: &str) -> Stats {
    let today = day(as_of);
    let schools = fetch_all(sim, "/schools", "orgs", 10_000).await;
    let users = fetch_all(sim, "/users", "users", 10_000).await;
    let classes = fetch_all(sim, "/classes", "classes", 10_000).await;
    let sessions = fetch_all(sim, "/academicSessions", "academicSessions", 10_000).await;
    let enrollments = fetch_all(sim, "/enrollments", "enrollments", 10_000).await;

    let mut stats = Stats {
        as_of: as_of.to_string(),
        ..Stats::default()
    };
    let mut per: BTreeMap<String, Counts> = BTreeMap::new();
    for s in schools.iter().filter(|s| s["status"] == "active") {
        stats.schools += 1;
        per.insert(sid(s), Counts::default());
    }
    let mut counted_students = HashSet::new();
    for u in &users {
        if u["status"] != "active" || u["enabledUser"] != "true" {
            continue;
        }
        let role = u["role"].as_str().unwrap_or_default();
        bump(&mut stats.counts, role);
        if role == "student" {
            counted_students.insert(sid(u));
        }
        for o in u["orgs"].as_array().cloned().unwrap_or_default() {
            if let Some(c) = per.get_mut(o["sourcedId"].as_str().unwrap_or_default()) {
                bump(c, role);
            }
        }
    }
    let by_id: HashMap<String, &Value> = sessions.iter().map(|s| (sid(s), s)).collect();
    let holds = |s: &Value| {
        day(s["startDate"].as_str().unwrap_or("")) <= today
            && today <= day(s["endDate"].as_str().unwrap_or(""))
    };
    for c in classes.iter().filter(|c| c["status"] == "active") {
        let current = c["terms"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .any(|t| {
                let Some(term) = by_id.get(t["sourcedId"].as_str().unwrap_or_default()) else {
                    return false;
                };
                holds(term)
                    || term["parent"]["sourcedId"]
                        .as_str()
                        .and_then(|p| by_id.get(p))
                        .is_some_and(|p| holds(p))
            });
        stats.counts.active_classes += 1;
        stats.counts.current_classes += u64::from(current);
        if let Some(s) = per.get_mut(c["school"]["sourcedId"].as_str().unwrap_or_default()) {
            s.active_classes += 1;
            s.current_classes += u64::from(current);
        }
    }
    let mut current = HashSet::new();
    let mut current_at: HashSet<(String, String)> = HashSet::new();
    for e in enrollments.iter().filter(|e| e["status"] == "active") {
        let school = e["school"]["sourcedId"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        stats.counts.enrollments += 1;
        if let Some(s) = per.get_mut(&school) {
            s.enrollments += 1;
        }
        let user = e["user"]["sourcedId"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let begin_ok = e["beginDate"].as_str().is_none_or(|b| day(b) <= today);
        let end_ok = e["endDate"].as_str().is_none_or(|x| today < day(x));
        if counted_students.contains(&user) && begin_ok && end_ok {
            current.insert(user.clone());
            current_at.insert((school, user));
        }
    }
    stats.counts.students_with_current_enrollment = current.len() as u64;
    for (school, _) in current_at {
        if let Some(s) = per.get_mut(&school) {
            s.students_with_current_enrollment += 1;
        }
    }
    stats.per_school = per
        .into_iter()
        .map(|(k, counts)| {
            let name = schools
                .iter()
                .find(|s| sid(s) == k)
                .and_then(|s| s["name"].as_str())
                .unwrap_or_default()
                .to_string();
            (k, oneroster_sim::SchoolStats { name, counts })
        })
        .collect();
    stats
}

#[tokio::test]
async fn stats_agree_with_the_api_small() {
    let sim = start(Preset::Small).await;
    let truth = sim.stats();
    assert_eq!(truth.schools, 3);
    assert!(
        truth.counts.students > 900 && truth.counts.current_classes < truth.counts.active_classes
    );
    assert!(
        truth.counts.students_with_current_enrollment > 0
            && truth.counts.students_with_current_enrollment <= truth.counts.students
    );
    let counted = count_through_api(&sim, "2026-03-01").await;
    assert_eq!(counted, truth);
    // The library's stats_for (what the CLI prints) is the same ground truth.
    let offline =
        oneroster_sim::stats_for(&config(Preset::Small)).unwrap_or_else(|e| panic!("{e:#}"));
    assert_eq!(offline, truth);
    sim.shutdown().await;
}

#[tokio::test]
async fn stats_agree_with_the_api_explicit_counts_and_after_mutations() {
    let spec = DatasetSpec {
        schools: 4,
        students: 300,
        teachers: 20,
        staff: 6,
        classes_per_student: 3,
    };
    let sim = start_with(
        SimConfig::with_spec(spec)
            .seed(99)
            .as_of(jiff::civil::date(2026, 9, 15))
            .bearer_token(TOKEN),
    )
    .await;
    let truth = sim.stats();
    assert_eq!(truth.schools, 4);
    assert!(
        (280..=300).contains(&truth.counts.students),
        "{}",
        truth.counts.students
    );
    assert_eq!(count_through_api(&sim, "2026-09-15").await, truth);
    let _ = sim.mutate(oneroster_sim::Mutation::EndEnrollments { count: 20 });
    let _ = sim.mutate(oneroster_sim::Mutation::MoveStudent {
        student: None,
        to_school: None,
    });
    let _ = sim.mutate(oneroster_sim::Mutation::RemoveUsers { count: 5 });
    let _ = sim.mutate(oneroster_sim::Mutation::AddUsers { count: 5 });
    let after = sim.stats();
    assert_eq!(count_through_api(&sim, "2026-09-15").await, after);
    sim.shutdown().await;
}

#[test]
fn cli_stats_prints_the_same_json() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_oneroster-sim"))
        .args([
            "stats",
            "--preset",
            "tiny",
            "--seed",
            "1",
            "--as-of",
            "2026-03-01",
        ])
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(out.status.success());
    let printed: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}"));
    let truth = oneroster_sim::stats_for(&config(Preset::Tiny)).unwrap_or_else(|e| panic!("{e:#}"));
    assert_eq!(printed, serde_json::to_value(&truth).unwrap_or_default());
    for key in [
        "schools",
        "students",
        "teachers",
        "staff",
        "parents",
        "guardians",
        "relatives",
        "activeClasses",
        "currentClasses",
        "studentsWithCurrentEnrollment",
        "enrollments",
        "perSchool",
    ] {
        assert!(printed.get(key).is_some(), "{key}");
    }
}
