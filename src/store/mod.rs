//! The roster store: SQLite (embedded, the default) or PostgreSQL (production), one schema
//! and one implementation: the same statements on both, run through [`conn::Conn`]
//! (sqlx's `Any` driver for SQLite, PostgreSQL's own driver for PostgreSQL).
//!
//! A sync writes in one transaction per provider, holding the namespace's row in
//! `namespace_locks`, so two operator replicas or two providers of one namespace never
//! interleave, and an error or a kill mid-write leaves the previous snapshot whole.

mod conn;
mod tables;

use std::sync::Arc;
use std::time::Duration;

use sqlx::Row as _;
use sqlx::any::AnyPoolOptions;
use sqlx::postgres::PgPoolOptions;

use crate::engine::memberships::{
    ClassDigest, ClassDigests, DigestChanges, MembershipChanges, Memberships, MembershipsBuilder,
};
use crate::engine::model::{
    ChangeSet, Identity, MembershipRow, PersonRow, ProviderSnapshot, TableChanges,
};
use crate::engine::people::{StoredClass, StoredPeople, StoredPerson};
use crate::engine::report::SyncReport;
use crate::error_code::ErrorCode;
use crate::intern::{Interner, Text};
use conn::{Conn, Pool, Tx};
use tables::{BulkValue, Columns, ProviderTable, Value};

/// The schema, in order. Each entry runs once, in its own transaction.
const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        sql: include_str!("migrations/0001_roster.sql"),
        only_on: None,
    },
    Migration {
        version: 2,
        sql: include_str!("migrations/0002_provider_generations.sql"),
        only_on: None,
    },
    Migration {
        version: 3,
        sql: include_str!("migrations/0003_sqlite_memberships_without_rowid.sql"),
        only_on: Some(Backend::Sqlite),
    },
    Migration {
        version: 4,
        sql: include_str!("migrations/0004_membership_digests.sql"),
        only_on: None,
    },
    Migration {
        version: 5,
        sql: include_str!("migrations/0005_postgres_keys_in_byte_order.sql"),
        only_on: Some(Backend::Postgres),
    },
    Migration {
        version: 6,
        sql: include_str!("migrations/0006_drop_people_by_identity.sql"),
        only_on: None,
    },
    Migration {
        version: 7,
        sql: include_str!("migrations/0007_drop_identities_by_email.sql"),
        only_on: None,
    },
];

/// One step of the schema.
struct Migration {
    version: i64,
    sql: &'static str,
    /// The one backend it applies to; on the other it is recorded as applied, with nothing
    /// to do, so both count their schema's versions alike.
    only_on: Option<Backend>,
}

/// How long a SQLite writer waits for another to finish: a large district's first sync
/// holds the write lock for minutes.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// Environment variable of a test hook: when set to a path, a sync writes its changes, creates
/// that file and then waits without committing, so a test can kill the process mid-write.
pub const HOLD_BEFORE_COMMIT_ENV: &str = "CLASSLINK_TEST_HOLD_BEFORE_COMMIT";

/// A store fault. Messages name the operation, never row contents.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The URL is not a store URL this build knows.
    #[error("unsupported store URL {0:?}: use a SQLite file path, sqlite://PATH or postgres://...")]
    UnsupportedUrl(String),
    /// The database answered with an error or could not be reached.
    #[error("roster store: {operation}: {source}")]
    Database {
        /// What the store was doing.
        operation: &'static str,
        /// The driver's error.
        #[source]
        source: sqlx::Error,
    },
    /// A stored value could not be read back.
    #[error("roster store: {0}")]
    Corrupt(String),
    /// Another connection kept SQLite's write-ahead log from being emptied on close.
    #[error(
        "roster store: the write-ahead log could not be checkpointed (another process uses the SQLite file); the data is safe in the -wal file next to it"
    )]
    CheckpointBusy,
}

impl StoreError {
    /// The error code a sync reports for this fault.
    pub fn code(&self) -> ErrorCode {
        ErrorCode::StoreUnavailable
    }
}

fn db(operation: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |source| StoreError::Database { operation, source }
}

/// Which database is behind the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// An embedded SQLite file.
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

/// The roster store.
#[derive(Debug, Clone)]
pub struct Store {
    pool: Pool,
}

/// A platform user to import (the CLI's CSV import).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewIdentity {
    /// Email.
    pub email: String,
    /// Given name.
    pub given_name: Option<String>,
    /// Family name.
    pub family_name: Option<String>,
    /// Role.
    pub role: Option<String>,
}

/// One recorded sync.
#[derive(Debug, Clone, PartialEq)]
pub struct SyncRunRecord {
    /// Unique id.
    pub run_id: String,
    /// Namespace.
    pub namespace: String,
    /// Provider (ClassLinkSync name).
    pub provider: String,
    /// `Initial`, `Scheduled` or `Manual`.
    pub trigger: String,
    /// Start, Unix seconds.
    pub started_at: i64,
    /// End, Unix seconds.
    pub completed_at: i64,
    /// The report.
    pub report: SyncReport,
    /// Rows the sync inserted, updated or deleted.
    pub rows_written: u64,
    /// Log lines (no personal data).
    pub log: Vec<String>,
}

/// One person as the store knows them, found by email (`kubectl classlink whois`): their
/// platform user and each provider's record of them. Nobody else's data.
#[derive(Debug, Clone, PartialEq)]
pub struct PersonLookup {
    /// The platform user with that email, when there is one.
    pub identity: Option<IdentityRecord>,
    /// Each provider's record of the person: linked to that platform user, or carrying the
    /// email (a person no platform user was created for).
    pub records: Vec<ProviderRecord>,
}

/// A platform user and when it was added.
#[derive(Debug, Clone, PartialEq)]
pub struct IdentityRecord {
    /// The platform user.
    pub identity: Identity,
    /// When it was added, Unix seconds.
    pub created_at: i64,
}

/// One provider's record of a person.
#[derive(Debug, Clone, PartialEq)]
pub struct ProviderRecord {
    /// Provider (ClassLinkSync name).
    pub provider: String,
    /// The person as the provider's last sync wrote them.
    pub person: crate::engine::model::PersonRow,
    /// Their schools: sourcedId and name.
    pub schools: Vec<(String, String)>,
    /// Their classes.
    pub classes: Vec<ClassMembership>,
    /// The provider's newest sync that wrote rows: when the roster last changed.
    pub last_change: Option<SyncRunRecord>,
}

/// A class a person is in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClassMembership {
    /// The class's sourcedId.
    pub sourced_id: String,
    /// Its title, when it has one.
    pub title: Option<String>,
    /// The class's school (sourcedId).
    pub school: String,
    /// The person's role in it.
    pub role: String,
}

/// Normalises a store URL: a bare path is a SQLite file.
pub fn normalise_url(url: &str) -> Result<(String, Backend), StoreError> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok((url.to_owned(), Backend::Postgres));
    }
    if let Some(rest) = url.strip_prefix("sqlite:") {
        let path = rest.trim_start_matches("//");
        return Ok((sqlite_url(path), Backend::Sqlite));
    }
    if url.contains("://") || url.is_empty() {
        // Only the scheme: the rest may hold a password.
        let scheme = url.split_once("://").map_or(url, |(scheme, _)| scheme);
        return Err(StoreError::UnsupportedUrl(format!("{scheme}://...")));
    }
    Ok((sqlite_url(url), Backend::Sqlite))
}

fn sqlite_url(path: &str) -> String {
    let (path, query) = path.split_once('?').unwrap_or((path, ""));
    let query = if query.is_empty() {
        "mode=rwc".to_owned()
    } else if query.contains("mode=") {
        query.to_owned()
    } else {
        format!("{query}&mode=rwc")
    };
    format!("sqlite://{path}?{query}")
}

impl Store {
    /// Opens (creating a SQLite file if needed) and migrates the store at `url`.
    pub async fn open(url: &str) -> Result<Store, StoreError> {
        let (url, backend) = normalise_url(url)?;
        let pool = match backend {
            Backend::Sqlite => {
                sqlx::any::install_default_drivers();
                let pool = AnyPoolOptions::new()
                    .max_connections(4)
                    .acquire_timeout(POOL_ACQUIRE_TIMEOUT)
                    .after_connect(|conn, _| {
                        Box::pin(async move {
                            let busy = format!(
                                "PRAGMA busy_timeout = {}",
                                SQLITE_BUSY_TIMEOUT.as_millis()
                            );
                            sqlx::query(&busy).execute(&mut *conn).await?;
                            sqlx::query("PRAGMA foreign_keys = ON")
                                .execute(&mut *conn)
                                .await?;
                            Ok(())
                        })
                    })
                    .connect(&url)
                    .await
                    .map_err(db("connecting to the database"))?;
                // WAL lets readers (status, `identities list`) work during a long sync write.
                sqlx::query("PRAGMA journal_mode = WAL")
                    .execute(&pool)
                    .await
                    .map_err(db("turning on SQLite's write-ahead log"))?;
                Pool::Sqlite(pool)
            }
            Backend::Postgres => Pool::Postgres(
                PgPoolOptions::new()
                    .max_connections(8)
                    .acquire_timeout(POOL_ACQUIRE_TIMEOUT)
                    .connect(&url)
                    .await
                    .map_err(db("connecting to the database"))?,
            ),
        };
        let store = Store { pool };
        store.migrate().await?;
        Ok(store)
    }

    /// A transaction on a pooled connection; `what` names its start in an error.
    async fn begin(&self, what: &'static str) -> Result<Tx, StoreError> {
        self.pool.begin().await.map_err(db(what))
    }

    /// Which database this is.
    pub fn backend(&self) -> Backend {
        match self.pool {
            Pool::Sqlite(_) => Backend::Sqlite,
            Pool::Postgres(_) => Backend::Postgres,
        }
    }

