//! The nightly window: where each region's window opens, when it closes, and which window a
//! moment in time belongs to.

use jiff::civil::{Date, Time};
use jiff::tz::{TimeZone, TimeZoneDatabase};
use jiff::{SignedDuration, Timestamp, ToSpan};

use super::slot::{SLOT_LENGTH, Slot};
use crate::crd::Region;

/// Local time at which every region's nightly window opens.
pub const WINDOW_OPENS_AT: Time = jiff::civil::time(18, 0, 0, 0);

/// How long a window stays open. An absolute duration: a daylight saving change inside the
/// window neither stretches nor shrinks it, so its local closing time moves by an hour
/// instead.
pub const WINDOW_LENGTH: SignedDuration = SignedDuration::from_hours(12);

/// The IANA name of the time zone a region's nightly window follows. The one place that maps
/// regions to zones: the engine's "today" and the schedule both come from here.
pub fn region_time_zone(region: Region) -> &'static str {
    match region {
        Region::US => "America/Chicago",
        Region::AU => "Australia/Perth",
        Region::NZ => "Pacific/Auckland",
        Region::UK => "UTC",
    }
}

/// The time zone of a region's nightly window, from the tz database compiled into the
/// operator. The compiled-in copy (not the host's `/usr/share/zoneinfo`) makes every replica
/// compute the same schedule whatever image it runs on.
pub fn region_zone(region: Region) -> TimeZone {
    // The four names are constants and `tzdb-bundle-always` compiles the database into the
    // binary, so the lookup cannot fail; `every_region_time_zone_is_in_the_bundled_database`
    // proves it for each region.
    TimeZoneDatabase::bundled()
        .get(region_time_zone(region))
        .expect("the bundled tz database holds every region's time zone")
}

/// One region's nightly window: it opens at 18:00 local time on the evening of
/// [`Window::night`] and closes [`WINDOW_LENGTH`] later, the next morning. The window holds
/// its opening instant and not its closing one.
///
/// At the very ends of the range jiff represents (a day or two from the years -9999 and
/// 9999) the opening and closing saturate to [`Timestamp::MIN`] or [`Timestamp::MAX`]
/// instead of panicking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    region: Region,
    night: Date,
    opens: Timestamp,
    closes: Timestamp,
}

impl Window {
    /// The window that opens on the evening of `night` (a local date in the region).
    pub fn on_night(region: Region, night: Date) -> Window {
        let opens = match night
            .to_datetime(WINDOW_OPENS_AT)
            .to_zoned(region_zone(region))
        {
            Ok(zoned) => zoned.timestamp(),
            Err(_) if night.year() > 0 => Timestamp::MAX,
            Err(_) => Timestamp::MIN,
        };
        Window {
            region,
            night,
            opens,
            closes: saturating_add(opens, WINDOW_LENGTH),
        }
    }

    /// The latest window that opened at or before `t`, whether or not it is still open.
    /// At 02:00 local time that is the previous evening's window.
    pub fn at_or_before(region: Region, t: Timestamp) -> Window {
        let local_date = t.to_zoned(region_zone(region)).date();
        let same_evening = Window::on_night(region, local_date);
        if same_evening.opens <= t {
            same_evening
        } else {
            Window::on_night(region, local_date.saturating_add(-1.day()))
        }
    }

    /// The window that holds `t`, or `None` when `t` falls between a window's closing and the
    /// next one's opening.
    pub fn containing(region: Region, t: Timestamp) -> Option<Window> {
        let window = Window::at_or_before(region, t);
        window.contains(t).then_some(window)
    }

    /// The following night's window.
    pub fn next(&self) -> Window {
        Window::on_night(self.region, self.night.saturating_add(1.day()))
    }

    /// The region whose window this is.
    pub fn region(&self) -> Region {
        self.region
    }

    /// The local date of the evening the window opens.
    pub fn night(&self) -> Date {
        self.night
    }

    /// When the window opens: 18:00 local time on [`Window::night`].
    pub fn opens(&self) -> Timestamp {
        self.opens
    }

    /// When the window closes: [`WINDOW_LENGTH`] after it opens. Not part of the window.
    pub fn closes(&self) -> Timestamp {
        self.closes
    }

    /// Whether `t` lies in `[opens, closes)`.
    pub fn contains(&self, t: Timestamp) -> bool {
        self.opens <= t && t < self.closes
    }

    /// When `slot` starts in this window.
    pub fn slot_start(&self, slot: Slot) -> Timestamp {
        saturating_add(self.opens, slot.offset())
    }

    /// The slot `t` falls in, or `None` when `t` is outside this window.
    pub fn slot_at(&self, t: Timestamp) -> Option<Slot> {
        if !self.contains(t) {
            return None;
        }
        let since_opening = t.duration_since(self.opens).as_secs();
        let index = since_opening / SLOT_LENGTH.as_secs();
        u16::try_from(index).ok().and_then(Slot::new)
    }
}

/// When the latest window of `region` opened at or before `t`.
pub fn window_opening_at_or_before(region: Region, t: Timestamp) -> Timestamp {
    Window::at_or_before(region, t).opens()
}

