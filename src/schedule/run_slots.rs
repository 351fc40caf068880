//! Bookkeeping of running syncs: a global cap on how many run at once, and never two syncs
//! of one integration at the same time.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// Why a sync may not start now.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StartRefused {
    /// A sync of this integration is still running.
    #[error("a sync of {key} is already running")]
    AlreadyRunning {
        /// `namespace/name` of the ClassLinkSync.
        key: String,
    },
    /// As many syncs as allowed are running.
    #[error("{max} syncs are running, the most allowed at once")]
    AtCapacity {
        /// The cap on concurrent syncs.
        max: usize,
    },
}

/// Proof that a sync of one integration holds a run slot. Hand it back to
/// [`RunSlots::finish`] when the sync ends, however it ends.
#[derive(Debug, PartialEq, Eq)]
#[must_use = "a run slot stays taken until the permit is handed back to RunSlots::finish"]
pub struct RunPermit {
    key: String,
}

impl RunPermit {
    /// `namespace/name` of the ClassLinkSync the permit is for.
    pub fn key(&self) -> &str {
        &self.key
    }
}

/// Which integrations are syncing now, under a cap on how many may sync at once. Plain data:
/// share it behind a mutex, or use [`SharedRunSlots`], which does that and hands back the
/// slot when its guard drops.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunSlots {
    max: usize,
    running: HashSet<String>,
}

impl RunSlots {
    /// At most `max_concurrent_syncs` syncs at once; 0 counts as 1, since a cap of nothing
    /// would stop every sync.
    pub fn new(max_concurrent_syncs: usize) -> RunSlots {
        RunSlots {
            max: max_concurrent_syncs.max(1),
            running: HashSet::new(),
        }
    }

    /// Takes a run slot for a sync of `key` (`namespace/name`), unless that integration is
    /// already syncing or the cap is reached.
    pub fn try_start(&mut self, key: &str) -> Result<RunPermit, StartRefused> {
        if self.running.contains(key) {
            return Err(StartRefused::AlreadyRunning {
                key: key.to_owned(),
            });
        }
        if self.running.len() >= self.max {
            return Err(StartRefused::AtCapacity { max: self.max });
        }
        self.running.insert(key.to_owned());
        Ok(RunPermit {
            key: key.to_owned(),
        })
    }

    /// Gives back the run slot of a sync that ended.
    pub fn finish(&mut self, permit: RunPermit) {
        self.running.remove(&permit.key);
    }

    /// Whether a sync of `key` is running.
    pub fn is_running(&self, key: &str) -> bool {
        self.running.contains(key)
    }

    /// How many syncs are running.
    pub fn running(&self) -> usize {
        self.running.len()
    }

    /// The cap on concurrent syncs.
    pub fn max(&self) -> usize {
        self.max
    }
}

/// [`RunSlots`] shared between the reconciler and the sync tasks. Cloning shares the same
/// slots. The lock is held only for a set insert or removal, never across an `await`.
#[derive(Debug, Clone)]
pub struct SharedRunSlots {
    slots: Arc<Mutex<RunSlots>>,
}

impl SharedRunSlots {
    /// At most `max_concurrent_syncs` syncs at once (0 counts as 1).
    pub fn new(max_concurrent_syncs: usize) -> SharedRunSlots {
        SharedRunSlots {
            slots: Arc::new(Mutex::new(RunSlots::new(max_concurrent_syncs))),
        }
    }

    /// Takes a run slot for a sync of `key`; the slot is given back when the guard drops, so
    /// a sync task that ends by error, cancellation or panic cannot leak it.
    pub fn try_start(&self, key: &str) -> Result<RunGuard, StartRefused> {
        let permit = self.lock().try_start(key)?;
        Ok(RunGuard {
            slots: Arc::clone(&self.slots),
            permit: Some(permit),
        })
    }

    /// Whether a sync of `key` is running.
    pub fn is_running(&self, key: &str) -> bool {
        self.lock().is_running(key)
    }

    /// How many syncs are running (the "syncs in flight" metric).
    pub fn running(&self) -> usize {
        self.lock().running()
    }

    fn lock(&self) -> MutexGuard<'_, RunSlots> {
        // A panic elsewhere cannot leave the set half-updated (each change is one insert or
        // removal), so a poisoned lock is still sound to use.
        self.slots.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A run slot held by one sync; dropping it gives the slot back.
#[derive(Debug)]
#[must_use = "the run slot is given back as soon as the guard drops"]
pub struct RunGuard {
    slots: Arc<Mutex<RunSlots>>,
    permit: Option<RunPermit>,
}

impl RunGuard {
    /// `namespace/name` of the ClassLinkSync syncing.
    pub fn key(&self) -> &str {
        self.permit.as_ref().map_or("", RunPermit::key)
    }
}

impl Drop for RunGuard {
    fn drop(&mut self) {
        if let Some(permit) = self.permit.take() {
            self.slots
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .finish(permit);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_start_of_a_running_integration_is_refused() {
        let mut slots = RunSlots::new(4);
        let permit = slots.try_start("district/a").expect("first start");
        assert_eq!(
            slots.try_start("district/a"),
            Err(StartRefused::AlreadyRunning {
                key: "district/a".into()
            })
        );
        assert_eq!(slots.running(), 1);
        slots.finish(permit);
        assert!(slots.try_start("district/a").is_ok());
    }

    #[test]
    fn no_start_beyond_the_cap_until_a_sync_finishes() {
        let mut slots = RunSlots::new(2);
        let a = slots.try_start("district/a").expect("a");
        let _b = slots.try_start("district/b").expect("b");
        assert_eq!(
            slots.try_start("district/c"),
            Err(StartRefused::AtCapacity { max: 2 })
        );
        assert!(!slots.is_running("district/c"));
        slots.finish(a);
        assert!(!slots.is_running("district/a"));
        assert!(slots.try_start("district/c").is_ok());
        assert_eq!(slots.running(), 2);
    }

    #[test]
    fn at_the_cap_a_running_integration_is_reported_as_running() {
        let mut slots = RunSlots::new(1);
        let _a = slots.try_start("district/a").expect("a");
        assert!(matches!(
            slots.try_start("district/a"),
            Err(StartRefused::AlreadyRunning { .. })
        ));
    }

    #[test]
    fn a_cap_of_zero_still_lets_one_sync_run() {
        let mut slots = RunSlots::new(0);
        assert_eq!(slots.max(), 1);
        let _a = slots.try_start("district/a").expect("a");
        assert!(slots.try_start("district/b").is_err());
    }

    #[test]
    fn dropping_the_guard_gives_the_run_slot_back() {
        let shared = SharedRunSlots::new(1);
        let guard = shared.try_start("district/a").expect("a");
        assert_eq!(guard.key(), "district/a");
        assert!(shared.is_running("district/a"));
        assert!(matches!(
            shared.clone().try_start("district/b"),
            Err(StartRefused::AtCapacity { max: 1 })
        ));
        drop(guard);
        assert_eq!(shared.running(), 0);
        assert!(shared.try_start("district/b").is_ok());
    }

    #[test]
    fn a_sync_task_that_panics_still_gives_its_run_slot_back() {
        let shared = SharedRunSlots::new(1);
        let guard = shared.try_start("district/a").expect("a");
        let task = std::thread::spawn(move || {
            let _guard = guard;
            panic!("sync task failed");
        });
        assert!(task.join().is_err());
        assert!(!shared.is_running("district/a"));
        assert!(shared.try_start("district/a").is_ok());
    }
}
