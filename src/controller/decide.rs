//! The controller's one decision in time: given what it observes of a ClassLinkSync at `now`,
//! start a sync (and with which trigger) or wait (until when, and why). Pure code: no
//! Kubernetes or store I/O and no clock of its own, so every rule is tested at any hour.
//!
//! The rules, in the order they win:
//! 1. A sync runs already: wait for it.
//! 2. `spec.suspend`: nothing starts; no next sync time.
//! 3. A manual request (a new `rostersync.io/sync-requested-at` value) starts `Manual` now.
//! 4. A ClassLinkSync that never synced starts `Initial` now (unless `initialSync:
//!    NextWindow`).
//! 5. A sync that was started but never finished (the operator died) is retried now.
//! 6. A change of the inputs (spec but `suspend`/`displayName`, the Secret, the
//!    SchoolExclusions) starts `Changed` once no further change came for [`CHANGE_DELAY`].
//! 7. A transient failure ([`ErrorCode::retried`]) starts `Retry` after a backoff of 1, 2, 4 …
//!    minutes (at most 60) plus a jitter that depends on the name only.
//! 8. The nightly slot starts `Scheduled`, at most once per window: a sync of any kind that
//!    started in tonight's window is tonight's ([`next_sync_time`]).

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use sha2::{Digest, Sha256};

use crate::crd::{InitialSync, Region};
use crate::error_code::ErrorCode;
use crate::schedule::{Window, next_sync_time, slot_for};
use crate::sync::Trigger;

/// How long the inputs must stay unchanged before a change starts a sync: a burst of edits
/// (a GitOps apply, a Secret rotated key by key) gives one sync.
pub const CHANGE_DELAY: Duration = Duration::from_secs(30);
/// The first retry of a transient failure waits this long; each further one twice as long.
pub const RETRY_BASE: Duration = Duration::from_secs(60);
/// The longest wait between retries.
pub const RETRY_CAP: Duration = Duration::from_secs(3600);
/// Retries wait up to this share longer, by name, so many failures at once spread out.
const RETRY_JITTER_PERCENT: u64 = 20;

/// What the controller knows of one ClassLinkSync at the moment it decides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed {
    /// `namespace/name`; it fixes the slot and the jitter.
    pub key: String,
    /// `spec.region`.
    pub region: Region,
    /// `spec.suspend`.
    pub suspend: bool,
    /// `spec.initialSync`.
    pub initial_sync: InitialSync,
    /// `metadata.creationTimestamp`.
    pub created: Timestamp,
    /// A value of the request annotation that no sync has handled yet.
    pub manual_request: bool,
    /// Whether this replica runs a sync of it now.
    pub running: bool,
    /// `status.lastSyncStartTime`: the start of the most recent sync, finished or not.
    pub last_start: Option<Timestamp>,
    /// `status.lastSync`: the most recent finished sync.
    pub last_sync: Option<FinishedSync>,
    /// `status.failedAttempts`.
    pub failed_attempts: u32,
    /// The inputs' fingerprint now and in status.
    pub inputs: Inputs,
}

/// The most recent finished sync, as far as the decision needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FinishedSync {
    /// When it started.
    pub started: Timestamp,
    /// When it finished.
    pub completed: Timestamp,
    /// The code it failed with; `None` when it did not fail.
    pub failed_with: Option<ErrorCode>,
}

/// What the sync's result depends on, as fingerprints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inputs {
    /// `status.inputsFingerprint`: what the most recent sync started from.
    pub recorded: Option<String>,
    /// What the cluster holds now.
    pub current: String,
    /// Since when the cluster has held `current` (the last change seen).
    pub current_since: Timestamp,
}

impl Inputs {
    fn changed(&self) -> bool {
        self.recorded.as_ref().is_some_and(|r| *r != self.current)
    }
}

/// What to do now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Start a sync now.
    Start(Trigger),
    /// Start nothing now.
    Wait(Wait),
}

/// Why nothing starts now, and until when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wait {
    /// `status.nextSyncTime`: when the next sync may start. `None` while suspended or while
    /// a sync runs (its end decides again).
    pub next_sync_time: Option<Timestamp>,
    /// What the `Syncing` condition says.
    pub reason: WaitReason,
    /// `status.inputsFingerprint` should take the current fingerprint (a ClassLinkSync from
    /// before fingerprints were kept: adopt what is there instead of syncing again).
    pub adopt_inputs: bool,
}

/// Why nothing starts now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitReason {
    /// A sync runs.
    Running,
    /// `spec.suspend` is true.
    Suspended,
    /// A transient failure is retried at `next_sync_time`.
    Retrying {
        /// The retry's number (1 for the first).
        attempt: u32,
        /// The failure retried.
        code: ErrorCode,
    },
    /// A change waits out [`CHANGE_DELAY`].
    ChangePending,
    /// The next sync is the nightly one.
    Scheduled,
    /// The next sync is the nightly one, and last night's window closed without a sync: the
    /// operator was down, or at its cap on concurrent syncs all night (docs/schedule.md).
    MissedWindow {
        /// The night whose window had no sync.
        night: jiff::civil::Date,
    },
}

impl WaitReason {
    /// The `Syncing` condition's reason.
    pub fn as_str(self) -> &'static str {
        match self {
            WaitReason::Running => "Running",
            WaitReason::Suspended => "Suspended",
            WaitReason::Retrying { .. } => "Retrying",
            WaitReason::ChangePending => "ChangePending",
            WaitReason::Scheduled => "Scheduled",
            WaitReason::MissedWindow { .. } => "MissedWindow",
        }
    }
}

