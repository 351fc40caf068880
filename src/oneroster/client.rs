//! The client: endpoint strategy, paging, `x-perm-rev` handling, deadlines.

use std::collections::{BTreeMap, HashSet};
use std::hash::BuildHasher;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use futures_util::stream::{self, StreamExt};
use tokio::sync::Semaphore;

use super::config::ClientConfig;
use super::decode::{DecodeError, DecodeLimits, Page, Record, RecordList, decode_page_within};
use super::enrollments::Enrollments;
use super::error::Error;
use super::records::{
    AcademicSession, Class, Collection, Course, Enrollment, Fetched, Org, OrgType, Roster, User,
};
use super::transport::{PageResponse, RetryBudget, Transport};
use super::url::{BaseUrl, Target};

/// The filter normal mode sends with every collection.
const ACTIVE_FILTER: &str = "status='active'";

/// Most pages read from one collection: a server whose paging never ends fails with
/// `MalformedResponse` instead of looping.
const MAX_PAGES: u64 = 50_000;

/// The most sourcedIds a read makes room for before the records come (see
/// `Client::read_once`): room for 2^21 hashes takes 36 MiB, of which a server that announces
/// more than it sends leaves the 4 MiB of the set's control bytes touched.
const SEEN_ROOM_AT_MOST: usize = 1 << 21;

/// Records one read of a collection may decode, against what the server announced: at
/// most twice the first page's `X-Total-Count` (or `x-count`) plus one page. Every page
/// is decoded with the rest of this allowance as its element limit, so a page that goes
/// far beyond stops while it is decoded, not after.
///
/// Pages are decoded in parallel, each limited by what was left when it started; a
/// decoded page is then counted, one page at a time, and refused when it holds more than
/// is left by then. So a read accepts exactly what decoding its pages one after the other
/// (in the order they were counted) would accept.
struct RecordAllowance {
    /// The page size asked for (`limit`).
    page: u64,
    /// The allowance from the first page's total; `u64::MAX` until then, or without one.
    allowed: AtomicU64,
    /// Elements of the pages counted so far in this read.
    decoded: AtomicU64,
}

impl RecordAllowance {
    fn new(page: u64) -> Self {
        RecordAllowance {
            page,
            allowed: AtomicU64::new(u64::MAX),
            decoded: AtomicU64::new(0),
        }
    }

    /// The allowance for an announced total.
    fn for_total(&self, total: u64) -> u64 {
        total.saturating_mul(2).saturating_add(self.page)
    }

    /// Fixes the allowance from the first page's total.
    fn announce(&self, total: Option<u64>) {
        if let Some(total) = total {
            self.allowed.store(self.for_total(total), Ordering::SeqCst);
        }
    }

    /// The allowance for a page that announces `page_total`.
    fn allowed(&self, page_total: Option<u64>) -> u64 {
        page_total
            .map_or(u64::MAX, |t| self.for_total(t))
            .min(self.allowed.load(Ordering::SeqCst))
    }

    /// Elements the next page may hold, given the total that page announces.
    fn remaining(&self, page_total: Option<u64>) -> u64 {
        self.allowed(page_total)
            .saturating_sub(self.decoded.load(Ordering::SeqCst))
    }

    /// Counts a decoded page; refuses it, counting nothing, when it holds more than the
    /// pages counted before it left.
    fn count(&self, elements: usize, page_total: Option<u64>) -> Result<(), DecodeError> {
        let allowed = self.allowed(page_total);
        self.decoded
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |before| {
                before
                    .checked_add(elements as u64)
                    .filter(|&after| after <= allowed)
            })
            .map(|_| ())
            .map_err(|before| DecodeError::TooManyRecords {
                limit: allowed.saturating_sub(before),
            })
    }
}

/// Where a fetch is, reported after every page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress {
    /// The collection being read.
    pub collection: Collection,
    /// Records read from it so far (in this read of the collection).
    pub records: u64,
    /// The total the server announced, if it did.
    pub total: Option<u64>,
    /// Pages read so far.
    pub pages: u64,
    /// 1 for the first read; more when `x-perm-rev` changed and the collection is read
    /// again.
    pub attempt: u32,
}

