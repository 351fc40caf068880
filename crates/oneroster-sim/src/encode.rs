//! JSON encoding of records straight from the compact data set.

use std::io::Write;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use crate::dates::{NO_DATE, write_date, write_timestamp};
use crate::model::*;
use crate::rng::share_hits;

/// Characters kept as-is in an href path segment.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// What DataGuard puts in a hidden email, in turn (the k-th hidden address takes entry
/// `k % 4`): odd k masked (whole, or partly as ClassLink shows it), even k empty or blank.
pub const MASKED_EMAILS: [&str; 4] = ["", "****", " ", "s*****@sd***.example.edu"];

/// What the `junk-enabled` fault sends as `enabledUser`, in turn (the k-th hit user takes
/// entry `k % 5`); `null` is written as JSON null. None is a OneRoster value.
pub const JUNK_ENABLED: [&str; 5] = ["yes", "1", "", "enabled", "null"];

/// The record kinds the API serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Org,
    Session,
    Course,
    Class,
    User,
    Enrollment,
    Demographic,
}

impl Kind {
    /// Envelope key of a single record.
    pub fn single_key(self) -> &'static str {
        match self {
            Kind::Org => "org",
            Kind::Session => "academicSession",
            Kind::Course => "course",
            Kind::Class => "class",
            Kind::User => "user",
            Kind::Enrollment => "enrollment",
            Kind::Demographic => "demographics",
        }
    }

    /// Envelope key of a collection.
    pub fn plural_key(self) -> &'static str {
        match self {
            Kind::Org => "orgs",
            Kind::Session => "academicSessions",
            Kind::Course => "courses",
            Kind::Class => "classes",
            Kind::User => "users",
            Kind::Enrollment => "enrollments",
            Kind::Demographic => "demographics",
        }
    }

    /// Collection path segment used in hrefs.
    pub fn path(self) -> &'static str {
        self.plural_key()
    }

    pub fn fields(self) -> &'static [&'static str] {
        match self {
            Kind::Org => &[
                "sourcedId",
                "status",
                "dateLastModified",
                "name",
                "type",
                "identifier",
                "parent",
                "children",
            ],
            Kind::Session => &[
                "sourcedId",
                "status",
                "dateLastModified",
                "title",
                "type",
                "startDate",
                "endDate",
                "parent",
                "children",
                "schoolYear",
            ],
            Kind::Course => &[
                "sourcedId",
                "status",
                "dateLastModified",
                "title",
                "schoolYear",
                "courseCode",
                "grades",
                "subjects",
                "org",
                "subjectCodes",
            ],
            Kind::Class => &[
                "sourcedId",
                "status",
                "dateLastModified",
                "title",
                "classCode",
                "classType",
                "location",
                "grades",
                "subjects",
                "course",
                "school",
                "terms",
                "subjectCodes",
                "periods",
            ],
            Kind::User => &[
                "sourcedId",
                "status",
                "dateLastModified",
                "username",
                "userIds",
                "enabledUser",
                "givenName",
                "familyName",
                "middleName",
                "role",
                "identifier",
                "email",
                "sms",
                "phone",
                "agents",
                "orgs",
                "grades",
            ],
            Kind::Enrollment => &[
                "sourcedId",
                "status",
                "dateLastModified",
                "user",
                "class",
                "school",
                "role",
                "primary",
                "beginDate",
                "endDate",
            ],
            Kind::Demographic => &["sourcedId", "status", "dateLastModified"],
        }
    }

    pub fn status(self, ds: &Dataset, i: u32) -> Status {
        let i = i as usize;
        match self {
            Kind::Org => ds.orgs.rows[i].status,
            Kind::Session => ds.sessions.rows[i].status,
            Kind::Course => ds.courses.rows[i].status,
            Kind::Class => ds.classes.rows[i].status,
            Kind::User => ds.users.rows[i].status,
            Kind::Enrollment => ds.enrollments.rows[i].status,
            Kind::Demographic => Status::Active,
        }
    }

    pub fn modified(self, ds: &Dataset, i: u32) -> u32 {
        let i = i as usize;
        match self {
            Kind::Org => ds.orgs.rows[i].modified,
            Kind::Session => ds.sessions.rows[i].modified,
            Kind::Course => ds.courses.rows[i].modified,
            Kind::Class => ds.classes.rows[i].modified,
            Kind::User => ds.users.rows[i].modified,
            Kind::Enrollment => ds.enrollments.rows[i].modified,
            Kind::Demographic => 0,
        }
    }

    pub fn ids(self, ds: &Dataset) -> &Ids {
        match self {
            Kind::Org => &ds.orgs.ids,
            Kind::Session => &ds.sessions.ids,
            Kind::Course => &ds.courses.ids,
            Kind::Class => &ds.classes.ids,
            Kind::User | Kind::Demographic => &ds.users.ids,
            Kind::Enrollment => &ds.enrollments.ids,
        }
    }

    pub fn live(self, ds: &Dataset) -> &[u32] {
        match self {
            Kind::Org => &ds.orgs.live,
            Kind::Session => &ds.sessions.live,
            Kind::Course => &ds.courses.live,
            Kind::Class => &ds.classes.live,
            Kind::User => &ds.users.live,
            Kind::Enrollment => &ds.enrollments.live,
            Kind::Demographic => &[],
        }
    }
}

