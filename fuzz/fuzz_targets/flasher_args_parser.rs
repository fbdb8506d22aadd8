//! The ESP-IDF `flasher_args.json` parser on arbitrary text.
//!
//! Invariants: never panics (parsing, the chip and flash-size accessors, and the offset
//! parsing `read_regions` does before it opens any file); every error names the file.
#![no_main]

use std::path::Path;

use flashline::image::flasher_args::FlasherArgs;
use flashline_protocol::flash::parse_size;
use libfuzzer_sys::fuzz_target;

const FILE: &str = "build/flasher_args.json";

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    match FlasherArgs::parse(&text, Path::new(FILE)) {
        Ok(args) => {
            let _ = args.chip();
            let _ = args.flash_size();
            for offset in args.flash_files.keys() {
                let _ = parse_size(offset);
            }
        }
        Err(e) => {
            let msg = e.to_string();
            assert!(msg.contains(FILE), "error does not name the file: {msg}");
        }
    }
});
