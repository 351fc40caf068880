//! Where the controller and the schedule read the time, so that tests can set it.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use jiff::{SignedDuration, Timestamp};

/// Environment variable that starts the operator's clock at an RFC 3339 time, running at
/// real speed from there. For tests that need a given hour of the night; not for users.
pub const FAKE_NOW_ENV: &str = "CLASSLINK_FAKE_NOW";

/// A source of the current time.
pub trait Clock: Send + Sync {
    /// The current time.
    fn now(&self) -> Timestamp;

    /// A time another party stamped on the wall clock (the API server's
    /// `creationTimestamp`), as this clock reads it. The same for a real clock.
    fn reading_of_wall_time(&self, t: Timestamp) -> Timestamp {
        t
    }
}

/// The system's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// A clock that stands still until a test sets or advances it. Clones share one time, so a
/// test can keep a handle while the code under test holds another.
#[derive(Debug, Clone)]
pub struct FakeClock {
    now: Arc<Mutex<Timestamp>>,
}

impl FakeClock {
    /// A clock reading `now`.
    pub fn new(now: Timestamp) -> FakeClock {
        FakeClock {
            now: Arc::new(Mutex::new(now)),
        }
    }

    /// Sets the time to `now`.
    pub fn set(&self, now: Timestamp) {
        *self.now.lock().unwrap_or_else(PoisonError::into_inner) = now;
    }

    /// Moves the time forward by `by` (backward when negative), stopping at the ends of the
    /// representable range, and returns the new time.
    pub fn advance(&self, by: SignedDuration) -> Timestamp {
        let mut now = self.now.lock().unwrap_or_else(PoisonError::into_inner);
        *now = super::window::saturating_add(*now, by);
        *now
    }
}

impl Clock for FakeClock {
    fn now(&self) -> Timestamp {
        *self.now.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A clock that starts at a given time and runs at real speed from there: the operator's
/// clock under [`FAKE_NOW_ENV`], so a test can pin the hour of the night and still watch
/// real syncs run.
#[derive(Debug, Clone, Copy)]
pub struct OffsetClock {
    start: Timestamp,
    started: Instant,
    wall_at_start: Timestamp,
}

impl OffsetClock {
    /// A clock that reads `start` now.
    pub fn starting_at(start: Timestamp) -> OffsetClock {
        OffsetClock {
            start,
            started: Instant::now(),
            wall_at_start: Timestamp::now(),
        }
    }
}

impl Clock for OffsetClock {
    fn now(&self) -> Timestamp {
        let elapsed =
            SignedDuration::try_from(self.started.elapsed()).unwrap_or(SignedDuration::MAX);
        super::window::saturating_add(self.start, elapsed)
    }

    /// Shifted as this clock is: an object created a second ago reads as created a second
    /// before this clock's `now`.
    fn reading_of_wall_time(&self, t: Timestamp) -> Timestamp {
        super::window::saturating_add(self.start, t.duration_since(self.wall_at_start))
    }
}

/// The operator's clock: the system's, or an [`OffsetClock`] when [`FAKE_NOW_ENV`] is set.
/// A value that is not an RFC 3339 time is an error, never silently the real time.
pub fn clock_from_env() -> Result<Arc<dyn Clock>, String> {
    match std::env::var(FAKE_NOW_ENV) {
        Ok(value) => {
            let start: Timestamp = value
                .parse()
                .map_err(|e| format!("{FAKE_NOW_ENV}={value:?} is not an RFC 3339 time: {e}"))?;
            tracing::warn!(start = %start, "{FAKE_NOW_ENV} is set: the clock starts at {start}");
            Ok(Arc::new(OffsetClock::starting_at(start)))
        }
        Err(_) => Ok(Arc::new(SystemClock)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fake_clock_stands_still_until_set_or_advanced() {
        let start: Timestamp = "2026-03-08T07:00:00Z".parse().expect("timestamp");
        let clock = FakeClock::new(start);
        assert_eq!(clock.now(), start);
        assert_eq!(clock.now(), start);
        let later = clock.advance(SignedDuration::from_mins(90));
        assert_eq!(later, "2026-03-08T08:30:00Z".parse().expect("timestamp"));
        clock.set(start);
        assert_eq!(clock.now(), start);
    }

    #[test]
    fn fake_clock_clones_share_one_time() {
        let clock = FakeClock::new(Timestamp::UNIX_EPOCH);
        let held_by_code_under_test: Arc<dyn Clock> = Arc::new(clock.clone());
        clock.advance(SignedDuration::from_hours(1));
        assert_eq!(
            held_by_code_under_test.now(),
            "1970-01-01T01:00:00Z".parse().expect("timestamp")
        );
    }

    #[test]
    fn offset_clock_starts_at_its_time_and_runs_forward() {
        let start: Timestamp = "2026-11-30T01:30:00Z".parse().expect("timestamp");
        let clock = OffsetClock::starting_at(start);
        let first = clock.now();
        assert!(first >= start);
        assert!(first.duration_since(start) < SignedDuration::from_secs(60));
        assert!(clock.now() >= first);
        let a_second_ago = Timestamp::now() - SignedDuration::from_secs(1);
        let shifted = clock.reading_of_wall_time(a_second_ago);
        assert!(shifted < clock.now() && clock.now().duration_since(shifted).as_secs() < 60);
        assert_eq!(SystemClock.reading_of_wall_time(a_second_ago), a_second_ago);
    }

    #[test]
    fn system_clock_reads_the_current_time() {
        let before = Timestamp::now();
        let read = SystemClock.now();
        assert!(read >= before);
        assert!(read.duration_since(before) < SignedDuration::from_secs(60));
    }
}
