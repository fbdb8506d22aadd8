//! What every job of the station shares: the golden image, the audit store, the flasher
//! settings. Immutable; a config reload builds a new one, and running jobs keep theirs.

use std::sync::Arc;

use flashline_audit::AuditStore;
use flashline_session::{BeforeReset, BlankSkip, FlasherConfig, ResetStrategy as SessionReset, StubSet, WriteOptions};
use tokio_util::sync::CancellationToken;

use super::golden::Golden;
use crate::config::{AfterFlash, Config, ResetStrategy, VerifyMode};

/// esptool's short reset delay; with a single configured strategy there is no cycling to
/// the long one, and boards on a production fixture reset cleanly with 50 ms.
const RESET_DELAY: std::time::Duration = std::time::Duration::from_millis(50);

#[derive(Debug)]
pub struct StationContext {
    pub station: String,
    pub golden: Arc<Golden>,
    pub store: AuditStore,
    pub flasher: FlasherConfig,
    pub write: WriteOptions,
    pub verify: VerifyMode,
    pub after: AfterFlash,
    pub max_jobs: usize,
    /// Fires when the daemon shuts down.
    pub shutdown: CancellationToken,
}

impl StationContext {
    /// Builds the context for `config` with an already loaded image and open store.
    pub fn new(
        config: &Config,
        golden: Arc<Golden>,
        store: AuditStore,
        stubs: Option<Arc<StubSet>>,
        shutdown: CancellationToken,
    ) -> StationContext {
        let flash = &config.flash;
        let before = match flash.reset {
            ResetStrategy::Auto => BeforeReset::Auto,
            ResetStrategy::Classic => BeforeReset::Strategy(SessionReset::Classic { delay: RESET_DELAY }),
            ResetStrategy::UnixTight => BeforeReset::Strategy(SessionReset::UnixTight { delay: RESET_DELAY }),
            ResetStrategy::UsbJtagSerial => BeforeReset::Strategy(SessionReset::UsbJtagSerial),
            ResetStrategy::NoReset => BeforeReset::NoReset,
        };
        let flasher = FlasherConfig {
            before,
            baud: flash.baud.0,
            stubs,
            expect_chip: Some(golden.chip),
            ..FlasherConfig::default()
        };
        let write = WriteOptions {
            blank_skip: if flash.skip_blank { BlankSkip::Probe } else { BlankSkip::Off },
            skip_identical: flash.skip_identical,
            ..WriteOptions::default()
        };
        StationContext {
            station: config.station.clone(),
            golden,
            store,
            flasher,
            write,
            verify: flash.verify,
            after: flash.after,
            max_jobs: config.max_jobs,
            shutdown,
        }
    }
}
