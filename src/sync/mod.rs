//! One sync, end to end: read the roster from the Roster Server, decide with the engine, and
//! write the result into the store in one transaction. The CLI's `sync` command and the
//! controller both run syncs through [`run`].

pub mod exclusions;
pub mod job;

use futures::future::Either;
use jiff::Timestamp;
use jiff::civil::Date;

use crate::crd::Region;
use crate::engine::memberships::Memberships;
use crate::engine::model::{Identity, ProviderSnapshot};
use crate::engine::report::SyncReport;
use crate::engine::{ExclusionResult, SyncInput};
use crate::error_code::ErrorCode;
use crate::intern::Text;
use crate::oneroster::{Client, Progress};
use crate::store::{ReadAhead, Store, StoreError, SyncRunRecord, SyncTransaction};

pub use crate::schedule::region_time_zone;
pub use job::{JobError, JobOptions, SyncJob};

/// What started a sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// The first sync of a new ClassLinkSync.
    Initial,
    /// The region's nightly window.
    Scheduled,
    /// A user asked for it.
    Manual,
    /// A transient failure is retried.
    Retry,
    /// The spec, the Secret or a SchoolExclusion changed.
    Changed,
}

impl Trigger {
    /// The name status shows.
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Initial => "Initial",
            Trigger::Scheduled => "Scheduled",
            Trigger::Manual => "Manual",
            Trigger::Retry => "Retry",
            Trigger::Changed => "Changed",
        }
    }
}

/// How a sync ended.
#[derive(Debug, Clone)]
pub struct SyncOutcome {
    /// The report.
    pub report: SyncReport,
    /// How each SchoolExclusion resolved (empty when the sync failed before planning).
    pub exclusions: Vec<ExclusionResult>,
    /// When it started.
    pub started: Timestamp,
    /// When it ended.
    pub completed: Timestamp,
    /// Rows written to the store.
    pub rows_written: u64,
    /// The id of the recorded run, when it was recorded.
    pub run_id: Option<String>,
}

/// Today's date in the region, which the engine's date rules use.
pub fn today_in(region: Region, now: Timestamp) -> Date {
    now.to_zoned(crate::schedule::region_zone(region)).date()
}

