//! Writing a region onto a board that already holds something: the board hashes its flash
//! per probe block, [`crate::diff_plan`] decides, and only what differs is erased or
//! written.
//!
//! A board holding older firmware, or a board back for rework holding this very image, is
//! common on a line. Hashing on the chip (~1.4 MB/s on an ESP32 with the new stub) is far
//! cheaper than sending, erasing and programming, so:
//!
//! 1. **Data blocks** (probe blocks where the image holds anything but 0xFF) are hashed
//!    first; blocks the board already holds are left alone. After a block that differs
//!    (other firmware on the board) the next one is first judged by its first sector: one
//!    that is neither the image's nor blank settles "differs" without hashing the block.
//! 2. **Gap blocks** (all 0xFF in the image) on a board with other firmware get the same
//!    first-sector look, in address order until two in a row read blank (other firmware's
//!    data lies in one stretch): not blank → dirty. The others are *unknown*.
//! 3. The plan for the data blocks is carried out in address order: `Write` ranges as
//!    ordinary stub writes (the stub erases under them), `Erase` ranges (0xFF in the image,
//!    something else on the board) with ERASE_REGION. Under the data blocks, while the stub
//!    would idle, rides the **sweep** of the gap blocks ([`SideHashes::sweep`]): dirty
//!    blocks are erased (ERASE_REGION) and hashed after their erase; unknown ones are
//!    hashed (blank: that hash is their proof, since no write or erase of the re-flash
//!    touches them; not blank: hashed block by block, the dirty ones erased and hashed
//!    again). What the sweep did not get to is done after the writes.
//! 4. **Proof**: when step 3 wrote or erased data-block sectors, the data blocks are hashed
//!    again as one MD5 per contiguous range, against the image. So every byte of the region
//!    is covered by an on-chip MD5 taken after the last write or erase that could have
//!    changed it (an erase of a gap block touches only that block; the writes only their
//!    own sectors), and a block that changed after it was probed is caught rather than
//!    trusted.

use crate::connection::Connection;
use crate::diff_plan::{plan, probe_blocks, sector_aligned, Action, BoardBlock, DiffPlan, PROBE_BLOCK};
use crate::error::{Error, Result, Stage};
use crate::image::{hex, md5, md5_of_blank, plan_payload, Payload, PreparedRegion};
use crate::side_hash::{SideHashes, SideTask};
use crate::transport::Transport;
use crate::write::{
    chip_md5, chip_md5_expecting, write_stub_payload, Counter, RegionOutcome, RegionReport, WriteOptions,
};
use flashline_protocol::flash::SECTOR_SIZE;
use std::borrow::Cow;

/// A probe block's position and what the board holds there.
pub(crate) type Fact = ((u32, u32), BoardBlock);

/// The region's bytes of `(offset, len)`.
fn slice(region: &PreparedRegion, offset: u32, len: u32) -> &[u8] {
    let s = (offset - region.offset) as usize;
    &region.data[s..s + len as usize]
}

fn is_data_block(region: &PreparedRegion, (offset, len): (u32, u32)) -> bool {
    slice(region, offset, len).iter().any(|&b| b != 0xFF)
}

/// The first probe block of `region` that holds image data.
pub(crate) fn first_data_block(region: &PreparedRegion) -> Option<(u32, u32)> {
    probe_blocks(region.offset, region.len()).into_iter().find(|&b| is_data_block(region, b))
}

/// What the board holds in `block`, from one on-chip MD5.
pub(crate) async fn probe<T: Transport>(
    conn: &mut Connection<T>,
    region: &PreparedRegion,
    block: (u32, u32),
) -> Result<BoardBlock> {
    let (offset, len) = block;
    let got = chip_md5(conn, offset, len).await?;
    Ok(BoardBlock::classify(&got, &md5(slice(region, offset, len)), &md5_of_blank(len)))
}

/// Blank first sectors in a row after which the gap blocks are no longer peeked at.
const PEEK_BLANK_RUN: u32 = 2;

/// Whether the first sector of `block` on the board is neither the image's nor blank: then
/// the block certainly differs (and is not blank), for the price of hashing one sector.
async fn peek_differs<T: Transport>(
    conn: &mut Connection<T>,
    region: &PreparedRegion,
    (offset, len): (u32, u32),
) -> Result<bool> {
    let len = len.min(SECTOR_SIZE - offset % SECTOR_SIZE);
    let got = chip_md5(conn, offset, len).await?;
    Ok(got != md5(slice(region, offset, len)) && got != md5_of_blank(len))
}

