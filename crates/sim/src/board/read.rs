//! Stub READ_FLASH streaming: raw data frames of `packet_size`, each acknowledged by the
//! host with a 4-byte frame carrying the total received so far; after the last ack one
//! 16-byte frame with the MD5 of everything sent.
//!
//! A frame that is not an acknowledgement (a new host's SYNC after the old one vanished
//! mid-read) ends the new stub's read loop: esp-flasher-stub's read handler `break`s on a
//! frame of another size, sends the MD5 of what it sent and takes that frame as its next
//! command. The legacy stub keeps waiting for acknowledgements.

use super::Board;
use md5::{Digest, Md5};
use std::time::Duration;

/// A READ_FLASH in progress.
pub(crate) struct ReadJob {
    next: u32,
    end: u32,
    packet: u32,
    sent: u32,
    acked: u32,
    /// Bytes allowed in flight (legacy: the request's value; new stub: 1 = one packet).
    limit: u32,
    /// A frame that is not an acknowledgement ends the read (the new stub).
    ends_on_other_frame: bool,
    md5: Md5,
}

impl ReadJob {
    pub fn new(offset: u32, len: u32, packet: u32, limit: u32, ends_on_other_frame: bool) -> Self {
        let end = offset.saturating_add(len);
        Self { next: offset, end, packet, sent: 0, acked: 0, limit, ends_on_other_frame, md5: Md5::new() }
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

    /// A frame while streaming: the host's ack. Returns `false` when the frame ended the
    /// read instead (new stub, not an ack): the caller handles it as a command.
    pub(crate) fn on_read_ack(&mut self, frame: &[u8], t: Duration) -> bool {
        let Some(job) = self.read.as_mut() else { return false };
        let Ok(bytes) = <[u8; 4]>::try_from(frame) else {
            if !job.ends_on_other_frame {
                return true; // not an ack; the legacy stub keeps waiting
            }
            let Some(job) = self.read.take() else { return false };
            let digest: [u8; 16] = job.md5.finalize().into();
            self.clock.cpu = self.clock.cpu.max(t);
            let at = self.clock.cpu;
            self.send_frame(at, &digest);
            return false;
        };
        job.acked = u32::from_le_bytes(bytes).min(job.sent);
        self.clock.cpu = self.clock.cpu.max(t);
        self.pump_read();
        true
    }
}
