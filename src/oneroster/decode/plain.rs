//! The enrollments' pages in the plain shape servers write: decoded by a scanner made for
//! that shape, 1.3–1.5× as fast as serde's walk on a page of 10,000. Decoding them was the
//! largest part of the operator's CPU while a district's roster is read (a million
//! enrollments, four fifths of the roster's bytes), CPU the Roster Server's answers wait
//! for wherever the two share cores (docs/benchmarks.md, the fifteenth round).
//!
//! The plain shape: `{"enrollments":[...]}` whose elements are objects; keys without
//! escapes, each of the record's fields at most once; the fields the record keeps are
//! strings, `null` or booleans, references are objects or strings; strings the record
//! keeps hold no escape. Other keys' values may be anything but numbers (strings with
//! simple escapes, nested at most [`MAX_SKIPPED_DEPTH`] deep). Whatever is not in that
//! shape, or breaks a limit, makes the scanner give up (`None`), and the page is decoded
//! by serde as before: serde alone decides what a page that is not plain comes to, errors
//! included. A page the scanner accepts is valid JSON that serde reads into the same
//! records (the tests compare the two on every shape they make).
//!
//! Each field is read by the same [`FieldValue`] conversion as serde's walk uses, so the
//! two agree on what a value means.

use super::{DecodeLimits, Field, FieldValue, Page, RawEnrollment, Record, Ref, read_text};
use crate::oneroster::records::Enrollment;

/// How deep a value of a key the record does not read may nest (serde_json refuses more
/// than 128 levels; everything accepted here stays far below).
const MAX_SKIPPED_DEPTH: u32 = 32;

/// The page's records, or `None` when `body` is not a plain page of enrollments or breaks
/// one of `limits`.
pub(super) fn enrollments(body: &str, limits: DecodeLimits) -> Option<Page<Enrollment>> {
    let mut scan = Scanner {
        text: body,
        at: 0,
        max_field_bytes: limits.max_field_bytes,
    };
    scan.whitespace();
    scan.byte(b'{')?;
    scan.whitespace();
    if scan.key()? != "enrollments" {
        return None;
    }
    scan.colon()?;
    scan.byte(b'[')?;
    let room = limits.expected_elements.min(limits.max_elements);
    let mut page = Page {
        records: Vec::with_capacity(usize::try_from(room).unwrap_or(0)),
        skipped: 0,
        elements: 0,
    };
    scan.items(b']', |scan| {
        if page.elements as u64 >= limits.max_elements {
            return None;
        }
        page.elements += 1;
        match Enrollment::from_raw(scan.enrollment()?) {
            Some(record) => page.records.push(record),
            None => page.skipped += 1,
        }
        Some(())
    })?;
    scan.whitespace();
    scan.byte(b'}')?;
    scan.whitespace();
    (scan.at == body.len()).then_some(page)
}

/// Panics unless serde's walk reads `body` into the same page as the scanner did. The
/// message names the first record that differs, never what the page holds.
#[cfg(debug_assertions)]
pub(super) fn assert_serde_reads_the_same(
    page: &Page<Enrollment>,
    body: &str,
    limits: DecodeLimits,
) {
    let walked = match super::decode_page_serde::<Enrollment>(body.as_bytes(), Some(body), limits) {
        Ok(walked) => walked,
        Err(e) => panic!(
            "the plain scanner read a page of {} elements that serde's walk refuses: {e:?}",
            page.elements
        ),
    };
    assert_eq!(
        (page.elements, page.skipped),
        (walked.elements, walked.skipped),
        "the plain scanner and serde's walk count a page's elements differently"
    );
    if let Some(at) = (0..page.records.len()).find(|&i| page.records[i] != walked.records[i]) {
        panic!("the plain scanner and serde's walk read record {at} of a page differently");
    }
}

/// A value of a field the record keeps, as the scanner reads it.
enum Value<'a> {
    /// A string without escapes.
    Text(&'a str),
    Bool(bool),
    Null,
}

impl Value<'_> {
    /// What the value comes to, as serde's walk reads it (`Field`'s visitor).
    fn field<T: FieldValue>(self) -> Field<T> {
        Field(match self {
            Value::Text(text) => read_text(text, false, T::from_text),
            Value::Bool(value) => T::from_bool(value),
            Value::Null => T::from_nothing(),
        })
    }
}