/// Runs one sync of `job` into `store`. `today` overrides the region's date (the CLI's
/// `--as-of`). Progress while reading goes to `progress`.
pub async fn run(
    job: &SyncJob,
    store: &Store,
    trigger: Trigger,
    today: Option<Date>,
    progress: impl Fn(Progress) + Send + Sync,
) -> SyncOutcome {
    let started = Timestamp::now();
    let today = today.unwrap_or_else(|| today_in(job.region, started));
    tracing::info!(
        namespace = %job.settings.namespace,
        provider = %job.settings.provider,
        trigger = trigger.as_str(),
        "sync started"
    );
    let mut log = vec![format!(
        "{} sync of {}/{} started; dates as of {today}",
        trigger.as_str(),
        job.settings.namespace,
        job.settings.provider
    )];

    // The provider's stored rows are read while the roster is: at 50 ms a request, reading
    // a large district's roster is mostly waiting, and its million stored rows take seconds.
    // The transaction below uses them only if nothing wrote them in between. They are read
    // on a thread of their own, at a lower priority (`read_ahead_in_background`): decoding
    // them in this task kept it from reading the roster's responses meanwhile (on
    // PostgreSQL the roster took 3.5 s instead of 2.8). The first part of planning does not
    // need the stored rows, so it starts as soon as the roster is in, while they may still
    // be loading.
    let (namespace, provider) = (&job.settings.namespace, &job.settings.provider);
    let clock = std::time::Instant::now();
    let fetch = std::pin::pin!(async {
        let fetched = match Client::new(job.client.clone()) {
            Ok(client) => client.fetch_roster(progress).await,
            Err(e) => Err(e),
        };
        (fetched, clock.elapsed())
    });
    let mut read_ahead = std::pin::pin!(read_ahead_in_background(
        store.clone(),
        namespace.clone(),
        provider.clone(),
        clock,
    ));
    let (fetched, fetch_took, read_ahead_done) =
        match futures::future::select(fetch, read_ahead.as_mut()).await {
            Either::Left(((fetched, took), _)) => (fetched, took, None),
            Either::Right((done, fetch)) => {
                let (fetched, took) = fetch.await;
                (fetched, took, Some(done))
            }
        };
    // A roster that fails ends the sync at once, without waiting for the stored rows.
    let roster = match fetched {
        Ok(roster) => roster,
        Err(e) => {
            let report = SyncReport::failed(e.code(), e.to_string());
            return finish_failed(job, store, trigger, started, report, log).await;
        }
    };
    log.push(format!(
        "read {} schools, {} sessions, {} classes, {} users, {} enrollments in {}",
        roster.schools.len(),
        roster.academic_sessions.len(),
        roster.classes.len(),
        roster.users.len(),
        roster.enrollments.len(),
        seconds(fetch_took)
    ));

    let clock = std::time::Instant::now();
    // Planning is CPU-bound (seconds for a large district): it runs on a blocking thread, so
    // the runtime's workers go on with other syncs, the controller and the health
    // endpoints. The transaction begins from there, once the roster's own part of the plan
    // is done and the enrollments are freed (`plan_then_begin`), and the platform users are
    // read once the memberships are compared: they are never held with the enrollments nor
    // with the memberships, and the namespace's lock is held only for the rest.
    // The roster and the stored rows are freed there too, before the changes are written.
    // The transaction stays open meanwhile; dropped, it rolls back.
    let settings = job.settings.clone();
    let exclusions = job.exclusions.clone();
    let (begin_store, runtime) = (store.clone(), tokio::runtime::Handle::current());
    let (ns, prov) = (namespace.clone(), provider.clone());
    // A sync dropped while it plans (the operator stops, the ClassLinkSync is deleted) must
    // not begin a transaction afterwards: its blocking thread runs on, and would lock the
    // namespace for a plan nobody waits for.
    let dropped = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let _dropped_when_this_is = SetOnDrop(dropped.clone());
    let (read_ahead_sent, read_ahead_received) =
        tokio::sync::oneshot::channel::<(Option<ReadAhead>, std::time::Duration)>();
    let planned = tokio::task::spawn_blocking(move || {
        let mut roster = roster;
        let enrollments = std::mem::take(&mut roster.enrollments);
        let mut began = None;
        let input = SyncInput {
            settings: &settings,
            exclusions: &exclusions,
            today,
            roster: &roster,
            identities: &[],
            stored: &ProviderSnapshot::default(),
        };
        let began_slot = &mut began;
        let plan = crate::engine::plan_then_begin(&input, enrollments, move || {
            if dropped.load(std::sync::atomic::Ordering::SeqCst) {
                return Err(NotBegun::Dropped);
            }
            // A blocking thread may wait on the runtime's futures: first for the stored rows
            // read ahead (the sync's task goes on reading them), then for the transaction.
            let waiting = std::time::Instant::now();
            let (ahead, took) = runtime
                .block_on(read_ahead_received)
                .map_err(|_| NotBegun::Dropped)?;
            let read_ahead = ReadAheadRead {
                had: ahead.is_some(),
                took,
                waited: waiting.elapsed(),
            };
            let clock = std::time::Instant::now();
            let mut txn = runtime
                .block_on(begin_store.begin_sync_after(&ns, &prov, ahead))
                .map_err(NotBegun::Store)?;
            let snapshot = txn.take_snapshot();
            // With digests in use, none read back until the planning asks for some.
            let memberships_read = txn.digested_classes().map(|digested| MembershipsRead {
                classes: 0,
                digested,
                rows: 0,
                took: std::time::Duration::ZERO,
            });
            let locked = LockedStore {
                txn,
                runtime,
                began: began_slot,
                locked: clock.elapsed(),
                read_ahead,
                memberships_read,
            };
            Ok((snapshot, locked))
        });
        // What planning read is freed on another thread while the sync commits.
        let plan = plan.map(|(plan, leftovers)| {
            crate::allocator::free_in_background((roster, leftovers));
            plan
        });
        (plan, began)
    });
    // Meanwhile the stored rows go on loading here, and are handed to the planning once in.
    let deliver = async {
        let done = match read_ahead_done {
            Some(done) => done,
            None => read_ahead.as_mut().await,
        };
        // Planning that ended before it needed them has dropped its end.
        let _ = read_ahead_sent.send(done);
    };
    let (planned, ()) = futures::future::join(planned, deliver).await;
    let (plan, began) = match planned {
        Ok(planned) => planned,
        // A panic while planning stays a panic, as when planning ran here.
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        // Only when the runtime shuts down: nothing was written (a transaction begun is
        // rolled back as it is dropped).
        Err(_) => {
            let report = SyncReport::failed(
                ErrorCode::SyncCancelled,
                "The sync was cancelled (the operator is stopping) before it finished; nothing was changed.",
            );
            return outcome(report, Vec::new(), started, 0, None);
        }
    };
    let plan = match plan {
        Ok(plan) => plan,
        Err(NotBegun::Store(e)) => {
            let report = SyncReport::failed(e.code(), e.to_string());
            return outcome(report, Vec::new(), started, 0, None);
        }
        // Only when this future was dropped, so no one reads this.
        Err(NotBegun::Dropped) => {
            let report = SyncReport::failed(
                ErrorCode::SyncCancelled,
                "The sync was cancelled before it finished; nothing was changed.",
            );
            return outcome(report, Vec::new(), started, 0, None);
        }
    };
    let planning = match &began {
        Some(began) => {
            log.push(match (began.txn.read_ahead_used(), began.read_ahead.had) {
                (true, _) => format!(
                    "stored rows read while the roster was read, in {}",
                    seconds(began.read_ahead.took)
                ),
                (false, true) => "stored rows read again in the transaction: they changed while the roster was read".to_owned(),
                (false, false) => "stored rows read in the transaction".to_owned(),
            });
            log.push(format!(
                "transaction began (namespace locked) in {}",
                seconds(began.locked)
            ));
            log.push(match began.memberships_read {
                None => "memberships: every stored row compared (their class digests were not in use)".to_owned(),
                Some(read) => format!(
                    "memberships read back for {} of {} classes ({} rows; the others' digests were unchanged) in {}",
                    read.classes,
                    read.digested,
                    read.rows,
                    seconds(read.took)
                ),
            });
            log.push(format!(
                "{} platform users read in {}",
                began.platform_users,
                seconds(began.users_read)
            ));
            clock
                .elapsed()
                .saturating_sub(began.locked + began.users_waited + began.read_ahead.waited)
        }
        None => clock.elapsed(),
    };
    log.push(format!("planned in {}", seconds(planning)));
    log.push(format!(
        "{}: {}",
        plan.report.result.as_str(),
        plan.report
            .error_code
            .map_or("no error code", ErrorCode::as_str)
    ));
    let mut run = run_record(job, trigger, started, plan.report.clone(), log);
    let clock = std::time::Instant::now();
    let committed = match began {
        Some(Began { txn, .. }) => txn.commit(plan.changes.as_ref(), &mut run).await,
        // The roster alone decided that the sync fails: there is nothing to write, and no
        // transaction began. The run is recorded.
        None => store.record_run(&run).await.map(|()| 0),
    };
    // The run's log has no personal data; with its phases' times, for who tunes a sync.
    for line in &run.log {
        tracing::debug!(provider = %provider, %line, "sync log");
    }
    tracing::debug!(provider = %provider, took = %seconds(clock.elapsed()), "changes committed");
    match committed {
        Ok(rows) => outcome(
            plan.report,
            plan.exclusions,
            started,
            rows,
            Some(run.run_id),
        ),
        Err(e) => {
            // The transaction rolled back: the previous snapshot is whole.
            let report = SyncReport::failed(e.code(), e.to_string());
            outcome(report, plan.exclusions, started, 0, None)
        }
    }
}

