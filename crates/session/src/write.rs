//! Writing a [`PreparedImage`] to a board.
//!
//! Per region:
//! 1. optional *skip-identical*: one on-chip MD5 of the region; equal → nothing to do;
//!    by default instead (*re-flash diff*, [`WriteOptions::reflash_diff`]): one MD5 of the
//!    first 64 KiB block that holds image data; a board that is not blank there holds
//!    something, and [`crate::reflash`] hashes it per block and erases and writes only what
//!    differs ([`crate::diff_plan`]); so does a board whose gaps turn out not blank below;
//! 2. *blank-skip*: on a blank range only the sector runs that are not all-0xFF are erased
//!    and written (the sparse plan); how "blank" is known is [`BlankSkip`];
//! 3. the chosen plan is sent block by block (stub: precomputed deflate frames; ROM: 1 KiB
//!    raw blocks);
//! 4. verify: an on-chip MD5 of the **whole** region. If a sparse write does not verify
//!    (the range was not blank after all), the region is written in full and verified again.
//!    With [`BlankSkip::Probe`] the gaps are hashed (must be blank) — with a stub, under the
//!    sparse write's data blocks ([`crate::side_hash`]), otherwise before it — and the
//!    skipped sectors are never touched (runs are sector-aligned), so only the written runs
//!    need hashing after they are written: with a stub, under later data blocks as the stub
//!    finishes them, the rest after the write. Either way every byte of the region is
//!    hashed once after its last change.
//!
//! # Flow control with the stub (why at most one extra block is in flight)
//!
//! Both flasher stubs receive into two frame buffers and acknowledge a data block right
//! after checking its checksum, then inflate/erase/write it while the next block arrives.
//! The reply to block N is sent only once block N-1 is fully processed. So when the host
//! has the reply to N-1, the stub holds at most N (being processed) and one free buffer.
//! Sending N+1 before the reply to N (one more block on the wire while the previous is
//! unacknowledged) is safe only if the stub finishes N-1 before N+1 has fully arrived:
//! a chip slower than the link (erasing, or inflating a very compressible block) drops
//! the frame and the write stalls. [`Pipelining::Auto`] therefore overlaps only when a
//! conservative bound on the chip's work for N-1 is below the wire time of N+1 (slow
//! links, small yields); [`Pipelining::StopAndWait`] is esptool's discipline.

use crate::connection::Connection;
use crate::diff_plan::BoardBlock;
use crate::error::{Error, Result, Stage};
use crate::image::{hex, md5_of_blank, Encoding, Payload, PreparedImage, PreparedRegion};
use crate::progress::Progress;
use crate::reflash;
use crate::side_hash::{flushed_per_block, SideHashes, SideTask};
use crate::transport::Transport;
use flashline_protocol::chip::CHIP_DETECT_MAGIC_REG;
use flashline_protocol::command::{
    BeginParams, Command, EraseRegion, FlashBegin, FlashData, FlashDeflBegin, FlashDeflData, FlashDeflEnd, FlashEnd,
    ReadReg, SpiFlashMd5,
};
use flashline_protocol::flash::{ROM_WRITE_BLOCK, SECTOR_SIZE, STUB_WRITE_BLOCK};
use flashline_protocol::{timeouts, Chip, Opcode};
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// How the session decides that a board's target range is blank before skipping the
/// all-0xFF parts of the image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BlankSkip {
    /// Always erase and write the whole region.
    Off,
    /// One on-chip MD5 of the region before writing; the range is blank when it equals the
    /// MD5 of all-0xFF (the same MD5 also detects an identical region). Costs one hash of
    /// the range on the chip; never writes twice. The default: safe for boards of unknown
    /// history.
    #[default]
    Probe,
    /// The caller vouches that the boards are factory-fresh (erased). No probe; the
    /// post-write MD5 of the whole region proves the result, and a mismatch falls back to
    /// a full write. Fastest on blank boards.
    TrustBlank,
}

/// Options of [`crate::Flasher::write`].
#[derive(Debug, Clone)]
pub struct WriteOptions {
    pub blank_skip: BlankSkip,
    /// MD5 precheck per region; regions already correct are skipped (and reported).
    pub skip_identical: bool,
    /// MD5 of every region after writing (required for blank-skip with `TrustBlank`).
    pub verify: bool,
    /// Whether a second stub data block may go on the wire before the first is acked.
    pub pipelining: Pipelining,
    /// With [`BlankSkip::Probe`] and a stub: on a board that is not blank, hash it per
    /// 64 KiB block and erase and write only what differs ([`crate::diff_plan`]); off, such
    /// a board gets the whole region written.
    pub reflash_diff: bool,
    /// With [`BlankSkip::Probe`] and a stub: hash the gaps while the sparse write's blocks
    /// are on the wire instead of before it (see [`crate::side_hash`]).
    pub probe_under_write: bool,
}

