//! A golden image prepared once and shared by every board.
//!
//! Preparing does all the host-side work of a write up front: it splits each region into
//! the runs that are not all-0xFF (for blank-skip), compresses every run and the whole
//! region with zlib level 9, slices the streams into 16 KiB stub blocks, and SLIP-encodes
//! each block as the exact frame that goes on the wire. A `PreparedImage` is immutable;
//! put it in an `Arc` and let every board's task send the same bytes.

use crate::error::{Error, Result, Stage};
use flashline_protocol::command::{Command, FlashData, FlashDeflData};
use flashline_protocol::flash::{SECTOR_SIZE, STUB_WRITE_BLOCK};
use flashline_protocol::slip;
use flate2::{Compression, Decompress, FlushDecompress};
use md5::{Digest, Md5};
use sha2::Sha256;
use std::io::Write;
use std::sync::Arc;

/// Bytes to put at an offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Region {
    pub offset: u32,
    pub data: Vec<u8>,
}

impl Region {
    pub fn new(offset: u32, data: impl Into<Vec<u8>>) -> Self {
        Self { offset, data: data.into() }
    }
}

/// How a payload travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// FLASH_DEFL_*: zlib stream, inflated by the stub.
    Deflate,
    /// FLASH_*: plain bytes (the stream did not get smaller).
    Raw,
}

/// One stub data block, already framed.
#[derive(Debug, Clone)]
pub struct Block {
    /// The SLIP frame (delimiters included) of the FLASH_DEFL_DATA / FLASH_DATA request.
    pub frame: Arc<[u8]>,
    /// Payload bytes in the block (compressed bytes for deflate).
    pub payload_len: u32,
    /// Flash bytes this block produces once the stub has processed it; sizes the timeout
    /// of the reply to the next block, which the stub sends only after finishing this one.
    pub yields: u32,
}

/// A contiguous range of flash written by one BEGIN / DATA… / END sequence.
#[derive(Debug, Clone)]
pub struct Payload {
    pub offset: u32,
    /// Uncompressed length.
    pub len: u32,
    pub encoding: Encoding,
    /// Total compressed (or raw) bytes.
    pub wire_len: u32,
    pub blocks: Vec<Block>,
    /// MD5 of the uncompressed bytes (what the chip must hash to after the write).
    pub md5: [u8; 16],
}

/// One region of the image with its precomputed plans.
#[derive(Debug, Clone)]
pub struct PreparedRegion {
    pub offset: u32,
    /// Region bytes, padded with 0xFF to a multiple of 4 (what the loaders and MD5 see).
    pub data: Arc<[u8]>,
    pub md5: [u8; 16],
    pub sha256: [u8; 32],
    /// Write plan for a board whose range is not known to be blank: the whole region.
    pub full: Payload,
    /// Write plan for a blank board: only the sector-aligned runs that are not all-0xFF.
    /// Empty when the region is entirely 0xFF.
    pub sparse: Vec<Payload>,
    /// Write plans of every run of non-0xFF sectors, without joining short gaps: what a
    /// re-flash writes where the board differs ([`crate::diff_plan`]).
    pub runs: Vec<Payload>,
}

