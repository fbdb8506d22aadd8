//! One flasher stub image: esptool's stub JSON format, parsed and checked.
//!
//! The format (esp-flasher-stub's `elf2json` output, which esptool ships) has the keys
//! `entry`, `text` (base64), `text_start`, `data` (base64), `data_start` and `bss_start`;
//! other keys (the ESP32-S3 plugin table) are ignored.

use crate::error::{Error, Result};
use base64::Engine;
use std::path::Path;

/// One stub image, ready to upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StubImage {
    pub entry: u32,
    pub text: Vec<u8>,
    pub text_start: u32,
    pub data: Vec<u8>,
    pub data_start: u32,
    pub bss_start: Option<u32>,
}

#[derive(serde::Deserialize)]
struct StubJson {
    entry: u32,
    text: String,
    text_start: u32,
    #[serde(default)]
    data: Option<String>,
    #[serde(default)]
    data_start: Option<u32>,
    #[serde(default)]
    bss_start: Option<u32>,
}

impl StubImage {
    /// Parses esptool's stub JSON format.
    pub fn from_json(text: &str) -> std::result::Result<Self, String> {
        let j: StubJson = serde_json::from_str(text).map_err(|e| format!("not stub JSON: {e}"))?;
        let b64 = base64::engine::general_purpose::STANDARD;
        let code = b64.decode(j.text.as_bytes()).map_err(|e| format!("`text` is not base64: {e}"))?;
        if code.is_empty() {
            return Err("`text` is empty".into());
        }
        let data = match &j.data {
            Some(d) => b64.decode(d.as_bytes()).map_err(|e| format!("`data` is not base64: {e}"))?,
            None => Vec::new(),
        };
        if !data.is_empty() && j.data_start.is_none() {
            return Err("`data` without `data_start`".into());
        }
        let text_end = j.text_start as u64 + code.len() as u64;
        if (j.entry as u64) < j.text_start as u64 || j.entry as u64 >= text_end {
            return Err(format!("entry 0x{:08x} lies outside the text segment", j.entry));
        }
        Ok(Self {
            entry: j.entry,
            text: code,
            text_start: j.text_start,
            data,
            data_start: j.data_start.unwrap_or(0),
            bss_start: j.bss_start,
        })
    }

    /// Reads and parses one JSON file.
    pub fn load(path: &Path) -> Result<Self> {
        let invalid = |reason: String| Error::StubInvalid { file: path.display().to_string(), reason };
        let text = std::fs::read_to_string(path).map_err(|e| invalid(e.to_string()))?;
        Self::from_json(&text).map_err(invalid)
    }

    /// Segments to load, text first, as (address, bytes).
    pub fn segments(&self) -> impl Iterator<Item = (u32, &[u8])> {
        [(self.text_start, &self.text[..]), (self.data_start, &self.data[..])]
            .into_iter()
            .filter(|(_, d)| !d.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(entry: u32) -> String {
        let b = base64::engine::general_purpose::STANDARD;
        format!(
            r#"{{"entry": {entry}, "text": "{}", "text_start": 1074429952, "data": "{}", "data_start": 1073605996, "bss_start": 1073528832}}"#,
            b.encode([1u8, 2, 3, 4, 5, 6, 7, 8]),
            b.encode([9u8, 10])
        )
    }

    #[test]
    fn parses_esptool_format() {
        let s = StubImage::from_json(&json(1074429956)).unwrap();
        assert_eq!(s.text, vec![1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(s.data, vec![9, 10]);
        assert_eq!(s.text_start, 0x400A_8000);
        assert_eq!(s.data_start, 0x3FFD_ED6C);
        assert_eq!(s.bss_start, Some(0x3FFC_C000));
        let segs: Vec<_> = s.segments().map(|(a, d)| (a, d.len())).collect();
        assert_eq!(segs, vec![(0x400A_8000, 8), (0x3FFD_ED6C, 2)]);
    }

    #[test]
    fn rejects_bad_files() {
        let cases: &[(&str, &str)] = &[
            ("{}", "not stub JSON"),
            (r#"{"entry":1,"text":"***","text_start":0}"#, "base64"),
            (r#"{"entry":1,"text":"","text_start":0}"#, "empty"),
            (r#"{"entry":0,"text":"AAAA","text_start":0,"data":"AAAA"}"#, "without `data_start`"),
            (r#"{"entry":3,"text":"AAAA","text_start":0}"#, "outside the text"),
        ];
        for (text, why) in cases {
            let e = StubImage::from_json(text).unwrap_err();
            assert!(e.contains(why), "{text}: {e}");
        }
        assert!(StubImage::from_json(&json(0x1000)).unwrap_err().contains("outside the text"));
    }

    #[test]
    fn load_names_the_file() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("esp32.json");
        std::fs::write(&p, "not json").unwrap();
        let e = StubImage::load(&p).unwrap_err();
        assert!(matches!(e, Error::StubInvalid { .. }), "{e}");
        assert!(e.to_string().contains("esp32.json"), "{e}");
    }
}
