//! Syncs against the OneRoster simulator into both store backends: counts agree with the
//! simulator's ground truth, an unchanged district writes nothing, options change exactly
//! what they say, the shrink guard holds, and a killed sync leaves the snapshot whole.

mod common;

use std::time::Duration;

use classlink_operator::engine::report::SyncResult;
use classlink_operator::error_code::ErrorCode;
use common::roster::{TestStore, class_link_sync, small_district, sync_once};
use oneroster_sim::{Fault, Mutation};

const BACKENDS: [&str; 2] = ["sqlite", "postgres"];

#[tokio::test]
async fn first_and_second_sync_agree_with_the_simulators_ground_truth() {
    let sim = small_district().await;
    let truth = sim.stats();
    let people = truth.counts.students + truth.counts.teachers + truth.counts.staff;
    for backend in BACKENDS {
        let db = TestStore::new(backend).await;
        let sync = class_link_sync("district", &sim, |_| {});

        let first = sync_once(&db.store, &sync, false).await;
        assert_eq!(
            first.report.result,
            SyncResult::Succeeded,
            "{backend}: {}",
            first.report.message
        );
        let c = first.report.counts;
        assert_eq!(c.matched_students, 0, "{backend}");
        assert_eq!(
            c.unmatched_users, people,
            "{backend}: unmatched = students + teachers + staff"
        );
        assert_eq!(c.created_users, people, "{backend}");
        assert_eq!(c.imported_classes, truth.counts.active_classes, "{backend}");
        assert!(first.rows_written > 0);

        let second = sync_once(&db.store, &sync, false).await;
        let c = second.report.counts;
        assert_eq!(c.unmatched_users, 0, "{backend}");
        assert_eq!(c.matched_students, truth.counts.students, "{backend}");
        assert_eq!(c.matched_teachers, truth.counts.teachers, "{backend}");
        assert_eq!(c.matched_staff, truth.counts.staff, "{backend}");
        assert_eq!(c.imported_classes, truth.counts.active_classes, "{backend}");
        assert_eq!(
            second.rows_written, 0,
            "{backend}: an unchanged district writes no rows"
        );

        let runs = db
            .store
            .sync_runs("schools", "district")
            .await
            .expect("runs");
        let written: Vec<u64> = runs.iter().map(|r| r.rows_written).collect();
        assert_eq!(written.len(), 2, "{backend}");
        assert_eq!(
            written[1], 0,
            "{backend}: the store's own record of the second sync"
        );
        assert_eq!(runs[1].report.counts, second.report.counts);
        db.drop_database().await;
    }
}

#[tokio::test]
async fn respect_academic_sessions_imports_the_current_classes() {
    let sim = small_district().await;
    let truth = sim.stats();
    let db = TestStore::new("sqlite").await;
    let sync = class_link_sync("district", &sim, |s| {
        s.options.respect_academic_sessions = true
    });
    let outcome = sync_once(&db.store, &sync, false).await;
    assert_eq!(
        outcome.report.result,
        SyncResult::Succeeded,
        "{}",
        outcome.report.message
    );
    assert!(
        truth.counts.current_classes < truth.counts.active_classes,
        "the preset has past and future classes"
    );
    assert_eq!(
        outcome.report.counts.imported_classes,
        truth.counts.current_classes
    );
}

#[tokio::test]
async fn respect_enrolment_date_matches_the_currently_enrolled_students() {
    let sim = small_district().await;
    let truth = sim.stats();
    let db = TestStore::new("sqlite").await;
    let plain = class_link_sync("district", &sim, |_| {});
    sync_once(&db.store, &plain, false).await;
    let respecting = class_link_sync("district", &sim, |s| {
        s.options.respect_enrolment_date = true
    });
    // Students who left are removed now: more than the default guard allows on a small
    // district is not expected, but confirm so the count is what is tested.
    let outcome = sync_once(&db.store, &respecting, true).await;
    assert_eq!(
        outcome.report.result,
        SyncResult::Succeeded,
        "{}",
        outcome.report.message
    );
    assert!(truth.counts.students_with_current_enrollment < truth.counts.students);
    assert_eq!(
        outcome.report.counts.matched_students,
        truth.counts.students_with_current_enrollment
    );
}

