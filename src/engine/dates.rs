//! The one place that decides whether a date falls inside an enrollment or an academic
//! session.

use foldhash::HashMap;

use jiff::civil::Date;

use crate::oneroster::EnrollmentRef;
use crate::oneroster::records::AcademicSession;

/// Whether `today` is inside `[begin, end)`: an enrollment's begin date counts, its end date
/// does not (OneRoster's `endDate` is exclusive for enrollments). A missing bound is open.
pub fn enrollment_holds(enrollment: &EnrollmentRef<'_>, today: Date) -> bool {
    enrollment.begin_date().is_none_or(|begin| begin <= today)
        && enrollment.end_date().is_none_or(|end| today < end)
}

/// Academic sessions by sourcedId, to answer "does this term, or a session above it, hold
/// today".
pub struct SessionCalendar<'a> {
    sessions: HashMap<&'a str, &'a AcademicSession>,
    today: Date,
}

/// How far up the `parent` chain a session is followed; guards against cycles in bad data.
const MAX_SESSION_DEPTH: usize = 8;

impl<'a> SessionCalendar<'a> {
    /// Indexes `sessions` for `today`.
    pub fn new(sessions: &'a [AcademicSession], today: Date) -> Self {
        Self {
            sessions: sessions
                .iter()
                .map(|s| (s.sourced_id.as_str(), s))
                .collect(),
            today,
        }
    }

    /// Whether a session with this sourcedId exists.
    pub fn contains(&self, sourced_id: &str) -> bool {
        self.sessions.contains_key(sourced_id)
    }

    /// Whether the session, or one of its parents, holds today. A session's start and end
    /// dates are both days of the session (a term ending on a Friday includes that Friday);
    /// a missing date is open.
    pub fn holds_today(&self, sourced_id: &str) -> bool {
        let mut current = self.sessions.get(sourced_id).copied();
        for _ in 0..MAX_SESSION_DEPTH {
            let Some(session) = current else {
                return false;
            };
            if session.start_date.is_none_or(|start| start <= self.today)
                && session.end_date.is_none_or(|end| self.today <= end)
            {
                return true;
            }
            current = session
                .parent
                .as_deref()
                .and_then(|parent| self.sessions.get(parent).copied());
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oneroster::Enrollments;
    use crate::oneroster::records::{Enrollment, Status};
    use jiff::civil::date;

    /// Whether an enrollment from `begin` to `end` holds `today`.
    fn holds(begin: Option<Date>, end: Option<Date>, today: Date) -> bool {
        let list: Enrollments = [Enrollment {
            sourced_id: "e1".into(),
            status: Status::Active,
            user: Some("u1".into()),
            class: Some("c1".into()),
            school: Some("s1".into()),
            role: None,
            primary: None,
            begin_date: begin,
            end_date: end,
        }]
        .into_iter()
        .collect();
        enrollment_holds(&list.iter().next().unwrap(), today)
    }

    fn session(id: &str, start: Date, end: Date, parent: Option<&str>) -> AcademicSession {
        AcademicSession {
            sourced_id: id.into(),
            status: Status::Active,
            session_type: None,
            start_date: Some(start),
            end_date: Some(end),
            parent: parent.map(str::to_owned),
            school_year: None,
        }
    }

    #[test]
    fn enrollment_begin_date_is_inclusive_and_end_date_exclusive() {
        let today = date(2026, 11, 28);
        assert!(holds(Some(today), None, today));
        assert!(!holds(None, Some(today), today));
        assert!(holds(None, Some(date(2026, 11, 29)), today));
        assert!(!holds(Some(date(2026, 11, 29)), None, today));
    }

    #[test]
    fn enrollment_without_dates_always_holds() {
        assert!(holds(None, None, date(2001, 1, 1)));
    }

    #[test]
    fn session_holds_on_its_first_and_last_day() {
        let sessions = [session("t1", date(2026, 8, 1), date(2026, 12, 18), None)];
        for (today, expected) in [
            (date(2026, 8, 1), true),
            (date(2026, 12, 18), true),
            (date(2026, 12, 19), false),
            (date(2026, 7, 31), false),
        ] {
            let calendar = SessionCalendar::new(&sessions, today);
            assert_eq!(calendar.holds_today("t1"), expected, "{today}");
        }
    }

    #[test]
    fn a_past_term_holds_through_its_current_parent_session() {
        let sessions = [
            session("year", date(2026, 8, 1), date(2027, 6, 30), None),
            session("t1", date(2026, 8, 1), date(2026, 9, 30), Some("year")),
        ];
        let calendar = SessionCalendar::new(&sessions, date(2026, 11, 28));
        assert!(calendar.holds_today("t1"));
        assert!(!calendar.holds_today("unknown"));
    }

    #[test]
    fn a_cycle_of_parents_ends() {
        let sessions = [
            session("a", date(2020, 1, 1), date(2020, 2, 1), Some("b")),
            session("b", date(2020, 1, 1), date(2020, 2, 1), Some("a")),
        ];
        let calendar = SessionCalendar::new(&sessions, date(2026, 11, 28));
        assert!(!calendar.holds_today("a"));
    }
}
