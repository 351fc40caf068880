//! The roster store on both backends: what a sync writes is what the next sync loads.

mod common;

use classlink_operator::engine::memberships::{DigestChanges, MembershipChanges};
use classlink_operator::engine::model::{
    ChangeSet, ClassRow, GuardianLinkRow, GuardianRow, Identity, MembershipRow, PersonRole,
    PersonRow, ProviderSnapshot, SchoolRow, TableChanges,
};
use classlink_operator::engine::people::StoredClass;
use classlink_operator::engine::report::{Counts, SyncReport, SyncResult};
use classlink_operator::intern::Text;
use classlink_operator::store::{DigestCheck, SyncRunRecord};
use common::roster::TestStore;

const BACKENDS: [&str; 2] = ["sqlite", "postgres"];

/// Text that a write and a bulk read must carry unchanged: quotes, backslashes, control
/// characters, JSON, PostgreSQL array and `COPY` look-alikes, non-ASCII, the empty string.
/// (PostgreSQL's text holds no NUL, so SQLite alone gets one.)
fn awkward_texts(backend: &str) -> Vec<String> {
    let mut texts: Vec<String> = [
        "quote \" and backslash \\ and slash /",
        "tab\tnewline\ncarriage return\r",
        "control \u{1} \u{1f} \u{7f}",
        "Zoë Ñúñez-Ødegård 漢字 🎒",
        "line\u{2028}separator\u{2029}",
        "",
        "null",
        "NULL",
        "[\"not\",\"a\",\"list\"]",
        "{not,an,\"array\"}",
        "comma, and } brace",
        "{\"a\":1}",
        "'single' -- and ; DROP",
        "  spaces around  ",
        "\\N",
        "\\.",
        "escaped \\t is not a tab, \\\\ not one backslash",
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
        memberships: MembershipChanges {
            insert: memberships.into_iter().collect(),
            ..MembershipChanges::default()
        },
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
    run_record_named("run-1")
}

fn run_record_named(run_id: &str) -> SyncRunRecord {
    SyncRunRecord {
        run_id: run_id.into(),
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
    s.classes.sort_by(|a, b| a.sourced_id.cmp(&b.sourced_id));
    // People and memberships are always held sorted by key, in byte order; people as a
    // sync compares them (with a fingerprint of each whole row).
    s.guardians.sort_by(|a, b| a.sourced_id.cmp(&b.sourced_id));
    s.guardian_links
        .sort_by(|a, b| (&a.guardian, &a.student).cmp(&(&b.guardian, &b.student)));
    s
}

/// What a store holds after writing exactly the rows `changes` inserts, as it loads them
/// (a change set made by hand keeps no digests: every membership is read).
fn stored_after(changes: &ChangeSet) -> ProviderSnapshot {
    sorted(&ProviderSnapshot {
        schools: changes.schools.insert.clone(),
        people: changes.people.insert.iter().collect(),
        classes: changes
            .classes
            .insert
            .iter()
            .map(StoredClass::from)
            .collect(),
        memberships: changes.memberships.insert.clone(),
        membership_digests: None,
        guardians: changes.guardians.insert.clone(),
        guardian_links: changes.guardian_links.insert.clone(),
    })
}

/// Fails unless the store's snapshot of the test provider is `expected`.
async fn assert_stored(db: &TestStore, expected: &ProviderSnapshot, what: &str) {
    let loaded = db
        .store
        .snapshot("schools", "district")
        .await
        .expect("snapshot");
    assert!(
        sorted(&loaded) == *expected,
        "{what} ({} people, {} memberships, {} guardian links loaded)",
        loaded.people.len(),
        loaded.memberships.len(),
        loaded.guardian_links.len()
    );
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

        let expected = stored_after(&changes);
        assert_stored(
            &db,
            &expected,
            &format!("{backend}: Store::snapshot differs"),
        )
        .await;
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

/// The stored rows a sync reads while it reads the roster are used only when nothing wrote
/// the provider's rows since: another sync's commit or a deletion makes the transaction
/// load them again, and a read-ahead of another provider is never taken.
#[tokio::test]
async fn rows_read_ahead_are_used_only_while_nothing_wrote_them() {
    for backend in BACKENDS {
        let db = TestStore::new(backend).await;
        let store = &db.store;
        let changes = changes(backend);
        let begin_after = |ahead| store.begin_sync_after("schools", "district", Some(ahead));
        let read_ahead = |provider: &'static str| async move {
            store
                .read_ahead("schools", provider)
                .await
                .expect("read ahead")
        };

        // Nothing stored yet, nothing written since: the (empty) read-ahead is used.
        let ahead = read_ahead("district").await;
        assert!(ahead.snapshot().people.is_empty(), "{backend}");
        let txn = begin_after(ahead).await.expect("begin");
        assert!(
            txn.read_ahead_used(),
            "{backend}: nothing changed, read-ahead used"
        );
        txn.commit(None, &mut run_record_named("empty"))
            .await
            .expect("commit");

        // Read ahead while empty; another sync writes the rows before this one's
        // transaction: the rows are loaded again, and are the ones written.
        let stale = read_ahead("district").await;
        let other = store
            .begin_sync("schools", "district")
            .await
            .expect("begin");
        other
            .commit(Some(&changes), &mut run_record_named("writer"))
            .await
            .expect("commit");
        let txn = begin_after(stale).await.expect("begin");
        assert!(
            !txn.read_ahead_used(),
            "{backend}: another sync wrote, loaded again"
        );
        assert_eq!(
            txn.snapshot().people.len(),
            changes.people.insert.len(),
            "{backend}"
        );
        let loaded = txn.snapshot().clone();
        // A sync that writes nothing leaves the generation as it is.
        txn.commit(None, &mut run_record_named("idle"))
            .await
            .expect("commit");

        // Read ahead now: the same rows as under the lock, and used.
        let ahead = read_ahead("district").await;
        assert!(ahead.snapshot() == &loaded, "{backend}: read-ahead differs");
        let txn = begin_after(ahead).await.expect("begin");
        assert!(
            txn.read_ahead_used(),
            "{backend}: unchanged, read-ahead used"
        );
        drop(txn);

        // A read-ahead of another provider is not this provider's rows.
        let elsewhere = read_ahead("other").await;
        let txn = begin_after(elsewhere).await.expect("begin");
        assert!(
            !txn.read_ahead_used(),
            "{backend}: another provider's read-ahead"
        );
        drop(txn);

        // A deletion between the read-ahead and the transaction: the rows are gone.
        let stale = read_ahead("district").await;
        store
            .delete_provider("schools", "district")
            .await
            .expect("delete");
        let txn = begin_after(stale).await.expect("begin");
        assert!(!txn.read_ahead_used(), "{backend}: deleted, loaded again");
        assert!(txn.snapshot().people.is_empty(), "{backend}");
        assert!(txn.snapshot().memberships.is_empty(), "{backend}");
        drop(txn);
        db.drop_database().await;
    }
}

/// The class digests a sync writes with its memberships stand for them in the next sync's
/// snapshot, which then reads back the rows of the classes it asks for; a write that does
/// not keep the digests (as an operator from before them writes) stops their use until a
/// sync writes them all again; a digest that no longer matches its rows is found.
#[tokio::test]
async fn class_digests_stand_for_the_memberships_only_while_they_are_true() {
    for backend in BACKENDS {
        let db = TestStore::new(backend).await;
        let store = &db.store;
        let check = || async {
            store
                .check_membership_digests("schools", "district")
                .await
                .expect("check")
        };
        let mut changes = changes(backend);
        let memberships = changes.memberships.insert.clone();
        let classes = memberships.digests().len();
        changes.memberships.digests = Some(DigestChanges {
            replace_all: true,
            put: memberships.digests().0,
            remove: Vec::new(),
        });
        let txn = store
            .begin_sync("schools", "district")
            .await
            .expect("begin");
        txn.commit(Some(&changes), &mut run_record_named("first"))
            .await
            .expect("commit");
        assert_eq!(
            check().await,
            Some(DigestCheck {
                classes,
                differing: 0
            }),
            "{backend}"
        );

        // The next sync gets the digests, not the rows, and reads back those it asks for.
        let mut txn = store
            .begin_sync("schools", "district")
            .await
            .expect("begin");
        assert!(txn.snapshot().memberships.is_empty(), "{backend}");
        assert_eq!(
            txn.snapshot().membership_digests.as_ref(),
            Some(&memberships.digests()),
            "{backend}"
        );
        // Few classes are read by name; many (every second one) in one scan of them all.
        let classes: Vec<Text> = memberships
            .digests()
            .0
            .into_iter()
            .map(|(c, _)| c)
            .collect();
        let few: Vec<Text> = classes[..3].to_vec();
        let many: Vec<Text> = classes.iter().step_by(2).cloned().collect();
        assert!(few.len() * 8 < classes.len() && many.len() * 8 > classes.len());
        for mut asked in [few, many] {
            asked.push(Text::from("class-not-stored"));
            let mut expected = memberships.clone();
            expected.retain_classes(&asked);
            assert!(!expected.is_empty());
            let read = txn.memberships_of(&asked).await.expect("read by class");
            assert!(
                read == expected,
                "{backend}: the rows of the {} classes asked",
                asked.len()
            );
        }
        // An unchanged sync keeps them in use.
        let mut unchanged = ChangeSet::default();
        unchanged.memberships.digests = Some(DigestChanges::default());
        txn.commit(Some(&unchanged), &mut run_record_named("unchanged"))
            .await
            .expect("commit");
        assert_eq!(check().await.map(|c| c.differing), Some(0), "{backend}");

        // A write that keeps no digests: the next snapshot holds every row again.
        let mut removal = ChangeSet::default();
        let first = memberships.iter().next().expect("a membership");
        removal.memberships.delete = vec![(first.class.clone(), first.person.clone())];
        let txn = store
            .begin_sync("schools", "district")
            .await
            .expect("begin");
        let written = txn
            .commit(Some(&removal), &mut run_record_named("older"))
            .await
            .expect("commit");
        assert_eq!(written, 1, "{backend}");
        assert_eq!(check().await, None, "{backend}: digests out of use");
        let txn = store
            .begin_sync("schools", "district")
            .await
            .expect("begin");
        assert_eq!(txn.snapshot().membership_digests, None, "{backend}");
        assert_eq!(
            txn.snapshot().memberships.len(),
            memberships.len() - 1,
            "{backend}"
        );
        drop(txn);

        // Written all again, they are in use; a digest changed behind the store's back is
        // found, and so is a class's rows removed behind it.
        let mut now = memberships.clone();
        now.retain_classes(
            &memberships
                .digests()
                .0
                .iter()
                .map(|(c, _)| c.clone())
                .filter(|c| *c != first.class)
                .collect::<Vec<_>>(),
        );
        let mut rewrite = ChangeSet::default();
        let mut digests = now.digests().0;
        let mut class_rows: Vec<_> = memberships
            .iter()
            .filter(|m| m.class == first.class)
            .collect();
        class_rows.retain(|m| m.person != first.person);
        let first_class: classlink_operator::engine::memberships::Memberships =
            class_rows.into_iter().collect();
        digests.extend(first_class.digests().0);
        digests.sort();
        rewrite.memberships.digests = Some(DigestChanges {
            replace_all: true,
            put: digests,
            remove: Vec::new(),
        });
        let txn = store
            .begin_sync("schools", "district")
            .await
            .expect("begin");
        txn.commit(Some(&rewrite), &mut run_record_named("rewrite"))
            .await
            .expect("commit");
        assert_eq!(check().await.map(|c| c.differing), Some(0), "{backend}");
        sqlx::any::install_default_drivers();
        let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&db.url)
            .await
            .expect("a connection of its own");
        sqlx::query(
            "UPDATE membership_digests SET digest = '00000000000000000000000000000000' \
             WHERE namespace = 'schools' AND provider = 'district' AND class_id = $1",
        )
        .bind(first.class.as_str())
        .execute(&mut conn)
        .await
        .expect("a digest changed");
        assert_eq!(check().await.map(|c| c.differing), Some(1), "{backend}");
        let second = &classes[2];
        sqlx::query(
            "DELETE FROM memberships \
             WHERE namespace = 'schools' AND provider = 'district' AND class_id = $1",
        )
        .bind(second.as_str())
        .execute(&mut conn)
        .await
        .expect("a class's rows removed");
        drop(conn);
        assert_eq!(check().await.map(|c| c.differing), Some(2), "{backend}");
        db.drop_database().await;
    }
}

/// The platform's users load back whole and in the order the planner reads them (by email,
/// then id; no email first), across the statements of a bulk read on SQLite.
#[tokio::test]
async fn platform_users_load_back_whole_and_in_order() {
    for backend in BACKENDS {
        let db = TestStore::new(backend).await;
        let texts = awkward_texts(backend);
        let text = |i: usize| texts[i % texts.len()].clone();
        // One more than a bulk read; emails shared, missing, awkward; every priority kind.
        let written: Vec<Identity> = (0..10_001)
            .map(|i| Identity {
                id: format!("id-{:05}-{}", (i * 7919) % 10_001, text(i)),
                email: (!i.is_multiple_of(5)).then(|| format!("{}@x.example", text(i / 3))),
                given_name: (!i.is_multiple_of(4)).then(|| text(i + 1)),
                family_name: Some(text(i + 2)),
                role: Some(["student", "teacher"][i % 2].to_owned()),
                source: format!("classlinksync/{}", text(i + 3)),
                attributes_from: (!i.is_multiple_of(3)).then(|| text(i + 4)),
                attributes_priority: match i % 4 {
                    0 => None,
                    1 => Some(-7),
                    2 => Some(0),
                    _ => Some(i32::MAX),
                },
            })
            .collect();
        let changes = ChangeSet {
            new_identities: written.clone(),
            ..ChangeSet::default()
        };
        let txn = db
            .store
            .begin_sync("schools", "district")
            .await
            .expect("begin");
        txn.commit(Some(&changes), &mut run_record())
            .await
            .expect("commit");

        let mut expected = written;
        expected.sort_by(|a, b| (&a.email, &a.id).cmp(&(&b.email, &b.id)));
        let loaded = db.store.identities("schools").await.expect("identities");
        assert_eq!(loaded.len(), expected.len(), "{backend}");
        if backend == "sqlite" {
            // PostgreSQL sorts by its collation; the planner does not depend on the order.
            assert!(loaded == expected, "{backend}: identities differ");
        } else {
            let mut sorted = loaded.clone();
            sorted.sort_by(|a, b| (&a.email, &a.id).cmp(&(&b.email, &b.id)));
            assert!(sorted == expected, "{backend}: identities differ");
        }
        let txn = db
            .store
            .begin_sync("schools", "district")
            .await
            .expect("begin");
        assert!(
            txn.identities() == loaded.as_slice(),
            "{backend}: the sync's users"
        );
        drop(txn);
        db.drop_database().await;
    }
}

/// On PostgreSQL every text column of a key or index compares in byte order (`COLLATE
/// "C"`), as the operator sorts: whatever the database's own collation, no index insert
/// goes through the locale, and rows read in key order need no sorting again.
#[tokio::test]
async fn postgres_keys_compare_in_byte_order() {
    let db = TestStore::new("postgres").await;
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&db.url)
        .await
        .expect("a connection of its own");
    let others: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT DISTINCT t.relname::text, a.attname::text, coll.collname::text \
         FROM pg_index i \
         JOIN pg_class t ON t.oid = i.indrelid \
         JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = ANY(i.indkey) \
         JOIN pg_collation coll ON coll.oid = a.attcollation \
         WHERE t.relnamespace = 'public'::regnamespace AND a.atttypid = 'text'::regtype \
         AND coll.collname <> 'C'",
    )
    .fetch_all(&mut conn)
    .await
    .expect("the indexed columns");
    assert!(others.is_empty(), "not in byte order: {others:?}");
    let keys: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid \
         WHERE t.relnamespace = 'public'::regnamespace",
    )
    .fetch_one(&mut conn)
    .await
    .expect("the indexes");
    assert!(keys >= 10, "{keys} indexes");
    drop(conn);
    db.drop_database().await;
}

