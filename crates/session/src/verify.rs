//! Verifying a board against an image: on-chip MD5 per region, optionally a full
//! read-back compared by SHA-256.

use crate::connection::Connection;
use crate::error::{Error, Result, Stage};
use crate::image::{hex, sha256, PreparedImage};
use crate::progress::Progress;
use crate::read::read_flash;
use crate::transport::Transport;
use crate::write::chip_md5_expecting;
use flashline_protocol::Chip;

/// Options of [`crate::Flasher::verify`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct VerifyOptions {
    /// Also read every region back and compare SHA-256 (slow: link-bound).
    pub readback: bool,
}

/// Result of verifying one region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegionVerify {
    pub offset: u32,
    pub len: u32,
    pub md5_ok: bool,
    pub chip_md5: [u8; 16],
    /// `Some` when a read-back was done.
    pub readback_sha256: Option<[u8; 32]>,
}

/// Checks every region; returns per-region results, or the first mismatch as an error.
pub(crate) async fn verify_image<T: Transport>(
    conn: &mut Connection<T>,
    chip: Chip,
    image: &PreparedImage,
    opts: VerifyOptions,
    progress: &Progress,
) -> Result<Vec<RegionVerify>> {
    conn.set_stage(Stage::Verify);
    if !conn.is_stub() && !chip.spec().rom_is_esp32_class {
        return Err(Error::NeedsStub { stage: Stage::Verify, chip, what: "verifying flash (MD5)" });
    }
    let total = image.total_len();
    let mut done = 0;
    let mut out = Vec::new();
    for r in &image.regions {
        conn.set_stage(Stage::Verify);
        let got = chip_md5_expecting(conn, r.offset, r.len(), &r.md5).await?;
        if got != r.md5 {
            return Err(Error::VerifyMismatch {
                offset: r.offset,
                len: r.len(),
                expected: hex(&r.md5),
                actual: hex(&got),
            });
        }
        let readback_sha256 = if opts.readback {
            let data = read_flash(conn, chip, r.offset, r.len(), progress, Stage::Verify).await?;
            let sha = sha256(&data);
            if sha != r.sha256 {
                return Err(Error::ReadbackMismatch {
                    offset: r.offset,
                    len: r.len(),
                    expected: hex(&r.sha256),
                    actual: hex(&sha),
                });
            }
            Some(sha)
        } else {
            None
        };
        done += r.len() as u64;
        progress.report(Stage::Verify, done, total);
        out.push(RegionVerify { offset: r.offset, len: r.len(), md5_ok: true, chip_md5: got, readback_sha256 });
    }
    Ok(out)
}
