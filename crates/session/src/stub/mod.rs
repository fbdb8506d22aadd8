//! Flasher stubs: the small programs uploaded into a chip's RAM that replace its ROM
//! loader (faster writes, MD5 verify on the ESP8266, compressed data, higher baud rates).
//!
//! flashline carries the esp-flasher-stub images that esptool ships, built in
//! ([`StubSet::builtin`]); nothing is looked up at run time. An operator can replace them
//! with a directory of esptool-format `<chip>.json` files ([`StubSet::resolve`]:
//! `[flash] stub_dir`, `--stub-dir`, `$FLASHLINE_STUB_DIR`).

pub mod builtin;
mod image;
mod resolve;
mod set;

pub use image::StubImage;
pub use resolve::STUB_DIR_ENV;
pub use set::{StubSet, StubSource};