impl Default for WriteOptions {
    fn default() -> Self {
        Self {
            blank_skip: BlankSkip::Probe,
            skip_identical: false,
            verify: true,
            pipelining: Pipelining::Auto,
            probe_under_write: true,
            reflash_diff: true,
        }
    }
}

/// Flow control of stub data blocks (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Pipelining {
    /// One block at a time, like esptool. Always safe.
    StopAndWait,
    /// One extra block on the wire when the chip provably keeps up (see [`chip_work_bound`]).
    #[default]
    Auto,
    /// Always one extra block: only for links known to be slower than the chip.
    Always,
}

/// A generous upper bound of the time a stub needs to finish a block that inflates to
/// `yields` bytes: half the slowest chip-bound rate seen on real ESP32s (~100 KB/s,
/// erases included) plus one 64 KiB block erase per 64 KiB started and one more.
pub fn chip_work_bound(yields: u32) -> Duration {
    const WORST_BYTES_PER_SEC: f64 = 50_000.0;
    const ERASE: Duration = Duration::from_millis(250);
    Duration::from_secs_f64(yields as f64 / WORST_BYTES_PER_SEC) + ERASE * (yields.div_ceil(64 * 1024) + 1)
}

/// What happened to one region.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegionOutcome {
    /// The board already held exactly this region (skip-identical).
    SkippedIdentical,
    /// Blank range: only the non-0xFF runs were written.
    Sparse,
    /// The whole region was written.
    Full,
    /// A sparse write did not verify (range was not blank); rewritten in full.
    FullAfterSparseMismatch,
    /// The board held something: only what differed was erased or written
    /// ([`crate::diff_plan`]).
    Diff,
}

/// Result of one region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegionReport {
    pub offset: u32,
    pub len: u32,
    pub outcome: RegionOutcome,
    /// Flash bytes erased and programmed.
    pub written: u64,
    /// Payload bytes sent (compressed size for deflate).
    pub sent: u64,
    /// The on-chip MD5 matched the image after writing.
    pub verified: bool,
    pub md5: [u8; 16],
    /// Bytes erased without being written (0xFF in the image, something else on the board).
    pub erased: u64,
    /// Bytes left alone because image and board were both 0xFF there.
    pub blank: u64,
    /// Bytes left alone because the board already held the image's bytes.
    pub identical: u64,
}

impl RegionReport {
    /// A region just written (`written` flash bytes, `sent` payload bytes), not yet verified.
    fn unverified(region: &PreparedRegion, outcome: RegionOutcome, written: u64, sent: u64) -> Self {
        let blank = match outcome {
            RegionOutcome::Sparse => region.len() as u64 - region.sparse_len() as u64,
            _ => 0,
        };
        Self {
            offset: region.offset,
            len: region.len(),
            outcome,
            written,
            sent,
            verified: false,
            md5: region.md5,
            erased: 0,
            blank,
            identical: 0,
        }
    }
}

/// Result of [`crate::Flasher::write`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteReport {
    pub regions: Vec<RegionReport>,
    pub elapsed: Duration,
}

/// Chip facts the writer needs.
pub(crate) struct Target {
    pub chip: Chip,
    pub stub: bool,
    pub flash_size: Option<u32>,
}

impl Target {
    fn can_md5(&self) -> bool {
        self.stub || self.chip.spec().rom_is_esp32_class
    }
}

/// The region MD5 on the chip.
pub(crate) async fn chip_md5<T: Transport>(conn: &mut Connection<T>, offset: u32, len: u32) -> Result<[u8; 16]> {
    conn.command(&SpiFlashMd5 { addr: offset, size: len }).await
}

/// [`chip_md5`] of a range expected to hash to `expected`, asked a second time when it does
/// not: the digest travels without a checksum, so one damaged reply would otherwise reject
/// a good board (or send a blank one through a full rewrite). A wrong flash answers the
/// same twice; only a mismatch confirmed by the second reply counts.
pub(crate) async fn chip_md5_expecting<T: Transport>(
    conn: &mut Connection<T>,
    offset: u32,
    len: u32,
    expected: &[u8; 16],
) -> Result<[u8; 16]> {
    let first = chip_md5(conn, offset, len).await?;
    if &first == expected {
        return Ok(first);
    }
    let second = chip_md5(conn, offset, len).await?;
    if &second == expected {
        tracing::warn!(offset = format_args!("0x{offset:08x}"), len, "an MD5 reply differed once: damaged on the link");
    }
    Ok(second)
}

