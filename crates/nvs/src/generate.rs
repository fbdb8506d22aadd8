//! Turns entries into the bytes of an NVS partition image.

use std::collections::{HashMap, HashSet};

use crate::format::{item_type, MAX_BLOB_LEN, MAX_NAMESPACES, MAX_STRING_LEN, NAMESPACE_OF_NAMESPACES};
use crate::layout::{Header, Layout, LayoutError};
use crate::size::{smallest_size_for, Geometry};
use crate::{Entry, Item, Key, NvsError, Value};

/// The partition image for `entries` (written in order, each namespace's entry before its
/// first key) in a partition of `size` bytes: the bytes esp-idf-nvs-partition-gen's
/// `generate` writes for the same entries (format version 2, no encryption).
///
/// The image is `size` bytes long, except for read-only NVS (partitions under 0x3000
/// bytes), where it ends after the last used page as the official generator's does.
pub fn generate(entries: &[Entry], size: usize) -> Result<Vec<u8>, NvsError> {
    let items: Vec<Step> = entries.iter().map(Step::Entry).collect();
    build(&items, size)
}

/// Like [`generate`] with namespace declarations of their own, as a CSV has them: a
/// namespace is written where it is first declared or used.
pub fn generate_items(items: &[Item], size: usize) -> Result<Vec<u8>, NvsError> {
    let steps: Vec<Step> = items
        .iter()
        .map(|item| match item {
            Item::Namespace(name) => Step::Namespace(name),
            Item::Entry(entry) => Step::Entry(entry),
        })
        .collect();
    build(&steps, size)
}

#[derive(Clone, Copy)]
enum Step<'a> {
    Namespace(&'a Key),
    Entry(&'a Entry),
}

fn build(steps: &[Step], size: usize) -> Result<Vec<u8>, NvsError> {
    let geometry = Geometry::of(size)?;
    check(steps)?;
    match lay_out(steps, Some(geometry.usable_pages)) {
        Ok(layout) => {
            let mut bytes = layout.into_bytes();
            if !geometry.read_only {
                bytes.resize(size, 0xFF);
            }
            Ok(bytes)
        }
        Err(LayoutError::NoRoom) => {
            let pages = match lay_out(steps, None) {
                Ok(layout) => layout.pages(),
                Err(e) => unreachable!("an unbounded layout of checked items failed: {e:?}"),
            };
            Err(NvsError::PartitionTooSmall { size, pages, needed: smallest_size_for(pages) })
        }
        Err(LayoutError::BlobTooManyChunks) => unreachable!("blob sizes are checked before the layout"),
    }
}

/// Refusals that do not depend on where items land.
fn check(steps: &[Step]) -> Result<(), NvsError> {
    let mut namespaces = HashSet::new();
    let mut keys = HashSet::new();
    for step in steps {
        let (namespace, entry) = match step {
            Step::Namespace(name) => (*name, None),
            Step::Entry(entry) => (&entry.namespace, Some(*entry)),
        };
        if namespaces.insert(namespace) && namespaces.len() > MAX_NAMESPACES {
            return Err(NvsError::TooManyNamespaces { namespace: namespace.to_string() });
        }
        let Some(entry) = entry else { continue };
        let names = || (entry.namespace.to_string(), entry.key.to_string());
        if !keys.insert((&entry.namespace, &entry.key)) {
            let (namespace, key) = names();
            return Err(NvsError::DuplicateKey { namespace, key });
        }
        match &entry.value {
            Value::Str(s) if s.contains('\0') => {
                let (namespace, key) = names();
                return Err(NvsError::StringHasNul { namespace, key });
            }
            Value::Str(s) if s.len() + 1 > MAX_STRING_LEN => {
                let (namespace, key) = names();
                return Err(NvsError::StringTooLong { namespace, key, len: s.len() + 1 });
            }
            Value::Blob(b) if blob_too_long(b.len()) => {
                let (namespace, key) = names();
                return Err(NvsError::BlobTooLong { namespace, key, len: b.len() });
            }
            _ => {}
        }
    }
    Ok(())
}

/// Whether a blob of `len` bytes could need more chunks than ESP-IDF reads back.
fn blob_too_long(len: usize) -> bool {
    len > MAX_BLOB_LEN
}

/// Namespace indices handed out in order of first appearance, from 1.
struct Namespaces<'a> {
    index: HashMap<&'a Key, u8>,
}

fn lay_out(steps: &[Step], capacity: Option<usize>) -> Result<Layout, LayoutError> {
    let mut layout = Layout::new(capacity);
    let mut namespaces = Namespaces { index: HashMap::new() };
    for step in steps {
        match step {
            Step::Namespace(name) => {
                namespaces.open(name, &mut layout)?;
            }
            Step::Entry(entry) => {
                let namespace = namespaces.open(&entry.namespace, &mut layout)?;
                let key = entry.key.field();
                let h = Header { namespace, key: &key };
                match &entry.value {
                    Value::Str(s) => {
                        let mut bytes = Vec::with_capacity(s.len() + 1);
                        bytes.extend_from_slice(s.as_bytes());
                        bytes.push(0);
                        layout.string(&h, &bytes)?;
                    }
                    Value::Blob(b) => layout.blob(&h, b)?,
                    fixed => {
                        let (kind, data) = fixed.primitive().expect("integers are primitives");
                        layout.primitive(&h, kind, data)?;
                    }
                }
            }
        }
    }
    Ok(layout)
}

impl<'a> Namespaces<'a> {
    /// The index of `name`, writing its namespace entry the first time.
    fn open(&mut self, name: &'a Key, layout: &mut Layout) -> Result<u8, LayoutError> {
        if let Some(&index) = self.index.get(name) {
            return Ok(index);
        }
        let index = u8::try_from(self.index.len() + 1).expect("namespace count checked");
        let key = name.field();
        let mut data = [0xFFu8; 8];
        data[0] = index;
        layout.primitive(&Header { namespace: NAMESPACE_OF_NAMESPACES, key: &key }, item_type::U8, data)?;
        self.index.insert(name, index);
        Ok(index)
    }
}