/// What a whole roster read has got to: the latest [`Progress`] of each collection, which a
/// sync reads at once (a progress line shows them all, not the last one to report).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RosterProgress {
    collections: BTreeMap<Collection, Progress>,
}

impl RosterProgress {
    /// Takes one collection's progress.
    pub fn update(&mut self, progress: Progress) {
        self.collections.insert(progress.collection, progress);
    }

    /// Records read so far from each collection.
    pub fn records(&self) -> impl Iterator<Item = (Collection, u64)> + '_ {
        self.collections.iter().map(|(c, p)| (*c, p.records))
    }

    /// One line: each collection's records (of its announced total) in the order they are
    /// read, then the pages read.
    pub fn line(&self) -> String {
        let collections: Vec<String> = self
            .collections
            .values()
            .map(|p| {
                let total = p.total.map_or_else(String::new, |t| format!("/{t}"));
                format!("{} {}{total}", p.collection, p.records)
            })
            .collect();
        let pages: u64 = self.collections.values().map(|p| p.pages).sum();
        format!(
            "reading the roster: {} records, {pages} pages",
            collections.join(", ")
        )
    }
}

/// A OneRoster 1.1 client for one Roster Server. Cheap to clone; clones share the
/// connection pool, the OAuth 2.0 token and the in-flight bound.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    base: BaseUrl,
    transport: Transport,
    page_size: u32,
    /// Places for pages in progress (requested, read, or being decoded), across all
    /// collections: [`pages_in_progress`] of them.
    pages: Semaphore,
    pages_in_progress: usize,
    max_refetches: u32,
    sync_deadline: std::time::Duration,
    compatibility_mode: bool,
}

/// How many pages may be in progress at once (requested, read, or being decoded). The
/// transport lets `max_concurrent_requests` requests out at a time and takes a request's
/// place back once its body is read; up to [`DECODING_PLACES`] pages more may be decoding
/// meanwhile, so the requests' places stay used while pages decode. With only
/// `max_concurrent_requests` pages in progress a place stood idle for each page's decoding:
/// at 50 ms a request, reading `large` took 4.3 s where curl takes 2.1. A page's body counts
/// against the memory budget until it is decoded, so the extra places never take the pages
/// held beyond [`PAGES_HELD_BUDGETED`], what the budget's default was sized for; more
/// requests than that already keep enough pages in progress.
fn pages_in_progress(max_concurrent_requests: usize) -> usize {
    max_concurrent_requests
        .max((max_concurrent_requests + DECODING_PLACES).min(PAGES_HELD_BUDGETED))
}

/// Pages that may be decoding beyond the requests in flight (see [`pages_in_progress`]);
/// measured on `large` at 50 ms: 0 extra places read it in 3.6-4.2 s, 1 in 3.2-3.8 s, 2 in
/// 2.9-3.5 s, 4 no faster.
const DECODING_PLACES: usize = 2;

/// Pages in progress that the memory budget's default (128 MiB of bodies) holds: 8 pages of
/// 10,000 users (docs/sync.md).
const PAGES_HELD_BUDGETED: usize = 8;

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("base", &self.inner.base.as_str())
            .field("compatibility_mode", &self.inner.compatibility_mode)
            .finish_non_exhaustive()
    }
}

/// What to read and how to keep it.
struct Spec<R> {
    collection: Collection,
    segments: Vec<String>,
    filter: bool,
    keep: fn(&R) -> bool,
}

impl<R> Spec<R> {
    fn new(collection: Collection, filter: bool) -> Self {
        Spec {
            collection,
            segments: vec![collection.as_str().to_owned()],
            filter,
            keep: |_| true,
        }
    }
}

/// Why one read of a collection stopped.
enum ReadError {
    Failed(Error),
    PermRevChanged,
}

impl From<Error> for ReadError {
    fn from(error: Error) -> Self {
        ReadError::Failed(error)
    }
}

/// Pages read so far in one read of a collection.
struct Accumulator<R: Record> {
    records: R::List,
    skipped: u64,
    elements: u64,
    pages: u64,
    perm_rev: Option<String>,
    /// The collection's own filter, applied when the read is finished.
    keep: fn(&R) -> bool,
}

