//! Stub READ_FLASH streaming: raw data frames of `packet_size`, each acknowledged by the
//! host with a 4-byte frame carrying the total received so far; after the last ack one
//! 16-byte frame with the MD5 of everything sent.

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
    md5: Md5,
}

impl ReadJob {
    pub fn new(offset: u32, len: u32, packet: u32, limit: u32) -> Self {
        Self { next: offset, end: offset.saturating_add(len), packet, sent: 0, acked: 0, limit, md5: Md5::new() }
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

    /// A frame while streaming: the host's ack.
    pub(crate) fn on_read_ack(&mut self, frame: &[u8], t: Duration) {
        let Some(job) = self.read.as_mut() else { return };
        let Ok(bytes) = <[u8; 4]>::try_from(frame) else {
            return; // not an ack; the stub keeps waiting
        };
        job.acked = u32::from_le_bytes(bytes).min(job.sent);
        self.clock.cpu = self.clock.cpu.max(t);
        self.pump_read();
    }
}
