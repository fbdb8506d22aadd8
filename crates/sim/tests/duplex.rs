//! The in-process API: a board on a tokio duplex, with tokio's paused clock so timing
//! assertions are exact rather than fragile.

use flashline_protocol::command::*;
use flashline_protocol::packet::{CommandPacket, ResponsePacket};
use flashline_protocol::slip::{self, SlipDecoder, SlipEvent};
use flashline_sim::{spawn_duplex, BoardConfig, Chip, Fault, Mac, Mode, TimingMode};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::time::Instant;

struct Link {
    io: DuplexStream,
    dec: SlipDecoder,
    pending: Vec<Vec<u8>>,
    noise: Vec<u8>,
}

impl Link {
    fn new(io: DuplexStream) -> Self {
        Self { io, dec: SlipDecoder::new(), pending: Vec::new(), noise: Vec::new() }
    }

    async fn send(&mut self, p: &CommandPacket) {
        self.io.write_all(&slip::encode(&p.to_bytes())).await.unwrap();
    }

    async fn send_raw_frame(&mut self, f: &[u8]) {
        self.io.write_all(&slip::encode(f)).await.unwrap();
    }

    /// Next frame, or None on EOF.
    async fn frame(&mut self) -> Option<Vec<u8>> {
        let mut buf = [0u8; 4096];
        loop {
            if !self.pending.is_empty() {
                return Some(self.pending.remove(0));
            }
            let n = self.io.read(&mut buf).await.ok()?;
            if n == 0 {
                return None;
            }
            for ev in self.dec.feed(&buf[..n]) {
                match ev {
                    SlipEvent::Frame(f) => self.pending.push(f),
                    SlipEvent::Noise(n) => self.noise.extend(n),
                    _ => {}
                }
            }
            if let Some(n) = self.dec.take_noise() {
                self.noise.extend(n);
            }
        }
    }

    async fn reply(&mut self) -> ResponsePacket {
        ResponsePacket::parse(&self.frame().await.expect("frame")).expect("response")
    }

    async fn cmd<C: Command>(&mut self, c: &C) -> ResponsePacket {
        self.send(&c.to_packet()).await;
        let r = self.reply().await;
        assert_eq!(r.opcode, C::OPCODE as u8);
        r
    }

    async fn sync(&mut self) -> u32 {
        self.send(&Sync.to_packet()).await;
        let mut v = Vec::new();
        for _ in 0..8 {
            v.push(self.reply().await.value);
        }
        assert!(v.iter().all(|&x| x == v[0]));
        v[0]
    }

    async fn upload_stub(&mut self, text: u32, entry: u32) {
        let begin = BeginParams { size: 64, num_blocks: 1, block_size: 0x1800, offset: text, encrypted: None };
        self.cmd(&MemBegin(begin)).await;
        self.cmd(&MemData::new(0, vec![0; 64])).await;
        self.cmd(&MemEnd { flag: 0, entry }).await;
        assert_eq!(self.frame().await.unwrap(), b"OHAI");
    }
}

fn cfg(chip: Chip, timing: TimingMode) -> BoardConfig {
    let mut c = BoardConfig::new(chip, Mac([0x24, 0x0a, 0xc4, 1, 2, 3]));
    c.timing = timing;
    c
}

#[tokio::test]
async fn handle_api_and_a_full_stub_write() {
    let (io, sim) = spawn_duplex(cfg(Chip::Esp32, TimingMode::Off));
    let mut l = Link::new(io);
    assert_eq!(sim.mac().to_string(), "24:0a:c4:01:02:03");
    assert_eq!(l.sync().await, 0x2012_0707);
    l.upload_stub(0x400A_8000, 0x400A_902C).await;
    assert_eq!(sim.mode(), Mode::Stub(flashline_sim::StubKind::New));
    sim.write_flash_raw(0x3000, &[0u8; 16]);
    let data: Vec<u8> = (0..40_000u32).map(|i| (i * 31 % 253) as u8).collect();
    let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    std::io::Write::write_all(&mut e, &data).unwrap();
    let z = e.finish().unwrap();
    let begin = BeginParams {
        size: data.len() as u32,
        num_blocks: z.len().div_ceil(0x4000) as u32,
        block_size: 0x4000,
        offset: 0x1000,
        encrypted: Some(0),
    };
    assert_eq!(l.cmd(&FlashDeflBegin(begin)).await.data, vec![0, 0]);
    for (i, c) in z.chunks(0x4000).enumerate() {
        assert_eq!(l.cmd(&FlashDeflData::new(i as u32, c.to_vec())).await.data, vec![0, 0]);
    }
    assert_eq!(l.cmd(&FlashDeflEnd::stay()).await.data, vec![0, 0]);
    let r = l.cmd(&SpiFlashMd5 { addr: 0x1000, size: data.len() as u32 }).await;
    let want: [u8; 16] = <md5::Md5 as md5::Digest>::digest(&data).into();
    assert_eq!(&r.data[..16], &want);
    assert_eq!(&sim.flash()[0x1000..0x1000 + data.len()], &data[..]);
    let st = sim.stats();
    assert!(st.frames_in > 5 && st.bytes_out > 0 && st.program_ops > 0 && st.stub_starts == 1);
    // Sector 0x3000 held data: once a dirty sector is seen the new stub erases the rest.
    assert!(st.blank_sector_skips >= 2, "{st:?}");
}

