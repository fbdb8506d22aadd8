//! Hashing the blank gaps of a sparse write while its data blocks are on the wire.
//!
//! A sparse write on a blank board is link-bound: at 921600 baud a 16 KiB block takes
//! ~0.18 s to arrive and the stub needs ~0.13 s to inflate and program it, so the chip
//! idles a quarter of the time. The gaps' blank check (an on-chip MD5 of every range the
//! sparse plan leaves alone, ~0.7 s per MB) is pure chip work with the link idle. Doing it
//! as a separate step costs its full time; this module schedules it *under* data blocks.
//!
//! # Why it is safe with both stubs
//!
//! The stubs receive into two frame buffers: one being processed, one filling (the new
//! stub's `frame_buffer_acquire` hands out none while both are taken; the legacy stub's
//! UART interrupt would overwrite the one in use). The host never knows when the stub
//! *finishes* a command except from a reply, so a pair is only sent when the stub is
//! provably idle — right after the BEGIN reply, or after the reply to a cheap sync command
//! queued behind the block being processed:
//!
//! ```text
//! host:  [MD5 piece][DATA i ......]            (sync)            [MD5 piece][DATA i+1 ...
//! stub:   MD5 ..........| post-process i ......| reply |          MD5 ..........| ...
//! ```
//!
//! The MD5 occupies one buffer, the data block the other; nothing else is sent until the
//! MD5 reply and the block's ack are in. No timing assumption decides whether a frame may
//! be sent, so a slower or faster chip only changes how much is gained, never correctness.
//! (Timing estimates below only choose piece sizes and whether pairing pays.)
//!
//! # What it gains
//!
//! To pair block i the host must first let the stub finish block i−1 with the link idle
//! (the sync); then the MD5 piece runs while block i arrives. So a pair saves
//! `min(md5 piece, wire(i)) − post(i−1)`: a lot after a block whose post-processing is
//! short, nothing after one that flushes the stub's 32 KiB inflate buffer to flash (~0.15 s
//! of programming on an ESP32). [`SideHashes`] predicts each block's post-processing from
//! how many bytes it inflates and flushes ([`flushed_per_block`]), learns both costs from
//! the syncs, and pairs only where it pays.
//!
//! Once the gaps are hashed, the same places carry the proof of the written runs
//! ([`SideHashes::prove_runs`]): what the stub has flushed is final, so its MD5 under a
//! later block counts as much as one after the write. A piece hashed before the stub wrote
//! it (a wrong flush prediction) does not match and is simply hashed again afterwards.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use flashline_protocol::flash::SECTOR_SIZE;

use crate::image::md5;

/// First guesses until a sync measures them (new stub, blank ESP32): post-processing per
/// inflated byte (inflate, blank-sector reads) and per byte flushed to flash (programming
/// in 32-byte ROM commands).
const FIRST_WORK_PER_BYTE: f64 = 0.6e-6;
const FIRST_WORK_PER_FLUSHED_BYTE: f64 = 4.5e-6;
/// First guess of the on-chip MD5 throughput (B/s) until a piece measures it.
const FIRST_MD5_RATE: f64 = 1.0e6;
/// Pairing must save at least this much per block (host and reply latency eat the rest).
const MIN_GAIN: Duration = Duration::from_millis(8);
/// Gaps shorter than this (the sector before a bootloader) are not worth a pair: a piece
/// never spans two gaps, so it would leave the chip idle under most of the block.
const MIN_PAIRED_GAP: u32 = 16 * 1024;
/// Pieces hash a little longer than the block's wire time, so the chip never waits for it.
const PIECE_STRETCH: f64 = 1.05;
/// The stubs inflate into a 32 KiB buffer (`TINFL_LZ_DICT_SIZE`) and write it to flash
/// when it is full and at the end of the stream.
pub const STUB_INFLATE_BUFFER: u32 = 32 * 1024;

/// Bytes each block of a deflate stream makes the stub write to flash, given what each
/// block inflates to (`yields`).
pub fn flushed_per_block(yields: &[u32]) -> Vec<u32> {
    let buf = STUB_INFLATE_BUFFER as u64;
    let mut total = 0u64;
    let mut out = Vec::with_capacity(yields.len());
    for (i, &y) in yields.iter().enumerate() {
        let before = total / buf;
        total += y as u64;
        let mut flushed = (total / buf - before) * buf;
        if i + 1 == yields.len() {
            flushed += total % buf;
        }
        out.push(flushed as u32);
    }
    out
}

/// A first guess of one 64 KiB block erase (ESP32 new stub: ~0.15 s), to size erase pieces
/// until one is measured.
const FIRST_ERASE_PER_BLOCK: f64 = 0.15;

