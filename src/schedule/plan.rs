//! When an integration's next scheduled (nightly) sync may start: `status.nextSyncTime`.

use jiff::{SignedDuration, Timestamp};

use super::slot::Slot;
use super::window::{Window, saturating_add};
use crate::crd::Region;

/// How far ahead of this replica's clock another replica's clock may run. A previous start
/// later than `now` by at most this much is a real start stamped by a clock running ahead;
/// one further ahead cannot be right and is ignored, so a corrupt status cannot hold the
/// schedule back.
pub const MAX_CLOCK_SKEW: SignedDuration = SignedDuration::from_mins(15);

/// When the scheduled sync of an integration in `slot` may start next.
///
/// `previous_start` is when its most recent sync of any kind started (first, manual,
/// retry, after a change, or scheduled); `since` is when the integration came to exist.
///
/// The rules, in order:
/// - at most one scheduled sync per night: a sync of any kind that started in a night's
///   window (or after it closed, in daytime) uses up that night, so the next scheduled sync
///   goes to a later night; a sync that started in the afternoon uses up no night to come;
/// - the slot's time in the first night left, when that is still ahead of `now`;
/// - `now` itself when the slot's time has passed but its window is still open and the
///   integration already existed at the slot's time: a sync that missed its slot (the
///   operator was down, or the cap on concurrent syncs held it back) runs late that same
///   night instead of skipping it. One created after its slot tonight waits for tomorrow's,
///   so a large apply inside an open window does not start everything at once;
/// - otherwise the slot's time in the next night.
///
/// The result is never before `now`, always inside a window, and stays the same as `now`
/// moves towards it. It is at most a day (23 to 25 hours at a daylight saving change) plus
/// the slot's offset ahead of `now`. A `previous_start` more than [`MAX_CLOCK_SKEW`] after
/// `now` is ignored.
pub fn next_sync_time(
    region: Region,
    slot: Slot,
    previous_start: Option<Timestamp>,
    since: Timestamp,
    now: Timestamp,
) -> Timestamp {
    let current = Window::at_or_before(region, now);
    let latest_credible_start = saturating_add(now, MAX_CLOCK_SKEW);
    let first_night_left = match previous_start.filter(|start| *start <= latest_credible_start) {
        Some(start) => Window::at_or_before(region, start).next(),
        None => current,
    };
    if first_night_left.night() > current.night() {
        // Tonight's sync has run; the next window opens after `now`.
        return first_night_left.slot_start(slot);
    }
    let tonight = current.slot_start(slot);
    if tonight >= now {
        tonight
    } else if current.contains(now) && tonight >= since {
        now
    } else {
        current.next().slot_start(slot)
    }
}