struct Scanner<'a> {
    text: &'a str,
    at: usize,
    max_field_bytes: usize,
}

impl<'a> Scanner<'a> {
    fn bytes(&self) -> &'a [u8] {
        self.text.as_bytes()
    }

    fn peek(&self) -> Option<u8> {
        self.bytes().get(self.at).copied()
    }

    /// Skips JSON's whitespace.
    fn whitespace(&mut self) {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.peek() {
            self.at += 1;
        }
    }

    /// Takes `byte` if it comes next.
    fn eat(&mut self, byte: u8) -> bool {
        let next = self.peek() == Some(byte);
        self.at += usize::from(next);
        next
    }

    /// Takes `byte`, which must come next.
    fn byte(&mut self, byte: u8) -> Option<()> {
        self.eat(byte).then_some(())
    }

    /// `:` between whitespace.
    fn colon(&mut self) -> Option<()> {
        self.whitespace();
        self.byte(b':')?;
        self.whitespace();
        Some(())
    }

    /// The elements of an array or the members of an object, after its opening bracket:
    /// each read by `item`, separated by `,`, up to `close`.
    fn items(&mut self, close: u8, mut item: impl FnMut(&mut Self) -> Option<()>) -> Option<()> {
        self.whitespace();
        if self.eat(close) {
            return Some(());
        }
        loop {
            item(self)?;
            self.whitespace();
            if !self.eat(b',') {
                return self.byte(close);
            }
            self.whitespace();
        }
    }

    /// A string without escapes, from its opening quote; its text.
    fn plain_string(&mut self) -> Option<&'a str> {
        self.byte(b'"')?;
        let start = self.at;
        let end = special_byte(self.bytes(), start)?;
        if self.bytes()[end] != b'"' {
            return None;
        }
        self.at = end + 1;
        // The quotes are ASCII, so both ends are character boundaries.
        self.text.get(start..end)
    }

    /// A member's key.
    fn key(&mut self) -> Option<&'a str> {
        self.plain_string()
    }

    /// `true`, `false` or `null`.
    fn literal(&mut self) -> Option<Value<'a>> {
        let rest = &self.bytes()[self.at..];
        let (value, len) = if rest.starts_with(b"true") {
            (Value::Bool(true), 4)
        } else if rest.starts_with(b"false") {
            (Value::Bool(false), 5)
        } else if rest.starts_with(b"null") {
            (Value::Null, 4)
        } else {
            return None;
        };
        self.at += len;
        Some(value)
    }

    /// A value a field keeps: a string within the field limit, a boolean or `null`.
    fn value(&mut self) -> Option<Value<'a>> {
        if self.peek() == Some(b'"') {
            let text = self.plain_string()?;
            // Longer than the limit: serde's walk names the error.
            if text.len() > self.max_field_bytes {
                return None;
            }
            return Some(Value::Text(text));
        }
        self.literal()
    }

    /// A reference: an object whose `sourcedId` is kept, a bare id, or nothing.
    fn reference(&mut self) -> Option<Ref> {
        if !self.eat(b'{') {
            return Some(match self.value()? {
                Value::Text(text) => Ref(read_text(text, false, Option::<String>::from_text)),
                Value::Bool(_) | Value::Null => Ref(None),
            });
        }
        let mut sourced_id: Option<Field<Option<String>>> = None;
        self.items(b'}', |scan| {
            let key = scan.key()?;
            scan.colon()?;
            if key != "sourcedId" {
                return scan.skip(0);
            }
            // Twice is an error to serde.
            if sourced_id.is_some() {
                return None;
            }
            sourced_id = Some(scan.value()?.field());
            Some(())
        })?;
        Some(Ref(sourced_id.and_then(|id| id.0)))
    }

    /// One element: an enrollment object.
    fn enrollment(&mut self) -> Option<RawEnrollment> {
        self.byte(b'{')?;
        let mut raw = RawEnrollment::default();
        // The fields read so far, one bit each: a field twice is an error to serde.
        let mut seen = 0u16;
        let mut first = |bit: u16| {
            let again = seen & bit != 0;
            seen |= bit;
            (!again).then_some(())
        };
        self.items(b'}', |scan| {
            let key = scan.key()?;
            scan.colon()?;
            match key {
                "sourcedId" => {
                    first(1)?;
                    raw.sourced_id = scan.value()?.field();
                }
                "status" => {
                    first(1 << 1)?;
                    raw.status = scan.value()?.field();
                }
                "user" => {
                    first(1 << 2)?;
                    raw.user = scan.reference()?;
                }
                "class" => {
                    first(1 << 3)?;
                    raw.class = scan.reference()?;
                }
                "school" => {
                    first(1 << 4)?;
                    raw.school = scan.reference()?;
                }
                "role" => {
                    first(1 << 5)?;
                    raw.role = scan.value()?.field();
                }
                "primary" => {
                    first(1 << 6)?;
                    raw.primary = scan.value()?.field();
                }
                "beginDate" => {
                    first(1 << 7)?;
                    raw.begin_date = scan.value()?.field();
                }
                "endDate" => {
                    first(1 << 8)?;
                    raw.end_date = scan.value()?.field();
                }
                _ => scan.skip(0)?,
            }
            Some(())
        })?;
        Some(raw)
    }

    /// Skips a value no field keeps: strings (simple escapes allowed), literals, arrays
    /// and objects; not numbers, nor `\u` escapes, nor more than [`MAX_SKIPPED_DEPTH`]
    /// levels.
    fn skip(&mut self, depth: u32) -> Option<()> {
        match self.peek()? {
            b'"' => self.skip_string(),
            b'[' | b'{' if depth >= MAX_SKIPPED_DEPTH => None,
            b'[' => {
                self.at += 1;
                self.items(b']', |scan| scan.skip(depth + 1))
            }
            b'{' => {
                self.at += 1;
                self.items(b'}', |scan| {
                    scan.skip_string()?;
                    scan.colon()?;
                    scan.skip(depth + 1)
                })
            }
            _ => self.literal().map(|_| ()),
        }
    }

    /// Skips a string whose escapes are single characters (`\"`, `\/`, `\n`, ...).
    fn skip_string(&mut self) -> Option<()> {
        self.byte(b'"')?;
        loop {
            let at = special_byte(self.bytes(), self.at)?;
            self.at = at + 1;
            match self.bytes()[at] {
                b'"' => return Some(()),
                b'\\' => match self.peek()? {
                    b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => self.at += 1,
                    _ => return None,
                },
                // A control character.
                _ => return None,
            }
        }
    }
}

