//! Decoding one page of a collection into compact records.
//!
//! The page body is walked once by serde: each element goes straight from the bytes
//! into a lenient raw record and then into its compact form; no JSON tree of the page
//! is built. Enrollments' pages in the plain shape servers write are read by a scanner
//! made for that shape instead ([`plain`]), into the same records; it leaves every other
//! page, and every error, to serde.
//!
//! Lenient means: a field of an unexpected type reads as missing, numbers where strings
//! belong are taken as text, `enabledUser` may be a string, a reference may be a bare id.
//! What stays an error: JSON syntax (a truncated body), and an answer that is not a
//! OneRoster collection at all.

use std::fmt;
use std::marker::PhantomData;

use jiff::civil::Date;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, de::value::MapAccessDeserializer};

mod plain;

use super::records::{
    AcademicSession, Class, ClassType, Collection, Course, Enrollment, Org, OrgType, Role,
    SessionType, Status, User, UserTexts,
};

/// One decoded page.
#[derive(Debug)]
pub(crate) struct Page<R> {
    /// Records with a sourcedId, in page order.
    pub records: Vec<R>,
    /// Elements without a sourcedId, or not objects.
    pub skipped: u64,
    /// Elements on the page, skipped ones included (for short-page detection).
    pub elements: usize,
}

/// Why a page could not be decoded.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum DecodeError {
    /// Valid JSON, but not a OneRoster collection (no envelope, a scalar, ...).
    NotOneRoster(String),
    /// Not valid JSON, or a collection of the wrong shape.
    Malformed(String),
    /// A text field is longer than the memory budget allows.
    TooLarge(String),
    /// The page holds more elements than the collection may still have.
    TooManyRecords {
        /// Elements the page could still hold.
        limit: u64,
    },
}

/// What one page may hold before decoding stops with [`DecodeError::TooLarge`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DecodeLimits {
    /// Most elements on this page.
    pub max_elements: u64,
    /// Longest text field, in bytes.
    pub max_field_bytes: usize,
    /// Elements the page most likely holds (the page size asked for): room for that many
    /// records is made at once, where growing by doubling copied them a dozen times.
    pub expected_elements: u64,
}

impl DecodeLimits {
    /// No element limit, and the default field limit.
    pub const DEFAULT: DecodeLimits = DecodeLimits {
        max_elements: u64::MAX,
        max_field_bytes: super::config::DEFAULT_MAX_FIELD_BYTES,
        expected_elements: 0,
    };
}

thread_local! {
    /// The field limit of the page being decoded on this thread, and the length of the
    /// first field that broke it. The lenient field types are plain `Deserialize` impls
    /// without state; decoding is synchronous, so the page's limit is set here for its
    /// duration.
    static FIELD_LIMIT: std::cell::Cell<(usize, Option<usize>)> =
        const { std::cell::Cell::new((usize::MAX, None)) };
}

/// Fails a text field longer than the page's limit (the text is never quoted).
fn check_field_length<E: de::Error>(len: usize) -> Result<(), E> {
    FIELD_LIMIT.with(|cell| {
        let (limit, hit) = cell.get();
        if len > limit {
            if hit.is_none() {
                cell.set((limit, Some(len)));
            }
            Err(E::custom("a text field is longer than the limit"))
        } else {
            Ok(())
        }
    })
}

/// A record type the client reads (decoded on a blocking thread, so `Send`).
pub(crate) trait Record: Sized + Send + 'static {
    /// Envelope keys the collection may answer with (subtype endpoints answer their
    /// parent's: `/schools` answers `orgs`, `/terms` answers `academicSessions`).
    const ENVELOPES: &'static [&'static str];
    /// The lenient raw form.
    type Raw: for<'de> Deserialize<'de>;
    /// The compact form, or `None` without a sourcedId.
    fn from_raw(raw: Self::Raw) -> Option<Self>;
    /// `sourcedId`.
    fn sourced_id(&self) -> &str;
    /// `status`.
    fn status(&self) -> Status;
    /// Where the client gathers a collection's records as pages arrive.
    type List: RecordList<Self>;
    /// The page's records read by a scanner made for the shape most pages have, faster
    /// than serde's walk; `None` (the default) when there is none for the collection or
    /// the page is not in that shape, and serde's walk reads it.
    fn decode_plain(_body: &str, _limits: DecodeLimits) -> Option<Page<Self>> {
        None
    }
}

/// Where the client gathers the records of one collection, page by page.
pub(crate) trait RecordList<R>: Default + Send {
    /// Adds one page's records. `keep` is the collection's own filter (orgs that are
    /// schools, in compatibility mode); it is applied when the list is finished.
    fn add(&mut self, records: Vec<R>, keep: fn(&R) -> bool);
    /// Keeps active records that pass `keep`, drops duplicates (the first read stays), and
    /// sorts by sourcedId. Returns how many were left out as inactive or not kept.
    fn finish(&mut self, keep: fn(&R) -> bool) -> u64;
}

impl<R: Record> RecordList<R> for Vec<R> {
    fn add(&mut self, mut records: Vec<R>, _keep: fn(&R) -> bool) {
        self.append(&mut records);
    }

    fn finish(&mut self, keep: fn(&R) -> bool) -> u64 {
        // Stable, so of two records with one sourcedId the first read stays.
        self.sort_by(|a, b| a.sourced_id().cmp(b.sourced_id()));
        self.dedup_by(|later, earlier| later.sourced_id() == earlier.sourced_id());
        let before = self.len();
        self.retain(|r| r.status() == Status::Active && keep(r));
        // Pages were appended as they came, so the list grew by doubling: up to half of it
        // would stay allocated and unused while the sync runs.
        self.shrink_to_fit();
        (before - self.len()) as u64
    }
}

/// Decodes one page body with the default limits.
pub(crate) fn decode_page<R: Record>(body: &[u8]) -> Result<Page<R>, DecodeError> {
    decode_page_within::<R>(body, DecodeLimits::DEFAULT)
}

/// Decodes `body` as one page of `collection`, as the client does, with the default
/// limits: the number of elements on the page, or why it was refused. The entry point of
/// the fuzz target (`fuzz/fuzz_targets/decode_page.rs`).
pub fn decode_page_as(collection: Collection, body: &[u8]) -> Result<usize, String> {
    fn elements<R: Record>(body: &[u8]) -> Result<usize, String> {
        decode_page::<R>(body)
            .map(|page| page.elements)
            .map_err(|e| format!("{e:?}"))
    }
    match collection {
        Collection::Orgs | Collection::Schools => elements::<Org>(body),
        Collection::AcademicSessions => elements::<AcademicSession>(body),
        Collection::Courses => elements::<Course>(body),
        Collection::Classes => elements::<Class>(body),
        Collection::Users => elements::<User>(body),
        Collection::Enrollments => elements::<Enrollment>(body),
    }
}

