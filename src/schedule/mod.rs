//! The regional nightly schedule, as plain code over timestamps: no Kubernetes, no I/O, no
//! async runtime. The controller asks it when each ClassLinkSync syncs next and whether a
//! sync may start now.
//!
//! - [`window`]: each region's nightly window opens at 18:00 local time
//!   ([`region_time_zone`]) and stays open 12 hours.
//! - [`slot`]: the window is cut into [`SLOTS_PER_WINDOW`] slots of [`SLOT_LENGTH`]; an
//!   integration keeps the slot its previous start ran in, and a new one takes its region's
//!   least loaded slot.
//! - [`plan`]: [`next_sync_time`] (`status.nextSyncTime`) and [`Plan`], the schedule of
//!   every known integration at one moment.
//! - [`run_slots`]: the cap on concurrent syncs and "never two syncs of one integration at
//!   once".
//! - [`clock`]: the time source, faked in tests.
//!
//! `docs/schedule.md` explains the schedule to users.

pub mod clock;
pub mod plan;
pub mod run_slots;
pub mod slot;
pub mod window;

pub use clock::{Clock, FakeClock, SystemClock};
pub use plan::{Integration, MAX_CLOCK_SKEW, Plan, PlannedSync, is_due, next_sync_time};
pub use run_slots::{RunGuard, RunPermit, RunSlots, SharedRunSlots, StartRefused};
pub use slot::{SLOT_LENGTH, SLOTS_PER_WINDOW, Slot, least_loaded_slot, slot_of};
pub use window::{
    WINDOW_LENGTH, WINDOW_OPENS_AT, Window, next_window_opening, region_time_zone, region_zone,
    window_opening_at_or_before,
};
