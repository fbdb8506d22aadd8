//! The golden image as the station holds it: loaded and checked once, compressed once,
//! shared by every job.

use std::sync::Arc;

use flashline_protocol::Chip;
use flashline_session::{PreparedImage, Region as SessionRegion};

use crate::config::ImageConfig;
use crate::image::{GoldenImage, ImageError, ImageSource};

/// Everything a job needs to know about what it writes.
#[derive(Debug)]
pub struct Golden {
    /// Checked image (regions, digest, fit checks).
    pub image: GoldenImage,
    /// Framed, compressed blocks ready to send (computed once for all boards).
    pub prepared: Arc<PreparedImage>,
    /// Short name for the audit log and the live view (the manifest's file name).
    pub name: String,
    /// The chip family boards must be (the station's `[image] chip`; a one-off flash
    /// without `--chip` or a declared chip takes whatever board answers).
    pub chip: Option<Chip>,
    pub min_flash_size: Option<u32>,
}

impl Golden {
    /// Loads the image the config names, checks its pin, chip and size, and prepares it.
    pub fn load(cfg: &ImageConfig) -> Result<Golden, ImageError> {
        let image = GoldenImage::load_pinned(cfg)?;
        Self::from_image(image, Some(cfg.chip), cfg.min_flash_size)
    }

    /// Prepares an already loaded image (the demo builds its image in memory).
    pub fn from_image(
        image: GoldenImage,
        chip: Option<Chip>,
        min_flash_size: Option<u32>,
    ) -> Result<Golden, ImageError> {
        let regions: Vec<SessionRegion> =
            image.regions().iter().map(|r| SessionRegion::new(r.offset, r.data.clone())).collect();
        let prepared = PreparedImage::with_compression(regions, crate::image::GOLDEN_COMPRESSION)
            .map_err(|e| ImageError::Prepare { file: image.source().path().to_path_buf(), reason: e.to_string() })?;
        let name = image_name(image.source());
        Ok(Golden { image, prepared: Arc::new(prepared), name, chip, min_flash_size })
    }

    /// [`Golden::from_image`] on a blocking thread (compression takes seconds of CPU).
    pub async fn prepare(
        image: GoldenImage,
        chip: Option<Chip>,
        min_flash_size: Option<u32>,
    ) -> Result<Golden, ImageError> {
        let file = image.source().path().to_path_buf();
        tokio::task::spawn_blocking(move || Self::from_image(image, chip, min_flash_size))
            .await
            .unwrap_or_else(|e| Err(ImageError::Prepare { file, reason: format!("preparation panicked: {e}") }))
    }

    pub fn sha256_hex(&self) -> String {
        self.image.sha256().to_hex()
    }
}

fn image_name(source: &ImageSource) -> String {
    source.path().file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "image".into())
}
