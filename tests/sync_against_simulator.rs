//! Syncs against the OneRoster simulator into both store backends: counts agree with the
//! simulator's ground truth, an unchanged district writes nothing, options change exactly
//! what they say, the shrink guard holds, and a killed sync leaves the snapshot whole.

mod common;

use std::time::Duration;

use classlink_operator::engine::report::SyncResult;
use classlink_operator::error_code::ErrorCode;
use common::roster::{TestStore, class_link_sync, seed_platform_users, small_district, sync_once};
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
        // Both syncs read the stored rows while they read the roster, and used them:
        // nothing else wrote the provider in between.
        for run in &runs {
            assert!(
                run.log
                    .iter()
                    .any(|l| l.starts_with("stored rows read while the roster was read, in ")),
                "{backend}: {:?}",
                run.log
            );
        }
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
        let digests = db
            .store
            .check_membership_digests("schools", "district")
            .await
            .expect("digests read");
        assert_eq!(
            digests.map(|d| d.differing),
            Some(0),
            "{backend}: the killed sync left the digests true to the rows"
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

/// A night whose roster changed reads back only the memberships of the classes whose
/// digests differ, and leaves the store holding what one sync of the new roster into an
/// empty store holds, with its digests true.
#[tokio::test]
async fn a_night_that_reads_back_only_the_changed_classes_stores_what_a_full_read_would() {
    for backend in BACKENDS {
        let sim = small_district().await;
        let kept = TestStore::new(backend).await;
        let sync = class_link_sync("district", &sim, |_| {});
        let first = sync_once(&kept.store, &sync, false).await;
        assert_eq!(first.report.error_code, None, "{backend}");
        let classes = kept
            .store
            .check_membership_digests("schools", "district")
            .await
            .expect("digests read")
            .expect("digests in use")
            .classes;

        sim.mutate(Mutation::EndEnrollments { count: 5 })
            .expect("mutation");
        sim.mutate(Mutation::AddUsers { count: 3 })
            .expect("mutation");
        sim.mutate(Mutation::RemoveUsers { count: 2 })
            .expect("mutation");
        let night = sync_once(&kept.store, &sync, false).await;
        assert_eq!(night.report.error_code, None, "{backend}");
        assert!(night.rows_written > 0, "{backend}");
        let check = kept
            .store
            .check_membership_digests("schools", "district")
            .await
            .expect("digests read")
            .expect("digests in use");
        assert_eq!(check.differing, 0, "{backend}");

        let run = kept
            .store
            .sync_runs("schools", "district")
            .await
            .expect("runs")
            .pop()
            .expect("the night's run");
        let read_back = run
            .log
            .iter()
            .find_map(|l| l.strip_prefix("memberships read back for "))
            .unwrap_or_else(|| panic!("{backend}: no read-back line in {:?}", run.log));
        let read_classes: usize = read_back
            .split(' ')
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{backend}: {read_back}"));
        assert!(
            read_classes > 0 && read_classes < classes / 2,
            "{backend}: {read_classes} of {classes} classes read back"
        );

        let fresh = TestStore::new(backend).await;
        let once = sync_once(&fresh.store, &sync, false).await;
        assert_eq!(once.report.error_code, None, "{backend}");
        let snapshot = |db: &TestStore| {
            let store = db.store.clone();
            async move {
                store
                    .snapshot("schools", "district")
                    .await
                    .expect("snapshot")
            }
        };
        let (kept_rows, fresh_rows) = (snapshot(&kept).await, snapshot(&fresh).await);
        assert!(
            kept_rows.memberships == fresh_rows.memberships,
            "{backend}: {} memberships kept, {} from one sync",
            kept_rows.memberships.len(),
            fresh_rows.memberships.len()
        );
        assert_eq!(kept_rows.classes, fresh_rows.classes, "{backend}");
        kept.drop_database().await;
        fresh.drop_database().await;
    }
}

/// `classlink-operator sync -f DIR` into `store`, as a user runs it; `hold` is the
/// store's test hook that stops the sync just before its commit.
fn cli_sync(
    dir: &std::path::Path,
    store: &str,
    hold: Option<&std::path::Path>,
) -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_classlink-operator"));
    cmd.args(["sync", "-f"])
        .arg(dir)
        .args([
            "-n",
            "schools",
            "--allow-insecure-http",
            "--as-of",
            "2026-11-18",
            "-o",
            "json",
            "--store",
            store,
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    if let Some(hold) = hold {
        cmd.env(classlink_operator::store::HOLD_BEFORE_COMMIT_ENV, hold);
    }
    cmd
}

// Multi-threaded: the simulator keeps serving while the test waits for the CLI process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_sync_exits_the_sqlite_file_alone_holds_the_roster() {
    let sim = small_district().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("roster.db");
    let sync = class_link_sync("district", &sim, |_| {});
    common::roster::write_resource_files(dir.path(), &sync);
    // Another process has the file open (the operator, a report): the sync's connections
    // are then not the file's last, and closing them alone would leave the roster in the
    // `-wal` file.
    let reader = classlink_operator::store::Store::open(&db.display().to_string())
        .await
        .expect("the store opens");
    let out = cli_sync(dir.path(), &db.display().to_string(), None)
        .output()
        .expect("the sync runs");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let wal = dir.path().join("roster.db-wal");
    assert!(
        std::fs::metadata(&wal).map_or(true, |m| m.len() == 0),
        "the write-ahead log is empty or gone after the sync"
    );
    // A user copies the database file, and only it, before anything opens the original.
    let copy_dir = tempfile::tempdir().expect("temp dir");
    let copy = copy_dir.path().join("copy.db");
    std::fs::copy(&db, &copy).expect("copy the .db file");
    let copied = classlink_operator::store::Store::open(&copy.display().to_string())
        .await
        .expect("the copy opens");
    let (in_copy, in_original) = (
        copied
            .snapshot("schools", "district")
            .await
            .expect("snapshot"),
        reader
            .snapshot("schools", "district")
            .await
            .expect("snapshot"),
    );
    assert!(!in_original.people.is_empty(), "the sync wrote people");
    assert!(in_copy == in_original, "the copy holds the whole roster");
    let runs = copied.sync_runs("schools", "district").await.expect("runs");
    assert_eq!(runs.len(), 1, "the copy holds the recorded run");
    assert_eq!(runs[0].report.result, SyncResult::Succeeded);
}

/// What `run` does when the controller stops: its cancelled syncs may still hold the
/// controller's connections, so a connection of its own checkpoints the file.
#[tokio::test]
async fn checkpointing_by_url_moves_the_log_into_the_file_while_other_connections_stay_open() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("roster.db").display().to_string();
    let store = classlink_operator::store::Store::open(&db)
        .await
        .expect("the store opens");
    let person = classlink_operator::store::NewIdentity {
        email: "ana@example.edu".into(),
        given_name: None,
        family_name: None,
        role: None,
    };
    store
        .import_identities("schools", &[person])
        .await
        .expect("import");
    classlink_operator::store::checkpoint_url(&db)
        .await
        .expect("the checkpoint completes");
    let copy = dir.path().join("copy.db");
    std::fs::copy(dir.path().join("roster.db"), &copy).expect("copy the .db file");
    let copied = classlink_operator::store::Store::open(&copy.display().to_string())
        .await
        .expect("the copy opens");
    assert_eq!(
        copied
            .identities("schools")
            .await
            .expect("identities")
            .len(),
        1,
        "the copy holds the import"
    );
    // No file, nothing to checkpoint: the URL's file is never created.
    let missing = dir.path().join("missing.db");
    classlink_operator::store::checkpoint_url(&missing.display().to_string())
        .await
        .expect("a missing file is nothing to checkpoint");
    assert!(!missing.exists(), "checkpointing creates no file");
    drop(store);
}