/// One command sent paired with a data block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SideTask {
    /// MD5 of a range that must be (or, in a sweep, is first checked to be) blank.
    Blank(u32, u32),
    /// Sweep: MD5 of one block of a range found not blank, to tell which blocks are dirty.
    Block(u32, u32),
    /// Sweep: ERASE_REGION of dirty blocks (0xFF in the image).
    Erase(u32, u32),
    /// Sweep: MD5 of erased blocks, taken after their erase: their proof.
    Erased(u32, u32),
    /// Sweep, on its own after the write: a paired ERASE_REGION the stub answered 0xC400
    /// (out of its erase budget), to be made sure of ([`crate::erase::finish_erase`]).
    Retry(u32, u32),
    /// MD5 of a piece of a written run the stub has finished with (its proof), expected
    /// to hash to the image's bytes there ([`SideHashes::prove_runs`]).
    Written(u32, u32),
}

impl SideTask {
    /// (offset, len) of the range the task touches.
    pub fn range(&self) -> (u32, u32) {
        match *self {
            SideTask::Blank(o, l)
            | SideTask::Block(o, l)
            | SideTask::Erase(o, l)
            | SideTask::Erased(o, l)
            | SideTask::Retry(o, l)
            | SideTask::Written(o, l) => (o, l),
        }
    }
}

/// The re-flash's sweep of the 0xFF blocks: a range found not blank is hashed again per
/// block, the dirty blocks are erased and hashed once more after the erase. All of it can
/// ride under data blocks; what is left is done after the write the same way.
#[derive(Debug, Default)]
struct Sweep {
    /// The block unit (ranges are aligned to it).
    block: u32,
    /// Blocks of dirty ranges, to hash one by one.
    singles: VecDeque<(u32, u32)>,
    /// Dirty blocks, to erase.
    erases: VecDeque<(u32, u32)>,
    /// Erased ranges, to hash (their proof).
    proofs: VecDeque<(u32, u32)>,
    /// Every block found dirty (and so erased).
    erased: Vec<(u32, u32)>,
    /// Erased ranges whose proof did not read blank: checked again (twice) at the end.
    recheck: Vec<(u32, u32)>,
    /// Paired erases the stub answered 0xC400 (out of its erase budget): erased again on
    /// their own after the write ([`crate::erase::finish_erase`]).
    retry: VecDeque<(u32, u32)>,
    /// Whether erased blocks are hashed again (the write's `verify`).
    prove: bool,
    /// Measured seconds per erased byte.
    erase_per_byte: f64,
}

/// The written runs of a sparse write, proved under later blocks once the stub is done
/// with them: written data is final (the stub writes forward and erases only ahead of its
/// writes, esp-flasher-stub `s_write_flash_data` / `s_ensure_flash_erased_to`), so its
/// MD5 taken then is as good as one after the write.
#[derive(Debug)]
struct Runs {
    /// The region's offset and bytes (what the runs must hash to).
    offset: u32,
    data: Arc<[u8]>,
    /// Runs not proved yet, in address order.
    left: VecDeque<(u32, u32)>,
    /// The stub is done with everything below this address.
    done_until: u32,
    /// Pieces that did not hash to the image under a block (the stub had not written
    /// them yet: the flush prediction was off): hashed again after the write.
    again: Vec<(u32, u32)>,
}

/// Ranges to prove blank, and what has been learned about the chip while doing so.
#[derive(Debug)]
pub struct SideHashes {
    pending: VecDeque<(u32, u32)>,
    /// Gaps too short to pay for a pair: hashed after the write ([`Self::take_rest`]).
    short: Vec<(u32, u32)>,
    runs: Option<Runs>,
    md5_rate: f64,
    work_per_byte: f64,
    work_per_flushed_byte: f64,
    /// Pieces end on multiples of this (sectors; probe blocks in a sweep).
    align: u32,
    sweep: Option<Sweep>,
    /// The first range found not blank; the sparse write must stop.
    pub dirty: Option<(u32, u32)>,
    /// MD5 pieces hashed under data blocks.
    pub pairs: u32,
    /// Bytes hashed under data blocks.
    pub overlapped_bytes: u64,
    /// A dirty range ends the pairing but not the payload being written (the caller deals
    /// with the dirty range afterwards); otherwise the payload stops at once.
    pub finish_payloads: bool,
}

