//! The checks between identifying a board and writing it: the same for the daemon and
//! `flashline flash` (the image's chip, a known flash size, the image fits, the line's
//! minimum flash size, the flash size the image was built for).

use flashline_protocol::flash::format_size;
use flashline_protocol::Chip;
use flashline_session::{ChipInfo, Stage};

use super::board::BoardError;
use super::plan::Plan;
use crate::exit::Exit;
use crate::image::GoldenImage;
use crate::station::Golden;

/// Checks an image against a chip: the family it declares always, its bootloader
/// header unless `force` (also used before connecting when the chip is given).
pub fn check_image_chip(image: &GoldenImage, chip: Chip, force: bool) -> Result<(), BoardError> {
    let refuse = |reason: String| Err(BoardError::Check { stage: Stage::Identify, exit: Exit::Image, reason });
    if let Some(declared) = image.declared_chip().and_then(|c| c.parse::<Chip>().ok()) {
        if declared != chip {
            return refuse(format!("the image {} is for {declared}, not {chip}", image.source().path().display()));
        }
    }
    if !force {
        if let Err(e) = image.check_chip(chip) {
            return refuse(format!("{e} (--force writes it anyway)").replace("the config expects", "the board is"));
        }
    }
    Ok(())
}

/// Checks `golden` (the image the plan gives the board's chip) against the identified
/// board.
pub fn check_board(plan: &Plan, golden: &Golden, info: &ChipInfo) -> Result<(), BoardError> {
    let image = &golden.image;
    let refuse = |exit, reason: String| Err(BoardError::Check { stage: Stage::Identify, exit, reason });
    check_image_chip(image, info.chip, plan.force)?;
    let Some(size) = info.flash.and_then(|f| f.size) else {
        return refuse(
            Exit::Board,
            "the flash size is unknown (JEDEC id not in the table): refusing to write blind".into(),
        );
    };
    if let Err(e) = image.check_fits(size) {
        return refuse(
            Exit::Image,
            format!("{e}: this image is too large for the board ({} flash)", format_size(size)),
        );
    }
    if let Some(min) = golden.min_flash_size {
        if size < min {
            return refuse(
                Exit::Image,
                format!("board has {} of flash, the line requires at least {}", format_size(size), format_size(min)),
            );
        }
    }
    if let (Some(declared), true) = (image.declared_flash_size(), plan.check_declared_size && !plan.force) {
        if declared > size {
            return refuse(
                Exit::Image,
                format!(
                    "the image was made for {} of flash but the board has {}: its partitions would not fit \
                     (--force writes it anyway)",
                    format_size(declared),
                    format_size(size)
                ),
            );
        }
    }
    Ok(())
}