/// Steps 1–4 of the module docs for one region. `known` holds facts already probed (they
/// are not hashed again).
pub(crate) async fn write_region_diff<T: Transport>(
    conn: &mut Connection<T>,
    region: &PreparedRegion,
    opts: &WriteOptions,
    ctr: &mut Counter,
    known: &[Fact],
) -> Result<RegionReport> {
    conn.set_stage(Stage::Write);
    let (data_blocks, gap_blocks): (Vec<_>, Vec<_>) =
        probe_blocks(region.offset, region.len()).into_iter().partition(|&b| is_data_block(region, b));

    // 1. Data blocks. After a block that differs the board likely holds other firmware:
    // a first sector that is neither the image's nor blank then settles the next block
    // for the price of hashing one sector.
    let mut facts: Vec<Fact> = Vec::with_capacity(data_blocks.len());
    for &b in &data_blocks {
        let last_differs = facts.last().is_some_and(|&(_, f)| f == BoardBlock::Differs);
        let fact = match known.iter().find(|(k, _)| *k == b) {
            Some(&(_, f)) => f,
            None if last_differs && peek_differs(conn, region, b).await? => BoardBlock::Differs,
            None => probe(conn, region, b).await?,
        };
        facts.push((b, fact));
    }
    // 2. The gap blocks: on a board with other firmware, those whose first sector is not blank
    // are dirty; the others are hashed in the sweep.
    // Other firmware's data lies in one stretch from its start: after two blank first
    // sectors in a row the rest is left to the sweep's hashes, which find any dirty block.
    let foreign = facts.iter().any(|&(_, f)| f == BoardBlock::Differs);
    let mut peeks_left = if foreign { PEEK_BLANK_RUN } else { 0 };
    let mut unknown = Vec::new();
    let mut dirty = Vec::new();
    for &b in &gap_blocks {
        if peeks_left == 0 {
            unknown.push(b);
        } else if peek_differs(conn, region, b).await? {
            dirty.push(b);
            peeks_left = PEEK_BLANK_RUN;
        } else {
            unknown.push(b);
            peeks_left -= 1;
        }
    }
    let data_plan = plan(region.offset, &region.data, &facts);
    ctr.add(data_plan.bytes(Action::Identical) + data_plan.bytes(Action::BlankSkip));

    // 3. Writes and erases in address order, the gap blocks swept under the data blocks.
    let mut found_blank = 0u64;
    let mut side = SideHashes::sweep(merged(&unknown), dirty, PROBE_BLOCK, opts.verify);
    let mut sent = 0;
    for span in &data_plan.spans {
        match span.action {
            Action::Write => {
                let payload = payload_for(region, span.offset, span.len);
                sent += write_stub_payload(conn, &payload, opts.pipelining, ctr, Some(&mut side)).await?;
            }
            Action::Erase => {
                // Sectors of a dirty block that the image leaves 0xFF are often blank on
                // the board too (the same layout): one hash of a few sectors is cheaper
                // than erasing them. The data blocks' proof covers them either way.
                let blank = md5_of_blank(span.len);
                if chip_md5(conn, span.offset, span.len).await? == blank {
                    found_blank += span.len as u64;
                } else {
                    erase(conn, span.offset, span.len).await?;
                }
                ctr.add(span.len as u64);
            }
            Action::Identical | Action::BlankSkip => {}
        }
    }
    tracing::debug!(pairs = side.pairs, bytes = side.overlapped_bytes, "gap sweep under data blocks");

    // What the sweep has left, on its own.
    conn.set_stage(Stage::Write);
    finish_sweep(conn, &mut side).await?;
    let gap_facts: Vec<Fact> = gap_blocks
        .iter()
        .map(|&b| (b, if side.erased().contains(&b) { BoardBlock::Differs } else { BoardBlock::Same }))
        .collect();
    let gap_plan = plan(region.offset, &region.data, &gap_facts);
    ctr.add(gap_plan.bytes(Action::BlankSkip) + gap_plan.bytes(Action::Erase));

    // 4. Proof of what changed: the erased gap blocks were hashed after their erase in the
    // sweep; the data blocks are hashed again when anything was written.
    if opts.verify {
        conn.set_stage(Stage::Verify);
        for (offset, len) in side.take_recheck() {
            expect(conn, offset, len, md5_of_blank(len)).await?;
        }
        if data_plan.touches_flash() {
            for (offset, len) in merged(&data_blocks) {
                expect(conn, offset, len, md5(slice(region, offset, len))).await?;
            }
        }
    }
    let both = [&data_plan, &gap_plan];
    let planned = |a: Action| both.iter().map(|p: &&DiffPlan| p.bytes(a)).sum::<u64>();
    let total = |a: Action| match a {
        Action::Erase => planned(a) - found_blank,
        Action::BlankSkip => planned(a) + found_blank,
        _ => planned(a),
    };
    tracing::info!(
        offset = format_args!("0x{:08x}", region.offset),
        written = total(Action::Write),
        erased = total(Action::Erase),
        identical = total(Action::Identical),
        blank = total(Action::BlankSkip),
        "region re-flashed where it differed"
    );
    Ok(RegionReport {
        offset: region.offset,
        len: region.len(),
        outcome: RegionOutcome::Diff,
        written: total(Action::Write),
        sent,
        verified: opts.verify,
        md5: region.md5,
        erased: total(Action::Erase),
        blank: total(Action::BlankSkip),
        identical: total(Action::Identical),
    })
}