pub(crate) async fn write_image<T: Transport>(
    conn: &mut Connection<T>,
    target: &Target,
    image: &PreparedImage,
    opts: &WriteOptions,
    progress: &Progress,
) -> Result<WriteReport> {
    conn.set_stage(Stage::Write);
    let started = Instant::now();
    if let (Some(size), Some((_, end))) = (target.flash_size, image.span()) {
        if end > size {
            return Err(Error::InvalidRequest {
                stage: Stage::Write,
                reason: format!(
                    "the image ends at 0x{end:08x} but the flash holds only {}: wrong image for this board",
                    flashline_protocol::flash::format_size(size)
                ),
            });
        }
    }
    let can_md5 = target.can_md5();
    if !can_md5 && opts.verify {
        return Err(Error::NeedsStub { stage: Stage::Verify, chip: target.chip, what: "verifying flash (MD5)" });
    }
    let total = image.total_len();
    let mut ctr = Counter { done: 0, total, progress: progress.clone() };
    let mut reports = Vec::new();
    for region in &image.regions {
        conn.set_stage(Stage::Write);
        // One MD5 of the whole region answers both "identical?" and "blank?"; without
        // skip-identical only the sectors blank-skip would leave alone need to be blank.
        let mut probe_md5 = None;
        if can_md5 && opts.skip_identical {
            probe_md5 = Some(chip_md5(conn, region.offset, region.len()).await?);
        }
        if opts.skip_identical && probe_md5 == Some(region.md5) {
            tracing::info!(offset = format_args!("0x{:08x}", region.offset), "region already on the board; skipped");
            ctr.add(region.len() as u64);
            reports.push(RegionReport {
                offset: region.offset,
                len: region.len(),
                outcome: RegionOutcome::SkippedIdentical,
                written: 0,
                sent: 0,
                verified: true,
                md5: region.md5,
                erased: 0,
                blank: 0,
                identical: region.len() as u64,
            });
            continue;
        }
        // A board that is not blank where the image starts holds something: re-flash what
        // differs. A blank one takes the sparse write below (its gaps hashed under the data).
        let diff = target.stub && opts.blank_skip == BlankSkip::Probe && opts.reflash_diff && probe_md5.is_none();
        if diff {
            let known = match reflash::first_data_block(region) {
                None => Some(Vec::new()),
                Some(b) => match reflash::probe(conn, region, b).await? {
                    BoardBlock::Blank => None,
                    other => Some(vec![(b, other)]),
                },
            };
            if let Some(known) = known {
                reports.push(reflash::write_region_diff(conn, region, opts, &mut ctr, &known).await?);
                continue;
            }
        }
        // Nothing to skip when no sector of the region is all-0xFF.
        let has_gaps = !gaps(region).is_empty();
        if has_gaps
            && target.stub
            && opts.blank_skip == BlankSkip::Probe
            && opts.probe_under_write
            && probe_md5.is_none()
        {
            reports.push(write_probing_under_blocks(conn, target, region, opts, &mut ctr).await?);
            continue;
        }
        let blank_known = match opts.blank_skip {
            _ if !has_gaps => false,
            BlankSkip::Off => false,
            BlankSkip::Probe if !can_md5 => false,
            BlankSkip::Probe => match probe_md5 {
                Some(m) => m == md5_of_blank(region.len()),
                None => {
                    let blank = gaps_are_blank(conn, region).await?;
                    if !blank && diff {
                        reports.push(reflash::write_region_diff(conn, region, opts, &mut ctr, &[]).await?);
                        continue;
                    }
                    blank
                }
            },
            // Without a verify step nothing would catch a board that was not blank.
            BlankSkip::TrustBlank => opts.verify && can_md5,
        };
        let mut report = if blank_known {
            let sent = write_payloads(conn, target, region, &region.sparse, opts, &mut ctr).await?;
            let skipped = region.len() as u64 - region.sparse_len() as u64;
            ctr.add(skipped);
            RegionReport::unverified(region, RegionOutcome::Sparse, region.sparse_len() as u64, sent)
        } else {
            let sent = write_payloads(conn, target, region, std::slice::from_ref(&region.full), opts, &mut ctr).await?;
            RegionReport::unverified(region, RegionOutcome::Full, region.len() as u64, sent)
        };
        if opts.verify && blank_known && opts.blank_skip == BlankSkip::Probe {
            conn.set_stage(Stage::Verify);
            verify_runs(conn, region).await?;
            report.verified = true;
        } else if opts.verify {
            conn.set_stage(Stage::Verify);
            let got = chip_md5_expecting(conn, region.offset, region.len(), &region.md5).await?;
            if got != region.md5 && report.outcome == RegionOutcome::Sparse {
                tracing::warn!(
                    offset = format_args!("0x{:08x}", region.offset),
                    "range was not blank; rewriting the whole region"
                );
                conn.set_stage(Stage::Write);
                ctr.done = ctr.done.saturating_sub(region.len() as u64);
                let sent =
                    write_payloads(conn, target, region, std::slice::from_ref(&region.full), opts, &mut ctr).await?;
                report.outcome = RegionOutcome::FullAfterSparseMismatch;
                report.written += region.len() as u64;
                report.sent += sent;
                conn.set_stage(Stage::Verify);
                let again = chip_md5_expecting(conn, region.offset, region.len(), &region.md5).await?;
                check_md5(region, again)?;
            } else {
                check_md5(region, got)?;
            }
            report.verified = true;
        }
        reports.push(report);
    }
    Ok(WriteReport { regions: reports, elapsed: started.elapsed() })
}

