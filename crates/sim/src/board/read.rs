//! Stub READ_FLASH streaming: raw data frames of `packet_size`, each acknowledged by the
//! host with a 4-byte frame carrying the total received so far; after the last ack one
//! 16-byte frame with the MD5 of everything sent.
//!
//! What each stub does with a frame that is not an acknowledgement (a new host's SYNC
//! after the old one vanished mid-read), from their sources:
//!
//! - esp-flasher-stub (`command_handler.c`, `s_read_flash_post_process`): a frame of any
//!   other size than 4 `break`s the read loop; the stub sends the MD5 of what it sent and
//!   returns to its command loop, which releases that frame unhandled. So the first SYNC
//!   is swallowed (answered by the 16-byte digest) and the next one is answered.
//! - esptool's legacy stub (`stub_flasher.c`, `handle_flash_read`): `SLIP_recv` copies at
//!   most 4 bytes of any frame and returns how many it copied; fewer than 4 end the read,
//!   otherwise the first 4 bytes are taken as the acknowledged total, and the loop runs
//!   while that total is below the length and not above what was sent. A SYNC's first
//!   bytes read as 0x0024_0800, so it ends any read shorter than that or not yet that far;
//!   an acknowledgement of `u32::MAX` ends every read.

use super::Board;
use md5::{Digest, Md5};
use std::time::Duration;

/// A READ_FLASH in progress.
pub(crate) struct ReadJob {
    next: u32,
    end: u32,
    len: u32,
    packet: u32,
    sent: u32,
    acked: u32,
    /// Bytes allowed in flight (legacy: the request's value; new stub: 1 = one packet).
    limit: u32,
    /// esp-flasher-stub: a frame that is not 4 bytes long ends the read (else: legacy).
    ends_on_other_frame: bool,
    md5: Md5,
}

impl ReadJob {
    pub fn new(offset: u32, len: u32, packet: u32, limit: u32, ends_on_other_frame: bool) -> Self {
        let end = offset.saturating_add(len);
        Self {
            next: offset,
            end,
            len: end - offset,
            packet,
            sent: 0,
            acked: 0,
            limit,
            ends_on_other_frame,
            md5: Md5::new(),
        }
    }
}

impl Board {
    /// Sends packets while the in-flight window allows; sends the digest when done.
    pub(crate) fn pump_read(&mut self) {
        let boosted = self.regs.boosted;
        loop {
            let Some(job) = self.read.as_mut() else { return };
            if job.next < job.end && job.sent - job.acked < job.limit {
                let n = job.packet.min(job.end - job.next);
                let data = match self.flash.read(job.next, n) {
                    Ok(d) => d,
                    Err(_) => {
                        self.read = None;
                        return;
                    }
                };
                job.md5.update(&data);
                job.next += n;
                job.sent += n;
                self.clock.cpu += self.timing.read(n as u64, boosted) + self.timing.md5(n as u64, boosted);
                let at = self.clock.cpu;
                self.send_frame(at, &data);
                continue;
            }
            if job.next >= job.end && job.acked >= job.sent {
                let Some(job) = self.read.take() else { return };
                let digest: [u8; 16] = job.md5.finalize().into();
                let at = self.clock.cpu;
                self.send_frame(at, &digest);
            }
            return;
        }
    }

    /// A frame while streaming (the host's ack, or a new host's command): always taken by
    /// the read loop, never handled as a command.
    pub(crate) fn on_read_ack(&mut self, frame: &[u8], t: Duration) {
        let Some(job) = self.read.as_mut() else { return };
        self.clock.cpu = self.clock.cpu.max(t);
        let ack = frame.get(..4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
        let ends = if job.ends_on_other_frame {
            match ack.filter(|_| frame.len() == 4) {
                Some(total) => {
                    job.acked = total.min(job.sent);
                    false
                }
                None => true,
            }
        } else {
            match ack {
                // The legacy loop: `while (num_acked < len && num_acked <= num_sent)`.
                Some(total) => {
                    job.acked = total.min(job.sent);
                    total >= job.len || total > job.sent
                }
                None => true,
            }
        };
        if ends {
            if let Some(job) = self.read.take() {
                let digest: [u8; 16] = job.md5.finalize().into();
                let at = self.clock.cpu;
                self.send_frame(at, &digest);
            }
            return;
        }
        self.pump_read();
    }
}