impl PreparedRegion {
    pub fn len(&self) -> u32 {
        self.data.len() as u32
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    pub fn end(&self) -> u32 {
        self.offset + self.len()
    }

    /// Bytes the sparse plan writes.
    pub fn sparse_len(&self) -> u32 {
        self.sparse.iter().map(|p| p.len).sum()
    }
}

/// The golden image, prepared once.
#[derive(Debug, Clone)]
pub struct PreparedImage {
    pub regions: Vec<PreparedRegion>,
}

/// MD5 of `len` bytes of 0xFF (what a blank range hashes to), computed without allocating
/// the whole range.
pub fn md5_of_blank(len: u32) -> [u8; 16] {
    let chunk = [0xFFu8; 4096];
    let mut h = Md5::new();
    let mut left = len as usize;
    while left > 0 {
        let n = left.min(chunk.len());
        h.update(&chunk[..n]);
        left -= n;
    }
    h.finalize().into()
}

pub fn md5(data: &[u8]) -> [u8; 16] {
    Md5::digest(data).into()
}

pub fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Runs of sectors that hold something other than 0xFF, as (offset, len) clipped to the
/// region. Sector boundaries are absolute flash addresses, because the stub erases whole
/// 4 KiB sectors (and 64 KiB blocks where a run allows it).
pub fn non_blank_runs(offset: u32, data: &[u8]) -> Vec<(u32, u32)> {
    let end = offset as u64 + data.len() as u64;
    let mut runs: Vec<(u32, u32)> = Vec::new();
    let mut sector = (offset / SECTOR_SIZE) as u64 * SECTOR_SIZE as u64;
    while sector < end {
        let lo = sector.max(offset as u64);
        let hi = (sector + SECTOR_SIZE as u64).min(end);
        let bytes = &data[(lo - offset as u64) as usize..(hi - offset as u64) as usize];
        if bytes.iter().any(|&b| b != 0xFF) {
            match runs.last_mut() {
                Some((o, l)) if *o as u64 + *l as u64 == lo => *l += (hi - lo) as u32,
                _ => runs.push((lo as u32, (hi - lo) as u32)),
            }
        }
        sector += SECTOR_SIZE as u64;
    }
    runs
}

/// Blank gaps up to this size between two written runs are written with them (as 0xFF).
///
/// Each payload ends with the stub flushing its last inflate buffer (up to 32 KiB of
/// programming, ~0.1 s on an ESP32) while the link idles, and costs a BEGIN round trip;
/// a short gap streamed inside one payload costs a few bytes on the wire and, on a blank
/// chip, only the stub's blank-sector read plus programming 0xFF (~8 ms per 4 KiB). The
/// typical ESP-IDF layout has one such gap: 0x9000..0x10000 (NVS and PHY data) between
/// the partition table and the application.
pub const MAX_MERGED_GAP: u32 = 32 * 1024;

/// Joins runs from [`non_blank_runs`] whose gap is at most `max_gap` bytes.
pub fn coalesce_runs(runs: Vec<(u32, u32)>, max_gap: u32) -> Vec<(u32, u32)> {
    let mut out: Vec<(u32, u32)> = Vec::with_capacity(runs.len());
    for (o, l) in runs {
        match out.last_mut() {
            Some((po, pl)) if o - (*po + *pl) <= max_gap => *pl = o + l - *po,
            _ => out.push((o, l)),
        }
    }
    out
}

/// How the golden image is compressed. Any choice yields a standard zlib stream the stubs
/// inflate; the choice only trades host CPU (spent once per image) for bytes on the wire
/// (spent on every board).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageCompression {
    /// zlib at `level` (esptool uses 9). Fast.
    Zlib(u32),
    /// Zopfli: a few percent smaller than zlib 9 at ~50× the CPU time (seconds per MB).
    /// Worth it when one image goes to many boards.
    Zopfli { iterations: u64 },
}

impl Default for ImageCompression {
    fn default() -> Self {
        ImageCompression::Zlib(9)
    }
}

fn compress(data: &[u8], how: ImageCompression) -> Vec<u8> {
    match how {
        ImageCompression::Zlib(level) => {
            let mut enc = flate2::write::ZlibEncoder::new(
                Vec::with_capacity(data.len() / 2 + 64),
                Compression::new(level.min(9)),
            );
            enc.write_all(data).expect("writing to a Vec cannot fail");
            enc.finish().expect("writing to a Vec cannot fail")
        }
        ImageCompression::Zopfli { iterations } => {
            let opts = zopfli::Options {
                iteration_count: std::num::NonZeroU64::new(iterations.max(1)).expect("at least 1"),
                ..Default::default()
            };
            let mut out = Vec::with_capacity(data.len() / 2 + 64);
            zopfli::compress(opts, zopfli::Format::Zlib, data, &mut out).expect("writing to a Vec cannot fail");
            out
        }
    }
}

/// For each `block`-sized slice of a zlib stream, how many bytes it inflates to when fed
/// in order (what the stub produces per block).
fn inflate_yields(stream: &[u8], block: usize) -> Vec<u32> {
    let mut d = Decompress::new(true);
    let mut out = vec![0u8; 64 * 1024];
    let mut yields = Vec::new();
    for chunk in stream.chunks(block) {
        let before = d.total_out();
        let mut input = chunk;
        loop {
            let in_before = d.total_in();
            let out_before = d.total_out();
            let status = d.decompress(input, &mut out, FlushDecompress::None).expect("our own zlib stream inflates");
            let used = (d.total_in() - in_before) as usize;
            input = &input[used..];
            let produced = d.total_out() - out_before;
            let stalled = used == 0 && produced == 0;
            if status == flate2::Status::StreamEnd || stalled || (input.is_empty() && produced < out.len() as u64) {
                break;
            }
        }
        yields.push((d.total_out() - before) as u32);
    }
    yields
}

