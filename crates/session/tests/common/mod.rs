//! Shared helpers of the integration tests.
#![allow(dead_code)]

use flashline_session::*;
use flashline_sim::{spawn_duplex, BoardConfig, Fault, SimHandle};
use rand::{Rng, SeedableRng};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// The built-in flasher stubs.
pub fn stubs() -> Arc<StubSet> {
    static S: OnceLock<Arc<StubSet>> = OnceLock::new();
    S.get_or_init(|| Arc::new(StubSet::builtin())).clone()
}

pub fn mac(chip: Chip, n: u8) -> Mac {
    match chip {
        Chip::Esp8266 => Mac([0x84, 0x0d, 0x8e, 0x10, 0x20, n]),
        _ => Mac([0x24, 0x0a, 0xc4, 0x10, 0x20, n]),
    }
}

pub fn config(stub: bool) -> FlasherConfig {
    FlasherConfig { before: BeforeReset::NoReset, stubs: stub.then(stubs), connect_attempts: 3, ..Default::default() }
}

/// A simulated board on an in-memory link whose modem lines reach the simulator.
pub fn duplex_board(chip: Chip, faults: Vec<Fault>) -> (DuplexTransport, SimHandle) {
    let mut cfg = BoardConfig::new(chip, mac(chip, 1));
    cfg.faults = faults;
    let (link, sim) = spawn_duplex(cfg);
    let s2 = sim.clone();
    (DuplexTransport::new(link).with_lines_hook(move |d, r| s2.set_lines(d, r)), sim)
}

pub async fn connect(chip: Chip, stub: bool) -> (Flasher<DuplexTransport>, SimHandle) {
    let (t, sim) = duplex_board(chip, Vec::new());
    let f = Flasher::connect(t, &config(stub), Progress::none(), CancellationToken::new())
        .await
        .unwrap_or_else(|e| panic!("connect {chip} stub={stub}: {e}"));
    (f, sim)
}

/// A bootloader + partition table + app + a sparse data region, like a merged image.
pub fn sample_image(seed: u64, app_len: usize) -> Vec<Region> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut boot = vec![0u8; 24 * 1024];
    rng.fill(&mut boot[..]);
    for b in &mut boot[12 * 1024..] {
        *b &= 0x0F;
    }
    let mut part = vec![0xFFu8; 0x1000];
    part[..64].fill(0xAA);
    let mut app = vec![0xFFu8; app_len];
    let used = app_len * 2 / 3;
    for (i, b) in app[..used].iter_mut().enumerate() {
        *b = if i % 3 == 0 { rng.random() } else { (i % 251) as u8 };
    }
    vec![Region::new(0x1000, boot), Region::new(0x8000, part), Region::new(0x10000, app)]
}

/// The flash content a region list should produce on a blank chip.
pub fn expected_flash(regions: &[Region], size: usize) -> Vec<u8> {
    let mut f = vec![0xFFu8; size];
    for r in regions {
        f[r.offset as usize..r.offset as usize + r.data.len()].copy_from_slice(&r.data);
    }
    f
}

pub fn prepared(regions: &[Region]) -> Arc<PreparedImage> {
    Arc::new(PreparedImage::new(regions.to_vec()).unwrap())
}

/// Runs `fut` and fails the test if it takes longer than `limit` (the session must never
/// hang on a faulty board).
pub async fn bounded<F: std::future::Future>(limit: Duration, fut: F) -> F::Output {
    match tokio::time::timeout(limit, fut).await {
        Ok(v) => v,
        Err(_) => panic!("did not finish within {limit:?}"),
    }
}

/// Size of [`merged_2mb`].
pub const MERGED_2MB: usize = 2 << 20;

/// A merged image like `esptool merge-bin` makes: bootloader at 0x1000, partition table at
/// 0x8000, a 384 KiB application at 0x10000 that deflates to ~60 %, 0xFF up to 2 MB.
/// `seed` changes every data byte.
pub fn merged_2mb(seed: u64) -> Vec<u8> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut img = vec![0xFFu8; MERGED_2MB];
    let mut fill = |range: std::ops::Range<usize>, rng: &mut rand::rngs::StdRng| {
        for (i, b) in img[range].iter_mut().enumerate() {
            *b = if i % 8 < 5 { rng.random() } else { (i % 61) as u8 };
        }
    };
    fill(0x1000..0x1000 + 24 * 1024, &mut rng);
    fill(0x8000..0x8000 + 3 * 1024, &mut rng);
    fill(0x10000..0x10000 + 384 * 1024, &mut rng);
    img
}

/// Board content: `image` with the 64 KiB blocks at `dirty` (block indices) holding other
/// bytes (what a board with other firmware, or a half-finished write, holds there).
pub fn with_dirty_blocks(image: &[u8], dirty: &[usize]) -> Vec<u8> {
    const BLOCK: usize = 0x10000;
    let mut board = image.to_vec();
    for &b in dirty {
        for (i, x) in board[b * BLOCK..(b + 1) * BLOCK].iter_mut().enumerate() {
            *x = (i as u8).wrapping_mul(7) ^ 0x3C;
        }
    }
    board
}

/// An ESP32 on the simulator's realistic timing holding `content`, with `faults`.
pub fn realistic_board(content: &[u8], faults: Vec<Fault>, n: u8) -> (DuplexTransport, SimHandle) {
    let mut cfg = BoardConfig::new(Chip::Esp32, mac(Chip::Esp32, n));
    cfg.timing = flashline_sim::TimingMode::Realistic;
    cfg.faults = faults;
    let (link, sim) = spawn_duplex(cfg);
    sim.write_flash_raw(0, content);
    let s2 = sim.clone();
    (DuplexTransport::new(link).with_lines_hook(move |d, r| s2.set_lines(d, r)), sim)
}