/// [`BlankSkip::Probe`] with a stub: the sparse plan is written while the gaps are hashed
/// under its blocks ([`SideHashes`]); what is left of the gaps is hashed after it. A gap
/// that is not blank hands the region to [`crate::reflash`] once the sparse runs are
/// written (or, without [`WriteOptions::reflash_diff`], stops the sparse write and the
/// region is written in full).
async fn write_probing_under_blocks<T: Transport>(
    conn: &mut Connection<T>,
    target: &Target,
    region: &PreparedRegion,
    opts: &WriteOptions,
    ctr: &mut Counter,
) -> Result<RegionReport> {
    let mut side = SideHashes::new(gaps(region));
    if opts.verify {
        let runs = region.sparse.iter().map(|p| (p.offset, p.len)).collect();
        side = side.prove_runs(region.offset, region.data.clone(), runs);
    }
    // With the re-flash diff a dirty gap is erased afterwards: the runs are written anyway.
    side.finish_payloads = opts.reflash_diff;
    let mut sent = 0;
    let start_done = ctr.done;
    for p in &region.sparse {
        sent += write_stub_payload(conn, p, opts.pipelining, ctr, Some(&mut side)).await?;
        side.done_until(p.offset + p.len);
        if side.dirty.is_some() && !side.finish_payloads {
            break;
        }
    }
    if side.dirty.is_none() {
        side.dirty = first_not_blank(conn, side.take_rest()).await?;
    } else if let Some((offset, len)) = side.dirty {
        tracing::info!(offset = format_args!("0x{offset:08x}"), len, "flash not blank; writing the whole region");
    }
    tracing::debug!(pairs = side.pairs, bytes = side.overlapped_bytes, "gap hashes under data blocks");
    if side.dirty.is_some() && opts.reflash_diff {
        // The runs written so far are correct (the stub erased under them); the plan finds
        // them identical and takes care of the rest.
        let programmed = ctr.done - start_done;
        ctr.done = start_done;
        let mut report = reflash::write_region_diff(conn, region, opts, ctr, &[]).await?;
        report.sent += sent;
        report.written += programmed;
        return Ok(report);
    }
    if side.dirty.is_some() {
        ctr.done = start_done;
        conn.set_stage(Stage::Write);
        let full = write_payloads(conn, target, region, std::slice::from_ref(&region.full), opts, ctr).await?;
        let (outcome, wasted) = match sent {
            0 => (RegionOutcome::Full, 0),
            _ => (RegionOutcome::FullAfterSparseMismatch, region.sparse_len() as u64),
        };
        let mut report = RegionReport::unverified(region, outcome, region.len() as u64 + wasted, sent + full);
        if opts.verify {
            conn.set_stage(Stage::Verify);
            check_md5(region, chip_md5_expecting(conn, region.offset, region.len(), &region.md5).await?)?;
            report.verified = true;
        }
        return Ok(report);
    }
    ctr.add(region.len() as u64 - region.sparse_len() as u64);
    let mut report = RegionReport::unverified(region, RegionOutcome::Sparse, region.sparse_len() as u64, sent);
    if opts.verify {
        // The runs' pieces proved under later blocks are done; the rest is hashed now.
        conn.set_stage(Stage::Verify);
        for (offset, len) in side.take_unproved_runs() {
            expect_image(conn, region, offset, len).await?;
        }
        report.verified = true;
    }
    Ok(report)
}

/// On-chip MD5 of every run the sparse plan wrote (the gaps are known blank).
async fn verify_runs<T: Transport>(conn: &mut Connection<T>, region: &PreparedRegion) -> Result<()> {
    for p in &region.sparse {
        expect_image(conn, region, p.offset, p.len).await?;
    }
    Ok(())
}