#[tokio::test]
async fn attach_only_on_an_empty_store_creates_nobody() {
    let sim = small_district().await;
    let truth = sim.stats();
    let db = TestStore::new("sqlite").await;
    let sync = class_link_sync("district", &sim, |s| {
        s.merge.attach_to_existing_users_only = true
    });
    let outcome = sync_once(&db.store, &sync, false).await;
    let c = outcome.report.counts;
    assert_eq!(
        c.unmatched_users,
        truth.counts.students + truth.counts.teachers + truth.counts.staff
    );
    assert_eq!(c.created_users, 0);
    assert_eq!(c.matched_students + c.matched_teachers + c.matched_staff, 0);
    assert!(
        db.store
            .identities("schools")
            .await
            .expect("identities")
            .is_empty()
    );
}

#[tokio::test]
async fn removing_half_the_users_trips_the_shrink_guard_until_confirmed() {
    for backend in BACKENDS {
        let sim = small_district().await;
        let db = TestStore::new(backend).await;
        let sync = class_link_sync("district", &sim, |_| {});
        sync_once(&db.store, &sync, false).await;
        let before = db
            .store
            .snapshot("schools", "district")
            .await
            .expect("snapshot");

        sim.mutate(Mutation::RemoveHalfUsers).expect("mutation");
        let refused = sync_once(&db.store, &sync, false).await;
        assert_eq!(refused.report.result, SyncResult::Failed, "{backend}");
        assert_eq!(
            refused.report.error_code,
            Some(ErrorCode::ShrinkGuardTripped),
            "{backend}"
        );
        let after = db
            .store
            .snapshot("schools", "district")
            .await
            .expect("snapshot");
        assert!(before == after, "{backend}: a refused sync changes nothing");

        let confirmed = sync_once(&db.store, &sync, true).await;
        assert_eq!(confirmed.report.result, SyncResult::Succeeded, "{backend}");
        let shrunk = db
            .store
            .snapshot("schools", "district")
            .await
            .expect("snapshot");
        assert!(
            shrunk.people.len() < before.people.len() * 6 / 10,
            "{backend}"
        );
        db.drop_database().await;
    }
}

#[tokio::test]
async fn two_providers_of_one_namespace_syncing_at_once_never_duplicate_users() {
    // Both ClassLinkSyncs read the same district: serialised by the namespace lock, the
    // second matches the users the first created; interleaved, both would create them.
    let sim = small_district().await;
    let truth = sim.stats();
    let people = truth.counts.students + truth.counts.teachers + truth.counts.staff;
    for backend in BACKENDS {
        let db = TestStore::new(backend).await;
        let a = class_link_sync("provider-a", &sim, |_| {});
        let b = class_link_sync("provider-b", &sim, |s| s.merge.priority = 50);
        let (ra, rb) = tokio::join!(
            sync_once(&db.store, &a, false),
            sync_once(&db.store, &b, false)
        );
        assert_eq!(
            ra.report.result,
            SyncResult::Succeeded,
            "{backend}: {}",
            ra.report.message
        );
        assert_eq!(
            rb.report.result,
            SyncResult::Succeeded,
            "{backend}: {}",
            rb.report.message
        );
        let created = ra.report.counts.created_users + rb.report.counts.created_users;
        assert_eq!(
            created, people,
            "{backend}: one user per person, whichever ran first"
        );
        let identities = db.store.identities("schools").await.expect("identities");
        assert_eq!(identities.len() as u64, people, "{backend}");
        db.drop_database().await;
    }
}