/// The prepared payload of a write range when the image has one (a whole run of non-0xFF
/// sectors), otherwise one compressed now.
fn payload_for(region: &PreparedRegion, offset: u32, len: u32) -> Cow<'_, Payload> {
    match region.runs.iter().chain(&region.sparse).find(|p| p.offset == offset && p.len == len) {
        Some(p) => Cow::Borrowed(p),
        None => Cow::Owned(plan_payload(offset, slice(region, offset, len))),
    }
}

/// Runs what the sweep did not get to under the data blocks, one command at a time: blank
/// checks per block (a dirty range is then known block by block without hashing it twice),
/// erases and proofs of whole contiguous ranges.
async fn finish_sweep<T: Transport>(conn: &mut Connection<T>, side: &mut SideHashes) -> Result<()> {
    while let Some(task) = side.next_task_alone() {
        let (offset, len) = task.range();
        let blank = match task {
            SideTask::Erase(..) => {
                erase(conn, offset, len).await?;
                true
            }
            SideTask::Retry(..) => {
                let (offset, size) = sector_aligned(offset, len);
                crate::erase::finish_erase(conn, offset, size).await?;
                true
            }
            _ => chip_md5(conn, offset, len).await? == md5_of_blank(len),
        };
        side.record(task, blank);
    }
    Ok(())
}

/// ERASE_REGION of the sectors under `offset..offset+len`, made sure of when the stub
/// runs out of its erase budget ([`crate::erase::stub_erase_region`]).
async fn erase<T: Transport>(conn: &mut Connection<T>, offset: u32, len: u32) -> Result<()> {
    let (offset, size) = sector_aligned(offset, len);
    crate::erase::stub_erase_region(conn, offset, size).await
}

/// The on-chip MD5 of a range must be `expected`.
async fn expect<T: Transport>(conn: &mut Connection<T>, offset: u32, len: u32, expected: [u8; 16]) -> Result<()> {
    let got = chip_md5_expecting(conn, offset, len, &expected).await?;
    if got == expected {
        Ok(())
    } else {
        Err(Error::VerifyMismatch { offset, len, expected: hex(&expected), actual: hex(&got) })
    }
}

/// Contiguous ranges joined.
fn merged(ranges: &[(u32, u32)]) -> Vec<(u32, u32)> {
    let mut out: Vec<(u32, u32)> = Vec::new();
    for &(o, l) in ranges {
        match out.last_mut() {
            Some((po, pl)) if *po + *pl == o => *pl += l,
            _ => out.push((o, l)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merging_joins_only_touching_ranges() {
        assert_eq!(merged(&[(0, 0x1000), (0x1000, 0x1000), (0x3000, 0x1000)]), vec![(0, 0x2000), (0x3000, 0x1000)]);
        assert!(merged(&[]).is_empty());
    }

    #[test]
    fn data_blocks_are_those_holding_image_bytes() {
        let mut data = vec![0xFFu8; 0x30000];
        data[0x12345] = 0;
        let img = crate::image::PreparedImage::new(vec![crate::image::Region::new(0, data)]).unwrap();
        let r = &img.regions[0];
        assert_eq!(first_data_block(r), Some((0x10000, 0x10000)));
        assert!(!is_data_block(r, (0, 0x10000)));
        // A run of the image has its prepared payload.
        assert!(matches!(payload_for(r, 0x12000, 0x1000), Cow::Borrowed(_)));
        assert!(matches!(payload_for(r, 0x10000, 0x1000), Cow::Owned(_)));
    }
}