    /// Closes the store. On SQLite the write-ahead log is first copied into the database
    /// file and emptied (`PRAGMA wal_checkpoint(TRUNCATE)`), so the `.db` file alone holds
    /// everything: a user may copy it, back it up or open it read-only. Every command that
    /// opened the store calls this when it ends, also after SIGTERM or SIGINT.
    ///
    /// The pool is closed even when the checkpoint fails; the data is then still safe in the
    /// `-wal` file next to the database, which SQLite replays on the next open.
    pub async fn close(self) -> Result<(), StoreError> {
        let checkpointed = match &self.pool {
            Pool::Sqlite(pool) => match pool.acquire().await {
                Ok(mut conn) => checkpoint(&mut conn).await,
                Err(e) => Err(db("connecting to checkpoint the write-ahead log")(e)),
            },
            Pool::Postgres(_) => Ok(()),
        };
        self.pool.close().await;
        checkpointed
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        let mut tx = self.begin("creating schema_migrations").await?;
        tx.conn()
            .execute_script(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT NOT NULL PRIMARY KEY, applied_at BIGINT NOT NULL)",
            )
            .await
            .map_err(db("creating schema_migrations"))?;
        tx.commit()
            .await
            .map_err(db("creating schema_migrations"))?;
        for Migration {
            version,
            sql,
            only_on,
        } in MIGRATIONS
        {
            let mut tx = self.begin("starting a migration").await?;
            let mut conn = tx.conn();
            // Two processes starting at once: writing row 0 first makes the second wait
            // here until the first commits, then it sees the version applied.
            conn.execute(
                "INSERT INTO schema_migrations (version, applied_at) VALUES (0, $1) \
                 ON CONFLICT (version) DO UPDATE SET applied_at = excluded.applied_at",
                vec![Value::Int(Some(now()))],
            )
            .await
            .map_err(db("locking schema_migrations"))?;
            let applied = conn
                .rows(
                    "SELECT version FROM schema_migrations WHERE version = $1",
                    vec![Value::Int(Some(*version))],
                    "reading schema_migrations",
                    |row| row.int(0),
                )
                .await?;
            if !applied.is_empty() {
                continue;
            }
            if only_on.is_none_or(|backend| backend == self.backend()) {
                conn.execute_script(sql)
                    .await
                    .map_err(db("applying a migration"))?;
            }
            conn.execute(
                "INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)",
                vec![Value::Int(Some(*version)), Value::Int(Some(now()))],
            )
            .await
            .map_err(db("recording a migration"))?;
            tx.commit().await.map_err(db("committing a migration"))?;
        }
        Ok(())
    }

    /// Adds platform users; an email already present in the namespace is left as it is.
    /// Returns how many were added.
    pub async fn import_identities(
        &self,
        namespace: &str,
        people: &[NewIdentity],
    ) -> Result<usize, StoreError> {
        let mut tx = self.begin("starting the import").await?;
        let mut conn = tx.conn();
        lock_namespace(&mut conn, namespace).await?;
        // The namespace's emails, read once under the lock (no index serves a lookup by
        // email: see migrations/0007_drop_identities_by_email.sql).
        let mut present: std::collections::HashSet<String> = conn
            .rows(
                "SELECT email FROM identities WHERE namespace = $1 AND email IS NOT NULL",
                vec![namespace.into()],
                "reading the namespace's emails",
                |row| tables::required(row, 0),
            )
            .await?
            .into_iter()
            .collect();
        let mut added = 0;
        for person in people {
            // Also skips an email listed twice in the import.
            if !present.insert(person.email.clone()) {
                continue;
            }
            let identity = Identity {
                id: crate::engine::identity_id_for(namespace, "import", &person.email),
                email: Some(person.email.clone()),
                given_name: person.given_name.clone(),
                family_name: person.family_name.clone(),
                role: person.role.clone(),
                source: "import".into(),
                attributes_from: None,
                attributes_priority: None,
            };
            insert_identities(&mut conn, namespace, std::slice::from_ref(&identity)).await?;
            added += 1;
        }
        tx.commit().await.map_err(db("committing the import"))?;
        Ok(added)
    }

    /// The platform users of a namespace, by email then id.
    pub async fn identities(&self, namespace: &str) -> Result<Vec<Identity>, StoreError> {
        let mut tx = self.begin("starting to read identities").await?;
        let identities = by_email(load_identities(&mut tx.conn(), namespace).await?);
        tx.rollback()
            .await
            .map_err(db("ending the read of identities"))?;
        Ok(identities)
    }

    /// Starts a sync of one provider: takes the namespace's lock and loads what the engine
    /// decides from. Nothing is visible to others until [`SyncTransaction::commit`].
    pub async fn begin_sync(
        &self,
        namespace: &str,
        provider: &str,
    ) -> Result<SyncTransaction, StoreError> {
        let mut txn = self.begin_sync_after(namespace, provider, None).await?;
        txn.identities = by_email(txn.load_identities().await?);
        Ok(txn)
    }

    /// Reads a provider's stored rows outside any sync's lock, as one consistent snapshot,
    /// with the provider's generation: a sync does this while it reads the roster, and hands
    /// the result to [`Store::begin_sync_after`], which uses it only when nothing wrote the
    /// provider's rows in between.
    pub async fn read_ahead(
        &self,
        namespace: &str,
        provider: &str,
    ) -> Result<ReadAhead, StoreError> {
        let mut tx = self.begin("starting to read the provider's rows").await?;
        let mut conn = tx.conn();
        if conn.backend() == Backend::Postgres {
            // One snapshot for every statement below; SQLite's read transaction is one
            // already (its first read fixes what the rest see).
            conn.execute(
                "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY",
                Vec::new(),
            )
            .await
            .map_err(db("starting to read the provider's rows"))?;
        }
        let generation = provider_generation(&mut conn, namespace, provider).await?;
        let digests = generation.digests_current;
        let snapshot = load_snapshot(&mut conn, namespace, provider, digests).await?;
        tx.rollback()
            .await
            .map_err(db("ending the read of the provider's rows"))?;
        Ok(ReadAhead {
            namespace: namespace.to_owned(),
            provider: provider.to_owned(),
            generation,
            snapshot,
        })
    }

    /// [`Store::begin_sync`], taking the provider's rows from `ahead` (see
    /// [`Store::read_ahead`]) when they are still what the store holds: no sync and no
    /// deletion wrote them since. Otherwise they are loaded again under the lock.
    /// [`SyncTransaction::read_ahead_used`] tells which it was. The platform users are not
    /// loaded yet: [`SyncTransaction::load_identities`] reads them under the lock, when the
    /// planner is ready for them (a sync compares its memberships first, and frees them).
    pub async fn begin_sync_after(
        &self,
        namespace: &str,
        provider: &str,
        ahead: Option<ReadAhead>,
    ) -> Result<SyncTransaction, StoreError> {
        let mut tx = self.begin("starting the sync's transaction").await?;
        let mut conn = tx.conn();
        lock_namespace(&mut conn, namespace).await?;
        let generation = provider_generation(&mut conn, namespace, provider).await?;
        let ahead = ahead.filter(|a| {
            a.namespace == namespace && a.provider == provider && a.generation == generation
        });
        let read_ahead_used = ahead.is_some();
        let snapshot = match ahead {
            Some(ahead) => ahead.snapshot,
            None => {
                let digests = generation.digests_current;
                load_snapshot(&mut conn, namespace, provider, digests).await?
            }
        };
        Ok(SyncTransaction {
            tx,
            namespace: namespace.to_owned(),
            provider: provider.to_owned(),
            identities: Vec::new(),
            digested_classes: snapshot.membership_digests.as_ref().map(ClassDigests::len),
            snapshot,
            read_ahead_used,
        })
    }

    /// What the store holds for one provider, every membership included.
    pub async fn snapshot(
        &self,
        namespace: &str,
        provider: &str,
    ) -> Result<ProviderSnapshot, StoreError> {
        let mut tx = self.begin("starting to read the provider's rows").await?;
        let snapshot = load_snapshot(&mut tx.conn(), namespace, provider, false).await;
        tx.rollback()
            .await
            .map_err(db("ending the read of the provider's rows"))?;
        snapshot
    }

    /// Whether the provider's class digests are in use and true to its memberships: each
    /// stored class's digest, checked against one made from its stored rows. `None` when
    /// the digests are not in use (never written, or a write since did not keep them).
    pub async fn check_membership_digests(
        &self,
        namespace: &str,
        provider: &str,
    ) -> Result<Option<DigestCheck>, StoreError> {
        let mut tx = self.begin("starting to read the provider's rows").await?;
        let mut conn = tx.conn();
        let generation = provider_generation(&mut conn, namespace, provider).await?;
        if !generation.digests_current {
            return Ok(None);
        }
        let stored = load_digests(&mut conn, namespace, provider).await?;
        let rows = load_memberships(&mut conn, namespace, provider).await?;
        tx.rollback()
            .await
            .map_err(db("ending the read of the provider's rows"))?;
        let made = rows.digests();
        Ok(Some(DigestCheck {
            classes: made.len(),
            differing: stored.differing(&made).len(),
        }))
    }

    /// Records a sync that changed nothing (it failed before or in planning).
    pub async fn record_run(&self, run: &SyncRunRecord) -> Result<(), StoreError> {
        let mut tx = self.begin("starting to record a sync").await?;
        insert_run(&mut tx.conn(), run).await?;
        tx.commit().await.map_err(db("recording a sync"))
    }

    /// The recorded syncs of a provider, oldest first.
    pub async fn sync_runs(
        &self,
        namespace: &str,
        provider: &str,
    ) -> Result<Vec<SyncRunRecord>, StoreError> {
        let mut tx = self.begin("starting to read sync runs").await?;
        let runs = sync_runs(&mut tx.conn(), namespace, provider).await?;
        tx.rollback()
            .await
            .map_err(db("ending the read of sync runs"))?;
        Ok(runs)
    }

    /// The person with `email` in `namespace` (compared without regard to case): their
    /// platform user and every provider's record of them, with schools, classes and the
    /// provider's last change. Finding them reads the namespace's platform users and
    /// people (no index serves a match without regard to case); the rest reads only that
    /// person's rows (and their classes' and schools' names).
    pub async fn person_by_email(
        &self,
        namespace: &str,
        email: &str,
    ) -> Result<PersonLookup, StoreError> {
        let mut tx = self.begin("starting to look a person up").await?;
        let mut conn = tx.conn();
        let identity = conn
            .rows(
                "SELECT id, email, given_name, family_name, role, source, attributes_from, attributes_priority, created_at \
                 FROM identities WHERE namespace = $1 AND lower(email) = lower($2) ORDER BY id LIMIT 1",
                vec![namespace.into(), email.into()],
                "looking up an identity",
                |row| {
                    Ok(IdentityRecord {
                        identity: decode_identity(&mut *row)?,
                        created_at: row.int(8)?.unwrap_or_default(),
                    })
                },
            )
            .await?
            .pop();
        let identity_id = identity.as_ref().map(|i| i.identity.id.clone());

        let columns = table_columns::<PersonRow>();
        let sql = format!(
            "SELECT {}, provider FROM people WHERE namespace = $1 AND (identity_id = $2 OR lower(email) = lower($3)) ORDER BY provider, sourced_id",
            columns.join(", ")
        );
        let provider_column = columns.len();
        let mut people = Vec::new();
        conn.each_row(
            &sql,
            vec![
                namespace.into(),
                Value::Owned(identity_id.unwrap_or_default()),
                email.into(),
            ],
            "looking up a person",
            |row| {
                let provider =
                    tables::required(row, provider_column).map_err(db("decoding a person"))?;
                let person = PersonRow::decode(row, &mut Interner::default())
                    .map_err(|e| corrupt::<PersonRow>(&e))?;
                people.push((provider, person));
                Ok(())
            },
        )
        .await?;
        let mut records = Vec::with_capacity(people.len());
        for (provider, person) in people {
            let mut schools = Vec::with_capacity(person.schools.len());
            for school in &person.schools {
                let name = conn
                    .rows(
                        "SELECT name FROM schools WHERE namespace = $1 AND provider = $2 AND sourced_id = $3",
                        vec![namespace.into(), (&provider).into(), school.into()],
                        "reading a school",
                        |row| tables::required(row, 0),
                    )
                    .await?
                    .pop();
                schools.push((school.clone(), name.unwrap_or_default()));
            }
            let classes = conn
                .rows(
                    "SELECT m.class_id, c.title, m.school, m.role FROM memberships m \
                     LEFT JOIN classes c ON c.namespace = m.namespace AND c.provider = m.provider AND c.sourced_id = m.class_id \
                     WHERE m.namespace = $1 AND m.provider = $2 AND m.person_id = $3 ORDER BY m.class_id",
                    vec![namespace.into(), (&provider).into(), (&person.sourced_id).into()],
                    "reading a person's classes",
                    |row| {
                        Ok(ClassMembership {
                            sourced_id: tables::required(row, 0)?,
                            title: row.text(1)?,
                            school: tables::required(row, 2)?,
                            role: tables::required(row, 3)?,
                        })
                    },
                )
                .await?;
            let last_change = sync_runs(&mut conn, namespace, &provider)
                .await?
                .into_iter()
                .filter(|run| run.rows_written > 0)
                .max_by_key(|run| run.completed_at);
            records.push(ProviderRecord {
                provider,
                person,
                schools,
                classes,
                last_change,
            });
        }
        tx.rollback()
            .await
            .map_err(db("ending the look-up of a person"))?;
        Ok(PersonLookup { identity, records })
    }

    /// Removes everything one provider wrote (its `deletionPolicy: Delete`), except the
    /// platform users it created, which other providers or the platform may use. Returns
    /// the rows removed.
    pub async fn delete_provider(
        &self,
        namespace: &str,
        provider: &str,
    ) -> Result<u64, StoreError> {
        let mut tx = self.begin("starting the deletion").await?;
        let mut conn = tx.conn();
        lock_namespace(&mut conn, namespace).await?;
        let scope = || vec![Value::from(namespace), Value::from(provider)];
        let mut removed = 0;
        for table in [
            "guardian_links",
            "guardians",
            "memberships",
            "classes",
            "people",
            "schools",
        ] {
            let sql = format!("DELETE FROM {table} WHERE namespace = $1 AND provider = $2");
            removed += conn
                .execute(&sql, scope())
                .await
                .map_err(db("deleting a provider's rows"))?;
        }
        // Bookkeeping, not counted among the rows removed; the generation's raise below
        // leaves any digest unused anyway.
        conn.execute(
            "DELETE FROM membership_digests WHERE namespace = $1 AND provider = $2",
            scope(),
        )
        .await
        .map_err(db("deleting a provider's rows"))?;
        conn.execute(
            "UPDATE identities SET attributes_from = NULL, attributes_priority = NULL WHERE namespace = $1 AND attributes_from = $2",
            scope(),
        )
        .await
        .map_err(db("releasing a provider's attributes"))?;
        // Raised, never reset: a read-ahead from before the deletion must not pass for one
        // of rows a later sync writes.
        raise_generation(&mut conn, namespace, provider).await?;
        tx.commit().await.map_err(db("committing the deletion"))?;
        Ok(removed)
    }
}

