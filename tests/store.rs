//! The roster store on both backends: what a sync writes is what the next sync loads.

mod common;

use classlink_operator::engine::model::{
    ChangeSet, ClassRow, GuardianLinkRow, GuardianRow, MembershipRow, PersonRole, PersonRow,
    ProviderSnapshot, SchoolRow, TableChanges,
};
use classlink_operator::engine::report::{Counts, SyncReport, SyncResult};
use classlink_operator::store::SyncRunRecord;
use common::roster::TestStore;

const BACKENDS: [&str; 2] = ["sqlite", "postgres"];

/// Text that a bulk read must carry unchanged: quotes, backslashes, control characters,
/// JSON look-alikes, non-ASCII, the empty string. (PostgreSQL's text holds no NUL, so
/// SQLite alone gets one.)
fn awkward_texts(backend: &str) -> Vec<String> {
    let mut texts: Vec<String> = [
        "quote \" and backslash \\ and slash /",
        "tab\tnewline\ncarriage return\r",
        "control \u{1} \u{1f} \u{7f}",
        "Zoë Ñúñez-Ødegård 漢字 🎒",
        "line\u{2028}separator\u{2029}",
        "",
        "null",
        "[\"not\",\"a\",\"list\"]",
        "{\"a\":1}",
        "'single' -- and ; DROP",
        "  spaces around  ",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    if backend == "sqlite" {
        texts.push("nul \u{0} inside".to_owned());
    }
    texts
}

fn changes(backend: &str) -> ChangeSet {
    let texts = awkward_texts(backend);
    let text = |i: usize| texts[i % texts.len()].clone();
    // Some values NULL, some awkward.
    let maybe = |i: usize| (!i.is_multiple_of(3)).then(|| text(i));
    let people: Vec<PersonRow> = (0..texts.len() * 3)
        .map(|i| PersonRow {
            sourced_id: format!("p-{i:03}-{}", text(i)),
            identity_id: maybe(i + 1),
            role: [PersonRole::Student, PersonRole::Teacher, PersonRole::Staff][i % 3],
            email: maybe(i + 2),
            username: maybe(i + 3),
            given_name: maybe(i + 4),
            family_name: maybe(i + 5),
            identifier: maybe(i + 6),
            grades: text(i + 7),
            schools: vec![format!("s{}", i % 4), format!("s{}", i % 4 + 1)],
        })
        .collect();
    // Exactly two bulk reads' worth on SQLite, and a third, empty one.
    let memberships: Vec<MembershipRow> = (0..20_000)
        .map(|i| MembershipRow {
            class: format!("class-{:03}", i % 200).into(),
            person: format!("person-{:05}", i).into(),
            role: ["student", "teacher", "aide"][i % 3].into(),
            school: format!("s{}", i % 7).into(),
        })
        .collect();
    // One more than a bulk read, the key of its last row awkward text.
    let guardian_links: Vec<GuardianLinkRow> = (0..10_001)
        .map(|i| GuardianLinkRow {
            guardian: format!("g{:05}{}", i / 2, text(i / 2)),
            student: format!("st{i:05}"),
            relationship: text(i),
            schools: vec![format!("s{}", i % 5)],
        })
        .collect();
    ChangeSet {
        new_identities: Vec::new(),
        identity_updates: Vec::new(),
        schools: inserted(
            texts
                .iter()
                .enumerate()
                .map(|(i, t)| SchoolRow {
                    sourced_id: format!("s{i}"),
                    name: t.clone(),
                    identifier: maybe(i),
                })
                .collect(),
        ),
        people: inserted(people),
        classes: inserted(
            (0..texts.len())
                .map(|i| ClassRow {
                    sourced_id: format!("class-{i:03}"),
                    school: format!("s{i}"),
                    title: maybe(i),
                    class_code: maybe(i + 1),
                    class_type: maybe(i + 2),
                    course: maybe(i + 3),
                    terms: text(i + 4),
                })
                .collect(),
        ),
        memberships: inserted(memberships),
        guardians: inserted(
            (0..texts.len())
                .map(|i| GuardianRow {
                    sourced_id: format!("g{i:05}"),
                    relationship: text(i),
                    given_name: maybe(i + 1),
                    family_name: maybe(i + 2),
                    email: maybe(i + 3),
                    phone: maybe(i + 4),
                    sms: maybe(i + 5),
                    schools: vec![format!("s{i}")],
                })
                .collect(),
        ),
        guardian_links: inserted(guardian_links),
    }
}

fn inserted<T: classlink_operator::engine::model::Row>(rows: Vec<T>) -> TableChanges<T> {
    TableChanges {
        insert: rows,
        ..TableChanges::default()
    }
}

fn run_record() -> SyncRunRecord {
    SyncRunRecord {
        run_id: "run-1".into(),
        namespace: "schools".into(),
        provider: "district".into(),
        trigger: "Manual".into(),
        started_at: 0,
        completed_at: 0,
        report: SyncReport {
            result: SyncResult::Succeeded,
            error_code: None,
            message: String::new(),
            counts: Counts::default(),
            problems: Vec::new(),
            schools: Vec::new(),
        },
        rows_written: 0,
        log: Vec::new(),
    }
}

/// The snapshot as the written rows, each table sorted by its key in byte order (the
/// database sorts by its own collation).
fn sorted(snapshot: &ProviderSnapshot) -> ProviderSnapshot {
    let mut s = snapshot.clone();
    s.schools.sort_by(|a, b| a.sourced_id.cmp(&b.sourced_id));
    s.people.sort_by(|a, b| a.sourced_id.cmp(&b.sourced_id));
    s.classes.sort_by(|a, b| a.sourced_id.cmp(&b.sourced_id));
    s.memberships
        .sort_by(|a, b| (&a.class, &a.person).cmp(&(&b.class, &b.person)));
    s.guardians.sort_by(|a, b| a.sourced_id.cmp(&b.sourced_id));
    s.guardian_links
        .sort_by(|a, b| (&a.guardian, &a.student).cmp(&(&b.guardian, &b.student)));
    s
}

#[tokio::test]
async fn stored_rows_load_back_exactly_as_written() {
    for backend in BACKENDS {
        let db = TestStore::new(backend).await;
        let changes = changes(backend);
        let txn = db
            .store
            .begin_sync("schools", "district")
            .await
            .expect("begin");
        let written = txn
            .commit(Some(&changes), &mut run_record())
            .await
            .expect("commit");
        assert_eq!(written as usize, changes.rows(), "{backend}");

        let expected = sorted(&ProviderSnapshot {
            schools: changes.schools.insert.clone(),
            people: changes.people.insert.clone(),
            classes: changes.classes.insert.clone(),
            memberships: changes.memberships.insert.clone(),
            guardians: changes.guardians.insert.clone(),
            guardian_links: changes.guardian_links.insert.clone(),
        });
        let loaded = db
            .store
            .snapshot("schools", "district")
            .await
            .expect("snapshot");
        assert!(
            sorted(&loaded) == expected,
            "{backend}: Store::snapshot differs ({} people, {} memberships, {} guardian links loaded)",
            loaded.people.len(),
            loaded.memberships.len(),
            loaded.guardian_links.len()
        );
        // What the next sync decides from.
        let txn = db
            .store
            .begin_sync("schools", "district")
            .await
            .expect("begin");
        assert!(
            sorted(txn.snapshot()) == expected,
            "{backend}: the next sync's snapshot"
        );
        drop(txn);
        db.drop_database().await;
    }
}