/// The on-chip MD5 of `offset..offset+len` must be the image's.
async fn expect_image<T: Transport>(
    conn: &mut Connection<T>,
    region: &PreparedRegion,
    offset: u32,
    len: u32,
) -> Result<()> {
    let at = (offset - region.offset) as usize;
    let expected = crate::image::md5(&region.data[at..at + len as usize]);
    let got = chip_md5_expecting(conn, offset, len, &expected).await?;
    if got != expected {
        return Err(Error::VerifyMismatch { offset, len, expected: hex(&expected), actual: hex(&got) });
    }
    Ok(())
}

/// The parts of `region` the sparse plan does not write, as (offset, len).
pub fn gaps(region: &PreparedRegion) -> Vec<(u32, u32)> {
    let mut out = Vec::new();
    let mut at = region.offset;
    for p in &region.sparse {
        if p.offset > at {
            out.push((at, p.offset - at));
        }
        at = p.offset + p.len;
    }
    if region.end() > at {
        out.push((at, region.end() - at));
    }
    out
}

/// On-chip check that every sector blank-skip would leave alone is all 0xFF.
async fn gaps_are_blank<T: Transport>(conn: &mut Connection<T>, region: &PreparedRegion) -> Result<bool> {
    Ok(first_not_blank(conn, gaps(region)).await?.is_none())
}

/// The first of `ranges` whose flash is not all 0xFF (an on-chip MD5 of each, in order).
async fn first_not_blank<T: Transport>(
    conn: &mut Connection<T>,
    ranges: Vec<(u32, u32)>,
) -> Result<Option<(u32, u32)>> {
    for (offset, len) in ranges {
        let blank = md5_of_blank(len);
        if chip_md5_expecting(conn, offset, len, &blank).await? != blank {
            tracing::info!(offset = format_args!("0x{offset:08x}"), len, "flash not blank; writing the whole region");
            return Ok(Some((offset, len)));
        }
    }
    Ok(None)
}

fn check_md5(region: &PreparedRegion, got: [u8; 16]) -> Result<()> {
    if got == region.md5 {
        Ok(())
    } else {
        Err(Error::VerifyMismatch {
            offset: region.offset,
            len: region.len(),
            expected: hex(&region.md5),
            actual: hex(&got),
        })
    }
}

pub(crate) struct Counter {
    pub(crate) done: u64,
    total: u64,
    progress: Progress,
}

impl Counter {
    pub(crate) fn add(&mut self, n: u64) {
        self.done = (self.done + n).min(self.total);
        self.progress.report(Stage::Write, self.done, self.total);
    }
}

async fn write_payloads<T: Transport>(
    conn: &mut Connection<T>,
    target: &Target,
    region: &PreparedRegion,
    payloads: &[Payload],
    opts: &WriteOptions,
    ctr: &mut Counter,
) -> Result<u64> {
    let mut sent = 0;
    for p in payloads {
        sent += if target.stub {
            write_stub_payload(conn, p, opts.pipelining, ctr, None).await?
        } else {
            let start = (p.offset - region.offset) as usize;
            write_rom(conn, target.chip, p.offset, &region.data[start..start + p.len as usize], ctr).await?
        };
    }
    Ok(sent)
}

/// Time the bytes of `len` take on the wire at `baud` (8N1).
fn wire_time(len: usize, baud: u32) -> Duration {
    Duration::from_secs_f64(len as f64 * 10.0 / baud.max(1) as f64)
}

/// Whether block `next` may be sent while block `unacked` still waits for its reply.
fn may_overlap(p: &Payload, mode: Pipelining, unacked: usize, next: usize, baud: u32) -> bool {
    match mode {
        Pipelining::StopAndWait => false,
        Pipelining::Always => true,
        // The stub must have finished the block before `unacked` (it has started it: its
        // reply is in) before `next` has fully arrived.
        Pipelining::Auto => match unacked.checked_sub(1) {
            None => true,
            Some(prev) => chip_work_bound(p.blocks[prev].yields) <= wire_time(p.blocks[next].frame.len(), baud),
        },
    }
}