/// How long a statement waits for a pooled connection.
const POOL_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(30);

/// The recorded syncs of a provider, oldest first.
async fn sync_runs(
    conn: &mut Conn<'_>,
    namespace: &str,
    provider: &str,
) -> Result<Vec<SyncRunRecord>, StoreError> {
    let mut runs = conn
        .rows(
            "SELECT run_id, trigger_kind, started_at, completed_at, result, error_code, message, counts, problems, rows_written \
             FROM sync_runs WHERE namespace = $1 AND provider = $2 ORDER BY started_at, run_id",
            vec![namespace.into(), provider.into()],
            "reading sync runs",
            |row| {
                let mut text = |i| tables::required(&mut *row, i);
                let texts = [text(0)?, text(1)?, text(4)?, text(5)?, text(6)?, text(7)?, text(8)?];
                let ints = [row.int(2)?, row.int(3)?, row.int(9)?].map(Option::unwrap_or_default);
                Ok((texts, ints))
            },
        )
        .await?
        .into_iter()
        .map(|(texts, ints)| decode_run(namespace, provider, texts, ints))
        .collect::<Result<Vec<_>, StoreError>>()?;
    for run in &mut runs {
        run.log = conn
            .rows(
                "SELECT line FROM sync_run_log WHERE run_id = $1 ORDER BY seq",
                vec![(&run.run_id).into()],
                "reading a sync's log",
                |row| tables::required(row, 0),
            )
            .await?;
    }
    Ok(runs)
}

/// A recorded sync from its columns as [`sync_runs`] reads them: run id, trigger, result,
/// error code, message, counts and problems; start, end and rows written. Its log is read
/// separately.
fn decode_run(
    namespace: &str,
    provider: &str,
    [
        run_id,
        trigger,
        result,
        error_code,
        message,
        counts,
        problems,
    ]: [String; 7],
    [started_at, completed_at, rows_written]: [i64; 3],
) -> Result<SyncRunRecord, StoreError> {
    let result: crate::engine::report::SyncResult =
        serde_json::from_value(serde_json::Value::String(result))
            .map_err(|e| StoreError::Corrupt(format!("sync run {run_id}: result: {e}")))?;
    let error_code = Some(error_code)
        .filter(|c| !c.is_empty())
        .map(|c| c.parse::<ErrorCode>())
        .transpose()
        .map_err(|e| StoreError::Corrupt(format!("sync run {run_id}: {e}")))?;
    let counts = serde_json::from_str(&counts)
        .map_err(|e| StoreError::Corrupt(format!("sync run {run_id}: counts: {e}")))?;
    let problems = serde_json::from_str(&problems)
        .map_err(|e| StoreError::Corrupt(format!("sync run {run_id}: problems: {e}")))?;
    Ok(SyncRunRecord {
        namespace: namespace.to_owned(),
        provider: provider.to_owned(),
        trigger,
        started_at,
        completed_at,
        report: SyncReport {
            result,
            error_code,
            message,
            counts,
            problems,
            schools: Vec::new(),
        },
        rows_written: u64::try_from(rows_written).unwrap_or_default(),
        log: Vec::new(),
        run_id,
    })
}

/// What [`Store::check_membership_digests`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DigestCheck {
    /// Classes with memberships.
    pub classes: usize,
    /// Classes whose stored digest is not the digest of their rows, or that have a digest
    /// and no rows, or rows and no digest: 0 when the digests are true.
    pub differing: usize,
}

/// A provider's stored rows read before its sync's transaction, and the generation they
/// belong to (see [`Store::read_ahead`]).
pub struct ReadAhead {
    namespace: String,
    provider: String,
    generation: Generation,
    snapshot: ProviderSnapshot,
}

impl ReadAhead {
    /// The rows read.
    pub fn snapshot(&self) -> &ProviderSnapshot {
        &self.snapshot
    }
}

/// One sync's transaction: the lock is held and the data loaded.
pub struct SyncTransaction {
    tx: Tx,
    namespace: String,
    provider: String,
    identities: Vec<Identity>,
    snapshot: ProviderSnapshot,
    /// How many classes had a digest, when the snapshot held the digests.
    digested_classes: Option<usize>,
    read_ahead_used: bool,
}

/// Above this share of the digested classes (one in this many), memberships asked for by
/// class are read as every row then kept by class: one ordered scan costs less than
/// thousands of lookups.
const READ_EVERY_MEMBERSHIP_ABOVE_ONE_IN: usize = 8;

/// Classes named in one statement that reads or deletes by class.
const CLASSES_PER_STATEMENT: usize = 500;

impl SyncTransaction {
    /// How many classes had a stored digest, when the snapshot held the memberships'
    /// class digests in their place; `None` when it held every membership.
    pub fn digested_classes(&self) -> Option<usize> {
        self.digested_classes
    }

    /// The stored memberships of `classes` (sorted), under the transaction's lock: for a
    /// snapshot that held the classes' digests instead (see
    /// [`crate::engine::Locked::memberships_of`]).
    pub async fn memberships_of(&mut self, classes: &[Text]) -> Result<Memberships, StoreError> {
        let digested = self.digested_classes.ok_or_else(|| {
            StoreError::Corrupt(
                "memberships were asked for by class, but the sync's snapshot holds them all"
                    .to_owned(),
            )
        })?;
        let (ns, provider) = (self.namespace.as_str(), self.provider.as_str());
        let mut conn = self.tx.conn();
        if classes.len() > digested / READ_EVERY_MEMBERSHIP_ABOVE_ONE_IN {
            let mut all = load_memberships(&mut conn, ns, provider).await?;
            all.retain_classes(classes);
            return Ok(all);
        }
        let mut loaded = MembershipsBuilder::default();
        for chunk in classes.chunks(CLASSES_PER_STATEMENT) {
            let (sql, values) = of_classes(
                "SELECT class_id, person_id, role, school FROM memberships",
                ns,
                provider,
                chunk,
            );
            conn.each_row(&sql, values, "reading the memberships of classes", |row| {
                let mut number = |i| {
                    tables::required_ref(&mut *row, i, |t| loaded.text_str(t))
                        .map_err(|e| corrupt::<MembershipRow>(&e))
                };
                let (class, person, role, school) =
                    (number(0)?, number(1)?, number(2)?, number(3)?);
                loaded.push(class, person, role, school);
                Ok(())
            })
            .await?;
        }
        Ok(loaded.finish())
    }

    /// Whether the provider's rows came from the [`ReadAhead`] handed to
    /// [`Store::begin_sync_after`] (false: they were loaded under the lock).
    pub fn read_ahead_used(&self) -> bool {
        self.read_ahead_used
    }

    /// The namespace's platform users, as [`Store::begin_sync`] loaded them (none after
    /// [`Store::begin_sync_after`]: see [`SyncTransaction::load_identities`]).
    pub fn identities(&self) -> &[Identity] {
        &self.identities
    }

    /// Reads the namespace's platform users under the transaction's lock, in no particular
    /// order (the planning takes them in any order; [`Store::identities`] sorts them by
    /// email).
    pub async fn load_identities(&mut self) -> Result<Vec<Identity>, StoreError> {
        load_identities(&mut self.tx.conn(), &self.namespace).await
    }

    /// What the store held for this provider when the sync began.
    pub fn snapshot(&self) -> &ProviderSnapshot {
        &self.snapshot
    }

