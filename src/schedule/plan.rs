//! When each integration syncs next: its slot, its `nextSyncTime`, and whether it is due.

use std::collections::{BTreeMap, HashMap};

use jiff::{SignedDuration, Timestamp};

use super::slot::{Slot, least_loaded_slot, slot_of};
use super::window::{Window, saturating_add};
use crate::crd::Region;

/// How far ahead of this replica's clock another replica's clock may run. A previous start
/// later than `now` by at most this much is a real start stamped by a clock running ahead;
/// one further ahead cannot be right and is ignored, so a corrupt status cannot hold the
/// schedule back.
pub const MAX_CLOCK_SKEW: SignedDuration = SignedDuration::from_mins(15);

/// When the scheduled sync of an integration in `slot` may start next.
///
/// The rules, in order:
/// - at most one scheduled sync per night: the night of `previous_start` (the window open at
///   that moment, or the last one before it) is used up, so the sync goes to a later night;
///   a start outside every window (a manual sync in the afternoon) uses up no night;
/// - the slot's time in the first night left, when that is still ahead of `now`;
/// - `now` itself when the slot's time has passed but its window is still open: a sync that
///   missed its slot (the operator was down, or the cap on concurrent syncs held it back)
///   runs late that same night instead of skipping it;
/// - otherwise the slot's time in the next night.
///
/// The result is never before `now`, always inside a window, and stays the same as `now`
/// moves towards it. It is at most a day (23 to 25 hours at a daylight saving change) plus
/// the slot's offset ahead of `now`; about 25 hours when `slot` is the slot of
/// `previous_start`. A `previous_start` more than [`MAX_CLOCK_SKEW`] after `now` is ignored.
pub fn next_sync_time(
    region: Region,
    slot: Slot,
    previous_start: Option<Timestamp>,
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
    } else if current.contains(now) {
        now
    } else {
        current.next().slot_start(slot)
    }
}

/// Whether the scheduled sync of an integration in `slot` may start at `now`: whether
/// [`next_sync_time`] has come.
pub fn is_due(
    region: Region,
    slot: Slot,
    previous_start: Option<Timestamp>,
    now: Timestamp,
) -> bool {
    next_sync_time(region, slot, previous_start, now) <= now
}

/// What the schedule needs to know of one ClassLinkSync.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Integration {
    /// `namespace/name` of the ClassLinkSync.
    pub key: String,
    /// Its region, which picks the window.
    pub region: Region,
    /// When its last scheduled sync started (or its first sync, which fixes the slot when it
    /// ran inside a window). `None` before any sync.
    pub previous_start: Option<Timestamp>,
    /// The slot already given to it, if any. Keeping it stops a sync that started late from
    /// moving the integration to a later slot for good.
    pub slot: Option<Slot>,
    /// `spec.suspend`: no sync is scheduled.
    pub suspended: bool,
}

impl Integration {
    /// An integration that has never synced, has no slot yet and is not suspended.
    pub fn new(key: impl Into<String>, region: Region) -> Integration {
        Integration {
            key: key.into(),
            region,
            previous_start: None,
            slot: None,
            suspended: false,
        }
    }

    /// With the start of its last scheduled sync.
    pub fn with_previous_start(mut self, start: Timestamp) -> Integration {
        self.previous_start = Some(start);
        self
    }

    /// With the slot it already holds.
    pub fn with_slot(mut self, slot: Slot) -> Integration {
        self.slot = Some(slot);
        self
    }

    /// Suspended or not.
    pub fn with_suspended(mut self, suspended: bool) -> Integration {
        self.suspended = suspended;
        self
    }
}

/// The schedule of one integration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedSync {
    /// `namespace/name` of the ClassLinkSync.
    pub key: String,
    /// Its region.
    pub region: Region,
    /// Its slot in every window; hand it back in [`Integration::slot`] next time.
    pub slot: Slot,
    /// When its next scheduled sync may start: `status.nextSyncTime`. `None` while
    /// suspended.
    pub next_sync_time: Option<Timestamp>,
}

impl PlannedSync {
    /// Whether the scheduled sync may start at `now`.
    pub fn is_due(&self, now: Timestamp) -> bool {
        self.next_sync_time.is_some_and(|next| next <= now)
    }
}

/// The schedule of every known integration at one moment.
///
/// Each integration keeps the slot it holds; without one it takes the slot its previous
/// start ran in; without that (new, or last started outside every window) it takes the
/// least loaded slot of its region, newcomers in key order so the result does not depend
/// on the order they are listed in. Suspended integrations keep a slot but add no load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    made_at: Timestamp,
    syncs: BTreeMap<String, PlannedSync>,
}