/// BEGIN, the precomputed blocks with at most two unacknowledged, END.
///
/// With `side`, blocks may go out paired with a side command while the stub is idle (see
/// [`crate::side_hash`]): an MD5 piece of a gap, or in a re-flash's sweep an MD5 or an
/// ERASE_REGION of 0xFF blocks. A gap piece of a sparse write that is not blank ends the
/// payload early unless `finish_payloads` (no END: the caller starts another write, whose
/// BEGIN resets the stub's state).
pub(crate) async fn write_stub_payload<T: Transport>(
    conn: &mut Connection<T>,
    p: &Payload,
    mode: Pipelining,
    ctr: &mut Counter,
    mut side: Option<&mut SideHashes>,
) -> Result<u64> {
    let params = BeginParams {
        size: p.len,
        num_blocks: p.blocks.len() as u32,
        block_size: STUB_WRITE_BLOCK,
        offset: p.offset,
        encrypted: Some(0),
    };
    match p.encoding {
        Encoding::Deflate => conn.command(&FlashDeflBegin(params)).await?,
        Encoding::Raw => conn.command(&FlashBegin(params)).await?,
    }
    let opcode = match p.encoding {
        Encoding::Deflate => Opcode::FlashDeflData,
        Encoding::Raw => Opcode::FlashData,
    };
    let baud = conn.port_ref().baud();
    // (block index, reply timeout) of blocks sent but not yet acknowledged.
    let mut in_flight: VecDeque<(usize, Duration)> = VecDeque::with_capacity(2);
    let mut last_timeout = timeouts::DEFAULT;
    // The stub has nothing queued or in progress (true after the BEGIN reply).
    let mut idle = true;
    let flushed = match p.encoding {
        Encoding::Deflate => flushed_per_block(&p.blocks.iter().map(|b| b.yields).collect::<Vec<_>>()),
        Encoding::Raw => p.blocks.iter().map(|b| b.yields).collect(),
    };
    // Blocks after which the stub has little left to do (no flush to flash): the best
    // places for a pair. Counted from the end, so that pieces are not spent on expensive
    // places while cheap ones lie ahead.
    let cheap_ahead: Vec<u32> = match side.as_deref() {
        None => Vec::new(),
        Some(s) => {
            let mut n = 0;
            let mut v: Vec<u32> = p
                .blocks
                .iter()
                .enumerate()
                .rev()
                .map(|(i, b)| {
                    let at = n;
                    if s.predict_post(b.yields, flushed[i]) * 2 <= wire_time(b.frame.len(), baud) {
                        n += 1;
                    }
                    at
                })
                .collect();
            v.reverse();
            v
        }
    };
    let mut flushed_before = 0u64;
    for (i, block) in p.blocks.iter().enumerate() {
        let wire = wire_time(block.frame.len(), baud);
        if let Some(side) = side.as_deref_mut() {
            // Once the stub is idle (what a pair waits for) it has written what the blocks
            // before this one flushed.
            side.done_until(p.offset.saturating_add(flushed_before.min(u32::MAX as u64) as u32));
        }
        flushed_before += flushed[i] as u64;
        let post_before = |s: &SideHashes| match i.checked_sub(1) {
            Some(prev) if !idle => s.predict_post(p.blocks[prev].yields, flushed[prev]),
            _ => Duration::ZERO,
        };
        let worth = |s: &SideHashes| {
            let before = post_before(s);
            s.pays(wire, before)
                && (before * 2 <= wire || s.pieces_left(wire) > cheap_ahead.get(i).copied().unwrap_or(0))
        };
        if let Some(side) = side.as_deref_mut().filter(|s| worth(s)) {
            // Pairing needs an idle stub: collect the acks, then wait out the block in
            // progress with a cheap command whose reply comes after it.
            let mut acked_at = tokio::time::Instant::now();
            while let Some((j, t)) = in_flight.pop_front() {
                ack(conn, opcode, j, t).await?;
                ctr.add(p.blocks[j].yields as u64);
                acked_at = tokio::time::Instant::now();
            }
            if !idle {
                let prev = i - 1;
                // A failure of that block is reported in this reply (the stubs carry a
                // post-processing error over to the next command): name the block.
                let sync = ReadReg { addr: CHIP_DETECT_MAGIC_REG };
                conn.command_timeout(&sync, timeouts::stub_data_block(p.blocks[prev].yields)).await.map_err(
                    |e| match e {
                        Error::Chip { stage, status, hint, .. } => Error::Chip { stage, command: opcode, status, hint },
                        other => other,
                    },
                )?;
                side.observe_work(p.blocks[prev].yields, flushed[prev], acked_at.elapsed());
            }
            if let Some(task) = side.next_task(wire) {
                let asked = tokio::time::Instant::now();
                let blank = send_side_task(conn, side, task, &block.frame, wire, asked).await?;
                side.pairs += 1;
                // The block is processed after the side command, so its reply follows it.
                in_flight.push_back((i, timeouts::DEFAULT + wire));
                idle = false;
                if side.record(task, blank) {
                    // A dirty gap of a sparse write: the payload stops here.
                    while let Some((j, t)) = in_flight.pop_front() {
                        ack(conn, opcode, j, t).await?;
                    }
                    return Ok(p.blocks[..=i].iter().map(|b| b.payload_len as u64).sum());
                }
                continue;
            }
        }
        while let Some(&(j, t)) = in_flight.front() {
            if in_flight.len() < 2 && may_overlap(p, mode, j, i, baud) {
                break;
            }
            in_flight.pop_front();
            ack(conn, opcode, j, t).await?;
            ctr.add(p.blocks[j].yields as u64);
        }
        conn.write_raw(&block.frame).await?;
        idle = false;
        // The reply to block i comes after the stub has finished block i-1 and received
        // block i (behind whatever else is queued on the wire).
        let prev_work = if i == 0 { timeouts::DEFAULT } else { timeouts::stub_data_block(p.blocks[i - 1].yields) };
        let t = prev_work + wire_time(block.frame.len() * 2, baud);
        last_timeout = t;
        in_flight.push_back((i, t));
    }
    while let Some((j, t)) = in_flight.pop_front() {
        ack(conn, opcode, j, t).await?;
        ctr.add(p.blocks[j].yields as u64);
    }
    // END makes the stub finish the last block before replying.
    let end_timeout = p.blocks.last().map(|b| timeouts::stub_data_block(b.yields)).unwrap_or(last_timeout);
    match p.encoding {
        Encoding::Deflate => conn.command_timeout(&FlashDeflEnd::stay(), end_timeout).await?,
        Encoding::Raw => conn.command_timeout(&FlashEnd::stay(), end_timeout).await?,
    }
    Ok(p.wire_len as u64)
}

