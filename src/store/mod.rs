//! The roster store: SQLite (embedded, the default) or PostgreSQL (production), one schema
//! and one implementation over sqlx's `Any` driver.
//!
//! A sync writes in one transaction per provider, holding the namespace's row in
//! `namespace_locks`, so two operator replicas or two providers of one namespace never
//! interleave, and an error or a kill mid-write leaves the previous snapshot whole.

mod tables;

use std::sync::Arc;
use std::time::Duration;

use futures_util::TryStreamExt as _;
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{Any, AnyPool, Row as _, Transaction};

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
    pool: AnyPool,
    backend: Backend,
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
        sqlx::any::install_default_drivers();
        let (url, backend) = normalise_url(url)?;
        let mut options = AnyPoolOptions::new()
            .max_connections(if backend == Backend::Sqlite { 4 } else { 8 })
            .acquire_timeout(Duration::from_secs(30));
        if backend == Backend::Sqlite {
            options = options.after_connect(|conn, _| {
                Box::pin(async move {
                    let busy = format!("PRAGMA busy_timeout = {}", SQLITE_BUSY_TIMEOUT.as_millis());
                    sqlx::query(&busy).execute(&mut *conn).await?;
                    sqlx::query("PRAGMA foreign_keys = ON")
                        .execute(&mut *conn)
                        .await?;
                    Ok(())
                })
            });
        }
        let pool = options
            .connect(&url)
            .await
            .map_err(db("connecting to the database"))?;
        if backend == Backend::Sqlite {
            // WAL lets readers (status, `identities list`) work during a long sync write.
            sqlx::query("PRAGMA journal_mode = WAL")
                .execute(&pool)
                .await
                .map_err(db("turning on SQLite's write-ahead log"))?;
        }
        let store = Store { pool, backend };
        store.migrate().await?;
        Ok(store)
    }

    /// A transaction on a pooled connection; `what` names its start in an error.
    async fn begin(&self, what: &'static str) -> Result<Transaction<'static, Any>, StoreError> {
        self.pool.begin().await.map_err(db(what))
    }

    /// Which database this is.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Closes the store. On SQLite the write-ahead log is first copied into the database
    /// file and emptied (`PRAGMA wal_checkpoint(TRUNCATE)`), so the `.db` file alone holds
    /// everything: a user may copy it, back it up or open it read-only. Every command that
    /// opened the store calls this when it ends, also after SIGTERM or SIGINT.
    ///
    /// The pool is closed even when the checkpoint fails; the data is then still safe in the
    /// `-wal` file next to the database, which SQLite replays on the next open.
    pub async fn close(self) -> Result<(), StoreError> {
        let checkpointed = match self.backend {
            Backend::Sqlite => match self.pool.acquire().await {
                Ok(mut conn) => checkpoint(&mut conn).await,
                Err(e) => Err(db("connecting to checkpoint the write-ahead log")(e)),
            },
            Backend::Postgres => Ok(()),
        };
        self.pool.close().await;
        checkpointed
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT NOT NULL PRIMARY KEY, applied_at BIGINT NOT NULL)",
        )
        .execute(&self.pool)
        .await
        .map_err(db("creating schema_migrations"))?;
        for Migration {
            version,
            sql,
            only_on,
        } in MIGRATIONS
        {
            let mut tx = self.begin("starting a migration").await?;
            // Two processes starting at once: writing row 0 first makes the second wait
            // here until the first commits, then it sees the version applied.
            sqlx::query(
                "INSERT INTO schema_migrations (version, applied_at) VALUES (0, $1) \
                 ON CONFLICT (version) DO UPDATE SET applied_at = excluded.applied_at",
            )
            .bind(now())
            .execute(&mut *tx)
            .await
            .map_err(db("locking schema_migrations"))?;
            let applied: Option<i64> =
                sqlx::query_scalar("SELECT version FROM schema_migrations WHERE version = $1")
                    .bind(*version)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(db("reading schema_migrations"))?;
            if applied.is_some() {
                continue;
            }
            if only_on.is_none_or(|backend| backend == self.backend) {
                sqlx::raw_sql(sql)
                    .execute(&mut *tx)
                    .await
                    .map_err(db("applying a migration"))?;
            }
            sqlx::query("INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)")
                .bind(*version)
                .bind(now())
                .execute(&mut *tx)
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
        lock_namespace(&mut tx, namespace).await?;
        // The namespace's emails, read once under the lock (no index serves a lookup by
        // email: see migrations/0007_drop_identities_by_email.sql).
        let mut present: std::collections::HashSet<String> = sqlx::query_scalar(
            "SELECT email FROM identities WHERE namespace = $1 AND email IS NOT NULL",
        )
        .bind(namespace)
        .fetch_all(&mut *tx)
        .await
        .map_err(db("reading the namespace's emails"))?
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
            insert_identities(
                &mut tx,
                self.backend,
                namespace,
                std::slice::from_ref(&identity),
            )
            .await?;
            added += 1;
        }
        tx.commit().await.map_err(db("committing the import"))?;
        Ok(added)
    }

    /// The platform users of a namespace, by email then id.
    pub async fn identities(&self, namespace: &str) -> Result<Vec<Identity>, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(db("connecting"))?;
        load_identities(&mut conn, self.backend, namespace).await
    }

    /// Starts a sync of one provider: takes the namespace's lock and loads what the engine
    /// decides from. Nothing is visible to others until [`SyncTransaction::commit`].
    pub async fn begin_sync(
        &self,
        namespace: &str,
        provider: &str,
    ) -> Result<SyncTransaction, StoreError> {
        let mut txn = self.begin_sync_after(namespace, provider, None).await?;
        txn.identities = txn.load_identities().await?;
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
        if self.backend == Backend::Postgres {
            // One snapshot for every statement below; SQLite's read transaction is one
            // already (its first read fixes what the rest see).
            sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                .execute(&mut *tx)
                .await
                .map_err(db("starting to read the provider's rows"))?;
        }
        let generation = provider_generation(&mut tx, namespace, provider).await?;
        let snapshot = load_snapshot(
            &mut tx,
            self.backend,
            namespace,
            provider,
            generation.digests_current,
        )
        .await?;
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
        lock_namespace(&mut tx, namespace).await?;
        let generation = provider_generation(&mut tx, namespace, provider).await?;
        let ahead = ahead.filter(|a| {
            a.namespace == namespace && a.provider == provider && a.generation == generation
        });
        let read_ahead_used = ahead.is_some();
        let snapshot = match ahead {
            Some(ahead) => ahead.snapshot,
            None => {
                let digests = generation.digests_current;
                load_snapshot(&mut tx, self.backend, namespace, provider, digests).await?
            }
        };
        Ok(SyncTransaction {
            tx,
            backend: self.backend,
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
        let snapshot = load_snapshot(&mut tx, self.backend, namespace, provider, false).await;
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
        let generation = provider_generation(&mut tx, namespace, provider).await?;
        if !generation.digests_current {
            return Ok(None);
        }
        let stored = load_digests(&mut tx, namespace, provider).await?;
        let rows = load_memberships(&mut tx, self.backend, namespace, provider).await?;
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
        insert_run(&mut tx, run).await?;
        tx.commit().await.map_err(db("recording a sync"))
    }

    /// The recorded syncs of a provider, oldest first.
    pub async fn sync_runs(
        &self,
        namespace: &str,
        provider: &str,
    ) -> Result<Vec<SyncRunRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT run_id, trigger_kind, started_at, completed_at, result, error_code, message, counts, problems, rows_written \
             FROM sync_runs WHERE namespace = $1 AND provider = $2 ORDER BY started_at, run_id",
        )
        .bind(namespace)
        .bind(provider)
        .fetch_all(&self.pool)
        .await
        .map_err(db("reading sync runs"))?;
        let mut runs = Vec::with_capacity(rows.len());
        for row in rows {
            runs.push(self.decode_run(namespace, provider, &row).await?);
        }
        Ok(runs)
    }

    async fn decode_run(
        &self,
        namespace: &str,
        provider: &str,
        row: &AnyRow,
    ) -> Result<SyncRunRecord, StoreError> {
        let get_text = |i: usize| -> Result<Option<String>, StoreError> {
            row.try_get::<Option<String>, _>(i)
                .map_err(db("decoding a sync run"))
        };
        let get_int = |i: usize| -> Result<i64, StoreError> {
            row.try_get::<i64, _>(i).map_err(db("decoding a sync run"))
        };
        let run_id = get_text(0)?.unwrap_or_default();
        let result: crate::engine::report::SyncResult =
            serde_json::from_value(serde_json::Value::String(get_text(4)?.unwrap_or_default()))
                .map_err(|e| StoreError::Corrupt(format!("sync run {run_id}: result: {e}")))?;
        let error_code = get_text(5)?
            .map(|c| c.parse::<ErrorCode>())
            .transpose()
            .map_err(|e| StoreError::Corrupt(format!("sync run {run_id}: {e}")))?;
        let counts = serde_json::from_str(&get_text(7)?.unwrap_or_default())
            .map_err(|e| StoreError::Corrupt(format!("sync run {run_id}: counts: {e}")))?;
        let problems = serde_json::from_str(&get_text(8)?.unwrap_or_default())
            .map_err(|e| StoreError::Corrupt(format!("sync run {run_id}: problems: {e}")))?;
        let log: Vec<String> =
            sqlx::query_scalar("SELECT line FROM sync_run_log WHERE run_id = $1 ORDER BY seq")
                .bind(&run_id)
                .fetch_all(&self.pool)
                .await
                .map_err(db("reading a sync's log"))?;
        Ok(SyncRunRecord {
            namespace: namespace.to_owned(),
            provider: provider.to_owned(),
            trigger: get_text(1)?.unwrap_or_default(),
            started_at: get_int(2)?,
            completed_at: get_int(3)?,
            report: SyncReport {
                result,
                error_code,
                message: get_text(6)?.unwrap_or_default(),
                counts,
                problems,
                schools: Vec::new(),
            },
            rows_written: u64::try_from(get_int(9)?).unwrap_or_default(),
            log,
            run_id,
        })
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
        let mut conn = self.pool.acquire().await.map_err(db("connecting"))?;
        let row = sqlx::query(
            "SELECT id, email, given_name, family_name, role, source, attributes_from, attributes_priority, created_at \
             FROM identities WHERE namespace = $1 AND lower(email) = lower($2) ORDER BY id LIMIT 1",
        )
        .bind(namespace)
        .bind(email)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db("looking up an identity"))?;
        let identity = row
            .map(|row| {
                Ok::<_, sqlx::Error>(IdentityRecord {
                    identity: decode_identity(&row)?,
                    created_at: row.try_get::<i64, _>(8)?,
                })
            })
            .transpose()
            .map_err(db("decoding an identity"))?;
        let identity_id = identity.as_ref().map(|i| i.identity.id.clone());

        let columns: Vec<&str> = <PersonRow as ProviderTable>::KEY_COLUMNS
            .iter()
            .chain(<PersonRow as ProviderTable>::VALUE_COLUMNS)
            .copied()
            .collect();
        let sql = format!(
            "SELECT {}, provider FROM people WHERE namespace = $1 AND (identity_id = $2 OR lower(email) = lower($3)) ORDER BY provider, sourced_id",
            columns.join(", ")
        );
        let rows = sqlx::query(&sql)
            .bind(namespace)
            .bind(identity_id.unwrap_or_default())
            .bind(email)
            .fetch_all(&mut *conn)
            .await
            .map_err(db("looking up a person"))?;
        let provider_column = columns.len();
        let mut records = Vec::with_capacity(rows.len());
        for row in &rows {
            let person = PersonRow::decode(row, &mut Interner::default())
                .map_err(|e| StoreError::Corrupt(format!("people: {e}")))?;
            let provider: String = row
                .try_get::<Option<String>, _>(provider_column)
                .map_err(db("decoding a person"))?
                .unwrap_or_default();
            let mut schools = Vec::with_capacity(person.schools.len());
            for school in &person.schools {
                let name: Option<String> = sqlx::query_scalar(
                    "SELECT name FROM schools WHERE namespace = $1 AND provider = $2 AND sourced_id = $3",
                )
                .bind(namespace)
                .bind(&provider)
                .bind(school)
                .fetch_optional(&mut *conn)
                .await
                .map_err(db("reading a school"))?;
                schools.push((school.clone(), name.unwrap_or_default()));
            }
            let classes = sqlx::query(
                "SELECT m.class_id, c.title, m.school, m.role FROM memberships m \
                 LEFT JOIN classes c ON c.namespace = m.namespace AND c.provider = m.provider AND c.sourced_id = m.class_id \
                 WHERE m.namespace = $1 AND m.provider = $2 AND m.person_id = $3 ORDER BY m.class_id",
            )
            .bind(namespace)
            .bind(&provider)
            .bind(&person.sourced_id)
            .fetch_all(&mut *conn)
            .await
            .map_err(db("reading a person's classes"))?
            .iter()
            .map(|row| {
                let text = |i: usize| row.try_get::<Option<String>, _>(i);
                Ok(ClassMembership {
                    sourced_id: text(0)?.unwrap_or_default(),
                    title: text(1)?,
                    school: text(2)?.unwrap_or_default(),
                    role: text(3)?.unwrap_or_default(),
                })
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()
            .map_err(db("decoding a person's classes"))?;
            let last_change = self
                .sync_runs(namespace, &provider)
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
        lock_namespace(&mut tx, namespace).await?;
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
            removed += sqlx::query(&sql)
                .bind(namespace)
                .bind(provider)
                .execute(&mut *tx)
                .await
                .map_err(db("deleting a provider's rows"))?
                .rows_affected();
        }
        // Bookkeeping, not counted among the rows removed; the generation's raise below
        // leaves any digest unused anyway.
        sqlx::query("DELETE FROM membership_digests WHERE namespace = $1 AND provider = $2")
            .bind(namespace)
            .bind(provider)
            .execute(&mut *tx)
            .await
            .map_err(db("deleting a provider's rows"))?;
        sqlx::query("UPDATE identities SET attributes_from = NULL, attributes_priority = NULL WHERE namespace = $1 AND attributes_from = $2")
            .bind(namespace)
            .bind(provider)
            .execute(&mut *tx)
            .await
            .map_err(db("releasing a provider's attributes"))?;
        // Raised, never reset: a read-ahead from before the deletion must not pass for one
        // of rows a later sync writes.
        raise_generation(&mut tx, namespace, provider).await?;
        tx.commit().await.map_err(db("committing the deletion"))?;
        Ok(removed)
    }
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
    tx: Transaction<'static, Any>,
    backend: Backend,
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
        if classes.len() > digested / READ_EVERY_MEMBERSHIP_ABOVE_ONE_IN {
            let mut all = load_memberships(&mut self.tx, self.backend, ns, provider).await?;
            all.retain_classes(classes);
            return Ok(all);
        }
        let mut loaded = MembershipsBuilder::default();
        for chunk in classes.chunks(CLASSES_PER_STATEMENT) {
            let (sql, values) = of_classes(
                "SELECT class_id, person_id, role, school FROM memberships",
                chunk,
            );
            let query = sqlx::query(&sql).bind(ns).bind(provider);
            let mut rows = bind_values(query, values).fetch(&mut *self.tx);
            while let Some(row) = rows
                .try_next()
                .await
                .map_err(db("reading the memberships of classes"))?
            {
                let mut row = &row;
                let mut number = |i| {
                    tables::required_ref(&mut row, i, |t| loaded.text_str(t))
                        .map_err(|e| corrupt::<MembershipRow>(&e))
                };
                let (class, person, role, school) =
                    (number(0)?, number(1)?, number(2)?, number(3)?);
                loaded.push(class, person, role, school);
            }
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

    /// Reads the namespace's platform users under the transaction's lock, by email then id.
    pub async fn load_identities(&mut self) -> Result<Vec<Identity>, StoreError> {
        load_identities(&mut self.tx, self.backend, &self.namespace).await
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
        let larger_cache = self.backend == Backend::Sqlite && changes.is_some_and(|c| c.rows() > 0);
        if larger_cache {
            // The memory the sync freed (its roster, the stored rows) goes back to the
            // system first, so the larger cache does not raise the process's peak.
            crate::allocator::release_free_memory();
            set_sqlite_cache(&mut self.tx, SQLITE_WRITE_CACHE_KIB).await?;
        }
        let written = self.write(changes, run).await;
        if larger_cache {
            // Back to the default before the commit, so the connection, back in the pool,
            // gives the pages up as the commit releases them. An error here would only keep
            // the larger cache; the sync's own error (if any) is the one that matters.
            let reset = set_sqlite_cache(&mut self.tx, SQLITE_DEFAULT_CACHE_KIB).await;
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
        if let Some(changes) = changes {
            let (tx, backend) = (&mut self.tx, self.backend);
            let (ns, provider) = (self.namespace.as_str(), self.provider.as_str());
            let n = insert_identities(tx, backend, ns, &changes.new_identities).await?;
            written += parts.done("new platform users", n);
            let mut n = 0;
            for identity in &changes.identity_updates {
                n += update_identity(tx, ns, identity).await?;
            }
            written += parts.done("platform users updated", n);
            let n = write_table(tx, backend, ns, provider, &changes.schools).await?;
            written += parts.done("schools", n);
            let n = write_table(tx, backend, ns, provider, &changes.people).await?;
            written += parts.done("people", n);
            let n = write_table(tx, backend, ns, provider, &changes.classes).await?;
            written += parts.done("classes", n);
            let n = write_memberships(tx, backend, ns, provider, &changes.memberships).await?;
            written += parts.done("memberships", n);
            if let Some(digests) = &changes.memberships.digests {
                let n = write_digests(tx, backend, ns, provider, digests).await?;
                // Bookkeeping: not among the rows written.
                parts.done("class digests", n);
            }
            let n = write_table(tx, backend, ns, provider, &changes.guardians).await?;
            written += parts.done("guardians", n);
            let n = write_table(tx, backend, ns, provider, &changes.guardian_links).await?;
            written += parts.done("guardian links", n);
        }
        if written > 0 {
            raise_generation(&mut self.tx, &self.namespace, &self.provider).await?;
        }
        if changes.is_some_and(|c| c.memberships.digests.is_some()) {
            mark_digests_current(&mut self.tx, &self.namespace, &self.provider).await?;
        }
        tracing::debug!(parts = ?parts.parts, "store writes");
        run.rows_written = written;
        insert_run(&mut self.tx, run).await?;
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
async fn set_sqlite_cache(conn: &mut sqlx::AnyConnection, kib: u32) -> Result<(), StoreError> {
    sqlx::query(&format!("PRAGMA cache_size = -{kib}"))
        .execute(&mut *conn)
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
async fn lock_namespace(
    tx: &mut Transaction<'static, Any>,
    namespace: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO namespace_locks (namespace, holder, locked_at) VALUES ($1, $2, $3) \
         ON CONFLICT (namespace) DO UPDATE SET holder = excluded.holder, locked_at = excluded.locked_at",
    )
    .bind(namespace)
    .bind(format!("pid-{}", std::process::id()))
    .bind(now())
    .execute(&mut **tx)
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
    conn: &mut sqlx::AnyConnection,
    namespace: &str,
    provider: &str,
) -> Result<Generation, StoreError> {
    let row: Option<(i64, Option<i64>)> = sqlx::query_as(
        "SELECT generation, digests_generation FROM provider_generations \
         WHERE namespace = $1 AND provider = $2",
    )
    .bind(namespace)
    .bind(provider)
    .fetch_optional(&mut *conn)
    .await
    .map_err(db("reading the provider's generation"))?;
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
    tx: &mut Transaction<'static, Any>,
    namespace: &str,
    provider: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO provider_generations (namespace, provider, generation) VALUES ($1, $2, 1) \
         ON CONFLICT (namespace, provider) DO UPDATE SET generation = provider_generations.generation + 1",
    )
    .bind(namespace)
    .bind(provider)
    .execute(&mut **tx)
    .await
    .map_err(db("raising the provider's generation"))?;
    Ok(())
}

async fn load_identities(
    conn: &mut sqlx::AnyConnection,
    backend: Backend,
    namespace: &str,
) -> Result<Vec<Identity>, StoreError> {
    let mut identities = Vec::new();
    if backend == Backend::Sqlite {
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
        // In the primary key's order: a scan of the index, with no sort on the server.
        let sql = format!(
            "SELECT {} FROM identities WHERE namespace = $1 ORDER BY id",
            IDENTITY_SELECT.join(", ")
        );
        let mut rows = sqlx::query(&sql).bind(namespace).fetch(&mut *conn);
        // Decoded as they arrive, never all held as driver rows at once.
        while let Some(row) = rows.try_next().await.map_err(db("reading identities"))? {
            identities.push(decode_identity(&row).map_err(db("decoding identities"))?);
        }
    }
    // By email then id, bytewise, as the planner reads them.
    identities.sort_by(|a: &Identity, b: &Identity| (&a.email, &a.id).cmp(&(&b.email, &b.id)));
    identities.shrink_to_fit();
    Ok(identities)
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
    tx: &mut Transaction<'static, Any>,
    backend: Backend,
    namespace: &str,
    identities: &[Identity],
) -> Result<u64, StoreError> {
    // In key order, so the rows lie in the table in the order a sync reads them back
    // (SQLite: in the order of their rowids; a read by key in random order took twice
    // as long) and each index entry goes after the last.
    let mut in_order: Vec<&Identity> = identities.iter().collect();
    in_order.sort_unstable_by(|a, b| a.id.cmp(&b.id));
    let shared = [Value::from(namespace), Value::Int(Some(now()))];
    Inserter::new(backend, "identities", IDENTITY_COLUMNS)
        .insert_all(tx, &shared, in_order.into_iter().map(identity_values))
        .await
}

/// Rows in one PostgreSQL insert (see [`Inserter`]); larger batches were no faster.
const POSTGRES_ROWS_PER_STATEMENT: usize = 10_000;

/// Inserts many rows into one table, one statement per batch of
/// [`Inserter::rows_per_statement`] rows (one statement per row is what made a first sync
/// slow), in the statement each backend runs fastest.
///
/// - **SQLite**: `INSERT OR FAIL ... VALUES (?, ...), (?, ...)`, every value bound. The
///   text is built once for each number of rows (every batch but the last has the same).
///   `OR FAIL` stops a failing statement without undoing the rows it inserted before; the
///   default (`ABORT`) undoes them, which SQLite prepares for by copying every page a
///   statement changes into a statement journal, a temporary file: 780 MB of writes for a
///   first sync that writes a 120 MB store. A sync never goes on after a failed statement:
///   its whole transaction rolls back.
/// - **PostgreSQL**: `INSERT ... SELECT ... FROM unnest($1::text[], ...)`, each column's
///   values in one array literal, or bound once when every row has the same value (the
///   namespace, the provider). PostgreSQL inserts ten thousand rows this way in half the
///   time a `VALUES` list of tens of thousands of parameters takes, and the client binds a
///   handful of values instead of every one. (`COPY` is faster still, but sqlx's `Any`
///   connection does not offer it.)
struct Inserter {
    backend: Backend,
    table: &'static str,
    columns: Vec<&'static str>,
    /// SQLite's statement for the last number of rows it was asked for.
    built: Option<(usize, Arc<str>)>,
}

/// One statement of an [`Inserter`], ready to run.
struct Statement<'q> {
    sql: Arc<str>,
    values: Vec<Value<'q>>,
}

impl Inserter {
    fn new(backend: Backend, table: &'static str, columns: &[&'static str]) -> Self {
        Inserter {
            backend,
            table,
            columns: columns.to_vec(),
            built: None,
        }
    }

    /// How many rows one statement carries; on SQLite well under its limit on bound values.
    fn rows_per_statement(&self) -> usize {
        match self.backend {
            Backend::Sqlite => (8_000 / self.columns.len().max(1)).clamp(1, 1_000),
            Backend::Postgres => POSTGRES_ROWS_PER_STATEMENT,
        }
    }

    /// Inserts `rows`, each one value per column after the `prefix` every row starts with,
    /// and returns how many were inserted.
    ///
    /// While one statement runs, the next is made ready: its rows collected and, on
    /// PostgreSQL, its array literals written. The database works on one statement while
    /// the client builds the next, instead of each waiting for the other.
    async fn insert_all<'q, R: IntoIterator<Item = Value<'q>>>(
        &mut self,
        tx: &mut Transaction<'static, Any>,
        prefix: &[Value<'q>],
        rows: impl Iterator<Item = R>,
    ) -> Result<u64, StoreError> {
        let mut rows = rows.peekable();
        let mut written = 0;
        let mut next = self.next_statement(prefix, &mut rows)?;
        while let Some(statement) = next {
            let (done, ready) = futures::join!(execute(tx, statement), async {
                self.next_statement(prefix, &mut rows)
            });
            written += done?;
            next = ready?;
        }
        Ok(written)
    }

    /// The statement for the next [`Inserter::rows_per_statement`] of `rows`; none when
    /// they have run out.
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
        Ok(Some(match self.backend {
            Backend::Sqlite => Statement {
                sql: self.sqlite_sql(values.len() / width),
                values,
            },
            Backend::Postgres => {
                let (sql, values) = postgres_unnest(self.table, &self.columns, &values);
                Statement {
                    sql: sql.into(),
                    values,
                }
            }
        }))
    }

    /// SQLite's statement for `rows` rows, with anonymous `?`: resolving thousands of `$N`
    /// names in one statement costs time quadratic in their number.
    fn sqlite_sql(&mut self, rows: usize) -> Arc<str> {
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
    tx: &mut Transaction<'static, Any>,
    statement: Statement<'_>,
) -> Result<u64, StoreError> {
    Ok(bind_values(sqlx::query(&statement.sql), statement.values)
        .execute(&mut **tx)
        .await
        .map_err(db("inserting rows"))?
        .rows_affected())
}

/// PostgreSQL's insert of the rows whose `values` are given row after row (see
/// [`Inserter`]): the statement, and what it binds: for each column an array literal of its
/// values, or its one value when every row has the same.
fn postgres_unnest(
    table: &str,
    columns: &[&str],
    values: &[Value<'_>],
) -> (String, Vec<Value<'static>>) {
    let width = columns.len();
    let rows = values.len() / width;
    let of_column = |c: usize| values.iter().skip(c).step_by(width);
    let mut select = Vec::with_capacity(width);
    let mut arrays = Vec::new();
    let mut names = Vec::new();
    let mut bound = Vec::new();
    for (c, first) in values.iter().take(width).enumerate() {
        let kind = if matches!(first, Value::Int(_)) {
            "bigint"
        } else {
            "text"
        };
        let same = rows > 1 && !first.is_null() && of_column(c).all(|v| v == first);
        // `unnest` needs one array: the last column is one if no other is.
        let needs_array = c + 1 == width && arrays.is_empty();
        if same && !needs_array {
            bound.push(first.to_static());
            select.push(format!("${}::{kind}", bound.len()));
        } else {
            match separated_texts(of_column(c), rows) {
                Some(joined) => {
                    bound.push(Value::Owned(joined));
                    arrays.push(format!(
                        "string_to_array(${}::text, {SEPARATOR_SQL}, {NULL_SQL})",
                        bound.len()
                    ));
                }
                None => {
                    bound.push(Value::Owned(array_literal(of_column(c), rows)));
                    arrays.push(format!("${}::{kind}[]", bound.len()));
                }
            }
            names.push(format!("c{c}"));
            select.push(format!("u.c{c}"));
        }
    }
    let sql = format!(
        "INSERT INTO {table} ({}) SELECT {} FROM unnest({}) AS u({})",
        columns.join(", "),
        select.join(", "),
        arrays.join(", "),
        names.join(", ")
    );
    (sql, bound)
}

/// A PostgreSQL array literal of `values`: `{"a","b\"c",NULL,7}`. Every text is quoted, so
/// commas, braces, spaces and the word NULL in it stay text; `"` and `\` are escaped.
/// What separates the values of a column that [`separated_texts`] joins, in SQL and in Rust.
const SEPARATOR_SQL: &str = "chr(31)";
const SEPARATOR: char = '\u{1f}';
/// What stands for NULL among them.
const NULL_SQL: &str = "chr(30)";
const NULL: &str = "\u{1e}";

/// A column of text values joined by [`SEPARATOR`], NULL as [`NULL`], for PostgreSQL's
/// `string_to_array`: it splits them at a fraction of what parsing an array literal costs
/// (`array_in` was a tenth of the server's time in a first sync). `None` when a value
/// holds the separator or is the NULL mark, or is a lone empty text (which
/// `string_to_array` makes an empty array), or is not text: the caller writes an array
/// literal instead.
fn separated_texts<'v, 'a: 'v>(
    values: impl Iterator<Item = &'v Value<'a>>,
    rows: usize,
) -> Option<String> {
    let mut joined = String::with_capacity(rows * 16);
    for (i, value) in values.enumerate() {
        if i > 0 {
            joined.push(SEPARATOR);
        }
        let text = match value {
            Value::Text(None) => NULL,
            Value::Text(Some(text)) => text,
            Value::Owned(text) => text.as_str(),
            Value::Int(_) => return None,
        };
        if text.contains(SEPARATOR) || (text == NULL && !value.is_null()) {
            return None;
        }
        joined.push_str(text);
    }
    (!joined.is_empty()).then_some(joined)
}

fn array_literal<'v, 'a: 'v>(values: impl Iterator<Item = &'v Value<'a>>, rows: usize) -> String {
    use std::fmt::Write as _;
    let mut literal = String::with_capacity(2 + rows * 16);
    literal.push('{');
    for (i, value) in values.enumerate() {
        if i > 0 {
            literal.push(',');
        }
        let text = match value {
            Value::Text(None) | Value::Int(None) => {
                literal.push_str("NULL");
                continue;
            }
            Value::Int(Some(n)) => {
                let _ = write!(literal, "{n}");
                continue;
            }
            Value::Text(Some(text)) => *text,
            Value::Owned(text) => text.as_str(),
        };
        literal.push('"');
        for ch in text.chars() {
            if ch == '"' || ch == '\\' {
                literal.push('\\');
            }
            literal.push(ch);
        }
        literal.push('"');
    }
    literal.push('}');
    literal
}

async fn update_identity(
    tx: &mut Transaction<'static, Any>,
    namespace: &str,
    identity: &Identity,
) -> Result<u64, StoreError> {
    Ok(sqlx::query(
        "UPDATE identities SET given_name = $3, family_name = $4, role = $5, attributes_from = $6, attributes_priority = $7 \
         WHERE namespace = $1 AND id = $2",
    )
    .bind(namespace)
    .bind(&identity.id)
    .bind(&identity.given_name)
    .bind(&identity.family_name)
    .bind(&identity.role)
    .bind(&identity.attributes_from)
    .bind(identity.attributes_priority.map(i64::from))
    .execute(&mut **tx)
    .await
    .map_err(db("updating an identity"))?
    .rows_affected())
}

fn bind_values<'q>(
    mut query: sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>>,
    values: Vec<Value<'q>>,
) -> sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>> {
    for value in values {
        query = match value {
            Value::Text(v) => query.bind(v),
            Value::Owned(v) => query.bind(v),
            Value::Int(v) => query.bind(v),
        };
    }
    query
}