impl Plan {
    /// Plans `integrations` as of `now`. A key listed twice keeps its last entry.
    pub fn new(integrations: impl IntoIterator<Item = Integration>, now: Timestamp) -> Plan {
        let by_key: BTreeMap<String, Integration> = integrations
            .into_iter()
            .map(|integration| (integration.key.clone(), integration))
            .collect();

        let known_slot = |integration: &Integration| {
            integration.slot.or_else(|| {
                integration
                    .previous_start
                    .and_then(|start| slot_of(integration.region, start))
            })
        };
        let mut load: HashMap<Region, Vec<Slot>> = HashMap::new();
        for integration in by_key.values().filter(|i| !i.suspended) {
            if let Some(slot) = known_slot(integration) {
                load.entry(integration.region).or_default().push(slot);
            }
        }

        let mut syncs = BTreeMap::new();
        for (key, integration) in by_key {
            let slot = match known_slot(&integration) {
                Some(slot) => slot,
                None => {
                    let region_load = load.entry(integration.region).or_default();
                    let slot = least_loaded_slot(region_load.iter().copied());
                    if !integration.suspended {
                        region_load.push(slot);
                    }
                    slot
                }
            };
            let next_sync_time = (!integration.suspended)
                .then(|| next_sync_time(integration.region, slot, integration.previous_start, now));
            syncs.insert(
                key.clone(),
                PlannedSync {
                    key,
                    region: integration.region,
                    slot,
                    next_sync_time,
                },
            );
        }
        Plan {
            made_at: now,
            syncs,
        }
    }

    /// The moment this plan was made for.
    pub fn made_at(&self) -> Timestamp {
        self.made_at
    }

    /// The schedule of the integration `key` (`namespace/name`).
    pub fn get(&self, key: &str) -> Option<&PlannedSync> {
        self.syncs.get(key)
    }

    /// Every integration's schedule, in key order.
    pub fn iter(&self) -> impl Iterator<Item = &PlannedSync> {
        self.syncs.values()
    }

    /// The integrations whose scheduled sync may start now (at [`Plan::made_at`]), in key
    /// order.
    pub fn due(&self) -> impl Iterator<Item = &PlannedSync> {
        self.syncs
            .values()
            .filter(|planned| planned.is_due(self.made_at))
    }