async fn ack<T: Transport>(conn: &mut Connection<T>, opcode: Opcode, seq: usize, timeout: Duration) -> Result<()> {
    let resp = conn.recv_response(opcode, timeout).await?;
    let r = match opcode {
        Opcode::FlashDeflData => FlashDeflData::new(seq as u32, Vec::new()).parse_response(&resp, conn.format),
        _ => FlashData::new(seq as u32, Vec::new()).parse_response(&resp, conn.format),
    };
    r.map_err(|e| {
        let err = conn.response_error(opcode, e);
        tracing::warn!(block = seq, error = %err, "data block rejected");
        err
    })
}

/// Sends `task`'s command and then `frame` (a data block) back to back, and waits for the
/// command's reply (the chip runs it while the block arrives). Returns, for a hash, whether
/// the range read blank (a written run's piece: the image's bytes); for an erase, whether
/// it is done.
///
/// Lock-step: the caller sends a pair only to an idle stub (after the BEGIN reply or the
/// sync's), so the command lands in one receive buffer, the block in the other, and the
/// reply is the command's own — the new stub answers a command with the error of the
/// previous command's post-processing instead of running it (`handle_command`,
/// `accumulated_result`), which here the sync has already collected. The reply may still
/// wait for an erase the last block (or BEGIN) started ahead ([`timeouts::ERASE_AHEAD`]).
/// An ERASE_REGION that ran out of the new stub's budget (0xC400, see [`crate::erase`]) is
/// not an error here: the stub goes on with the block, and the sweep erases the range again
/// on its own after the write.
async fn send_side_task<T: Transport>(
    conn: &mut Connection<T>,
    side: &mut SideHashes,
    task: SideTask,
    frame: &[u8],
    wire: Duration,
    asked: tokio::time::Instant,
) -> Result<bool> {
    let (offset, len) = task.range();
    if let SideTask::Erase(..) = task {
        let (offset, size) = crate::diff_plan::sector_aligned(offset, len);
        let erase = EraseRegion { offset, size };
        conn.send_packet(&erase.to_packet()).await?;
        conn.write_raw(frame).await?;
        return match conn.recv_reply(&erase, erase.timeout(true) + timeouts::ERASE_AHEAD + wire).await {
            Ok(()) => {
                side.observe_erase(len, asked.elapsed());
                Ok(true)
            }
            Err(e) if crate::erase::is_failed_spi_op(&e) => {
                tracing::info!(offset = format_args!("0x{offset:08x}"), size, "paired ERASE_REGION out of budget");
                Ok(false)
            }
            Err(e) => Err(e),
        };
    }
    let md5 = SpiFlashMd5 { addr: offset, size: len };
    conn.send_packet(&md5.to_packet()).await?;
    conn.write_raw(frame).await?;
    let got = conn.recv_reply(&md5, md5.timeout(true) + timeouts::ERASE_AHEAD + wire).await?;
    side.observe_md5(len, asked.elapsed());
    side.overlapped_bytes += len as u64;
    Ok(got == side.expected(task).unwrap_or_else(|| md5_of_blank(len)))
}

