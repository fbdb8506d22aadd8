//! The tables of the config file: `[image]`, `[flash]`, `[devices]`, `[log]`.

use std::ops::Range;
use std::path::PathBuf;

use flashline_protocol::Chip;
use flashline_session::{After, BeforeReset};
use serde::{Deserialize, Serialize};
use toml::Spanned;

use super::types::{opt_chip_name, Baud, ByteSize};
use super::{ConfigError, Ctx};
use crate::device::{DeviceFilter, VidPid, DEFAULT_ADAPTERS};
use crate::image::{ImageSource, Sha256Digest};

/// `[image]`: what to flash and what it must be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageConfig {
    pub source: ImageSource,
    /// Canonical digest the image must have (see `image::canonical_digest`).
    pub sha256: Sha256Digest,
    /// Chip family the image is built for; boards of another family are refused.
    pub chip: Chip,
    /// Smallest flash a board may have; the image must fit it.
    pub min_flash_size: Option<u32>,
    /// Region files named by the manifest or `flasher_args.json` may lie outside its
    /// directory (after resolving symbolic links). Off by default: a description file
    /// then cannot make the station read, and write to boards, files from elsewhere.
    pub allow_outside: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawImage {
    manifest: Option<Spanned<PathBuf>>,
    flasher_args: Option<Spanned<PathBuf>>,
    merged_bin: Option<Spanned<PathBuf>>,
    sha256: Sha256Digest,
    /// Required in `[image]`; in `[images.CHIP]` the table's name says it (and a `chip`
    /// key there must agree).
    #[serde(default, with = "opt_chip_name")]
    chip: Option<Spanned<Chip>>,
    #[serde(default)]
    min_flash_size: Option<ByteSize>,
    #[serde(default)]
    allow_outside: bool,
}

impl RawImage {
    /// `table` names the table in errors (`[image]`, `[images.esp32s3]`); `chip` is the
    /// chip its name gives (`None` for `[image]`, whose `chip` key says it).
    pub(super) fn validate(
        self,
        ctx: &Ctx,
        table: &str,
        span: Range<usize>,
        named: Option<Chip>,
    ) -> Result<ImageConfig, ConfigError> {
        let chip = match (self.chip, named) {
            (Some(c), Some(n)) if *c.get_ref() != n => {
                return ctx.err(
                    c.span(),
                    &format!("{table} chip"),
                    format!("the table is for {n} but its chip key says {}: drop the key or fix it", c.get_ref()),
                )
            }
            (Some(c), _) => *c.get_ref(),
            (None, Some(n)) => n,
            (None, None) => {
                return ctx.err(
                    span,
                    table,
                    "say which chip family the image is for: chip = \"esp32\" (or esp32s3, ...)",
                )
            }
        };
        let given: Vec<(&str, Spanned<PathBuf>)> =
            [("manifest", self.manifest), ("flasher_args", self.flasher_args), ("merged_bin", self.merged_bin)]
                .into_iter()
                .filter_map(|(k, v)| v.map(|v| (k, v)))
                .collect();
        let (key, path) = match given.as_slice() {
            [] => {
                return ctx.err(
                    span,
                    table,
                    "say where the golden image is: set one of manifest, flasher_args or merged_bin",
                )
            }
            [(k, p)] => (*k, p),
            [(first, _), (second, p), ..] => {
                return ctx.err(
                    p.span(),
                    &format!("{table} {second}"),
                    format!("{first} is already set: give exactly one of manifest, flasher_args or merged_bin"),
                )
            }
        };
        if path.get_ref().as_os_str().is_empty() {
            return ctx.err(path.span(), &format!("{table} {key}"), "empty path");
        }
        let resolved = ctx.resolve(path.get_ref());
        let source = match key {
            "manifest" => ImageSource::Manifest(resolved),
            "flasher_args" => ImageSource::FlasherArgs(resolved),
            _ => ImageSource::MergedBin(resolved),
        };
        Ok(ImageConfig {
            source,
            sha256: self.sha256,
            chip,
            min_flash_size: self.min_flash_size.map(|s| s.0),
            allow_outside: self.allow_outside,
        })
    }
}