/// A provider's stored rows, with the memberships' class digests in place of the
/// memberships if `digests`.
async fn load_snapshot(
    conn: &mut sqlx::AnyConnection,
    backend: Backend,
    namespace: &str,
    provider: &str,
    digests: bool,
) -> Result<ProviderSnapshot, StoreError> {
    let (memberships, membership_digests) = if digests {
        let digests = load_digests(conn, namespace, provider).await?;
        (Memberships::default(), Some(digests))
    } else {
        let memberships = load_memberships(conn, backend, namespace, provider).await?;
        (memberships, None)
    };
    Ok(ProviderSnapshot {
        schools: load_table(conn, backend, namespace, provider).await?,
        people: load_people(conn, backend, namespace, provider).await?,
        classes: load_classes(conn, backend, namespace, provider).await?,
        memberships,
        membership_digests,
        guardians: load_table(conn, backend, namespace, provider).await?,
        guardian_links: load_table(conn, backend, namespace, provider).await?,
    })
}

/// The provider's class digests. A digest that does not read as one counts as missing:
/// its class's rows are read back and its digest written again.
async fn load_digests(
    conn: &mut sqlx::AnyConnection,
    namespace: &str,
    provider: &str,
) -> Result<ClassDigests, StoreError> {
    let mut rows = sqlx::query(
        "SELECT class_id, digest FROM membership_digests \
         WHERE namespace = $1 AND provider = $2 ORDER BY class_id",
    )
    .bind(namespace)
    .bind(provider)
    .fetch(&mut *conn);
    let mut digests = Vec::new();
    let mut shared = Interner::default();
    while let Some(row) = rows
        .try_next()
        .await
        .map_err(db("reading the memberships' digests"))?
    {
        let (class, digest): (String, String) = (
            row.try_get(0)
                .map_err(db("reading the memberships' digests"))?,
            row.try_get(1)
                .map_err(db("reading the memberships' digests"))?,
        );
        if let Ok(digest) = u128::from_str_radix(&digest, 16) {
            digests.push((shared.get(&class), digest));
        }
    }
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
/// the provider's rows of `classes`: its SQL, with the namespace and provider as `$1` and
/// `$2`, and the classes' values from `$3` on.
fn of_classes<'c, C: AsRef<str>>(statement: &str, classes: &'c [C]) -> (String, Vec<Value<'c>>) {
    let placeholders: Vec<String> = (0..classes.len()).map(|i| format!("${}", i + 3)).collect();
    let sql = format!(
        "{statement} WHERE namespace = $1 AND provider = $2 AND class_id IN ({})",
        placeholders.join(", ")
    );
    let values = classes
        .iter()
        .map(|c| Value::Text(Some(c.as_ref())))
        .collect();
    (sql, values)
}