/// The sync's transaction, begun, as the planning reads it (on its blocking thread).
struct LockedStore<'a> {
    txn: SyncTransaction,
    runtime: tokio::runtime::Handle,
    /// Where the transaction goes once the platform users are read.
    began: &'a mut Option<Began>,
    locked: std::time::Duration,
    read_ahead: ReadAheadRead,
    memberships_read: Option<MembershipsRead>,
}

/// Which stored memberships a sync whose snapshot held class digests read back.
#[derive(Debug, Clone, Copy)]
struct MembershipsRead {
    /// Classes read back.
    classes: usize,
    /// Classes with a stored digest.
    digested: usize,
    /// Their stored rows.
    rows: usize,
    took: std::time::Duration,
}

impl<'a> crate::engine::Locked<NotBegun> for LockedStore<'a> {
    type Users = Box<dyn FnOnce() -> Result<Vec<Identity>, NotBegun> + 'a>;

    fn memberships_of(&mut self, classes: &[Text]) -> Result<Memberships, NotBegun> {
        let clock = std::time::Instant::now();
        let read = self
            .runtime
            .block_on(self.txn.memberships_of(classes))
            .map_err(NotBegun::Store)?;
        if let Some(counted) = &mut self.memberships_read {
            counted.classes = classes.len();
            counted.rows = read.len();
            counted.took = clock.elapsed();
        }
        Ok(read)
    }