/// An import adds each email the namespace lacks once: one already there, or listed twice,
/// is skipped; emails differing in case are different users, as before; another
/// namespace's users are no concern.
#[tokio::test]
async fn an_import_adds_each_missing_email_once() {
    use classlink_operator::store::NewIdentity;
    let user = |email: &str| NewIdentity {
        email: email.to_owned(),
        given_name: Some("Ana".to_owned()),
        family_name: None,
        role: Some("teacher".to_owned()),
    };
    for backend in BACKENDS {
        let db = TestStore::new(backend).await;
        let store = &db.store;
        let added = store
            .import_identities("schools", &[user("ana@x.edu"), user("bo@x.edu")])
            .await
            .expect("import");
        assert_eq!(added, 2, "{backend}");
        let added = store
            .import_identities("elsewhere", &[user("ana@x.edu")])
            .await
            .expect("import");
        assert_eq!(added, 1, "{backend}: another namespace");
        let added = store
            .import_identities(
                "schools",
                &[
                    user("ana@x.edu"),
                    user("cy@x.edu"),
                    user("cy@x.edu"),
                    user("Ana@x.edu"),
                ],
            )
            .await
            .expect("import");
        assert_eq!(added, 2, "{backend}: cy once, and Ana@ apart from ana@");
        let emails: Vec<Option<String>> = store
            .identities("schools")
            .await
            .expect("identities")
            .into_iter()
            .map(|i| i.email)
            .collect();
        assert_eq!(
            emails,
            ["Ana@x.edu", "ana@x.edu", "bo@x.edu", "cy@x.edu"].map(|e| Some(e.to_owned())),
            "{backend}: by email, bytewise"
        );
        db.drop_database().await;
    }
}

