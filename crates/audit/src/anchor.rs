//! Chain heads written outside the database ("anchors"), and reading them back.
//!
//! Anyone who can write the database can rewrite a row and recompute every later hash and
//! the head: the chain then verifies (see [`crate::chain`]). What they cannot rewrite is a
//! copy of an earlier head kept elsewhere. The daemon writes the head — sequence number
//! and hash — to the system journal (fields [`SEQ_FIELD`], [`HEAD_FIELD`], [`DATABASE_FIELD`])
//! and its plain log after completed attempts and at shutdown; `flashline log verify
//! --anchors` reads them back with [`parse_anchors`] and [`crate::ChainWalker`] compares
//! each with the row at that sequence number.
//!
//! Accepted input, one entry per line: `journalctl -o json` (the fields at the top level,
//! values as strings, or in `MESSAGE` when the daemon logged text to a journal stream),
//! flashline's own JSON log (the fields in lower case, at the top level
//! or under `fields`), and its text log (`flashline_chain_seq=12
//! flashline_chain_head=…`). Lines without the fields are skipped; a line that has them
//! but not in a valid form is an error naming the line, since a mangled anchor must not
//! quietly drop out of the check.

use std::fmt;

use serde::Serialize;
use serde_json::Value as Json;

/// Journal field with the chain's last sequence number.
pub const SEQ_FIELD: &str = "FLASHLINE_CHAIN_SEQ";
/// Journal field with the chain's last row hash (64 lowercase hex digits).
pub const HEAD_FIELD: &str = "FLASHLINE_CHAIN_HEAD";
/// Journal field with the database the head belongs to.
pub const DATABASE_FIELD: &str = "FLASHLINE_DATABASE";

/// A chain head recorded outside the database.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Anchor {
    pub seq: i64,
    pub hash: String,
    /// The database it was written for, when the entry says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database: Option<String>,
    /// Where it was read: `line 12`.
    pub source: String,
}

/// A line that names an anchor field but does not hold a valid anchor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnchorParseError {
    pub line: usize,
    pub detail: String,
}

impl fmt::Display for AnchorParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.detail)
    }
}

impl std::error::Error for AnchorParseError {}

/// Every anchor in `text`, in input order.
pub fn parse_anchors(text: &str) -> Result<Vec<Anchor>, AnchorParseError> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line_no = i + 1;
        let fields = match line.trim_start().starts_with('{') {
            true => json_fields(line),
            false => text_fields(line),
        };
        let Some((seq, hash, database)) = fields else { continue };
        let err = |detail: String| AnchorParseError { line: line_no, detail };
        let (Some(seq), Some(hash)) = (seq, hash) else {
            return Err(err(format!("an anchor needs both {SEQ_FIELD} and {HEAD_FIELD}")));
        };
        let seq: i64 = seq
            .trim()
            .parse()
            .ok()
            .filter(|s| *s > 0)
            .ok_or_else(|| err(format!("{SEQ_FIELD} must be a positive whole number, not {:?}", truncate(&seq))))?;
        let hash = hash.trim().to_owned();
        if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
            return Err(err(format!("{HEAD_FIELD} must be 64 lowercase hex digits, not {:?}", truncate(&hash))));
        }
        out.push(Anchor { seq, hash, database, source: format!("line {line_no}") });
    }
    Ok(out)
}

type Fields = (Option<String>, Option<String>, Option<String>);

/// The anchor fields of a JSON line (`None`: neither field is there).
fn json_fields(line: &str) -> Option<Fields> {
    let v: Json = serde_json::from_str(line).ok()?;
    let obj = v.as_object()?;
    let get = |name: &str| -> Option<String> {
        let nested = obj.get("fields").and_then(Json::as_object);
        let found = obj
            .iter()
            .chain(nested.into_iter().flatten())
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)?;
        match found {
            Json::String(s) => Some(s.clone()),
            Json::Number(n) => Some(n.to_string()),
            other => Some(other.to_string()),
        }
    };
    let fields = (get(SEQ_FIELD), get(HEAD_FIELD), get(DATABASE_FIELD));
    if fields.0.is_some() || fields.1.is_some() {
        return Some(fields);
    }
    // The journal's copy of a text log written to stderr: the fields are in the message.
    obj.get("MESSAGE").and_then(Json::as_str).and_then(text_fields)
}