/// Decodes one page body; stops with [`DecodeError::TooLarge`] at the first element
/// beyond `limits.max_elements` or the first text field beyond `limits.max_field_bytes`.
pub(crate) fn decode_page_within<R: Record>(
    body: &[u8],
    limits: DecodeLimits,
) -> Result<Page<R>, DecodeError> {
    // A body checked as UTF-8 once is parsed as text, which spares the parser checking
    // every string again; one that is not (a broken or hostile server) is parsed as bytes,
    // so the error says where the parser stopped.
    let text = std::str::from_utf8(body).ok();
    if let Some(page) = text.and_then(|text| R::decode_plain(text, limits)) {
        return Ok(page);
    }
    decode_page_serde(body, text, limits)
}

/// Decodes one page body by serde's walk, whatever its shape (see [`decode_page_within`]);
/// `text` is the body when it is UTF-8.
fn decode_page_serde<R: Record>(
    body: &[u8],
    text: Option<&str>,
    limits: DecodeLimits,
) -> Result<Page<R>, DecodeError> {
    let room = limits.expected_elements.min(limits.max_elements);
    let mut page = Page {
        records: Vec::with_capacity(usize::try_from(room).unwrap_or(0)),
        skipped: 0,
        elements: 0,
    };
    let mut outcome = Shape::Unknown;
    let mut too_many = None;
    let previous = FIELD_LIMIT.with(|cell| cell.replace((limits.max_field_bytes, None)));
    let top = TopLevel::<R> {
        page: &mut page,
        shape: &mut outcome,
        max_elements: limits.max_elements,
        too_many: &mut too_many,
    };
    let result = match text {
        Some(text) => {
            let mut deserializer = serde_json::Deserializer::from_str(text);
            top.deserialize(&mut deserializer)
                .and_then(|()| deserializer.end())
        }
        None => {
            let mut deserializer = serde_json::Deserializer::from_slice(body);
            top.deserialize(&mut deserializer)
                .and_then(|()| deserializer.end())
        }
    };
    let (_, long_field) = FIELD_LIMIT.with(|cell| cell.replace(previous));
    if let Some(len) = long_field {
        return Err(DecodeError::TooLarge(format!(
            "a text field of {len} bytes is longer than the limit of {} bytes",
            limits.max_field_bytes
        )));
    }
    if let Some(limit) = too_many {
        return Err(DecodeError::TooManyRecords { limit });
    }
    match (result, outcome) {
        (Ok(()), Shape::Collection) => Ok(page),
        (Ok(()), Shape::NoEnvelope(keys)) => Err(DecodeError::NotOneRoster(format!(
            "expected a `{}` collection, got an object with {keys}",
            R::ENVELOPES.first().copied().unwrap_or("records")
        ))),
        (Ok(()), Shape::Scalar(kind)) => Err(DecodeError::NotOneRoster(format!(
            "expected a JSON collection, got {kind}"
        ))),
        (Ok(()), Shape::Unknown) => Err(DecodeError::NotOneRoster(
            "expected a JSON collection".into(),
        )),
        (Err(_), _) if looks_like_html(body) => Err(DecodeError::NotOneRoster(
            "the answer is HTML, not JSON".into(),
        )),
        (Err(e), _) => Err(DecodeError::Malformed(parse_error_text(&e))),
    }
}

/// Whether a body is an HTML page (a login page, a proxy's error page).
pub(crate) fn looks_like_html(body: &[u8]) -> bool {
    body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'<')
}

/// A serde_json error without any of the input: category, line and column.
fn parse_error_text(e: &serde_json::Error) -> String {
    let kind = match e.classify() {
        serde_json::error::Category::Eof => "the body ends early (truncated)",
        serde_json::error::Category::Syntax => "invalid JSON",
        serde_json::error::Category::Data => "unexpected JSON shape",
        serde_json::error::Category::Io => "read error",
    };
    format!("{kind} at line {} column {}", e.line(), e.column())
}

enum Shape {
    Unknown,
    Collection,
    Scalar(&'static str),
    NoEnvelope(String),
}

struct TopLevel<'a, R> {
    page: &'a mut Page<R>,
    shape: &'a mut Shape,
    max_elements: u64,
    /// Set to the element limit when the page goes beyond it.
    too_many: &'a mut Option<u64>,
}

impl<'de, R: Record> DeserializeSeed<'de> for TopLevel<'_, R> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de, R: Record> Visitor<'de> for TopLevel<'_, R> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a OneRoster collection")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<(), A::Error> {
        *self.shape = Shape::Collection;
        read_elements(self.page, seq, self.max_elements, self.too_many)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut keys = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            if R::ENVELOPES.contains(&key.as_str()) && !matches!(self.shape, Shape::Collection) {
                map.next_value_seed(Elements {
                    page: self.page,
                    max_elements: self.max_elements,
                    too_many: self.too_many,
                })?;
                *self.shape = Shape::Collection;
            } else {
                map.next_value::<IgnoredAny>()?;
                if keys.len() < 5 {
                    // Key names only, cut short: never values.
                    keys.push(format!("`{}`", key.chars().take(40).collect::<String>()));
                }
            }
        }
        if !matches!(self.shape, Shape::Collection) {
            let keys = if keys.is_empty() {
                "no keys".to_owned()
            } else {
                format!("keys {}", keys.join(", "))
            };
            *self.shape = Shape::NoEnvelope(keys);
        }
        Ok(())
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        *self.shape = Shape::Scalar("a string");
        Ok(())
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        *self.shape = Shape::Scalar("a boolean");
        Ok(())
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        *self.shape = Shape::Scalar("a number");
        Ok(())
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        *self.shape = Shape::Scalar("a number");
        Ok(())
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        *self.shape = Shape::Scalar("a number");
        Ok(())
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        *self.shape = Shape::Scalar("null");
        Ok(())
    }
}

/// The array under an envelope key; `null` reads as an empty page.
struct Elements<'a, R> {
    page: &'a mut Page<R>,
    max_elements: u64,
    too_many: &'a mut Option<u64>,
}

impl<'de, R: Record> DeserializeSeed<'de> for Elements<'_, R> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de, R: Record> Visitor<'de> for Elements<'_, R> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of records")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<(), A::Error> {
        read_elements(self.page, seq, self.max_elements, self.too_many)
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
}

fn read_elements<'de, R: Record, A: SeqAccess<'de>>(
    page: &mut Page<R>,
    mut seq: A,
    max_elements: u64,
    too_many: &mut Option<u64>,
) -> Result<(), A::Error> {
    while let Some(element) = seq.next_element::<Element<R::Raw>>()? {
        if page.elements as u64 >= max_elements {
            *too_many = Some(max_elements);
            return Err(de::Error::custom("more elements than the limit"));
        }
        page.elements += 1;
        match element.0.and_then(R::from_raw) {
            Some(record) => page.records.push(record),
            None => page.skipped += 1,
        }
    }
    Ok(())
}