    /// Starts reading the platform users, under the lock, on the runtime, and returns what
    /// waits for them; the planning decides the guardians meanwhile. Dropped unwaited (the
    /// planning panicked), the read is aborted and the transaction rolls back.
    fn read_platform_users(self) -> Self::Users {
        let LockedStore {
            mut txn,
            runtime,
            began,
            locked,
            read_ahead,
            memberships_read,
        } = self;
        let clock = std::time::Instant::now();
        let reading = AbortOnDrop(runtime.spawn(async move {
            let users = txn.load_identities().await;
            (txn, users)
        }));
        Box::new(move || {
            let mut reading = reading;
            let waiting = std::time::Instant::now();
            let (txn, users) = match runtime.block_on(&mut reading.0) {
                Ok(read) => read,
                Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                // Only when the runtime shuts down.
                Err(_) => return Err(NotBegun::Dropped),
            };
            let users = users.map_err(NotBegun::Store)?;
            *began = Some(Began {
                txn,
                locked,
                platform_users: users.len(),
                users_read: clock.elapsed(),
                users_waited: waiting.elapsed(),
                read_ahead,
                memberships_read,
            });
            Ok(users)
        })
    }
}

/// Why a sync's transaction did not begin.
enum NotBegun {
    /// The store failed.
    Store(StoreError),
    /// The sync was dropped while it planned.
    Dropped,
}

/// A sync's transaction, begun while it planned, with what its log says of it.
struct Began {
    txn: SyncTransaction,
    /// How long locking the namespace (and reading the stored rows again, when they
    /// changed) took.
    locked: std::time::Duration,
    /// How many platform users were read, how long that took, and how long of it the
    /// planning waited (it decides the guardians meanwhile).
    platform_users: usize,
    users_read: std::time::Duration,
    users_waited: std::time::Duration,
    read_ahead: ReadAheadRead,
    /// Which memberships were read back, when the stored rows came with class digests.
    memberships_read: Option<MembershipsRead>,
}

/// How the stored rows were read ahead, for the run's log.
struct ReadAheadRead {
    /// Whether they were.
    had: bool,
    /// How long from the sync's start until they were.
    took: std::time::Duration,
    /// How long planning waited for them.
    waited: std::time::Duration,
}