impl SideHashes {
    /// `gaps`: (offset, len) ranges that must be blank, in address order.
    pub fn new(gaps: Vec<(u32, u32)>) -> Self {
        Self {
            pending: gaps.iter().copied().filter(|g| g.1 >= MIN_PAIRED_GAP).collect(),
            short: gaps.into_iter().filter(|g| g.1 > 0 && g.1 < MIN_PAIRED_GAP).collect(),
            runs: None,
            md5_rate: FIRST_MD5_RATE,
            work_per_byte: FIRST_WORK_PER_BYTE,
            work_per_flushed_byte: FIRST_WORK_PER_FLUSHED_BYTE,
            align: SECTOR_SIZE,
            sweep: None,
            dirty: None,
            pairs: 0,
            overlapped_bytes: 0,
            finish_payloads: false,
        }
    }

    /// The re-flash's sweep of 0xFF blocks (aligned to `block`): `unknown` ranges are
    /// hashed (a dirty range does not stop anything: its dirty blocks are found), `dirty`
    /// blocks are known dirty already; dirty blocks are erased and (with `prove`) hashed
    /// again ([`Self::next_task`], [`Self::record`]).
    pub fn sweep(unknown: Vec<(u32, u32)>, dirty: Vec<(u32, u32)>, block: u32, prove: bool) -> Self {
        let mut s = Self::new(unknown);
        s.align = block;
        let mut sw = Sweep { block, prove, erase_per_byte: FIRST_ERASE_PER_BLOCK / block as f64, ..Default::default() };
        for d in dirty.into_iter().filter(|d| d.1 > 0) {
            push_merged(&mut sw.erases, d);
            sw.erased.push(d);
        }
        s.sweep = Some(sw);
        s
    }

    /// Also proves the written `runs` of the region at `offset` holding `data` under later
    /// blocks, as the stub finishes them ([`Self::done_until`]); what is left is for
    /// [`Self::take_unproved_runs`].
    pub fn prove_runs(mut self, offset: u32, data: Arc<[u8]>, runs: Vec<(u32, u32)>) -> Self {
        let left = runs.into_iter().filter(|r| r.1 > 0).collect();
        self.runs = Some(Runs { offset, data, left, done_until: offset, again: Vec::new() });
        self
    }

    /// The stub has written everything below `addr` (it is idle after the blocks that
    /// flushed it).
    pub fn done_until(&mut self, addr: u32) {
        if let Some(r) = self.runs.as_mut() {
            r.done_until = r.done_until.max(addr / SECTOR_SIZE * SECTOR_SIZE);
        }
    }

    /// What `task` must hash to when it is a [`SideTask::Written`] piece.
    pub fn expected(&self, task: SideTask) -> Option<[u8; 16]> {
        match (task, self.runs.as_ref()) {
            (SideTask::Written(o, l), Some(r)) => {
                let at = (o - r.offset) as usize;
                Some(md5(&r.data[at..at + l as usize]))
            }
            _ => None,
        }
    }

    /// Runs not proved under blocks (left over, or hashed before the stub wrote them),
    /// in address order: the write's proof after the write.
    pub fn take_unproved_runs(&mut self) -> Vec<(u32, u32)> {
        let Some(r) = self.runs.as_mut() else { return Vec::new() };
        let mut out: Vec<(u32, u32)> = r.again.drain(..).chain(r.left.drain(..)).collect();
        out.sort_unstable();
        out
    }

    /// Bytes of runs the stub is done with and not yet proved.
    fn runs_ready(&self) -> u64 {
        self.runs.as_ref().map_or(0, |r| {
            r.left.iter().map(|&(o, l)| (o.saturating_add(l).min(r.done_until)).saturating_sub(o) as u64).sum()
        })
    }

    /// Sweep: blocks found dirty and erased, in the order found.
    pub fn erased(&self) -> &[(u32, u32)] {
        self.sweep.as_ref().map_or(&[], |s| &s.erased)
    }

    /// Sweep: erased ranges whose proof did not read blank (to be asked again).
    pub fn take_recheck(&mut self) -> Vec<(u32, u32)> {
        self.sweep.as_mut().map(|s| std::mem::take(&mut s.recheck)).unwrap_or_default()
    }

    pub fn has_pending(&self) -> bool {
        if self.dirty.is_none() && self.runs_ready() >= SECTOR_SIZE as u64 {
            return true;
        }
        let swept = self.sweep.as_ref().is_some_and(|s| {
            !(s.singles.is_empty() && s.erases.is_empty() && s.proofs.is_empty() && s.retry.is_empty())
        });
        self.dirty.is_none() && (swept || !self.pending.is_empty())
    }

    /// Expected post-processing of a block that inflates to `yields` bytes and flushes
    /// `flushed` of them to flash.
    pub fn predict_post(&self, yields: u32, flushed: u32) -> Duration {
        Duration::from_secs_f64(self.work_per_byte * yields as f64 + self.work_per_flushed_byte * flushed as f64)
    }

