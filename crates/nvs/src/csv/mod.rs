//! The official generator's CSV format, so one file drives both tools.
//!
//! ```text
//! key,type,encoding,value
//! # comment lines start with '#'
//! wifi,namespace,,
//! ssid,data,string,line-7
//! retries,data,u8,3
//! cert,file,binary,device.der
//! ```
//!
//! The first record names the columns (`key`, `type`, `encoding`, `value`, in any order).
//! `type` is `namespace` (the key names the namespace of the rows after it), `data` (the
//! value is in the CSV) or `file` (the value names a file, read by the caller's loader).
//! Encodings: `u8` `i8` `u16` `i16` `u32` `i32` `u64` `i64`, `string`, `binary`,
//! `hex2bin`, `base64`, `blob_fill(N;0xPP)`, `blob_sz_fill(N;0xPP)`.
//!
//! Where the official generator (0.3.0) would write something unintended, this reader
//! refuses with an error instead: a row before any namespace (it files it under index 0),
//! an unknown type or encoding (it treats them as data or crashes), `binary` data with
//! non-ASCII text (it sizes it in characters), and the Wi-Fi driver keys described in
//! `wifi`. One difference remains by design: after a namespace row that returns to an
//! earlier namespace, the official generator files the following rows under the *latest*
//! new namespace; flashline files them under the namespace the row names.

mod fill;
mod integer;
mod records;
mod wifi;

use std::io;

use crate::{Entry, Item, Key, KeyError, Value};
pub use fill::FillTooLong;
pub use integer::IntegerError;
pub use wifi::WifiError;

/// Why a CSV was refused, with the line of the record at fault.
#[derive(Debug, thiserror::Error)]
#[error("NVS CSV line {line}: {problem}")]
pub struct CsvError {
    pub line: usize,
    pub problem: Box<CsvProblem>,
}

impl CsvError {
    fn new(line: usize, problem: CsvProblem) -> Self {
        Self { line, problem: Box::new(problem) }
    }
}

/// What is wrong with a CSV record.
#[derive(Debug, thiserror::Error)]
pub enum CsvProblem {
    #[error("the CSV is empty; its first line names the columns: key,type,encoding,value")]
    Empty,
    #[error("the header has no {column:?} column; the first line must be key,type,encoding,value")]
    MissingColumn { column: &'static str },
    #[error("a quoted field is not closed")]
    UnterminatedQuote,
    #[error("the record has no {column} field")]
    MissingField { column: &'static str },
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error("type {found:?} is not one of namespace, data, file")]
    UnknownType { found: String },
    #[error("{key} comes before any namespace row; add a line such as `storage,namespace,,` above it")]
    NoNamespace { key: String },
    #[error(
        "encoding {found:?} of {key} is not one of u8, i8, u16, i16, u32, i32, u64, i64, string, binary, hex2bin, \
         base64, blob_fill(N;0xPP), blob_sz_fill(N;0xPP)"
    )]
    UnknownEncoding { key: String, found: String },
    #[error("{key}: {source}")]
    Integer { key: String, source: IntegerError },
    #[error("{key}: {source}")]
    Encoding { key: String, source: crate::EncodingError },
    #[error("{key}: {source}")]
    Fill { key: String, source: FillTooLong },
    #[error("{key}: binary data must be ASCII text; give other bytes as hex2bin or base64")]
    BinaryNotAscii { key: String },
    #[error("{key}: fill encodings take their value from the CSV, not from a file")]
    FillFromFile { key: String },
    #[error("{key}: file {path:?} is not UTF-8 text, which encoding {encoding} needs")]
    FileNotText { key: String, path: String, encoding: String },
    #[error("{key}: cannot read file {path:?}: {source}")]
    File { key: String, path: String, source: io::Error },
    #[error(transparent)]
    Wifi(#[from] WifiError),
    #[error("{key}: {message}")]
    Mapped { key: String, message: String },
}

/// Reads a CSV into generator items. `load` returns the bytes of a `file` row's value
/// (a path, typically relative to the CSV's directory as the caller decides).
pub fn parse(text: &str, load: impl FnMut(&str) -> io::Result<Vec<u8>>) -> Result<Vec<Item>, CsvError> {
    parse_mapped(text, |_, value| Ok(value.to_owned()), load)
}

