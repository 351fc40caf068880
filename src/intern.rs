//! One shared copy of each distinct text. A district's million enrollments and memberships
//! name the same hundred thousand users and tens of thousands of classes over and over; the
//! fetched roster, the wanted rows and the stored snapshot keep one [`Text`] per sourcedId.

use std::borrow::Borrow;
use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

use foldhash::HashSet;

/// A shared, immutable text behind one thin pointer: 8 bytes where an `Arc<str>` takes 16
/// (pointer and length). A membership row holds four of them.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Text(Arc<Box<str>>);

/// By the text; one shared copy is equal to itself without reading it (sorting a million
/// memberships compares the same class's copy again and again).
impl Ord for Text {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        if Arc::ptr_eq(&self.0, &other.0) {
            return std::cmp::Ordering::Equal;
        }
        self.as_str().cmp(other.as_str())
    }
}

impl PartialOrd for Text {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Text {
    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Deref for Text {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for Text {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Text {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl From<&str> for Text {
    fn from(text: &str) -> Self {
        Text(Arc::new(text.into()))
    }
}

impl From<String> for Text {
    fn from(text: String) -> Self {
        Text(Arc::new(text.into_boxed_str()))
    }
}

impl fmt::Debug for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self)
    }
}

/// The shared copies seen so far.
#[derive(Debug, Default)]
pub struct Interner(HashSet<Text>);

impl Interner {
    /// The shared copy of `text`, made on first sight.
    pub fn get(&mut self, text: &str) -> Text {
        if let Some(shared) = self.0.get(text) {
            return shared.clone();
        }
        let shared = Text::from(text);
        self.0.insert(shared.clone());
        shared
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_text_is_one_pointer_and_equal_texts_share_one_copy() {
        assert_eq!(std::mem::size_of::<Text>(), std::mem::size_of::<usize>());
        let mut shared = Interner::default();
        let a = shared.get("class-1");
        let b = shared.get(&String::from("class-1"));
        assert!(Arc::ptr_eq(&a.0, &b.0));
        assert_eq!(&*a, "class-1");
        assert!(a < shared.get("class-2"));
    }
}
