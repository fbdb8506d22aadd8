//! Writing a region onto a board that already holds something: the board hashes its flash
//! per probe block, [`crate::diff_plan`] decides, and only what differs is erased or
//! written.
//!
//! A board holding older firmware, or a board back for rework holding this very image, is
//! common on a line. Hashing on the chip (~1.4 MB/s on an ESP32 with the new stub) is far
//! cheaper than sending, erasing and programming, so:
//!
//! 1. **Data blocks** (probe blocks where the image holds anything but 0xFF) are hashed
//!    first; blocks the board already holds are left alone.
//! 2. The plan for them is carried out in address order: `Write` ranges as ordinary stub
//!    writes (the stub erases under them), `Erase` ranges (0xFF in the image, something
//!    else on the board) with ERASE_REGION.
//! 3. **Gap blocks** (all 0xFF in the image) are hashed *after* the writes: a blank one is
//!    proven by that hash; a dirty one is erased with ERASE_REGION and hashed again.
//! 4. **Proof**: when step 2 changed anything, the data blocks are hashed again as one MD5
//!    per contiguous range, against the image. So every byte of the region is covered by an
//!    on-chip MD5 taken after the last write or erase that could have changed it (a gap
//!    block's erase touches only that block), and a block that changed after it was probed
//!    is caught rather than trusted.

use crate::connection::Connection;
use crate::diff_plan::{plan, probe_blocks, sector_aligned, Action, BoardBlock, DiffPlan};
use crate::error::{Error, Result, Stage};
use crate::image::{hex, md5, md5_of_blank, plan_payload, Payload, PreparedRegion};
use crate::transport::Transport;
use crate::write::{
    chip_md5, chip_md5_expecting, write_stub_payload, Counter, RegionOutcome, RegionReport, WriteOptions,
};
use flashline_protocol::command::EraseRegion;
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

    // 1. Data blocks.
    let mut facts = Vec::with_capacity(data_blocks.len());
    for &b in &data_blocks {
        let fact = match known.iter().find(|(k, _)| *k == b) {
            Some(&(_, f)) => f,
            None => probe(conn, region, b).await?,
        };
        facts.push((b, fact));
    }
    let data_plan = plan(region.offset, &region.data, &facts);
    ctr.add(data_plan.bytes(Action::Identical) + data_plan.bytes(Action::BlankSkip));

    // 2. Writes and erases in address order.
    let mut sent = 0;
    for span in &data_plan.spans {
        match span.action {
            Action::Write => {
                let payload = payload_for(region, span.offset, span.len);
                sent += write_stub_payload(conn, &payload, opts.pipelining, ctr, None).await?;
            }
            Action::Erase => {
                erase(conn, span.offset, span.len).await?;
                ctr.add(span.len as u64);
            }
            Action::Identical | Action::BlankSkip => {}
        }
    }

    // 3. Gap blocks, after the writes.
    conn.set_stage(Stage::Write);
    let mut gap_facts = Vec::with_capacity(gap_blocks.len());
    for &b in &gap_blocks {
        gap_facts.push((b, probe(conn, region, b).await?));
    }
    let gap_plan = plan(region.offset, &region.data, &gap_facts);
    let gap_erases = merged(&gap_plan.ranges(Action::Erase));
    for &(offset, len) in &gap_erases {
        erase(conn, offset, len).await?;
    }
    ctr.add(gap_plan.bytes(Action::BlankSkip) + gap_plan.bytes(Action::Erase));

    // 4. Proof of what changed.
    if opts.verify {
        conn.set_stage(Stage::Verify);
        for &(offset, len) in &gap_erases {
            expect(conn, offset, len, md5_of_blank(len)).await?;
        }
        if data_plan.touches_flash() {
            for (offset, len) in merged(&data_blocks) {
                expect(conn, offset, len, md5(slice(region, offset, len))).await?;
            }
        }
    }
    let both = [&data_plan, &gap_plan];
    let total = |a: Action| both.iter().map(|p: &&DiffPlan| p.bytes(a)).sum::<u64>();
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

/// ERASE_REGION of the sectors under `offset..offset+len`.
async fn erase<T: Transport>(conn: &mut Connection<T>, offset: u32, len: u32) -> Result<()> {
    let (offset, size) = sector_aligned(offset, len);
    conn.command(&EraseRegion { offset, size }).await
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