    /// Hands over the provider's snapshot, to plan on another thread;
    /// [`SyncTransaction::snapshot`] is empty afterwards. The transaction stays open.
    pub fn take_snapshot(&mut self) -> ProviderSnapshot {
        std::mem::take(&mut self.snapshot)
    }

    /// Writes the changes (if any) and the run record, then commits. Returns the rows
    /// written. Dropped without commit, the transaction rolls back.
    pub async fn commit(
        mut self,
        changes: Option<&ChangeSet>,
        run: &mut SyncRunRecord,
    ) -> Result<u64, StoreError> {
        // A first sync writes a million rows: with SQLite's default 2 MiB page cache, the
        // B-tree pages it changes spill to the log again and again before the commit.
        let larger_cache =
            matches!(self.tx, Tx::Sqlite(_)) && changes.is_some_and(|c| c.rows() > 0);
        if larger_cache {
            // The memory the sync freed (its roster, the stored rows) goes back to the
            // system first, so the larger cache does not raise the process's peak.
            crate::allocator::release_free_memory();
            set_sqlite_cache(&mut self.tx.conn(), SQLITE_WRITE_CACHE_KIB).await?;
        }
        let written = self.write(changes, run).await;
        if larger_cache {
            // Back to the default before the commit, so the connection, back in the pool,
            // gives the pages up as the commit releases them. An error here would only keep
            // the larger cache; the sync's own error (if any) is the one that matters.
            let reset = set_sqlite_cache(&mut self.tx.conn(), SQLITE_DEFAULT_CACHE_KIB).await;
            if let (Ok(_), Err(e)) = (&written, reset) {
                return Err(e);
            }
        }
        let written = written?;
        if let Some(path) = std::env::var_os(HOLD_BEFORE_COMMIT_ENV) {
            // Test hook (see HOLD_BEFORE_COMMIT_ENV): everything is written, nothing committed.
            let _ = std::fs::write(&path, b"holding");
            loop {
                tokio::time::sleep(Duration::from_secs(3600)).await;
            }
        }
        self.tx.commit().await.map_err(db("committing the sync"))?;
        Ok(written)
    }

    /// Writes the changes and the run record, without committing.
    async fn write(
        &mut self,
        changes: Option<&ChangeSet>,
        run: &mut SyncRunRecord,
    ) -> Result<u64, StoreError> {
        let mut written = 0;
        // Each table's writes and their time, for the debug log (docs/store.md).
        let mut parts = TimedParts::new();
        let (ns, provider) = (self.namespace.as_str(), self.provider.as_str());
        let conn = &mut self.tx.conn();
        if let Some(changes) = changes {
            let n = insert_identities(conn, ns, &changes.new_identities).await?;
            written += parts.done("new platform users", n);
            let mut n = 0;
            for identity in &changes.identity_updates {
                n += update_identity(conn, ns, identity).await?;
            }
            written += parts.done("platform users updated", n);
            let n = write_table(conn, ns, provider, &changes.schools).await?;
            written += parts.done("schools", n);
            let n = write_table(conn, ns, provider, &changes.people).await?;
            written += parts.done("people", n);
            let n = write_table(conn, ns, provider, &changes.classes).await?;
            written += parts.done("classes", n);
            let n = write_memberships(conn, ns, provider, &changes.memberships).await?;
            written += parts.done("memberships", n);
            if let Some(digests) = &changes.memberships.digests {
                let n = write_digests(conn, ns, provider, digests).await?;
                // Bookkeeping: not among the rows written.
                parts.done("class digests", n);
            }
            let n = write_table(conn, ns, provider, &changes.guardians).await?;
            written += parts.done("guardians", n);
            let n = write_table(conn, ns, provider, &changes.guardian_links).await?;
            written += parts.done("guardian links", n);
        }
        if written > 0 {
            raise_generation(conn, ns, provider).await?;
        }
        if changes.is_some_and(|c| c.memberships.digests.is_some()) {
            mark_digests_current(conn, ns, provider).await?;
        }
        tracing::debug!(parts = ?parts.parts, "store writes");
        run.rows_written = written;
        insert_run(conn, run).await?;
        Ok(written)
    }
}

/// The rows each part of a sync's writes wrote, and how long it took.
struct TimedParts {
    since: std::time::Instant,
    parts: Vec<(&'static str, u64, Duration)>,
}

impl TimedParts {
    fn new() -> Self {
        TimedParts {
            since: std::time::Instant::now(),
            parts: Vec::new(),
        }
    }

    /// Records `part`, which wrote `rows` since the last one; returns `rows`.
    fn done(&mut self, part: &'static str, rows: u64) -> u64 {
        if rows > 0 {
            self.parts.push((part, rows, self.since.elapsed()));
        }
        self.since = std::time::Instant::now();
        rows
    }
}

/// SQLite's page cache while a sync writes, in KiB (see [`SyncTransaction::commit`]).
const SQLITE_WRITE_CACHE_KIB: u32 = 64 * 1024;
/// SQLite's default page cache, in KiB (`PRAGMA cache_size = -2000`).
const SQLITE_DEFAULT_CACHE_KIB: u32 = 2000;

/// Sets the page cache of an SQLite connection (a negative `cache_size` is in KiB).
async fn set_sqlite_cache(conn: &mut Conn<'_>, kib: u32) -> Result<(), StoreError> {
    conn.execute(&format!("PRAGMA cache_size = -{kib}"), Vec::new())
        .await
        .map(drop)
        .map_err(db("sizing SQLite's page cache"))
}

fn now() -> i64 {
    jiff::Timestamp::now().as_second()
}

/// How long closing waits for another SQLite writer before it gives up on the checkpoint: a
/// stopping process must not wait [`SQLITE_BUSY_TIMEOUT`].
const CHECKPOINT_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Moves SQLite's write-ahead log into the database file and truncates the log.
async fn checkpoint(conn: &mut sqlx::AnyConnection) -> Result<(), StoreError> {
    let busy = format!(
        "PRAGMA busy_timeout = {}",
        CHECKPOINT_BUSY_TIMEOUT.as_millis()
    );
    sqlx::query(&busy)
        .execute(&mut *conn)
        .await
        .map_err(db("shortening the busy timeout to checkpoint"))?;
    // One row: (busy, pages in the log, pages checkpointed); busy = 1 when another
    // connection kept the checkpoint from finishing.
    let row = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .fetch_one(&mut *conn)
        .await
        .map_err(db("checkpointing the write-ahead log"))?;
    let busy: i64 = row
        .try_get(0)
        .map_err(db("reading the checkpoint's result"))?;
    if busy != 0 {
        return Err(StoreError::CheckpointBusy);
    }
    Ok(())
}

/// Checkpoints the SQLite store at `url` from a connection of its own (nothing to do for
/// PostgreSQL, or when the file does not exist): for a process that stops while connections it cannot reach, such as
/// cancelled sync tasks, may still be open.
pub async fn checkpoint_url(url: &str) -> Result<(), StoreError> {
    sqlx::any::install_default_drivers();
    let (url, backend) = normalise_url(url)?;
    if backend == Backend::Postgres {
        return Ok(());
    }
    // No file (the process stopped before it opened the store), nothing to checkpoint; and
    // never create one here.
    let path = url
        .strip_prefix("sqlite://")
        .and_then(|rest| rest.split('?').next())
        .unwrap_or_default();
    if !std::path::Path::new(path).exists() {
        return Ok(());
    }
    let url = url.replace("mode=rwc", "mode=rw");
    let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&url)
        .await
        .map_err(db("connecting to checkpoint the write-ahead log"))?;
    let checkpointed = checkpoint(&mut conn).await;
    let _ = sqlx::Connection::close(conn).await;
    checkpointed
}

/// Takes the namespace's lock for the rest of the transaction: the upsert holds the row's
/// write lock (PostgreSQL) or the database's write lock (SQLite) until commit or rollback.
async fn lock_namespace(conn: &mut Conn<'_>, namespace: &str) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO namespace_locks (namespace, holder, locked_at) VALUES ($1, $2, $3) \
         ON CONFLICT (namespace) DO UPDATE SET holder = excluded.holder, locked_at = excluded.locked_at",
        vec![
            namespace.into(),
            Value::Owned(format!("pid-{}", std::process::id())),
            Value::Int(Some(now())),
        ],
    )
    .await
    .map_err(db("taking the namespace's lock"))?;
    Ok(())
}

/// Where a provider's rows stand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Generation {
    /// The provider's generation (see `migrations/0002_provider_generations.sql`); 0 for a
    /// provider that was never written.
    generation: i64,
    /// Whether its class digests are true to its memberships (see
    /// `migrations/0004_membership_digests.sql`).
    digests_current: bool,
}

async fn provider_generation(
    conn: &mut Conn<'_>,
    namespace: &str,
    provider: &str,
) -> Result<Generation, StoreError> {
    let row = conn
        .rows(
            "SELECT generation, digests_generation FROM provider_generations \
             WHERE namespace = $1 AND provider = $2",
            vec![namespace.into(), provider.into()],
            "reading the provider's generation",
            |row| Ok((row.int(0)?.unwrap_or_default(), row.int(1)?)),
        )
        .await?
        .pop();
    Ok(match row {
        Some((generation, digests)) => Generation {
            generation,
            digests_current: digests == Some(generation),
        },
        None => Generation {
            generation: 0,
            digests_current: false,
        },
    })
}

/// Raises the provider's generation in the transaction that writes its rows.
async fn raise_generation(
    conn: &mut Conn<'_>,
    namespace: &str,
    provider: &str,
) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO provider_generations (namespace, provider, generation) VALUES ($1, $2, 1) \
         ON CONFLICT (namespace, provider) DO UPDATE SET generation = provider_generations.generation + 1",
        vec![namespace.into(), provider.into()],
    )
    .await
    .map_err(db("raising the provider's generation"))?;
    Ok(())
}

async fn load_identities(
    conn: &mut Conn<'_>,
    namespace: &str,
) -> Result<Vec<Identity>, StoreError> {
    let mut identities = Vec::new();
    if let Conn::Sqlite(conn) = conn {
        // Text, as every value of a bulk read.
        let columns: Vec<&str> = IDENTITY_SELECT
            .iter()
            .map(|&c| match c {
                "attributes_priority" => "CAST(attributes_priority AS TEXT)",
                other => other,
            })
            .collect();
        let read = BulkRead {
            table: "identities",
            columns: &columns,
            keys: &["id"],
            scope: &[("namespace", namespace)],
        };
        read.run(conn, |rows| {
            identities.reserve(rows.len());
            for row in rows {
                identities.push(decode_identity(row).map_err(db("decoding identities"))?);
            }
            Ok(())
        })
        .await?;
    } else {
        // In no particular order: the planning takes them in any order. Asked for by id,
        // PostgreSQL sorted them whenever the table's statistics were not yet gathered (a
        // sync soon after a large first one): its estimate of a few hundred rows chose a
        // sort, which for `large`'s 104,202 users spilled to disk, 0.15 s of server time
        // where this read takes 0.03 s (and the index scan, with statistics, 0.05 s).
        let sql = format!(
            "SELECT {} FROM identities WHERE namespace = $1",
            IDENTITY_SELECT.join(", ")
        );
        conn.each_row(&sql, vec![namespace.into()], "reading identities", |row| {
            identities.push(decode_identity(row).map_err(db("decoding identities"))?);
            Ok(())
        })
        .await?;
    }
    identities.shrink_to_fit();
    Ok(identities)
}