/// ROM write: FLASH_BEGIN erases the (sector-aligned) range up front, then 1 KiB blocks,
/// each acknowledged after it is programmed. No FLASH_END: it would leave the loader.
pub(crate) async fn write_rom<T: Transport>(
    conn: &mut Connection<T>,
    chip: Chip,
    offset: u32,
    data: &[u8],
    ctr: &mut Counter,
) -> Result<u64> {
    // The ROM erases from the start of the offset's sector: align down and pad with 0xFF
    // (those bytes are erased anyway), as esptool does.
    let pad = (offset % SECTOR_SIZE) as usize;
    let aligned = offset - pad as u32;
    let mut buf = Vec::with_capacity(pad + data.len());
    buf.resize(pad, 0xFF);
    buf.extend_from_slice(data);
    let size = buf.len() as u32;
    let block = ROM_WRITE_BLOCK as usize;
    let num_blocks = buf.len().div_ceil(block) as u32;
    // Some ROMs erase more than asked for (ESP8266): the chip module knows how much to ask.
    let erase_size = chip.target().rom_flash_begin_size(aligned, size);
    let params = BeginParams {
        size: erase_size,
        num_blocks,
        block_size: ROM_WRITE_BLOCK,
        offset: aligned,
        encrypted: (chip.spec().rom_begin_len == 20).then_some(0),
    };
    conn.command_timeout(&FlashBegin(params), timeouts::per_mb(timeouts::ERASE_PER_MB, size)).await?;
    for (seq, chunk) in buf.chunks(block).enumerate() {
        let mut c = chunk.to_vec();
        c.resize(block, 0xFF);
        conn.command(&FlashData::new(seq as u32, c)).await?;
        let useful = if seq == 0 { chunk.len().saturating_sub(pad) } else { chunk.len() };
        ctr.add(useful as u64);
    }
    Ok(buf.len() as u64)
}

/// Erase through the ROM: FLASH_BEGIN erases the range and nothing is written.
pub(crate) async fn rom_erase<T: Transport>(
    conn: &mut Connection<T>,
    chip: Chip,
    offset: u32,
    size: u32,
) -> Result<()> {
    let erase_size = chip.target().rom_flash_begin_size(offset, size);
    let params = BeginParams {
        size: erase_size,
        num_blocks: size.div_ceil(ROM_WRITE_BLOCK),
        block_size: ROM_WRITE_BLOCK,
        offset,
        encrypted: (chip.spec().rom_begin_len == 20).then_some(0),
    };
    conn.command_timeout(&FlashBegin(params), timeouts::per_mb(timeouts::ERASE_PER_MB, size)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_pipelining_only_when_the_chip_keeps_up() {
        let mut data = vec![0u8; 200 * 1024];
        let mut x = 7u32;
        for b in data.iter_mut() {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            *b = (x >> 24) as u8;
        }
        let p = crate::image::plan_payload(0, &data);
        assert!(p.blocks.len() >= 3);
        // Block 1 behind block 0: nothing before block 0, always safe.
        assert!(may_overlap(&p, Pipelining::Auto, 0, 1, 921_600));
        // At 921600 a 16 KiB block is ~0.18 s on the wire: never enough for the bound.
        assert!(!may_overlap(&p, Pipelining::Auto, 1, 2, 921_600));
        // At 115200 (~1.4 s per block) the chip provably keeps up with ~16 KiB blocks.
        assert!(may_overlap(&p, Pipelining::Auto, 1, 2, 115_200));
        assert!(!may_overlap(&p, Pipelining::StopAndWait, 0, 1, 115_200));
        assert!(may_overlap(&p, Pipelining::Always, 1, 2, 3_000_000));
        assert!(chip_work_bound(90 * 1024) > Duration::from_secs(2));
    }

    #[test]
    fn gaps_complement_the_sparse_plan() {
        let mut data = vec![0xFFu8; 0x8000];
        data[0x1000] = 1; // sector 0x11000
        data[0x5FFF] = 2; // sector 0x15000
        let img = crate::image::PreparedImage::new(vec![crate::image::Region::new(0x10000, data)]).unwrap();
        let r = &img.regions[0];
        // The 12 KiB between the two data sectors is short: written with them.
        assert_eq!(r.sparse.len(), 1);
        assert_eq!(gaps(r), vec![(0x10000, 0x1000), (0x16000, 0x2000)]);
        let total: u32 = gaps(r).iter().map(|g| g.1).sum::<u32>() + r.sparse_len();
        assert_eq!(total, r.len());
    }

    #[test]
    fn wire_time_scales_with_baud() {
        assert_eq!(wire_time(11_520, 115_200), Duration::from_secs(1));
        assert!(wire_time(16_384, 921_600) < Duration::from_millis(200));
    }
}
