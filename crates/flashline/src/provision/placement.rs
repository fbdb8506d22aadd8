//! Where a board's NVS partition goes, per golden image: a station with an image per chip
//! family places `[provision.nvs]` against each image, so a board gets the place its own
//! chip's image expects.
//!
//! The rule, for every image of the station:
//! - `partition`/`partition_table` (or neither offset nor size): the place is the image's
//!   own partition, read from its own table; each image may put it elsewhere.
//! - `offset` and `size`: the same place for every image, so it must suit every image:
//!   when the image's partition table (at the default offset) has data/nvs partitions, the
//!   place must be exactly one of them (else the application never reads what was
//!   written); an image without a table, or whose table has no NVS partition, is not
//!   asked.
//! - Either way the place must not overlap a region of the image (the board would get
//!   the image's bytes or the partition's, depending on the order of writes).
//!
//! A place that breaks the rule for any image is a config error at start and at `config
//! check`, naming the chip and the image.

use flashline_nvs::partition_table::PartitionTable;
use flashline_protocol::Chip;

use super::{NvsPlacement, PlacementError};
use crate::image::GoldenImage;

/// One image of the station, as placement sees it.
#[derive(Debug, Clone, Copy)]
pub struct PlacedImage<'a> {
    /// `None`: an image that takes any chip (a one-off flash naming none).
    pub chip: Option<Chip>,
    pub name: &'a str,
    pub image: &'a GoldenImage,
}

/// The NVS partition's place for the boards of one image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NvsPlace {
    pub chip: Option<Chip>,
    pub offset: u32,
    pub size: u32,
}

/// What is wrong with the place against one image.
#[derive(Debug, thiserror::Error)]
pub enum PlaceProblem {
    #[error("{0}")]
    Placement(#[from] PlacementError),
    #[error(
        "the NVS partition {offset:#x}..{end:#x} overlaps the image's region at {region:#x}..{region_end:#x}; leave \
         the partition out of the image (a merged image: flash its parts with a manifest) or place the partition \
         elsewhere",
        end = *offset as u64 + *size as u64,
        region_end = *region as u64 + *region_len as u64
    )]
    Overlap { offset: u32, size: u32, region: u32, region_len: u32 },
    #[error(
        "offset {offset:#x} and size {size:#x} are not an NVS partition of the image's partition table at \
         {table:#x} (its NVS partitions: {have}); give the place the table gives, or leave offset and size out \
         to take each image's own `nvs` partition"
    )]
    NotInTable { offset: u32, size: u32, table: u32, have: String },
}

/// `[provision.nvs]` does not fit one of the station's images.
#[derive(Debug, thiserror::Error)]
#[error("[provision.nvs] against the {} image {image}: {problem}", chip.map_or("golden".to_string(), |c| c.to_string()))]
pub struct PlaceError {
    pub chip: Option<Chip>,
    pub image: String,
    pub problem: PlaceProblem,
}

/// The place of the NVS partition for each image of `images`, in their order, or the
/// first image it does not fit (see the module docs for the rule).
pub fn place(placement: &NvsPlacement, images: &[PlacedImage<'_>]) -> Result<Vec<NvsPlace>, PlaceError> {
    images
        .iter()
        .map(|i| {
            place_one(placement, i.image)
                .map(|(offset, size)| NvsPlace { chip: i.chip, offset, size })
                .map_err(|problem| PlaceError { chip: i.chip, image: i.name.to_owned(), problem })
        })
        .collect()
}

fn place_one(placement: &NvsPlacement, image: &GoldenImage) -> Result<(u32, u32), PlaceProblem> {
    let (offset, size) = placement.resolve(|at| table_bytes(image, at))?;
    if let NvsPlacement::Fixed { .. } = placement {
        let table = NvsPlacement::DEFAULT_TABLE_OFFSET;
        let nvs: Vec<(u32, u32)> = table_bytes(image, table)
            .and_then(|b| PartitionTable::parse(&b).ok())
            .map(|t| t.partitions.iter().filter(|p| p.is_nvs()).map(|p| (p.offset, p.size)).collect())
            .unwrap_or_default();
        if !nvs.is_empty() && !nvs.contains(&(offset, size)) {
            let have = nvs.iter().map(|(o, s)| format!("{o:#x} size {s:#x}")).collect::<Vec<_>>().join(", ");
            return Err(PlaceProblem::NotInTable { offset, size, table, have });
        }
    }
    let (a0, a1) = (u64::from(offset), u64::from(offset) + u64::from(size));
    for r in image.regions() {
        let (b0, b1) = (u64::from(r.offset), u64::from(r.offset) + r.data.len() as u64);
        if a0 < b1 && b0 < a1 {
            return Err(PlaceProblem::Overlap { offset, size, region: r.offset, region_len: r.data.len() as u32 });
        }
    }
    Ok((offset, size))
}

/// The golden image's bytes from flash address `at` on (the partition table), if a region
/// holds that address.
fn table_bytes(image: &GoldenImage, at: u32) -> Option<Vec<u8>> {
    image.regions().iter().find_map(|r| {
        let start = at.checked_sub(r.offset)? as usize;
        (start < r.data.len()).then(|| r.data[start..].to_vec())
    })
}

#[cfg(test)]
#[path = "placement_tests.rs"]
mod tests;