/// Platform users by email then id, bytewise, as people read them. A sync's planning takes
/// them in any order and gets them as read (by id on SQLite): sorting a large namespace's
/// hundred thousand users by email took 0.09 s of the users' read, which the planning
/// waits for.
fn by_email(mut identities: Vec<Identity>) -> Vec<Identity> {
    identities.sort_unstable_by(|a, b| (&a.email, &a.id).cmp(&(&b.email, &b.id)));
    identities
}

/// The columns [`load_identities`] selects, in the order [`decode_identity`] reads.
const IDENTITY_SELECT: [&str; 8] = [
    "id",
    "email",
    "given_name",
    "family_name",
    "role",
    "source",
    "attributes_from",
    "attributes_priority",
];

/// An identity selected as [`IDENTITY_SELECT`], in that order.
fn decode_identity(mut row: impl Columns) -> Result<Identity, sqlx::Error> {
    Ok(Identity {
        id: row.text(0)?.unwrap_or_default(),
        email: row.text(1)?,
        given_name: row.text(2)?,
        family_name: row.text(3)?,
        role: row.text(4)?,
        source: row.text(5)?.unwrap_or_default(),
        attributes_from: row.text(6)?,
        attributes_priority: row.int(7)?.and_then(|p| i32::try_from(p).ok()),
    })
}

/// Columns of `identities`: the namespace and the creation time every new identity of a
/// sync shares, then those of [`identity_values`].
const IDENTITY_COLUMNS: &[&str] = &[
    "namespace",
    "created_at",
    "id",
    "email",
    "given_name",
    "family_name",
    "role",
    "source",
    "attributes_from",
    "attributes_priority",
];

/// An identity's own values, in the order of [`IDENTITY_COLUMNS`] (a function, not a
/// closure: the insert's future must be `Send` for any lifetime of its rows).
fn identity_values(identity: &Identity) -> [Value<'_>; 8] {
    [
        (&identity.id).into(),
        (&identity.email).into(),
        (&identity.given_name).into(),
        (&identity.family_name).into(),
        (&identity.role).into(),
        (&identity.source).into(),
        (&identity.attributes_from).into(),
        Value::Int(identity.attributes_priority.map(i64::from)),
    ]
}

async fn insert_identities(
    conn: &mut Conn<'_>,
    namespace: &str,
    identities: &[Identity],
) -> Result<u64, StoreError> {
    // In key order, so the rows lie in the table in the order a sync reads them back
    // (SQLite: in the order of their rowids; a read by key in random order took twice
    // as long) and each index entry goes after the last.
    let mut in_order: Vec<&Identity> = identities.iter().collect();
    in_order.sort_unstable_by(|a, b| a.id.cmp(&b.id));
    let shared = [Value::from(namespace), Value::Int(Some(now()))];
    insert_all(
        conn,
        "identities",
        IDENTITY_COLUMNS,
        &shared,
        in_order.into_iter().map(identity_values),
    )
    .await
}

/// Inserts `rows` into `table`, each its `prefix` (values every row starts with) then its
/// own values, one per column of `columns`, in the way each backend writes fastest; returns
/// how many were inserted.
///
/// - **SQLite**: statements of many rows (see [`SqliteInserter`]).
/// - **PostgreSQL**: one `COPY` (see [`conn::copy_in`]); before it, statements of ten
///   thousand rows through `unnest` of arrays took 1.4 times as long for a large district's
///   memberships.
async fn insert_all<'q, R: IntoIterator<Item = Value<'q>>>(
    conn: &mut Conn<'_>,
    table: &'static str,
    columns: &[&'static str],
    prefix: &[Value<'q>],
    rows: impl Iterator<Item = R>,
) -> Result<u64, StoreError> {
    match conn {
        Conn::Postgres(conn) => conn::copy_in(conn, table, columns, prefix, rows).await,
        Conn::Sqlite(conn) => {
            SqliteInserter::new(table, columns)
                .insert_all(conn, prefix, rows)
                .await
        }
    }
}

/// Inserts many rows into one SQLite table, one statement per batch of
/// [`SqliteInserter::rows_per_statement`] rows (one statement per row is what made a first
/// sync slow): `INSERT OR FAIL ... VALUES (?, ...), (?, ...)`, every value bound. The text is
/// built once for each number of rows (every batch but the last has the same). `OR FAIL`
/// stops a failing statement without undoing the rows it inserted before; the default
/// (`ABORT`) undoes them, which SQLite prepares for by copying every page a statement
/// changes into a statement journal, a temporary file: 780 MB of writes for a first sync
/// that writes a 120 MB store. A sync never goes on after a failed statement: its whole
/// transaction rolls back.
struct SqliteInserter {
    table: &'static str,
    columns: Vec<&'static str>,
    /// The statement for the last number of rows it was asked for.
    built: Option<(usize, Arc<str>)>,
}

/// One statement of a [`SqliteInserter`], ready to run.
struct Statement<'q> {
    sql: Arc<str>,
    values: Vec<Value<'q>>,
}

impl SqliteInserter {
    fn new(table: &'static str, columns: &[&'static str]) -> Self {
        SqliteInserter {
            table,
            columns: columns.to_vec(),
            built: None,
        }
    }

    /// How many rows one statement carries: well under SQLite's limit on bound values.
    fn rows_per_statement(&self) -> usize {
        (8_000 / self.columns.len().max(1)).clamp(1, 1_000)
    }

    /// Inserts `rows`, each one value per column after the `prefix` every row starts with,
    /// and returns how many were inserted.
    ///
    /// While one statement runs, the next is made ready (its rows collected): SQLite works
    /// on one statement on its worker thread while the client builds the next, instead of
    /// each waiting for the other.
    async fn insert_all<'q, R: IntoIterator<Item = Value<'q>>>(
        &mut self,
        conn: &mut sqlx::AnyConnection,
        prefix: &[Value<'q>],
        rows: impl Iterator<Item = R>,
    ) -> Result<u64, StoreError> {
        let mut rows = rows.peekable();
        let mut written = 0;
        let mut next = self.next_statement(prefix, &mut rows)?;
        while let Some(statement) = next {
            let (done, ready) = futures::join!(execute(conn, statement), async {
                self.next_statement(prefix, &mut rows)
            });
            written += done?;
            next = ready?;
        }
        Ok(written)
    }

    /// The statement for the next [`SqliteInserter::rows_per_statement`] of `rows`; none
    /// when they have run out.
    fn next_statement<'q, R: IntoIterator<Item = Value<'q>>>(
        &mut self,
        prefix: &[Value<'q>],
        rows: &mut std::iter::Peekable<impl Iterator<Item = R>>,
    ) -> Result<Option<Statement<'q>>, StoreError> {
        if rows.peek().is_none() {
            return Ok(None);
        }
        let width = self.columns.len();
        let mut values = Vec::with_capacity(self.rows_per_statement() * width);
        for row in rows.by_ref().take(self.rows_per_statement()) {
            let before = values.len();
            values.extend_from_slice(prefix);
            values.extend(row);
            if values.len() - before != width {
                return Err(StoreError::Corrupt(format!(
                    "a row of {} has {} values for {} columns",
                    self.table,
                    values.len() - before,
                    width
                )));
            }
        }
        Ok(Some(Statement {
            sql: self.sql(values.len() / width),
            values,
        }))
    }

    /// The statement for `rows` rows, with anonymous `?`: resolving thousands of `$N` names
    /// in one statement costs time quadratic in their number.
    fn sql(&mut self, rows: usize) -> Arc<str> {
        match &self.built {
            Some((n, sql)) if *n == rows => Arc::clone(sql),
            _ => {
                let row = format!("({})", vec!["?"; self.columns.len()].join(", "));
                let mut sql = format!(
                    "INSERT OR FAIL INTO {} ({}) VALUES ",
                    self.table,
                    self.columns.join(", ")
                );
                sql.reserve(rows * (row.len() + 2));
                for r in 0..rows {
                    if r > 0 {
                        sql.push_str(", ");
                    }
                    sql.push_str(&row);
                }
                let sql: Arc<str> = sql.into();
                self.built = Some((rows, Arc::clone(&sql)));
                sql
            }
        }
    }
}

/// Runs one insert; returns the rows it inserted.
async fn execute(
    conn: &mut sqlx::AnyConnection,
    statement: Statement<'_>,
) -> Result<u64, StoreError> {
    Ok(conn::bind(sqlx::query(&statement.sql), statement.values)
        .execute(&mut *conn)
        .await
        .map_err(db("inserting rows"))?
        .rows_affected())
}

async fn update_identity(
    conn: &mut Conn<'_>,
    namespace: &str,
    identity: &Identity,
) -> Result<u64, StoreError> {
    conn.execute(
        "UPDATE identities SET given_name = $3, family_name = $4, role = $5, attributes_from = $6, attributes_priority = $7 \
         WHERE namespace = $1 AND id = $2",
        vec![
            namespace.into(),
            (&identity.id).into(),
            (&identity.given_name).into(),
            (&identity.family_name).into(),
            (&identity.role).into(),
            (&identity.attributes_from).into(),
            Value::Int(identity.attributes_priority.map(i64::from)),
        ],
    )
    .await
    .map_err(db("updating an identity"))
}

/// A provider's stored rows, with the memberships' class digests in place of the
/// memberships if `digests`.
async fn load_snapshot(
    conn: &mut Conn<'_>,
    namespace: &str,
    provider: &str,
    digests: bool,
) -> Result<ProviderSnapshot, StoreError> {
    let (memberships, membership_digests) = if digests {
        let digests = load_digests(conn, namespace, provider).await?;
        (Memberships::default(), Some(digests))
    } else {
        let memberships = load_memberships(conn, namespace, provider).await?;
        (memberships, None)
    };
    Ok(ProviderSnapshot {
        schools: load_table(conn, namespace, provider).await?,
        people: load_people(conn, namespace, provider).await?,
        classes: load_classes(conn, namespace, provider).await?,
        memberships,
        membership_digests,
        guardians: load_table(conn, namespace, provider).await?,
        guardian_links: load_table(conn, namespace, provider).await?,
    })
}

/// The provider's class digests. A digest that does not read as one counts as missing:
/// its class's rows are read back and its digest written again.
async fn load_digests(
    conn: &mut Conn<'_>,
    namespace: &str,
    provider: &str,
) -> Result<ClassDigests, StoreError> {
    let mut digests = Vec::new();
    let mut shared = Interner::default();
    let what = "reading the memberships' digests";
    conn.each_row(
        "SELECT class_id, digest FROM membership_digests \
         WHERE namespace = $1 AND provider = $2 ORDER BY class_id",
        vec![namespace.into(), provider.into()],
        what,
        |row| {
            let class = tables::required_ref(&mut *row, 0, |t| shared.get(t)).map_err(db(what))?;
            let digest = tables::required_ref(&mut *row, 1, |t| u128::from_str_radix(t, 16))
                .map_err(db(what))?;
            if let Ok(digest) = digest {
                digests.push((class, digest));
            }
            Ok(())
        },
    )
    .await?;
    // In byte order, whatever the database's collation.
    if !digests.is_sorted_by(|a, b| a.0 <= b.0) {
        digests.sort_by(|a, b| a.0.cmp(&b.0));
    }
    Ok(ClassDigests(digests))
}

/// A digest as the store keeps it.
fn digest_text(digest: ClassDigest) -> String {
    format!("{digest:032x}")
}

/// `statement` (a SELECT or DELETE of one provider table with a `class_id` column) kept to
/// the provider's rows of `classes`: its SQL, and its values: the namespace and provider as
/// `$1` and `$2`, the classes from `$3` on.
fn of_classes<'c, C: AsRef<str>>(
    statement: &str,
    namespace: &'c str,
    provider: &'c str,
    classes: &'c [C],
) -> (String, Vec<Value<'c>>) {
    let placeholders: Vec<String> = (0..classes.len()).map(|i| format!("${}", i + 3)).collect();
    let sql = format!(
        "{statement} WHERE namespace = $1 AND provider = $2 AND class_id IN ({})",
        placeholders.join(", ")
    );
    let values = [namespace, provider]
        .into_iter()
        .chain(classes.iter().map(AsRef::as_ref))
        .map(Value::from)
        .collect();
    (sql, values)
}

