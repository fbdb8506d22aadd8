//! What goes into a partition: entries (namespace, key, value) and, for the CSV's sake,
//! namespace declarations that may come before their first entry.

use crate::{Key, Value};

/// One key-value pair in a namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub namespace: Key,
    pub key: Key,
    pub value: Value,
}

impl Entry {
    pub fn new(namespace: Key, key: Key, value: Value) -> Self {
        Self { namespace, key, value }
    }
}

/// One step of the generator, in order.
///
/// A namespace's entry is written when it is first declared or first used, whichever
/// comes first; declaring a namespace that is already written changes nothing. The
/// official generator's CSV writes a namespace row at once, even with no entries after it,
/// which [`Item::Namespace`] reproduces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    Namespace(Key),
    Entry(Entry),
}

impl From<Entry> for Item {
    fn from(entry: Entry) -> Self {
        Item::Entry(entry)
    }
}