    /// Whether pairing a block of `wire` arrival time saves time when the stub first has
    /// to finish work expected to take `post_before` (zero when it is idle).
    ///
    /// A pair costs the wait for the stub (`post_before`, link idle) and saves the hash it
    /// carries (run under the block): it pays when that hash is longer. Gaps and sweeps
    /// offer a piece as long as the block; written runs only what the stub is done with.
    pub fn pays(&self, wire: Duration, post_before: Duration) -> bool {
        if !self.has_pending() {
            return false;
        }
        let swept =
            self.sweep.as_ref().is_some_and(|s| !(s.singles.is_empty() && s.erases.is_empty() && s.proofs.is_empty()));
        let piece = if swept || !self.pending.is_empty() {
            wire
        } else {
            wire.min(Duration::from_secs_f64(self.runs_ready() as f64 / self.md5_rate))
        };
        piece > post_before + MIN_GAIN
    }

    /// How many pieces of about `wire` the pending ranges still make.
    pub fn pieces_left(&self, wire: Duration) -> u32 {
        if !self.has_pending() {
            return 0;
        }
        let piece = (self.md5_rate * wire.as_secs_f64() * PIECE_STRETCH).max(SECTOR_SIZE as f64);
        // Written runs are left out: they become ready only as the stub writes them, and
        // pairs after blocks that flush barely pay for themselves (see `pays`).
        let bytes: u64 = self.pending.iter().map(|g| g.1 as u64).sum();
        let swept = self.sweep.as_ref().map_or(0, |s| {
            let proofs: u64 = s.proofs.iter().map(|g| g.1 as u64).sum();
            (s.singles.len() + s.erases.len()) as u32 + (proofs as f64 / piece).ceil() as u32
        });
        (bytes as f64 / piece).ceil() as u32 + swept
    }

    /// Takes the next piece: about as long to hash as `wire`, ending on a multiple of the
    /// alignment (whole sectors) where the gap allows, never crossing a gap.
    pub fn next_piece(&mut self, wire: Duration) -> Option<(u32, u32)> {
        let want = self.md5_rate * wire.as_secs_f64() * PIECE_STRETCH;
        take_piece(&mut self.pending, want, self.align, true)
    }

    /// The next command to pair with a data block of `wire` arrival time (or, after the
    /// write, to send on its own with a long `wire`): erases first (the earlier a dirty
    /// block is erased, the more of its proof can still ride under the write), then
    /// proofs, single blocks of dirty ranges, and the blank checks.
    pub fn next_task(&mut self, wire: Duration) -> Option<SideTask> {
        if self.dirty.is_some() {
            return None;
        }
        let md5_want = self.md5_rate * wire.as_secs_f64() * PIECE_STRETCH;
        if let Some(sw) = self.sweep.as_mut() {
            let erase_want = wire.as_secs_f64() / sw.erase_per_byte;
            if let Some((o, l)) = take_piece(&mut sw.erases, erase_want, sw.block, false) {
                return Some(SideTask::Erase(o, l));
            }
            if let Some((o, l)) = take_piece(&mut sw.proofs, md5_want, sw.block, true) {
                return Some(SideTask::Erased(o, l));
            }
            if let Some((o, l)) = sw.singles.pop_front() {
                return Some(SideTask::Block(o, l));
            }
        }
        if let Some((o, l)) = take_piece(&mut self.pending, md5_want, self.align, true) {
            return Some(SideTask::Blank(o, l));
        }
        self.next_run_piece(md5_want)
    }

    /// A piece of the written runs the stub is done with, of about `want` bytes.
    fn next_run_piece(&mut self, want: f64) -> Option<SideTask> {
        let r = self.runs.as_mut()?;
        let &(o, l) = r.left.front()?;
        let ready = o.saturating_add(l).min(r.done_until).saturating_sub(o);
        if ready < SECTOR_SIZE {
            return None;
        }
        r.left.pop_front();
        if ready < l {
            r.left.push_front((o + ready, l - ready));
        }
        let mut piece = VecDeque::from([(o, ready)]);
        let (po, pl) = take_piece(&mut piece, want, SECTOR_SIZE, false)?;
        if let Some(rest) = piece.pop_front() {
            push_front_merged(&mut r.left, rest);
        }
        Some(SideTask::Written(po, pl))
    }