/// Writes `s` as a JSON string literal.
pub fn json_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc: Option<&[u8]> = match b {
            b'"' => Some(b"\\\""),
            b'\\' => Some(b"\\\\"),
            b'\n' => Some(b"\\n"),
            b'\r' => Some(b"\\r"),
            b'\t' => Some(b"\\t"),
            0..=0x1f => None,
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        match esc {
            Some(e) => out.extend_from_slice(e),
            None => {
                let _ = write!(out, "\\u{b:04x}");
            }
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

/// Writes a sourcedId as a JSON string.
fn write_sid(out: &mut Vec<u8>, ids: &Ids, i: u32) {
    match ids {
        Ids::Generated { prefix, width } => {
            let _ = write!(out, "\"{prefix}{i:0width$}\"");
        }
        Ids::Stored { ids, .. } => json_str(out, ids.get(i as usize).map(|s| &**s).unwrap_or("")),
    }
}

/// Per-request encoding context.
pub struct Ctx<'a> {
    pub ds: &'a Dataset,
    /// Absolute OneRoster base URL for hrefs, e.g. `http://127.0.0.1:8080/ims/oneroster/v1p1`.
    pub href_base: &'a str,
    pub mask_emails: Option<f64>,
    pub junk_enabled: Option<f64>,
    pub incomplete_school: Option<u32>,
    pub scratch: String,
}

impl<'a> Ctx<'a> {
    pub fn new(ds: &'a Dataset, href_base: &'a str) -> Self {
        Ctx {
            ds,
            href_base,
            mask_emails: None,
            junk_enabled: None,
            incomplete_school: None,
            scratch: String::new(),
        }
    }

    /// `{"href":..., "sourcedId":..., "type":...}` for row `i` of a table.
    fn reference(&self, out: &mut Vec<u8>, path: &str, ids: &Ids, i: u32, ty: &str) {
        let sid = ids.get(i);
        self.reference_sid(out, path, &sid, ty);
    }

    fn reference_sid(&self, out: &mut Vec<u8>, path: &str, sid: &str, ty: &str) {
        out.extend_from_slice(b"{\"href\":\"");
        out.extend_from_slice(self.href_base.as_bytes());
        out.push(b'/');
        out.extend_from_slice(path.as_bytes());
        out.push(b'/');
        for part in utf8_percent_encode(sid, SEGMENT) {
            out.extend_from_slice(part.as_bytes());
        }
        out.extend_from_slice(b"\",\"sourcedId\":");
        json_str(out, sid);
        out.extend_from_slice(b",\"type\":\"");
        out.extend_from_slice(ty.as_bytes());
        out.extend_from_slice(b"\"}");
    }

    fn reference_or_null(&self, out: &mut Vec<u8>, path: &str, ids: &Ids, i: u32, ty: &str) {
        if i == NONE {
            out.extend_from_slice(b"null");
        } else {
            self.reference(out, path, ids, i, ty);
        }
    }

    pub fn encode(&mut self, kind: Kind, i: u32, fields: Option<&[String]>, out: &mut Vec<u8>) {
        match kind {
            Kind::Org => self.org(i, fields, out),
            Kind::Session => self.session(i, fields, out),
            Kind::Course => self.course(i, fields, out),
            Kind::Class => self.class(i, fields, out),
            Kind::User => self.user(i, fields, out),
            Kind::Enrollment => self.enrollment(i, fields, out),
            Kind::Demographic => out.extend_from_slice(b"{}"),
        }
    }

    fn org(&mut self, i: u32, fields: Option<&[String]>, out: &mut Vec<u8>) {
        let ds = self.ds;
        let o = &ds.orgs.rows[i as usize];
        let mut w = Obj::begin(out, fields);
        header(&mut w, &ds.orgs.ids, i, o.status, o.modified);
        w.str("name", &o.name);
        w.str("type", o.kind.as_str());
        w.str("identifier", &o.identifier);
        if w.key("parent") {
            self.reference_or_null(w.out, "orgs", &ds.orgs.ids, o.parent, "org");
        }
        if w.key("children") {
            w.out.push(b'[');
            let mut first = true;
            for (c, child) in ds.orgs.iter_live() {
                if child.parent == i {
                    if !first {
                        w.out.push(b',');
                    }
                    first = false;
                    self.reference(w.out, "orgs", &ds.orgs.ids, c, "org");
                }
            }
            w.out.push(b']');
        }
        w.end();
    }

    fn session(&mut self, i: u32, fields: Option<&[String]>, out: &mut Vec<u8>) {
        let ds = self.ds;
        let s = &ds.sessions.rows[i as usize];
        let mut w = Obj::begin(out, fields);
        header(&mut w, &ds.sessions.ids, i, s.status, s.modified);
        w.str("title", &s.title);
        w.str("type", s.kind.as_str());
        w.date("startDate", s.start);
        w.date("endDate", s.end);
        if w.key("parent") {
            self.reference_or_null(
                w.out,
                "academicSessions",
                &ds.sessions.ids,
                s.parent,
                "academicSession",
            );
        }
        if w.key("children") {
            w.out.push(b'[');
            let mut first = true;
            for (c, child) in ds.sessions.iter_live() {
                if child.parent == i {
                    if !first {
                        w.out.push(b',');
                    }
                    first = false;
                    self.reference(
                        w.out,
                        "academicSessions",
                        &ds.sessions.ids,
                        c,
                        "academicSession",
                    );
                }
            }
            w.out.push(b']');
        }
        if w.key("schoolYear") {
            let _ = write!(w.out, "\"{}\"", s.school_year);
        }
        w.end();
    }

    fn course(&mut self, i: u32, fields: Option<&[String]>, out: &mut Vec<u8>) {
        let ds = self.ds;
        let c = &ds.courses.rows[i as usize];
        let mut w = Obj::begin(out, fields);
        header(&mut w, &ds.courses.ids, i, c.status, c.modified);
        w.str("title", &c.title);
        if w.key("schoolYear") {
            self.reference_or_null(
                w.out,
                "academicSessions",
                &ds.sessions.ids,
                c.school_year,
                "academicSession",
            );
        }
        w.str("courseCode", &c.code);
        w.grades("grades", c.grades.iter().copied());
        w.str_list("subjects", (!c.subject.is_empty()).then_some(&*c.subject));
        if w.key("org") {
            self.reference_or_null(w.out, "orgs", &ds.orgs.ids, c.org, "org");
        }
        w.raw("subjectCodes", b"[]");
        w.end();
    }

    fn class(&mut self, i: u32, fields: Option<&[String]>, out: &mut Vec<u8>) {
        let ds = self.ds;
        let c = &ds.classes.rows[i as usize];
        let dangling = self.incomplete_school == Some(c.school);
        let mut w = Obj::begin(out, fields);
        header(&mut w, &ds.classes.ids, i, c.status, c.modified);
        w.str("title", &c.title);
        w.str("classCode", &c.code);
        w.str("classType", c.kind.as_str());
        w.str("location", "");
        w.grades("grades", c.grades.iter().copied());
        w.str_list("subjects", (!c.subject.is_empty()).then_some(&*c.subject));
        if w.key("course") {
            if dangling {
                self.reference_sid(w.out, "courses", &format!("missing-course-{i}"), "course");
            } else {
                self.reference_or_null(w.out, "courses", &ds.courses.ids, c.course, "course");
            }
        }
        if w.key("school") {
            self.reference_or_null(w.out, "orgs", &ds.orgs.ids, c.school, "org");
        }
        if w.key("terms") {
            w.out.push(b'[');
            for (n, &t) in c.terms.iter().enumerate() {
                if n > 0 {
                    w.out.push(b',');
                }
                if dangling {
                    self.reference_sid(
                        w.out,
                        "academicSessions",
                        &format!("missing-term-{i}"),
                        "academicSession",
                    );
                } else {
                    self.reference(
                        w.out,
                        "academicSessions",
                        &ds.sessions.ids,
                        t,
                        "academicSession",
                    );
                }
            }
            w.out.push(b']');
        }
        w.raw("subjectCodes", b"[]");
        w.raw("periods", b"[]");
        w.end();
    }

    fn user(&mut self, i: u32, fields: Option<&[String]>, out: &mut Vec<u8>) {
        let ds = self.ds;
        let u = &ds.users.rows[i as usize];
        let mut w = Obj::begin(out, fields);
        header(&mut w, &ds.users.ids, i, u.status, u.modified);
        let s = &mut self.scratch;
        if w.wants("username") {
            s.clear();
            ds.write_username(i, u, s);
            w.str("username", s);
        }
        w.raw("userIds", b"[]");
        match self.junk_enabled {
            Some(share) if share_hits(u64::from(i) + 1, share) => {
                let k = ((u64::from(i) + 1) as f64 * share + 1e-9).floor() as u64;
                match JUNK_ENABLED[(k % JUNK_ENABLED.len() as u64) as usize] {
                    "null" => w.raw("enabledUser", b"null"),
                    junk => w.str("enabledUser", junk),
                }
            }
            _ => w.str("enabledUser", if u.enabled { "true" } else { "false" }),
        }
        w.str("givenName", ds.given_name(u));
        w.str("familyName", ds.family_name(u));
        w.str(
            "middleName",
            u.text.as_ref().map(|t| &*t.middle).unwrap_or(""),
        );
        w.str("role", u.role.as_str());
        if w.wants("identifier") {
            s.clear();
            ds.write_identifier(i, u, s);
            w.str("identifier", s);
        }
        if w.wants("email") {
            s.clear();
            match self.mask_emails {
                Some(share) if share_hits(u64::from(i) + 1, share) => {
                    // DataGuard hides the address: empty for some, masked for others.
                    let k = ((u64::from(i) + 1) as f64 * share + 1e-9).floor() as u64;
                    s.push_str(MASKED_EMAILS[(k % MASKED_EMAILS.len() as u64) as usize]);
                }
                _ => ds.write_email(i, u, s),
            }
            w.str("email", s);
        }
        if w.wants("sms") {
            s.clear();
            ds.write_sms(i, u, s);
            w.str("sms", s);
        }
        if w.wants("phone") {
            s.clear();
            ds.write_phone(i, u, s);
            w.str("phone", s);
        }
        if w.key("agents") {
            w.out.push(b'[');
            let mut first = true;
            for a in ds.user_agents(u) {
                if (a as usize) >= ds.users.rows.len() || !ds.users.is_live(a) {
                    continue;
                }
                if !first {
                    w.out.push(b',');
                }
                first = false;
                self.reference(w.out, "users", &ds.users.ids, a, "user");
            }
            w.out.push(b']');
        }
        if w.key("orgs") {
            w.out.push(b'[');
            for (n, o) in ds.user_orgs(u).enumerate() {
                if n > 0 {
                    w.out.push(b',');
                }
                self.reference(w.out, "orgs", &ds.orgs.ids, o, "org");
            }
            w.out.push(b']');
        }
        w.grades("grades", ds.user_grades(u));
        w.end();
    }

    fn enrollment(&mut self, i: u32, fields: Option<&[String]>, out: &mut Vec<u8>) {
        let ds = self.ds;
        let e = &ds.enrollments.rows[i as usize];
        let mut w = Obj::begin(out, fields);
        header(&mut w, &ds.enrollments.ids, i, e.status, e.modified);
        if w.key("user") {
            if self.incomplete_school == Some(e.school) && i.is_multiple_of(5) {
                self.reference_sid(w.out, "users", &format!("missing-user-{i}"), "user");
            } else {
                self.reference(w.out, "users", &ds.users.ids, e.user, "user");
            }
        }
        if w.key("class") {
            self.reference(w.out, "classes", &ds.classes.ids, e.class, "class");
        }
        if w.key("school") {
            self.reference_or_null(w.out, "orgs", &ds.orgs.ids, e.school, "org");
        }
        w.str("role", e.role.as_str());
        w.str("primary", if e.primary { "true" } else { "false" });
        w.date("beginDate", e.begin);
        w.date("endDate", e.end);
        w.end();
    }

    /// The JSON value of one field of a record (filters and sorts on fields
    /// without a fast path use it).
    pub fn field_value(&mut self, kind: Kind, i: u32, field: &str) -> serde_json::Value {
        let mut buf = Vec::with_capacity(64);
        let fields = [field.to_string()];
        self.encode(kind, i, Some(&fields), &mut buf);
        serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(&buf)
            .ok()
            .and_then(|mut m| m.remove(field))
            .unwrap_or(serde_json::Value::Null)
    }
}

fn header(w: &mut Obj<'_>, ids: &Ids, i: u32, status: Status, modified: u32) {
    if w.key("sourcedId") {
        write_sid(w.out, ids, i);
    }
    w.str("status", status.as_str());
    if w.key("dateLastModified") {
        w.out.push(b'"');
        write_timestamp(w.out, modified);
        w.out.push(b'"');
    }
}

/// A JSON object being written, honouring the `fields` projection.
pub struct Obj<'a> {
    pub out: &'a mut Vec<u8>,
    first: bool,
    fields: Option<&'a [String]>,
}

