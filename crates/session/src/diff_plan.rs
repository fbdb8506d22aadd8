//! The re-flash write plan: given what a board reported per probe block, which parts of a
//! region to leave alone, erase, and write. Pure (no I/O), so it is tested on tables and
//! properties; [`crate::reflash`] runs it against a board.
//!
//! Per probe block (absolute 64 KiB blocks clipped to the region, see [`probe_blocks`]) the
//! board reports one MD5, which tells whether it holds exactly the image ([`BoardBlock::Same`]),
//! is erased ([`BoardBlock::Blank`]) or holds something else ([`BoardBlock::Differs`]).
//! Inside a block the plan works per 4 KiB sector, because that is what the flash erases:
//!
//! | board block | image sector all 0xFF | image sector holds data |
//! |---|---|---|
//! | `Same` | [`Action::BlankSkip`] if the whole image block is 0xFF, else [`Action::Identical`] | [`Action::Identical`] |
//! | `Blank` | [`Action::BlankSkip`] | [`Action::Write`] |
//! | `Differs` | [`Action::Erase`] | [`Action::Write`] |
//!
//! Writing lets the stub erase the written sectors (both stubs erase under a write; the new
//! stub skips sectors that read blank until it meets a dirty one), so a `Write` range is
//! correct whatever the board held. Only sectors whose image data is not all 0xFF are ever
//! written: the plan never programs 0xFF into erased flash, and it erases only where the
//! image is 0xFF and the board's block holds something else.

use flashline_protocol::flash::SECTOR_SIZE;

/// Size of the blocks the board hashes for the plan: a 64 KiB flash block. Smaller blocks
/// find smaller differences but cost one MD5 round trip each; 64 KiB is the unit the stubs
/// erase in anyway.
pub const PROBE_BLOCK: u32 = 64 * 1024;

/// What one probe block of the board holds, from its on-chip MD5.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BoardBlock {
    /// Exactly the image's bytes.
    Same,
    /// All 0xFF (and the image is not).
    Blank,
    /// Anything else.
    Differs,
}

impl BoardBlock {
    /// Classifies a block from the board's MD5, the image's MD5 of the same bytes and the
    /// MD5 of as many 0xFF bytes.
    pub fn classify(board: &[u8; 16], image: &[u8; 16], blank: &[u8; 16]) -> Self {
        if board == image {
            BoardBlock::Same
        } else if board == blank {
            BoardBlock::Blank
        } else {
            BoardBlock::Differs
        }
    }
}

/// What the plan does with a range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// The board already holds the image's bytes (not all 0xFF).
    Identical,
    /// The image is 0xFF there and so is the board.
    BlankSkip,
    /// The image is 0xFF there, the board is not: erase, write nothing.
    Erase,
    /// Write the image's bytes (the stub erases under the write).
    Write,
}

/// A range of the region and what happens to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub offset: u32,
    pub len: u32,
    pub action: Action,
}

impl Span {
    pub fn end(&self) -> u32 {
        self.offset + self.len
    }
}

/// The plan for some blocks of a region: spans in address order, neighbours with the same
/// action merged.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DiffPlan {
    pub spans: Vec<Span>,
}

impl DiffPlan {
    /// (offset, len) of the spans with `action`.
    pub fn ranges(&self, action: Action) -> Vec<(u32, u32)> {
        self.spans.iter().filter(|s| s.action == action).map(|s| (s.offset, s.len)).collect()
    }

    /// Bytes covered by spans with `action`.
    pub fn bytes(&self, action: Action) -> u64 {
        self.spans.iter().filter(|s| s.action == action).map(|s| s.len as u64).sum()
    }

    /// Whether the plan changes anything on the board.
    pub fn touches_flash(&self) -> bool {
        self.spans.iter().any(|s| matches!(s.action, Action::Write | Action::Erase))
    }

    fn push(&mut self, offset: u32, len: u32, action: Action) {
        if len == 0 {
            return;
        }
        match self.spans.last_mut() {
            Some(last) if last.action == action && last.end() == offset => last.len += len,
            _ => self.spans.push(Span { offset, len, action }),
        }
    }
}

/// The probe blocks of `len` bytes at `offset`: absolute [`PROBE_BLOCK`]-aligned blocks,
/// clipped to the range, as (offset, len).
pub fn probe_blocks(offset: u32, len: u32) -> Vec<(u32, u32)> {
    aligned_pieces(offset, len, PROBE_BLOCK)
}

/// `offset..offset+len` cut at multiples of `unit` (absolute addresses).
fn aligned_pieces(offset: u32, len: u32, unit: u32) -> Vec<(u32, u32)> {
    let end = offset as u64 + len as u64;
    let mut out = Vec::new();
    let mut at = offset as u64;
    while at < end {
        let next = ((at / unit as u64) + 1) * unit as u64;
        let hi = next.min(end);
        out.push((at as u32, (hi - at) as u32));
        at = hi;
    }
    out
}

