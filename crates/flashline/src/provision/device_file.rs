//! The per-device file: one CSV row of values per board, keyed by serial number or MAC
//! (certificates, keys, credentials made ahead by the product's back end).
//!
//! The whole file is read and checked at start-up: a header naming the key column, one
//! row per key, no duplicate or empty key, MACs in any common spelling (stored as the
//! audit log spells them), every row as wide as the header. A board whose key has no row
//! is refused before anything is written to it; that lookup cannot fail on a malformed
//! file later.

use std::collections::BTreeMap;
use std::fmt;

use flashline_audit::normalize_mac;

/// Largest per-device file read: thousands of rows with a certificate each.
pub const MAX_DEVICE_FILE: u64 = 64 << 20;

/// Which column identifies a board's row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceKey {
    /// The serial number flashline allocates (`[provision] serial`), as printed.
    Serial,
    /// The board's MAC (any common spelling in the file).
    Mac,
}

impl DeviceKey {
    /// The header name of the key column.
    pub fn column(self) -> &'static str {
        match self {
            DeviceKey::Serial => "serial",
            DeviceKey::Mac => "mac",
        }
    }
}

impl fmt::Display for DeviceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.column())
    }
}

/// Why the per-device file was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeviceFileError {
    #[error("line {line}: {message}")]
    Csv { line: u64, message: String },
    #[error("the file is empty; its first line names the columns, one of them {key:?}")]
    Empty { key: &'static str },
    #[error("the header has no {key:?} column (columns: {columns}); the key column names each board's row")]
    NoKeyColumn { key: &'static str, columns: String },
    #[error("the header names column {column:?} twice")]
    DuplicateColumn { column: String },
    #[error("line {line}: the {key} is empty")]
    EmptyKey { line: u64, key: &'static str },
    #[error("line {line}: {value:?} is not a MAC address ({reason})")]
    BadMac { line: u64, value: String, reason: String },
    #[error("line {line}: {key} {value} already has a row on line {first}")]
    DuplicateKey { line: u64, first: u64, key: &'static str, value: String },
}

/// One board's row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceRow {
    /// Line of the row in the file (1 = the header).
    pub line: u64,
    values: Vec<String>,
}

/// The per-device file, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceTable {
    key: DeviceKey,
    columns: Vec<String>,
    rows: BTreeMap<String, DeviceRow>,
}

impl DeviceTable {
    /// Reads a per-device CSV (RFC 4180: comma, double quotes; a field may span lines).
    pub fn parse(text: &str, key: DeviceKey) -> Result<DeviceTable, DeviceFileError> {
        let mut reader = csv::ReaderBuilder::new().has_headers(false).from_reader(text.as_bytes());
        let mut records = reader.records();
        let csv_err = |e: csv::Error| DeviceFileError::Csv {
            line: e.position().map_or(0, |p| p.line()),
            message: match e.kind() {
                csv::ErrorKind::UnequalLengths { expected_len, len, .. } => {
                    format!("the row has {len} fields where the header has {expected_len}")
                }
                csv::ErrorKind::Utf8 { .. } => "the row is not UTF-8 text".to_owned(),
                _ => e.to_string(),
            },
        };
        let header = records.next().ok_or(DeviceFileError::Empty { key: key.column() })?.map_err(csv_err)?;
        let columns: Vec<String> = header.iter().map(|c| c.trim().to_owned()).collect();
        for (i, c) in columns.iter().enumerate() {
            if columns[..i].contains(c) {
                return Err(DeviceFileError::DuplicateColumn { column: c.clone() });
            }
        }
        let key_index = columns
            .iter()
            .position(|c| c == key.column())
            .ok_or_else(|| DeviceFileError::NoKeyColumn { key: key.column(), columns: columns.join(", ") })?;
        let mut rows = BTreeMap::new();
        for record in records {
            let record = record.map_err(csv_err)?;
            let line = record.position().map_or(0, |p| p.line());
            if record.iter().all(|f| f.trim().is_empty()) {
                continue;
            }
            let raw = record[key_index].trim();
            if raw.is_empty() {
                return Err(DeviceFileError::EmptyKey { line, key: key.column() });
            }
            let id = match key {
                DeviceKey::Serial => raw.to_owned(),
                DeviceKey::Mac => normalize_mac(raw).map_err(|reason| DeviceFileError::BadMac {
                    line,
                    value: raw.to_owned(),
                    reason,
                })?,
            };
            let row = DeviceRow { line, values: record.iter().map(str::to_owned).collect() };
            if let Some(first) = rows.get(&id) {
                let first: &DeviceRow = first;
                return Err(DeviceFileError::DuplicateKey { line, first: first.line, key: key.column(), value: id });
            }
            rows.insert(id, row);
        }
        Ok(DeviceTable { key, columns, rows })
    }

    pub fn key(&self) -> DeviceKey {
        self.key
    }

    /// The header's column names.
    pub fn columns(&self) -> &[String] {
        &self.columns
    }

    /// Number of boards with a row.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The row of the board whose key (serial as printed, or MAC in any spelling) is `id`.
    pub fn row(&self, id: &str) -> Option<&DeviceRow> {
        match self.key {
            DeviceKey::Serial => self.rows.get(id),
            DeviceKey::Mac => self.rows.get(&normalize_mac(id).ok()?),
        }
    }

    /// Every row with its key, in key order.
    pub fn rows(&self) -> impl Iterator<Item = (&str, &DeviceRow)> {
        self.rows.iter().map(|(k, r)| (k.as_str(), r))
    }

    /// The value of `column` in `row`, `None` when the file has no such column.
    pub fn value<'a>(&self, row: &'a DeviceRow, column: &str) -> Option<&'a str> {
        let i = self.columns.iter().position(|c| c == column)?;
        row.values.get(i).map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_rows_by_serial_and_by_mac() {
        let t = DeviceTable::parse(
            "serial,cert,psk\nFL-001000,\"a,b\",x\n\nFL-001001,\"multi\nline\",y\n",
            DeviceKey::Serial,
        )
        .unwrap();
        assert_eq!(t.len(), 2);
        let r = t.row("FL-001001").unwrap();
        assert_eq!(t.value(r, "cert"), Some("multi\nline"));
        assert_eq!(t.value(r, "psk"), Some("y"));
        assert_eq!(t.value(r, "nope"), None);
        assert_eq!(t.value(t.row("FL-001000").unwrap(), "cert"), Some("a,b"));
        assert!(t.row("FL-001002").is_none());

        let t = DeviceTable::parse("mac,id\naa-bb-cc-dd-ee-01,dev1\n", DeviceKey::Mac).unwrap();
        let r = t.row("AA:BB:CC:DD:EE:01").unwrap();
        assert_eq!(t.value(r, "id"), Some("dev1"));
        assert!(t.row("aabbccddee01").is_some(), "any spelling finds the row");
        assert_eq!(t.rows().next().unwrap().0, "AA:BB:CC:DD:EE:01");
    }

    #[test]
    fn refusals_name_the_line() {
        let cases: [(&str, DeviceKey, DeviceFileError); 7] = [
            ("", DeviceKey::Serial, DeviceFileError::Empty { key: "serial" }),
            (
                "sn,cert\n1,x\n",
                DeviceKey::Serial,
                DeviceFileError::NoKeyColumn { key: "serial", columns: "sn, cert".into() },
            ),
            ("serial,a,a\n", DeviceKey::Serial, DeviceFileError::DuplicateColumn { column: "a".into() }),
            ("serial,a\n,x\n", DeviceKey::Serial, DeviceFileError::EmptyKey { line: 2, key: "serial" }),
            (
                "serial,a\nS1,x\nS2,y\nS1,z\n",
                DeviceKey::Serial,
                DeviceFileError::DuplicateKey { line: 4, first: 2, key: "serial", value: "S1".into() },
            ),
            (
                "mac,a\n24:0a:c4:00:00:01,x\n240AC4000001,y\n",
                DeviceKey::Mac,
                DeviceFileError::DuplicateKey { line: 3, first: 2, key: "mac", value: "24:0A:C4:00:00:01".into() },
            ),
            (
                "serial,a\nS1,x,extra\n",
                DeviceKey::Serial,
                DeviceFileError::Csv { line: 2, message: "the row has 3 fields where the header has 2".into() },
            ),
        ];
        for (text, key, want) in cases {
            assert_eq!(DeviceTable::parse(text, key).unwrap_err(), want, "{text:?}");
        }
        let err = DeviceTable::parse("mac,a\nnot-a-mac,x\n", DeviceKey::Mac).unwrap_err();
        assert!(matches!(err, DeviceFileError::BadMac { line: 2, .. }), "{err:?}");
    }
}
