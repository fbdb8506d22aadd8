//! Everything that stops a partition from being generated, each naming what to change.

use crate::format::{MAX_BLOB_LEN, MAX_NAMESPACES, MAX_STRING_LEN, PAGE_SIZE};

/// Why [`generate`](crate::generate) refused its input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NvsError {
    #[error(
        "NVS partition size {size:#x} is not a multiple of the {PAGE_SIZE:#x}-byte flash page; fix the partition size"
    )]
    SizeNotPageMultiple { size: usize },
    #[error("NVS partition size {size:#x} is smaller than one {PAGE_SIZE:#x}-byte page; give a larger partition")]
    SizeBelowOnePage { size: usize },
    #[error(
        "NVS partition of {size:#x} bytes is too small for these entries: they need {pages} pages, \
         a partition of at least {needed:#x} bytes (read/write NVS keeps one page spare and starts at 0x3000); \
         enlarge the partition or drop entries"
    )]
    PartitionTooSmall { size: usize, pages: usize, needed: usize },
    #[error(
        "string {namespace}/{key} is {len} bytes with its terminating NUL; NVS strings hold at most {MAX_STRING_LEN} \
         (store longer text as a blob)"
    )]
    StringTooLong { namespace: String, key: String, len: usize },
    #[error("string {namespace}/{key} contains a NUL byte, which ends an NVS string; store it as a blob")]
    StringHasNul { namespace: String, key: String },
    #[error(
        "blob {namespace}/{key} is {len} bytes; an NVS blob holds at most {MAX_BLOB_LEN} bytes \
         (127 chunks); shorten it or split it over several keys"
    )]
    BlobTooLong { namespace: String, key: String, len: usize },
    #[error("namespace {namespace:?} is one too many: NVS holds at most {MAX_NAMESPACES} namespaces")]
    TooManyNamespaces { namespace: String },
    #[error("key {key:?} appears twice in namespace {namespace:?}; keep one of them")]
    DuplicateKey { namespace: String, key: String },
}