/// How a written image is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum VerifyMode {
    /// The loader computes MD5 of each region on the chip; fast, and what esptool does.
    #[default]
    Md5,
    /// Read every byte back and compare; slow, for qualification runs.
    Readback,
}

/// `[flash]`: how boards are written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlashConfig {
    pub baud: Baud,
    /// Tried in order when the board does not hold `baud` (bad cable, long hub chain).
    pub baud_fallback: Vec<Baud>,
    pub verify: VerifyMode,
    /// Do not send blocks that are all 0xFF (erased flash already reads 0xFF).
    pub skip_blank: bool,
    /// Skip writing a region whose MD5 on the board already matches (re-flashing a good
    /// board). Off by default: a production line wants every board written.
    pub skip_identical: bool,
    /// Directory of flasher stubs (esptool's stub JSON files); `None` for the built-in ones.
    pub stub_dir: Option<PathBuf>,
    /// How a board is put into its serial bootloader (one type with `--before`).
    pub reset: BeforeReset,
    /// What the board does once flashed and verified (one type with `--after`).
    pub after: After,
}

pub const DEFAULT_BAUD: u32 = 921_600;
pub const DEFAULT_BAUD_FALLBACK: [u32; 2] = [460_800, 115_200];

fn default_baud() -> Baud {
    Baud(DEFAULT_BAUD)
}

fn default_true() -> bool {
    true
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFlash {
    #[serde(default = "default_baud")]
    baud: Baud,
    #[serde(default)]
    baud_fallback: Option<Vec<Spanned<Baud>>>,
    #[serde(default)]
    verify: VerifyMode,
    #[serde(default = "default_true")]
    skip_blank: bool,
    #[serde(default)]
    skip_identical: bool,
    #[serde(default)]
    stub_dir: Option<Spanned<PathBuf>>,
    #[serde(default)]
    reset: BeforeReset,
    #[serde(default)]
    after: After,
}

impl Default for RawFlash {
    fn default() -> Self {
        RawFlash {
            baud: default_baud(),
            baud_fallback: None,
            verify: VerifyMode::default(),
            skip_blank: true,
            skip_identical: false,
            stub_dir: None,
            reset: BeforeReset::default(),
            after: After::default(),
        }
    }
}

impl RawFlash {
    pub(super) fn validate(self, ctx: &Ctx) -> Result<FlashConfig, ConfigError> {
        let baud_fallback = match self.baud_fallback {
            None => DEFAULT_BAUD_FALLBACK.iter().copied().filter(|b| *b < self.baud.0).map(Baud).collect(),
            Some(list) => {
                let mut prev = self.baud;
                let mut out = Vec::with_capacity(list.len());
                for (i, b) in list.into_iter().enumerate() {
                    let key = format!("[flash] baud_fallback[{i}]");
                    if b.get_ref().0 >= prev.0 {
                        let what = if out.is_empty() { "baud" } else { "the previous fallback" };
                        return ctx.err(
                            b.span(),
                            &key,
                            format!(
                                "{} must be lower than {what} ({prev}): fallbacks are tried slowest last",
                                b.get_ref()
                            ),
                        );
                    }
                    prev = *b.get_ref();
                    out.push(prev);
                }
                out
            }
        };
        let stub_dir = match self.stub_dir {
            Some(d) if d.get_ref().as_os_str().is_empty() => {
                return ctx.err(d.span(), "[flash] stub_dir", "empty path")
            }
            Some(d) => Some(ctx.resolve(d.get_ref())),
            None => None,
        };
        Ok(FlashConfig {
            baud: self.baud,
            baud_fallback,
            verify: self.verify,
            skip_blank: self.skip_blank,
            skip_identical: self.skip_identical,
            stub_dir,
            reset: self.reset,
            after: self.after,
        })
    }
}

/// What to do with a board on a port that `[slots]` does not name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum UnmappedPorts {
    /// Flash it, named by its USB path.
    #[default]
    Flash,
    /// Leave it alone (a station where only the fixture's ports may be flashed).
    Ignore,
}

/// `[devices]`: which serial adapters are boards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DevicesConfig {
    pub allow: Vec<VidPid>,
    pub unmapped_ports: UnmappedPorts,
}