// Multi-threaded: the simulator keeps serving while the test waits for the CLI process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sigterm_cancels_the_sync_records_the_run_and_prints_the_report() {
    for backend in BACKENDS {
        let sim = small_district().await;
        let db = TestStore::new(backend).await;
        let dir = tempfile::tempdir().expect("temp dir");
        let sync = class_link_sync("district", &sim, |_| {});
        common::roster::write_resource_files(dir.path(), &sync);
        let out = cli_sync(dir.path(), &db.url, None)
            .output()
            .expect("first sync runs");
        assert!(out.status.success(), "{backend}: first sync");
        let before = db
            .store
            .snapshot("schools", "district")
            .await
            .expect("snapshot");

        sim.mutate(Mutation::AddUsers { count: 40 })
            .expect("mutation");
        let marker = dir.path().join("holding");
        let child = cli_sync(dir.path(), &db.url, Some(&marker))
            .spawn()
            .expect("second sync starts");
        let waited = std::time::Instant::now();
        while !marker.exists() {
            assert!(
                waited.elapsed() < Duration::from_secs(120),
                "{backend}: the sync never reached its commit"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let killed = std::process::Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(killed.success(), "{backend}: SIGTERM sent");
        let out = tokio::time::timeout(
            Duration::from_secs(60),
            tokio::task::spawn_blocking(move || child.wait_with_output()),
        )
        .await
        .unwrap_or_else(|_| panic!("{backend}: the sync ends within a minute of SIGTERM"))
        .expect("joined")
        .expect("reaped");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(4),
            "{backend}: exit 4 (Failed): {stderr}"
        );
        let report: serde_json::Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{backend}: a JSON report ({e}): {stderr}"));
        assert_eq!(report["result"], "Failed", "{backend}");
        assert_eq!(report["errorCode"], "SyncCancelled", "{backend}");
        assert!(
            report["message"]
                .as_str()
                .unwrap_or_default()
                .contains("SIGTERM"),
            "{backend}: {report}"
        );

        let after = db
            .store
            .snapshot("schools", "district")
            .await
            .expect("snapshot");
        assert!(
            before == after,
            "{backend}: the cancelled sync changed nothing"
        );
        let runs = db
            .store
            .sync_runs("schools", "district")
            .await
            .expect("runs");
        assert_eq!(runs.len(), 2, "{backend}: both syncs are recorded");
        assert_eq!(runs[1].report.result, SyncResult::Failed, "{backend}");
        assert_eq!(
            runs[1].report.error_code,
            Some(ErrorCode::SyncCancelled),
            "{backend}"
        );
        db.drop_database().await;
    }
}