    /// The next command when nothing is paired (after the write): blank checks one block
    /// at a time, erases and proofs of whole contiguous ranges; first the erases a paired
    /// ERASE_REGION left undone ([`SideTask::Retry`]).
    pub fn next_task_alone(&mut self) -> Option<SideTask> {
        if let Some(sw) = self.sweep.as_mut() {
            if let Some((o, l)) = sw.retry.pop_front() {
                return Some(SideTask::Retry(o, l));
            }
            if let Some((o, l)) = take_piece(&mut sw.erases, f64::INFINITY, sw.block, false) {
                return Some(SideTask::Erase(o, l));
            }
            if let Some((o, l)) = take_piece(&mut sw.proofs, f64::INFINITY, sw.block, true) {
                return Some(SideTask::Erased(o, l));
            }
            if let Some((o, l)) = sw.singles.pop_front() {
                return Some(SideTask::Block(o, l));
            }
        }
        if self.dirty.is_some() {
            return None;
        }
        take_piece(&mut self.pending, 1.0, self.align, true).map(|(o, l)| SideTask::Blank(o, l))
    }

    /// The outcome of `task`: for a hash, whether the range read blank; for an erase,
    /// whether it was done (a paired one that was not is retried alone). Returns whether the payload being written must stop (a dirty gap
    /// of a sparse write without `finish_payloads`).
    pub fn record(&mut self, task: SideTask, blank: bool) -> bool {
        if let SideTask::Written(o, l) = task {
            // Not yet the image's: the stub had not written it; hashed again after the write.
            if let (false, Some(r)) = (blank, self.runs.as_mut()) {
                r.again.push((o, l));
            }
            return false;
        }
        let Some(sw) = self.sweep.as_mut() else {
            if !blank {
                self.dirty = Some(task.range());
                return !self.finish_payloads;
            }
            return false;
        };
        match (task, blank) {
            (SideTask::Erase(o, l), false) => sw.retry.push_back((o, l)),
            (SideTask::Erase(o, l) | SideTask::Retry(o, l), true) => {
                if sw.prove {
                    push_merged(&mut sw.proofs, (o, l));
                }
            }
            (SideTask::Retry(o, l), false) => sw.retry.push_back((o, l)),
            (_, true) => {}
            (SideTask::Blank(o, l), _) if l > sw.block || o % sw.block + l > sw.block => {
                let end = o + l;
                let mut at = o;
                while at < end {
                    let next = (at / sw.block + 1).saturating_mul(sw.block).min(end);
                    sw.singles.push_back((at, next - at));
                    at = next;
                }
            }
            (SideTask::Blank(o, l) | SideTask::Block(o, l), _) => {
                push_merged(&mut sw.erases, (o, l));
                sw.erased.push((o, l));
            }
            (SideTask::Erased(o, l), _) => sw.recheck.push((o, l)),
            (SideTask::Written(..), _) => {}
        }
        false
    }

    /// An ERASE_REGION of `len` bytes took `took` on the chip.
    pub fn observe_erase(&mut self, len: u32, took: Duration) {
        if let Some(sw) = self.sweep.as_mut() {
            if took > Duration::from_millis(2) && len > 0 {
                sw.erase_per_byte = took.as_secs_f64() / len as f64;
            }
        }
    }

    /// Everything not hashed under blocks, merged where contiguous, for a plain pass.
    pub fn take_rest(&mut self) -> Vec<(u32, u32)> {
        let mut out: Vec<(u32, u32)> = Vec::new();
        let mut rest: Vec<(u32, u32)> = self.pending.drain(..).chain(self.short.drain(..)).collect();
        rest.sort_unstable();
        for (o, l) in rest {
            match out.last_mut() {
                Some((po, pl)) if *po + *pl == o => *pl += l,
                _ => out.push((o, l)),
            }
        }
        out
    }

    /// An MD5 of `len` bytes took `took` on the chip (reply time, stub idle before).
    pub fn observe_md5(&mut self, len: u32, took: Duration) {
        if took > Duration::from_millis(2) {
            self.md5_rate = len as f64 / took.as_secs_f64();
        }
    }

    /// The stub needed `took` to finish a block that inflated to `yields` bytes and
    /// flushed `flushed` bytes to flash.
    pub fn observe_work(&mut self, yields: u32, flushed: u32, took: Duration) {
        let t = took.as_secs_f64();
        if flushed == 0 && yields > 0 {
            self.work_per_byte = t / yields as f64;
        } else if flushed > 0 {
            let inflate = self.work_per_byte * yields as f64;
            self.work_per_flushed_byte = (t - inflate).max(0.0) / flushed as f64;
        }
    }
}

