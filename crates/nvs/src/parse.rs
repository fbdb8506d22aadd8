//! Reads an NVS partition image back into entries, checking every CRC.
//!
//! Written for images as the generator makes them (fresh pages, nothing erased or moved),
//! so it is strict: a page in another state, an entry whose CRC fails, a chunk without its
//! index or a size that does not add up is an error naming the page and entry, not
//! something to skip. Erased pages (all 0xFF) are skipped.

use std::collections::HashMap;

use crate::format::{
    data_entries, entry_crc, header_crc, item_type, BITMAP_OFFSET, ENTRIES_PER_PAGE, ENTRY_SIZE, FIRST_ENTRY_OFFSET,
    NAMESPACE_OF_NAMESPACES, PAGE_ACTIVE, PAGE_FULL, PAGE_SIZE, VERSION_2,
};
use crate::{Entry, Key, Value};

/// What an image holds: namespaces in index order (index 1 first) and entries in the order
/// they were written (a blob where its index entry is).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contents {
    pub namespaces: Vec<Key>,
    pub entries: Vec<Entry>,
}

/// Why an image is not a valid NVS partition; `page` and `entry` count from 0.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("NVS image of {len} bytes is not a whole number of 4096-byte pages")]
    NotWholePages { len: usize },
    #[error("NVS page {page} has state {state:#010x}, neither active nor full")]
    PageState { page: usize, state: u32 },
    #[error("NVS page {page} header CRC is wrong")]
    HeaderCrc { page: usize },
    #[error("NVS page {page} has format version {version:#04x}; only version 2 (0xfe) is read")]
    Version { page: usize, version: u8 },
    #[error("NVS page {page} entry {entry}: {problem}")]
    Entry { page: usize, entry: usize, problem: EntryProblem },
    #[error("NVS blob {namespace}/{key}: {problem}")]
    Blob { namespace: String, key: String, problem: String },
}

/// What is wrong with one entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EntryProblem {
    #[error("entry CRC is wrong")]
    Crc,
    #[error("span {span} does not fit the page or covers entries not marked written")]
    Span { span: u8 },
    #[error("data CRC is wrong")]
    DataCrc,
    #[error("data size {size} does not fit its {entries} data entries")]
    DataSize { size: usize, entries: usize },
    #[error("unknown entry type {kind:#04x}")]
    Type { kind: u8 },
    #[error("namespace index {index} was never named")]
    Namespace { index: u8 },
    #[error("namespace index {index} is named twice")]
    NamespaceTwice { index: u8 },
    #[error("key is not a valid NVS name: {0}")]
    Key(String),
    #[error("string is not NUL-terminated UTF-8")]
    String,
    #[error("blob {0}")]
    Blob(String),
}

/// Reads every entry of `image`.
pub fn parse(image: &[u8]) -> Result<Contents, ParseError> {
    if !image.len().is_multiple_of(PAGE_SIZE) {
        return Err(ParseError::NotWholePages { len: image.len() });
    }
    let mut reader = Reader::default();
    for (page, bytes) in image.chunks(PAGE_SIZE).enumerate() {
        if bytes.iter().all(|&b| b == 0xFF) {
            continue;
        }
        reader.page(page, bytes)?;
    }
    if let Some(((index, key), _)) = reader.chunks.iter().next() {
        return Err(ParseError::Blob {
            namespace: reader.namespace_name(*index),
            key: key.to_string(),
            problem: "data chunks without an index entry".into(),
        });
    }
    let mut namespaces: Vec<(u8, Key)> = reader.namespaces.into_iter().collect();
    namespaces.sort_by_key(|(index, _)| *index);
    Ok(Contents { namespaces: namespaces.into_iter().map(|(_, k)| k).collect(), entries: reader.entries })
}

#[derive(Default)]
struct Reader {
    namespaces: HashMap<u8, Key>,
    /// Blob chunks waiting for their index: (namespace, key) → chunk index → data.
    chunks: HashMap<(u8, Key), HashMap<u8, Vec<u8>>>,
    entries: Vec<Entry>,
}

impl Reader {
    fn namespace_name(&self, index: u8) -> String {
        self.namespaces.get(&index).map_or_else(|| format!("#{index}"), Key::to_string)
    }

    fn page(&mut self, page: usize, bytes: &[u8]) -> Result<(), ParseError> {
        let state = u32::from_le_bytes(bytes[0..4].try_into().expect("4 bytes"));
        if state != PAGE_ACTIVE && state != PAGE_FULL {
            return Err(ParseError::PageState { page, state });
        }
        if u32::from_le_bytes(bytes[28..32].try_into().expect("4 bytes")) != header_crc(&bytes[..ENTRY_SIZE]) {
            return Err(ParseError::HeaderCrc { page });
        }
        if bytes[8] != VERSION_2 {
            return Err(ParseError::Version { page, version: bytes[8] });
        }
        let written = |i: usize| (bytes[BITMAP_OFFSET + i / 4] >> ((i % 4) * 2)) & 0b11 == 0b10;
        let mut i = 0;
        while i < ENTRIES_PER_PAGE {
            if !written(i) {
                i += 1;
                continue;
            }
            let at = FIRST_ENTRY_OFFSET + i * ENTRY_SIZE;
            let entry: &[u8; ENTRY_SIZE] = bytes[at..at + ENTRY_SIZE].try_into().expect("32 bytes");
            let fail = |problem| ParseError::Entry { page, entry: i, problem };
            let span = usize::from(entry[2]);
            if span == 0 || i + span > ENTRIES_PER_PAGE || !(i..i + span).all(written) {
                return Err(fail(EntryProblem::Span { span: entry[2] }));
            }
            if u32::from_le_bytes(entry[4..8].try_into().expect("4 bytes")) != entry_crc(entry) {
                return Err(fail(EntryProblem::Crc));
            }
            let data = &bytes[at + ENTRY_SIZE..at + span * ENTRY_SIZE];
            self.entry(entry, data).map_err(fail)?;
            i += span;
        }
        Ok(())
    }