fn frame_of<C: Command>(cmd: &C) -> Arc<[u8]> {
    slip::encode(&cmd.to_packet().to_bytes()).into()
}

/// Builds the stub write plan of `data` at `offset`: deflate when it helps, raw otherwise.
pub fn plan_payload(offset: u32, data: &[u8]) -> Payload {
    plan_payload_with(offset, data, ImageCompression::default())
}

/// [`plan_payload`] with a chosen compression.
pub fn plan_payload_with(offset: u32, data: &[u8], how: ImageCompression) -> Payload {
    let block = STUB_WRITE_BLOCK as usize;
    let stream = compress(data, how);
    if stream.len() < data.len() {
        let yields = inflate_yields(&stream, block);
        let blocks = stream
            .chunks(block)
            .zip(yields)
            .enumerate()
            .map(|(seq, (chunk, y))| Block {
                frame: frame_of(&FlashDeflData::new(seq as u32, chunk.to_vec())),
                payload_len: chunk.len() as u32,
                yields: y,
            })
            .collect();
        payload(offset, data, Encoding::Deflate, stream.len(), blocks)
    } else {
        let blocks = data
            .chunks(block)
            .enumerate()
            .map(|(seq, chunk)| {
                // The stub takes the last block short, but esptool pads it; do the same so
                // any stub version accepts it (the stub ignores bytes past the total).
                let mut c = chunk.to_vec();
                c.resize(block, 0xFF);
                Block {
                    frame: frame_of(&FlashData::new(seq as u32, c)),
                    payload_len: block as u32,
                    yields: chunk.len() as u32,
                }
            })
            .collect();
        payload(offset, data, Encoding::Raw, data.len(), blocks)
    }
}

/// A payload of `data` at `offset`, sent as `blocks` (`wire_len` bytes on the link).
fn payload(offset: u32, data: &[u8], encoding: Encoding, wire_len: usize, blocks: Vec<Block>) -> Payload {
    Payload { offset, len: data.len() as u32, encoding, wire_len: wire_len as u32, blocks, md5: md5(data) }
}

impl PreparedImage {
    /// Prepares `regions` (CPU-heavy for large images: call it once, e.g. inside
    /// `tokio::task::spawn_blocking`, and share the result).
    ///
    /// Regions are padded with 0xFF to a multiple of 4 bytes. Two regions may not share a
    /// 4 KiB sector: the stub erases whole sectors, so writing the second would wipe the
    /// first.
    pub fn new(regions: Vec<Region>) -> Result<Self> {
        Self::with_compression(regions, ImageCompression::default())
    }

    /// [`PreparedImage::new`] with a chosen compression.
    pub fn with_compression(mut regions: Vec<Region>, how: ImageCompression) -> Result<Self> {
        let invalid = |reason: String| Error::InvalidRequest { stage: Stage::Write, reason };
        regions.retain(|r| !r.data.is_empty());
        regions.sort_by_key(|r| r.offset);
        for r in &mut regions {
            let padded = r.data.len().div_ceil(4) * 4;
            r.data.resize(padded, 0xFF);
            if r.offset as u64 + r.data.len() as u64 > u32::MAX as u64 {
                return Err(invalid(format!("region at 0x{:08x} runs past 4 GiB", r.offset)));
            }
        }
        for w in regions.windows(2) {
            let a_end = w[0].offset as u64 + w[0].data.len() as u64;
            let last_sector_a = (a_end - 1) / SECTOR_SIZE as u64;
            let first_sector_b = w[1].offset as u64 / SECTOR_SIZE as u64;
            if last_sector_a >= first_sector_b {
                return Err(invalid(format!(
                    "regions at 0x{:08x} and 0x{:08x} overlap or share a 4 KiB sector; merge them into one region",
                    w[0].offset, w[1].offset
                )));
            }
        }
        let prepared = regions
            .into_iter()
            .map(|r| {
                let full = plan_payload_with(r.offset, &r.data, how);
                let runs = non_blank_runs(r.offset, &r.data);
                let plan = |ranges: Vec<(u32, u32)>| -> Vec<Payload> {
                    ranges
                        .into_iter()
                        .map(|(o, l)| {
                            let start = (o - r.offset) as usize;
                            plan_payload_with(o, &r.data[start..start + l as usize], how)
                        })
                        .collect()
                };
                let sparse = plan(coalesce_runs(runs.clone(), MAX_MERGED_GAP));
                // Runs the coalescing left alone are already planned: share them.
                let runs = runs
                    .into_iter()
                    .map(|(o, l)| match sparse.iter().find(|p| p.offset == o && p.len == l) {
                        Some(p) => p.clone(),
                        None => plan(vec![(o, l)]).remove(0),
                    })
                    .collect();
                PreparedRegion {
                    offset: r.offset,
                    md5: md5(&r.data),
                    sha256: sha256(&r.data),
                    data: r.data.into(),
                    full,
                    sparse,
                    runs,
                }
            })
            .collect();
        Ok(Self { regions: prepared })
    }

