//! The board part of the pipeline: connect → identify → checks → provision → (erase) →
//! write → verify → finish, over any [`Transport`].
//!
//! A board's own NVS partition (`[provision]`) is a second image of one region, written
//! after the golden image (and its read-back, when asked) with the same options and
//! verified the same way (MD5, and read back when asked): the golden image's regions keep
//! their blank-skip and re-flash decisions untouched, and the partition gets its own. Its
//! preparation after identify and its write and verify are reported as stage
//! `provision`.

use flashline_audit::{BootRecord, RegionSummary, SkippedRegion};
use flashline_session::{
    After, BeforeReset, BlankSkip, CancellationToken, ChipInfo, Error as SessionError, Flasher, PreparedImage,
    Progress, Reconnect, Stage, Transport, VerifyOptions,
};

use super::boot_check;
use super::checks::check_board;
use super::plan::Plan;
use super::ports::OpenError;
use super::record::{region_summary, skipped_regions};
use crate::config::VerifyMode;
use crate::device::{VidPid, ESPRESSIF_USB_JTAG_SERIAL};
use crate::exit::Exit;
use crate::station::{Golden, NoImageForChip};

/// What a passed board reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flashed {
    pub info: ChipInfo,
    /// Bytes programmed into flash.
    pub written: u64,
    /// Bytes sent over the link (compressed).
    pub sent: u64,
    /// Bytes not written because the board's flash was already blank there.
    pub skipped_blank: u64,
    pub skipped: Vec<SkippedRegion>,
    /// Per region: written, erased, skipped as blank, found identical.
    pub regions: Vec<RegionSummary>,
    pub verify_method: String,
    /// The post-flash boot check, when `[boot]` asked for one.
    pub boot: Option<BootRecord>,
}

/// Why a board run failed.
#[derive(Debug, thiserror::Error)]
pub enum BoardError {
    /// The port could not be opened.
    #[error("{0}")]
    Open(OpenError),
    /// The session failed (no answer, link lost, verify mismatch, ...).
    #[error("{0}")]
    Session(SessionError),
    /// A check of the image against the board refused it.
    #[error("{reason}")]
    Check { stage: Stage, exit: Exit, reason: String },
    /// The station has no image for the board's chip (a station of several chips).
    #[error("{0}")]
    NoImage(NoImageForChip),
    /// The image was written and verified, but the board did not boot it (stage `boot`).
    #[error("boot: {}", .flashed.boot.as_ref().and_then(|b| b.reason.as_deref()).unwrap_or("failed"))]
    Boot { flashed: Box<Flashed> },
    /// Provisioning refused the board before anything was written (no per-device row,
    /// no serial number to give); stage `provision`.
    #[error("{0}")]
    Provision(String),
    /// The session failed while the board's own NVS partition was written or verified
    /// (stage `provision`, the stage progress showed): the link lost, a sector that does
    /// not erase, a verify mismatch.
    #[error("provision: NVS partition: {}", session_reason(.0))]
    ProvisionWrite(SessionError),
}

/// A session error's message without the "stage: " it starts with.
fn session_reason(e: &SessionError) -> String {
    let msg = e.to_string();
    msg.strip_prefix(e.stage().as_str()).and_then(|m| m.strip_prefix(": ")).unwrap_or(&msg).to_string()
}

impl BoardError {
    /// The stage the failure belongs to.
    pub fn stage(&self) -> Stage {
        match self {
            BoardError::Open(_) => Stage::Connect,
            BoardError::Session(e) => e.stage(),
            BoardError::Check { stage, .. } => *stage,
            BoardError::NoImage(_) => Stage::Identify,
            BoardError::Boot { .. } => Stage::Boot,
            BoardError::Provision(_) | BoardError::ProvisionWrite(_) => Stage::Provision,
        }
    }

    /// The port broke or went silent: what an unplugged board looks like from here.
    pub fn may_be_unplug(&self) -> bool {
        match self {
            BoardError::Open(_) => true,
            BoardError::Session(e) | BoardError::ProvisionWrite(e) => e.is_link_loss(),
            _ => false,
        }
    }