/// Writes the class digests' changes.
async fn write_digests(
    tx: &mut Transaction<'static, Any>,
    backend: Backend,
    namespace: &str,
    provider: &str,
    changes: &DigestChanges,
) -> Result<u64, StoreError> {
    let mut written = 0;
    if changes.replace_all {
        written +=
            sqlx::query("DELETE FROM membership_digests WHERE namespace = $1 AND provider = $2")
                .bind(namespace)
                .bind(provider)
                .execute(&mut **tx)
                .await
                .map_err(db("replacing the memberships' digests"))?
                .rows_affected();
    } else {
        // Those put are removed first, then inserted.
        let classes: Vec<&Text> = changes
            .remove
            .iter()
            .chain(changes.put.iter().map(|(class, _)| class))
            .collect();
        for chunk in classes.chunks(CLASSES_PER_STATEMENT) {
            let (sql, values) = of_classes("DELETE FROM membership_digests", chunk);
            let query = sqlx::query(&sql).bind(namespace).bind(provider);
            written += bind_values(query, values)
                .execute(&mut **tx)
                .await
                .map_err(db("removing memberships' digests"))?
                .rows_affected();
        }
    }
    let columns = ["namespace", "provider", "class_id", "digest"];
    let prefix = [Value::from(namespace), Value::from(provider)];
    // A function, not a closure: the future must be Send for any lifetime of the texts.
    fn values((class, digest): &(Text, ClassDigest)) -> [Value<'_>; 2] {
        [Value::from(class), Value::Owned(digest_text(*digest))]
    }
    let rows = changes.put.iter().map(values);
    Ok(written
        + Inserter::new(backend, "membership_digests", &columns)
            .insert_all(tx, &prefix, rows)
            .await?)
}