/// The plan for the blocks in `facts` ((offset, len) of a block inside the region and what
/// the board holds there) of the region whose bytes are `data` at `region_offset`.
///
/// Blocks not in `facts` are not in the plan. Panics if a block lies outside the region.
pub fn plan(region_offset: u32, data: &[u8], facts: &[((u32, u32), BoardBlock)]) -> DiffPlan {
    let mut out = DiffPlan::default();
    let mut sorted: Vec<&((u32, u32), BoardBlock)> = facts.iter().collect();
    sorted.sort_by_key(|((o, _), _)| *o);
    for &&((offset, len), board) in &sorted {
        let start = (offset - region_offset) as usize;
        let bytes = &data[start..start + len as usize];
        let image_blank = bytes.iter().all(|&b| b == 0xFF);
        if board == BoardBlock::Same {
            out.push(offset, len, if image_blank { Action::BlankSkip } else { Action::Identical });
            continue;
        }
        for (o, l) in aligned_pieces(offset, len, SECTOR_SIZE) {
            let s = (o - region_offset) as usize;
            let sector_blank = data[s..s + l as usize].iter().all(|&b| b == 0xFF);
            let action = match (board, sector_blank) {
                (_, false) => Action::Write,
                (BoardBlock::Differs, true) => Action::Erase,
                (_, true) => Action::BlankSkip,
            };
            out.push(o, l, action);
        }
    }
    out
}