/// The anchor fields of a text log line (`key=value` pairs, values maybe quoted).
fn text_fields(line: &str) -> Option<Fields> {
    let get = |name: &str| -> Option<String> {
        let key = format!("{}=", name.to_ascii_lowercase());
        let at = line.find(&key)?;
        let rest = &line[at + key.len()..];
        Some(match rest.strip_prefix('"') {
            Some(q) => q.split('"').next().unwrap_or_default().to_owned(),
            None => rest.split_whitespace().next().unwrap_or_default().to_owned(),
        })
    };
    let fields = (get(SEQ_FIELD), get(HEAD_FIELD), get(DATABASE_FIELD));
    (fields.0.is_some() || fields.1.is_some()).then_some(fields)
}

fn truncate(s: &str) -> String {
    s.chars().take(80).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn reads_the_journal_the_json_log_and_the_text_log() {
        let text = format!(
            "{{\"MESSAGE\":\"audit chain head\",\"FLASHLINE_CHAIN_SEQ\":\"7\",\"FLASHLINE_CHAIN_HEAD\":\"{H}\",\"FLASHLINE_DATABASE\":\"/var/lib/flashline/audit.db\"}}\n\
             {{\"MESSAGE\":\"board passed\",\"SLOT\":\"A1\"}}\n\
             {{\"timestamp\":\"x\",\"fields\":{{\"message\":\"audit chain head\",\"flashline_chain_seq\":9,\"flashline_chain_head\":\"{H}\"}}}}\n\
             2026-12-05T10:00:00Z  INFO flashline: audit chain head flashline_chain_seq=11 flashline_chain_head={H} flashline_database=\"/db\"\n\
             not json, no fields\n\
             {{\"MESSAGE\":\"INFO flashline: audit chain head flashline_chain_seq=12 flashline_chain_head={H}\"}}\n"
        );
        let a = parse_anchors(&text).unwrap();
        assert_eq!(a.iter().map(|a| a.seq).collect::<Vec<_>>(), [7, 9, 11, 12]);
        assert_eq!(a[0].database.as_deref(), Some("/var/lib/flashline/audit.db"));
        assert_eq!(a[1].database, None);
        assert_eq!(a[2].database.as_deref(), Some("/db"));
        assert_eq!(a[2].source, "line 4");
        assert!(a.iter().all(|a| a.hash == H));
    }

    #[test]
    fn a_mangled_anchor_is_an_error_naming_its_line() {
        let cases = [
            format!("{{\"FLASHLINE_CHAIN_SEQ\":\"x\",\"FLASHLINE_CHAIN_HEAD\":\"{H}\"}}"),
            format!("{{\"FLASHLINE_CHAIN_SEQ\":\"0\",\"FLASHLINE_CHAIN_HEAD\":\"{H}\"}}"),
            "{\"FLASHLINE_CHAIN_SEQ\":\"3\",\"FLASHLINE_CHAIN_HEAD\":\"abc\"}".to_string(),
            format!("{{\"FLASHLINE_CHAIN_SEQ\":\"3\",\"FLASHLINE_CHAIN_HEAD\":\"{}\"}}", H.to_uppercase()),
            format!("{{\"FLASHLINE_CHAIN_HEAD\":\"{H}\"}}"),
            "flashline_chain_seq=4".to_string(),
        ];
        for case in cases {
            let e = parse_anchors(&format!("\n{case}\n")).unwrap_err();
            assert_eq!(e.line, 2, "{case}: {e}");
        }
    }
}