impl<R: Record> Accumulator<R> {
    /// Adds a page; fails when its `x-perm-rev` differs from the first page's.
    fn add(&mut self, perm_rev: Option<String>, page: Page<R>) -> Result<(), ReadError> {
        match (&self.perm_rev, perm_rev) {
            (Some(first), Some(this)) if *first != this => return Err(ReadError::PermRevChanged),
            (None, Some(this)) if self.pages == 0 => self.perm_rev = Some(this),
            _ => {}
        }
        self.pages += 1;
        self.elements += page.elements as u64;
        self.skipped += page.skipped;
        self.records.add(page.records, self.keep);
        Ok(())
    }
}

impl Client {
    /// Checks the configuration and builds the client. Fails with `EndpointInvalid` for
    /// a bad endpoint or token URL, plain http without `allow_insecure_http`, or an
    /// unusable CA bundle. Makes no request.
    pub fn new(config: ClientConfig) -> Result<Self, Error> {
        let base = BaseUrl::parse(&config.endpoint, config.allow_insecure_http)?;
        let transport = Transport::new(&config)?;
        let pages = pages_in_progress(config.max_concurrent_requests.max(1));
        Ok(Client {
            inner: Arc::new(Inner {
                base,
                transport,
                page_size: config.page_size.max(1),
                pages: Semaphore::new(pages),
                pages_in_progress: pages,
                max_refetches: config.max_refetches,
                sync_deadline: config.sync_deadline,
                compatibility_mode: config.compatibility_mode,
            }),
        })
    }

    /// The OneRoster base URL requests go to.
    pub fn base_url(&self) -> &BaseUrl {
        &self.inner.base
    }

    /// Reads everything a sync needs within the sync deadline and one retry budget: the
    /// schools first, then the other collections at once (the requests in flight stay
    /// within `max_concurrent_requests`).
    ///
    /// Normal mode reads `/schools`, `/academicSessions`, `/courses`, `/classes`,
    /// `/users` and `/enrollments` with `filter=status='active'`. Compatibility mode
    /// reads `/orgs` (keeping schools), `/academicSessions`, `/classes`, `/users` and
    /// `/enrollments` without a filter, and leaves [`Roster::courses`] `None`. Both
    /// drop deleted records on the client, so on a server that supports both they
    /// give the same records.
    pub async fn fetch_roster(
        &self,
        progress: impl Fn(Progress) + Send + Sync,
    ) -> Result<Roster, Error> {
        self.within_deadline(self.read_roster(&progress)).await
    }

    /// Active schools (`/schools`, or the schools among `/orgs` in compatibility mode).
    pub async fn fetch_schools(&self) -> Result<Fetched<Vec<Org>>, Error> {
        let budget = self.inner.transport.budget();
        self.within_deadline(self.read_schools(&budget, &|_| {}))
            .await
    }

    /// Active academic sessions (`/academicSessions`).
    pub async fn fetch_academic_sessions(&self) -> Result<Fetched<Vec<AcademicSession>>, Error> {
        self.fetch_one::<AcademicSession>(Collection::AcademicSessions)
            .await
    }

    /// Active courses (`/courses`; not available in compatibility mode's minimal
    /// servers, but read when asked).
    pub async fn fetch_courses(&self) -> Result<Fetched<Vec<Course>>, Error> {
        self.fetch_one::<Course>(Collection::Courses).await
    }

    /// Active classes (`/classes`).
    pub async fn fetch_classes(&self) -> Result<Fetched<Vec<Class>>, Error> {
        self.fetch_one::<Class>(Collection::Classes).await
    }

    /// Active users (`/users`).
    pub async fn fetch_users(&self) -> Result<Fetched<Vec<User>>, Error> {
        self.fetch_one::<User>(Collection::Users).await
    }

    /// Active enrollments (`/enrollments`).
    pub async fn fetch_enrollments(&self) -> Result<Fetched<Enrollments>, Error> {
        self.fetch_one::<Enrollment>(Collection::Enrollments).await
    }