impl DevicesConfig {
    pub fn filter(&self) -> DeviceFilter {
        DeviceFilter::new(self.allow.iter().copied())
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDevices {
    /// Strings with their spans, parsed here so a bad entry is reported at its own column.
    #[serde(default)]
    allow: Option<Spanned<Vec<Spanned<String>>>>,
    #[serde(default)]
    unmapped_ports: UnmappedPorts,
}

impl RawDevices {
    pub(super) fn validate(self, ctx: &Ctx) -> Result<DevicesConfig, ConfigError> {
        let allow = match self.allow {
            None => DEFAULT_ADAPTERS.iter().map(|(id, _)| *id).collect(),
            Some(list) if list.get_ref().is_empty() => {
                return ctx.err(list.span(), "[devices] allow", "the list is empty, so no board would ever be flashed")
            }
            Some(list) => {
                let mut ids = Vec::with_capacity(list.get_ref().len());
                for (i, entry) in list.into_inner().into_iter().enumerate() {
                    match entry.get_ref().parse::<VidPid>() {
                        Ok(id) => ids.push(id),
                        Err(e) => return ctx.err(entry.span(), &format!("[devices] allow[{i}]"), e),
                    }
                }
                ids
            }
        };
        Ok(DevicesConfig { allow, unmapped_ports: self.unmapped_ports })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LogFormat {
    /// `journald` when systemd connected stderr to the journal, `text` otherwise.
    #[default]
    Auto,
    /// Human-readable lines (journald adds the time).
    Text,
    /// One JSON object per line, for log shippers.
    Json,
    /// Native journal entries with fields (SLOT, MAC, STAGE, RESULT, ...).
    Journald,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LogLevel {
    Error,
    Warn,
    #[default]
    Info,
    Debug,
    Trace,
}

impl LogLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Error => "error",
            LogLevel::Warn => "warn",
            LogLevel::Info => "info",
            LogLevel::Debug => "debug",
            LogLevel::Trace => "trace",
        }
    }
}

/// `[log]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    #[serde(default)]
    pub format: LogFormat,
    #[serde(default)]
    pub level: LogLevel,
}

/// `[central]`: the line's central PostgreSQL audit record this station forwards its
/// completed rows to (`station/forward.rs`). Absent: the station keeps its local log only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CentralConfig {
    /// `postgres://ROLE@HOST[:PORT]/DB[?sslmode=...]`, without a password.
    pub url: String,
    /// Where the role's password is.
    pub password: CentralPassword,
}

/// Where the central role's password comes from: never the config file itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CentralPassword {
    /// A file readable by the daemon's user (first line).
    File(PathBuf),
    /// An environment variable of the daemon (e.g. from a systemd credential).
    Env(String),
    /// None (e.g. TLS client certificates, or `trust` in a test).
    None,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCentral {
    url: Spanned<String>,
    #[serde(default)]
    password_file: Option<Spanned<PathBuf>>,
    #[serde(default)]
    password_env: Option<Spanned<String>>,
}

impl RawCentral {
    pub(super) fn validate(self, ctx: &Ctx) -> Result<CentralConfig, ConfigError> {
        let span = self.url.span();
        let url = self.url.into_inner();
        match flashline_audit::postgres::CentralUrl::parse(&url, None) {
            Err(e) => return ctx.err(span, "[central] url", e.to_string()),
            Ok(_) if url_has_password(&url) => {
                return ctx.err(
                    span,
                    "[central] url",
                    "the URL holds a password; keep it out of the config: set password_file or password_env",
                )
            }
            Ok(_) => {}
        }
        let password = match (self.password_file, self.password_env) {
            (Some(_), Some(env)) => {
                return ctx.err(env.span(), "[central] password_env", "password_file is already set: give one of them")
            }
            (Some(file), None) => CentralPassword::File(ctx.resolve(file.get_ref())),
            (None, Some(env)) if env.get_ref().trim().is_empty() => {
                return ctx.err(env.span(), "[central] password_env", "empty variable name")
            }
            (None, Some(env)) => CentralPassword::Env(env.into_inner()),
            (None, None) => CentralPassword::None,
        };
        Ok(CentralConfig { url, password })
    }
}

/// Whether a `scheme://user:password@host` URL carries a password.
fn url_has_password(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?']).next().unwrap_or("");
    authority.rsplit_once('@').is_some_and(|(userinfo, _)| userinfo.contains(':'))
}
