//! The station's configuration: `flashline run --config FILE`.
//!
//! TOML, unknown keys rejected everywhere: a misspelled `skip_identicall = true` must stop
//! the line, not be ignored. Every error names the file, line, column and key. Relative
//! paths are relative to the config file's directory and made absolute at load, so the
//! daemon behaves the same whatever its working directory (systemd starts it in `/`).
//!
//! The file is input like any other: it is read only if it is a regular file of at most
//! [`MAX_CONFIG_SIZE`], names that end up in audit rows (station id, slot names) must be
//! printable, and every value echoed in an error is escaped (see [`crate::text`]).
//!
//! The commented reference is `config/flashline.toml` at the repository root.

pub mod boot;
mod database;
pub mod error;
pub mod http;
mod images;
mod provision;
pub mod recovery;
mod sections;
mod slot_location;
mod slots;
pub mod types;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

pub use boot::{BootConfig, BootPattern};
pub use database::check_database_path;
pub use error::ConfigError;
pub use http::HttpConfig;
pub use images::Images;
pub use recovery::{PowerCycle, RecoveryConfig};
pub use sections::{
    CentralConfig, CentralPassword, DevicesConfig, FlashConfig, ImageConfig, LogConfig, LogFormat, LogLevel,
    UnmappedPorts, VerifyMode,
};
pub use slots::{Slot, Slots};
pub use types::{Baud, ByteSize, DiskSize, Offset};

use crate::input_file::{read_text, Symlinks};
use crate::text::needs_escape;

/// Where the audit database goes when the config does not say (systemd `StateDirectory=`).
pub const DEFAULT_DATABASE: &str = "/var/lib/flashline/audit.sqlite";
/// Boards flashed at once when the config does not say: more than one hub's worth, few
/// enough that a slow USB controller does not time out every job at once.
pub const DEFAULT_MAX_JOBS: usize = 16;
/// Upper bound for `max_jobs`.
pub const MAX_JOBS_LIMIT: usize = 256;
/// Smallest `database_max_size`: a limit in bytes where megabytes were meant would stop
/// the line at its first board.
pub const MIN_DATABASE_SIZE: u64 = 64 << 10;
/// Largest config file read: a station config is a few KB; anything near this is not one.
pub const MAX_CONFIG_SIZE: u64 = 1 << 20;

/// A validated configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Station id, written into every audit row.
    pub station: String,
    /// Audit database (SQLite): an absolute path naming a file (never empty, `:memory:`, a
    /// URI or a directory).
    pub database: PathBuf,
    /// Size the audit database may grow to (`None`: the disk is the limit). Reaching it
    /// holds new jobs, like a full disk; it may change on reload.
    pub database_max_size: Option<u64>,
    /// Boards flashed in parallel.
    pub max_jobs: usize,
    /// What boards get: one golden image per chip family (`[image]` or `[images.CHIP]`).
    pub images: Images,
    pub flash: FlashConfig,
    pub devices: DevicesConfig,
    pub slots: Slots,
    pub log: LogConfig,
    pub http: HttpConfig,
    pub recovery: RecoveryConfig,
    /// The central audit record rows are forwarded to, if any.
    pub central: Option<CentralConfig>,
    /// Per-device serial numbers and NVS data (`[provision]`).
    pub provision: crate::provision::Provisioning,
    /// The post-flash boot check (`[boot]`), if any.
    pub boot: Option<BootConfig>,
    /// The file this was read from.
    path: PathBuf,
}

/// The file as written; validated into [`Config`].
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    station: Spanned<String>,
    #[serde(default)]
    database: Option<Spanned<String>>,
    #[serde(default)]
    database_max_size: Option<Spanned<types::DiskSize>>,
    #[serde(default)]
    max_jobs: Option<Spanned<usize>>,
    #[serde(default)]
    image: Option<Spanned<sections::RawImage>>,
    #[serde(default)]
    images: Option<Spanned<images::RawImages>>,
    #[serde(default)]
    flash: sections::RawFlash,
    #[serde(default)]
    devices: sections::RawDevices,
    #[serde(default)]
    slots: BTreeMap<Spanned<String>, Spanned<toml::Value>>,
    #[serde(default)]
    log: LogConfig,
    #[serde(default)]
    http: http::RawHttp,
    #[serde(default)]
    recovery: RecoveryConfig,
    #[serde(default)]
    central: Option<sections::RawCentral>,
    #[serde(default)]
    provision: provision::RawProvision,
    #[serde(default)]
    boot: Option<boot::RawBoot>,
}