/// 8 SYNC replies of 14 wire bytes after a 46-byte request at 115200 baud.
#[tokio::test(start_paused = true)]
async fn sync_exchange_is_paced_at_115200() {
    let (io, _sim) = spawn_duplex(cfg(Chip::Esp32, TimingMode::Realistic));
    let mut l = Link::new(io);
    let t0 = Instant::now();
    l.sync().await;
    let took = t0.elapsed();
    let bytes = 46 + 8 * 14;
    let expect = Duration::from_nanos(bytes * 10 * 1_000_000_000 / 115_200) + Duration::from_micros(50);
    // tokio timers tick in milliseconds.
    assert!(took.abs_diff(expect) <= Duration::from_millis(1), "{took:?} vs {expect:?}");
}

/// A 1152-byte frame takes 100 ms at 115200 baud (10 bits per byte).
#[tokio::test(start_paused = true)]
async fn packet_of_1152_bytes_takes_100ms() {
    let (io, sim) = spawn_duplex(cfg(Chip::Esp32, TimingMode::Realistic));
    let mut l = Link::new(io);
    l.upload_stub(0x400B_E000, 0x400B_E658).await; // legacy stub: no clock boost
                                                   // 1150 data bytes of 0x11 (no escapes) + 2 delimiters = 1152 bytes on the wire.
    sim.write_flash_raw(0, &[0x11; 1150]);
    l.send(&ReadFlash::esptool(0, 1150).to_packet()).await;
    l.reply().await;
    let t0 = Instant::now();
    let data = l.frame().await.unwrap();
    let took = t0.elapsed();
    assert_eq!(data.len(), 1150);
    // Wire time 100 ms, plus reading 1150 bytes at 1.25 MB/s and hashing them.
    let flash_work = Duration::from_secs_f64(1150.0 / 1.25e6 + 1150.0 / 1.6e6);
    let expect = Duration::from_millis(100) + flash_work;
    assert!(took.abs_diff(expect) <= Duration::from_millis(1), "{took:?} vs {expect:?}");
    l.send_raw_frame(&1150u32.to_le_bytes()).await;
    assert_eq!(l.frame().await.unwrap().len(), 16);
}

/// Absolute deadlines: 50 SYNCs sent at once give 400 replies back to back; the last one
/// arrives when the model says, not 400 timer roundings later.
#[tokio::test(start_paused = true)]
async fn no_drift_over_many_replies() {
    let (io, _sim) = spawn_duplex(cfg(Chip::Esp32, TimingMode::Realistic));
    let mut l = Link::new(io);
    let t0 = Instant::now();
    let mut wire = Vec::new();
    for _ in 0..50 {
        wire.extend(slip::encode(&Sync.to_packet().to_bytes()));
    }
    l.io.write_all(&wire).await.unwrap();
    for _ in 0..400 {
        l.reply().await;
    }
    let took = t0.elapsed();
    // The first request arrives after 46 bytes; from then on the link back is the
    // bottleneck: per SYNC 50 µs dispatch + 8 × 14 bytes.
    let byte = |n: u64| Duration::from_nanos(n * 10 * 1_000_000_000 / 115_200);
    let expect = byte(46) + (Duration::from_micros(50) + byte(112)) * 50;
    assert!(took.abs_diff(expect) <= Duration::from_millis(1), "{took:?} vs {expect:?}");
}

#[tokio::test]
async fn unplug_closes_the_link() {
    let (io, sim) = spawn_duplex(cfg(Chip::Esp32, TimingMode::Off));
    let mut l = Link::new(io);
    l.sync().await;
    sim.unplug();
    assert_eq!(l.frame().await, None, "EOF after unplug");
}

#[tokio::test]
async fn unplug_fault_closes_mid_transfer() {
    let mut c = cfg(Chip::Esp32, TimingMode::Off);
    c.faults = vec![Fault::UnplugAfter(60)];
    let (io, _sim) = spawn_duplex(c);
    let mut l = Link::new(io);
    l.sync().await;
    l.send(&Sync.to_packet()).await;
    assert_eq!(l.frame().await, None);
}

#[tokio::test]
async fn modem_lines_reset_into_download_mode() {
    let (io, sim) = spawn_duplex(cfg(Chip::Esp32, TimingMode::Off));
    let mut l = Link::new(io);
    l.upload_stub(0x400A_8000, 0x400A_902C).await;
    assert_eq!(l.sync().await, 0);
    // ClassicReset.
    sim.set_lines(false, true);
    sim.set_lines(true, false);
    sim.set_lines(false, false);
    assert_eq!(l.sync().await, 0x2012_0707, "back in the ROM after the reset");
    assert!(String::from_utf8_lossy(&l.noise).contains("waiting for download"), "banner before the replies");
}

#[tokio::test]
async fn flash_file_is_kept_in_step() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = cfg(Chip::Esp8266, TimingMode::Off);
    c.flash_size = 1 << 20;
    c.flash_file = Some(dir.path().join("b.bin"));
    let (io, sim) = spawn_duplex(c.clone());
    let mut l = Link::new(io);
    l.sync().await;
    // ESP8266 ROM write: FLASH_BEGIN + FLASH_DATA, no END.
    let begin = BeginParams { size: 0x1000, num_blocks: 1, block_size: 0x400, offset: 0x4000, encrypted: None };
    l.cmd(&FlashBegin(begin)).await;
    l.cmd(&FlashData::new(0, vec![0x42; 0x400])).await;
    let file = std::fs::read(dir.path().join("b.bin")).unwrap();
    assert_eq!(file.len(), 1 << 20);
    assert_eq!(&file[0x4000..0x4400], &[0x42; 0x400][..]);
    drop(l);
    drop(sim);
    // Loaded again at start.
    let (_io, sim2) = spawn_duplex(c);
    assert_eq!(&sim2.flash()[0x4000..0x4400], &[0x42; 0x400][..]);
}