/// When the first window of `region` opens strictly after `after`.
pub fn next_window_opening(region: Region, after: Timestamp) -> Timestamp {
    Window::at_or_before(region, after).next().opens()
}

/// `t + duration`, pinned to jiff's range instead of overflowing.
pub(super) fn saturating_add(t: Timestamp, duration: SignedDuration) -> Timestamp {
    match t.checked_add(duration) {
        Ok(sum) => sum,
        Err(_) if duration.is_negative() => Timestamp::MIN,
        Err(_) => Timestamp::MAX,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    const REGIONS: [Region; 4] = [Region::US, Region::AU, Region::NZ, Region::UK];

    fn ts(s: &str) -> Timestamp {
        s.parse().expect("test timestamp")
    }

    fn local_time(region: Region, t: Timestamp) -> String {
        t.to_zoned(region_zone(region))
            .strftime("%Y-%m-%d %H:%M %Z")
            .to_string()
    }

    #[test]
    fn every_region_time_zone_is_in_the_bundled_database() {
        for region in REGIONS {
            let zone = TimeZoneDatabase::bundled()
                .get(region_time_zone(region))
                .expect("zone in the bundled database");
            assert_eq!(zone.iana_name(), Some(region_time_zone(region)));
        }
    }

    #[test]
    fn us_window_opens_at_18_chicago_which_is_23_utc_in_summer() {
        let window = Window::on_night(Region::US, date(2026, 7, 15));
        assert_eq!(window.opens(), ts("2026-07-15T23:00:00Z"));
        assert_eq!(
            local_time(Region::US, window.opens()),
            "2026-07-15 18:00 CDT"
        );
    }

    #[test]
    fn us_window_opens_at_18_chicago_which_is_midnight_utc_next_day_in_winter() {
        let window = Window::on_night(Region::US, date(2026, 1, 15));
        assert_eq!(window.opens(), ts("2026-01-16T00:00:00Z"));
        assert_eq!(
            local_time(Region::US, window.opens()),
            "2026-01-15 18:00 CST"
        );
    }

    #[test]
    fn au_window_opens_at_18_perth_which_is_10_utc_all_year() {
        for (night, utc) in [
            (date(2026, 1, 15), "2026-01-15T10:00:00Z"),
            (date(2026, 7, 15), "2026-07-15T10:00:00Z"),
        ] {
            assert_eq!(Window::on_night(Region::AU, night).opens(), ts(utc));
        }
    }

    #[test]
    fn nz_window_opens_at_18_auckland_which_is_06_utc_in_nz_winter() {
        let window = Window::on_night(Region::NZ, date(2026, 7, 15));
        assert_eq!(window.opens(), ts("2026-07-15T06:00:00Z"));
        assert_eq!(
            local_time(Region::NZ, window.opens()),
            "2026-07-15 18:00 NZST"
        );
    }

    #[test]
    fn nz_window_opens_at_18_auckland_which_is_05_utc_in_nz_summer() {
        let window = Window::on_night(Region::NZ, date(2026, 1, 15));
        assert_eq!(window.opens(), ts("2026-01-15T05:00:00Z"));
        assert_eq!(
            local_time(Region::NZ, window.opens()),
            "2026-01-15 18:00 NZDT"
        );
    }

    #[test]
    fn uk_window_opens_at_18_utc_all_year() {
        for (night, utc) in [
            (date(2026, 1, 15), "2026-01-15T18:00:00Z"),
            (date(2026, 7, 15), "2026-07-15T18:00:00Z"),
        ] {
            assert_eq!(Window::on_night(Region::UK, night).opens(), ts(utc));
        }
    }

    #[test]
    fn every_window_lasts_twelve_hours() {
        for region in REGIONS {
            for night in [date(2026, 1, 15), date(2026, 7, 15)] {
                let window = Window::on_night(region, night);
                assert_eq!(
                    window.closes().duration_since(window.opens()),
                    SignedDuration::from_hours(12),
                    "{region:?} {night}"
                );
            }
        }
    }

    #[test]
    fn chicago_spring_forward_window_opens_at_18_local_and_lasts_twelve_absolute_hours() {
        // Clocks jump from 02:00 CST to 03:00 CDT on 2026-03-08, inside the window of the 7th.
        let before = Window::on_night(Region::US, date(2026, 3, 7));
        assert_eq!(before.opens(), ts("2026-03-08T00:00:00Z"));
        assert_eq!(before.closes(), ts("2026-03-08T12:00:00Z"));
        assert_eq!(
            local_time(Region::US, before.closes()),
            "2026-03-08 07:00 CDT"
        );
        let after = before.next();
        assert_eq!(after.opens(), ts("2026-03-08T23:00:00Z"));
        assert_eq!(
            local_time(Region::US, after.opens()),
            "2026-03-08 18:00 CDT"
        );
        assert_eq!(
            after.opens().duration_since(before.opens()),
            SignedDuration::from_hours(23)
        );
    }

    #[test]
    fn chicago_fall_back_window_opens_at_18_local_and_lasts_twelve_absolute_hours() {
        // Clocks fall back from 02:00 CDT to 01:00 CST on 2026-11-01, inside the window of
        // October 31st.
        let before = Window::on_night(Region::US, date(2026, 10, 31));
        assert_eq!(before.opens(), ts("2026-10-31T23:00:00Z"));
        assert_eq!(before.closes(), ts("2026-11-01T11:00:00Z"));
        assert_eq!(
            local_time(Region::US, before.closes()),
            "2026-11-01 05:00 CST"
        );
        let after = before.next();
        assert_eq!(after.opens(), ts("2026-11-02T00:00:00Z"));
        assert_eq!(
            local_time(Region::US, after.opens()),
            "2026-11-01 18:00 CST"
        );
        assert_eq!(
            after.opens().duration_since(before.opens()),
            SignedDuration::from_hours(25)
        );
    }

    #[test]
    fn auckland_daylight_time_end_window_opens_at_18_local_and_lasts_twelve_absolute_hours() {
        // Clocks fall back from 03:00 NZDT to 02:00 NZST on 2026-04-05, inside the window of
        // April 4th.
        let before = Window::on_night(Region::NZ, date(2026, 4, 4));
        assert_eq!(before.opens(), ts("2026-04-04T05:00:00Z"));
        assert_eq!(before.closes(), ts("2026-04-04T17:00:00Z"));
        assert_eq!(
            local_time(Region::NZ, before.closes()),
            "2026-04-05 05:00 NZST"
        );
        let after = before.next();
        assert_eq!(after.opens(), ts("2026-04-05T06:00:00Z"));
        assert_eq!(
            local_time(Region::NZ, after.opens()),
            "2026-04-05 18:00 NZST"
        );
    }

    #[test]
    fn auckland_daylight_time_start_window_opens_at_18_local_and_lasts_twelve_absolute_hours() {
        // Clocks jump from 02:00 NZST to 03:00 NZDT on 2026-09-27, inside the window of
        // September 26th.
        let before = Window::on_night(Region::NZ, date(2026, 9, 26));
        assert_eq!(before.opens(), ts("2026-09-26T06:00:00Z"));
        assert_eq!(before.closes(), ts("2026-09-26T18:00:00Z"));
        assert_eq!(
            local_time(Region::NZ, before.closes()),
            "2026-09-27 07:00 NZDT"
        );
        let after = before.next();
        assert_eq!(after.opens(), ts("2026-09-27T05:00:00Z"));
        assert_eq!(
            local_time(Region::NZ, after.opens()),
            "2026-09-27 18:00 NZDT"
        );
    }

    #[test]
    fn a_time_after_local_midnight_belongs_to_the_previous_evenings_window() {
        // 02:30 CDT on June 11th.
        let t = ts("2026-06-11T07:30:00Z");
        let window = Window::containing(Region::US, t).expect("inside a window");
        assert_eq!(window.night(), date(2026, 6, 10));
        assert_eq!(window.opens(), ts("2026-06-10T23:00:00Z"));
        assert_eq!(
            window_opening_at_or_before(Region::US, t),
            ts("2026-06-10T23:00:00Z")
        );
    }

    #[test]
    fn an_afternoon_time_is_outside_every_window_and_maps_to_the_last_one() {
        // 12:00 CDT on June 11th: the window of the 10th closed at 06:00.
        let t = ts("2026-06-11T17:00:00Z");
        assert_eq!(Window::containing(Region::US, t), None);
        assert_eq!(
            Window::at_or_before(Region::US, t).night(),
            date(2026, 6, 10)
        );
        assert_eq!(
            next_window_opening(Region::US, t),
            ts("2026-06-11T23:00:00Z")
        );
    }

    #[test]
    fn the_opening_instant_is_inside_and_the_closing_instant_is_outside() {
        let window = Window::on_night(Region::UK, date(2026, 6, 10));
        assert!(window.contains(ts("2026-06-10T18:00:00Z")));
        assert!(window.contains(ts("2026-06-11T05:59:59.999Z")));
        assert!(!window.contains(ts("2026-06-11T06:00:00Z")));
        assert!(!window.contains(ts("2026-06-10T17:59:59.999Z")));
    }

    #[test]
    fn next_window_opening_is_strictly_after_the_given_time() {
        let opening = ts("2026-06-10T18:00:00Z");
        assert_eq!(
            next_window_opening(Region::UK, opening),
            ts("2026-06-11T18:00:00Z")
        );
        assert_eq!(
            next_window_opening(Region::UK, ts("2026-06-10T17:59:59Z")),
            opening
        );
    }

    #[test]
    fn the_ends_of_time_saturate_instead_of_panicking() {
        for region in REGIONS {
            for t in [Timestamp::MIN, Timestamp::MAX] {
                let window = Window::at_or_before(region, t);
                assert!(window.opens() <= window.closes());
                let _ = window.next().slot_start(Slot::LAST);
                let _ = next_window_opening(region, t);
            }
        }
    }
}