/// Writes the class digests' changes.
async fn write_digests(
    conn: &mut Conn<'_>,
    namespace: &str,
    provider: &str,
    changes: &DigestChanges,
) -> Result<u64, StoreError> {
    let mut written = 0;
    if changes.replace_all {
        written += conn
            .execute(
                "DELETE FROM membership_digests WHERE namespace = $1 AND provider = $2",
                vec![namespace.into(), provider.into()],
            )
            .await
            .map_err(db("replacing the memberships' digests"))?;
    } else {
        // Those put are removed first, then inserted.
        let classes: Vec<&Text> = changes
            .remove
            .iter()
            .chain(changes.put.iter().map(|(class, _)| class))
            .collect();
        for chunk in classes.chunks(CLASSES_PER_STATEMENT) {
            let (sql, values) =
                of_classes("DELETE FROM membership_digests", namespace, provider, chunk);
            written += conn
                .execute(&sql, values)
                .await
                .map_err(db("removing memberships' digests"))?;
        }
    }
    let columns = ["namespace", "provider", "class_id", "digest"];
    let prefix = [Value::from(namespace), Value::from(provider)];
    // A function, not a closure: the future must be Send for any lifetime of the texts.
    fn values((class, digest): &(Text, ClassDigest)) -> [Value<'_>; 2] {
        [Value::from(class), Value::Owned(digest_text(*digest))]
    }
    let rows = changes.put.iter().map(values);
    Ok(written + insert_all(conn, "membership_digests", &columns, &prefix, rows).await?)
}

/// Records that the provider's digests are true to its memberships at its generation
/// (raised already, if this transaction wrote rows).
async fn mark_digests_current(
    conn: &mut Conn<'_>,
    namespace: &str,
    provider: &str,
) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO provider_generations (namespace, provider, generation, digests_generation) \
         VALUES ($1, $2, 0, 0) ON CONFLICT (namespace, provider) \
         DO UPDATE SET digests_generation = provider_generations.generation",
        vec![namespace.into(), provider.into()],
    )
    .await
    .map_err(db("recording the memberships' digests"))?;
    Ok(())
}

/// One provider table, sorted by key. Rows are decoded as they arrive, never all held as
/// driver rows at once; on SQLite they come in bulk (see [`BulkRead`]).
async fn load_table<T: ProviderTable>(
    conn: &mut Conn<'_>,
    namespace: &str,
    provider: &str,
) -> Result<Vec<T>, StoreError> {
    let mut shared = Interner::default();
    let mut loaded = Vec::new();
    load_rows::<T>(conn, namespace, provider, |row| {
        loaded.push(T::decode(row, &mut shared)?);
        Ok(())
    })
    .await?;
    Ok(loaded)
}

/// The provider's memberships, straight into their compact form: no row of four shared
/// texts is made for each.
async fn load_memberships(
    conn: &mut Conn<'_>,
    namespace: &str,
    provider: &str,
) -> Result<Memberships, StoreError> {
    let mut loaded = MembershipsBuilder::default();
    // The rows come in key order: a class's rows come together, with its school and mostly
    // one role. A class, role or school that repeats the row before's takes its number
    // without a lookup in the table (three of every four lookups of a large district's).
    let mut before: [Option<(String, u32)>; 3] = Default::default();
    load_rows::<MembershipRow>(conn, namespace, provider, |mut row| {
        let [class_before, role_before, school_before] = &mut before;
        let class = tables::required_ref(&mut row, 0, |t| {
            number_repeated(&mut loaded, class_before, t)
        })?;
        let person = tables::required_ref(&mut row, 1, |t| loaded.text_str(t))?;
        let role = tables::required_ref(&mut row, 2, |t| {
            number_repeated(&mut loaded, role_before, t)
        })?;
        let school = tables::required_ref(&mut row, 3, |t| {
            number_repeated(&mut loaded, school_before, t)
        })?;
        loaded.push(class, person, role, school);
        Ok(())
    })
    .await?;
    Ok(loaded.finish())
}

/// The number of `text` in `loaded`: the one `before` holds when it is the same text, else
/// looked up, and then held in `before` for the next row.
fn number_repeated(
    loaded: &mut MembershipsBuilder,
    before: &mut Option<(String, u32)>,
    text: &str,
) -> u32 {
    if let Some((held, n)) = before
        && held == text
    {
        return *n;
    }
    let n = loaded.text_str(text);
    match before {
        Some((held, held_n)) => {
            held.clear();
            held.push_str(text);
            *held_n = n;
        }
        None => *before = Some((text.to_owned(), n)),
    }
    n
}

/// The provider's people as a sync compares them.
async fn load_people(
    conn: &mut Conn<'_>,
    namespace: &str,
    provider: &str,
) -> Result<StoredPeople, StoreError> {
    let people = load_compared(conn, namespace, provider, StoredPerson::new).await?;
    Ok(people.into_iter().collect())
}

/// The provider's classes as a sync compares them.
async fn load_classes(
    conn: &mut Conn<'_>,
    namespace: &str,
    provider: &str,
) -> Result<Vec<StoredClass>, StoreError> {
    load_compared(conn, namespace, provider, StoredClass::new).await
}

/// The rows of one provider table as a sync compares them (see `engine::people`): each row
/// is decoded, made into what the sync keeps of it by `keep`, and dropped, so the whole rows
/// are never all held.
async fn load_compared<T: ProviderTable, S>(
    conn: &mut Conn<'_>,
    namespace: &str,
    provider: &str,
    keep: fn(&T, &mut Interner) -> S,
) -> Result<Vec<S>, StoreError> {
    let mut shared = Interner::default();
    let mut loaded = Vec::new();
    load_rows::<T>(conn, namespace, provider, |row| {
        let row = T::decode(row, &mut shared)?;
        loaded.push(keep(&row, &mut shared));
        Ok(())
    })
    .await?;
    loaded.shrink_to_fit();
    Ok(loaded)
}

/// Hands `each` every row of one provider table, in key order, as its key columns then its
/// value columns. On SQLite they come in bulk (see [`BulkRead`]): sqlx's SQLite driver hands
/// rows over one at a time from its worker thread, which for a million rows costs seconds on
/// both threads.
async fn load_rows<T: ProviderTable>(
    conn: &mut Conn<'_>,
    namespace: &str,
    provider: &str,
    mut each: impl FnMut(&mut dyn Columns) -> Result<(), sqlx::Error>,
) -> Result<(), StoreError> {
    let columns = table_columns::<T>();
    if let Conn::Sqlite(conn) = conn {
        let read = BulkRead {
            table: T::TABLE,
            columns: &columns,
            keys: T::KEY_COLUMNS,
            scope: &[("namespace", namespace), ("provider", provider)],
        };
        return read
            .run(conn, |rows| {
                for mut row in rows {
                    each(&mut row).map_err(|e| corrupt::<T>(&e))?;
                }
                Ok(())
            })
            .await;
    }
    let sql = format!(
        "SELECT {} FROM {} WHERE namespace = $1 AND provider = $2 ORDER BY {}",
        columns.join(", "),
        T::TABLE,
        T::KEY_COLUMNS.join(", ")
    );
    let scope = vec![namespace.into(), provider.into()];
    conn.each_row(&sql, scope, "reading the provider's rows", |row| {
        each(row).map_err(|e| corrupt::<T>(&e))
    })
    .await
}

/// Rows one statement of a SQLite bulk read returns.
const SQLITE_ROWS_PER_READ: usize = 10_000;

/// A read of many rows from SQLite in bulk: each statement returns [`SQLITE_ROWS_PER_READ`]
/// rows, sorted by `keys`, as one JSON array of arrays of text built by SQLite itself
/// (`json_group_array`), the next statement starting after the last key. sqlx's SQLite
/// driver would hand rows over one at a time from its worker thread, which for a million
/// rows costs seconds on both threads. The values are borrowed from the JSON text where
/// they need no unescaping.
///
/// The statement's inner query reads the rows in key order along the primary key, and
/// SQLite aggregates them in that order; as SQLite does not promise it, the rows' order is
/// checked here, and they are sorted if it ever differs. Asking SQLite for the order
/// (`json_group_array(... ORDER BY ...)`) made it sort every statement's rows again through
/// a temporary B-tree: a third of the read's time.
struct BulkRead<'a> {
    table: &'a str,
    /// Selected in this order; each is text or NULL (cast integers to text).
    columns: &'a [&'a str],
    /// A unique key of the rows within `scope`, NOT NULL: the order of the read.
    keys: &'a [&'a str],
    /// `column = value` conditions the rows meet.
    scope: &'a [(&'a str, &'a str)],
}