/// Reads the provider's stored rows (see [`Store::read_ahead`]) on a thread of its own, at
/// a lower priority: they are needed only once the roster is in, and decoding them competed
/// for the cores with decoding the roster's pages, which is what the sync waits for (`large`
/// at 50 ms a request: the roster took 2.67–2.69 s instead of 2.72–2.77 on SQLite, 2.85–2.90
/// instead of 3.08–3.35 on PostgreSQL). Resolves to the rows (`None` if reading them failed:
/// the transaction then reads them itself) and the time since `clock` when they were in.
/// Dropped, it stops the thread's reading (the operator stops, the ClassLinkSync is
/// deleted).
fn read_ahead_in_background(
    store: Store,
    namespace: String,
    provider: String,
    clock: std::time::Instant,
) -> impl std::future::Future<Output = (Option<ReadAhead>, std::time::Duration)> {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let (done, read) = tokio::sync::oneshot::channel();
    let runtime = tokio::runtime::Handle::current();
    // A thread that did not start reads nothing: the transaction reads the rows itself.
    let _ = std::thread::Builder::new()
        .name("read-ahead".into())
        .spawn(move || {
            lower_this_threads_priority();
            let reading = std::pin::pin!(store.read_ahead(&namespace, &provider));
            let Either::Left((read, _)) =
                runtime.block_on(futures::future::select(reading, stopped))
            else {
                return;
            };
            let ahead = read
                .inspect_err(|e| tracing::warn!(error = %e, "reading the stored rows ahead failed"))
                .ok();
            let _ = done.send((ahead, clock.elapsed()));
        });
    async move {
        let _stops_the_reading_when_dropped = stop;
        // A thread that panicked read nothing either.
        read.await.unwrap_or_else(|_| (None, clock.elapsed()))
    }
}

/// Lowers the calling thread's scheduling priority by 10 nice steps (at most to 19), for
/// work that can wait while other threads run. On Linux the nice value is the thread's own.
/// Lowering is never refused; elsewhere nothing changes.
fn lower_this_threads_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: `nice` changes only the calling thread's nice value.
    unsafe {
        libc::nice(10);
    }
}

/// Aborts its task when dropped: a sync dropped while it reads the platform users (the
/// operator stops, the ClassLinkSync is deleted) stops reading them.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Sets its flag when dropped.
struct SetOnDrop(std::sync::Arc<std::sync::atomic::AtomicBool>);

