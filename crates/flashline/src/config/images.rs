//! What a station flashes: one golden image per chip family.
//!
//! Two spellings, one meaning. A station for one chip keeps the `[image]` table it always
//! had (its `chip` key names the family). A station for several chips gives one table per
//! family, named by the chip: `[images.esp32]`, `[images.esp32s3]`, ... with the same
//! keys as `[image]` (`chip` may be left out: the table's name says it). Both validate
//! into [`Images`]; the station picks the image for a board by the chip it identifies.

use std::collections::BTreeMap;

use flashline_protocol::Chip;
use toml::Spanned;

use super::sections::{ImageConfig, RawImage};
use super::{ConfigError, Ctx};

/// The station's images, one per chip family, at least one, in chip order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Images(Vec<ImageConfig>);

/// The `[images]` table as written: chip name → image table.
pub(super) type RawImages = BTreeMap<Spanned<String>, Spanned<RawImage>>;

impl Images {
    /// One image (what `[image]` gives).
    pub fn one(image: ImageConfig) -> Images {
        Images(vec![image])
    }

    /// Validates `[image]` or `[images.CHIP]` (exactly one of the two forms).
    pub(super) fn validate(
        image: Option<Spanned<RawImage>>,
        images: Option<Spanned<RawImages>>,
        ctx: &Ctx,
    ) -> Result<Images, ConfigError> {
        match (image, images) {
            (Some(one), None) => {
                let span = one.span();
                Ok(Images::one(one.into_inner().validate(ctx, "[image]", span, None)?))
            }
            (None, Some(many)) => Self::validate_many(many, ctx),
            (Some(_), Some(many)) => ctx.err(
                many.span(),
                "[images]",
                "[image] is already set: give one [image] table (one chip) or [images.CHIP] tables (one per chip \
                 family), not both",
            ),
            (None, None) => ctx.err(
                0..0,
                "[image]",
                "say what to flash: an [image] table (one chip family) or [images.CHIP] tables (one per chip family)",
            ),
        }
    }

    fn validate_many(many: Spanned<RawImages>, ctx: &Ctx) -> Result<Images, ConfigError> {
        let span = many.span();
        let mut out: Vec<ImageConfig> = Vec::new();
        let mut tables: Vec<String> = Vec::new();
        for (name, raw) in many.into_inner() {
            let table = format!("[images.{}]", crate::text::Escaped(name.get_ref()));
            let chip: Chip = match name.get_ref().parse() {
                Ok(c) => c,
                Err(e) => return ctx.err(name.span(), &table, format!("{e}: name the table after a chip family")),
            };
            if let Some(i) = out.iter().position(|i| i.chip == chip) {
                return ctx.err(
                    name.span(),
                    &table,
                    format!("a second image for {chip} ({} is the first): one table per chip family", tables[i]),
                );
            }
            let raw_span = raw.span();
            out.push(raw.into_inner().validate(ctx, &table, raw_span, Some(chip))?);
            tables.push(table);
        }
        if out.is_empty() {
            return ctx.err(span, "[images]", "no image: add an [images.CHIP] table per chip family");
        }
        out.sort_by_key(|i| i.chip);
        Ok(Images(out))
    }

    /// The images, in chip order.
    pub fn iter(&self) -> std::slice::Iter<'_, ImageConfig> {
        self.0.iter()
    }

    /// The chip families the station flashes, in order.
    pub fn chips(&self) -> Vec<Chip> {
        self.0.iter().map(|i| i.chip).collect()
    }

    /// The image for `chip`, if the station has one.
    pub fn get(&self, chip: Chip) -> Option<&ImageConfig> {
        self.0.iter().find(|i| i.chip == chip)
    }

    /// The image when there is exactly one (a station of one chip family).
    pub fn single(&self) -> Option<&ImageConfig> {
        match self.0.as_slice() {
            [one] => Some(one),
            _ => None,
        }
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Never true: a config has at least one image.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<'a> IntoIterator for &'a Images {
    type Item = &'a ImageConfig;
    type IntoIter = std::slice::Iter<'a, ImageConfig>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}