/// Takes from the front of `queue` a piece of about `want` bytes, ending on a multiple of
/// `align` (the next one up with `round_up`, else the last one within `want`, at least the
/// first) unless its range ends first. Ranges of the queue are never joined.
fn take_piece(queue: &mut VecDeque<(u32, u32)>, want: f64, align: u32, round_up: bool) -> Option<(u32, u32)> {
    let (offset, len) = queue.pop_front()?;
    let align = align.max(1) as u64;
    let want = if want.is_finite() { want.max(1.0) as u64 } else { u64::MAX / 4 };
    let end = offset as u64 + len as u64;
    let first = (offset as u64 / align + 1) * align;
    let cut = offset as u64 + want;
    let cut = if round_up { cut.div_ceil(align).saturating_mul(align) } else { (cut / align * align).max(first) };
    if cut >= end {
        return Some((offset, len));
    }
    let take = (cut - offset as u64) as u32;
    queue.push_front((offset + take, len - take));
    Some((offset, take))
}

/// Puts `range` back at the front of `queue`, joined with the first range when they touch.
fn push_front_merged(queue: &mut VecDeque<(u32, u32)>, (o, l): (u32, u32)) {
    match queue.front_mut() {
        Some((fo, fl)) if o + l == *fo => {
            *fo = o;
            *fl += l;
        }
        _ => queue.push_front((o, l)),
    }
}

