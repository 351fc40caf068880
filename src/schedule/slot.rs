//! Slots: the window cut into equal parts so that a region's syncs spread over the night.

use std::fmt;

use jiff::{SignedDuration, Timestamp};

use super::window::{WINDOW_LENGTH, Window};
use crate::crd::Region;

/// How many slots one window holds.
pub const SLOTS_PER_WINDOW: u16 = 48;

/// How long one slot lasts.
pub const SLOT_LENGTH: SignedDuration = SignedDuration::from_mins(15);

// The slots tile the window exactly: none spills past the closing.
const _: () = assert!(SLOT_LENGTH.as_secs() * SLOTS_PER_WINDOW as i64 == WINDOW_LENGTH.as_secs());

/// One of the [`SLOTS_PER_WINDOW`] parts of a window; slot `n` starts `n` × [`SLOT_LENGTH`]
/// after the window opens. An integration keeps its slot night after night, so its syncs
/// start at the same local time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Slot(u16);

impl Slot {
    /// The slot that starts when the window opens.
    pub const FIRST: Slot = Slot(0);

    /// The slot that ends when the window closes.
    pub const LAST: Slot = Slot(SLOTS_PER_WINDOW - 1);

    /// The slot with this index, or `None` past the last slot.
    pub fn new(index: u16) -> Option<Slot> {
        (index < SLOTS_PER_WINDOW).then_some(Slot(index))
    }

    /// The index, from 0 for [`Slot::FIRST`].
    pub fn index(self) -> u16 {
        self.0
    }

    /// How long after the window opens this slot starts.
    pub fn offset(self) -> SignedDuration {
        SLOT_LENGTH * i32::from(self.0)
    }

    /// Every slot, earliest first.
    pub fn all() -> impl Iterator<Item = Slot> {
        (0..SLOTS_PER_WINDOW).map(Slot)
    }
}

impl fmt::Display for Slot {
    /// The offset from the opening, e.g. `+07:15` for a slot at 01:15 local time.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let minutes = self.offset().as_secs() / 60;
        write!(f, "+{:02}:{:02}", minutes / 60, minutes % 60)
    }
}

/// The slot a sync that started at `start` ran in: the offset of `start` from the opening of
/// its window, rounded down to a slot. `None` when `start` lies outside every window of
/// `region` (a sync started by hand in the afternoon, for instance).
pub fn slot_of(region: Region, start: Timestamp) -> Option<Slot> {
    Window::containing(region, start).and_then(|window| window.slot_at(start))
}

/// The slot of the integration named `key` (`namespace/name`): derived from the name alone,
/// so it is the same night after night, after a restart, on every replica, and again when
/// the ClassLinkSync is deleted and re-applied from Git. A hash spreads many integrations
/// evenly over the slots whatever order they are created in, and needs no state.
pub fn slot_for(key: &str) -> Slot {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(key.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    let spread = u64::from_be_bytes(first) % u64::from(SLOTS_PER_WINDOW);
    // The remainder is below SLOTS_PER_WINDOW, which fits a u16.
    Slot(u16::try_from(spread).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().expect("test timestamp")
    }

    fn slot(index: u16) -> Slot {
        Slot::new(index).expect("test slot")
    }

    #[test]
    fn slots_start_fifteen_minutes_apart_and_end_at_the_closing() {
        assert_eq!(slot(1).offset(), SignedDuration::from_mins(15));
        assert_eq!(Slot::LAST.offset() + SLOT_LENGTH, WINDOW_LENGTH);
        assert_eq!(Slot::all().count(), usize::from(SLOTS_PER_WINDOW));
        assert_eq!(Slot::new(SLOTS_PER_WINDOW), None);
        assert_eq!(slot(29).to_string(), "+07:15");
    }

    #[test]
    fn slot_is_the_offset_from_the_opening_rounded_down_to_a_slot() {
        // UK window opens 18:00 UTC; 20:44:59 is 2h44m59s in: slot 10 (20:30).
        assert_eq!(
            slot_of(Region::UK, ts("2026-06-10T20:44:59Z")),
            Some(slot(10))
        );
        assert_eq!(
            slot_of(Region::UK, ts("2026-06-10T20:45:00Z")),
            Some(slot(11))
        );
        assert_eq!(
            slot_of(Region::UK, ts("2026-06-10T18:00:00Z")),
            Some(Slot::FIRST)
        );
        assert_eq!(
            slot_of(Region::UK, ts("2026-06-11T05:59:59Z")),
            Some(Slot::LAST)
        );
    }

    #[test]
    fn a_start_after_local_midnight_has_its_slot_in_the_previous_evenings_window() {
        // 01:10 NZST on July 16th is 7h10m after 18:00 on the 15th: slot 28 (+07:00).
        assert_eq!(
            slot_of(Region::NZ, ts("2026-07-15T13:10:00Z")),
            Some(slot(28))
        );
    }

    #[test]
    fn a_start_after_a_daylight_saving_change_counts_absolute_time_from_the_opening() {
        // Chicago, night of October 31st: opens 18:00 CDT (23:00 UTC). 01:30 CST on
        // November 1st is 07:30 UTC, 8h30m after the opening though the wall clock moved 7h30m.
        assert_eq!(
            slot_of(Region::US, ts("2026-11-01T07:30:00Z")),
            Some(slot(34))
        );
    }

    #[test]
    fn a_start_outside_every_window_has_no_slot() {
        assert_eq!(slot_of(Region::UK, ts("2026-06-11T06:00:00Z")), None);
        assert_eq!(slot_of(Region::AU, ts("2026-06-11T03:00:00Z")), None);
    }

    #[test]
    fn slot_for_a_name_never_changes() {
        // Pinned: a change here moves every installed integration to another time of night.
        assert_eq!(slot_for("schools/riverside"), slot_for("schools/riverside"));
        let pinned: Vec<u16> = ["schools/riverside", "demo/washington", "a/b"]
            .iter()
            .map(|k| slot_for(k).index())
            .collect();
        assert_eq!(pinned, PINNED_SLOTS);
    }

    const PINNED_SLOTS: [u16; 3] = [23, 0, 29];

    #[test]
    fn slots_for_many_names_spread_evenly() {
        // 1,000 ClassLinkSyncs of one GitOps apply: each slot holds close to its share (about
        // 21), none is empty, none holds twice its share.
        let mut load = [0u32; SLOTS_PER_WINDOW as usize];
        for n in 0..1000 {
            load[usize::from(slot_for(&format!("district-{}/sync-{n}", n % 50)).index())] += 1;
        }
        let (min, max) = (load.iter().min(), load.iter().max());
        assert!(min >= Some(&8), "a nearly empty slot: {load:?}");
        assert!(max <= Some(&42), "an overloaded slot: {load:?}");
        // 200 names hold at least 40 different slots.
        let distinct: std::collections::BTreeSet<u16> = (0..200)
            .map(|n| slot_for(&format!("ns/sync-{n}")).index())
            .collect();
        assert!(distinct.len() >= 40, "{} slots", distinct.len());
    }
}
