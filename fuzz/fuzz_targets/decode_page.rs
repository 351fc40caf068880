//! The page decoder on arbitrary bytes: every input gives a page or an error, never a
//! panic, an abort or a stack overflow. The first byte picks the collection, so one
//! corpus covers every record type; the rest is the page body.

#![no_main]

use classlink_operator::oneroster::{Collection, decode_page_as};
use libfuzzer_sys::fuzz_target;

const COLLECTIONS: [Collection; 7] = [
    Collection::Orgs,
    Collection::Schools,
    Collection::AcademicSessions,
    Collection::Courses,
    Collection::Classes,
    Collection::Users,
    Collection::Enrollments,
];

fuzz_target!(|data: &[u8]| {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    let collection = COLLECTIONS[usize::from(pick) % COLLECTIONS.len()];
    if let Ok(elements) = decode_page_as(collection, body) {
        // A page never holds more elements than its body has bytes.
        assert!(elements <= body.len());
    }
});