/// One array element: a raw record when it is an object, `None` otherwise.
struct Element<T>(Option<T>);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Element<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ElementVisitor<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for ElementVisitor<T> {
            type Value = Element<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a record")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Element<T>, A::Error> {
                T::deserialize(MapAccessDeserializer::new(map)).map(|raw| Element(Some(raw)))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Element<T>, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Element(None))
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Element<T>, E> {
                Ok(Element(None))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Element<T>, E> {
                Ok(Element(None))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Element<T>, E> {
                Ok(Element(None))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Element<T>, E> {
                Ok(Element(None))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Element<T>, E> {
                Ok(Element(None))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Element<T>, E> {
                Ok(Element(None))
            }
        }
        deserializer.deserialize_any(ElementVisitor(PhantomData))
    }
}

// ---- lenient field types ----------------------------------------------------------

/// What a field's JSON value comes to. Every field is lenient: a string is read without its
/// NUL characters (`\u0000`: no OneRoster value holds one, and PostgreSQL's text type
/// cannot, so dropping them keeps a record that carries one storable, the same on both
/// stores) and trimmed, a number as it is written, and anything else as nothing.
///
/// The string is handed over where it lies in the page: a field read for what it means
/// (a status, a role, a date, a flag) is never copied out of it, and a text that is kept is
/// copied once, trimmed. A million enrollments hold five such fields each.
trait FieldValue: Default {
    /// From a string or a number, `None` when the string is empty or blank.
    fn from_text(text: Option<&str>) -> Self;
    /// From a JSON boolean.
    fn from_bool(_: bool) -> Self {
        Self::from_text(None)
    }
    /// From null, a list or an object.
    fn from_nothing() -> Self {
        Self::from_text(None)
    }
}

/// A field of a raw record; a field that is missing is `T::default()`.
#[derive(Default)]
struct Field<T>(T);

/// A text field that is kept: trimmed, `None` when empty.
type Text = Field<Option<String>>;

/// A date field: `YYYY-MM-DD`, or a date-time whose date part is taken.
type Day = Field<Option<Date>>;

/// A boolean field: `true`/`false` or the strings `"true"`/`"false"`.
type Flag = Field<Option<bool>>;

impl FieldValue for Option<String> {
    fn from_text(text: Option<&str>) -> Self {
        text.map(str::to_owned)
    }
}

impl FieldValue for Option<Date> {
    fn from_text(text: Option<&str>) -> Self {
        text.and_then(parse_date)
    }
}

impl FieldValue for Option<bool> {
    fn from_text(text: Option<&str>) -> Self {
        match text {
            Some(t) if t.eq_ignore_ascii_case("true") => Some(true),
            Some(t) if t.eq_ignore_ascii_case("false") => Some(false),
            _ => None,
        }
    }
    fn from_bool(value: bool) -> Self {
        Some(value)
    }
}

impl FieldValue for Status {
    fn from_text(text: Option<&str>) -> Self {
        Status::parse(text)
    }
}

/// Vocabulary fields (roles, types): the spec's words, or another word kept as it is.
macro_rules! vocabulary_fields {
    ($($name:ident),+) => {
        $(impl FieldValue for Option<$name> {
            fn from_text(text: Option<&str>) -> Self {
                text.map($name::parse)
            }
        })+
    };
}

vocabulary_fields!(Role, OrgType, SessionType, ClassType);

/// `enabledUser`: absent, one of the spec's values (`true`/`false`, as booleans or
/// strings), or anything else (`"yes"`, `1`, `""`, `null`), which is kept apart so the
/// engine can name it instead of guessing.
#[derive(Default)]
enum EnabledFlag {
    #[default]
    Absent,
    Valid(bool),
    Invalid,
}

impl FieldValue for EnabledFlag {
    fn from_text(text: Option<&str>) -> Self {
        match Option::<bool>::from_text(text) {
            Some(value) => EnabledFlag::Valid(value),
            None => EnabledFlag::Invalid,
        }
    }
    fn from_bool(value: bool) -> Self {
        EnabledFlag::Valid(value)
    }
}

/// `text` without NUL characters and trimmed, handed to `read`; `None` when nothing is
/// left. `may_hold_nul` is false for a string the parser lends straight from the page:
/// serde_json lends only strings that held no escape, and JSON allows no raw control
/// character in a string (serde_json refuses one), so only an escaped `\u0000` makes a NUL.
fn read_text<T>(text: &str, may_hold_nul: bool, read: impl FnOnce(Option<&str>) -> T) -> T {
    debug_assert!(may_hold_nul || !text.contains('\0'));
    fn non_blank(text: &str) -> Option<&str> {
        // Most texts start and end with a visible ASCII character: nothing to trim.
        if let (Some(first), Some(last)) = (text.as_bytes().first(), text.as_bytes().last())
            && first.is_ascii_graphic()
            && last.is_ascii_graphic()
        {
            return Some(text);
        }
        Some(text.trim()).filter(|t| !t.is_empty())
    }
    if may_hold_nul && text.contains('\0') {
        let cleaned = text.replace('\0', "");
        return read(non_blank(&cleaned));
    }
    read(non_blank(text))
}

impl<'de, T: FieldValue> Deserialize<'de> for Field<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct FieldVisitor<T>(PhantomData<T>);
        impl<'de, T: FieldValue> Visitor<'de> for FieldVisitor<T> {
            type Value = Field<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Field<T>, E> {
                check_field_length(v.len())?;
                Ok(Field(read_text(v, false, T::from_text)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Field<T>, E> {
                check_field_length(v.len())?;
                Ok(Field(read_text(v, true, T::from_text)))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Field<T>, E> {
                Ok(Field(T::from_bool(v)))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Field<T>, E> {
                Ok(Field(T::from_text(Some(&v.to_string()))))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Field<T>, E> {
                Ok(Field(T::from_text(Some(&v.to_string()))))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Field<T>, E> {
                Ok(Field(T::from_text(Some(&v.to_string()))))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Field<T>, E> {
                Ok(Field(T::from_nothing()))
            }
            fn visit_none<E: de::Error>(self) -> Result<Field<T>, E> {
                Ok(Field(T::from_nothing()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Field<T>, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Field(T::from_nothing()))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Field<T>, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Field(T::from_nothing()))
            }
        }
        deserializer.deserialize_any(FieldVisitor(PhantomData))
    }
}

pub(crate) fn parse_date(text: &str) -> Option<Date> {
    let text = text.trim();
    let day = text.get(..10)?;
    if text.len() > 10 && !text[10..].starts_with(['T', 't', ' ']) {
        return None;
    }
    day.parse::<Date>().ok()
}

/// A reference `{href, sourcedId, type}` (only `sourcedId` kept), or a bare id string.
#[derive(Default)]
struct Ref(Option<String>);

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawRef {
    #[serde(rename = "sourcedId")]
    sourced_id: Text,
}

impl<'de> Deserialize<'de> for Ref {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct RefVisitor;
        impl<'de> Visitor<'de> for RefVisitor {
            type Value = Ref;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a reference")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Ref, A::Error> {
                let raw = RawRef::deserialize(MapAccessDeserializer::new(map))?;
                Ok(Ref(raw.sourced_id.0))
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Ref, E> {
                check_field_length(v.len())?;
                Ok(Ref(read_text(v, false, Option::<String>::from_text)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Ref, E> {
                check_field_length(v.len())?;
                Ok(Ref(read_text(v, true, Option::<String>::from_text)))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Ref, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Ref(None))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Ref, E> {
                Ok(Ref(None))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Ref, E> {
                Ok(Ref(Some(v.to_string())))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Ref, E> {
                Ok(Ref(Some(v.to_string())))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Ref, E> {
                Ok(Ref(None))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Ref, E> {
                Ok(Ref(None))
            }
        }
        deserializer.deserialize_any(RefVisitor)
    }
}

/// A list of `T`; a single value reads as a list of one, anything else as empty.
struct List<T>(Vec<T>);

impl<T> Default for List<T> {
    fn default() -> Self {
        List(Vec::new())
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for List<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ListVisitor<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for ListVisitor<T> {
            type Value = List<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<List<T>, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element::<T>()? {
                    items.push(item);
                }
                Ok(List(items))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<List<T>, A::Error> {
                T::deserialize(MapAccessDeserializer::new(map)).map(|one| List(vec![one]))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<List<T>, E> {
                let one = T::deserialize(de::value::StrDeserializer::<E>::new(v))?;
                Ok(List(vec![one]))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<List<T>, E> {
                Ok(List(Vec::new()))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<List<T>, E> {
                Ok(List(Vec::new()))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<List<T>, E> {
                Ok(List(Vec::new()))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<List<T>, E> {
                Ok(List(Vec::new()))
            }
            fn visit_unit<E: de::Error>(self) -> Result<List<T>, E> {
                Ok(List(Vec::new()))
            }
        }
        deserializer.deserialize_any(ListVisitor(PhantomData))
    }
}

fn refs(list: List<Ref>) -> Vec<String> {
    list.0.into_iter().filter_map(|r| r.0).collect()
}

fn texts(list: List<Text>) -> Vec<String> {
    list.0.into_iter().filter_map(|t| t.0).collect()
}

// ---- raw records ------------------------------------------------------------------

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct RawOrg {
    sourced_id: Text,
    status: Field<Status>,
    name: Text,
    #[serde(rename = "type")]
    org_type: Field<Option<OrgType>>,
    identifier: Text,
    parent: Ref,
}

impl Record for Org {
    type List = Vec<Self>;
    const ENVELOPES: &'static [&'static str] = &["orgs", "schools", "org"];
    type Raw = RawOrg;
    fn from_raw(raw: RawOrg) -> Option<Self> {
        Some(Org {
            sourced_id: raw.sourced_id.0?,
            status: raw.status.0,
            name: raw.name.0,
            org_type: raw.org_type.0,
            identifier: raw.identifier.0,
            parent: raw.parent.0,
        })
    }
    fn sourced_id(&self) -> &str {
        &self.sourced_id
    }
    fn status(&self) -> Status {
        self.status
    }
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct RawAcademicSession {
    sourced_id: Text,
    status: Field<Status>,
    #[serde(rename = "type")]
    session_type: Field<Option<SessionType>>,
    start_date: Day,
    end_date: Day,
    parent: Ref,
    school_year: Text,
}

impl Record for AcademicSession {
    type List = Vec<Self>;
    const ENVELOPES: &'static [&'static str] = &[
        "academicSessions",
        "terms",
        "gradingPeriods",
        "academicSession",
    ];
    type Raw = RawAcademicSession;
    fn from_raw(raw: RawAcademicSession) -> Option<Self> {
        Some(AcademicSession {
            sourced_id: raw.sourced_id.0?,
            status: raw.status.0,
            session_type: raw.session_type.0,
            start_date: raw.start_date.0,
            end_date: raw.end_date.0,
            parent: raw.parent.0,
            school_year: raw.school_year.0,
        })
    }
    fn sourced_id(&self) -> &str {
        &self.sourced_id
    }
    fn status(&self) -> Status {
        self.status
    }
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct RawCourse {
    sourced_id: Text,
    status: Field<Status>,
    org: Ref,
}

impl Record for Course {
    type List = Vec<Self>;
    const ENVELOPES: &'static [&'static str] = &["courses", "course"];
    type Raw = RawCourse;
    fn from_raw(raw: RawCourse) -> Option<Self> {
        Some(Course {
            sourced_id: raw.sourced_id.0?,
            status: raw.status.0,
            org: raw.org.0,
        })
    }
    fn sourced_id(&self) -> &str {
        &self.sourced_id
    }
    fn status(&self) -> Status {
        self.status
    }
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct RawClass {
    sourced_id: Text,
    status: Field<Status>,
    title: Text,
    class_code: Text,
    class_type: Field<Option<ClassType>>,
    course: Ref,
    school: Ref,
    terms: List<Ref>,
}

impl Record for Class {
    type List = Vec<Self>;
    const ENVELOPES: &'static [&'static str] = &["classes", "class"];
    type Raw = RawClass;
    fn from_raw(raw: RawClass) -> Option<Self> {
        Some(Class {
            sourced_id: raw.sourced_id.0?,
            status: raw.status.0,
            title: raw.title.0,
            class_code: raw.class_code.0,
            class_type: raw.class_type.0,
            course: raw.course.0,
            school: raw.school.0,
            terms: refs(raw.terms),
        })
    }
    fn sourced_id(&self) -> &str {
        &self.sourced_id
    }
    fn status(&self) -> Status {
        self.status
    }
}

/// A OneRoster 1.2 `roles[]` entry.
#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct RawRoleEntry {
    role_type: Text,
    role: Field<Option<Role>>,
    org: Ref,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct RawUser {
    sourced_id: Text,
    status: Field<Status>,
    enabled_user: Field<EnabledFlag>,
    role: Field<Option<Role>>,
    roles: List<Element<RawRoleEntry>>,
    email: Text,
    username: Text,
    given_name: Text,
    family_name: Text,
    identifier: Text,
    phone: Text,
    sms: Text,
    orgs: List<Ref>,
    agents: List<Ref>,
    grades: List<Text>,
}

impl Record for User {
    type List = Vec<Self>;
    const ENVELOPES: &'static [&'static str] = &[
        "users",
        "students",
        "teachers",
        "agents",
        "parents",
        "guardians",
        "user",
    ];
    type Raw = RawUser;
    fn from_raw(raw: RawUser) -> Option<Self> {
        let sourced_id = raw.sourced_id.0?;
        let roles: Vec<RawRoleEntry> = raw.roles.0.into_iter().filter_map(|e| e.0).collect();
        let primary = roles
            .iter()
            .find(|r| {
                r.role_type
                    .0
                    .as_deref()
                    .is_some_and(|t| t.eq_ignore_ascii_case("primary"))
            })
            .or_else(|| roles.first());
        let role = raw
            .role
            .0
            .or_else(|| primary.and_then(|r| r.role.0.clone()));
        let mut orgs = refs(raw.orgs);
        if orgs.is_empty() {
            for entry in &roles {
                if let Some(org) = &entry.org.0
                    && !orgs.contains(org)
                {
                    orgs.push(org.clone());
                }
            }
        }
        Some(User {
            sourced_id,
            status: raw.status.0,
            // Only the spec's values enable a user: junk is named and treated as disabled.
            enabled: matches!(
                raw.enabled_user.0,
                EnabledFlag::Absent | EnabledFlag::Valid(true)
            ),
            enabled_invalid: matches!(raw.enabled_user.0, EnabledFlag::Invalid),
            role,
            texts: UserTexts::new([
                raw.email.0.as_deref(),
                raw.username.0.as_deref(),
                raw.given_name.0.as_deref(),
                raw.family_name.0.as_deref(),
                raw.identifier.0.as_deref(),
                raw.phone.0.as_deref(),
                raw.sms.0.as_deref(),
            ]),
            orgs: orgs.into_iter().collect(),
            agents: refs(raw.agents).into_iter().collect(),
            grades: texts(raw.grades).into_iter().collect(),
        })
    }
    fn sourced_id(&self) -> &str {
        &self.sourced_id
    }
    fn status(&self) -> Status {
        self.status
    }
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct RawEnrollment {
    sourced_id: Text,
    status: Field<Status>,
    user: Ref,
    class: Ref,
    school: Ref,
    role: Field<Option<Role>>,
    primary: Flag,
    begin_date: Day,
    end_date: Day,
}

impl Record for Enrollment {
    type List = super::enrollments::Enrollments;
    const ENVELOPES: &'static [&'static str] = &["enrollments", "enrollment"];
    type Raw = RawEnrollment;
    fn decode_plain(body: &str, limits: DecodeLimits) -> Option<Page<Self>> {
        let page = plain::enrollments(body, limits)?;
        // Debug builds (the test suite, the fuzz target) read each such page by serde's walk
        // too: every page a test or the fuzzer makes compares the two.
        #[cfg(debug_assertions)]
        plain::assert_serde_reads_the_same(&page, body, limits);
        Some(page)
    }
    fn from_raw(raw: RawEnrollment) -> Option<Self> {
        Some(Enrollment {
            sourced_id: raw.sourced_id.0?,
            status: raw.status.0,
            user: raw.user.0,
            class: raw.class.0,
            school: raw.school.0,
            role: raw.role.0,
            primary: raw.primary.0,
            begin_date: raw.begin_date.0,
            end_date: raw.end_date.0,
        })
    }
    fn sourced_id(&self) -> &str {
        &self.sourced_id
    }
    fn status(&self) -> Status {
        self.status
    }
}

// ---- error bodies -----------------------------------------------------------------

/// The server's `imsx_description` from an error body, trimmed, single-line and short.
/// Looked for at the top level and in `statusInfoSet`/`imsx_statusInfo` style nesting.
pub(crate) fn imsx_description(body: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    let found = find_description(&value, 0)?;
    let single_line: String = found
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .filter(|c| !c.is_control())
        .collect();
    // Cut generously here; the message quotes at most `QUOTE_CHARS`, after redaction.
    let single_line = super::redact::cap(&single_line, super::redact::READ_CHARS);
    if single_line.is_empty() {
        None
    } else {
        Some(single_line)
    }
}

fn find_description(value: &serde_json::Value, depth: usize) -> Option<&str> {
    if depth > 4 {
        return None;
    }
    match value {
        serde_json::Value::Object(map) => {
            for (key, v) in map {
                if key.eq_ignore_ascii_case("imsx_description")
                    && let Some(text) = v.as_str()
                {
                    return Some(text);
                }
            }
            map.values().find_map(|v| find_description(v, depth + 1))
        }
        serde_json::Value::Array(items) => items
            .iter()
            .take(5)
            .find_map(|v| find_description(v, depth + 1)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn users(body: &str) -> Result<Page<User>, DecodeError> {
        decode_page::<User>(body.as_bytes())
    }

    #[test]
    fn decodes_a_one_one_user_envelope() {
        let page = users(
            r#"{"users":[{"sourcedId":"u1","status":"active","enabledUser":"false",
                "role":"teacher","email":"a@b.org","username":"ab","givenName":"A",
                "familyName":"B","identifier":"42","phone":"1","sms":"2",
                "orgs":[{"href":"https://x/orgs/s1","sourcedId":"s1","type":"org"}],
                "agents":[],"grades":["09","10"],"dateLastModified":"2026-01-01T00:00:00Z"}]}"#,
        )
        .unwrap();
        assert_eq!(page.elements, 1);
        assert_eq!(page.skipped, 0);
        let u = &page.records[0];
        assert_eq!(u.sourced_id, "u1");
        assert!(!u.enabled);
        assert_eq!(u.role, Some(Role::Teacher));
        assert_eq!(u.email(), Some("a@b.org"));
        assert_eq!(u.orgs.iter().collect::<Vec<_>>(), ["s1"]);
        assert_eq!(u.grades.iter().collect::<Vec<_>>(), ["09", "10"]);
        assert_eq!(u.identifier(), Some("42"));
        assert_eq!(u.username(), Some("ab"));
        assert_eq!(u.given_name(), Some("A"));
        assert_eq!(u.family_name(), Some("B"));
        assert_eq!(u.phone(), Some("1"));
        assert_eq!(u.sms(), Some("2"));
    }

    #[test]
    fn only_the_specs_enabled_user_values_enable_a_user() {
        for (value, enabled, invalid) in [
            ("", true, false),
            (r#","enabledUser":true"#, true, false),
            (r#","enabledUser":" TRUE ""#, true, false),
            (r#","enabledUser":"false""#, false, false),
            (r#","enabledUser":"yes""#, false, true),
            (r#","enabledUser":"1""#, false, true),
            (r#","enabledUser":1"#, false, true),
            (r#","enabledUser":"""#, false, true),
            (r#","enabledUser":null"#, false, true),
        ] {
            let body = format!(r#"{{"users":[{{"sourcedId":"u1"{value}}}]}}"#);
            let u = &users(&body).unwrap().records[0];
            assert_eq!(
                (u.enabled, u.enabled_invalid),
                (enabled, invalid),
                "{value}"
            );
        }
    }

    #[test]
    fn decodes_one_two_roles_and_inactive_status() {
        let page = users(
            r#"[{"sourcedId":"u2","status":"inactive","enabledUser":true,
                "roles":[{"roleType":"secondary","role":"aide","org":{"sourcedId":"s9"}},
                         {"roleType":"primary","role":"student","org":{"sourcedId":"s1"}}]}]"#,
        )
        .unwrap();
        let u = &page.records[0];
        assert_eq!(u.status, Status::Deleted);
        assert_eq!(u.role, Some(Role::Student));
        assert_eq!(u.orgs.iter().collect::<Vec<_>>(), ["s9", "s1"]);
        assert!(u.enabled);
    }

    #[test]
    fn records_without_sourced_id_are_counted() {
        let page =
            users(r#"{"users":[{"status":"active"},{"sourcedId":""},7,null,{"sourcedId":"ok"}]}"#)
                .unwrap();
        assert_eq!(page.records.len(), 1);
        assert_eq!(page.skipped, 4);
        assert_eq!(page.elements, 5);
    }

    #[test]
    fn subtype_endpoints_may_answer_the_parent_envelope() {
        let page = decode_page::<Org>(br#"{"orgs":[{"sourcedId":"s1","type":"school"}]}"#).unwrap();
        assert_eq!(page.records[0].org_type, Some(OrgType::School));
        let page = decode_page::<AcademicSession>(
            br#"{"academicSessions":[{"sourcedId":"t1","type":"term","startDate":"2025-08-01","endDate":"2026-01-01T00:00:00Z","parent":{"sourcedId":"y1"},"schoolYear":2026}]}"#,
        )
        .unwrap();
        let t = &page.records[0];
        assert_eq!(t.start_date, Some(jiff::civil::date(2025, 8, 1)));
        assert_eq!(t.end_date, Some(jiff::civil::date(2026, 1, 1)));
        assert_eq!(t.parent.as_deref(), Some("y1"));
        assert_eq!(t.school_year.as_deref(), Some("2026"));
    }

    #[test]
    fn wrongly_typed_fields_read_as_missing() {
        let page = decode_page::<Enrollment>(
            br#"{"enrollments":[{"sourcedId":"e1","user":"u1","class":{"sourcedId":5},
                "school":[1,2],"role":{"x":1},"primary":"TRUE","beginDate":"not a date",
                "endDate":"2026-13-40"}]}"#,
        )
        .unwrap();
        let e = &page.records[0];
        assert_eq!(e.user.as_deref(), Some("u1"));
        assert_eq!(e.class.as_deref(), Some("5"));
        assert_eq!(e.school, None);
        assert_eq!(e.role, None);
        assert_eq!(e.primary, Some(true));
        assert_eq!(e.begin_date, None);
        assert_eq!(e.end_date, None);
    }

    #[test]
    fn fields_read_the_same_written_with_escapes_nuls_and_spaces() {
        // Strings without an escape are read where they lie in the page, the others after
        // serde_json unescapes them: both ways drop NULs, trim (Unicode spaces too) and
        // parse alike.
        let plain = decode_page::<Enrollment>(
            br#"{"enrollments":[{"sourcedId":"e1","status":"tobedeleted",
                "user":{"href":"/users/u1","sourcedId":"u1","type":"user"},"class":"c1",
                "school":{"sourcedId":"s1"},"role":"teacher","primary":"true",
                "beginDate":"2026-01-05","endDate":"2026-06-30"}]}"#,
        )
        .unwrap();
        let written_otherwise = decode_page::<Enrollment>(
            "{\"enrollments\":[{\"sourcedId\":\"e\\u00001\",\"status\":\" tobe\\u0000Deleted\\t\",
                \"user\":{\"sourcedId\":\" \\u0075\\u00001\"},\"class\":\"c\\u0031\",
                \"school\":{\"sourcedId\":\"s1\u{a0}\"},\"role\":\"\\u0000Teacher \",
                \"primary\":\" TRUE\\u0000\",\"beginDate\":\"\\u00002026-01-05\",
                \"endDate\":\"\u{3000}2026-06-30T08:00:00Z\"}]}"
                .as_bytes(),
        )
        .unwrap();
        assert_eq!(plain.records, written_otherwise.records);
        let e = &plain.records[0];
        assert_eq!(
            (e.sourced_id.as_str(), e.status, e.role.clone(), e.primary),
            ("e1", Status::Deleted, Some(Role::Teacher), Some(true))
        );
        assert_eq!(e.school.as_deref(), Some("s1"));
        assert_eq!(e.begin_date, Some(jiff::civil::date(2026, 1, 5)));
        // A text of spaces, or of NULs, is missing.
        let blank = decode_page::<Enrollment>(
            "[{\"sourcedId\":\"e1\",\"user\":\"\u{a0} \",\"class\":\"\\u0000\",\"role\":\" \"}]"
                .as_bytes(),
        )
        .unwrap();
        let e = &blank.records[0];
        assert_eq!((&e.user, &e.class, &e.role), (&None, &None, &None));
    }

    #[test]
    fn null_envelope_is_an_empty_page() {
        let page = decode_page::<Class>(br#"{"classes":null}"#).unwrap();
        assert_eq!(page.elements, 0);
    }

    #[test]
    fn truncated_body_is_malformed() {
        let err = users(r#"{"users":[{"sourcedId":"u1"},{"sourcedId":"u"#).unwrap_err();
        match err {
            DecodeError::Malformed(reason) => assert!(reason.contains("truncated"), "{reason}"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            users(r#"{"users":[]} trailing"#),
            Err(DecodeError::Malformed(_))
        ));
    }

    #[test]
    fn a_body_that_is_not_utf8_is_malformed_and_says_where() {
        let mut body = br#"{"users":[{"sourcedId":"u1","givenName":"Zo"#.to_vec();
        body.extend_from_slice(&[0xff, 0xfe]);
        body.extend_from_slice(br#""}]}"#);
        match decode_page::<User>(&body) {
            Err(DecodeError::Malformed(reason)) => {
                assert!(reason.contains("line 1 column"), "{reason}");
                // The bytes themselves are not quoted.
                assert!(!reason.contains("Zo"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
        // Valid UTF-8 beyond ASCII is text like any other.
        let page = decode_page::<User>(
            r#"{"users":[{"sourcedId":"u1","givenName":"Zoë 漢字 🎒"}]}"#.as_bytes(),
        )
        .unwrap();
        assert_eq!(page.records[0].given_name(), Some("Zoë 漢字 🎒"));
    }

    #[test]
    fn non_collections_are_not_oneroster() {
        for body in [
            "<!DOCTYPE html><html><body>Sign in</body></html>",
            "<html>",
            r#"{"status":"ok","secretish":"value-not-shown"}"#,
            "\"hello\"",
            "42",
            "null",
            "{}",
        ] {
            match users(body) {
                Err(DecodeError::NotOneRoster(reason)) => {
                    assert!(!reason.contains("value-not-shown"), "{reason}")
                }
                other => panic!("{body}: {other:?}"),
            }
        }
    }

    #[test]
    fn malformed_errors_do_not_quote_the_body() {
        let Err(DecodeError::Malformed(reason)) =
            users(r#"{"users":[{"sourcedId":"u1","email":"jane.doe@school.org" oops}]}"#)
        else {
            panic!("expected malformed");
        };
        assert!(!reason.contains("jane"), "{reason}");
    }

    #[test]
    fn imsx_description_is_found_and_trimmed() {
        let body = br#"{"imsx_codeMajor":"failure","imsx_severity":"error",
            "imsx_description":"  Invalid\n signature  ","imsx_CodeMinor":{}}"#;
        assert_eq!(imsx_description(body).as_deref(), Some("Invalid signature"));
        let nested = br#"{"statusInfoSet":[{"imsx_codeMajor":"failure","imsx_description":"Too many requests"}]}"#;
        assert_eq!(
            imsx_description(nested).as_deref(),
            Some("Too many requests")
        );
        assert_eq!(imsx_description(b"<html>"), None);
    }

    /// A small deterministic generator (xorshift), so the mangling test needs no crate
    /// and every failure is reproducible from its seed.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n.max(1) as u64) as usize
        }
    }

    const PIECES: &[&str] = &[
        "{",
        "}",
        "[",
        "]",
        ",",
        ":",
        "\"",
        "null",
        "true",
        "false",
        "-1e999",
        "0",
        "\"\\u0000\"",
        "\"\\ud800\"",
        "\"sourcedId\"",
        "\"users\"",
        "\"roles\"",
        "\"orgs\"",
        "\"enabledUser\"",
        "\"beginDate\"",
        "\"2026-02-30\"",
        "\"\u{1F600}\"",
        "18446744073709551616",
        " ",
        "\\",
        "\"status\"",
        "\"tobedeleted\"",
        "{\"sourcedId\":1}",
        "[[[[[[[[",
        "]]]]]]]]",
    ];

    fn valid_corpus() -> Vec<String> {
        vec![
            r#"{"users":[{"sourcedId":"u1","status":"active","enabledUser":"true","role":"student","orgs":[{"sourcedId":"s1"}],"grades":["09"],"agents":[{"sourcedId":"p1"}]}]}"#.into(),
            r#"[{"sourcedId":"e1","user":{"sourcedId":"u1"},"class":{"sourcedId":"c1"},"beginDate":"2025-08-01","primary":true}]"#.into(),
            r#"{"classes":[{"sourcedId":"c1","terms":[{"sourcedId":"t1"}],"course":{"sourcedId":"k1"},"school":{"sourcedId":"s1"}}]}"#.into(),
            r#"{"orgs":[{"sourcedId":"s1","type":"school","parent":{"sourcedId":"d1"}}],"statusInfoSet":[]}"#.into(),
            r#"{"academicSessions":[{"sourcedId":"t1","startDate":"2025-08-01","endDate":"2026-06-01","type":"term"}]}"#.into(),
        ]
    }

    fn mangle(rng: &mut Rng, input: &str) -> Vec<u8> {
        let mut bytes = input.as_bytes().to_vec();
        for _ in 0..=rng.below(6) {
            let at = rng.below(bytes.len() + 1);
            match rng.below(5) {
                0 => bytes.truncate(at),
                1 if at < bytes.len() => {
                    bytes.remove(at);
                }
                2 => {
                    let piece = PIECES[rng.below(PIECES.len())].as_bytes();
                    bytes.splice(at..at, piece.iter().copied());
                }
                3 if at < bytes.len() => bytes[at] = (rng.next() & 0xff) as u8,
                _ => {
                    let end = (at + rng.below(20)).min(bytes.len());
                    let copy = bytes[at..end].to_vec();
                    bytes.splice(at..at, copy);
                }
            }
        }
        bytes
    }

    fn decode_all(body: &[u8]) {
        let _ = decode_page::<User>(body);
        let _ = decode_page::<Org>(body);
        let _ = decode_page::<AcademicSession>(body);
        let _ = decode_page::<Course>(body);
        let _ = decode_page::<Class>(body);
        let _ = decode_page::<Enrollment>(body);
        let _ = imsx_description(body);
        let _ = looks_like_html(body);
    }

    /// Random and mangled JSON never panics a decoder: every input gives a page or an
    /// error.
    #[test]
    fn decoders_never_panic_on_mangled_or_random_input() {
        let corpus = valid_corpus();
        for seed in 1..=4_000u64 {
            let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
            let base = &corpus[rng.below(corpus.len())];
            decode_all(&mangle(&mut rng, base));
            // Pure noise and piece soup too.
            let noise: Vec<u8> = (0..rng.below(64)).map(|_| rng.next() as u8).collect();
            decode_all(&noise);
            let soup: String = (0..rng.below(40))
                .map(|_| PIECES[rng.below(PIECES.len())])
                .collect();
            decode_all(soup.as_bytes());
        }
        // Deep nesting ends as a page or an error, never as a stack overflow.
        let open = "[".repeat(100_000);
        let close = "]".repeat(100_000);
        decode_all(format!("{{\"users\":{open}{close}}}").as_bytes());
        decode_all(format!("[{{\"sourcedId\":\"a\",\"orgs\":{open}{close}}}]").as_bytes());
        decode_all(format!("{{\"users\":[{{\"a\":{}}}]}}", "{\"a\":".repeat(50_000)).as_bytes());
    }

    /// Under any limits, random and mangled pages decode to at most the allowed elements
    /// with no field longer than allowed, or are refused; a valid page refused for its
    /// size is refused with `TooLarge`/`TooManyRecords`, never as malformed.
    #[test]
    fn limits_hold_on_random_and_mangled_pages() {
        let corpus = valid_corpus();
        for seed in 1..=3_000u64 {
            let mut rng = Rng(seed.wrapping_mul(0x2545_F491_4F6C_DD1D) | 1);
            let limits = DecodeLimits {
                max_elements: rng.below(4) as u64,
                max_field_bytes: rng.below(12),
                expected_elements: rng.below(4) as u64,
            };
            let base = &corpus[rng.below(corpus.len())];
            // Several elements per page: the valid page's array repeated.
            let wide = base.replacen("[{", &format!("[{}{{", "{},".repeat(rng.below(5))), 1);
            for body in [mangle(&mut rng, &wide), wide.clone().into_bytes()] {
                match decode_page_within::<User>(&body, limits) {
                    Ok(page) => {
                        assert!(page.elements as u64 <= limits.max_elements, "{seed}");
                        for user in &page.records {
                            assert!(user.sourced_id.len() <= limits.max_field_bytes, "{seed}");
                        }
                    }
                    Err(DecodeError::TooManyRecords { limit }) => {
                        assert_eq!(limit, limits.max_elements)
                    }
                    Err(_) => {}
                }
            }
            // A valid page with room for everything decodes as it does without limits.
            let roomy = DecodeLimits {
                max_elements: 100,
                max_field_bytes: 1024,
                expected_elements: 0,
            };
            let within =
                decode_page_within::<Enrollment>(wide.as_bytes(), roomy).map(|p| p.elements);
            let without = decode_page::<Enrollment>(wide.as_bytes()).map(|p| p.elements);
            assert_eq!(within, without, "{seed}");
        }
    }

    /// Enrollments' pages in the plain shape, mangled: whatever the scanner made for that
    /// shape takes, serde's walk takes too and reads into the same records; what it leaves,
    /// serde decides.
    #[test]
    fn the_plain_scanner_takes_only_what_serde_reads_the_same() {
        let plain = [
            r#"{"enrollments":[{"sourcedId":"e1","status":"active","dateLastModified":"2025-03-14T08:50:29.000Z","user":{"href":"https://x/users/u1","sourcedId":"u1","type":"user"},"class":{"href":"https://x/classes/c1","sourcedId":"c1","type":"class"},"school":{"href":"https://x/orgs/s1","sourcedId":"s1","type":"org"},"role":"teacher","primary":"true","beginDate":"2025-10-02","endDate":"2026-10-02"},{"sourcedId":"e2","status":"tobedeleted","user":"u2","class":{"sourcedId":"c1"},"role":"student","primary":false,"endDate":null,"metadata":{"note":"a \"b\" \/ c","tags":[true,null,{}]}}]}"#,
            r#"{ "enrollments" : [ { "sourcedId" : " e3 " , "user" : { "sourcedId" : "u3" } } ] }"#,
        ];
        let mut taken = 0;
        for seed in 1..=4_000u64 {
            let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
            let base = plain[rng.below(plain.len())];
            let body = mangle(&mut rng, base);
            let Ok(text) = std::str::from_utf8(&body) else {
                continue;
            };
            let Some(page) = Enrollment::decode_plain(text, DecodeLimits::DEFAULT) else {
                continue;
            };
            let walked = decode_page_serde::<Enrollment>(&body, Some(text), DecodeLimits::DEFAULT)
                .unwrap_or_else(|e| {
                    panic!("seed {seed}: serde refused what the scanner took: {e:?}")
                });
            assert_eq!(page.records, walked.records, "seed {seed}");
            assert_eq!(
                (page.elements, page.skipped),
                (walked.elements, walked.skipped),
                "seed {seed}"
            );
            taken += 1;
        }
        // Mangling leaves a good share of pages plain (a changed letter, spacing).
        assert!(taken > 200, "{taken}");
        for body in plain {
            assert!(Enrollment::decode_plain(body, DecodeLimits::DEFAULT).is_some());
        }
    }

    #[test]
    fn decode_page_as_picks_the_record_type_of_the_collection() {
        let users = br#"{"users":[{"sourcedId":"u1"},{"sourcedId":"u2"},3]}"#;
        assert_eq!(decode_page_as(Collection::Users, users), Ok(3));
        // Schools answer in an `orgs` envelope, not `users`.
        assert!(decode_page_as(Collection::Schools, users).is_err());
        assert_eq!(
            decode_page_as(Collection::Schools, br#"{"orgs":[{"sourcedId":"s1"}]}"#),
            Ok(1)
        );
        assert!(decode_page_as(Collection::Enrollments, b"{\"enrollments\":[").is_err());
    }

    #[test]
    fn a_long_field_is_too_large_and_the_limit_is_per_page() {
        let body = format!(
            r#"{{"users":[{{"sourcedId":"u1","givenName":"{}"}}]}}"#,
            "y".repeat(70_000)
        );
        let error = decode_page::<User>(body.as_bytes()).err();
        assert_eq!(
            error,
            Some(DecodeError::TooLarge(
                "a text field of 70000 bytes is longer than the limit of 65536 bytes".into()
            ))
        );
        // The thread's limit is restored: the next page of this thread has its own.
        let roomy = DecodeLimits {
            max_elements: 10,
            max_field_bytes: 100_000,
            expected_elements: 0,
        };
        assert_eq!(
            decode_page_within::<User>(body.as_bytes(), roomy).map(|p| p.records.len()),
            Ok(1)
        );
        // An escaped string counts as decoded, a reference too.
        let escaped = format!(
            r#"[{{"sourcedId":"u1","orgs":["{}"]}}]"#,
            "\\u0041".repeat(20)
        );
        let small = DecodeLimits {
            max_elements: 10,
            max_field_bytes: 19,
            expected_elements: 10,
        };
        assert!(matches!(
            decode_page_within::<User>(escaped.as_bytes(), small),
            Err(DecodeError::TooLarge(_))
        ));
    }

    /// Valid pages survive every mangling that keeps them valid JSON of the right shape:
    /// an element whose fields are replaced by junk still decodes or is skipped.
    #[test]
    fn junk_field_values_never_fail_a_page() {
        let junk = [
            "null",
            "1",
            "-2.5",
            "true",
            "\"\"",
            "\"x\"",
            "[]",
            "[1,\"a\",{}]",
            "{}",
            "{\"sourcedId\":null}",
            "{\"a\":[{}]}",
        ];
        let fields = [
            "sourcedId",
            "status",
            "enabledUser",
            "role",
            "roles",
            "email",
            "orgs",
            "agents",
            "grades",
            "user",
            "class",
            "school",
            "terms",
            "course",
            "beginDate",
            "primary",
            "parent",
            "type",
            "startDate",
            "schoolYear",
        ];
        for field in fields {
            for value in junk {
                let body = format!("[{{\"sourcedId\":\"r1\",\"{field}\":{value}}}]");
                let body = if field == "sourcedId" {
                    format!("[{{\"{field}\":{value}}}]")
                } else {
                    body
                };
                for result in [
                    decode_page::<User>(body.as_bytes()).map(|p| p.elements),
                    decode_page::<Enrollment>(body.as_bytes()).map(|p| p.elements),
                    decode_page::<Class>(body.as_bytes()).map(|p| p.elements),
                    decode_page::<AcademicSession>(body.as_bytes()).map(|p| p.elements),
                    decode_page::<Org>(body.as_bytes()).map(|p| p.elements),
                ] {
                    assert_eq!(result, Ok(1), "{body}");
                }
            }
        }
    }
}