impl BulkRead<'_> {
    /// One statement's rows as SQLite's JSON text: the first, or those after `after`.
    async fn fetch(
        &self,
        conn: &mut sqlx::AnyConnection,
        sql: &str,
        after: Option<Vec<String>>,
    ) -> Result<String, StoreError> {
        let mut query = sqlx::query_scalar::<_, String>(sql);
        for (_, value) in self.scope {
            query = query.bind(*value);
        }
        for value in after.into_iter().flatten() {
            query = query.bind(value);
        }
        query
            .fetch_one(conn)
            .await
            .map_err(db("reading rows in bulk"))
    }

    /// Reads every row, handing `each` one statement's rows at a time.
    async fn run(
        &self,
        conn: &mut sqlx::AnyConnection,
        mut each: impl FnMut(Vec<Vec<BulkValue<'_>>>) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        // Selected as c0, c1, ... inside, so that the outer query names them whatever
        // expression they are.
        let key_positions: Vec<usize> = self
            .keys
            .iter()
            .filter_map(|k| self.columns.iter().position(|c| c == k))
            .collect();
        if key_positions.len() != self.keys.len() {
            return Err(StoreError::Corrupt(format!(
                "{}: a bulk read must select its key columns",
                self.table
            )));
        }
        let inner: Vec<String> = self
            .columns
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c} AS c{i}"))
            .collect();
        let outer: Vec<String> = (0..self.columns.len()).map(|i| format!("c{i}")).collect();
        let keys = self.keys.join(", ");
        let scope: Vec<String> = self
            .scope
            .iter()
            .enumerate()
            .map(|(i, (column, _))| format!("{column} = ${}", i + 1))
            .collect();
        let after_key: Vec<String> = (0..self.keys.len())
            .map(|i| format!("${}", self.scope.len() + i + 1))
            .collect();
        let statement = |after: &str| {
            format!(
                "SELECT json_group_array(json_array({outer})) FROM \
                 (SELECT {inner} FROM {table} WHERE {scope}{after} \
                 ORDER BY {keys} LIMIT {SQLITE_ROWS_PER_READ})",
                outer = outer.join(", "),
                inner = inner.join(", "),
                table = self.table,
                scope = scope.join(" AND "),
            )
        };
        let first = statement("");
        let next = statement(&format!(" AND ({keys}) > ({})", after_key.join(", ")));
        let mut json = self.fetch(&mut *conn, &first, None).await?;
        loop {
            // The parser's message may quote a value: only where it failed is kept.
            let mut rows: Vec<Vec<BulkValue<'_>>> = serde_json::from_str(&json).map_err(|e| {
                StoreError::Corrupt(format!(
                    "{}: a bulk read did not parse ({:?} at column {})",
                    self.table,
                    e.classify(),
                    e.column()
                ))
            })?;
            in_key_order(&mut rows, &key_positions);
            if rows.len() < SQLITE_ROWS_PER_READ {
                return each(rows);
            }
            // Key columns are NOT NULL: a row without its key is not one this store wrote.
            let last_key = rows
                .last()
                .and_then(|row| {
                    key_positions
                        .iter()
                        .map(|&i| row.get(i).and_then(|v| v.0.as_deref()).map(str::to_owned))
                        .collect::<Option<Vec<String>>>()
                })
                .ok_or_else(|| {
                    StoreError::Corrupt(format!("{}: a row without its key", self.table))
                })?;
            // SQLite reads the next rows on its worker thread while these are handed over.
            let (fetched, handed) =
                futures::join!(self.fetch(&mut *conn, &next, Some(last_key)), async {
                    each(rows)
                });
            handed?;
            json = fetched?;
        }
    }
}

/// Sorts a bulk read's rows by the values at `key_positions`, unless they already are (as
/// SQLite returns them; see [`BulkRead`]).
fn in_key_order(rows: &mut [Vec<BulkValue<'_>>], key_positions: &[usize]) {
    let by_key = |a: &Vec<BulkValue<'_>>, b: &Vec<BulkValue<'_>>| {
        key_positions
            .iter()
            .map(|&i| a.get(i).cmp(&b.get(i)))
            .find(|order| order.is_ne())
            .unwrap_or(std::cmp::Ordering::Equal)
    };
    if !rows.is_sorted_by(|a, b| by_key(a, b).is_le()) {
        rows.sort_by(by_key);
    }
}

/// A table's key columns, then its value columns: the order [`ProviderTable::decode`] reads.
fn table_columns<T: ProviderTable>() -> Vec<&'static str> {
    T::KEY_COLUMNS
        .iter()
        .chain(T::VALUE_COLUMNS)
        .copied()
        .collect()
}

fn corrupt<T: ProviderTable>(error: &sqlx::Error) -> StoreError {
    StoreError::Corrupt(format!("{}: {error}", T::TABLE))
}

async fn write_table<T: ProviderTable>(
    conn: &mut Conn<'_>,
    namespace: &str,
    provider: &str,
    changes: &TableChanges<T>,
) -> Result<u64, StoreError> {
    let written =
        delete_and_update::<T>(conn, namespace, provider, &changes.delete, &changes.update).await?;
    let rows = changes.insert.iter().map(ProviderTable::values);
    Ok(written + insert_table::<T, _>(conn, namespace, provider, rows).await?)
}

/// The memberships' writes: the new rows are bound from their compact form.
async fn write_memberships(
    conn: &mut Conn<'_>,
    namespace: &str,
    provider: &str,
    changes: &MembershipChanges,
) -> Result<u64, StoreError> {
    let written = delete_and_update::<MembershipRow>(
        conn,
        namespace,
        provider,
        &changes.delete,
        &changes.update,
    )
    .await?;
    // A function, not a closure: the future must be Send for any lifetime of the texts.
    fn values(texts: [&str; 4]) -> [Value<'_>; 4] {
        texts.map(Value::from)
    }
    let rows = changes.insert.texts_of_rows().map(values);
    Ok(written + insert_table::<MembershipRow, _>(conn, namespace, provider, rows).await?)
}

/// Removes the rows of `delete`'s keys and writes `update`'s rows over theirs, one
/// statement per row: each finds its row through the key with bound values, which every
/// planner answers from the key's index whatever it believes of the table's size.
async fn delete_and_update<'a, T: ProviderTable>(
    conn: &mut Conn<'_>,
    namespace: &'a str,
    provider: &'a str,
    delete: &'a [T::Key],
    update: &'a [T],
) -> Result<u64, StoreError> {
    let key_filter: Vec<String> = T::KEY_COLUMNS
        .iter()
        .enumerate()
        .map(|(i, c)| format!("{c} = ${}", i + 3))
        .collect();
    let key_filter = key_filter.join(" AND ");
    let mut written = 0;

    let delete_sql = format!(
        "DELETE FROM {} WHERE namespace = $1 AND provider = $2 AND {key_filter}",
        T::TABLE
    );
    let scoped = |values: Vec<Value<'a>>| {
        let mut scoped = vec![Value::from(namespace), Value::from(provider)];
        scoped.extend(values);
        scoped
    };
    for key in delete {
        written += conn
            .execute(&delete_sql, scoped(T::key_values(key)))
            .await
            .map_err(db("deleting rows"))?;
    }

    let first_value = 3 + T::KEY_COLUMNS.len();
    let assignments: Vec<String> = T::VALUE_COLUMNS
        .iter()
        .enumerate()
        .map(|(i, c)| format!("{c} = ${}", first_value + i))
        .collect();
    let update_sql = format!(
        "UPDATE {} SET {} WHERE namespace = $1 AND provider = $2 AND {key_filter}",
        T::TABLE,
        assignments.join(", ")
    );
    for row in update {
        // Key columns, then the others: $3 on.
        written += conn
            .execute(&update_sql, scoped(row.values()))
            .await
            .map_err(db("updating rows"))?;
    }
    Ok(written)
}

/// Inserts rows, each given as its key columns' then its other columns' values, in
/// statements of many rows.
async fn insert_table<'a, T: ProviderTable, R: IntoIterator<Item = Value<'a>>>(
    conn: &mut Conn<'_>,
    namespace: &'a str,
    provider: &'a str,
    rows: impl Iterator<Item = R>,
) -> Result<u64, StoreError> {
    let columns: Vec<&str> = ["namespace", "provider"]
        .into_iter()
        .chain(T::KEY_COLUMNS.iter().copied())
        .chain(T::VALUE_COLUMNS.iter().copied())
        .collect();
    let prefix = [Value::from(namespace), Value::from(provider)];
    insert_all(conn, T::TABLE, &columns, &prefix, rows).await
}