    /// Active classes of one school (`/schools/{sourcedId}/classes`, the sourcedId
    /// escaped as one path segment). Not used by compatibility mode.
    pub async fn fetch_classes_for_school(
        &self,
        school_sourced_id: &str,
    ) -> Result<Fetched<Vec<Class>>, Error> {
        let budget = self.inner.transport.budget();
        let spec = Spec::<Class> {
            collection: Collection::Classes,
            segments: vec![
                "schools".to_owned(),
                school_sourced_id.to_owned(),
                "classes".to_owned(),
            ],
            filter: !self.inner.compatibility_mode,
            keep: |_| true,
        };
        self.within_deadline(self.read_collection(spec, &budget, &|_| {}))
            .await
    }

    async fn fetch_one<R: Record>(
        &self,
        collection: Collection,
    ) -> Result<Fetched<R::List>, Error> {
        let budget = self.inner.transport.budget();
        let spec = Spec::<R>::new(collection, !self.inner.compatibility_mode);
        self.within_deadline(self.read_collection(spec, &budget, &|_| {}))
            .await
    }

    async fn within_deadline<T>(
        &self,
        work: impl Future<Output = Result<T, Error>>,
    ) -> Result<T, Error> {
        let deadline = self.inner.sync_deadline;
        tokio::time::timeout(deadline, work)
            .await
            .unwrap_or(Err(Error::SyncTimeout { after: deadline }))
    }

    async fn read_roster(
        &self,
        progress: &(dyn Fn(Progress) + Send + Sync),
    ) -> Result<Roster, Error> {
        let budget = self.inner.transport.budget();
        let filter = !self.inner.compatibility_mode;
        let mut skipped_records = BTreeMap::new();
        let mut note = |collection: Collection, skipped: u64| {
            if skipped > 0 {
                *skipped_records.entry(collection).or_insert(0) += skipped;
            }
        };

        let schools = self.read_schools(&budget, progress).await?;
        let schools_collection = if self.inner.compatibility_mode {
            Collection::Orgs
        } else {
            Collection::Schools
        };
        note(schools_collection, schools.skipped);

        // The rest at once: the transport caps the requests in flight across them, so a
        // collection's last, partly used round of requests is filled with the next one's
        // pages, and a small collection does not wait for a round of its own.
        let courses = async {
            if self.inner.compatibility_mode {
                return Ok(None);
            }
            self.read_collection(
                Spec::<Course>::new(Collection::Courses, filter),
                &budget,
                progress,
            )
            .await
            .map(Some)
        };
        let (sessions, courses, classes, users, enrollments) = futures::future::try_join5(
            self.read_collection(
                Spec::<AcademicSession>::new(Collection::AcademicSessions, filter),
                &budget,
                progress,
            ),
            courses,
            self.read_collection(
                Spec::<Class>::new(Collection::Classes, filter),
                &budget,
                progress,
            ),
            self.read_collection(
                Spec::<User>::new(Collection::Users, filter),
                &budget,
                progress,
            ),
            self.read_collection(
                Spec::<Enrollment>::new(Collection::Enrollments, filter),
                &budget,
                progress,
            ),
        )
        .await?;
        note(Collection::AcademicSessions, sessions.skipped);
        let courses: Option<Fetched<Vec<Course>>> = courses;
        if let Some(courses) = &courses {
            note(Collection::Courses, courses.skipped);
        }
        let courses = courses.map(|c| c.records);
        note(Collection::Classes, classes.skipped);
        note(Collection::Users, users.skipped);
        note(Collection::Enrollments, enrollments.skipped);

        Ok(Roster {
            schools: schools.records,
            academic_sessions: sessions.records,
            courses,
            classes: classes.records,
            users: users.records,
            enrollments: enrollments.records,
            skipped_records,
        })
    }

    async fn read_schools(
        &self,
        budget: &RetryBudget,
        progress: &(dyn Fn(Progress) + Send + Sync),
    ) -> Result<Fetched<Vec<Org>>, Error> {
        let spec = if self.inner.compatibility_mode {
            Spec {
                keep: |org: &Org| org.org_type == Some(OrgType::School),
                ..Spec::new(Collection::Orgs, false)
            }
        } else {
            Spec::new(Collection::Schools, true)
        };
        self.read_collection(spec, budget, progress).await
    }

