//! What a board run writes and how, decided before any board is touched: the daemon
//! builds it from the station config ([`Plan::from_config`]), `flashline flash` from the
//! same config (when given) and then its options.

use std::sync::Arc;

use flashline_session::{After, BlankSkip, FlasherConfig, StubSet, WriteOptions};

use crate::config::{BootConfig, Config, PowerCycle, VerifyMode};
use crate::provision::StationProvisioning;
use crate::station::{Golden, GoldenSet};

/// Everything resolved before the board is touched.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The images, one per chip family: checked, prepared once, shared by every board;
    /// a board gets its chip's ([`GoldenSet::for_chip`], at identify).
    pub images: Arc<GoldenSet>,
    /// Connect, reset, stub and baud settings.
    pub flasher: FlasherConfig,
    /// Blank-skip, skip-identical, pipelining.
    pub write: WriteOptions,
    pub verify: VerifyMode,
    pub after: After,
    /// Erase the whole flash before writing (nothing of a used board survives).
    pub erase_all: bool,
    /// Skip the checks that go beyond "it fits": the bootloader header's chip and the
    /// flash size the image declares.
    pub force: bool,
    /// Refuse a board with less flash than the image's header declares. One-off commands
    /// check it (unless forced); a station leaves the decision to its `[image]
    /// min_flash_size` (a line may flash 1 MB modules with an image made for 4 MB).
    pub check_declared_size: bool,
    /// Power-cycle the hub port of a board that did not answer (`[recovery]
    /// power_cycle`; the station only).
    pub power_cycle: PowerCycle,
    /// The post-flash boot check (`[boot]`): after the final hard reset.
    pub boot: Option<BootConfig>,
    /// Per-device serial number and NVS partition (`[provision]`), resolved against the
    /// golden image and the station's store ([`StationProvisioning::resolve`]); `None`:
    /// every board gets the golden image only.
    pub provision: Option<Arc<StationProvisioning>>,
}

impl Plan {
    /// The plan a station config describes. Every `[flash]` key lands here: `baud`,
    /// `baud_fallback`, `reset` (session), `skip_blank`, `skip_identical` (write),
    /// `verify`, `after`; `stub_dir` through `stubs`; `[image] chip` through the golden
    /// images (one image: boards of another chip are refused by the session itself).
    pub fn from_config(config: &Config, images: Arc<GoldenSet>, stubs: Option<Arc<StubSet>>) -> Plan {
        let flash = &config.flash;
        let flasher = FlasherConfig {
            before: flash.reset,
            baud: flash.baud.0,
            baud_fallback: Some(flash.baud_fallback.iter().map(|b| b.0).collect()),
            stubs,
            expect_chip: images.expect_chip(),
            accept: images.accept(),
            ..FlasherConfig::default()
        };
        let write = WriteOptions {
            blank_skip: if flash.skip_blank { BlankSkip::Probe } else { BlankSkip::Off },
            skip_identical: flash.skip_identical,
            ..WriteOptions::default()
        };
        Plan {
            images,
            flasher,
            write,
            verify: flash.verify,
            after: flash.after,
            erase_all: false,
            force: false,
            check_declared_size: false,
            power_cycle: config.recovery.power_cycle,
            boot: config.boot.clone(),
            provision: None,
        }
    }

    /// The plan of a one-off command without a station config: the session's defaults,
    /// MD5 verification, hard reset at the end.
    pub fn defaults(golden: Arc<Golden>) -> Plan {
        Plan {
            flasher: FlasherConfig { expect_chip: golden.chip, ..FlasherConfig::default() },
            images: Arc::new(GoldenSet::one(golden)),
            write: WriteOptions::default(),
            verify: VerifyMode::Md5,
            after: After::HardReset,
            erase_all: false,
            force: false,
            check_declared_size: true,
            power_cycle: PowerCycle::Off,
            boot: None,
            provision: None,
        }
    }

    /// The verification method the audit row names.
    pub fn verify_method(&self) -> &'static str {
        match self.verify {
            VerifyMode::Readback => "md5+readback",
            VerifyMode::Md5 => "md5",
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use flashline_session::BeforeReset;

    use super::*;
    use crate::image::{GoldenImage, ImageSource};

    fn golden(dir: &Path) -> Arc<GoldenSet> {
        let bin = dir.join("app.bin");
        std::fs::write(&bin, [0x5Au8; 4096]).unwrap();
        let image = GoldenImage::load(&ImageSource::MergedBin(bin)).unwrap();
        let golden = Golden::from_image(image, Some(flashline_protocol::Chip::Esp32), None).unwrap();
        Arc::new(GoldenSet::one(Arc::new(golden)))
    }

    fn config(flash: &str) -> Config {
        let text = format!(
            "station = \"st1\"\n[image]\nmanifest = \"m.toml\"\nsha256 = \"{}\"\nchip = \"esp32\"\n[flash]\n{flash}",
            "0".repeat(64)
        );
        Config::parse(&text, Path::new("/etc/flashline/flashline.toml")).unwrap()
    }

    /// Every `[flash]` key reaches the setting it documents (each one changed from its
    /// default on its own, so a key that is dropped on the way fails here).
    #[test]
    fn every_flash_key_reaches_the_plan() {
        let dir = tempfile::tempdir().unwrap();
        let g = golden(dir.path());
        let plan = |flash: &str| Plan::from_config(&config(flash), g.clone(), None);
        let d = plan("");
        assert_eq!(d.flasher.baud, 921_600);
        assert_eq!(d.flasher.baud_fallback.as_deref(), Some(&[460_800, 115_200][..]));
        assert_eq!(d.flasher.before, BeforeReset::Auto);
        assert_eq!((d.after, d.verify), (After::HardReset, VerifyMode::Md5));
        assert_eq!((d.write.blank_skip, d.write.skip_identical), (BlankSkip::Probe, false));
        assert_eq!(d.flasher.expect_chip, Some(flashline_protocol::Chip::Esp32));

        assert_eq!(plan("baud = 460800").flasher.baud, 460_800);
        assert_eq!(plan("baud_fallback = [230400]").flasher.baud_fallback.as_deref(), Some(&[230_400][..]));
        assert_eq!(plan("baud_fallback = []").flasher.baud_fallback.as_deref(), Some(&[][..]));
        assert_eq!(plan("reset = \"no-reset\"").flasher.before, BeforeReset::NoReset);
        assert_eq!(plan("reset = \"classic\"").flasher.before, BeforeReset::Classic);
        assert_eq!(plan("after = \"no-reset\"").after, After::NoReset);
        assert_eq!(plan("verify = \"readback\"").verify, VerifyMode::Readback);
        assert_eq!(plan("skip_blank = false").write.blank_skip, BlankSkip::Off);
        assert!(plan("skip_identical = true").write.skip_identical);
    }
}