    /// The session's error, whichever stage it failed in.
    pub fn session(&self) -> Option<&SessionError> {
        match self {
            BoardError::Session(e) | BoardError::ProvisionWrite(e) => Some(e),
            _ => None,
        }
    }

    /// The reason without the leading "stage: " the session puts in its messages (the
    /// audit row has the stage in its own column).
    pub fn reason(&self) -> String {
        let msg = self.to_string();
        let stage = self.stage();
        msg.strip_prefix(stage.as_str()).and_then(|m| m.strip_prefix(": ")).unwrap_or(&msg).to_string()
    }
}

impl From<SessionError> for BoardError {
    fn from(e: SessionError) -> Self {
        BoardError::Session(e)
    }
}

/// Runs one board over an open link. `on_identified` sees the board, and the image its
/// chip gets (`None`: the station has none for it), before the checks (the audit row
/// records who the board is and what it gets even when it is then refused); `provision`
/// sees it after them and gives its own NVS partition, if any (or refuses it). `reconnect`
/// finds a board again whose port vanishes when it resets (its own USB port; see
/// [`super::reconnect`]); `None` for USB-UART bridges.
#[allow(clippy::too_many_arguments)]
pub async fn flash_board<T, F, Fut, P, PFut>(
    port: T,
    plan: &Plan,
    progress: Progress,
    cancel: CancellationToken,
    reconnect: Option<std::sync::Arc<dyn Reconnect<T>>>,
    on_identified: F,
    provision: P,
) -> Result<Flashed, BoardError>
where
    T: Transport,
    F: FnOnce(ChipInfo, Option<std::sync::Arc<Golden>>) -> Fut,
    Fut: std::future::Future<Output = ()>,
    P: FnOnce(ChipInfo) -> PFut,
    PFut: std::future::Future<Output = Result<Option<PreparedImage>, BoardError>>,
{
    // A chip on its own USB-Serial/JTAG port leaves the bus at the final reset: the boot
    // check reads its console on the port it comes back on.
    let usb = port.usb_ids().map(|(vid, pid)| VidPid::new(vid, pid)) == Some(ESPRESSIF_USB_JTAG_SERIAL)
        || plan.flasher.before == BeforeReset::UsbJtagSerial;
    // The flasher reports its own stages; the partition's write and verify are shown as
    // the provision stage, and what follows it as itself again.
    let base_progress = progress.clone();
    let boot_cancel = cancel.clone();
    let boot_reconnect = reconnect.clone();
    let mut flasher = match Flasher::connect_with(port, &plan.flasher, progress, cancel, reconnect).await {
        Ok(f) => f,
        // A chip with no image, stopped before the stub: recorded, then refused.
        Err(SessionError::NotAccepted { info }) => {
            let refusal = match plan.images.for_chip(info.chip) {
                Err(e) => BoardError::NoImage(e),
                Ok(_) => BoardError::Session(SessionError::NotAccepted { info: info.clone() }),
            };
            on_identified(*info, None).await;
            return Err(refusal);
        }
        Err(e) => return Err(e.into()),
    };
    let info = flasher.info().clone();
    let golden = plan.images.for_chip(info.chip).cloned();
    on_identified(info.clone(), golden.as_ref().ok().cloned()).await;
    let golden = golden.map_err(BoardError::NoImage)?;
    check_board(plan, &golden, &info)?;
    if plan.provision.is_some() {
        base_progress.report(Stage::Provision, 0, 0);
    }
    let nvs = provision(info.clone()).await?;

    let mut write = plan.write.clone();
    if plan.erase_all {
        if flasher.is_stub() {
            flasher.erase_chip().await?;
        } else {
            let size = info.flash.and_then(|f| f.size).unwrap_or(0);
            flasher.erase_region(0, size).await?;
        }
        write.blank_skip = BlankSkip::TrustBlank;
        write.verify = true;
    }
    let prepared = &golden.prepared;
    let readback = plan.verify == VerifyMode::Readback;
    let mut report = flasher.write(prepared, &write).await?;
    if readback {
        flasher.verify(prepared, VerifyOptions { readback: true }).await?;
    }
    if let Some(nvs) = &nvs {
        flasher.set_progress(as_stage(&base_progress, Stage::Provision));
        let own = flasher.write(nvs, &write).await.map_err(BoardError::ProvisionWrite)?;
        report.regions.extend(own.regions);
        if readback {
            flasher.verify(nvs, VerifyOptions { readback: true }).await.map_err(BoardError::ProvisionWrite)?;
        }
        flasher.set_progress(base_progress.clone());
    }
    let port = flasher.finish(plan.after).await?;

    let (mut written, mut sent, mut skipped_blank) = (0, 0, 0);
    for r in &report.regions {
        written += r.written;
        sent += r.sent;
        skipped_blank += r.blank;
    }
    let mut flashed = Flashed {
        info,
        written,
        sent,
        skipped_blank,
        skipped: skipped_regions(&report),
        regions: region_summary(&report),
        verify_method: plan.verify_method().to_string(),
        boot: None,
    };
    // The record goes into the row's `boot` column, hashed from chain version 2 on.
    if let (Some(cfg), After::HardReset) = (&plan.boot, plan.after) {
        base_progress.report(Stage::Boot, 0, 0);
        let outcome = boot_check::check(port, cfg, usb, boot_reconnect, boot_cancel).await?;
        flashed.boot = Some(outcome.record);
        if !outcome.passed {
            return Err(BoardError::Boot { flashed: Box::new(flashed) });
        }
    }
    Ok(flashed)
}

