//! The image manifest parser on arbitrary text.
//!
//! Invariants: never panics; every error names the file; an accepted manifest survives
//! `to_toml` and parsing again unchanged.
#![no_main]

use std::path::Path;

use flashline::image::manifest::Manifest;
use libfuzzer_sys::fuzz_target;

const FILE: &str = "golden/manifest.toml";

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    match Manifest::parse(&text, Path::new(FILE)) {
        Ok(m) => {
            let written = m.to_toml();
            match Manifest::parse(&written, Path::new(FILE)) {
                Ok(again) => assert_eq!(again, m, "manifest changed on a round trip through:\n{written}"),
                Err(e) => panic!("a written manifest does not parse: {e}\n{written}"),
            }
        }
        Err(e) => {
            let msg = e.to_string();
            assert!(msg.contains(FILE), "error does not name the file: {msg}");
        }
    }
});
