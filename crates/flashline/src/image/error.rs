//! Everything that stops a golden image from being used, each naming the file at fault.
//!
//! File names and texts in these messages come from manifests and `flasher_args.json`
//! files, so they are shown through [`crate::text`]'s escaping, never raw.

use std::io;
use std::path::{Path, PathBuf};

use flashline_protocol::flash::format_size;
use flashline_protocol::Chip;

use super::Sha256Digest;
use crate::exit::Exit;
use crate::input_file::ReadError;
use crate::text::{escaped_path as show, Escaped};

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("golden image file {} is missing{}", show(file), named_in(from))]
    Missing {
        file: PathBuf,
        /// The description file that names it, if it is not the file itself.
        from: Option<PathBuf>,
    },

    #[error("cannot read golden image file {}: {source}", show(file))]
    Unreadable { file: PathBuf, source: io::Error },

    #[error("golden image file {}{} is {kind}, not a regular file", show(file), named_in(from))]
    NotRegularFile { file: PathBuf, kind: &'static str, from: Option<PathBuf> },

    #[error(
        "golden image file {} is {size} bytes, more than {} (the most a description file or region may hold)",
        show(file), format_size_u64(*limit)
    )]
    FileTooLarge { file: PathBuf, size: u64, limit: u64 },

    #[error(
        "{}: region file {} resolves to {}, outside {}; keep region files in the directory of the file \
         that names them, or allow it explicitly ([image] allow_outside = true; flashline flash --allow-outside)",
        show(from),
        show(file),
        show(resolved),
        show(dir)
    )]
    OutsideDirectory { file: PathBuf, resolved: PathBuf, dir: PathBuf, from: PathBuf },

    #[error(
        "{}: region {} at 0x{offset:x} ends at 0x{end:x}, beyond {} (the largest flash of the chips \
         flashline supports)",
        show(source_file), show(file), format_size(*limit)
    )]
    BeyondFlash { source_file: PathBuf, file: PathBuf, offset: u32, end: u64, limit: u32 },

    #[error("{}: {}", show(file), Escaped(message))]
    Malformed { file: PathBuf, message: String },

    #[error("golden image {} contains no data", show(source_file))]
    Empty { source_file: PathBuf },

    #[error("golden image file {} is empty (0 bytes)", show(file))]
    EmptyFile { file: PathBuf },

    #[error(
        "golden image file {} is corrupt: its SHA-256 is {found}, the manifest {} says {expected}",
        show(file),
        show(manifest)
    )]
    FileDigest { file: PathBuf, manifest: PathBuf, expected: Sha256Digest, found: Sha256Digest },

    #[error("golden image file {} is {found} bytes long, the manifest {} says {expected}", show(file), show(manifest))]
    FileLength { file: PathBuf, manifest: PathBuf, expected: u64, found: u64 },

    #[error("{}: offset 0x{offset:x} of {} is not 4-byte aligned", show(source_file), show(file))]
    Misaligned { source_file: PathBuf, file: PathBuf, offset: u32 },

    #[error(
        "{}: {} (0x{:x}..0x{:x}) overlaps {} (0x{:x}..0x{:x})",
        show(source_file), show(first), first_range.0, first_range.1,
        show(second), second_range.0, second_range.1
    )]
    Overlap { source_file: PathBuf, first: PathBuf, first_range: (u64, u64), second: PathBuf, second_range: (u64, u64) },

    #[error(
        "{}: {} ends at 0x{first_end:x} and {} starts at 0x{second_start:x}, inside the same 4 KiB \
         flash sector 0x{sector:x}: erasing one would wipe the other",
        show(source_file),
        show(first),
        show(second)
    )]
    SharedSector {
        source_file: PathBuf,
        first: PathBuf,
        first_end: u64,
        second: PathBuf,
        second_start: u64,
        sector: u64,
    },

    #[error(
        "golden image {} does not fit: it ends at 0x{end:x} ({}) but the flash holds {}",
        show(source_file), format_size_u64(*end), format_size(*flash_size)
    )]
    TooLarge { source_file: PathBuf, end: u64, flash_size: u32 },

    #[error("golden image {} is for {}, but the config expects {expected}", show(file), Escaped(declared))]
    ChipMismatch { file: PathBuf, declared: String, expected: Chip },

    #[error(
        "{}: no ESP image header at the {chip} bootloader offset 0x{offset:x} (byte 0x{found:02x}, expected 0xe9): \
         wrong chip family or not a bootloader",
        show(file)
    )]
    NoBootloaderHeader { file: PathBuf, chip: Chip, offset: u32, found: u8 },

    /// The flasher could not turn the regions into what it sends (compression, block split).
    #[error("golden image {} cannot be prepared for flashing: {}", show(file), Escaped(reason))]
    Prepare { file: PathBuf, reason: String },

    #[error(
        "golden image changed on disk: expected sha256 {expected}, found {found} ({}); \
         if the new image is intended, put the new digest in [image] sha256",
        show(source_file)
    )]
    PinMismatch { source_file: PathBuf, expected: Sha256Digest, found: Sha256Digest },
}

fn named_in(from: &Option<PathBuf>) -> String {
    from.as_ref().map(|f| format!(" (named in {})", show(f))).unwrap_or_default()
}

fn format_size_u64(n: u64) -> String {
    u32::try_from(n).map(format_size).unwrap_or_else(|_| format!("{n}B"))
}

impl ImageError {
    /// Golden image problems all stop the daemon with the same status.
    pub fn exit_code(&self) -> Exit {
        Exit::Image
    }

    /// Wraps an io error on `file` (named in `from`), telling a missing file apart from an
    /// unreadable one.
    pub(crate) fn io(file: PathBuf, from: &Path, source: io::Error) -> ImageError {
        ImageError::read(file, from, ReadError::from(source))
    }

    /// Why `file` (named in `from`) could not be read.
    pub(crate) fn read(file: PathBuf, from: &Path, error: ReadError) -> ImageError {
        let named_in = (from != file).then(|| from.to_path_buf());
        match error {
            ReadError::NotFound => ImageError::Missing { file, from: named_in },
            ReadError::NotRegular { kind } => ImageError::NotRegularFile { file, kind, from: named_in },
            ReadError::TooLarge { size, limit } => ImageError::FileTooLarge { file, size, limit },
            ReadError::NotText => ImageError::Malformed { file, message: "not UTF-8 text".into() },
            ReadError::Io(source) => ImageError::Unreadable { file, source },
        }
    }
}