    /// Reads a collection, again from the start when `x-perm-rev` changes (a bounded
    /// number of times), then keeps active records that pass `keep`, without
    /// duplicates, sorted by sourcedId.
    async fn read_collection<R: Record>(
        &self,
        spec: Spec<R>,
        budget: &RetryBudget,
        progress: &(dyn Fn(Progress) + Send + Sync),
    ) -> Result<Fetched<R::List>, Error> {
        let reads = self.inner.max_refetches.saturating_add(1);
        for attempt in 1..=reads {
            match self.read_once(&spec, attempt, budget, progress).await {
                Ok(accumulated) => return Ok(finish(accumulated)),
                Err(ReadError::Failed(error)) => return Err(error),
                Err(ReadError::PermRevChanged) => {
                    tracing::info!(
                        collection = spec.collection.as_str(),
                        attempt,
                        "x-perm-rev changed while reading; reading the collection again"
                    );
                }
            }
        }
        Err(Error::DataChangedDuringSync {
            collection: spec.collection.as_str(),
            attempts: reads,
        })
    }

    fn target<R>(&self, spec: &Spec<R>, offset: u64, limit: u64) -> Target {
        let segments: Vec<&str> = spec.segments.iter().map(String::as_str).collect();
        let mut target = Target::new(self.inner.base.collection(&segments))
            .with("limit", limit.to_string())
            .with("offset", offset.to_string());
        if spec.filter {
            target = target.with("filter", ACTIVE_FILTER);
        }
        target
    }

    /// GETs and decodes one page. Decoding (the JSON walk, the CPU-heavy part) runs on
    /// tokio's blocking threads, pages in parallel: the task that drives the concurrent
    /// requests keeps reading their bodies meanwhile, so the configured concurrency is
    /// really in flight, and decoding uses more than one core.
    async fn get<R: Record>(
        &self,
        target: &Target,
        budget: &RetryBudget,
        allowance: &RecordAllowance,
    ) -> Result<(PageResponse, Page<R>), Error> {
        let max_field_bytes = self.inner.transport.memory().max_field_bytes;
        // Held until the page is decoded (see `pages_in_progress`).
        let _place = self
            .inner
            .pages
            .acquire()
            .await
            .map_err(|_| Error::EndpointUnreachable {
                url: target.display(),
                reason: "the client is shutting down".into(),
            })?;
        self.inner
            .transport
            .get_page(target, budget, |body, total| async move {
                let limits = DecodeLimits {
                    max_elements: allowance.remaining(total),
                    max_field_bytes,
                    expected_elements: allowance.page,
                };
                let decoded =
                    tokio::task::spawn_blocking(move || decode_page_within::<R>(&body, limits))
                        .await;
                let page = match decoded {
                    Ok(page) => page?,
                    // A panic while decoding stays a panic, as when decoding ran here.
                    Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                    // Only when the runtime shuts down, and then nobody waits for the page.
                    Err(_) => {
                        return Err(DecodeError::Malformed(
                            "the page was not decoded: the client is shutting down".into(),
                        ));
                    }
                };
                allowance.count(page.elements, total)?;
                Ok(page)
            })
            .await
    }