/// Where the first `"`, `\\` or control character (which JSON does not allow unescaped in a
/// string) is in `bytes` from `from` on: eight bytes at a time, as serde_json looks for them.
fn special_byte(bytes: &[u8], from: usize) -> Option<usize> {
    const ONES: u64 = u64::from_ne_bytes([1; 8]);
    const HIGH: u64 = u64::from_ne_bytes([0x80; 8]);
    // The high bit of each byte below `n` (n <= 128), and maybe of bytes after the first
    // such byte, which is all that is looked at.
    let below = |word: u64, n: u8| word.wrapping_sub(ONES * u64::from(n)) & !word & HIGH;
    let mut at = from;
    while let Some(chunk) = bytes.get(at..at + 8) {
        let word = u64::from_le_bytes(chunk.try_into().expect("eight bytes"));
        let found = below(word ^ (ONES * u64::from(b'"')), 1)
            | below(word ^ (ONES * u64::from(b'\\')), 1)
            | below(word, 0x20);
        if found != 0 {
            return Some(at + (found.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    bytes[at.min(bytes.len())..]
        .iter()
        .position(|&b| b == b'"' || b == b'\\' || b < 0x20)
        .map(|i| at + i)
}

#[cfg(test)]
mod tests {
    use super::super::{DecodeError, decode_page_serde};
    use super::*;

    const LIMITS: DecodeLimits = DecodeLimits::DEFAULT;

    fn serde(body: &str, limits: DecodeLimits) -> Result<Page<Enrollment>, DecodeError> {
        decode_page_serde::<Enrollment>(body.as_bytes(), Some(body), limits)
    }

    fn both(
        body: &str,
    ) -> (
        Option<Page<Enrollment>>,
        Result<Page<Enrollment>, DecodeError>,
    ) {
        (enrollments(body, LIMITS), serde(body, LIMITS))
    }

    /// The scanner takes `body`, and serde reads the same records from it.
    #[track_caller]
    fn agree(body: &str) -> Page<Enrollment> {
        let (plain, serde) = both(body);
        let plain = plain.unwrap_or_else(|| panic!("the scanner gave up on {body}"));
        let serde = serde.unwrap_or_else(|e| panic!("serde refused {body}: {e:?}"));
        assert_eq!(plain.records, serde.records, "{body}");
        assert_eq!(
            (plain.elements, plain.skipped),
            (serde.elements, serde.skipped),
            "{body}"
        );
        plain
    }

    /// The scanner gives up on `body` (serde decides what it is).
    #[track_caller]
    fn gives_up(body: &str) {
        assert!(
            enrollments(body, LIMITS).is_none(),
            "the scanner took {body}"
        );
    }

    const SIMULATOR: &str = r#"{"enrollments":[{"sourcedId":"enr-00000000","status":"active","dateLastModified":"2025-03-14T08:50:29.000Z","user":{"href":"http://127.0.0.1:18555/ims/oneroster/v1p1/users/usr-0000000","sourcedId":"usr-0000000","type":"user"},"class":{"href":"http://127.0.0.1:18555/ims/oneroster/v1p1/classes/cls-0000000","sourcedId":"cls-0000000","type":"class"},"school":{"href":"http://127.0.0.1:18555/ims/oneroster/v1p1/orgs/org-00001","sourcedId":"org-00001","type":"org"},"role":"teacher","primary":"true","beginDate":"2025-10-02","endDate":"2026-10-02"},{"sourcedId":"enr-00000001","status":"tobedeleted","user":{"sourcedId":"usr-0000001"},"class":{"sourcedId":"cls-0000001"},"school":{"sourcedId":"org-00001"},"role":"student","primary":false,"beginDate":"2025-10-02T00:00:00Z","endDate":null}]}"#;

    #[test]
    fn reads_a_simulator_page_as_serde_does() {
        let page = agree(SIMULATOR);
        assert_eq!(page.records.len(), 2);
        let first = &page.records[0];
        assert_eq!(first.sourced_id, "enr-00000000");
        assert_eq!(first.user.as_deref(), Some("usr-0000000"));
        assert_eq!(first.class.as_deref(), Some("cls-0000000"));
        assert_eq!(first.school.as_deref(), Some("org-00001"));
        assert_eq!(first.primary, Some(true));
        assert_eq!(first.begin_date, Some(jiff::civil::date(2025, 10, 2)));
    }

    /// Every field the record keeps, in each form the scanner reads, and elements it
    /// counts as skipped: the scanner and serde agree.
    #[test]
    fn agrees_with_serde_on_every_form_it_reads() {
        let values = [
            r#""x""#,
            r#"" padded ""#,
            r#""   ""#,
            r#""""#,
            r#""TRUE""#,
            r#""False""#,
            r#""inactive""#,
            r#""Teacher""#,
            r#""2026-02-30""#,
            r#""2026-01-05 08:00""#,
            r#""2026-01-05x""#,
            "true",
            "false",
            "null",
            r#""ünïcödé""#,
        ];
        for value in values {
            agree(&format!(r#"{{"enrollments":[{{"sourcedId":{value}}}]}}"#));
        }
        for field in ["status", "role", "primary", "beginDate", "endDate"] {
            for value in values {
                agree(&format!(
                    r#"{{"enrollments":[{{"sourcedId":"e1","{field}":{value}}}]}}"#
                ));
            }
        }
        for field in ["user", "class", "school"] {
            for value in values {
                agree(&format!(
                    r#"{{"enrollments":[{{"sourcedId":"e1","{field}":{value}}}]}}"#
                ));
                agree(&format!(
                    r#"{{"enrollments":[{{"sourcedId":"e1","{field}":{{"href":"h","sourcedId":{value},"type":"t"}}}}]}}"#
                ));
            }
            agree(&format!(
                r#"{{"enrollments":[{{"sourcedId":"e1","{field}":{{}}}}]}}"#
            ));
        }
        // No sourcedId: counted, not kept.
        let page = agree(
            r#"{"enrollments":[{},{"sourcedId":"  "},{"sourcedId":null},{"sourcedId":"e"}]}"#,
        );
        assert_eq!((page.elements, page.skipped), (4, 3));
        agree(r#"{"enrollments":[]}"#);
        agree(
            " \n\t{ \"enrollments\" : [ { \"sourcedId\" : \"e\" , \"role\" : \"aide\" } ] } \r\n",
        );
    }

    /// Values of keys the record does not read are skipped, however they nest.
    #[test]
    fn skips_what_the_record_does_not_read() {
        for value in [
            r#""a \"quoted\" \/ \\ \b\f\n\r\t word""#,
            r#"{"a":[true,false,null,{"b":{}},[]],"c":"d"}"#,
            "[]",
            "{}",
            "[[[[]]]]",
        ] {
            agree(&format!(
                r#"{{"enrollments":[{{"metadata":{value},"sourcedId":"e","user":{{"extra":{value},"sourcedId":"u"}}}}]}}"#
            ));
        }
    }

    /// What the scanner does not read, serde decides.
    #[test]
    fn gives_up_on_what_it_does_not_read() {
        for body in [
            // Other envelopes, shapes and keys around the records.
            r#"{"enrollment":[]}"#,
            r#"[{"sourcedId":"e"}]"#,
            r#"{"enrollments":null}"#,
            r#"{"enrollments":[],"next":"x"}"#,
            r#"{"x":1,"enrollments":[]}"#,
            // Elements that are not objects.
            r#"{"enrollments":["e"]}"#,
            r#"{"enrollments":[1]}"#,
            // Escapes where the record keeps the text, and in keys.
            r#"{"enrollments":[{"sourcedId":"e\u0031"}]}"#,
            r#"{"enrollments":[{"sourcedId":"e\"1"}]}"#,
            r#"{"enrollments":[{"source\u0064Id":"e"}]}"#,
            r#"{"enrollments":[{"sourcedId":"e","user":{"sourcedId":"u\/1"}}]}"#,
            // Numbers anywhere, `\u` escapes in skipped strings.
            r#"{"enrollments":[{"sourcedId":7}]}"#,
            r#"{"enrollments":[{"sourcedId":"e","user":7}]}"#,
            r#"{"enrollments":[{"sourcedId":"e","n":7}]}"#,
            r#"{"enrollments":[{"sourcedId":"e","n":"\u00e9"}]}"#,
            // Lists and objects where a text is kept.
            r#"{"enrollments":[{"sourcedId":"e","role":["teacher"]}]}"#,
            r#"{"enrollments":[{"sourcedId":"e","user":[]}]}"#,
            // Fields twice.
            r#"{"enrollments":[{"sourcedId":"e","sourcedId":"f"}]}"#,
            r#"{"enrollments":[{"sourcedId":"e","role":"a","role":"b"}]}"#,
            r#"{"enrollments":[{"sourcedId":"e","user":{"sourcedId":"u","sourcedId":"v"}}]}"#,
        ] {
            gives_up(body);
        }
    }

    /// Invalid JSON is never taken: serde names the error.
    #[test]
    fn never_takes_invalid_json() {
        for body in [
            "",
            "{",
            r#"{"enrollments":["#,
            r#"{"enrollments":[{"sourcedId":"e"}"#,
            r#"{"enrollments":[{"sourcedId":"e"}]"#,
            r#"{"enrollments":[{"sourcedId":"e"},]}"#,
            r#"{"enrollments":[{"sourcedId":"e",}]}"#,
            r#"{"enrollments":[{"sourcedId" "e"}]}"#,
            r#"{"enrollments":[{"sourcedId":"e"}]}x"#,
            r#"{"enrollments":[{"sourcedId":"e"}]}{}"#,
            r#"{"enrollments":[{"sourcedId":"e","primary":tru}]}"#,
            r#"{"enrollments":[{"sourcedId":"e","primary":truex}]}"#,
            r#"{"enrollments":[{"sourcedId":"e","x":[1 2]}]}"#,
            r#"{"enrollments":[{"sourcedId":"e","x":"\q"}]}"#,
            r#"{"enrollments":[{"sourcedId":"e","x":{"a"}}]}"#,
            r#"{"enrollments":[{"sourcedId":"e","x":{a:1}}]}"#,
            "{\"enrollments\":[{\"sourcedId\":\"e\tf\"}]}",
            "{\"enrollments\":[{\"sourcedId\":\"e\",\"x\":\"a\nb\"}]}",
            "{\"enrollments\":[{\"sourcedId\":\"e\"}]}\u{0}",
        ] {
            let (plain, serde) = both(body);
            assert!(serde.is_err(), "serde took {body:?}");
            assert!(plain.is_none(), "the scanner took {body:?}");
        }
    }

    /// Deep nesting is left to serde, which refuses it.
    #[test]
    fn gives_up_on_deep_nesting() {
        let deep = |levels: usize| {
            format!(
                r#"{{"enrollments":[{{"sourcedId":"e","x":{}{}}}]}}"#,
                "[".repeat(levels),
                "]".repeat(levels)
            )
        };
        agree(&deep(MAX_SKIPPED_DEPTH as usize));
        gives_up(&deep(MAX_SKIPPED_DEPTH as usize + 1));
        gives_up(&deep(10_000));
    }

    /// A page beyond a limit is left to serde, which names the limit.
    #[test]
    fn gives_up_beyond_the_limits() {
        let body = r#"{"enrollments":[{"sourcedId":"e1"},{"sourcedId":"e2"}]}"#;
        let within = |max_elements: u64, max_field_bytes: usize| DecodeLimits {
            max_elements,
            max_field_bytes,
            ..LIMITS
        };
        let roomy = LIMITS.max_field_bytes;
        assert!(enrollments(body, within(2, roomy)).is_some());
        assert!(enrollments(body, within(1, roomy)).is_none());
        assert_eq!(
            serde(body, within(1, roomy)).err(),
            Some(DecodeError::TooManyRecords { limit: 1 })
        );
        assert!(enrollments(body, within(2, 2)).is_some());
        assert!(enrollments(body, within(2, 1)).is_none());
        assert!(matches!(
            serde(body, within(2, 1)),
            Err(DecodeError::TooLarge(_))
        ));
    }

    /// Every prefix of a page, and the page with each byte changed: the scanner takes only
    /// what serde takes, and reads it as serde does.
    #[test]
    fn takes_only_what_serde_takes_under_mutation() {
        let body = r#"{"enrollments":[{"sourcedId":"e1","status":"active","user":{"href":"h\/u","sourcedId":"u1","type":"user"},"class":"c1","school":{"sourcedId":"s1"},"role":"student","primary":false,"beginDate":"2025-09-01","endDate":null,"metadata":{"a":[true,{}]}}]}"#;
        let mut checked = 0;
        let mut check = |candidate: &[u8]| {
            let Ok(text) = std::str::from_utf8(candidate) else {
                return;
            };
            let (plain, serde) = both(text);
            if let Some(plain) = plain {
                let serde = serde.unwrap_or_else(|e| panic!("serde refused {text:?}: {e:?}"));
                assert_eq!(plain.records, serde.records, "{text:?}");
                assert_eq!(plain.elements, serde.elements, "{text:?}");
                assert_eq!(plain.skipped, serde.skipped, "{text:?}");
                checked += 1;
            }
        };
        let bytes = body.as_bytes();
        for end in 0..=bytes.len() {
            check(&bytes[..end]);
        }
        let replacements = b" \t\n\"\\/{}[],:0-.eEtfnu\x01aZ";
        for at in 0..bytes.len() {
            for &replacement in replacements {
                let mut changed = bytes.to_vec();
                changed[at] = replacement;
                check(&changed);
            }
            let mut removed = bytes.to_vec();
            removed.remove(at);
            check(&removed);
        }
        // Many changes leave a page the scanner reads (a letter in a text, spacing).
        assert!(checked > 1000, "{checked}");
    }

    /// Decodes the page in `CLASSLINK_PAGE` (an enrollments page saved from a server) both
    /// ways and prints the time each took (`cargo test --release -- --ignored`).
    #[test]
    #[ignore = "a measurement, run by hand"]
    fn time_against_serde() {
        let path = std::env::var("CLASSLINK_PAGE").expect("CLASSLINK_PAGE names a page");
        let body = std::fs::read_to_string(path).expect("the page");
        let limits = DecodeLimits {
            expected_elements: 10_000,
            ..LIMITS
        };
        for round in 0..3 {
            let clock = std::time::Instant::now();
            let plain = enrollments(&body, limits).expect("a plain page");
            let plain_took = clock.elapsed();
            let clock = std::time::Instant::now();
            let serde = serde(&body, limits).expect("a page");
            let serde_took = clock.elapsed();
            assert_eq!(plain.records, serde.records);
            println!(
                "round {round}: {} records, scanner {plain_took:?}, serde {serde_took:?}, {:.2}x",
                plain.records.len(),
                serde_took.as_secs_f64() / plain_took.as_secs_f64()
            );
        }
    }
}