/// `progress` with every report moved to `stage` (bytes done and total kept).
fn as_stage(progress: &Progress, stage: Stage) -> Progress {
    let inner = progress.clone();
    Progress::callback(move |e| inner.report(stage, e.done, e.total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reason_drops_the_stage_prefix() {
        let e = BoardError::Check { stage: Stage::Identify, exit: Exit::Image, reason: "too big".into() };
        assert_eq!(e.reason(), "too big");
        let e = BoardError::Session(SessionError::NoSync { attempts: 3 });
        assert!(!e.reason().starts_with("connect: "), "{}", e.reason());
        assert!(!e.may_be_unplug());
        let e = BoardError::NoImage(NoImageForChip { board: flashline_protocol::Chip::Esp32C6, have: vec![] });
        assert_eq!(e.stage(), Stage::Identify);
        let e = BoardError::Provision("no row for mac 24:0A:C4:00:00:09 in devices.csv".into());
        assert_eq!((e.stage(), e.stage().as_str()), (Stage::Provision, "provision"));
        assert_eq!(e.reason(), "no row for mac 24:0A:C4:00:00:09 in devices.csv");

        // The partition's write failing is the provision stage's failure, named as such.
        let e = BoardError::ProvisionWrite(SessionError::Disconnected { stage: Stage::Write });
        assert_eq!(e.stage(), Stage::Provision);
        assert!(e.may_be_unplug());
        let inner = SessionError::Disconnected { stage: Stage::Write }.to_string();
        assert_eq!(e.reason(), format!("NVS partition: {}", inner.strip_prefix("write: ").unwrap()));
        let e = BoardError::ProvisionWrite(SessionError::SectorNotErased { sector: 0x9000, attempts: 3 });
        assert!(e.reason().starts_with("NVS partition: the flash sector at 0x00009000"), "{}", e.reason());
        assert!(!e.may_be_unplug());
        assert!(e.session().is_some());
    }

    #[test]
    fn a_progress_moved_to_a_stage_keeps_its_bytes() {
        let (p, mut rx) = Progress::channel();
        let moved = as_stage(&p, Stage::Provision);
        moved.report(Stage::Write, 4096, 24576);
        moved.report(Stage::Verify, 0, 0);
        let got: Vec<_> = std::iter::from_fn(|| rx.try_recv().ok()).map(|e| (e.stage, e.done, e.total)).collect();
        assert_eq!(got, [(Stage::Provision, 4096, 24576), (Stage::Provision, 0, 0)]);
    }
}