    async fn read_once<R: Record>(
        &self,
        spec: &Spec<R>,
        attempt: u32,
        budget: &RetryBudget,
        progress: &(dyn Fn(Progress) + Send + Sync),
    ) -> Result<Accumulator<R>, ReadError> {
        let limit = u64::from(self.inner.page_size);
        let mut acc = Accumulator {
            records: R::List::default(),
            skipped: 0,
            elements: 0,
            pages: 0,
            perm_rev: None,
            keep: spec.keep,
        };
        let report = |acc: &Accumulator<R>, total: Option<u64>| {
            progress(Progress {
                collection: spec.collection,
                records: acc.elements,
                total,
                pages: acc.pages,
                attempt,
            })
        };

        let allowance = RecordAllowance::new(limit);
        let first_target = self.target(spec, 0, limit);
        let (first, page) = self.get::<R>(&first_target, budget, &allowance).await?;
        allowance.announce(first.total);
        let first_len = page.elements as u64;
        // Pages that hold only records already read mean the server ignores `offset`
        // (or its paging loops): detected in both paths below, before memory grows.
        // foldhash, seeded anew for each read, rather than SipHash: a district's million
        // sourcedIds are hashed while the pages are decoded, on the cores that decode them.
        let hasher = foldhash::fast::RandomState::default();
        let mut seen: foldhash::HashSet<u64> = page
            .records
            .iter()
            .map(|r| hasher.hash_one(r.sourced_id()))
            .collect();
        acc.add(first.perm_rev.clone(), page)?;
        let total = first.total;
        report(&acc, total);
        if first_len == 0 {
            return Ok(acc);
        }
        // A server may cap `limit` below what was asked: when it says there is more
        // (a total beyond this page, or a `next` link), its page length is the step.
        let more_announced = total.is_some_and(|t| t > first_len) || first.next.is_some();
        let step = if first_len < limit && more_announced {
            first_len
        } else {
            limit
        };
        if first_len < step || total.is_some_and(|t| acc.elements >= t) {
            return Ok(acc);
        }

        let mut next_offset = step;
        let mut last_next = first.next;
        let mut last_len = first_len;
        if let Some(total) = total {
            let pages = total.div_ceil(step);
            if pages > MAX_PAGES {
                return Err(ReadError::Failed(Error::MalformedResponse {
                    url: first_target.display(),
                    reason: format!(
                        "the server announces {total} records, more than {MAX_PAGES} pages of {step}"
                    ),
                }));
            }
            // Room for every announced sourcedId at once, so the set is not rebuilt as it
            // grows (a million enrollments rebuilt it seven times, on the thread that
            // gathers the pages). An announced total is the server's word: past
            // SEEN_ROOM_AT_MOST the set grows as it fills.
            seen.reserve(
                usize::try_from(total).map_or(SEEN_ROOM_AT_MOST, |t| t.min(SEEN_ROOM_AT_MOST)),
            );
            let targets: Vec<Target> = (1..pages)
                .map(|i| self.target(spec, i * step, step))
                .collect();
            // Owned targets moved into each future: a closure over `&Target` makes the
            // future's `Send` unprovable for every lifetime (rust-lang/rust#102211), and
            // the controller runs syncs in spawned tasks.
            let allowance = &allowance;
            let mut pages_stream = stream::iter(targets)
                .map(|target| async move {
                    let offset = target.param("offset").map(str::to_owned);
                    self.get::<R>(&target, budget, allowance)
                        .await
                        .map(|got| (offset, got))
                })
                .buffered(self.inner.pages_in_progress);
            while let Some(result) = pages_stream.next().await {
                let (offset, (response, page)) = result?;
                let new = page
                    .records
                    .iter()
                    .filter(|r| seen.insert(hasher.hash_one(r.sourced_id())))
                    .count();
                if new == 0 && !page.records.is_empty() {
                    return Err(ReadError::Failed(Error::PagesRepeated {
                        url: first_target.display(),
                        reason: format!(
                            "the page at offset {} of {total} announced records",
                            offset.as_deref().unwrap_or("?")
                        ),
                    }));
                }
                last_len = page.elements as u64;
                last_next = response.next;
                acc.add(response.perm_rev, page)?;
                report(&acc, Some(total));
            }
            next_offset = pages * step;
            // Done at the total, or on a short last page.
            if last_len < step || acc.elements >= total {
                return Ok(acc);
            }
        }

        // Sequential: follow `next` (on this server, never seen before) or the offset.
        let mut visited: HashSet<String> = HashSet::new();
        visited.insert(first_target.to_url().to_string());
        loop {
            if acc.pages >= MAX_PAGES {
                return Err(ReadError::Failed(Error::MalformedResponse {
                    url: first_target.display(),
                    reason: format!("the paging did not end after {MAX_PAGES} pages"),
                }));
            }
            let (target, by_link) = match last_next.take() {
                Some(next)
                    if self.inner.base.contains(&next) && !visited.contains(next.as_str()) =>
                {
                    (Target::from_url(&next), true)
                }
                _ => (self.target(spec, next_offset, step), false),
            };
            if !visited.insert(target.to_url().to_string()) {
                return Ok(acc);
            }
            let (response, page) = self.get::<R>(&target, budget, &allowance).await?;
            let len = page.elements as u64;
            if len == 0 {
                // A `next` past the end answers an empty page: done.
                return Ok(acc);
            }
            let new = page
                .records
                .iter()
                .filter(|r| seen.insert(hasher.hash_one(r.sourced_id())))
                .count();
            if new == 0 && page.skipped == 0 {
                if by_link && total.is_none() {
                    // A `next` that serves records already read, and no total that says
                    // more are left: the paging ends here.
                    return Ok(acc);
                }
                // Asked by offset, or more records announced: the server ignores
                // `offset` (or loops) and reading on would never end.
                return Err(ReadError::Failed(Error::PagesRepeated {
                    url: first_target.display(),
                    reason: match total {
                        Some(total) => format!(
                            "{} of {total} announced records read, then a page of repeats",
                            acc.elements
                        ),
                        None => format!(
                            "{} records read, then a page of repeats at offset {next_offset}",
                            acc.elements
                        ),
                    },
                }));
            }
            let offset = target
                .param("offset")
                .and_then(|o| o.parse::<u64>().ok())
                .unwrap_or(next_offset);
            next_offset = offset + len;
            last_next = response.next;
            acc.add(response.perm_rev, page)?;
            report(&acc, total);
            if len < step || total.is_some_and(|t| acc.elements >= t) {
                return Ok(acc);
            }
        }
    }
}