    /// The earliest `nextSyncTime` of any integration: when to look again. `None` when
    /// nothing is scheduled.
    pub fn next_wake(&self) -> Option<Timestamp> {
        self.syncs
            .values()
            .filter_map(|planned| planned.next_sync_time)
            .min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schedule::slot::SLOTS_PER_WINDOW;

    fn ts(s: &str) -> Timestamp {
        s.parse().expect("test timestamp")
    }

    fn slot(index: u16) -> Slot {
        Slot::new(index).expect("test slot")
    }

    /// Slot 8 starts at 20:00 local time.
    const EIGHT_PM: u16 = 8;

    #[test]
    fn tonight_when_the_slot_is_still_ahead() {
        let previous = ts("2026-06-09T20:00:00Z");
        let now = ts("2026-06-10T12:00:00Z");
        assert_eq!(
            next_sync_time(Region::UK, slot(EIGHT_PM), Some(previous), now),
            ts("2026-06-10T20:00:00Z")
        );
        assert!(!is_due(Region::UK, slot(EIGHT_PM), Some(previous), now));
    }

    #[test]
    fn due_from_the_slot_time_on() {
        let previous = Some(ts("2026-06-09T20:00:00Z"));
        let at_slot = ts("2026-06-10T20:00:00Z");
        assert!(!is_due(
            Region::UK,
            slot(EIGHT_PM),
            previous,
            ts("2026-06-10T19:59:59Z")
        ));
        assert!(is_due(Region::UK, slot(EIGHT_PM), previous, at_slot));
        assert_eq!(
            next_sync_time(Region::UK, slot(EIGHT_PM), previous, at_slot),
            at_slot
        );
    }

    #[test]
    fn never_two_scheduled_syncs_in_one_night() {
        // Tonight's sync started at 20:00: the next one is tomorrow's 20:00.
        let previous = Some(ts("2026-06-10T20:00:00Z"));
        let now = ts("2026-06-10T20:30:00Z");
        assert_eq!(
            next_sync_time(Region::UK, slot(EIGHT_PM), previous, now),
            ts("2026-06-11T20:00:00Z")
        );
        // Even when tonight's start was before the slot (it was a first sync at 18:05) and
        // the slot's time is still ahead tonight.
        let early = Some(ts("2026-06-10T18:05:00Z"));
        assert_eq!(
            next_sync_time(Region::UK, slot(EIGHT_PM), early, now),
            ts("2026-06-11T20:00:00Z")
        );
        // And after local midnight, in the same window.
        assert_eq!(
            next_sync_time(
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
        assert_eq!(
            next_sync_time(Region::UK, slot(EIGHT_PM), previous, now),
            now
        );
        assert!(is_due(Region::UK, slot(EIGHT_PM), previous, now));
    }

    #[test]
    fn a_missed_window_moves_to_the_next_night() {
        let previous = Some(ts("2026-06-08T20:00:00Z"));
        let after_closing = ts("2026-06-11T06:00:00Z");
        assert_eq!(
            next_sync_time(Region::UK, slot(EIGHT_PM), previous, after_closing),
            ts("2026-06-11T20:00:00Z")
        );
    }

    #[test]
    fn a_start_outside_every_window_does_not_use_up_the_night() {
        // A manual sync at noon; tonight's scheduled sync still runs.
        let manual = Some(ts("2026-06-10T12:00:00Z"));
        assert_eq!(
            next_sync_time(
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
            next_sync_time(Region::UK, slot(EIGHT_PM), skewed, now),
            ts("2026-06-11T20:00:00Z")
        );
    }

    #[test]
    fn a_previous_start_far_ahead_of_the_clock_is_ignored() {
        // A corrupt start in 2090 would otherwise hold every night back until then.
        let now = ts("2026-06-10T12:00:00Z");
        let corrupt = Some(ts("2090-01-01T00:00:00Z"));
        assert_eq!(
            next_sync_time(Region::UK, slot(EIGHT_PM), corrupt, now),
            ts("2026-06-10T20:00:00Z")
        );
    }

    #[test]
    fn a_slot_after_local_midnight_is_scheduled_in_the_previous_evenings_window() {
        // Slot 28 is 18:00 + 7h = 01:00 local. The sync of the night of June 10th runs at
        // 01:00 CDT on June 11th (06:00 UTC).
        let afternoon = ts("2026-06-10T22:00:00Z");
        assert_eq!(
            next_sync_time(Region::US, slot(28), None, afternoon),
            ts("2026-06-11T06:00:00Z")
        );
        // Last night's sync ran at 01:00 on June 10th; at 00:30 on June 11th tonight's is
        // still ahead.
        let previous = Some(ts("2026-06-10T06:00:00Z"));
        let after_midnight = ts("2026-06-11T05:30:00Z");
        assert_eq!(
            next_sync_time(Region::US, slot(28), previous, after_midnight),
            ts("2026-06-11T06:00:00Z")
        );
    }

    #[test]
    fn the_slot_keeps_its_local_time_across_chicago_fall_back() {
        // 20:00 CDT on October 31st, then 20:00 CST on November 1st: 25 hours apart.
        let previous = ts("2026-11-01T01:00:00Z");
        let slot = slot_of(Region::US, previous).expect("inside the window");
        assert_eq!(slot.index(), EIGHT_PM);
        let next = next_sync_time(Region::US, slot, Some(previous), ts("2026-11-01T18:00:00Z"));
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
        let next = next_sync_time(
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
            next_sync_time(
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
            next_sync_time(
                Region::NZ,
                slot(4),
                Some(previous),
                ts("2026-04-05T00:00:00Z")
            ),
            ts("2026-04-05T07:00:00Z")
        );
    }

    #[test]
    fn plan_keeps_the_slot_of_the_previous_start() {
        let plan = Plan::new(
            [Integration::new("district/a", Region::AU)
                // 21:40 AWST: slot 14 (+03:30).
                .with_previous_start(ts("2026-06-09T13:40:00Z"))],
            ts("2026-06-10T02:00:00Z"),
        );
        let planned = plan.get("district/a").expect("planned");
        assert_eq!(planned.slot, slot(14));
        assert_eq!(planned.next_sync_time, Some(ts("2026-06-10T13:30:00Z")));
    }

    #[test]
    fn plan_prefers_the_slot_already_held_over_a_late_previous_start() {
        // Held slot 8 (20:00); the sync was held back by the cap and started at 20:40.
        let plan = Plan::new(
            [Integration::new("district/a", Region::UK)
                .with_slot(slot(EIGHT_PM))
                .with_previous_start(ts("2026-06-09T20:40:00Z"))],
            ts("2026-06-10T12:00:00Z"),
        );
        let planned = plan.get("district/a").expect("planned");
        assert_eq!(planned.slot, slot(EIGHT_PM));
        assert_eq!(planned.next_sync_time, Some(ts("2026-06-10T20:00:00Z")));
    }

    #[test]
    fn plan_gives_new_integrations_the_least_loaded_slot_in_key_order() {
        let now = ts("2026-06-10T12:00:00Z");
        let existing = Integration::new("district/old", Region::UK)
            .with_previous_start(ts("2026-06-09T18:00:00Z"));
        // Listed out of key order on purpose: "a" is planned first.
        let plan = Plan::new(
            [
                Integration::new("district/b", Region::UK),
                existing,
                Integration::new("district/a", Region::UK),
            ],
            now,
        );
        assert_eq!(plan.get("district/old").map(|p| p.slot), Some(Slot::FIRST));
        assert_eq!(plan.get("district/a").map(|p| p.slot), Some(slot(1)));
        assert_eq!(plan.get("district/b").map(|p| p.slot), Some(slot(2)));
        assert_eq!(
            plan.get("district/b").and_then(|p| p.next_sync_time),
            Some(ts("2026-06-10T18:30:00Z"))
        );
    }

    #[test]
    fn plan_counts_load_per_region() {
        let plan = Plan::new(
            [
                Integration::new("district/us", Region::US).with_slot(Slot::FIRST),
                Integration::new("district/uk", Region::UK),
            ],
            ts("2026-06-10T12:00:00Z"),
        );
        assert_eq!(plan.get("district/uk").map(|p| p.slot), Some(Slot::FIRST));
    }

    #[test]
    fn plan_fills_every_slot_once_before_doubling_any() {
        let integrations = (0..=SLOTS_PER_WINDOW)
            .map(|n| Integration::new(format!("district/{n:03}"), Region::NZ));
        let plan = Plan::new(integrations, ts("2026-06-10T00:00:00Z"));
        let mut slots: Vec<u16> = plan.iter().map(|p| p.slot.index()).collect();
        slots.sort_unstable();
        let mut expected: Vec<u16> = (0..SLOTS_PER_WINDOW).collect();
        expected.push(0);
        expected.sort_unstable();
        assert_eq!(slots, expected);
    }

    #[test]
    fn plan_gives_a_suspended_integration_no_next_sync_time_and_no_load() {
        let plan = Plan::new(
            [
                Integration::new("district/a", Region::UK).with_suspended(true),
                Integration::new("district/b", Region::UK),
            ],
            ts("2026-06-10T12:00:00Z"),
        );
        let suspended = plan.get("district/a").expect("planned");
        assert_eq!(suspended.next_sync_time, None);
        assert!(!suspended.is_due(ts("2030-01-01T00:00:00Z")));
        // "a" took slot 0 but adds no load, so "b" takes slot 0 too.
        assert_eq!(plan.get("district/b").map(|p| p.slot), Some(Slot::FIRST));
        assert_eq!(plan.next_wake(), Some(ts("2026-06-10T18:00:00Z")));
    }

    #[test]
    fn plan_due_lists_only_integrations_whose_time_has_come() {
        let now = ts("2026-06-10T20:05:00Z");
        let plan = Plan::new(
            [
                Integration::new("district/due", Region::UK)
                    .with_slot(slot(EIGHT_PM))
                    .with_previous_start(ts("2026-06-09T20:00:00Z")),
                Integration::new("district/later", Region::UK).with_slot(slot(20)),
                Integration::new("district/done", Region::UK)
                    .with_slot(slot(0))
                    .with_previous_start(ts("2026-06-10T18:00:00Z")),
                Integration::new("district/paused", Region::UK)
                    .with_slot(slot(0))
                    .with_suspended(true),
            ],
            now,
        );
        let due: Vec<&str> = plan.due().map(|p| p.key.as_str()).collect();
        assert_eq!(due, ["district/due"]);
        assert_eq!(plan.next_wake(), Some(now));
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

            let next = next_sync_time(region, in_slot, previous_start, now);
            let context =
                format!("case {case}: {region:?} {in_slot} prev {previous_start:?} now {now}");

            assert!(next >= now, "in the past: {next}; {context}");
            assert!(
                next.duration_since(now) <= SignedDuration::from_hours(36),
                "more than 36 hours ahead: {next}; {context}"
            );
            let window = Window::containing(region, next)
                .unwrap_or_else(|| panic!("outside every window: {next}; {context}"));
            if next > now {
                assert_eq!(next, window.slot_start(in_slot), "not its slot; {context}");
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
            if next > now {
                let waited = next.duration_since(now).as_millis() as u64;
                let later = now + SignedDuration::from_millis(rng.below(waited + 1) as i64);
                assert_eq!(
                    next_sync_time(region, in_slot, previous_start, later),
                    next,
                    "moved when asked again at {later}; {context}"
                );
            }
        }
    }
}
