//! Civil dates as days since 1970-01-01 and timestamps as seconds, formatted by
//! hand so pages encode fast. One place decides "does this session/enrollment
//! hold that date".

pub const NO_DATE: i32 = i32::MIN;

/// Days since 1970-01-01 for a proleptic Gregorian date (Howard Hinnant's algorithm).
pub fn days_from_civil(y: i32, m: u32, d: u32) -> i32 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = (y - era * 400) as u32;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe as i32 - 719_468
}

pub fn civil_from_days(z: i32) -> (i32, u32, u32) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = (z - era * 146_097) as u32;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe as i32 + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

pub fn from_jiff(d: jiff::civil::Date) -> i32 {
    days_from_civil(i32::from(d.year()), d.month() as u32, d.day() as u32)
}

pub fn to_jiff(days: i32) -> Option<jiff::civil::Date> {
    let (y, m, d) = civil_from_days(days);
    jiff::civil::Date::new(i16::try_from(y).ok()?, m as i8, d as i8).ok()
}

fn push2(out: &mut Vec<u8>, v: u32) {
    out.push(b'0' + (v / 10 % 10) as u8);
    out.push(b'0' + (v % 10) as u8);
}

/// `YYYY-MM-DD`
pub fn write_date(out: &mut Vec<u8>, days: i32) {
    let (y, m, d) = civil_from_days(days);
    let y = y.clamp(0, 9999) as u32;
    push2(out, y / 100);
    push2(out, y % 100);
    out.push(b'-');
    push2(out, m);
    out.push(b'-');
    push2(out, d);
}

pub fn date_string(days: i32) -> String {
    let mut v = Vec::with_capacity(10);
    write_date(&mut v, days);
    String::from_utf8_lossy(&v).into_owned()
}

/// `YYYY-MM-DDTHH:MM:SS.000Z` from seconds since the epoch.
pub fn write_timestamp(out: &mut Vec<u8>, secs: u32) {
    let days = (secs / 86_400) as i32;
    let rem = secs % 86_400;
    write_date(out, days);
    out.push(b'T');
    push2(out, rem / 3600);
    out.push(b':');
    push2(out, rem / 60 % 60);
    out.push(b':');
    push2(out, rem % 60);
    out.extend_from_slice(b".000Z");
}

pub fn timestamp_string(secs: u32) -> String {
    let mut v = Vec::with_capacity(24);
    write_timestamp(&mut v, secs);
    String::from_utf8_lossy(&v).into_owned()
}

/// Parses `YYYY-MM-DD` into days.
pub fn parse_date(s: &str) -> Option<i32> {
    let d: jiff::civil::Date = s.trim().parse().ok()?;
    Some(from_jiff(d))
}

/// Parses an RFC 3339 timestamp (or a bare date, meaning midnight UTC) into
/// seconds since the epoch, clamped to the u32 range the data set uses.
pub fn parse_timestamp(s: &str) -> Option<i64> {
    let s = s.trim();
    if let Ok(ts) = s.parse::<jiff::Timestamp>() {
        return Some(ts.as_second());
    }
    if let Ok(dt) = s.parse::<jiff::civil::DateTime>() {
        return dt
            .to_zoned(jiff::tz::TimeZone::UTC)
            .ok()
            .map(|z| z.timestamp().as_second());
    }
    parse_date(s).map(|d| i64::from(d) * 86_400)
}

/// A session holds a date when `start <= date <= end` (both inclusive: OneRoster
/// session end dates are the last day of the session).
pub fn session_holds(start: i32, end: i32, date: i32) -> bool {
    start <= date && date <= end
}

/// An enrollment holds a date when `begin <= date < end`; a missing bound is open.
pub fn enrollment_holds(begin: i32, end: i32, date: i32) -> bool {
    (begin == NO_DATE || begin <= date) && (end == NO_DATE || date < end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_dates() {
        for (y, m, d) in [(1970, 1, 1), (2000, 2, 29), (2026, 11, 28), (2099, 12, 31)] {
            let days = days_from_civil(y, m, d);
            assert_eq!(civil_from_days(days), (y, m, d));
        }
        assert_eq!(days_from_civil(1970, 1, 2), 1);
        assert_eq!(date_string(days_from_civil(2026, 3, 5)), "2026-03-05");
        assert_eq!(timestamp_string(86_400 + 3661), "1970-01-02T01:01:01.000Z");
    }

    #[test]
    fn parses_timestamps_and_dates() {
        assert_eq!(parse_timestamp("1970-01-02T00:00:00Z"), Some(86_400));
        assert_eq!(parse_timestamp("1970-01-02"), Some(86_400));
        assert_eq!(parse_timestamp("nonsense"), None);
    }

    #[test]
    fn bounds() {
        assert!(session_holds(1, 3, 3));
        assert!(!session_holds(1, 3, 4));
        assert!(enrollment_holds(1, 3, 2));
        assert!(!enrollment_holds(1, 3, 3));
        assert!(enrollment_holds(NO_DATE, NO_DATE, 3));
    }
}