    /// Total image bytes.
    pub fn total_len(&self) -> u64 {
        self.regions.iter().map(|r| r.len() as u64).sum()
    }

    /// Lowest and highest address the image touches.
    pub fn span(&self) -> Option<(u32, u32)> {
        Some((self.regions.first()?.offset, self.regions.last()?.end()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flashline_protocol::command::Request;
    use flashline_protocol::{CommandPacket, SlipDecoder, SlipEvent};
    use rand::{Rng, SeedableRng};

    fn decode_frame(frame: &[u8]) -> Request {
        let ev = SlipDecoder::new().feed(frame);
        let SlipEvent::Frame(f) = &ev[0] else { panic!("{ev:?}") };
        Request::parse(&CommandPacket::parse(f).unwrap()).unwrap()
    }

    /// Inflating the blocks in order gives back the data, and yields add up.
    fn reassemble(p: &Payload) -> Vec<u8> {
        let mut stream = Vec::new();
        for (i, b) in p.blocks.iter().enumerate() {
            match decode_frame(&b.frame) {
                Request::FlashDeflData { block, checksum } => {
                    assert_eq!(block.seq, i as u32);
                    assert_eq!(checksum, flashline_protocol::packet::checksum(&block.data) as u32);
                    stream.extend(block.data);
                }
                Request::FlashData { block, .. } => {
                    assert_eq!(block.seq, i as u32);
                    stream.extend(block.data);
                }
                other => panic!("{other:?}"),
            }
        }
        match p.encoding {
            Encoding::Deflate => {
                let mut out = Vec::new();
                std::io::Read::read_to_end(&mut flate2::read::ZlibDecoder::new(&stream[..]), &mut out).unwrap();
                out
            }
            Encoding::Raw => stream[..p.len as usize].to_vec(),
        }
    }

    #[test]
    fn blank_runs_are_sector_aligned_and_clipped() {
        let mut data = vec![0xFFu8; 0x6000];
        data[0x10] = 0; // sector 0x1000 (image starts at 0x1000)
        data[0x3FFF] = 1; // sector 0x4000
        data[0x4000] = 2; // sector 0x5000, adjacent → same run
        assert_eq!(non_blank_runs(0x1000, &data), vec![(0x1000, 0x1000), (0x4000, 0x2000)]);
        // Unaligned start: the first run is clipped to the region start.
        let mut d2 = vec![0xFFu8; 0x2000];
        d2[0] = 0;
        assert_eq!(non_blank_runs(0x1800, &d2), vec![(0x1800, 0x800)]);
        assert!(non_blank_runs(0, &[0xFF; 0x3000]).is_empty());
    }

    #[test]
    fn short_gaps_are_written_with_their_neighbours() {
        let runs = vec![(0x1000, 0x8000), (0x10000, 0x100000), (0x140000, 0x1000)];
        // 0x9000..0x10000 (28 KiB) joins; 0x110000..0x140000 (192 KiB) stays a gap.
        assert_eq!(coalesce_runs(runs.clone(), MAX_MERGED_GAP), vec![(0x1000, 0x10F000), (0x140000, 0x1000)]);
        assert_eq!(coalesce_runs(runs.clone(), 0), runs);
        assert_eq!(coalesce_runs(vec![(0, 0x1000), (0x2000, 0x1000)], 0x1000), vec![(0, 0x3000)]);
        assert!(coalesce_runs(Vec::new(), MAX_MERGED_GAP).is_empty());
    }

    #[test]
    fn plans_round_trip_and_yields_add_up() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let mut data = vec![0xFFu8; 300 * 1024];
        rng.fill(&mut data[..100 * 1024]);
        for b in &mut data[150 * 1024..200 * 1024] {
            *b = (rng.random::<u8>()) & 0x0F; // compressible
        }
        let p = plan_payload(0x10000, &data);
        assert_eq!(p.encoding, Encoding::Deflate);
        assert!(p.blocks.len() > 1);
        assert_eq!(p.blocks.iter().map(|b| b.yields as usize).sum::<usize>(), data.len());
        assert_eq!(p.blocks.iter().map(|b| b.payload_len).sum::<u32>(), p.wire_len);
        assert!(p.blocks.iter().all(|b| b.payload_len <= STUB_WRITE_BLOCK));
        assert_eq!(reassemble(&p), data);

        let mut random = vec![0u8; 40 * 1024];
        rng.fill(&mut random[..]);
        let p = plan_payload(0, &random);
        assert_eq!(p.encoding, Encoding::Raw);
        assert_eq!(reassemble(&p), random);
    }

    #[test]
    fn prepared_image_sparse_plan_covers_exactly_the_data() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let mut app = vec![0xFFu8; 256 * 1024];
        rng.fill(&mut app[..20_000]);
        rng.fill(&mut app[200 * 1024..201 * 1024]);
        let img =
            PreparedImage::new(vec![Region::new(0x10000, app.clone()), Region::new(0x1000, vec![1, 2, 3])]).unwrap();
        assert_eq!(img.regions[0].offset, 0x1000);
        assert_eq!(img.regions[0].len(), 4, "padded to 4");
        assert_eq!(img.regions[0].data[3], 0xFF);
        let r = &img.regions[1];
        assert_eq!(r.md5, md5(&app));
        assert_eq!(r.sparse.len(), 2);
        assert_eq!(r.sparse[0].offset, 0x10000);
        assert_eq!(r.sparse[0].len, 5 * 4096);
        assert_eq!(r.sparse[1].offset, 0x10000 + 200 * 1024);
        // Writing the sparse plan onto blank flash gives the image.
        let mut flash = vec![0xFFu8; app.len()];
        for p in &r.sparse {
            let o = (p.offset - r.offset) as usize;
            flash[o..o + p.len as usize].copy_from_slice(&reassemble(p));
        }
        assert_eq!(flash, app);
        assert_eq!(reassemble(&r.full), app);
        assert_eq!(img.total_len(), 4 + app.len() as u64);
    }

    #[test]
    fn zopfli_streams_inflate_and_are_not_larger() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let data: Vec<u8> = (0..60_000).map(|i| if i % 3 == 0 { rng.random() } else { (i / 50) as u8 }).collect();
        let z = plan_payload_with(0, &data, ImageCompression::Zlib(9));
        let zo = plan_payload_with(0, &data, ImageCompression::Zopfli { iterations: 1 });
        assert_eq!(zo.encoding, Encoding::Deflate);
        assert!(zo.wire_len <= z.wire_len, "{} > {}", zo.wire_len, z.wire_len);
        assert_eq!(reassemble(&zo), data);
        assert_eq!(zo.blocks.iter().map(|b| b.yields as usize).sum::<usize>(), data.len());
    }

    #[test]
    fn shared_sectors_are_rejected() {
        let e =
            PreparedImage::new(vec![Region::new(0, vec![0; 0x1800]), Region::new(0x1800, vec![0; 16])]).unwrap_err();
        assert!(e.to_string().contains("share a 4 KiB sector"), "{e}");
        assert!(PreparedImage::new(vec![Region::new(0, vec![0; 0x1000]), Region::new(0x1000, vec![0; 16])]).is_ok());
    }

    #[test]
    fn blank_md5_matches() {
        assert_eq!(md5_of_blank(10_000), md5(&[0xFF; 10_000]));
        assert_eq!(hex(&md5(b"")), "d41d8cd98f00b204e9800998ecf8427e");
    }
}