/// The decision for `observed` at `now`.
pub fn decide(now: Timestamp, observed: &Observed) -> Decision {
    let adopt_inputs = observed.inputs.recorded.is_none() && observed.last_sync.is_some();
    let wait = |next_sync_time, reason| {
        Decision::Wait(Wait {
            next_sync_time,
            reason,
            adopt_inputs,
        })
    };
    if observed.running {
        return wait(None, WaitReason::Running);
    }
    if observed.suspend {
        return wait(None, WaitReason::Suspended);
    }
    if observed.manual_request {
        return Decision::Start(Trigger::Manual);
    }
    let never_started = observed.last_start.is_none() && observed.last_sync.is_none();
    if never_started && observed.initial_sync == InitialSync::Immediate {
        return Decision::Start(Trigger::Initial);
    }
    if interrupted(observed) {
        return Decision::Start(Trigger::Retry);
    }

    // Each candidate: when it is due, what starts then, and why we wait until then.
    let mut candidates: Vec<(Timestamp, Trigger, WaitReason)> = Vec::with_capacity(3);
    if observed.inputs.changed() {
        let due = add(observed.inputs.current_since, CHANGE_DELAY);
        candidates.push((due, Trigger::Changed, WaitReason::ChangePending));
    }
    if let Some(last) = observed.last_sync
        && let Some(code) = last.failed_with.filter(|c| c.retried())
    {
        let attempt = observed.failed_attempts.max(1);
        let due = add(last.completed, retry_delay(&observed.key, attempt));
        candidates.push((due, Trigger::Retry, WaitReason::Retrying { attempt, code }));
    }
    let previous_start = observed
        .last_start
        .into_iter()
        .chain(observed.last_sync.map(|l| l.started))
        .max();
    let nightly = next_sync_time(
        observed.region,
        slot_for(&observed.key),
        previous_start,
        observed.created,
        now,
    );
    candidates.push((nightly, Trigger::Scheduled, WaitReason::Scheduled));

    // The earliest wins; on a tie the order above (change, retry, nightly).
    let (due, trigger, reason) = candidates
        .into_iter()
        .min_by_key(|(due, ..)| *due)
        .unwrap_or((nightly, Trigger::Scheduled, WaitReason::Scheduled));
    if due <= now {
        return Decision::Start(trigger);
    }
    let reason = match (reason, missed_window(observed, previous_start, now)) {
        (WaitReason::Scheduled, Some(night)) => WaitReason::MissedWindow { night },
        (reason, _) => reason,
    };
    wait(Some(due), reason)
}

/// The night whose window closed last before `now`, when it should have had this
/// integration's nightly sync (the integration existed at its slot) and no sync started in
/// it or since.
fn missed_window(
    observed: &Observed,
    previous_start: Option<Timestamp>,
    now: Timestamp,
) -> Option<jiff::civil::Date> {
    let latest = Window::at_or_before(observed.region, now);
    let closed = if latest.contains(now) {
        Window::on_night(observed.region, latest.night().yesterday().ok()?)
    } else {
        latest
    };
    let slot_time = closed.slot_start(slot_for(&observed.key));
    let expected = observed.created < slot_time;
    let ran = previous_start.is_some_and(|start| start >= closed.opens());
    (expected && !ran).then(|| closed.night())
}

/// A sync started (its start is in status) but neither runs nor finished: the replica that
/// ran it died. It is retried at once; its start still counts for the night.
fn interrupted(observed: &Observed) -> bool {
    match (observed.last_start, observed.last_sync) {
        (Some(start), Some(last)) => start > last.started,
        (Some(_), None) => true,
        (None, _) => false,
    }
}

/// How long the `attempt`-th retry of `key` waits after the failure: 1, 2, 4 … minutes, at
/// most [`RETRY_CAP`], plus up to 20% more by name. The same name and attempt always wait
/// the same, so a restart does not move a retry.
pub fn retry_delay(key: &str, attempt: u32) -> Duration {
    let doublings = attempt.saturating_sub(1).min(16);
    let base = RETRY_BASE.saturating_mul(1 << doublings).min(RETRY_CAP);
    let digest = Sha256::new()
        .chain_update(key.as_bytes())
        .chain_update(attempt.to_be_bytes())
        .finalize();
    let spread = u64::from(u16::from_be_bytes([digest[0], digest[1]])) * RETRY_JITTER_PERCENT;
    let jitter_ms = (base.as_millis() as u64).saturating_mul(spread) / (100 * 65_536);
    base + Duration::from_millis(jitter_ms)
}

fn add(t: Timestamp, d: Duration) -> Timestamp {
    let d = SignedDuration::try_from(d).unwrap_or(SignedDuration::MAX);
    t.checked_add(d).unwrap_or(Timestamp::MAX)
}

/// The fingerprint of a sync's inputs: the spec as JSON without `suspend` and
/// `displayName` (which change nothing a sync writes), the Secret's `resourceVersion` (or
/// its absence), and the name and generation of each SchoolExclusion naming the
/// ClassLinkSync (its status writes do not move the generation).
pub fn inputs_fingerprint(
    spec: &serde_json::Value,
    secret_version: Option<&str>,
    exclusions: &[(String, i64)],
) -> String {
    let mut spec = spec.clone();
    if let Some(fields) = spec.as_object_mut() {
        fields.remove("suspend");
        fields.remove("displayName");
    }
    let mut exclusions = exclusions.to_vec();
    exclusions.sort();
    let mut hash = Sha256::new();
    hash.update(spec.to_string().as_bytes());
    hash.update([0]);
    hash.update(secret_version.unwrap_or("-").as_bytes());
    for (name, generation) in &exclusions {
        hash.update([0]);
        hash.update(name.as_bytes());
        hash.update(generation.to_be_bytes());
    }
    let digest = hash.finalize();
    digest[..12].iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests;