/// Writes `documents` as one YAML file `file` in `dir`.
fn write_yaml(dir: &std::path::Path, file: &str, documents: &[serde_json::Value]) {
    let text = documents
        .iter()
        .map(|d| serde_yaml::to_string(d).expect("yaml"))
        .collect::<Vec<_>>()
        .join("---\n");
    std::fs::write(dir.join(file), text).expect("write");
}

fn school_exclusion(
    name: &str,
    namespace: Option<&str>,
    sync: &str,
    schools: serde_json::Value,
) -> serde_json::Value {
    let mut metadata = serde_json::json!({"name": name});
    if let Some(namespace) = namespace {
        metadata["namespace"] = namespace.into();
    }
    serde_json::json!({
        "apiVersion": "rostersync.io/v1alpha1",
        "kind": "SchoolExclusion",
        "metadata": metadata,
        "spec": {"classLinkSyncName": sync, "schools": schools},
    })
}

fn run_cli(dir: &std::path::Path, store: &str) -> (Option<i32>, serde_json::Value, String) {
    let out = cli_sync(dir, store, None).output().expect("the sync runs");
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    let report = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("a JSON report ({e}): {stderr}"));
    (out.status.code(), report, stderr)
}

// Multi-threaded: the simulator keeps serving while the test waits for the CLI process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_never_uses_a_secret_or_school_exclusion_of_another_namespace() {
    let sim = small_district().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let store = format!("sqlite://{}", dir.path().join("roster.db").display());
    let sync = class_link_sync("district", &sim, |_| {});
    std::fs::write(
        dir.path().join("classlinksync.yaml"),
        serde_yaml::to_string(&sync).expect("yaml"),
    )
    .expect("write");
    let secret = |namespace: &str, client_secret: &str| {
        serde_json::json!({
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "sim-credentials", "namespace": namespace},
            "stringData": {
                "clientId": oneroster_sim::config::DEFAULT_CLIENT_ID,
                "clientSecret": client_secret,
            }
        })
    };
    // Only another namespace's Secret: not found, and the message says why.
    write_yaml(
        dir.path(),
        "a-secrets.yaml",
        &[secret(
            "elsewhere",
            oneroster_sim::config::DEFAULT_CLIENT_SECRET,
        )],
    );
    let (code, report, _) = run_cli(dir.path(), &store);
    assert_eq!(code, Some(4));
    assert_eq!(report["errorCode"], "SecretNotFound", "{report}");
    let message = report["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("namespace elsewhere") && message.contains("own namespace"),
        "{message}"
    );
    assert!(
        !message.contains(oneroster_sim::config::DEFAULT_CLIENT_SECRET),
        "{message}"
    );

    // Another namespace's Secret first in the files (a wrong secret), then the sync's own;
    // another namespace's exclusion of a school of this district.
    write_yaml(
        dir.path(),
        "a-secrets.yaml",
        &[
            secret("elsewhere", "not-the-secret"),
            secret("schools", oneroster_sim::config::DEFAULT_CLIENT_SECRET),
        ],
    );
    write_yaml(
        dir.path(),
        "exclusions.yaml",
        &[school_exclusion(
            "foreign",
            Some("elsewhere"),
            "district",
            serde_json::json!([{"sourcedId": "org-00001"}]),
        )],
    );
    let (code, report, stderr) = run_cli(dir.path(), &store);
    assert_eq!(code, Some(0), "{report}{stderr}");
    assert_eq!(report["counts"]["excludedSchools"], 0, "{report}");
    let exclusions = report["exclusions"].as_array().expect("exclusions listed");
    assert_eq!(exclusions.len(), 1, "{report}");
    assert_eq!(exclusions[0]["name"], "foreign");
    assert_eq!(exclusions[0]["namespace"], "elsewhere");
    assert_eq!(exclusions[0]["reason"], "OtherNamespace");
    assert_eq!(exclusions[0]["ready"], false);
}

