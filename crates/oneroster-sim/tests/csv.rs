//! Serving a OneRoster 1.1 bulk CSV data set.

mod common;

use common::*;
use oneroster_sim::{Preset, SimConfig};

fn write(dir: &std::path::Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).unwrap_or_else(|e| panic!("{name}: {e}"));
}

fn sample() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let d = dir.path();
    write(
        d,
        "orgs.csv",
        "sourcedId,status,dateLastModified,name,type,identifier,parentSourcedId\n\
        d1,,,Sample District,district,D1,\n\
        s1,,,\"North High, Campus A\",school,N1,d1\n\
        s2,active,2025-12-01T10:00:00Z,South Elementary,school,S2,d1\n",
    );
    write(
        d,
        "academicSessions.csv",
        "sourcedId,status,dateLastModified,title,type,startDate,endDate,parentSourcedId,schoolYear\n\
        y1,,,2025-2026,schoolYear,2025-08-01,2026-06-30,,2026\n\
        t1,,,Fall,term,2025-08-01,2025-12-20,y1,2026\n\
        t2,,,Spring,term,2026-01-05,2026-06-30,y1,2026\n",
    );
    write(
        d,
        "courses.csv",
        "sourcedId,status,dateLastModified,schoolYearSourcedId,title,courseCode,grades,orgSourcedId,subjects,subjectCodes\n\
        c1,,,y1,Algebra I,ALG1,\"09,10\",s1,Mathematics,\n",
    );
    write(
        d,
        "classes.csv",
        "sourcedId,status,dateLastModified,title,grades,courseSourcedId,classCode,classType,location,schoolSourcedId,termSourcedIds,subjects,subjectCodes,periods\n\
        k1,,,Algebra I - P1,09,c1,ALG1-1,scheduled,Room 1,s1,t2,Mathematics,,1\n\
        k2,,,Algebra I - Fall,09,c1,ALG1-F,scheduled,Room 2,s1,t1,Mathematics,,2\n",
    );
    write(
        d,
        "users.csv",
        "sourcedId,status,dateLastModified,enabledUser,orgSourcedIds,role,username,userIds,givenName,familyName,middleName,identifier,email,sms,phone,agentSourcedIds,grades,password\n\
        u1,,,true,s1,student,ana,,Ana,\"O'Neil\",,1001,ana@example.org,,,p1,09,\n\
        u2,,,true,\"s1,s2\",teacher,tom,,Tom,Teach,,2001,tom@example.org,,555-0100,,,\n\
        p1,,,true,s1,parent,pat,,Pat,\"O'Neil\",,3001,pat@example.net,555-0101,555-0101,u1,,\n\
        u3,tobedeleted,,false,s2,student,gone,,Gone,Away,,1002,gone@example.org,,,,10,\n",
    );
    write(
        d,
        "enrollments.csv",
        "sourcedId,classSourcedId,schoolSourcedId,userSourcedId,role,primary,beginDate,endDate,status,dateLastModified\n\
        e1,k1,s1,u1,student,false,2026-01-05,2026-07-01,,\n\
        e2,k1,s1,u2,teacher,true,,,,\n\
        e3,k2,s1,u1,student,false,2025-08-01,2025-12-21,,\n\
        e4,k1,s1,nobody,student,false,,,,\n",
    );
    dir
}

#[tokio::test]
async fn csv_data_set_is_served() {
    let dir = sample();
    let sim = start_with(
        SimConfig::new(Preset::Tiny)
            .csv_dir(dir.path())
            .as_of(as_of())
            .bearer_token(TOKEN),
    )
    .await;
    let orgs = fetch_all(&sim, "/orgs", "orgs", 100).await;
    assert_eq!(
        orgs.iter().map(sid).collect::<Vec<_>>(),
        vec!["d1", "s1", "s2"]
    );
    assert_eq!(orgs[1]["name"], "North High, Campus A");
    assert_eq!(orgs[1]["parent"]["sourcedId"], "d1");
    assert_eq!(fetch_all(&sim, "/schools", "orgs", 100).await.len(), 2);

    let u1 = json(&get(&sim, "/users/u1").await)["user"].clone();
    assert_eq!(u1["familyName"], "O'Neil");
    assert_eq!(u1["email"], "ana@example.org");
    assert_eq!(u1["agents"][0]["sourcedId"], "p1");
    assert_eq!(u1["grades"][0], "09");
    let u2 = json(&get(&sim, "/users/u2").await)["user"].clone();
    assert_eq!(u2["orgs"].as_array().map(Vec::len), Some(2));
    let u3 = json(&get(&sim, "/users/u3").await)["user"].clone();
    assert_eq!(
        (u3["status"].as_str(), u3["enabledUser"].as_str()),
        (Some("tobedeleted"), Some("false"))
    );

    let k1 = json(&get(&sim, "/classes/k1").await)["class"].clone();
    assert_eq!(k1["course"]["sourcedId"], "c1");
    assert_eq!(k1["terms"][0]["sourcedId"], "t2");
    // The enrollment for an unknown user is skipped.
    let enr = fetch_all(&sim, "/enrollments", "enrollments", 100).await;
    assert_eq!(
        enr.iter().map(sid).collect::<Vec<_>>(),
        vec!["e1", "e2", "e3"]
    );
    assert_eq!(enr[0]["endDate"], "2026-07-01");

    let stats = sim.stats();
    assert_eq!(stats.schools, 2);
    assert_eq!(
        (
            stats.counts.students,
            stats.counts.teachers,
            stats.counts.parents
        ),
        (1, 1, 1)
    );
    assert_eq!(stats.counts.active_classes, 2);
    assert_eq!(
        stats.counts.current_classes, 2,
        "k2's term ended but its parent school year holds the as-of date"
    );
    assert_eq!(stats.counts.students_with_current_enrollment, 1);
    assert_eq!(stats.per_school["s2"].counts.teachers, 1);
    // Mutations work on CSV data too.
    let added = sim
        .mutate(oneroster_sim::Mutation::AddUsers { count: 1 })
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        get(&sim, &format!("/users/{}", added.affected[0]))
            .await
            .status,
        200
    );
    sim.shutdown().await;
}

#[test]
fn missing_required_csv_is_an_error() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let err = oneroster_sim::stats_for(&SimConfig::new(Preset::Tiny).csv_dir(dir.path()));
    assert!(err.is_err());
}

#[test]
fn cli_stats_reads_csv() {
    let dir = sample();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_oneroster-sim"))
        .args(["stats", "--as-of", "2026-03-01", "--csv-dir"])
        .arg(dir.path())
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    assert_eq!(v["schools"], 2);
}