impl Config {
    /// Reads and validates the config file at `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = read_text(path, MAX_CONFIG_SIZE, Symlinks::Follow)
            .map_err(|source| ConfigError::Read { file: path.to_path_buf(), source })?;
        Config::parse(&text, path)
    }

    /// Validates config `text`; `path` names it in errors and anchors relative paths (a
    /// relative `path` is taken from the working directory, once, here).
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let de =
            toml::de::Deserializer::parse(text).map_err(|e| ConfigError::at(path, text, e.span(), "", e.message()))?;
        let raw: RawConfig = serde_path_to_error::deserialize(de).map_err(|e| {
            let key = error::display_key(&e.path().to_string());
            ConfigError::at(path, text, e.inner().span(), &key, e.inner().message())
        })?;
        let dir = path.parent().unwrap_or(Path::new(""));
        let base = if dir.as_os_str().is_empty() { std::env::current_dir() } else { std::path::absolute(dir) }
            .map_err(|e| {
                ConfigError::at(path, text, None, "", format!("cannot make the config's directory absolute: {e}"))
            })?;
        let ctx = Ctx { path, text, base: &base };
        let station = ctx.station(raw.station)?;
        let database = database::validate(raw.database, &ctx)?;
        let database_max_size = ctx.database_max_size(raw.database_max_size)?;
        let max_jobs = ctx.max_jobs(raw.max_jobs)?;
        let images = Images::validate(raw.image, raw.images, &ctx)?;
        let flash = raw.flash.validate(&ctx)?;
        let devices = raw.devices.validate(&ctx)?;
        let slots = Slots::validate(raw.slots, &ctx)?;
        let http = raw.http.validate(&ctx)?;
        let central = raw.central.map(|c| c.validate(&ctx)).transpose()?;
        let sample = crate::provision::BoardFacts {
            mac: "FF:FF:FF:FF:FF:FF".into(),
            serial: None,
            station: station.clone(),
            slot: slots.iter().map(|s| s.name.clone()).max_by_key(String::len).unwrap_or_default(),
            chip: images.chips().into_iter().map(|c| c.file_name()).max_by_key(|n| n.len()).unwrap_or_default().into(),
        };
        let provision = raw.provision.validate(&ctx, &sample)?;
        let boot = raw.boot.map(|b| b.validate(&ctx)).transpose()?;
        Ok(Config {
            station,
            database,
            database_max_size,
            max_jobs,
            images,
            flash,
            devices,
            slots,
            log: raw.log,
            http,
            recovery: raw.recovery,
            central,
            provision,
            boot,
            path: path.to_path_buf(),
        })
    }

    /// The file this configuration was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Re-reads the file this configuration came from (the daemon calls this on SIGHUP).
    ///
    /// Returns the new configuration, or an error while `self` stays in force. The station
    /// id and the database cannot change on reload: audit rows of one run must not be split
    /// across stations or files without a restart.
    pub fn reload(&self) -> Result<Config, ConfigError> {
        let new = Config::load(&self.path)?;
        let refuse = |key: &str, old: String, new: String| ConfigError::RestartRequired {
            file: self.path.clone(),
            key: key.to_string(),
            old,
            new,
        };
        if new.station != self.station {
            return Err(refuse("station", format!("'{}'", self.station), format!("'{}'", new.station)));
        }
        if new.central != self.central {
            let show = |c: &Option<CentralConfig>| c.as_ref().map_or("none".to_string(), |c| c.url.clone());
            return Err(refuse("[central]", show(&self.central), show(&new.central)));
        }
        if new.database != self.database {
            return Err(refuse("database", self.database.display().to_string(), new.database.display().to_string()));
        }
        Ok(new)
    }
}

/// Same as [`Config::reload`].
pub fn reload(current: &Config) -> Result<Config, ConfigError> {
    current.reload()
}

/// What validation needs to know about the file.
pub(crate) struct Ctx<'a> {
    path: &'a Path,
    text: &'a str,
    base: &'a Path,
}

impl Ctx<'_> {
    pub(crate) fn err<T>(
        &self,
        span: std::ops::Range<usize>,
        key: &str,
        message: impl Into<String>,
    ) -> Result<T, ConfigError> {
        Err(ConfigError::at(self.path, self.text, Some(span), key, message))
    }

    pub(crate) fn resolve(&self, p: &Path) -> PathBuf {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.base.join(p)
        }
    }

    fn station(&self, s: Spanned<String>) -> Result<String, ConfigError> {
        let span = s.span();
        let v = s.into_inner();
        if v.trim().is_empty() {
            return self.err(
                span,
                "station",
                "the station id is empty; name this station (it goes into every audit row)",
            );
        }
        if v.chars().count() > 64 || v.chars().any(needs_escape) {
            return self.err(
                span,
                "station",
                format!("'{v}' is not a usable station id (at most 64 printable characters)"),
            );
        }
        Ok(v)
    }

    fn database_max_size(&self, v: Option<Spanned<types::DiskSize>>) -> Result<Option<u64>, ConfigError> {
        let Some(v) = v else { return Ok(None) };
        let n = v.get_ref().0;
        if n < MIN_DATABASE_SIZE {
            return self.err(
                v.span(),
                "database_max_size",
                format!("{n} bytes is too small for an audit database (at least 64KB; units: KB, MB, GB)"),
            );
        }
        Ok(Some(n))
    }

    fn max_jobs(&self, v: Option<Spanned<usize>>) -> Result<usize, ConfigError> {
        let Some(v) = v else { return Ok(DEFAULT_MAX_JOBS) };
        let n = *v.get_ref();
        if !(1..=MAX_JOBS_LIMIT).contains(&n) {
            return self.err(v.span(), "max_jobs", format!("{n} is out of range (1 to {MAX_JOBS_LIMIT})"));
        }
        Ok(n)
    }
}

#[cfg(test)]
mod hostile_tests;
#[cfg(test)]
mod images_tests;
#[cfg(test)]
mod provision_tests;
#[cfg(test)]
mod test_base;
#[cfg(test)]
mod tests;