// Multi-threaded: the simulator keeps serving while the test waits for the CLI process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_reports_every_school_exclusion_as_its_status_would() {
    let sim = small_district().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let store = format!("sqlite://{}", dir.path().join("roster.db").display());
    let sync = class_link_sync("district", &sim, |_| {});
    common::roster::write_resource_files(dir.path(), &sync);
    write_yaml(
        dir.path(),
        "exclusions.yaml",
        &[
            school_exclusion(
                "closed",
                None,
                "district",
                serde_json::json!([{"sourcedId": "org-00001"}]),
            ),
            school_exclusion(
                "typo",
                None,
                "distrct",
                serde_json::json!([{"sourcedId": "org-00002"}]),
            ),
            school_exclusion(
                "nothing",
                None,
                "district",
                serde_json::json!([{"name": "No Such School"}]),
            ),
        ],
    );
    let (code, report, stderr) = run_cli(dir.path(), &store);
    assert_eq!(code, Some(0), "{report}{stderr}");
    assert_eq!(report["counts"]["excludedSchools"], 1, "{report}");
    let exclusions = report["exclusions"].as_array().expect("exclusions listed");
    let by_name = |name: &str| {
        exclusions
            .iter()
            .find(|x| x["name"] == name)
            .unwrap_or_else(|| panic!("{name} in the report: {report}"))
    };
    let closed = by_name("closed");
    assert_eq!(closed["reason"], "SchoolsExcluded");
    assert_eq!(closed["ready"], true);
    assert_eq!(closed["found"], "1/1");
    assert_eq!(closed["schools"][0]["sourcedId"], "org-00001");
    let typo = by_name("typo");
    assert_eq!(typo["reason"], "ClassLinkSyncNotFound");
    assert!(
        typo["message"]
            .as_str()
            .unwrap_or_default()
            .contains("\"distrct\""),
        "{typo}"
    );
    let nothing = by_name("nothing");
    assert_eq!(nothing["reason"], "SchoolsNotFound");
    assert_eq!(nothing["found"], "0/1");
    assert_eq!(nothing["schools"][0]["found"], false);

    // The table says the same.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_classlink-operator"))
        .args([
            "sync",
            "-n",
            "schools",
            "--allow-insecure-http",
            "--as-of",
            "2026-11-18",
        ])
        .args(["--store", &store, "-f"])
        .arg(dir.path())
        .output()
        .expect("the sync runs");
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.contains("SchoolExclusions:"), "{table}");
    assert!(
        table.contains("schools/closed: SchoolsExcluded (1/1 found)"),
        "{table}"
    );
    assert!(
        table.contains("schools/typo: ClassLinkSyncNotFound"),
        "{table}"
    );
    assert!(
        table.contains("schools/nothing: SchoolsNotFound (0/1 found)"),
        "{table}"
    );
    assert!(
        table.contains("not found: name \"No Such School\""),
        "{table}"
    );
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
            .filter(|p| p.schools.iter().any(|x| &**x == "org-00002"))
            .cloned()
            .collect();
        let classes: Vec<_> = s
            .classes
            .iter()
            .filter(|c| &*c.school == "org-00002")
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