/// Appends `range` to `queue`, joined with the last range when they touch.
fn push_merged(queue: &mut VecDeque<(u32, u32)>, (o, l): (u32, u32)) {
    match queue.back_mut() {
        Some((po, pl)) if *po + *pl == o => *pl += l,
        _ => queue.push_back((o, l)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WIRE_921600: Duration = Duration::from_millis(178);

    #[test]
    fn pieces_cover_the_gaps_exactly_in_order() {
        let gaps = vec![(0x0, 0x1000), (0x110000, 0x2F0000)];
        let mut s = SideHashes::new(gaps.clone());
        let mut got = Vec::new();
        while let Some(p) = s.next_piece(WIRE_921600) {
            assert_eq!(p.0 % SECTOR_SIZE, 0);
            got.push(p);
        }
        // Contiguous and complete.
        let mut at = got[0].0;
        let mut covered = 0;
        for (o, l) in &got {
            if *o != at {
                assert!(gaps.iter().any(|g| g.0 == *o), "a piece starts inside a gap: {o:#x}");
            }
            at = o + l;
            covered += l;
        }
        // The 4 KiB gap is too short to pay for a pair: it is left for after the write.
        assert_eq!(covered, 0x2F0000);
        assert!(!s.has_pending());
        assert_eq!(s.take_rest(), vec![(0, 0x1000)]);
    }

    #[test]
    fn piece_size_follows_the_measured_rate() {
        let mut s = SideHashes::new(vec![(0x100000, 0x300000)]);
        let first = s.next_piece(WIRE_921600).unwrap();
        // 1 MB/s × 0.178 s × 1.05 ≈ 187 KB, rounded up to sectors.
        assert_eq!(first.1, 46 * SECTOR_SIZE);
        s.observe_md5(first.1, Duration::from_millis(100));
        let second = s.next_piece(WIRE_921600).unwrap();
        assert_eq!(second.0, first.0 + first.1);
        assert!(second.1 > first.1, "faster chip, bigger pieces: {second:?}");
    }

    #[test]
    fn flushes_follow_the_stub_buffer() {
        // 27 KB per block: the first flush comes with the second block.
        assert_eq!(flushed_per_block(&[27_000, 27_000, 27_000]), vec![0, 32_768, 81_000 - 32_768]);
        assert_eq!(flushed_per_block(&[32_768, 100]), vec![32_768, 100]);
        assert_eq!(flushed_per_block(&[10]), vec![10]);
        assert!(flushed_per_block(&[]).is_empty());
    }

    #[test]
    fn pairing_pays_after_cheap_blocks_only() {
        let mut s = SideHashes::new(vec![(0x100000, 0x300000)]);
        // Idle stub: always worth it at 921600.
        assert!(s.pays(WIRE_921600, Duration::ZERO));
        // After a block that only inflated: ~16 ms of work, worth it.
        let cheap = s.predict_post(27_000, 0);
        assert!(cheap < Duration::from_millis(30), "{cheap:?}");
        assert!(s.pays(WIRE_921600, cheap));
        // After a block that flushed 32 KiB: ~0.16 s of programming, barely worth waiting
        // for at 921600 (the writer keeps pieces for cheaper blocks), not at 1 Mbaud.
        let flush = s.predict_post(27_000, 32_768);
        assert!(flush > Duration::from_millis(140), "{flush:?}");
        assert!(!s.pays(Duration::from_millis(160), flush));
        // Pieces left: 3 MB at 1 MB/s in pieces of ~0.19 s.
        assert_eq!(s.pieces_left(WIRE_921600), 17);
        // At 3 Mbaud a block arrives in 55 ms: only an idle stub pays.
        assert!(!s.pays(Duration::from_millis(55), cheap + Duration::from_millis(40)));
        // Measurements replace the guesses: a slow legacy stub that erases as it goes.
        s.observe_work(27_000, 0, Duration::from_millis(200));
        assert!(!s.pays(WIRE_921600, s.predict_post(27_000, 0)));
        s.observe_work(27_000, 32_768, Duration::from_millis(200 + 33));
        assert!(s.predict_post(0, 32_768) < Duration::from_millis(40));
        // Nothing left, nothing to pair.
        let mut done = SideHashes::new(vec![(0, 0x1000)]);
        done.next_piece(WIRE_921600);
        assert!(!done.pays(Duration::from_secs(1), Duration::ZERO));
    }

    #[test]
    fn a_dirty_range_stops_everything_and_the_rest_merges() {
        let mut s = SideHashes::new(vec![(0, 0x1000), (0x110000, 0x100000)]);
        let p = s.next_piece(Duration::from_millis(10)).unwrap();
        assert_eq!(p, (0x110000, 0x3000));
        let _ = s.next_piece(Duration::from_millis(10));
        // The rest, short gap included, in address order, merged where contiguous.
        assert_eq!(s.take_rest(), vec![(0, 0x1000), (0x116000, 0xFA000)]);
        let mut d = SideHashes::new(vec![(0, 0x1000)]);
        d.dirty = Some((0, 0x1000));
        assert!(!d.has_pending());
    }

    #[test]
    fn a_sweep_finds_erases_and_proves_dirty_blocks() {
        const B: u32 = 0x10000;
        // Blocks 4..8 unknown, block 9 known dirty (first sector), proofs on.
        let mut s = SideHashes::sweep(vec![(4 * B, 4 * B)], vec![(9 * B, B)], B, true);
        // Known-dirty blocks are erased first.
        let t = s.next_task(WIRE_921600).unwrap();
        assert_eq!(t, SideTask::Erase(9 * B, B));
        assert!(!s.record(t, true));
        // Then their proof, then the blank checks, in whole blocks.
        let t = s.next_task(WIRE_921600).unwrap();
        assert_eq!(t, SideTask::Erased(9 * B, B));
        s.record(t, true);
        let t = s.next_task(WIRE_921600).unwrap();
        assert_eq!(t, SideTask::Blank(4 * B, 3 * B), "~187 KB rounded up to whole blocks");
        // A dirty range is split into blocks; only the dirty ones are erased.
        s.record(t, false);
        for (k, dirty) in [(4, false), (5, true)] {
            let t = s.next_task(WIRE_921600).unwrap();
            assert_eq!(t, SideTask::Block(k * B, B));
            s.record(t, !dirty);
        }
        // The dirty block's erase and proof come before the remaining checks.
        assert_eq!(s.next_task(WIRE_921600), Some(SideTask::Erase(5 * B, B)));
        s.record(SideTask::Erase(5 * B, B), true);
        // A proof that does not read blank is kept for a second look, never dropped.
        assert_eq!(s.next_task(WIRE_921600), Some(SideTask::Erased(5 * B, B)));
        s.record(SideTask::Erased(5 * B, B), false);
        assert_eq!(s.next_task(WIRE_921600), Some(SideTask::Block(6 * B, B)));
        s.record(SideTask::Block(6 * B, B), true);
        assert_eq!(s.next_task_alone(), Some(SideTask::Blank(7 * B, B)));
        s.record(SideTask::Blank(7 * B, B), true);
        assert_eq!(s.next_task_alone(), None);
        assert!(!s.has_pending());
        assert_eq!(s.erased(), &[(9 * B, B), (5 * B, B)]);
        assert_eq!(s.take_recheck(), vec![(5 * B, B)]);
    }

    #[test]
    fn alone_the_sweep_erases_and_proves_whole_ranges_and_checks_single_blocks() {
        const B: u32 = 0x10000;
        let mut s = SideHashes::sweep(vec![(0, 2 * B)], vec![(4 * B, B), (5 * B, B), (7 * B, B)], B, true);
        assert_eq!(s.next_task_alone(), Some(SideTask::Erase(4 * B, 2 * B)));
        s.record(SideTask::Erase(4 * B, 2 * B), true);
        assert_eq!(s.next_task_alone(), Some(SideTask::Erase(7 * B, B)));
        s.record(SideTask::Erase(7 * B, B), true);
        assert_eq!(s.next_task_alone(), Some(SideTask::Erased(4 * B, 2 * B)));
        s.record(SideTask::Erased(4 * B, 2 * B), true);
        assert_eq!(s.next_task_alone(), Some(SideTask::Erased(7 * B, B)));
        s.record(SideTask::Erased(7 * B, B), true);
        assert_eq!(s.next_task_alone(), Some(SideTask::Blank(0, B)));
        // Without proofs (verify off) an erase is the end of it.
        let mut quiet = SideHashes::sweep(Vec::new(), vec![(B, B)], B, false);
        let t = quiet.next_task_alone().unwrap();
        quiet.record(t, true);
        assert_eq!(quiet.next_task_alone(), None);
    }

    #[test]
    fn a_paired_erase_out_of_budget_is_made_sure_of_alone_then_proved() {
        const B: u32 = 0x10000;
        let mut s = SideHashes::sweep(Vec::new(), vec![(2 * B, B), (5 * B, B)], B, true);
        let t = s.next_task(WIRE_921600).unwrap();
        assert_eq!(t, SideTask::Erase(2 * B, B));
        // 0xC400: not done. Never paired again, and not proved before it is done.
        assert!(!s.record(t, false));
        assert!(s.has_pending());
        assert_eq!(s.next_task(WIRE_921600), Some(SideTask::Erase(5 * B, B)));
        s.record(SideTask::Erase(5 * B, B), true);
        assert_eq!(s.next_task(WIRE_921600), Some(SideTask::Erased(5 * B, B)));
        s.record(SideTask::Erased(5 * B, B), true);
        assert_eq!(s.next_task(WIRE_921600), None);
        // Alone, after the write: the retry first, then its proof.
        assert_eq!(s.next_task_alone(), Some(SideTask::Retry(2 * B, B)));
        s.record(SideTask::Retry(2 * B, B), true);
        assert_eq!(s.next_task_alone(), Some(SideTask::Erased(2 * B, B)));
        s.record(SideTask::Erased(2 * B, B), true);
        assert_eq!(s.next_task_alone(), None);
        assert!(!s.has_pending());
    }

    #[test]
    fn written_runs_are_proved_only_where_the_stub_is_done_with_them() {
        let data: Arc<[u8]> = (0..0x40000u32).map(|i| (i * 7) as u8).collect::<Vec<u8>>().into();
        let runs = vec![(0x1000, 0x7000), (0x10000, 0x30000)];
        let mut s = SideHashes::new(vec![(0x8000, 0x8000)]).prove_runs(0, data.clone(), runs);
        // Gaps first.
        assert_eq!(s.next_task(WIRE_921600), Some(SideTask::Blank(0x8000, 0x8000)));
        // Nothing written yet: no run piece, and no pair pays.
        assert_eq!(s.next_task(WIRE_921600), None);
        assert!(!s.pays(WIRE_921600, Duration::ZERO));
        // The stub is done below 0x12345: whole sectors below it, never across a run's end.
        s.done_until(0x12345);
        assert!(s.pays(WIRE_921600, Duration::ZERO));
        let t = s.next_task(WIRE_921600).unwrap();
        assert_eq!(t, SideTask::Written(0x1000, 0x7000));
        assert_eq!(s.expected(t), Some(md5(&data[0x1000..0x8000])));
        assert!(!s.record(t, true));
        // 8 KiB ready: too little to pay after a block that flushes (~150 ms), fine when idle.
        assert!(!s.pays(WIRE_921600, Duration::from_millis(150)));
        assert_eq!(s.next_task(WIRE_921600), Some(SideTask::Written(0x10000, 0x2000)));
        // A piece hashed before the stub wrote it (it did not match) is hashed again after.
        s.record(SideTask::Written(0x10000, 0x2000), false);
        assert_eq!(s.take_unproved_runs(), vec![(0x10000, 0x2000), (0x12000, 0x2E000)]);
        // Nothing to prove when runs are not asked for.
        assert!(SideHashes::new(Vec::new()).take_unproved_runs().is_empty());
    }

    #[test]
    fn erase_pieces_fit_the_wire_but_take_at_least_one_block() {
        const B: u32 = 0x10000;
        let mut s = SideHashes::sweep(Vec::new(), (0..4).map(|k| (k * B, B)).collect(), B, false);
        // ~0.15 s per block: one block under a 0.178 s data block, two under 0.35 s.
        assert_eq!(s.next_task(WIRE_921600), Some(SideTask::Erase(0, B)));
        assert_eq!(s.next_task(Duration::from_millis(350)), Some(SideTask::Erase(B, 2 * B)));
        // A measured faster erase makes pieces longer.
        s.observe_erase(B, Duration::from_millis(50));
        assert_eq!(s.next_task(Duration::from_millis(10)), Some(SideTask::Erase(3 * B, B)));
    }
}
