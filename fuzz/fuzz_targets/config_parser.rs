//! The station config parser on arbitrary text.
//!
//! Invariants: never panics; every error names the file, and a line/column error points
//! inside the text.
#![no_main]

use std::path::Path;

use flashline::config::{Config, ConfigError};
use libfuzzer_sys::fuzz_target;

const FILE: &str = "/etc/flashline/flashline.toml";

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    match Config::parse(&text, Path::new(FILE)) {
        Ok(cfg) => assert_eq!(cfg.path(), Path::new(FILE)),
        Err(e) => {
            let msg = e.to_string();
            assert!(msg.contains(FILE), "error does not name the file: {msg}");
            if let ConfigError::Invalid { line, column, .. } = e {
                assert!(line >= 1 && column >= 1);
                assert!(line <= text.split('\n').count(), "line {line} is past the end: {msg}");
            }
        }
    }
});