/// [`parse`] with every row's `value` field (the data, or a `file` row's path) passed
/// through `map` first, with the row's key: a template of per-device values (flashline
/// fills in placeholders such as a serial number). The mapped text is used as is, so a
/// value may hold commas or quotes whatever the CSV quoting was. An `Err` from `map`
/// refuses the row with its message ([`CsvProblem::Mapped`]).
pub fn parse_mapped(
    text: &str,
    mut map: impl FnMut(&str, &str) -> Result<String, String>,
    mut load: impl FnMut(&str) -> io::Result<Vec<u8>>,
) -> Result<Vec<Item>, CsvError> {
    let records = records::records(text).map_err(|e| CsvError::new(e.line, CsvProblem::UnterminatedQuote))?;
    let mut records = records.into_iter();
    let header = records.next().ok_or_else(|| CsvError::new(1, CsvProblem::Empty))?;
    let column = |name: &'static str| {
        header
            .fields
            .iter()
            .position(|f| f == name)
            .ok_or_else(|| CsvError::new(header.line, CsvProblem::MissingColumn { column: name }))
    };
    let columns =
        Columns { key: column("key")?, kind: column("type")?, encoding: column("encoding")?, value: column("value")? };
    let mut reader = RowReader { namespace: None, wifi: wifi::WifiRules::default(), items: Vec::new() };
    for record in records {
        reader
            .row(&columns, &record.fields, &mut map, &mut load)
            .map_err(|problem| CsvError::new(record.line, problem))?;
    }
    Ok(reader.items)
}

struct Columns {
    key: usize,
    kind: usize,
    encoding: usize,
    value: usize,
}

struct RowReader {
    namespace: Option<Key>,
    wifi: wifi::WifiRules,
    items: Vec<Item>,
}

impl RowReader {
    fn row(
        &mut self,
        columns: &Columns,
        fields: &[String],
        map: &mut impl FnMut(&str, &str) -> Result<String, String>,
        load: &mut impl FnMut(&str) -> io::Result<Vec<u8>>,
    ) -> Result<(), CsvProblem> {
        let field = |index: usize, column: &'static str| {
            fields.get(index).map(String::as_str).ok_or(CsvProblem::MissingField { column })
        };
        let key = Key::new(field(columns.key, "key")?)?;
        let kind = field(columns.kind, "type")?;
        if kind == "namespace" {
            self.items.push(Item::Namespace(key.clone()));
            self.namespace = Some(key);
            return Ok(());
        }
        let is_file = match kind {
            "data" => false,
            "file" => true,
            other => return Err(CsvProblem::UnknownType { found: other.to_owned() }),
        };
        let namespace = self.namespace.clone().ok_or_else(|| CsvProblem::NoNamespace { key: key.to_string() })?;
        let encoding = field(columns.encoding, "encoding")?;
        let text = &map(key.as_str(), field(columns.value, "value")?)
            .map_err(|message| CsvProblem::Mapped { key: key.to_string(), message })?;
        let special = self.wifi.row(key.as_str(), is_file, text)?;
        let value = if is_file {
            let bytes = load(text).map_err(|source| CsvProblem::File {
                key: key.to_string(),
                path: text.to_owned(),
                source,
            })?;
            file_value(&key, encoding, text, bytes)?
        } else {
            data_value(&key, encoding, text)?
        };
        self.items.push(Item::Entry(Entry::new(namespace.clone(), key, value)));
        if let wifi::Special::Station { extras } = special {
            for (key, value) in extras {
                self.items.push(Item::Entry(Entry::new(namespace.clone(), key, value)));
            }
        }
        Ok(())
    }
}

/// The value of a `data` row.
fn data_value(key: &Key, encoding: &str, text: &str) -> Result<Value, CsvProblem> {
    if let Some(value) = integer::integer_value(encoding, text) {
        return value.map_err(|source| CsvProblem::Integer { key: key.to_string(), source });
    }
    if let Some(fill) = fill::Fill::parse(encoding) {
        return fill.apply(text).map(Value::Blob).map_err(|source| CsvProblem::Fill { key: key.to_string(), source });
    }
    let encoded = |r: Result<Value, crate::EncodingError>| {
        r.map_err(|source| CsvProblem::Encoding { key: key.to_string(), source })
    };
    match encoding {
        "string" => Ok(Value::Str(text.to_owned())),
        "binary" if text.is_ascii() => Ok(Value::Blob(text.as_bytes().to_vec())),
        "binary" => Err(CsvProblem::BinaryNotAscii { key: key.to_string() }),
        "hex2bin" => encoded(Value::blob_from_hex(text)),
        "base64" => encoded(Value::blob_from_base64(text)),
        other => Err(CsvProblem::UnknownEncoding { key: key.to_string(), found: other.to_owned() }),
    }
}

/// The value of a `file` row whose file holds `bytes`.
fn file_value(key: &Key, encoding: &str, path: &str, bytes: Vec<u8>) -> Result<Value, CsvProblem> {
    if encoding == "binary" {
        return Ok(Value::Blob(bytes));
    }
    if fill::Fill::parse(encoding).is_some() {
        return Err(CsvProblem::FillFromFile { key: key.to_string() });
    }
    let text = String::from_utf8(bytes).map_err(|_| CsvProblem::FileNotText {
        key: key.to_string(),
        path: path.to_owned(),
        encoding: encoding.to_owned(),
    })?;
    data_value(key, encoding, &text)
}

#[cfg(test)]
mod tests;