    /// One written entry (`data`: the entries its span covers after the first).
    fn entry(&mut self, entry: &[u8; ENTRY_SIZE], data: &[u8]) -> Result<(), EntryProblem> {
        let (index, kind) = (entry[0], entry[1]);
        let name_len = entry[8..24].iter().position(|&b| b == 0).unwrap_or(16);
        let name = std::str::from_utf8(&entry[8..8 + name_len]).map_err(|e| EntryProblem::Key(e.to_string()))?;
        let key = Key::new(name).map_err(|e| EntryProblem::Key(e.to_string()))?;
        let field: [u8; 8] = entry[24..32].try_into().expect("8 bytes");
        if index == NAMESPACE_OF_NAMESPACES && kind == item_type::U8 {
            if self.namespaces.insert(field[0], key).is_some() {
                return Err(EntryProblem::NamespaceTwice { index: field[0] });
            }
            return Ok(());
        }
        let namespace = self.namespaces.get(&index).cloned().ok_or(EntryProblem::Namespace { index })?;
        let value =
            match kind {
                item_type::STR => {
                    let text = sized_data(&field, data)?;
                    let text = text.strip_suffix(&[0]).ok_or(EntryProblem::String)?;
                    let text = String::from_utf8(text.to_vec()).map_err(|_| EntryProblem::String)?;
                    Value::Str(text)
                }
                item_type::BLOB_DATA => {
                    let chunk = sized_data(&field, data)?.to_vec();
                    self.chunks.entry((index, key)).or_default().insert(entry[3], chunk);
                    return Ok(());
                }
                item_type::BLOB_INDEX => Value::Blob(self.blob(index, &key, &field).map_err(|problem| {
                    EntryProblem::Blob(format!("{}/{key}: {problem}", self.namespace_name(index)))
                })?),
                _ => primitive(kind, field).ok_or(EntryProblem::Type { kind })?,
            };
        self.entries.push(Entry::new(namespace, key, value));
        Ok(())
    }

    /// Joins the chunks a blob index entry names.
    fn blob(&mut self, index: u8, key: &Key, field: &[u8; 8]) -> Result<Vec<u8>, String> {
        let size = u32::from_le_bytes(field[0..4].try_into().expect("4 bytes")) as usize;
        let (count, start) = (field[4], field[5]);
        let mut chunks = self.chunks.remove(&(index, key.clone())).unwrap_or_default();
        let mut blob = Vec::with_capacity(size);
        for n in 0..count {
            let chunk_index = start.checked_add(n).ok_or("chunk index overflows")?;
            let chunk = chunks.remove(&chunk_index).ok_or_else(|| format!("chunk {chunk_index} is missing"))?;
            blob.extend_from_slice(&chunk);
        }
        if !chunks.is_empty() {
            return Err(format!("{} chunks are not named by the index", chunks.len()));
        }
        if blob.len() != size {
            return Err(format!("index says {size} bytes, chunks hold {}", blob.len()));
        }
        Ok(blob)
    }
}

/// The data of a string or blob chunk entry, its size and CRC checked.
fn sized_data<'d>(field: &[u8; 8], data: &'d [u8]) -> Result<&'d [u8], EntryProblem> {
    let size = usize::from(u16::from_le_bytes([field[0], field[1]]));
    let entries = data.len() / ENTRY_SIZE;
    if data_entries(size) != entries {
        return Err(EntryProblem::DataSize { size, entries });
    }
    let bytes = &data[..size];
    if u32::from_le_bytes(field[4..8].try_into().expect("4 bytes")) != crate::crc::nvs_crc32(bytes) {
        return Err(EntryProblem::DataCrc);
    }
    Ok(bytes)
}

fn primitive(kind: u8, f: [u8; 8]) -> Option<Value> {
    let b2 = [f[0], f[1]];
    let b4 = [f[0], f[1], f[2], f[3]];
    Some(match kind {
        item_type::U8 => Value::U8(f[0]),
        item_type::I8 => Value::I8(i8::from_le_bytes([f[0]])),
        item_type::U16 => Value::U16(u16::from_le_bytes(b2)),
        item_type::I16 => Value::I16(i16::from_le_bytes(b2)),
        item_type::U32 => Value::U32(u32::from_le_bytes(b4)),
        item_type::I32 => Value::I32(i32::from_le_bytes(b4)),
        item_type::U64 => Value::U64(u64::from_le_bytes(f)),
        item_type::I64 => Value::I64(i64::from_le_bytes(f)),
        _ => return None,
    })
}