impl Drop for SetOnDrop {
    fn drop(&mut self) {
        self.0.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

/// Ends a sync that was stopped before it finished (`why` says what stopped it, e.g.
/// "SIGTERM"): the caller dropped the future of [`run`], so its transaction rolled back and
/// nothing changed. The run is recorded as `Failed` with `SyncCancelled`, so `sync_runs`
/// shows every sync that started, also the ones that never ended on their own.
pub async fn record_cancelled(
    job: &SyncJob,
    store: &Store,
    trigger: Trigger,
    started: Timestamp,
    why: &str,
) -> SyncOutcome {
    let report = SyncReport::failed(
        ErrorCode::SyncCancelled,
        format!("The sync was cancelled ({why}) before it finished; nothing was changed."),
    );
    let log = vec![format!(
        "{} sync of {}/{} cancelled ({why})",
        trigger.as_str(),
        job.settings.namespace,
        job.settings.provider
    )];
    finish_failed(job, store, trigger, started, report, log).await
}

/// Records a sync that failed before the store's transaction, when the store is reachable.
async fn finish_failed(
    job: &SyncJob,
    store: &Store,
    trigger: Trigger,
    started: Timestamp,
    report: SyncReport,
    mut log: Vec<String>,
) -> SyncOutcome {
    log.push(format!(
        "Failed: {}",
        report.error_code.map_or("no error code", ErrorCode::as_str)
    ));
    let run = run_record(job, trigger, started, report.clone(), log);
    let run_id = store.record_run(&run).await.ok().map(|()| run.run_id);
    outcome(report, Vec::new(), started, 0, run_id)
}

/// A duration as the run's log shows it.
fn seconds(d: std::time::Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

fn run_record(
    job: &SyncJob,
    trigger: Trigger,
    started: Timestamp,
    report: SyncReport,
    log: Vec<String>,
) -> SyncRunRecord {
    let completed = Timestamp::now();
    SyncRunRecord {
        run_id: format!(
            "{}-{}-{:08x}",
            started.as_millisecond(),
            job.settings.provider,
            fastrand::u32(..)
        ),
        namespace: job.settings.namespace.clone(),
        provider: job.settings.provider.clone(),
        trigger: trigger.as_str().to_owned(),
        started_at: started.as_second(),
        completed_at: completed.as_second(),
        report,
        rows_written: 0,
        log,
    }
}

fn outcome(
    report: SyncReport,
    exclusions: Vec<ExclusionResult>,
    started: Timestamp,
    rows_written: u64,
    run_id: Option<String>,
) -> SyncOutcome {
    SyncOutcome {
        report,
        exclusions,
        started,
        completed: Timestamp::now(),
        rows_written,
        run_id,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Dropping the handle of a read ahead stops its task: what the task held is dropped.
    #[tokio::test]
    async fn a_read_ahead_dropped_stops_its_task() {
        let dropped = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let held = SetOnDrop(dropped.clone());
        let (started, started_here) = tokio::sync::oneshot::channel();
        let task = AbortOnDrop(tokio::spawn(async move {
            let _held = held;
            let _ = started.send(());
            std::future::pending::<()>().await;
        }));
        started_here.await.expect("the task started");
        assert!(!dropped.load(std::sync::atomic::Ordering::SeqCst));
        drop(task);
        for _ in 0..1000 {
            if dropped.load(std::sync::atomic::Ordering::SeqCst) {
                return;
            }
            tokio::task::yield_now().await;
        }
        panic!("the task still runs after its handle was dropped");
    }

    /// The nice value of the calling thread (Linux: field 19 of its `stat`).
    #[cfg(target_os = "linux")]
    fn nice_of_this_thread() -> i64 {
        let stat = std::fs::read_to_string("/proc/thread-self/stat").expect("the thread's stat");
        // After the command name, in parentheses, which may hold spaces.
        let fields: Vec<&str> = stat[stat.rfind(')').expect("a command name") + 2..]
            .split(' ')
            .collect();
        fields[16].parse().expect("a nice value")
    }

    /// The read-ahead thread's priority is lowered, and only its own.
    #[cfg(target_os = "linux")]
    #[test]
    fn lowering_a_threads_priority_leaves_the_others() {
        let before = nice_of_this_thread();
        let lowered = std::thread::spawn(|| {
            lower_this_threads_priority();
            nice_of_this_thread()
        })
        .join()
        .expect("the thread ran");
        assert_eq!(lowered, (before + 10).min(19));
        assert_eq!(nice_of_this_thread(), before);
    }

    /// Rows read ahead on their own thread come back to the sync: a provider never written
    /// has none.
    #[tokio::test]
    async fn rows_read_ahead_in_the_background_come_back() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("roster.db");
        let store = Store::open(path.to_str().expect("a UTF-8 path"))
            .await
            .expect("a store");
        let clock = std::time::Instant::now();
        let (ahead, _) =
            read_ahead_in_background(store.clone(), "ns".into(), "p".into(), clock).await;
        let ahead = ahead.expect("the rows were read");
        assert!(ahead.snapshot().people.is_empty());
        store.close().await.expect("the store closed");
    }

    /// The controller runs syncs in spawned tasks: this only compiles while a sync's future
    /// is `Send`.
    #[allow(dead_code)]
    fn a_sync_future_is_send(job: &SyncJob, store: &Store) {
        fn assert_send<T: Send>(_: T) {}
        assert_send(run(job, store, Trigger::Manual, None, |_| {}));
    }

    #[test]
    fn today_follows_the_regions_time_zone() {
        // 2026-11-28 20:00 UTC: already the 29th in Perth and Auckland, still the 28th in
        // Chicago and London.
        let now: Timestamp = "2026-11-28T20:00:00Z".parse().expect("timestamp");
        assert_eq!(today_in(Region::US, now), jiff::civil::date(2026, 11, 28));
        assert_eq!(today_in(Region::UK, now), jiff::civil::date(2026, 11, 28));
        assert_eq!(today_in(Region::AU, now), jiff::civil::date(2026, 11, 29));
        assert_eq!(today_in(Region::NZ, now), jiff::civil::date(2026, 11, 29));
    }
}