/// `offset..offset+len` widened to whole sectors (what ERASE_REGION accepts). Regions never
/// share a sector, so the widening only reaches flash outside every region.
pub fn sector_aligned(offset: u32, len: u32) -> (u32, u32) {
    let lo = offset - offset % SECTOR_SIZE;
    let hi = (offset as u64 + len as u64).div_ceil(SECTOR_SIZE as u64) * SECTOR_SIZE as u64;
    (lo, (hi - lo as u64) as u32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const S: u32 = SECTOR_SIZE;
    use Action::*;
    use BoardBlock::*;

    /// A region of `sectors` sectors at `offset` whose sectors listed in `data` hold bytes.
    fn image(sectors: u32, data: &[u32]) -> Vec<u8> {
        let mut v = vec![0xFFu8; (sectors * S) as usize];
        for &i in data {
            v[(i * S) as usize + 7] = i as u8;
        }
        v
    }

    fn spans(p: &DiffPlan) -> Vec<(u32, u32, Action)> {
        p.spans.iter().map(|s| (s.offset, s.len, s.action)).collect()
    }

    #[test]
    fn probe_blocks_are_absolute_and_clipped() {
        assert_eq!(probe_blocks(0, 0x20000), vec![(0, 0x10000), (0x10000, 0x10000)]);
        assert_eq!(probe_blocks(0x1000, 0x10000), vec![(0x1000, 0xF000), (0x10000, 0x1000)]);
        assert_eq!(probe_blocks(0x10000, 0x800), vec![(0x10000, 0x800)]);
        assert!(probe_blocks(0x10000, 0).is_empty());
    }

    #[test]
    fn table_of_block_states() {
        // Two blocks of 16 sectors: data in sectors 1..=3 and 18; the rest 0xFF.
        let data = image(32, &[1, 2, 3, 18]);
        let b0 = (0, 0x10000);
        let b1 = (0x10000, 0x10000);
        type Case = (&'static str, Vec<((u32, u32), BoardBlock)>, Vec<(u32, u32, Action)>);
        let cases: Vec<Case> = vec![
            ("identical", vec![(b0, Same), (b1, Same)], vec![(0, 0x20000, Identical)]),
            (
                "blank board",
                vec![(b0, Blank), (b1, Blank)],
                vec![
                    (0, S, BlankSkip),
                    (S, 3 * S, Write),
                    (4 * S, 14 * S, BlankSkip),
                    (18 * S, S, Write),
                    (19 * S, 13 * S, BlankSkip),
                ],
            ),
            (
                "dirty at the start",
                vec![(b0, Differs), (b1, Same)],
                vec![(0, S, Erase), (S, 3 * S, Write), (4 * S, 12 * S, Erase), (0x10000, 0x10000, Identical)],
            ),
            (
                "dirty at the end",
                vec![(b0, Same), (b1, Differs)],
                vec![(0, 0x10000, Identical), (0x10000, 2 * S, Erase), (18 * S, S, Write), (19 * S, 13 * S, Erase)],
            ),
        ];
        for (name, facts, want) in cases {
            assert_eq!(spans(&plan(0, &data, &facts)), want, "{name}");
        }
    }

    #[test]
    fn an_all_blank_image_block_is_skipped_as_blank_or_erased() {
        let data = image(16, &[]);
        assert_eq!(spans(&plan(0x20000, &data, &[((0x20000, 0x10000), Same)])), vec![(0x20000, 0x10000, BlankSkip)]);
        assert_eq!(spans(&plan(0x20000, &data, &[((0x20000, 0x10000), Differs)])), vec![(0x20000, 0x10000, Erase)]);
    }

    #[test]
    fn dirty_in_the_middle_touches_only_that_block() {
        let data = image(48, &(0..48).collect::<Vec<_>>());
        let blocks = probe_blocks(0, 48 * S);
        let facts = vec![(blocks[0], Same), (blocks[1], Differs), (blocks[2], Same)];
        let p = plan(0, &data, &facts);
        assert_eq!(p.ranges(Write), vec![(0x10000, 0x10000)]);
        assert_eq!(p.bytes(Identical), 0x20000);
        assert!(p.ranges(Erase).is_empty());
    }

    #[test]
    fn sector_alignment_widens_outwards() {
        assert_eq!(sector_aligned(0x1800, 0x100), (0x1000, 0x1000));
        assert_eq!(sector_aligned(0x1000, 0x2000), (0x1000, 0x2000));
        assert_eq!(sector_aligned(0x1FFC, 8), (0x1000, 0x2000));
    }

    /// What a board holds after the plan: the stub erases the sectors of every write range
    /// and programs the image's bytes; ERASE_REGION erases whole sectors.
    fn apply(region_offset: u32, data: &[u8], board: &mut [u8], p: &DiffPlan) {
        for s in &p.spans {
            let (lo, l) = sector_aligned(s.offset, s.len);
            let a = (lo - region_offset) as usize;
            let b = (a + l as usize).min(board.len());
            match s.action {
                Write => {
                    board[a..b].fill(0xFF);
                    let o = (s.offset - region_offset) as usize;
                    board[o..o + s.len as usize].copy_from_slice(&data[o..o + s.len as usize]);
                }
                Erase => board[a..b].fill(0xFF),
                Identical | BlankSkip => {}
            }
        }
    }

    fn classify(region_offset: u32, data: &[u8], board: &[u8]) -> Vec<((u32, u32), BoardBlock)> {
        probe_blocks(region_offset, data.len() as u32)
            .into_iter()
            .map(|(o, l)| {
                let r = (o - region_offset) as usize..(o - region_offset + l) as usize;
                let fact = if board[r.clone()] == data[r.clone()] {
                    Same
                } else if board[r].iter().all(|&b| b == 0xFF) {
                    Blank
                } else {
                    Differs
                };
                ((o, l), fact)
            })
            .collect()
    }

    /// Contents of one sector: blank, data A, data B. Region of up to 40 sectors at a
    /// sector-aligned offset inside the first 256 KiB.
    fn sector_strategy() -> impl Strategy<Value = Vec<u8>> {
        prop::collection::vec(0u8..3, 1..40)
    }

    fn fill(kinds: &[u8], seed: u8) -> Vec<u8> {
        let mut v = vec![0xFFu8; kinds.len() * S as usize];
        for (i, &k) in kinds.iter().enumerate() {
            if k > 0 {
                let base = i * S as usize;
                v[base] = k.wrapping_mul(31).wrapping_add(seed);
                v[base + 100] = i as u8;
            }
        }
        v
    }

    proptest! {
        #[test]
        fn applying_the_plan_yields_the_image(
            image_kinds in sector_strategy(),
            board_kinds in sector_strategy(),
            start in 0u32..64,
        ) {
            let n = image_kinds.len().min(board_kinds.len());
            let offset = start * S;
            let data = fill(&image_kinds[..n], 0);
            let mut board = fill(&board_kinds[..n], 1);
            // Some sectors equal to the image.
            for i in (0..n).step_by(3) {
                let r = i * S as usize..(i + 1) * S as usize;
                board[r.clone()].copy_from_slice(&data[r]);
            }
            let before = board.clone();
            let p = plan(offset, &data, &classify(offset, &data, &board));
            apply(offset, &data, &mut board, &p);
            prop_assert_eq!(&board, &data);
            // Spans cover the region exactly, in order.
            let mut at = offset;
            for s in &p.spans {
                prop_assert_eq!(s.offset, at);
                at = s.end();
            }
            prop_assert_eq!(at, offset + data.len() as u32);
            for s in &p.spans {
                let r = (s.offset - offset) as usize..(s.end() - offset) as usize;
                let image_blank_sectors = data[r.clone()].chunks(S as usize).any(|c| c.iter().all(|&b| b == 0xFF));
                match s.action {
                    // Never programs 0xFF into erased flash: every written sector holds data.
                    Write => prop_assert!(!image_blank_sectors),
                    // Never erases what it then leaves unwritten unless the image is 0xFF there,
                    // and only in blocks where the board was not blank.
                    Erase => {
                        prop_assert!(data[r].iter().all(|&b| b == 0xFF));
                        let block = s.offset - s.offset % PROBE_BLOCK;
                        let block_start = block.max(offset);
                        let block_end = (block + PROBE_BLOCK).min(offset + data.len() as u32);
                        let b = (block_start - offset) as usize..(block_end - offset) as usize;
                        prop_assert!(before[b].iter().any(|&x| x != 0xFF));
                    }
                    Identical => prop_assert_eq!(&before[r.clone()], &data[r]),
                    BlankSkip => {
                        prop_assert!(data[r.clone()].iter().all(|&b| b == 0xFF));
                        prop_assert!(before[r].iter().all(|&b| b == 0xFF));
                    }
                }
            }
        }
    }
}