/// Rows updated and deleted come back exactly as changed, awkward texts and
/// NULLs included, keys of one column and of two; rows not named stay as they were.
#[tokio::test]
async fn updated_and_deleted_rows_load_back_exactly_as_changed() {
    for backend in BACKENDS {
        let db = TestStore::new(backend).await;
        let first = changes(backend);
        let txn = db
            .store
            .begin_sync("schools", "district")
            .await
            .expect("begin");
        txn.commit(Some(&first), &mut run_record_named("first"))
            .await
            .expect("commit");

        let texts = awkward_texts(backend);
        let people = &first.people.insert;
        // Every third person rewritten with other texts (some NULL), every fifth deleted.
        let updated: Vec<PersonRow> = people
            .iter()
            .enumerate()
            .filter(|(i, _)| i % 3 == 0 && i % 5 != 0)
            .map(|(i, p)| PersonRow {
                given_name: (i % 2 == 0).then(|| texts[(i + 7) % texts.len()].clone()),
                family_name: Some(texts[(i + 3) % texts.len()].clone()),
                grades: texts[(i + 1) % texts.len()].clone(),
                ..p.clone()
            })
            .collect();
        let deleted: Vec<String> = people
            .iter()
            .step_by(5)
            .map(|p| p.sourced_id.clone())
            .collect();
        let memberships: Vec<MembershipRow> = first.memberships.insert.iter().collect();
        // 1,200 memberships deleted (more than one statement's worth), 700 moved.
        let gone: Vec<(Text, Text)> = memberships
            .iter()
            .step_by(16)
            .take(1_200)
            .map(|m| (m.class.clone(), m.person.clone()))
            .collect();
        let moved: Vec<MembershipRow> = memberships
            .iter()
            .skip(3)
            .step_by(16)
            .take(700)
            .enumerate()
            .map(|(i, m)| MembershipRow {
                role: texts[i % texts.len()].as_str().into(),
                ..m.clone()
            })
            .collect();
        let links = &first.guardian_links.insert;
        let links_gone: Vec<(String, String)> = links
            .iter()
            .step_by(7)
            .map(|l| (l.guardian.clone(), l.student.clone()))
            .collect();
        let second = ChangeSet {
            people: TableChanges {
                insert: Vec::new(),
                update: updated.clone(),
                delete: deleted.clone(),
            },
            memberships: MembershipChanges {
                update: moved.clone(),
                delete: gone.clone(),
                ..MembershipChanges::default()
            },
            guardian_links: TableChanges {
                insert: Vec::new(),
                update: Vec::new(),
                delete: links_gone.clone(),
            },
            ..ChangeSet::default()
        };
        let txn = db
            .store
            .begin_sync("schools", "district")
            .await
            .expect("begin");
        let written = txn
            .commit(Some(&second), &mut run_record_named("second"))
            .await
            .expect("commit");
        assert_eq!(
            written as usize,
            second.rows(),
            "{backend}: every row named was written"
        );

        let mut expected = first.clone();
        expected.people.insert = expected
            .people
            .insert
            .iter()
            .filter(|p| !deleted.contains(&p.sourced_id))
            .map(|p| {
                updated
                    .iter()
                    .find(|u| u.sourced_id == p.sourced_id)
                    .unwrap_or(p)
                    .clone()
            })
            .collect();
        let gone: std::collections::HashSet<(Text, Text)> = gone.into_iter().collect();
        let moved: std::collections::HashMap<(Text, Text), MembershipRow> = moved
            .into_iter()
            .map(|m| ((m.class.clone(), m.person.clone()), m))
            .collect();
        expected.memberships.insert = memberships
            .into_iter()
            .map(|m| ((m.class.clone(), m.person.clone()), m))
            .filter(|(key, _)| !gone.contains(key))
            .map(|(key, m)| moved.get(&key).cloned().unwrap_or(m))
            .collect();
        expected
            .guardian_links
            .insert
            .retain(|l| !links_gone.contains(&(l.guardian.clone(), l.student.clone())));
        let what = format!("{backend}: the changed rows");
        assert_stored(&db, &stored_after(&expected), &what).await;
        db.drop_database().await;
    }
}
