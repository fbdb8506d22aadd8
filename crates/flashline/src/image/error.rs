//! Everything that stops a golden image from being used, each naming the file at fault.

use std::io;
use std::path::PathBuf;

use flashline_protocol::flash::format_size;
use flashline_protocol::Chip;

use super::Sha256Digest;
use crate::exit::Exit;

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("golden image file {} is missing{}", file.display(), named_in(from))]
    Missing {
        file: PathBuf,
        /// The description file that names it, if it is not the file itself.
        from: Option<PathBuf>,
    },

    #[error("cannot read golden image file {}: {source}", file.display())]
    Unreadable { file: PathBuf, source: io::Error },

    #[error("{}: {message}", file.display())]
    Malformed { file: PathBuf, message: String },

    #[error("golden image {} contains no data", source_file.display())]
    Empty { source_file: PathBuf },

    #[error("golden image file {} is empty (0 bytes)", file.display())]
    EmptyFile { file: PathBuf },

    #[error(
        "golden image file {} is corrupt: its SHA-256 is {found}, the manifest {} says {expected}",
        file.display(), manifest.display()
    )]
    FileDigest { file: PathBuf, manifest: PathBuf, expected: Sha256Digest, found: Sha256Digest },

    #[error(
        "golden image file {} is {found} bytes long, the manifest {} says {expected}",
        file.display(), manifest.display()
    )]
    FileLength { file: PathBuf, manifest: PathBuf, expected: u64, found: u64 },

    #[error("{}: offset 0x{offset:x} of {} is not 4-byte aligned", source_file.display(), file.display())]
    Misaligned { source_file: PathBuf, file: PathBuf, offset: u32 },

    #[error(
        "{}: {} (0x{:x}..0x{:x}) overlaps {} (0x{:x}..0x{:x})",
        source_file.display(), first.display(), first_range.0, first_range.1,
        second.display(), second_range.0, second_range.1
    )]
    Overlap { source_file: PathBuf, first: PathBuf, first_range: (u64, u64), second: PathBuf, second_range: (u64, u64) },

    #[error(
        "{}: {} ends at 0x{first_end:x} and {} starts at 0x{second_start:x}, inside the same 4 KiB \
         flash sector 0x{sector:x}: erasing one would wipe the other",
        source_file.display(), first.display(), second.display()
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
        source_file.display(), format_size_u64(*end), format_size(*flash_size)
    )]
    TooLarge { source_file: PathBuf, end: u64, flash_size: u32 },

    #[error("golden image {} is for {declared}, but the config expects {expected}", file.display())]
    ChipMismatch { file: PathBuf, declared: String, expected: Chip },

    #[error(
        "{}: no ESP image header at the {chip} bootloader offset 0x{offset:x} (byte 0x{found:02x}, expected 0xe9): \
         wrong chip family or not a bootloader",
        file.display()
    )]
    NoBootloaderHeader { file: PathBuf, chip: Chip, offset: u32, found: u8 },

    /// The flasher could not turn the regions into what it sends (compression, block split).
    #[error("golden image {} cannot be prepared for flashing: {reason}", file.display())]
    Prepare { file: PathBuf, reason: String },

    #[error(
        "golden image changed on disk: expected sha256 {expected}, found {found} ({}); \
         if the new image is intended, put the new digest in [image] sha256",
        source_file.display()
    )]
    PinMismatch { source_file: PathBuf, expected: Sha256Digest, found: Sha256Digest },
}

fn named_in(from: &Option<PathBuf>) -> String {
    from.as_ref().map(|f| format!(" (named in {})", f.display())).unwrap_or_default()
}

fn format_size_u64(n: u64) -> String {
    u32::try_from(n).map(format_size).unwrap_or_else(|_| format!("{n}B"))
}

impl ImageError {
    /// Golden image problems all stop the daemon with the same status.
    pub fn exit_code(&self) -> Exit {
        Exit::Image
    }

    /// Wraps an io error on `file`, telling a missing file apart from an unreadable one.
    pub(crate) fn io(file: PathBuf, from: &std::path::Path, source: io::Error) -> ImageError {
        if source.kind() == io::ErrorKind::NotFound {
            let from = (from != file).then(|| from.to_path_buf());
            ImageError::Missing { file, from }
        } else {
            ImageError::Unreadable { file, source }
        }
    }
}
