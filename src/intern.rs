//! One shared copy of each distinct text. A district's million enrollments and memberships
//! name the same hundred thousand users and tens of thousands of classes over and over; the
//! fetched roster, the wanted rows and the stored snapshot keep one `Arc<str>` per sourcedId.

use std::sync::Arc;

use foldhash::HashSet;

/// The shared copies seen so far.
#[derive(Debug, Default)]
pub struct Interner(HashSet<Arc<str>>);

impl Interner {
    /// The shared copy of `text`, made on first sight.
    pub fn get(&mut self, text: &str) -> Arc<str> {
        if let Some(shared) = self.0.get(text) {
            return shared.clone();
        }
        let shared: Arc<str> = Arc::from(text);
        self.0.insert(shared.clone());
        shared
    }

    /// Replaces `text` with the shared copy of its content; the first copy seen becomes the
    /// shared one, so nothing is allocated.
    pub fn share(&mut self, text: &mut Arc<str>) {
        match self.0.get(&**text) {
            Some(shared) => *text = shared.clone(),
            None => {
                self.0.insert(text.clone());
            }
        }
    }
}