/// Whether the scheduled sync may start at `now`: whether [`next_sync_time`] has come.
pub fn is_due(
    region: Region,
    slot: Slot,
    previous_start: Option<Timestamp>,
    since: Timestamp,
    now: Timestamp,
) -> bool {
    next_sync_time(region, slot, previous_start, since, now) <= now
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schedule::slot::{SLOTS_PER_WINDOW, slot_of};

    fn ts(s: &str) -> Timestamp {
        s.parse().expect("test timestamp")
    }

    fn slot(index: u16) -> Slot {
        Slot::new(index).expect("test slot")
    }

    /// Long before any moment the tests use: the integration has always existed.
    fn long_ago() -> Timestamp {
        ts("2020-01-01T00:00:00Z")
    }

    fn next(region: Region, slot: Slot, previous: Option<Timestamp>, now: Timestamp) -> Timestamp {
        next_sync_time(region, slot, previous, long_ago(), now)
    }

    fn due(region: Region, slot: Slot, previous: Option<Timestamp>, now: Timestamp) -> bool {
        is_due(region, slot, previous, long_ago(), now)
    }

    #[test]
    fn one_created_after_its_slot_tonight_waits_for_tomorrow() {
        // Slot 8 (20:00 UK). Created at 22:00 inside the open window: not late, tomorrow.
        let created = ts("2026-06-10T22:00:00Z");
        let now = ts("2026-06-10T22:00:05Z");
        assert_eq!(
            next_sync_time(Region::UK, slot(EIGHT_PM), None, created, now),
            ts("2026-06-11T20:00:00Z")
        );
        // Created at 19:00, the operator was down at 20:00: late tonight.
        let created = ts("2026-06-10T19:00:00Z");
        assert_eq!(
            next_sync_time(Region::UK, slot(EIGHT_PM), None, created, now),
            now
        );
    }

    #[test]
    fn a_first_or_manual_sync_inside_tonights_window_uses_up_tonight() {
        // A first sync at 19:30, slot 8 (20:00) still ahead: no second sync tonight.
        let first = Some(ts("2026-06-10T19:30:00Z"));
        assert_eq!(
            next(
                Region::UK,
                slot(EIGHT_PM),
                first,
                ts("2026-06-10T19:31:00Z")
            ),
            ts("2026-06-11T20:00:00Z")
        );
    }

    /// Slot 8 starts at 20:00 local time.
    const EIGHT_PM: u16 = 8;

    #[test]
    fn tonight_when_the_slot_is_still_ahead() {
        let previous = ts("2026-06-09T20:00:00Z");
        let now = ts("2026-06-10T12:00:00Z");
        assert_eq!(
            next(Region::UK, slot(EIGHT_PM), Some(previous), now),
            ts("2026-06-10T20:00:00Z")
        );
        assert!(!due(Region::UK, slot(EIGHT_PM), Some(previous), now));
    }

    #[test]
    fn due_from_the_slot_time_on() {
        let previous = Some(ts("2026-06-09T20:00:00Z"));
        let at_slot = ts("2026-06-10T20:00:00Z");
        assert!(!due(
            Region::UK,
            slot(EIGHT_PM),
            previous,
            ts("2026-06-10T19:59:59Z")
        ));
        assert!(due(Region::UK, slot(EIGHT_PM), previous, at_slot));
        assert_eq!(next(Region::UK, slot(EIGHT_PM), previous, at_slot), at_slot);
    }

    #[test]
    fn never_two_scheduled_syncs_in_one_night() {
        // Tonight's sync started at 20:00: the next one is tomorrow's 20:00.
        let previous = Some(ts("2026-06-10T20:00:00Z"));
        let now = ts("2026-06-10T20:30:00Z");
        assert_eq!(
            next(Region::UK, slot(EIGHT_PM), previous, now),
            ts("2026-06-11T20:00:00Z")
        );
        // Even when tonight's start was before the slot (it was a first sync at 18:05) and
        // the slot's time is still ahead tonight.
        let early = Some(ts("2026-06-10T18:05:00Z"));
        assert_eq!(
            next(Region::UK, slot(EIGHT_PM), early, now),
            ts("2026-06-11T20:00:00Z")
        );
        // And after local midnight, in the same window.
        assert_eq!(
            next(
                Region::UK,
                slot(EIGHT_PM),
                previous,
                ts("2026-06-11T02:00:00Z")
            ),
            ts("2026-06-11T20:00:00Z")
        );
    }

    #[test]
    fn a_missed_slot_is_due_at_once_while_its_window_is_open() {
        let previous = Some(ts("2026-06-09T20:00:00Z"));
        let now = ts("2026-06-10T23:10:00Z");
        assert_eq!(next(Region::UK, slot(EIGHT_PM), previous, now), now);
        assert!(due(Region::UK, slot(EIGHT_PM), previous, now));
    }

    #[test]
    fn a_missed_window_moves_to_the_next_night() {
        let previous = Some(ts("2026-06-08T20:00:00Z"));
        let after_closing = ts("2026-06-11T06:00:00Z");
        assert_eq!(
            next(Region::UK, slot(EIGHT_PM), previous, after_closing),
            ts("2026-06-11T20:00:00Z")
        );
    }

    #[test]
    fn a_start_outside_every_window_does_not_use_up_the_night() {
        // A manual sync at noon; tonight's scheduled sync still runs.
        let manual = Some(ts("2026-06-10T12:00:00Z"));
        assert_eq!(
            next(
                Region::UK,
                slot(EIGHT_PM),
                manual,
                ts("2026-06-10T12:30:00Z")
            ),
            ts("2026-06-10T20:00:00Z")
        );
    }

    #[test]
    fn a_previous_start_slightly_ahead_of_the_clock_is_a_real_start() {
        // Another replica's clock ran two minutes ahead and stamped 18:01 on a sync that
        // started in tonight's window: tonight is used up.
        let now = ts("2026-06-10T17:59:00Z");
        let skewed = Some(ts("2026-06-10T18:01:00Z"));
        assert_eq!(
            next(Region::UK, slot(EIGHT_PM), skewed, now),
            ts("2026-06-11T20:00:00Z")
        );
    }

    #[test]
    fn a_previous_start_far_ahead_of_the_clock_is_ignored() {
        // A corrupt start in 2090 would otherwise hold every night back until then.
        let now = ts("2026-06-10T12:00:00Z");
        let corrupt = Some(ts("2090-01-01T00:00:00Z"));
        assert_eq!(
            next(Region::UK, slot(EIGHT_PM), corrupt, now),
            ts("2026-06-10T20:00:00Z")
        );
    }

    #[test]
    fn a_slot_after_local_midnight_is_scheduled_in_the_previous_evenings_window() {
        // Slot 28 is 18:00 + 7h = 01:00 local. The sync of the night of June 10th runs at
        // 01:00 CDT on June 11th (06:00 UTC).
        let afternoon = ts("2026-06-10T22:00:00Z");
        assert_eq!(
            next(Region::US, slot(28), None, afternoon),
            ts("2026-06-11T06:00:00Z")
        );
        // Last night's sync ran at 01:00 on June 10th; at 00:30 on June 11th tonight's is
        // still ahead.
        let previous = Some(ts("2026-06-10T06:00:00Z"));
        let after_midnight = ts("2026-06-11T05:30:00Z");
        assert_eq!(
            next(Region::US, slot(28), previous, after_midnight),
            ts("2026-06-11T06:00:00Z")
        );
    }

    #[test]
    fn the_slot_keeps_its_local_time_across_chicago_fall_back() {
        // 20:00 CDT on October 31st, then 20:00 CST on November 1st: 25 hours apart.
        let previous = ts("2026-11-01T01:00:00Z");
        let slot = slot_of(Region::US, previous).expect("inside the window");
        assert_eq!(slot.index(), EIGHT_PM);
        let next = next(Region::US, slot, Some(previous), ts("2026-11-01T18:00:00Z"));
        assert_eq!(next, ts("2026-11-02T02:00:00Z"));
        assert_eq!(
            next.duration_since(previous),
            SignedDuration::from_hours(25)
        );
    }

    #[test]
    fn the_slot_keeps_its_local_time_across_chicago_spring_forward() {
        // 20:00 CST on March 7th, then 20:00 CDT on March 8th: 23 hours apart.
        let previous = ts("2026-03-08T02:00:00Z");
        let next = next(
            Region::US,
            slot(EIGHT_PM),
            Some(previous),
            ts("2026-03-08T18:00:00Z"),
        );
        assert_eq!(next, ts("2026-03-09T01:00:00Z"));
        assert_eq!(
            next.duration_since(previous),
            SignedDuration::from_hours(23)
        );
    }

    #[test]
    fn the_slot_keeps_its_local_time_across_auckland_daylight_time_changes() {
        // 19:00 NZST on September 26th, then 19:00 NZDT on September 27th.
        let previous = ts("2026-09-26T07:00:00Z");
        assert_eq!(
            next(
                Region::NZ,
                slot(4),
                Some(previous),
                ts("2026-09-27T00:00:00Z")
            ),
            ts("2026-09-27T06:00:00Z")
        );
        // 19:00 NZDT on April 4th, then 19:00 NZST on April 5th.
        let previous = ts("2026-04-04T06:00:00Z");
        assert_eq!(
            next(
                Region::NZ,
                slot(4),
                Some(previous),
                ts("2026-04-05T00:00:00Z")
            ),
            ts("2026-04-05T07:00:00Z")
        );
    }

    /// A small deterministic generator (SplitMix64) so the property test needs no crate and
    /// replays the same cases on every run.
    struct SplitMix64(u64);

    impl SplitMix64 {
        fn next_u64(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }

        fn below(&mut self, bound: u64) -> u64 {
            self.next_u64() % bound
        }
    }

    #[test]
    fn next_sync_time_is_inside_a_window_not_in_the_past_within_36_hours_and_stable() {
        const REGIONS: [Region; 4] = [Region::US, Region::AU, Region::NZ, Region::UK];
        let from = ts("2025-01-01T00:00:00Z").as_millisecond();
        let to = ts("2029-01-01T00:00:00Z").as_millisecond();
        let mut rng = SplitMix64(0x5EED_2026);
        for case in 0..20_000 {
            let region = REGIONS[rng.below(4) as usize];
            let now_ms = from + rng.below((to - from) as u64) as i64;
            let now = Timestamp::from_millisecond(now_ms).expect("in range");
            let hours_ms = |hours: u64| hours * 3_600_000;
            let previous_start = match rng.below(4) {
                0 => None,
                1 => Some(now - SignedDuration::from_millis(rng.below(hours_ms(72)) as i64)),
                // A replica whose clock runs ahead.
                2 => Some(now + SignedDuration::from_millis(rng.below(hours_ms(1) / 6) as i64)),
                // Corrupt: days ahead.
                _ => Some(now + SignedDuration::from_hours(24 + rng.below(1000) as i64)),
            };
            // As the plan does: the slot of the previous start, or any slot for a newcomer.
            let in_slot = previous_start
                .and_then(|start| slot_of(region, start))
                .unwrap_or_else(|| slot(rng.below(u64::from(SLOTS_PER_WINDOW)) as u16));

            let next_time = next(region, in_slot, previous_start, now);
            let context =
                format!("case {case}: {region:?} {in_slot} prev {previous_start:?} now {now}");

            assert!(next_time >= now, "in the past: {next_time}; {context}");
            assert!(
                next_time.duration_since(now) <= SignedDuration::from_hours(36),
                "more than 36 hours ahead: {next_time}; {context}"
            );
            let window = Window::containing(region, next_time)
                .unwrap_or_else(|| panic!("outside every window: {next_time}; {context}"));
            if next_time > now {
                assert_eq!(
                    next_time,
                    window.slot_start(in_slot),
                    "not its slot; {context}"
                );
            }
            if let Some(start) = previous_start.filter(|start| *start <= now + MAX_CLOCK_SKEW) {
                let used_up = Window::at_or_before(region, start);
                assert!(
                    window.night() > used_up.night(),
                    "second sync in the night of {}; {context}",
                    used_up.night()
                );
            }
            // Waiting for it does not move it.
            if next_time > now {
                let waited = next_time.duration_since(now).as_millis() as u64;
                let later = now + SignedDuration::from_millis(rng.below(waited + 1) as i64);
                assert_eq!(
                    next(region, in_slot, previous_start, later),
                    next_time,
                    "moved when asked again at {later}; {context}"
                );
            }
        }
    }
}