impl<'a> Obj<'a> {
    pub fn begin(out: &'a mut Vec<u8>, fields: Option<&'a [String]>) -> Self {
        out.push(b'{');
        Obj {
            out,
            first: true,
            fields,
        }
    }

    pub fn wants(&self, k: &str) -> bool {
        self.fields.is_none_or(|f| f.iter().any(|x| x == k))
    }

    /// Starts the member `k` when the projection wants it.
    pub fn key(&mut self, k: &str) -> bool {
        if !self.wants(k) {
            return false;
        }
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
        self.out.push(b'"');
        self.out.extend_from_slice(k.as_bytes());
        self.out.extend_from_slice(b"\":");
        true
    }

    pub fn str(&mut self, k: &str, v: &str) {
        if self.key(k) {
            json_str(self.out, v);
        }
    }

    pub fn raw(&mut self, k: &str, v: &[u8]) {
        if self.key(k) {
            self.out.extend_from_slice(v);
        }
    }

    pub fn date(&mut self, k: &str, d: i32) {
        if self.key(k) {
            if d == NO_DATE {
                self.out.extend_from_slice(b"null");
            } else {
                self.out.push(b'"');
                write_date(self.out, d);
                self.out.push(b'"');
            }
        }
    }

    pub fn grades(&mut self, k: &str, grades: impl Iterator<Item = u8>) {
        if self.key(k) {
            self.out.push(b'[');
            for (n, g) in grades.enumerate() {
                if n > 0 {
                    self.out.push(b',');
                }
                json_str(self.out, GRADES.get(g as usize).copied().unwrap_or("Other"));
            }
            self.out.push(b']');
        }
    }

    pub fn str_list<'s>(&mut self, k: &str, items: impl IntoIterator<Item = &'s str>) {
        if self.key(k) {
            self.out.push(b'[');
            for (n, s) in items.into_iter().enumerate() {
                if n > 0 {
                    self.out.push(b',');
                }
                json_str(self.out, s);
            }
            self.out.push(b']');
        }
    }

    pub fn end(self) {
        self.out.push(b'}');
    }
}