/// Records that the provider's digests are true to its memberships at its generation
/// (raised already, if this transaction wrote rows).
async fn mark_digests_current(
    tx: &mut Transaction<'static, Any>,
    namespace: &str,
    provider: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO provider_generations (namespace, provider, generation, digests_generation) \
         VALUES ($1, $2, 0, 0) ON CONFLICT (namespace, provider) \
         DO UPDATE SET digests_generation = provider_generations.generation",
    )
    .bind(namespace)
    .bind(provider)
    .execute(&mut **tx)
    .await
    .map_err(db("recording the memberships' digests"))?;
    Ok(())
}

/// One provider table, sorted by key. Rows are decoded as they arrive, never all held as
/// driver rows at once; on SQLite they come in bulk (see [`BulkRead`]).
async fn load_table<T: ProviderTable>(
    conn: &mut sqlx::AnyConnection,
    backend: Backend,
    namespace: &str,
    provider: &str,
) -> Result<Vec<T>, StoreError> {
    let mut shared = Interner::default();
    let mut loaded = Vec::new();
    load_rows::<T>(conn, backend, namespace, provider, |row| {
        loaded.push(T::decode(row, &mut shared)?);
        Ok(())
    })
    .await?;
    Ok(loaded)
}

/// The provider's memberships, straight into their compact form: no row of four shared
/// texts is made for each.
async fn load_memberships(
    conn: &mut sqlx::AnyConnection,
    backend: Backend,
    namespace: &str,
    provider: &str,
) -> Result<Memberships, StoreError> {
    let mut loaded = MembershipsBuilder::default();
    // The rows come in key order: a class's rows come together, with its school and mostly
    // one role. A class, role or school that repeats the row before's takes its number
    // without a lookup in the table (three of every four lookups of a large district's).
    let mut before: [Option<(String, u32)>; 3] = Default::default();
    load_rows::<MembershipRow>(conn, backend, namespace, provider, |mut row| {
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
    conn: &mut sqlx::AnyConnection,
    backend: Backend,
    namespace: &str,
    provider: &str,
) -> Result<StoredPeople, StoreError> {
    let people = load_compared(conn, backend, namespace, provider, StoredPerson::new).await?;
    Ok(people.into_iter().collect())
}

/// The provider's classes as a sync compares them.
async fn load_classes(
    conn: &mut sqlx::AnyConnection,
    backend: Backend,
    namespace: &str,
    provider: &str,
) -> Result<Vec<StoredClass>, StoreError> {
    load_compared(conn, backend, namespace, provider, StoredClass::new).await
}

/// The rows of one provider table as a sync compares them (see `engine::people`): each row
/// is decoded, made into what the sync keeps of it by `keep`, and dropped, so the whole rows
/// are never all held.
async fn load_compared<T: ProviderTable, S>(
    conn: &mut sqlx::AnyConnection,
    backend: Backend,
    namespace: &str,
    provider: &str,
    keep: fn(&T, &mut Interner) -> S,
) -> Result<Vec<S>, StoreError> {
    let mut shared = Interner::default();
    let mut loaded = Vec::new();
    load_rows::<T>(conn, backend, namespace, provider, |row| {
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
    conn: &mut sqlx::AnyConnection,
    backend: Backend,
    namespace: &str,
    provider: &str,
    mut each: impl FnMut(&mut dyn Columns) -> Result<(), sqlx::Error>,
) -> Result<(), StoreError> {
    let columns = table_columns::<T>();
    if backend == Backend::Sqlite {
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
    let mut rows = sqlx::query(&sql)
        .bind(namespace)
        .bind(provider)
        .fetch(&mut *conn);
    while let Some(row) = rows
        .try_next()
        .await
        .map_err(db("reading the provider's rows"))?
    {
        each(&mut &row).map_err(|e| corrupt::<T>(&e))?;
    }
    Ok(())
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
    tx: &mut Transaction<'static, Any>,
    backend: Backend,
    namespace: &str,
    provider: &str,
    changes: &TableChanges<T>,
) -> Result<u64, StoreError> {
    let written =
        delete_and_update::<T>(tx, namespace, provider, &changes.delete, &changes.update).await?;
    let rows = changes.insert.iter().map(ProviderTable::values);
    Ok(written + insert_table::<T, _>(tx, backend, namespace, provider, rows).await?)
}

/// The memberships' writes: the new rows are bound from their compact form.
async fn write_memberships(
    tx: &mut Transaction<'static, Any>,
    backend: Backend,
    namespace: &str,
    provider: &str,
    changes: &MembershipChanges,
) -> Result<u64, StoreError> {
    let written = delete_and_update::<MembershipRow>(
        tx,
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
    Ok(written + insert_table::<MembershipRow, _>(tx, backend, namespace, provider, rows).await?)
}

/// Removes the rows of `delete`'s keys and writes `update`'s rows over theirs, one
/// statement per row: each finds its row through the key with bound values, which every
/// planner answers from the key's index whatever it believes of the table's size.
async fn delete_and_update<T: ProviderTable>(
    tx: &mut Transaction<'static, Any>,
    namespace: &str,
    provider: &str,
    delete: &[T::Key],
    update: &[T],
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
    for key in delete {
        let query = sqlx::query(&delete_sql).bind(namespace).bind(provider);
        written += bind_values(query, T::key_values(key))
            .execute(&mut **tx)
            .await
            .map_err(db("deleting rows"))?
            .rows_affected();
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
        let values = row.values();
        let query = sqlx::query(&update_sql).bind(namespace).bind(provider);
        written += bind_values(query, values)
            .execute(&mut **tx)
            .await
            .map_err(db("updating rows"))?
            .rows_affected();
    }
    Ok(written)
}

/// Inserts rows, each given as its key columns' then its other columns' values, in
/// statements of many rows.
async fn insert_table<'a, T: ProviderTable, R: IntoIterator<Item = Value<'a>>>(
    tx: &mut Transaction<'static, Any>,
    backend: Backend,
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
    Inserter::new(backend, T::TABLE, &columns)
        .insert_all(tx, &prefix, rows)
        .await
}

async fn insert_run(
    tx: &mut Transaction<'static, Any>,
    run: &SyncRunRecord,
) -> Result<(), StoreError> {
    let json = |v: serde_json::Result<String>| {
        v.map_err(|e| StoreError::Corrupt(format!("encoding a sync report: {e}")))
    };
    let counts = json(serde_json::to_string(&run.report.counts))?;
    let problems = json(serde_json::to_string(&run.report.problems))?;
    sqlx::query(
        "INSERT INTO sync_runs (run_id, namespace, provider, trigger_kind, started_at, completed_at, result, error_code, message, counts, problems, rows_written) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(&run.run_id)
    .bind(&run.namespace)
    .bind(&run.provider)
    .bind(&run.trigger)
    .bind(run.started_at)
    .bind(run.completed_at)
    .bind(run.report.result.as_str())
    .bind(run.report.error_code.map(|c| c.as_str()))
    .bind(&run.report.message)
    .bind(counts)
    .bind(problems)
    .bind(i64::try_from(run.rows_written).unwrap_or(i64::MAX))
    .execute(&mut **tx)
    .await
    .map_err(db("recording the sync"))?;
    for (seq, line) in run.log.iter().enumerate() {
        sqlx::query("INSERT INTO sync_run_log (run_id, seq, at, line) VALUES ($1, $2, $3, $4)")
            .bind(&run.run_id)
            .bind(seq as i64)
            .bind(run.completed_at)
            .bind(line)
            .execute(&mut **tx)
            .await
            .map_err(db("recording the sync's log"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::report::{Counts, SyncReport, SyncResult};

    /// Every text of a PostgreSQL array literal is quoted, with `"` and `\` escaped, so
    /// commas, braces and the word NULL stay text; NULL and integers are bare.
    #[test]
    fn array_literals_keep_texts_apart_from_nulls_and_separators() {
        let values = [
            Value::Text(Some("plain")),
            Value::Text(Some("a \"quote\" and \\ backslash")),
            Value::Text(Some("{comma, brace}")),
            Value::Text(Some("NULL")),
            Value::Text(None),
            Value::Text(Some("")),
            Value::Owned("owned".into()),
        ];
        assert_eq!(
            array_literal(values.iter(), values.len()),
            r#"{"plain","a \"quote\" and \\ backslash","{comma, brace}","NULL",NULL,"","owned"}"#
        );
        let numbers = [Value::Int(Some(-7)), Value::Int(None), Value::Int(Some(0))];
        assert_eq!(array_literal(numbers.iter(), 3), "{-7,NULL,0}");
    }

    /// A PostgreSQL insert binds a column once when every row has the same value there, and
    /// the column's values otherwise: texts joined for `string_to_array`, or an array
    /// literal where they cannot be (integers, a text holding the separator or the NULL
    /// mark, a lone empty text); one row still gets an array to unnest.
    #[test]
    fn postgres_inserts_bind_shared_values_once_and_the_rest_as_arrays() {
        let columns = ["namespace", "id", "priority", "note", "other"];
        let values = [
            Value::Text(Some("ns")),
            Value::Text(Some("a")),
            Value::Int(Some(1)),
            Value::Text(None),
            Value::Text(Some("holds \u{1f} the separator")),
            Value::Text(Some("ns")),
            Value::Text(Some("")),
            Value::Int(Some(2)),
            Value::Text(None),
            Value::Text(Some("\u{1e}")),
        ];
        let (sql, bound) = postgres_unnest("t", &columns, &values);
        assert_eq!(
            sql,
            "INSERT INTO t (namespace, id, priority, note, other) \
             SELECT $1::text, u.c1, u.c2, u.c3, u.c4 \
             FROM unnest(string_to_array($2::text, chr(31), chr(30)), $3::bigint[], \
             string_to_array($4::text, chr(31), chr(30)), $5::text[]) AS u(c1, c2, c3, c4)"
        );
        assert_eq!(
            bound,
            [
                Value::Owned("ns".into()),
                Value::Owned("a\u{1f}".into()),
                Value::Owned("{1,2}".into()),
                Value::Owned("\u{1e}\u{1f}\u{1e}".into()),
                Value::Owned("{\"holds \u{1f} the separator\",\"\u{1e}\"}".into()),
            ]
        );

        // One row: its lone empty text is an array literal.
        let (sql, bound) = postgres_unnest("t", &columns[..2], &values[5..7]);
        assert_eq!(
            sql,
            "INSERT INTO t (namespace, id) SELECT u.c0, u.c1 \
             FROM unnest(string_to_array($1::text, chr(31), chr(30)), $2::text[]) AS u(c0, c1)"
        );
        assert_eq!(
            bound,
            [Value::Owned("ns".into()), Value::Owned("{\"\"}".into())]
        );
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
                .fetch_one(&store.pool)
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
        .fetch_all(&store.pool)
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
        .fetch_all(&store.pool)
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
        let mut conn = store.pool.acquire().await.expect("a connection");
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
        let collation: String = sqlx::query_scalar(
            "SELECT collation_name::text FROM information_schema.columns \
             WHERE table_name = 'memberships' AND column_name = 'class_id'",
        )
        .fetch_one(&mut *conn)
        .await
        .expect("the column's collation");
        assert_eq!(collation, "C");
        let indexes: Vec<String> = sqlx::query_scalar(
            "SELECT indexname::text FROM pg_indexes \
             WHERE indexname IN ('people_by_identity', 'identities_by_email')",
        )
        .fetch_all(&mut *conn)
        .await
        .expect("the indexes");
        assert!(indexes.is_empty(), "{indexes:?}");
        drop(conn);
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
        for _ in 0..100 {
            if store.pool.num_idle() == store.pool.size() as usize {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let mut idle = Vec::new();
        while let Some(mut conn) = store.pool.try_acquire() {
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