// Multi-threaded: the simulator keeps serving while the test waits for the CLI process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_killed_mid_write_leaves_the_previous_snapshot_whole() {
    for backend in BACKENDS {
        let sim = small_district().await;
        let db = TestStore::new(backend).await;
        let dir = tempfile::tempdir().expect("temp dir");
        let sync = class_link_sync("district", &sim, |_| {});
        common::roster::write_resource_files(dir.path(), &sync);
        let cli = |hold: Option<&std::path::Path>| {
            let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_classlink-operator"));
            cmd.args(["sync", "-f"])
                .arg(dir.path())
                .args([
                    "-n",
                    "schools",
                    "--allow-insecure-http",
                    "--as-of",
                    "2026-11-18",
                    "-o",
                    "json",
                    "--store",
                    &db.url,
                ])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped());
            if let Some(hold) = hold {
                cmd.env(classlink_operator::store::HOLD_BEFORE_COMMIT_ENV, hold);
            }
            cmd
        };
        let out = cli(None).output().expect("first sync runs");
        assert!(
            out.status.success(),
            "{backend}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let before = db
            .store
            .snapshot("schools", "district")
            .await
            .expect("snapshot");

        sim.mutate(Mutation::AddUsers { count: 40 })
            .expect("mutation");
        sim.mutate(Mutation::ChangeUsers { count: 25 })
            .expect("mutation");
        let marker = dir.path().join("holding");
        let mut child = cli(Some(&marker)).spawn().expect("second sync starts");
        let waited = std::time::Instant::now();
        while !marker.exists() {
            assert!(
                waited.elapsed() < Duration::from_secs(120),
                "{backend}: the sync never reached its commit"
            );
            if let Some(status) = child.try_wait().expect("wait") {
                panic!("{backend}: the sync ended before its commit: {status}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        child.kill().expect("SIGKILL");
        child.wait().expect("reaped");

        let after_kill = db
            .store
            .snapshot("schools", "district")
            .await
            .expect("snapshot");
        assert!(
            before == after_kill,
            "{backend}: the killed sync changed nothing"
        );

        let out = cli(None).output().expect("third sync runs");
        assert!(
            out.status.success(),
            "{backend}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let after = db
            .store
            .snapshot("schools", "district")
            .await
            .expect("snapshot");
        assert_eq!(
            after.people.len(),
            before.people.len() + 40,
            "{backend}: a later sync completes"
        );
        db.drop_database().await;
    }
}

#[tokio::test]
async fn an_incomplete_school_is_left_as_stored_and_named() {
    let sim = small_district().await;
    let db = TestStore::new("sqlite").await;
    let sync = class_link_sync("district", &sim, |_| {});
    sync_once(&db.store, &sync, false).await;
    let before = db
        .store
        .snapshot("schools", "district")
        .await
        .expect("snapshot");

    sim.mutate(Mutation::AddUsers { count: 30 })
        .expect("mutation");
    sim.set_fault(Fault::IncompleteSchool("org-00002".into()));
    let outcome = sync_once(&db.store, &sync, false).await;
    assert_eq!(
        outcome.report.result,
        SyncResult::PartiallySucceeded,
        "{}",
        outcome.report.message
    );
    assert_eq!(
        outcome.report.error_code,
        Some(ErrorCode::IncompleteSchoolData)
    );
    assert!(
        outcome.report.message.contains("(org-00002)"),
        "{}",
        outcome.report.message
    );
    assert!(outcome.report.message.contains("SchoolExclusion"));
    assert!(
        outcome
            .report
            .problems
            .iter()
            .all(|p| p.school.as_deref() == Some("org-00002"))
    );

    let after = db
        .store
        .snapshot("schools", "district")
        .await
        .expect("snapshot");
    let of_school = |s: &classlink_operator::engine::model::ProviderSnapshot| {
        let people: Vec<_> = s
            .people
            .iter()
            .filter(|p| p.schools.iter().any(|x| x == "org-00002"))
            .cloned()
            .collect();
        let classes: Vec<_> = s
            .classes
            .iter()
            .filter(|c| c.school == "org-00002")
            .cloned()
            .collect();
        (people, classes)
    };
    assert!(
        of_school(&before) == of_school(&after),
        "the incomplete school's stored data is untouched"
    );
    assert!(
        after.people.len() > before.people.len(),
        "the other schools' new students are synced"
    );
}

#[tokio::test]
async fn dataguard_masked_emails_fail_with_their_own_code() {
    let sim = small_district().await;
    sim.set_fault(Fault::MaskEmails(0.9));
    let db = TestStore::new("sqlite").await;
    let sync = class_link_sync("district", &sim, |_| {});
    let outcome = sync_once(&db.store, &sync, false).await;
    assert_eq!(outcome.report.result, SyncResult::Failed);
    assert_eq!(outcome.report.error_code, Some(ErrorCode::DataGuardMasked));
    assert!(
        db.store
            .identities("schools")
            .await
            .expect("identities")
            .is_empty()
    );
}

#[tokio::test]
async fn compatibility_mode_gives_the_same_counts() {
    let sim = small_district().await;
    let truth = sim.stats();
    let db = TestStore::new("sqlite").await;
    let sync = class_link_sync("district", &sim, |s| s.compatibility_mode = true);
    let outcome = sync_once(&db.store, &sync, false).await;
    assert_eq!(
        outcome.report.result,
        SyncResult::Succeeded,
        "{}",
        outcome.report.message
    );
    assert_eq!(
        outcome.report.counts.imported_classes,
        truth.counts.active_classes
    );
    assert_eq!(
        outcome.report.counts.unmatched_users,
        truth.counts.students + truth.counts.teachers + truth.counts.staff
    );
}

#[tokio::test]
async fn guardians_sync_with_their_relationship_when_asked() {
    let sim = small_district().await;
    let truth = sim.stats();
    let db = TestStore::new("sqlite").await;
    let sync = class_link_sync("district", &sim, |s| {
        s.options.sync_parent_data = true;
        s.options.parent_relationship_type =
            Some(classlink_operator::crd::ParentRelationshipType::Guardian);
    });
    let outcome = sync_once(&db.store, &sync, false).await;
    let synced = outcome.report.counts.synced_guardians;
    assert!(
        synced > 0 && synced <= truth.counts.guardians,
        "{synced} of {}",
        truth.counts.guardians
    );
    let snapshot = db
        .store
        .snapshot("schools", "district")
        .await
        .expect("snapshot");
    assert_eq!(snapshot.guardians.len() as u64, synced);
    assert!(
        snapshot
            .guardians
            .iter()
            .all(|g| g.relationship == "Guardian")
    );
    assert!(snapshot.guardian_links.len() >= snapshot.guardians.len());
}

#[tokio::test]
async fn a_wrong_secret_fails_with_the_authentication_code_and_keeps_the_secret_out_of_the_report()
{
    let sim = small_district().await;
    let db = TestStore::new("sqlite").await;
    let sync = class_link_sync("district", &sim, |_| {});
    let mut data = common::roster::secret_data();
    data.insert("clientSecret".into(), b"not-the-secret-xyz".to_vec());
    let options = classlink_operator::sync::JobOptions {
        allow_insecure_http: true,
        ..Default::default()
    };
    let job = classlink_operator::sync::job::build("schools", &sync, Some(&data), &[], &options)
        .expect("job");
    let outcome = classlink_operator::sync::run(
        &job,
        &db.store,
        classlink_operator::sync::Trigger::Manual,
        Some(common::roster::AS_OF),
        |_| {},
    )
    .await;
    assert_eq!(
        outcome.report.error_code,
        Some(ErrorCode::AuthenticationFailed)
    );
    let json = serde_json::to_string(&outcome.report).expect("json");
    assert!(!json.contains("not-the-secret-xyz"), "{json}");
    let runs = db
        .store
        .sync_runs("schools", "district")
        .await
        .expect("runs");
    assert_eq!(runs.len(), 1, "a failed sync is recorded");
    assert_eq!(
        runs[0].report.error_code,
        Some(ErrorCode::AuthenticationFailed)
    );
}