async fn insert_run(conn: &mut Conn<'_>, run: &SyncRunRecord) -> Result<(), StoreError> {
    let json = |v: serde_json::Result<String>| {
        v.map_err(|e| StoreError::Corrupt(format!("encoding a sync report: {e}")))
    };
    let counts = json(serde_json::to_string(&run.report.counts))?;
    let problems = json(serde_json::to_string(&run.report.problems))?;
    conn.execute(
        "INSERT INTO sync_runs (run_id, namespace, provider, trigger_kind, started_at, completed_at, result, error_code, message, counts, problems, rows_written) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        vec![
            (&run.run_id).into(),
            (&run.namespace).into(),
            (&run.provider).into(),
            (&run.trigger).into(),
            Value::Int(Some(run.started_at)),
            Value::Int(Some(run.completed_at)),
            run.report.result.as_str().into(),
            Value::Text(run.report.error_code.map(|c| c.as_str())),
            (&run.report.message).into(),
            Value::Owned(counts),
            Value::Owned(problems),
            Value::Int(Some(i64::try_from(run.rows_written).unwrap_or(i64::MAX))),
        ],
    )
    .await
    .map_err(db("recording the sync"))?;
    for (seq, line) in run.log.iter().enumerate() {
        conn.execute(
            "INSERT INTO sync_run_log (run_id, seq, at, line) VALUES ($1, $2, $3, $4)",
            vec![
                (&run.run_id).into(),
                Value::Int(Some(seq as i64)),
                Value::Int(Some(run.completed_at)),
                line.into(),
            ],
        )
        .await
        .map_err(db("recording the sync's log"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::report::{Counts, SyncReport, SyncResult};

    impl Store {
        /// The pool of a SQLite store.
        fn sqlite_pool(&self) -> &sqlx::AnyPool {
            match &self.pool {
                Pool::Sqlite(pool) => pool,
                Pool::Postgres(_) => panic!("a SQLite store"),
            }
        }
    }

    /// A bulk read's values borrow the JSON text, except those it had to unescape; NULL is
    /// none.
    #[test]
    fn a_bulk_read_borrows_what_needs_no_unescaping() {
        let json = r#"[["c-1","a \"quoted\" title",null]]"#;
        let rows: Vec<Vec<BulkValue<'_>>> = serde_json::from_str(json).expect("parses");
        let [plain, escaped, null] = &rows[0][..] else {
            panic!("three values, not {:?}", rows[0]);
        };
        assert!(matches!(plain.0, Some(std::borrow::Cow::Borrowed("c-1"))));
        assert!(
            matches!(&escaped.0, Some(std::borrow::Cow::Owned(t)) if t == r#"a "quoted" title"#)
        );
        assert_eq!(null.0, None);
        let mut row = rows[0].clone();
        assert_eq!(
            row.text(1).expect("column 1").as_deref(),
            Some(r#"a "quoted" title"#)
        );
        assert!(
            row.text(3).is_err(),
            "a column past the row's end is an error"
        );
    }

    /// Rows that do not come in key order are sorted by their key columns (first key
    /// column, then the second); rows that do are left as they came.
    #[test]
    fn bulk_read_rows_are_put_in_key_order() {
        let row = |values: &[Option<&'static str>]| -> Vec<BulkValue<'static>> {
            values
                .iter()
                .map(|v| BulkValue(v.map(std::borrow::Cow::Borrowed)))
                .collect()
        };
        // Keys at positions 2 and 0; position 1 is a value.
        let mut rows = vec![
            row(&[Some("p2"), Some("x"), Some("c1")]),
            row(&[Some("p1"), Some("y"), Some("c2")]),
            row(&[Some("p1"), Some("z"), Some("c1")]),
        ];
        in_key_order(&mut rows, &[2, 0]);
        let keys: Vec<_> = rows
            .iter()
            .map(|r| (r[2].0.as_deref(), r[0].0.as_deref(), r[1].0.as_deref()))
            .collect();
        assert_eq!(
            keys,
            [
                (Some("c1"), Some("p1"), Some("z")),
                (Some("c1"), Some("p2"), Some("x")),
                (Some("c2"), Some("p1"), Some("y")),
            ]
        );
        let sorted = rows.clone();
        in_key_order(&mut rows, &[2, 0]);
        assert_eq!(rows, sorted);
    }

    /// Fails unless the store's `memberships` is a table without a rowid.
    async fn assert_memberships_clustered(store: &Store) {
        let table: String =
            sqlx::query_scalar("SELECT sql FROM sqlite_master WHERE name = 'memberships'")
                .fetch_one(store.sqlite_pool())
                .await
                .expect("the table's definition");
        assert!(table.ends_with("WITHOUT ROWID"), "{table}");
    }

    /// A SQLite store made before memberships were clustered on their key keeps its
    /// memberships through the migration, in a table without a rowid; a new store has that
    /// table from the start, and records every migration as applied.
    #[tokio::test]
    async fn sqlite_memberships_move_into_a_clustered_table_with_their_rows() {
        let dir = std::env::temp_dir().join(format!("classlink-migrate-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temporary directory");
        let path = dir.join("roster.db");
        let _ = std::fs::remove_file(&path);
        let path = path.to_str().expect("a UTF-8 path");
        sqlx::any::install_default_drivers();
        let (url, _) = normalise_url(path).expect("a SQLite URL");
        {
            // The schema as the second migration left it, with two memberships.
            let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&url)
                .await
                .expect("connect");
            sqlx::raw_sql(
                "CREATE TABLE schema_migrations (version BIGINT NOT NULL PRIMARY KEY, applied_at BIGINT NOT NULL)",
            )
            .execute(&mut conn)
            .await
            .expect("schema_migrations");
            for migration in &MIGRATIONS[..2] {
                sqlx::raw_sql(migration.sql)
                    .execute(&mut conn)
                    .await
                    .expect("an earlier migration");
                sqlx::query("INSERT INTO schema_migrations VALUES ($1, 0)")
                    .bind(migration.version)
                    .execute(&mut conn)
                    .await
                    .expect("recorded");
            }
            sqlx::raw_sql(
                "INSERT INTO memberships VALUES \
                 ('ns', 'district', 'c-1', 'p-1', 'student', 's-1'), \
                 ('ns', 'district', 'c-1', 'p-2', 'teacher', 's-1')",
            )
            .execute(&mut conn)
            .await
            .expect("memberships");
        }
        let store = Store::open(path).await.expect("open migrates");
        let rows: Vec<(String, String, String, String)> = sqlx::query_as(
            "SELECT class_id, person_id, role, school FROM memberships ORDER BY person_id",
        )
        .fetch_all(store.sqlite_pool())
        .await
        .expect("memberships after the migration");
        assert_eq!(
            rows,
            [
                ("c-1".into(), "p-1".into(), "student".into(), "s-1".into()),
                ("c-1".into(), "p-2".into(), "teacher".into(), "s-1".into()),
            ]
        );
        assert_memberships_clustered(&store).await;
        store.close().await.expect("close");

        let fresh = dir.join("fresh.db");
        let _ = std::fs::remove_file(&fresh);
        let store = Store::open(fresh.to_str().expect("a UTF-8 path"))
            .await
            .expect("open");
        assert_memberships_clustered(&store).await;
        let versions: Vec<i64> = sqlx::query_scalar(
            "SELECT version FROM schema_migrations WHERE version > 0 ORDER BY version",
        )
        .fetch_all(store.sqlite_pool())
        .await
        .expect("versions");
        let expected: Vec<i64> = MIGRATIONS.iter().map(|m| m.version).collect();
        assert_eq!(versions, expected);
        store.close().await.expect("close");
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A PostgreSQL store made before its keys compared in byte order (migration 5) and
    /// before two unused indexes were dropped (6, 7) keeps every row through them, and
    /// its digests' generation starts out of use (4). Needs the PostgreSQL the tests use
    /// (`CLASSLINK_TEST_POSTGRES_URL`, default the local one; hack/ensure-postgres.sh).
    #[tokio::test]
    async fn a_postgres_store_keeps_its_rows_through_the_later_migrations() {
        let admin = std::env::var("CLASSLINK_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres:postgres@127.0.0.1:5432/postgres".into());
        let name = format!(
            "classlink_migrate_{}_{}",
            std::process::id(),
            fastrand::u32(..)
        );
        let mut admin_conn = <sqlx::PgConnection as sqlx::Connection>::connect(&admin)
            .await
            .unwrap_or_else(|e| panic!("PostgreSQL at {admin} (hack/ensure-postgres.sh): {e}"));
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin_conn)
            .await
            .expect("a database of its own");
        let (base, _) = admin.rsplit_once('/').expect("a database in the URL");
        let url = format!("{base}/{name}");
        sqlx::any::install_default_drivers();
        {
            // The schema as the fourth migration left it, with a person and a membership.
            let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&url)
                .await
                .expect("connect");
            sqlx::raw_sql(
                "CREATE TABLE schema_migrations (version BIGINT NOT NULL PRIMARY KEY, applied_at BIGINT NOT NULL)",
            )
            .execute(&mut conn)
            .await
            .expect("schema_migrations");
            for migration in MIGRATIONS.iter().filter(|m| m.version <= 4) {
                if migration.only_on != Some(Backend::Sqlite) {
                    sqlx::raw_sql(migration.sql)
                        .execute(&mut conn)
                        .await
                        .expect("an earlier migration");
                }
                sqlx::query("INSERT INTO schema_migrations VALUES ($1, 0)")
                    .bind(migration.version)
                    .execute(&mut conn)
                    .await
                    .expect("recorded");
            }
            sqlx::raw_sql(
                "INSERT INTO memberships VALUES ('ns', 'district', 'c-1', 'p-1', 'student', 's-1'); \
                 INSERT INTO people (namespace, provider, sourced_id, identity_id, role, grades, schools) \
                 VALUES ('ns', 'district', 'p-1', 'u-1', 'student', '', 's-1'); \
                 INSERT INTO provider_generations VALUES ('ns', 'district', 3, NULL)",
            )
            .execute(&mut conn)
            .await
            .expect("rows");
        }
        let store = Store::open(&url).await.expect("open migrates");
        let snapshot = store.snapshot("ns", "district").await.expect("snapshot");
        assert_eq!(snapshot.memberships.len(), 1);
        assert_eq!(snapshot.people.len(), 1);
        let mut tx = store.begin("a test's read").await.expect("a transaction");
        let mut conn = tx.conn();
        let generation = provider_generation(&mut conn, "ns", "district")
            .await
            .expect("generation");
        assert_eq!(
            generation,
            Generation {
                generation: 3,
                digests_current: false
            }
        );
        let collation = conn
            .rows(
                "SELECT collation_name::text FROM information_schema.columns \
                 WHERE table_name = 'memberships' AND column_name = 'class_id'",
                Vec::new(),
                "the column's collation",
                |row| row.text(0),
            )
            .await
            .expect("the column's collation");
        assert_eq!(collation, [Some("C".to_owned())]);
        let indexes = conn
            .rows(
                "SELECT indexname::text FROM pg_indexes \
                 WHERE indexname IN ('people_by_identity', 'identities_by_email')",
                Vec::new(),
                "the indexes",
                |row| row.text(0),
            )
            .await
            .expect("the indexes");
        assert!(indexes.is_empty(), "{indexes:?}");
        tx.rollback().await.expect("rollback");
        store.close().await.expect("close");
        let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .execute(&mut admin_conn)
            .await;
    }

    /// A sync writes with a larger SQLite page cache, and hands its connection back to the
    /// pool with the default one, so the pool's connections never keep the larger cache.
    #[tokio::test]
    async fn a_sync_leaves_its_connection_with_the_default_page_cache() {
        let dir = std::env::temp_dir().join(format!("classlink-page-cache-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temporary directory");
        let path = dir.join("roster.db");
        let store = Store::open(path.to_str().expect("a UTF-8 path"))
            .await
            .expect("open");
        let txn = store
            .begin_sync("schools", "district")
            .await
            .expect("begin");
        let mut run = SyncRunRecord {
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
        };
        // One row to write: a sync that writes nothing keeps the default cache throughout.
        let mut changes = ChangeSet::default();
        changes
            .schools
            .insert
            .push(crate::engine::model::SchoolRow {
                sourced_id: "org-1".into(),
                name: "Riverside High".into(),
                identifier: None,
            });
        txn.commit(Some(&changes), &mut run).await.expect("commit");
        // The committed connection goes back to the pool from a task of its own.
        let pool = store.sqlite_pool();
        for _ in 0..100 {
            if pool.num_idle() == pool.size() as usize {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let mut idle = Vec::new();
        while let Some(mut conn) = pool.try_acquire() {
            let kib: i64 = sqlx::query_scalar("PRAGMA cache_size")
                .fetch_one(&mut *conn)
                .await
                .expect("cache_size");
            assert_eq!(kib, -i64::from(SQLITE_DEFAULT_CACHE_KIB));
            idle.push(conn);
        }
        assert!(
            !idle.is_empty(),
            "the sync's connection is back in the pool"
        );
        drop(idle);
        store.close().await.expect("close");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
