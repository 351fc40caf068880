//! The regional nightly schedule, as plain code over timestamps: no Kubernetes, no I/O, no
//! async runtime. The controller asks it when each ClassLinkSync syncs next and whether a
//! sync may start now.
//!
//! - [`window`]: each region's nightly window opens at 18:00 local time
//!   ([`region_time_zone`]) and stays open 12 hours.
//! - [`slot`]: the window is cut into [`SLOTS_PER_WINDOW`] slots of [`SLOT_LENGTH`]; each
//!   integration has one slot, derived from its name ([`slot_for`]).
//! - [`plan`]: [`next_sync_time`], when the next scheduled sync may start
//!   (`status.nextSyncTime`).
//! - [`run_slots`]: the cap on concurrent syncs and "never two syncs of one integration at
//!   once".
//! - [`clock`]: the time source; every `now` of the controller comes from it, so tests (and
//!   `CLASSLINK_FAKE_NOW`) can set the hour.
//!
//! `docs/schedule.md` explains the schedule to users.

pub mod clock;
pub mod plan;
pub mod run_slots;
pub mod slot;
pub mod window;

pub use clock::{Clock, FakeClock, OffsetClock, SystemClock, clock_from_env};
pub use plan::{MAX_CLOCK_SKEW, is_due, next_sync_time};
pub use run_slots::{RunGuard, RunPermit, RunSlots, SharedRunSlots, StartRefused};
pub use slot::{SLOT_LENGTH, SLOTS_PER_WINDOW, Slot, slot_for, slot_of};
pub use window::{
    WINDOW_LENGTH, WINDOW_OPENS_AT, Window, next_window_opening, region_time_zone, region_zone,
    window_opening_at_or_before,
};