/// Sum of the occurrences of the problems a person without a usable email is listed under.
fn unusable_email_problems(report: &classlink_operator::engine::report::SyncReport) -> u64 {
    report
        .problems
        .iter()
        .filter(|p| ["NoEmail", "MaskedEmail", "InvalidEmail"].contains(&p.code.as_str()))
        .map(|p| p.occurrences.unwrap_or(1))
        .sum()
}

#[tokio::test]
async fn a_partial_dataguard_mask_on_a_seeded_store_creates_claims_and_overwrites_nothing() {
    for backend in BACKENDS {
        let sim = small_district().await;
        let db = TestStore::new(backend).await;
        let seeded = seed_platform_users(&db.store, &sim).await;
        let platform = db.store.identities("schools").await.expect("identities");
        assert_eq!(platform.len(), seeded);

        // 30% hidden (15% masked): DataGuard, nothing changes.
        sim.set_fault(Fault::MaskEmails(0.3));
        let sync = class_link_sync("district", &sim, |s| {
            s.options.sync_parent_data = true;
            s.options.parent_relationship_type =
                Some(classlink_operator::crd::ParentRelationshipType::Guardian);
        });
        let refused = sync_once(&db.store, &sync, false).await;
        assert_eq!(refused.report.result, SyncResult::Failed, "{backend}");
        assert_eq!(
            refused.report.error_code,
            Some(ErrorCode::DataGuardMasked),
            "{backend}: {}",
            refused.report.message
        );
        let snapshot = db
            .store
            .snapshot("schools", "district")
            .await
            .expect("snapshot");
        assert!(snapshot.people.is_empty(), "{backend}: nothing stored");
        assert!(
            db.store.identities("schools").await.expect("identities") == platform,
            "{backend}: no user created or changed"
        );

        // 6% hidden (3% masked), below the DataGuard share: the hidden ones are unmatched,
        // nobody is created, every other person is matched to their platform user.
        sim.set_fault(Fault::MaskEmails(0.06));
        let partial = sync_once(&db.store, &sync, false).await;
        assert_eq!(
            partial.report.result,
            SyncResult::Succeeded,
            "{backend}: {}",
            partial.report.message
        );
        let c = partial.report.counts;
        assert_eq!(c.created_users, 0, "{backend}: a masked key creates nobody");
        assert!(c.unmatched_users > 0, "{backend}");
        assert_eq!(
            c.unmatched_users,
            unusable_email_problems(&partial.report),
            "{backend}: every unmatched person is listed with a code: {:?}",
            partial
                .report
                .problems
                .iter()
                .map(|p| (&p.code, &p.school, p.occurrences))
                .collect::<Vec<_>>()
        );
        assert_eq!(
            c.matched_students + c.matched_teachers + c.matched_staff + c.unmatched_users,
            seeded as u64,
            "{backend}"
        );
        let emails = |users: &[classlink_operator::engine::model::Identity]| {
            users
                .iter()
                .map(|i| (i.id.clone(), i.email.clone()))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            emails(&db.store.identities("schools").await.expect("identities")),
            emails(&platform),
            "{backend}: no user created, no user's email changed"
        );
        let stored = db
            .store
            .snapshot("schools", "district")
            .await
            .expect("snapshot");
        assert!(
            stored.people.iter().all(|p| p
                .email()
                .is_none_or(|e| !e.contains('*') && !e.trim().is_empty())),
            "{backend}: no mask is stored"
        );

        // A clean sync fills the store; a masked one afterwards overwrites no email.
        sim.clear_faults();
        let clean = sync_once(&db.store, &sync, false).await;
        assert_eq!(clean.report.result, SyncResult::Succeeded, "{backend}");
        let before = db
            .store
            .snapshot("schools", "district")
            .await
            .expect("snapshot");
        assert!(
            !before.guardians.is_empty(),
            "{backend}: guardians are synced"
        );
        sim.set_fault(Fault::MaskEmails(0.06));
        let masked = sync_once(&db.store, &sync, false).await;
        assert_eq!(masked.report.result, SyncResult::Succeeded, "{backend}");
        assert!(unusable_email_problems(&masked.report) > 0, "{backend}");
        let after = db
            .store
            .snapshot("schools", "district")
            .await
            .expect("snapshot");
        assert!(
            before == after,
            "{backend}: stored emails of people and guardians are kept"
        );
        assert_eq!(masked.rows_written, 0, "{backend}");
        db.drop_database().await;
    }
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

/// One sync of `sync` with this Secret data and quick retries (the server fails on purpose).
async fn sync_with_secret(
    store: &classlink_operator::store::Store,
    sync: &classlink_operator::crd::ClassLinkSync,
    data: &std::collections::BTreeMap<String, Vec<u8>>,
) -> classlink_operator::sync::SyncOutcome {
    let options = classlink_operator::sync::JobOptions {
        allow_insecure_http: true,
        ..Default::default()
    };
    let mut job = classlink_operator::sync::job::build("schools", sync, Some(data), &[], &options)
        .expect("job");
    job.client.retry.base = Duration::from_millis(5);
    job.client.retry.cap = Duration::from_millis(20);
    classlink_operator::sync::run(
        &job,
        store,
        classlink_operator::sync::Trigger::Manual,
        Some(common::roster::AS_OF),
        |_| {},
    )
    .await
}

#[tokio::test]
async fn credentials_a_server_echoes_never_reach_the_report_or_the_store() {
    use base64::Engine as _;
    use classlink_operator::crd::AuthMethod;
    const BEARER: &str = "static-bearer-token-4711";
    const WRONG: &str = "not-the-secret-xyz";
    for backend in BACKENDS {
        let sim = oneroster_sim::start(
            oneroster_sim::SimConfig::new(oneroster_sim::Preset::Tiny)
                .seed(7)
                .as_of(common::roster::AS_OF)
                .bearer_token(BEARER)
                .fault(Fault::EchoCredentials(true)),
        )
        .await
        .expect("the simulator starts");
        let db = TestStore::new(backend).await;
        let good = common::roster::secret_data();
        let mut wrong = good.clone();
        wrong.insert("clientSecret".into(), WRONG.as_bytes().to_vec());
        let mut bearer = good.clone();
        bearer.insert("token".into(), BEARER.as_bytes().to_vec());
        let oauth2 = |s: &mut classlink_operator::crd::ClassLinkSyncSpec| {
            s.credentials.method = AuthMethod::OAuth2ClientCredentials;
            s.credentials.token_url = Some(sim.token_url());
        };
        let wrong_basic = base64::engine::general_purpose::STANDARD.encode(format!(
            "{}:{WRONG}",
            oneroster_sim::config::DEFAULT_CLIENT_ID
        ));

        // The token endpoint echoes the Basic value of a wrong secret.
        let sync = class_link_sync("oauth2", &sim, oauth2);
        let refused = sync_with_secret(&db.store, &sync, &wrong).await;
        assert_eq!(
            refused.report.error_code,
            Some(ErrorCode::TokenRequestFailed),
            "{backend}: {}",
            refused.report.message
        );
        let mut leaks: Vec<String> = vec![WRONG.into(), wrong_basic];

        // The Roster Server echoes the OAuth 2.0 token, the OAuth 1.0a signature, the
        // static bearer token, each on a 500.
        sim.set_fault(Fault::ServerError(1.0));
        let failing = [
            ("oauth2", sync_with_secret(&db.store, &sync, &good).await),
            (
                "oauth1",
                sync_with_secret(&db.store, &class_link_sync("oauth1", &sim, |_| {}), &good).await,
            ),
            (
                "bearer",
                sync_with_secret(
                    &db.store,
                    &class_link_sync("bearer", &sim, |s| {
                        s.credentials.method = AuthMethod::Bearer
                    }),
                    &bearer,
                )
                .await,
            ),
        ];
        leaks.extend(sim.issued_tokens());
        leaks.push(BEARER.into());
        leaks.push(oneroster_sim::config::DEFAULT_CLIENT_SECRET.into());
        assert!(leaks.len() > 4, "{backend}: a token was issued");
        for (name, outcome) in std::iter::once(("oauth2-wrong", refused)).chain(failing) {
            let message = &outcome.report.message;
            assert!(
                message.contains("credential seen: [redacted]"),
                "{backend}/{name}: the echo is in the message, redacted: {message}"
            );
            assert!(
                !message.contains("oauth_signature=\"")
                    || message.contains("oauth_signature=\"[redacted]"),
                "{backend}/{name}: {message}"
            );
            let runs = db
                .store
                .sync_runs("schools", name.trim_end_matches("-wrong"))
                .await
                .expect("runs");
            let stored = serde_json::to_string(
                &runs.iter().map(|r| (&r.report, &r.log)).collect::<Vec<_>>(),
            )
            .expect("json");
            let shown = serde_json::to_string(&outcome.report).expect("json");
            for leak in &leaks {
                assert!(
                    !shown.contains(leak.as_str()),
                    "{backend}/{name}: report leaks {leak}"
                );
                assert!(
                    !stored.contains(leak.as_str()),
                    "{backend}/{name}: sync_runs leak {leak}"
                );
            }
        }
        db.drop_database().await;
    }
}

#[tokio::test]
async fn a_junk_enabled_user_is_named_and_treated_as_disabled() {
    for backend in BACKENDS {
        let sim = small_district().await;
        let truth = sim.stats();
        sim.set_fault(Fault::JunkEnabled(0.05));
        let junk: std::collections::HashSet<String> =
            sim.junk_enabled_users().into_iter().collect();
        assert!(junk.len() > 20, "{backend}: the fault hits users");
        let db = TestStore::new(backend).await;
        let sync = class_link_sync("district", &sim, |_| {});
        let outcome = sync_once(&db.store, &sync, false).await;
        assert_eq!(
            outcome.report.result,
            SyncResult::Succeeded,
            "{backend}: {}",
            outcome.report.message
        );
        let named: u64 = outcome
            .report
            .problems
            .iter()
            .filter(|p| p.code == "InvalidEnabledUser")
            .map(|p| p.occurrences.unwrap_or(1))
            .sum();
        assert!(named > 0, "{backend}: the records are named");
        let stored = db
            .store
            .snapshot("schools", "district")
            .await
            .expect("snapshot");
        assert!(
            stored.people.iter().all(|p| !junk.contains(p.sourced_id())),
            "{backend}: nobody with a junk enabledUser is synced"
        );
        let people = truth.counts.students + truth.counts.teachers + truth.counts.staff;
        assert!(
            stored.people.len() as u64 >= people - named,
            "{backend}: everyone else is"
        );
        db.drop_database().await;
    }
}

#[tokio::test]
async fn a_server_beyond_the_memory_budget_fails_the_sync_and_keeps_the_snapshot() {
    for backend in BACKENDS {
        let sim = small_district().await;
        let db = TestStore::new(backend).await;
        // Pages of 10, so every collection takes several requests and the parallel path
        // runs.
        let sync = class_link_sync("district", &sim, |spec| spec.page_size = 10);
        let first = sync_once(&db.store, &sync, false).await;
        assert_eq!(first.report.result, SyncResult::Succeeded, "{backend}");
        let before = db
            .store
            .snapshot("schools", "district")
            .await
            .expect("snapshot");
        sim.mutate(Mutation::AddUsers { count: 30 })
            .expect("mutation");

        // One 1 GiB page of users: refused from its length, long before the pod's limit.
        sim.set_fault(Fault::HugePage {
            mib: 1024,
            chunked: false,
        });
        let huge = sync_once(&db.store, &sync, false).await;
        assert_eq!(huge.report.result, SyncResult::Failed, "{backend}");
        assert_eq!(
            huge.report.error_code,
            Some(ErrorCode::MemoryBudgetExceeded),
            "{backend}: {}",
            huge.report.message
        );
        assert!(!ErrorCode::MemoryBudgetExceeded.retried());
        sim.clear_faults();

        // A server that ignores `offset`: the first repeated page fails the sync.
        sim.set_fault(Fault::IgnoreOffset {
            on: true,
            announced: None,
        });
        let repeated = sync_once(&db.store, &sync, false).await;
        assert_eq!(repeated.report.result, SyncResult::Failed, "{backend}");
        assert_eq!(
            repeated.report.error_code,
            Some(ErrorCode::PagesRepeated),
            "{backend}: {}",
            repeated.report.message
        );
        sim.clear_faults();

        let after = db
            .store
            .snapshot("schools", "district")
            .await
            .expect("snapshot");
        assert!(
            before == after,
            "{backend}: failed syncs keep the previous snapshot"
        );
        // Without the faults the new users arrive.
        let clean = sync_once(&db.store, &sync, false).await;
        assert_eq!(clean.report.result, SyncResult::Succeeded, "{backend}");
        let synced = db
            .store
            .snapshot("schools", "district")
            .await
            .expect("snapshot");
        assert!(synced.people.len() > before.people.len(), "{backend}");
        db.drop_database().await;
    }
}

/// Writes a small OneRoster CSV data set into `dir`: one school, one class, a student and a
/// teacher, with a NUL character inside the student's names, email and the class's title.
fn district_with_nul_characters(dir: &std::path::Path) {
    let files = [
        (
            "orgs.csv",
            "sourcedId,status,dateLastModified,name,type,identifier,parentSourcedId\n\
             d1,,,Sample District,district,D1,\n\
             s1,,,North High,school,N1,d1\n",
        ),
        (
            "academicSessions.csv",
            "sourcedId,status,dateLastModified,title,type,startDate,endDate,parentSourcedId,schoolYear\n\
             y1,,,2026-2027,schoolYear,2026-08-01,2027-06-30,,2027\n\
             t1,,,Fall,term,2026-08-01,2027-01-20,y1,2027\n",
        ),
        (
            "courses.csv",
            "sourcedId,status,dateLastModified,schoolYearSourcedId,title,courseCode,grades,orgSourcedId,subjects,subjectCodes\n\
             c1,,,y1,Algebra I,ALG1,09,s1,Mathematics,\n",
        ),
        (
            "classes.csv",
            "sourcedId,status,dateLastModified,title,grades,courseSourcedId,classCode,classType,location,schoolSourcedId,termSourcedIds,subjects,subjectCodes,periods\n\
             k1,,,Algebra\0 I,09,c1,ALG1-1,scheduled,Room 1,s1,t1,Mathematics,,1\n",
        ),
        (
            "users.csv",
            "sourcedId,status,dateLastModified,enabledUser,orgSourcedIds,role,username,userIds,givenName,familyName,middleName,identifier,email,sms,phone,agentSourcedIds,grades,password\n\
             u1,,,true,s1,student,ana,,A\0na,O\0Neil,,1001,ana\0@example.org,,,,09,\n\
             u2,,,true,s1,teacher,tom,,Tom,Teach,,2001,tom@example.org,,,,,\n",
        ),
        (
            "enrollments.csv",
            "sourcedId,classSourcedId,schoolSourcedId,userSourcedId,role,primary,beginDate,endDate,status,dateLastModified\n\
             e1,k1,s1,u1,student,false,,,,\n\
             e2,k1,s1,u2,teacher,true,,,,\n",
        ),
    ];
    for (name, text) in files {
        std::fs::write(dir.join(name), text).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

/// A NUL character (`\u0000` in the JSON) in a text the Roster Server sends is dropped as
/// the page is decoded: PostgreSQL's text cannot hold one, and both stores keep the same
/// rows. The sync succeeds on both, and the next one finds nothing changed.
#[tokio::test]
async fn nul_characters_from_the_server_are_dropped_on_both_stores() {
    let dir = tempfile::tempdir().expect("temp dir");
    district_with_nul_characters(dir.path());
    let sim = oneroster_sim::start(
        oneroster_sim::SimConfig::new(oneroster_sim::Preset::Tiny)
            .csv_dir(dir.path())
            .as_of(common::roster::AS_OF),
    )
    .await
    .expect("the simulator serves the CSV district");
    for backend in BACKENDS {
        let db = TestStore::new(backend).await;
        let sync = class_link_sync("district", &sim, |_| {});
        let first = sync_once(&db.store, &sync, false).await;
        assert_eq!(
            first.report.result,
            SyncResult::Succeeded,
            "{backend}: {} {:?}",
            first.report.message,
            first.report.error_code
        );
        // Found by her email as the server meant it, with her class.
        let found = db
            .store
            .person_by_email("schools", "ana@example.org")
            .await
            .expect("look-up");
        let [record] = &found.records[..] else {
            panic!(
                "{backend}: one record of the student, not {:?}",
                found.records
            );
        };
        assert_eq!(record.person.sourced_id, "u1", "{backend}");
        assert_eq!(
            record.person.given_name.as_deref(),
            Some("Ana"),
            "{backend}"
        );
        assert_eq!(
            record.person.family_name.as_deref(),
            Some("ONeil"),
            "{backend}"
        );
        let titles: Vec<Option<&str>> = record.classes.iter().map(|c| c.title.as_deref()).collect();
        assert_eq!(titles, [Some("Algebra I")], "{backend}");

        let second = sync_once(&db.store, &sync, false).await;
        assert_eq!(second.report.result, SyncResult::Succeeded, "{backend}");
        assert_eq!(second.rows_written, 0, "{backend}: nothing changed");
        db.drop_database().await;
    }
}
