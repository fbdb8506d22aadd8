//! Times one ESP32 write of a 4 MB merged image against the simulator with realistic
//! timing, in-process. `cargo run --release -p flashline-session --example realistic_write [auto|stop|always] [probe|trust|off] [image-out]`
//! (image-out: also save the image for an esptool run).

use flashline_session::*;
use flashline_sim::{spawn_duplex, BoardConfig, TimingMode};
use rand::{Rng, SeedableRng};
use std::sync::Arc;
use std::time::Instant;

fn merged_image() -> Vec<u8> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(42);
    let mut img = vec![0xFFu8; 4 << 20];
    // Bootloader at 0x1000, partition table at 0x8000, a 1.2 MB app at 0x10000.
    for b in &mut img[0x1000..0x1000 + 25_000] {
        *b = if rng.random_bool(0.5) { rng.random() } else { 0 };
    }
    img[0x8000..0x8000 + 200].fill(0xAA);
    for (i, b) in img[0x10000..0x10000 + 1_200_000].iter_mut().enumerate() {
        *b = if rng.random_bool(0.45) { rng.random() } else { (i / 64) as u8 };
    }
    img
}

#[tokio::main]
async fn main() {
    let pipelining = match std::env::args().nth(1).as_deref() {
        Some("stop") => Pipelining::StopAndWait,
        Some("always") => Pipelining::Always,
        _ => Pipelining::Auto,
    };
    let blank = match std::env::args().nth(2).as_deref() {
        Some("trust") => BlankSkip::TrustBlank,
        Some("off") => BlankSkip::Off,
        _ => BlankSkip::Probe,
    };
    let t = Instant::now();
    let raw = merged_image();
    if let Some(path) = std::env::args().nth(3) {
        // Same image for an esptool comparison run.
        std::fs::write(&path, &raw).unwrap();
    }
    let how = match std::env::var("FLASHLINE_ZOPFLI") {
        Ok(it) => ImageCompression::Zopfli { iterations: it.parse().unwrap_or(1) },
        Err(_) => ImageCompression::default(),
    };
    let image = Arc::new(PreparedImage::with_compression(vec![Region::new(0, raw)], how).unwrap());
    let r = &image.regions[0];
    println!(
        "prepared in {:?}: full {} -> {} bytes, sparse {} bytes in {} runs -> {} bytes",
        t.elapsed(),
        r.len(),
        r.full.wire_len,
        r.sparse_len(),
        r.sparse.len(),
        r.sparse.iter().map(|p| p.wire_len).sum::<u32>()
    );
    let stubs = Arc::new(StubSet::builtin());
    let config = FlasherConfig { before: BeforeReset::NoReset, stubs: Some(stubs), ..Default::default() };
    if let Ok(port) = std::env::var("FLASHLINE_PORT") {
        // A board served by `espsim --timing realistic` on a PTY.
        let t0 = Instant::now();
        let t = SerialTransport::open(&port, 115_200).unwrap();
        let mut f = Flasher::connect(t, &config, Progress::none(), CancellationToken::new()).await.unwrap();
        let t_connect = t0.elapsed();
        let opts = WriteOptions { pipelining, blank_skip: blank, ..Default::default() };
        let rep = f.write(&image, &opts).await.unwrap();
        f.finish(After::NoReset).await.unwrap();
        println!("PTY: connect+stub+baud {t_connect:?}, total {:?}, write {:?}", t0.elapsed(), rep.elapsed);
        return;
    }
    let mut cfg = BoardConfig::new(Chip::Esp32, Mac([0x24, 0x0a, 0xc4, 1, 2, 3]));
    cfg.timing = TimingMode::Realistic;
    let (link, sim) = spawn_duplex(cfg);
    let t0 = Instant::now();
    let mut f = Flasher::connect(DuplexTransport::new(link), &config, Progress::none(), CancellationToken::new())
        .await
        .unwrap();
    let t_connect = t0.elapsed();
    let rep = f.write(&image, &WriteOptions { pipelining, blank_skip: blank, ..Default::default() }).await.unwrap();
    let t_total = t0.elapsed();
    f.finish(After::NoReset).await.unwrap();
    println!("connect+stub+baud {t_connect:?}, total {t_total:?} (baud {}), write {:?}", 921_600, rep.elapsed);
    println!("{:?}", rep.regions[0].outcome);
    println!("{:?}", sim.stats());
}