/// Keeps active records that pass the collection's filter, drops duplicates (first read
/// wins), sorts by sourcedId.
fn finish<R: Record>(acc: Accumulator<R>) -> Fetched<R::List> {
    let mut records = acc.records;
    let dropped = records.finish(acc.keep);
    Fetched {
        dropped,
        records,
        skipped: acc.skipped,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roster_progress_shows_every_collection_in_reading_order() {
        let progress = |collection, records, total, pages| Progress {
            collection,
            records,
            total,
            pages,
            attempt: 1,
        };
        let mut read = RosterProgress::default();
        read.update(progress(Collection::Enrollments, 10, Some(30), 1));
        read.update(progress(Collection::Schools, 3, Some(3), 1));
        read.update(progress(Collection::Users, 5, None, 1));
        read.update(progress(Collection::Enrollments, 20, Some(30), 2));
        assert_eq!(
            read.line(),
            "reading the roster: schools 3/3, users 5, enrollments 20/30 records, 4 pages"
        );
        let records: Vec<(Collection, u64)> = read.records().collect();
        assert_eq!(
            records,
            vec![
                (Collection::Schools, 3),
                (Collection::Users, 5),
                (Collection::Enrollments, 20)
            ]
        );
    }

    #[test]
    fn pages_in_progress_add_decoding_places_within_what_the_budget_holds() {
        let places: Vec<usize> = [1, 2, 4, 6, 7, 8, 9, 32]
            .into_iter()
            .map(pages_in_progress)
            .collect();
        assert_eq!(places, vec![3, 4, 6, 8, 8, 8, 9, 32]);
    }

    #[test]
    fn pages_counted_in_any_order_are_held_to_the_allowance_of_a_sequential_read() {
        // Pages of 2, 3 announced: at most 3 * 2 + 2 = 8 elements.
        let allowance = RecordAllowance::new(2);
        allowance.announce(Some(3));
        // Two pages that started together were each allowed all 8 while decoding.
        assert_eq!(allowance.remaining(Some(3)), 8);
        assert_eq!(allowance.count(5, Some(3)), Ok(()));
        // The second one, counted after the first, holds more than is left.
        assert_eq!(
            allowance.count(4, Some(3)),
            Err(DecodeError::TooManyRecords { limit: 3 })
        );
        // A refused page counts nothing; what is left is still there.
        assert_eq!(allowance.remaining(Some(3)), 3);
        assert_eq!(allowance.count(3, Some(3)), Ok(()));
        assert_eq!(allowance.remaining(Some(3)), 0);
        // A page announcing a smaller total is held to that total's allowance.
        let allowance = RecordAllowance::new(2);
        allowance.announce(Some(100));
        assert_eq!(
            allowance.count(5, Some(1)),
            Err(DecodeError::TooManyRecords { limit: 4 })
        );
    }
}
