//! Board tests driven sans-IO: frames and times in, frames with their arrival times out.

use super::*;
use crate::config::BoardConfig;
use crate::faults::Fault;
use crate::timing::TimingMode;
use flashline_protocol::command::*;
use flashline_protocol::packet::ResponsePacket;
use flashline_protocol::{Opcode, RomError, StubError};
use std::io::Write;

const ESP32_LEGACY: (u32, u32) = (0x400B_E000, 0x400B_E658);
const ESP32_NEW: (u32, u32) = (0x400A_8000, 0x400A_902C);
const ESP8266_LEGACY: (u32, u32) = (0x4010_D000, 0x4010_D004);
const ESP8266_NEW: (u32, u32) = (0x4010_C500, 0x4010_C504);

/// No stub, then each stub `chip` runs, as (text start, entry).
fn stubs_of(chip: Chip) -> [Option<(u32, u32)>; 3] {
    let [(_, a), (_, b)] = crate::chips::require(chip).stub_layouts();
    [None, Some((a.text_start, a.entry)), Some((b.text_start, b.entry))]
}

/// A host talking to a board, with a clock.
struct Host {
    b: Board,
    now: Duration,
    dec: SlipDecoder,
    closed_at: Option<Duration>,
}

impl Host {
    fn new(chip: Chip) -> Self {
        Self::with(BoardConfig::new(chip, Mac([0x24, 0x0a, 0xc4, 0, 0, 7])))
    }

    fn with(cfg: BoardConfig) -> Self {
        Self { b: Board::new(&cfg), now: Duration::ZERO, dec: SlipDecoder::new(), closed_at: None }
    }

    fn realistic(chip: Chip) -> Self {
        let mut cfg = BoardConfig::new(chip, Mac([0x24, 0x0a, 0xc4, 0, 0, 7]));
        cfg.timing = TimingMode::Realistic;
        Self::with(cfg)
    }

    /// Decodes the board's output into frames stamped with the arrival of their last byte;
    /// advances `now` to the last arrival.
    fn collect(&mut self) -> Vec<(Duration, Vec<u8>)> {
        let mut frames = Vec::new();
        for o in self.b.take_output() {
            match o {
                Output::Bytes { at, bytes, pace } => {
                    for (i, byte) in bytes.iter().enumerate() {
                        for ev in self.dec.feed(&[*byte]) {
                            if let SlipEvent::Frame(f) = ev {
                                let t = at + pace.time(i + 1);
                                self.now = self.now.max(t);
                                frames.push((t, f));
                            }
                        }
                    }
                }
                Output::Close { at } | Output::Reenumerate { at, .. } => self.closed_at = Some(at),
            }
        }
        frames
    }

    fn send_raw(&mut self, frame: &[u8]) -> Vec<(Duration, Vec<u8>)> {
        let wire = slip::encode(frame);
        self.b.on_bytes(self.now, &wire);
        self.collect()
    }

    fn send(&mut self, p: &CommandPacket) -> Vec<(Duration, ResponsePacket)> {
        self.send_raw(&p.to_bytes())
            .into_iter()
            .map(|(t, f)| (t, ResponsePacket::parse(&f).expect("response")))
            .collect()
    }

    fn one<C: Command>(&mut self, c: &C) -> ResponsePacket {
        let mut r = self.send(&c.to_packet());
        assert_eq!(r.len(), 1, "one reply to {:?}", C::OPCODE);
        let (_, resp) = r.remove(0);
        assert_eq!(resp.opcode, C::OPCODE as u8);
        resp
    }

    fn status(&mut self, p: CommandPacket) -> (u8, u8) {
        let mut r = self.send(&p);
        assert_eq!(r.len(), 1);
        let (_, resp) = r.remove(0);
        assert_eq!(resp.opcode, p.opcode, "opcode echoed");
        let fmt = self.b.status_format();
        let n = resp.data.len();
        let st = &resp.data[n - fmt.len()..];
        (st[0], st[1])
    }

    fn upload_stub(&mut self, (text, entry): (u32, u32)) {
        let begin = BeginParams { size: 100, num_blocks: 1, block_size: 0x1800, offset: text, encrypted: None };
        assert!(self.one(&MemBegin(begin)).data.starts_with(&[0, 0]));
        self.one(&MemData::new(0, vec![0xAA; 100]));
        let frames = self.send_raw(&MemEnd { flag: 0, entry }.to_packet().to_bytes());
        assert_eq!(frames.len(), 2, "MEM_END reply, then OHAI");
        assert_eq!(ResponsePacket::parse(&frames[0].1).unwrap().opcode, Opcode::MemEnd as u8);
        assert_eq!(frames[1].1, b"OHAI");
    }

    fn sync(&mut self) -> Vec<u32> {
        self.send(&Sync.to_packet()).into_iter().map(|(_, r)| r.value).collect()
    }
}

fn zlib(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn md5(d: &[u8]) -> [u8; 16] {
    use md5::Digest;
    md5::Md5::digest(d).into()
}

#[test]
fn rom_sync_gives_eight_replies_with_rom_status_layout() {
    let mut h = Host::new(Chip::Esp32);
    let r = h.send(&Sync.to_packet());
    assert_eq!(r.len(), 8);
    for (_, resp) in &r {
        assert_eq!(resp.value, 0x2012_0707);
        assert_eq!(resp.data, vec![0, 0, 0, 0]);
    }
    let mut h = Host::new(Chip::Esp8266);
    let r = h.send(&Sync.to_packet());
    assert_eq!(r.len(), 8);
    assert_eq!(r[0].1.data, vec![0, 0], "ESP8266 ROM: 2 status bytes");
}

#[test]
fn security_info_and_unknown_opcodes_fail_like_real_chips() {
    for chip in [Chip::Esp32, Chip::Esp8266] {
        let mut h = Host::new(chip);
        let gsi = GetSecurityInfo { long_form: true }.to_packet();
        assert_eq!(h.status(gsi.clone()), (0x01, 0x05), "{chip} ROM");
        let unknown = CommandPacket { opcode: 0x42, checksum: 0, data: vec![] };
        assert_eq!(h.status(unknown.clone()), (0x01, 0x05));
        for op in [Opcode::EraseFlash, Opcode::EraseRegion, Opcode::ReadFlash, Opcode::RunUserCode] {
            let p = CommandPacket { opcode: op as u8, checksum: 0, data: vec![0; 16] };
            assert_eq!(h.status(p), (0x01, 0x05), "{chip} ROM has no {op}");
        }
        h.upload_stub(if chip == Chip::Esp32 { ESP32_NEW } else { ESP8266_NEW });
        assert_eq!(h.status(gsi.clone()), (0xFF, 0x00), "stub: not implemented");
        assert_eq!(h.status(unknown.clone()), (0xC3, 0x00), "new stub: invalid command");
        let mut h = Host::new(chip);
        h.upload_stub(if chip == Chip::Esp32 { ESP32_LEGACY } else { ESP8266_LEGACY });
        assert_eq!(h.b.mode(), Mode::Stub(StubKind::Legacy));
        assert_eq!(h.status(unknown), (0xFF, 0x00), "legacy stub: not implemented");
    }
}

#[test]
fn esp8266_rom_lacks_the_esp32_rom_extras() {
    let mut h = Host::new(Chip::Esp8266);
    let cmds = [
        FlashDeflBegin(BeginParams { size: 0x1000, num_blocks: 1, block_size: 0x400, offset: 0, encrypted: None })
            .to_packet(),
        SpiFlashMd5 { addr: 0, size: 16 }.to_packet(),
        ChangeBaudrate { new: 921_600, old: 0 }.to_packet(),
        SpiAttach { config: 0, rom_format: true }.to_packet(),
        SpiSetParams::for_size(4 << 20).to_packet(),
        ReadFlashSlow { offset: 0, len: 64 }.to_packet(),
    ];
    for c in cmds.iter().cloned() {
        assert_eq!(h.status(c.clone()), (1, 5), "ESP8266 ROM must reject opcode {:#x}", c.opcode);
    }
    let mut h = Host::new(Chip::Esp32);
    for c in cmds {
        assert_eq!(h.status(c.clone()), (0, 0), "ESP32 ROM supports opcode {:#x}", c.opcode);
    }
}

#[test]
fn stub_start_sync_value_and_return_to_rom() {
    let mut h = Host::new(Chip::Esp32);
    h.upload_stub(ESP32_NEW);
    assert_eq!(h.b.mode(), Mode::Stub(StubKind::New));
    assert_eq!(h.sync(), vec![0; 8], "stub SYNC value is 0");
    // esptool's --after no-reset teardown.
    let begin = BeginParams { size: 0, num_blocks: 0, block_size: 0x4000, offset: 0, encrypted: Some(0) };
    assert_eq!(h.status(FlashBegin(begin).to_packet()), (0, 0));
    let frames = h.send_raw(&FlashEnd::reboot().to_packet().to_bytes());
    assert_eq!(frames.len(), 1);
    assert_eq!(h.b.mode(), Mode::Rom);
    // The ROM prints its banner, then answers SYNC with its value again.
    let noise = h.dec.take_noise().unwrap_or_default();
    assert!(String::from_utf8_lossy(&noise).contains("waiting for download"));
    assert_eq!(h.sync(), vec![0x2012_0707; 8]);
    // Recognition from MEM_BEGIN addresses when the entry is unknown.
    let mut h = Host::new(Chip::Esp8266);
    h.upload_stub((ESP8266_LEGACY.0, 0x4010_0000));
    assert_eq!(h.b.mode(), Mode::Stub(StubKind::Legacy));
}

#[test]
fn md5_is_hex_from_rom_and_raw_from_stub() {
    let mut h = Host::new(Chip::Esp32);
    h.b.flash_mut().write_raw(0x1000, b"hello flash").unwrap();
    let want = md5(b"hello flash");
    let r = h.one(&SpiFlashMd5 { addr: 0x1000, size: 11 });
    assert_eq!(&r.data[..32], &encode_hex_md5(&want)[..]);
    assert_eq!(r.data.len(), 36);
    h.upload_stub(ESP32_LEGACY);
    let r = h.one(&SpiFlashMd5 { addr: 0x1000, size: 11 });
    assert_eq!(&r.data[..16], &want);
    assert_eq!(r.data.len(), 18);
}

#[test]
fn read_flash_streams_one_packet_in_flight() {
    for stub in [ESP32_NEW, ESP32_LEGACY] {
        let mut h = Host::new(Chip::Esp32);
        let content: Vec<u8> = (0..10_000u32).map(|i| (i * 13) as u8).collect();
        h.b.flash_mut().write_raw(0x2000, &content).unwrap();
        h.upload_stub(stub);
        let frames = h.send_raw(&ReadFlash::esptool(0x2000, 10_000).to_packet().to_bytes());
        assert_eq!(frames.len(), 2, "reply + first packet only");
        let reply = ResponsePacket::parse(&frames[0].1).unwrap();
        assert_eq!((reply.opcode, &reply.data[..]), (Opcode::ReadFlash as u8, &[0u8, 0][..]));
        let mut got = frames[1].1.clone();
        assert_eq!(got.len(), 4096);
        // No ack yet: nothing more arrives.
        assert!(h.collect().is_empty());
        let f = h.send_raw(&(got.len() as u32).to_le_bytes());
        assert_eq!(f.len(), 1);
        got.extend(&f[0].1);
        let f = h.send_raw(&(got.len() as u32).to_le_bytes());
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].1.len(), 10_000 - 8192);
        got.extend(&f[0].1);
        let f = h.send_raw(&(got.len() as u32).to_le_bytes());
        assert_eq!(f.len(), 1, "final MD5 frame");
        assert_eq!(f[0].1, md5(&content).to_vec());
        assert_eq!(got, content);
        // Back to commands.
        assert_eq!(h.sync().len(), 8);
    }
}

#[test]
fn stub_deflate_write_and_deferred_errors() {
    let mut h = Host::new(Chip::Esp32);
    h.upload_stub(ESP32_NEW);
    let data: Vec<u8> = (0..50_000u32).map(|i| (i % 251) as u8 ^ (i >> 9) as u8).collect();
    let z = zlib(&data);
    let begin = BeginParams {
        size: data.len() as u32,
        num_blocks: z.len().div_ceil(0x4000) as u32,
        block_size: 0x4000,
        offset: 0x8000,
        encrypted: Some(0),
    };
    assert_eq!(h.status(FlashDeflBegin(begin).to_packet()), (0, 0));
    for (i, c) in z.chunks(0x4000).enumerate() {
        assert_eq!(h.status(FlashDeflData::new(i as u32, c.to_vec()).to_packet()), (0, 0));
    }
    assert_eq!(h.status(FlashDeflEnd::stay().to_packet()), (0, 0));
    assert_eq!(&h.b.flash().contents()[0x8000..0x8000 + data.len()], &data[..]);

    // A write past the end of the flash: the data block is acked, the error comes with the
    // next reply (and that command is not executed).
    let begin =
        BeginParams { size: 0x2000, num_blocks: 1, block_size: 0x4000, offset: (4 << 20) - 0x1000, encrypted: Some(0) };
    assert_eq!(h.status(FlashBegin(begin).to_packet()), (0, 0));
    let mut block = vec![0x55; 0x2000];
    block.resize(0x4000, 0xFF);
    assert_eq!(h.status(FlashData::new(0, block).to_packet()), (0, 0), "acked before the write");
    assert_eq!(h.status(ReadReg { addr: 0x4000_1000 }.to_packet()), (StubError::FailedSpiOp.code(), 0));
    assert_eq!(h.status(ReadReg { addr: 0x4000_1000 }.to_packet()), (0, 0), "reported once");

    // Bad checksum → C1, nothing written.
    let begin = BeginParams { size: 4, num_blocks: 1, block_size: 0x4000, offset: 0x100000, encrypted: Some(0) };
    h.status(FlashBegin(begin).to_packet());
    let mut p = FlashData::new(0, vec![0; 4]).to_packet();
    p.checksum ^= 1;
    assert_eq!(h.status(p), (0xC1, 0));
    // Data without BEGIN.
    let mut h2 = Host::new(Chip::Esp32);
    h2.upload_stub(ESP32_LEGACY);
    assert_eq!(h2.status(FlashData::new(0, vec![0; 4]).to_packet()), (0xC6, 0));
}

#[test]
fn rom_write_erases_up_front_and_esp8266_over_erases() {
    // ESP8266 ROM: esptool asks for 0xD000 to write 100 000 bytes at 0; the ROM erases 26
    // sectors — one more than the data needs, destroying the next sector's content.
    let mut h = Host::new(Chip::Esp8266);
    h.b.flash_mut().write_raw(0x19000, &[0x12; 16]).unwrap();
    h.b.flash_mut().write_raw(0x1A000, &[0x34; 16]).unwrap();
    let begin = BeginParams { size: 0xD000, num_blocks: 98, block_size: 0x400, offset: 0, encrypted: None };
    assert_eq!(h.status(FlashBegin(begin).to_packet()), (0, 0));
    assert_eq!(&h.b.flash().contents()[0x19000..0x19010], &[0xFF; 16], "sector 25 erased");
    assert_eq!(&h.b.flash().contents()[0x1A000..0x1A010], &[0x34; 16], "sector 26 kept");
    // ESP32 ROM: exactly the requested sectors.
    let mut h = Host::new(Chip::Esp32);
    h.b.flash_mut().write_raw(0x3000, &[0x12; 16]).unwrap();
    let begin = BeginParams { size: 0x2000, num_blocks: 8, block_size: 0x400, offset: 0x1000, encrypted: None };
    assert_eq!(h.status(FlashBegin(begin).to_packet()), (0, 0));
    assert_eq!(&h.b.flash().contents()[0x3000..0x3010], &[0x12; 16]);
    let block = vec![0xA5; 0x400];
    assert_eq!(h.status(FlashData::new(0, block.clone()).to_packet()), (0, 0));
    assert_eq!(&h.b.flash().contents()[0x1000..0x1400], &block[..]);
    let mut p = FlashData::new(1, block).to_packet();
    p.checksum ^= 0x10;
    assert_eq!(h.status(p), (1, RomError::Checksum.code()));
}

#[test]
fn programming_unerased_flash_gives_wrong_data() {
    // A stub write over a region the host pre-filled: the stub erases just in time, so
    // the result is right; a raw program without erase ANDs.
    let mut h = Host::new(Chip::Esp32);
    h.b.flash_mut().write_raw(0, &[0x0F; 0x1000]).unwrap();
    h.upload_stub(ESP32_LEGACY);
    let begin = BeginParams { size: 0x1000, num_blocks: 1, block_size: 0x4000, offset: 0, encrypted: Some(0) };
    h.status(FlashBegin(begin).to_packet());
    h.status(FlashData::new(0, vec![0xF0; 0x1000]).to_packet());
    h.status(FlashEnd::stay().to_packet());
    assert_eq!(h.b.flash().contents()[0], 0xF0);
    h.b.flash_mut().program(0, &[0x3C]).unwrap();
    assert_eq!(h.b.flash().contents()[0], 0x30);
}

/// Realistic timing: the stub acks block N right after receiving it, does N's flash work
/// after the ack, and acks N+1 only when that work is done.
#[test]
fn stub_ack_pipelining_order() {
    let mut h = Host::realistic(Chip::Esp32);
    h.upload_stub(ESP32_LEGACY);
    h.b.flash_mut().write_raw(0x10000, &[0u8; 0x10000]).unwrap(); // dirty: erases cost
    let begin = BeginParams { size: 0x8000, num_blocks: 2, block_size: 0x4000, offset: 0x10000, encrypted: Some(0) };
    h.status(FlashBegin(begin).to_packet());
    let b0 = FlashData::new(0, vec![0x11; 0x4000]).to_packet().to_bytes();
    let b1 = FlashData::new(1, vec![0x22; 0x4000]).to_packet().to_bytes();
    let t0 = h.now;
    let wire0 = slip::encode(&b0);
    let wire1 = slip::encode(&b1);
    // Host sends both blocks back to back (more than esptool does, which is allowed once).
    h.b.on_bytes(t0, &wire0);
    h.b.on_bytes(t0, &wire1);
    let frames = h.collect();
    assert_eq!(frames.len(), 2);
    let rx0_done = t0 + h.b.timing.wire_time(115_200, wire0.len());
    let rx1_done = rx0_done + h.b.timing.wire_time(115_200, wire1.len());
    let ack0 = frames[0].0;
    let ack1 = frames[1].0;
    assert!(
        ack0 > rx0_done && ack0 < rx0_done + Duration::from_millis(3),
        "ack 0 right after receive: {:?}",
        ack0 - rx0_done
    );
    // Block 0's work: erase of sectors 0x10..0x13 + 512 program ops ≈ 4 × 45 ms + 70 ms.
    // At 115200 block 1 takes 1.4 s to arrive, so here the link dominates; redo at 2 Mbaud.
    assert!(ack1 > rx1_done);
    let _ = ack1;

    let mut h = Host::realistic(Chip::Esp32);
    h.upload_stub(ESP32_LEGACY);
    h.status(ChangeBaudrate { new: 2_000_000, old: 115_200 }.to_packet());
    assert_eq!(h.b.baud(), 2_000_000);
    h.b.flash_mut().write_raw(0x10000, &[0u8; 0x10000]).unwrap();
    h.status(FlashBegin(begin).to_packet());
    let b2 = FlashData::new(2, vec![0x33; 0x4000]).to_packet().to_bytes();
    let t0 = h.now;
    h.b.on_bytes(t0, &wire0);
    h.b.on_bytes(t0, &wire1);
    h.b.on_bytes(t0, &slip::encode(&b2));
    let frames = h.collect();
    assert_eq!(frames.len(), 2, "third frame overran the two receive buffers");
    assert_eq!(h.b.stats().overruns, 1);
    let rx1_done = t0 + h.b.timing.wire_time(2_000_000, wire0.len() + wire1.len());
    let work0 = Duration::from_millis(4 * 45) + Duration::from_nanos(137_500) * 512;
    assert!(frames[1].0 >= frames[0].0 + work0, "ack 1 waits for block 0's erase+program");
    assert!(frames[1].0 > rx1_done + Duration::from_millis(150), "chip-bound, not link-bound");
    // FLASH_END replies after block 1's work too.
    let end_sent = h.now;
    let r = h.send(&FlashEnd::stay().to_packet());
    assert!(r[0].0 >= end_sent + work0 - Duration::from_millis(50));
    assert_eq!(&h.b.flash().contents()[0x10000..0x10004], &[0x11; 4]);
    assert_eq!(&h.b.flash().contents()[0x14000..0x14004], &[0x22; 4]);
}

#[test]
fn new_stub_skips_blank_erase_and_legacy_does_not() {
    let data = vec![0x5A; 0x20000];
    let z = zlib(&data);
    let mut erases = Vec::new();
    for stub in [ESP32_NEW, ESP32_LEGACY] {
        let mut h = Host::new(Chip::Esp32);
        h.upload_stub(stub);
        let begin = BeginParams {
            size: data.len() as u32,
            num_blocks: z.len().div_ceil(0x4000) as u32,
            block_size: 0x4000,
            offset: 0x20000,
            encrypted: Some(0),
        };
        h.status(FlashDeflBegin(begin).to_packet());
        for (i, c) in z.chunks(0x4000).enumerate() {
            assert_eq!(h.status(FlashDeflData::new(i as u32, c.to_vec()).to_packet()), (0, 0));
        }
        assert_eq!(h.status(FlashDeflEnd::stay().to_packet()), (0, 0));
        assert_eq!(&h.b.flash().contents()[0x20000..0x40000], &data[..]);
        let s = h.b.stats();
        erases.push((s.sector_erases + s.block_erases, s.blank_sector_skips));
    }
    assert_eq!(erases[0], (0, 32), "new stub: all 32 blank sectors skipped");
    assert_eq!(erases[1], (2, 0), "legacy stub: two 64 KiB block erases");
}

#[test]
fn realistic_sector_erase_takes_datasheet_time() {
    let mut h = Host::realistic(Chip::Esp32);
    h.upload_stub(ESP32_LEGACY);
    let p = EraseRegion { offset: 0x1000, size: 0x1000 }.to_packet();
    let wire = slip::encode(&p.to_bytes());
    let t0 = h.now;
    let r = h.send(&p);
    let rx_done = t0 + h.b.timing.wire_time(115_200, wire.len());
    let reply_wire = h.b.timing.wire_time(115_200, slip::encoded_len(&r[0].1.to_bytes()));
    let took = r[0].0 - rx_done;
    let expect = Duration::from_millis(45) + reply_wire + h.b.timing.command_overhead;
    assert!(took.abs_diff(expect) < Duration::from_micros(2), "{took:?} vs {expect:?}");
}

#[test]
fn new_stub_erase_region_runs_out_of_its_budget_on_slow_flash() {
    // 120 ms per sector (esp-flasher-stub `s_erase_region`): a 400 ms sector erase (a slow
    // part's datasheet maximum) gets 0xC400, yet the erase goes on and a hash after it
    // (which waits for the flash) reads blank. The legacy stub waits as long as it takes.
    for (stub, budget_errors) in [(ESP32_NEW, true), (ESP32_LEGACY, false)] {
        let mut cfg = BoardConfig::new(Chip::Esp32, Mac([0x24, 0x0a, 0xc4, 0, 0, 9]));
        cfg.timing = TimingMode::Realistic;
        cfg.faults = vec![Fault::SlowErase { ms: 400 }];
        let mut h = Host::with(cfg);
        h.upload_stub(stub);
        h.b.flash.write_raw(0x3000, &[0u8; 0x1000]).unwrap();
        let one = h.status(EraseRegion { offset: 0x3000, size: 0x1000 }.to_packet());
        let want = if budget_errors { (StubError::FailedSpiOp.code(), 0) } else { (0, 0) };
        assert_eq!(one, want);
        let r = h.send(&SpiFlashMd5 { addr: 0x3000, size: 0x1000 }.to_packet());
        use md5::Digest;
        assert_eq!(&r[0].1.data[..16], &md5::Md5::digest([0xFFu8; 0x1000])[..]);
        // A 64 KiB block erase of 400 ms is well within 16 sectors' budget.
        assert_eq!(h.status(EraseRegion { offset: 0x10000, size: 0x10000 }.to_packet()), (0, 0));
    }
}

#[test]
fn uart_pacing_of_replies() {
    // READ_FLASH_SLOW reply: 8 + 64 + 4 = 76 bytes → at least 78 on the wire; at 115200
    // each byte takes 86.8 µs.
    let mut h = Host::realistic(Chip::Esp32);
    let t0 = h.now;
    let r = h.send(&ReadFlashSlow { offset: 0, len: 64 }.to_packet());
    let req = slip::encoded_len(&ReadFlashSlow { offset: 0, len: 64 }.to_packet().to_bytes());
    let resp = slip::encoded_len(&r[0].1.to_bytes());
    let min = h.b.timing.wire_time(115_200, req + resp);
    assert!(r[0].0 - t0 >= min, "{:?} < {min:?}", r[0].0 - t0);
    assert!(r[0].0 - t0 < min + Duration::from_millis(1));
}

#[test]
fn change_baudrate_applies_after_reply() {
    let mut h = Host::realistic(Chip::Esp32);
    h.upload_stub(ESP32_NEW);
    let t0 = h.now;
    let r = h.send(&ChangeBaudrate { new: 921_600, old: 115_200 }.to_packet());
    let wire = slip::encoded_len(&ChangeBaudrate { new: 921_600, old: 115_200 }.to_packet().to_bytes());
    // Request and reply both at 115200.
    assert!(r[0].0 - t0 >= h.b.timing.wire_time(115_200, wire + 12));
    assert_eq!(h.b.baud(), 921_600);
    // ESP32 ROM: esptool's drift-compensated value is undone.
    let mut h = Host::new(Chip::Esp32);
    h.status(ChangeBaudrate { new: 921_690, old: 0 }.to_packet());
    assert!((h.b.baud() as i64 - 921_600).abs() < 50, "{}", h.b.baud());
}

#[test]
fn reset_lines_boot_into_download_or_app() {
    let mut h = Host::new(Chip::Esp32);
    // UnixTightReset: (F,F) (T,T) (F,T) … (T,F) … (F,F)
    for (dtr, rts) in [(false, false), (true, true), (false, true)] {
        h.b.set_lines(h.now, dtr, rts);
    }
    assert_eq!(h.b.mode(), Mode::InReset);
    assert!(h.sync().is_empty(), "in reset: silent");
    h.b.set_lines(h.now, true, false);
    h.b.set_lines(h.now, false, false);
    h.collect();
    assert!(String::from_utf8_lossy(&h.dec.take_noise().unwrap()).contains("DOWNLOAD_BOOT"));
    assert_eq!(h.b.mode(), Mode::Rom);
    assert_eq!(h.sync().len(), 8);
    // Hard reset (RTS pulse) with IO0 high: the chip boots from flash (erased here: the
    // ROM complains and loops) and ignores the host.
    h.b.set_lines(h.now, false, true);
    h.b.set_lines(h.now, false, false);
    h.b.poll(h.b.next_deadline().expect("the ROM's complaint follows its log"));
    h.collect();
    let log = String::from_utf8_lossy(&h.dec.take_noise().unwrap()).into_owned();
    assert!(log.contains("SPI_FAST_FLASH_BOOT") && log.contains("flash read err, 1000"), "{log}");
    assert_eq!(h.b.mode(), Mode::App);
    assert!(h.sync().is_empty());
    let again = h.b.next_deadline().expect("the ROM tries again");
    h.b.poll(again);
    h.collect();
    let log = String::from_utf8_lossy(&h.dec.take_noise().unwrap()).into_owned();
    // The ROM's boot watchdog ended that boot, and the next log says so.
    assert!(log.contains("rst:0x10 (RTCWDT_RTC_RESET),boot:0x13 (SPI_FAST_FLASH_BOOT)"), "{log}");
}

#[test]
fn a_flashed_app_prints_its_console_script_over_time() {
    let script = b"ESPSIM-CONSOLE-BEGIN\nI (300) app: self-test passed\n@delay 500\nlater\n@reboot\nESPSIM-CONSOLE-END";
    let mut h = Host::realistic(Chip::Esp32);
    let flash = crate::flash_boot::tests::flash_with(Chip::Esp32, script);
    h.b.flash_mut().write_raw(0, &flash).unwrap();
    h.b.set_lines(h.now, false, true);
    h.b.set_lines(h.now, false, false);
    let mut log = String::new();
    let mut times = Vec::new();
    for _ in 0..6 {
        let t = h.b.next_deadline().expect("more to print");
        h.b.poll(t);
        times.push(t);
        h.collect();
        log += &String::from_utf8_lossy(&h.dec.take_noise().unwrap_or_default());
    }
    let first = log.find("self-test passed").expect(&log);
    let later = log.find("later").expect(&log);
    let reboot = log.find("rst:0xc (SW_CPU_RESET)").expect(&log);
    assert!(first < later && later < reboot, "{log}");
    // The app's first line comes after the bootloader's time, the next after its delay.
    assert!(times.windows(2).all(|w| w[0] <= w[1]));
    assert!(times.iter().any(|t| *t >= Duration::from_millis(780)), "{times:?}");
    assert_eq!(h.b.mode(), Mode::App);
    // A reset into download mode ends the app's output.
    h.b.set_lines(h.now, false, true);
    h.b.set_lines(h.now, true, false);
    h.b.set_lines(h.now, false, false);
    assert_eq!(h.b.mode(), Mode::Rom);
    assert_eq!(h.b.next_deadline(), None);
}

fn faulty(chip: Chip, f: &str) -> Host {
    let mut cfg = BoardConfig::new(chip, Mac([0x24, 0x0a, 0xc4, 0, 0, 7]));
    cfg.faults = vec![f.parse::<Fault>().unwrap()];
    Host::with(cfg)
}

#[test]
fn fault_not_download() {
    let mut h = faulty(Chip::Esp32, "not-download");
    assert!(h.sync().is_empty());
    assert!(h.b.take_output().is_empty());
    let mut h = faulty(Chip::Esp8266, "not-download=garbage");
    assert!(h.sync().is_empty());
    h.b.poll(Duration::ZERO);
    h.collect();
    let noise = h.dec.take_noise().expect("boot log garbage");
    assert!(noise.iter().all(|&b| b >= 0x80));
    assert_eq!(h.b.next_deadline(), Some(Duration::from_millis(300)), "boot loop repeats");
    // A reset does not help.
    h.b.set_lines(h.now, false, true);
    h.b.set_lines(h.now, true, false);
    assert!(h.sync().is_empty());
}

#[test]
fn fault_unplug_and_hang() {
    let mut h = faulty(Chip::Esp32, "unplug-after=100");
    assert_eq!(h.sync().len(), 8, "46 bytes: fine");
    assert_eq!(h.sync().len(), 8, "92 bytes: fine");
    assert!(h.sync().is_empty(), "the link dropped at byte 100");
    assert!(h.closed_at.is_some());
    assert_eq!(h.b.stats().bytes_in, 100);
    let mut h = faulty(Chip::Esp32, "hang-after=50");
    assert_eq!(h.sync().len(), 8);
    assert!(h.sync().is_empty());
    assert!(h.closed_at.is_none(), "hang keeps the link open");
}

#[test]
fn fault_corrupt_frame() {
    let mut h = faulty(Chip::Esp32, "corrupt-frame=3");
    let r = h.send_raw(&Sync.to_packet().to_bytes());
    assert_eq!(r.len(), 8);
    let good = &r[0].1;
    assert_eq!(&r[1].1, good);
    assert_ne!(&r[2].1, good, "third frame corrupted");
    assert_eq!(r[2].1.len(), good.len());
    assert_eq!(&r[3].1, good);
}

#[test]
fn fault_bad_flash_cells() {
    let mut h = faulty(Chip::Esp32, "bad-flash=0x1010+2");
    h.upload_stub(ESP32_NEW);
    let begin = BeginParams { size: 0x20, num_blocks: 1, block_size: 0x4000, offset: 0x1000, encrypted: Some(0) };
    h.status(FlashBegin(begin).to_packet());
    assert_eq!(h.status(FlashData::new(0, vec![0; 0x20]).to_packet()), (0, 0));
    assert_eq!(h.status(FlashEnd::stay().to_packet()), (0, 0), "the stub does not notice");
    let f = &h.b.flash().contents()[0x1000..0x1020];
    assert_eq!(&f[0x0E..0x14], &[0, 0, 0xFF, 0xFF, 0, 0]);
    let r = h.one(&SpiFlashMd5 { addr: 0x1000, size: 0x20 });
    assert_ne!(&r.data[..16], &md5(&[0; 0x20]), "the host's MD5 check does");
}

#[test]
fn fault_slow_replies() {
    let mut h = faulty(Chip::Esp32, "slow-replies=20");
    let t0 = h.now;
    let r = h.send(&ReadReg { addr: 0x4000_1000 }.to_packet());
    assert!(r[0].0 - t0 >= Duration::from_millis(20));
}

#[test]
fn fault_wrong_chip() {
    let mut h = faulty(Chip::Esp32, "wrong-chip=esp8266");
    assert_eq!(h.one(&ReadReg { addr: 0x4000_1000 }).value, 0xFFF0_C101);
    assert_eq!(h.send(&Sync.to_packet())[0].1.data.len(), 2, "ESP8266 status layout");
}

#[test]
fn spi_engine_through_write_reg() {
    for chip in [Chip::Esp32, Chip::Esp8266] {
        let mut h = Host::new(chip);
        fidelity::attach(&mut h);
        let spi = chip.spec().spi;
        let mut writes = vec![RegWrite { addr: spi.usr_addr(), value: 0x9000_0000, mask: !0, delay_us: 0 }];
        writes.push(RegWrite { addr: spi.usr2_addr(), value: 0x7000_009F, mask: !0, delay_us: 0 });
        match spi.miso_dlen_addr() {
            Some(a) => writes.push(RegWrite { addr: a, value: 23, mask: !0, delay_us: 0 }),
            None => writes.push(RegWrite { addr: spi.usr1_addr(), value: 23 << 8, mask: !0, delay_us: 0 }),
        }
        writes.push(RegWrite { addr: spi.cmd_addr(), value: 1 << 18, mask: !0, delay_us: 0 });
        h.status(WriteReg { writes }.to_packet());
        assert_eq!(h.one(&ReadReg { addr: spi.cmd_addr() }).value & (1 << 18), 0);
        assert_eq!(h.one(&ReadReg { addr: spi.w0_addr() }).value, 0x0016_40EF, "{chip}");
    }
}

#[test]
fn garbage_never_panics() {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    for chip in crate::chips::SIMULATED.map(|m| m.chip()) {
        for stub in stubs_of(chip) {
            let mut h = Host::realistic(chip);
            if let Some(s) = stub {
                h.upload_stub(s);
            }
            for _ in 0..300 {
                let n = rng.random_range(0..200);
                let mut bytes: Vec<u8> = (0..n).map(|_| rng.random()).collect();
                if rng.random_bool(0.5) {
                    // Plausible frames with random opcodes and payloads.
                    let op = rng.random_range(0..=0x20u8) | if rng.random_bool(0.2) { 0xD0 } else { 0 };
                    let mut p = vec![0, op];
                    p.extend((bytes.len() as u16).to_le_bytes());
                    p.extend([0, 0, 0, 0]);
                    p.extend(&bytes);
                    bytes = slip::encode(&p);
                }
                h.b.on_bytes(h.now, &bytes);
                h.collect();
            }
        }
    }
}

/// Well-formed commands with random parameters, in every personality: never a panic.
#[test]
fn random_commands_never_panic() {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    let chips = crate::chips::SIMULATED.map(|m| m.chip());
    for (chip, realistic) in chips.into_iter().flat_map(|c| [(c, false), (c, true)]) {
        for stub in stubs_of(chip) {
            let mut h = if realistic { Host::realistic(chip) } else { Host::new(chip) };
            if let Some(s) = stub {
                h.upload_stub(s);
            }
            for _ in 0..400 {
                let a: u32 = if rng.random_bool(0.5) { rng.random() } else { rng.random_range(0..0x50_0000) };
                let b: u32 = if rng.random_bool(0.5) { rng.random() } else { rng.random_range(0..0x2_0000) };
                let begin = BeginParams {
                    size: b,
                    num_blocks: rng.random_range(0..10),
                    block_size: rng.random_range(0..0x8000),
                    offset: a,
                    encrypted: rng.random_bool(0.5).then_some(0),
                };
                let data: Vec<u8> = (0..rng.random_range(0..600)).map(|_| rng.random()).collect();
                let spi = chip.spec().spi;
                let p = match rng.random_range(0..14) {
                    0 => FlashBegin(begin).to_packet(),
                    1 => FlashDeflBegin(begin).to_packet(),
                    2 => FlashData::new(0, data).to_packet(),
                    3 => FlashDeflData::new(0, data).to_packet(),
                    4 => FlashEnd { flag: rng.random_range(0..2), timeout: Duration::ZERO }.to_packet(),
                    5 => {
                        ReadFlash { offset: a, len: b % 0x3000, packet_size: rng.random(), max_in_flight: rng.random() }
                            .to_packet()
                    }
                    6 => EraseRegion { offset: a, size: b }.to_packet(),
                    7 => SpiFlashMd5 { addr: a, size: b }.to_packet(),
                    8 => ReadFlashSlow { offset: a, len: b % 100 }.to_packet(),
                    9 => WriteReg {
                        writes: vec![RegWrite {
                            addr: spi.base + rng.random_range(0..0x100) / 4 * 4,
                            value: rng.random(),
                            mask: rng.random(),
                            delay_us: 0,
                        }],
                    }
                    .to_packet(),
                    10 => WriteReg::one(spi.cmd_addr(), 1 << 18).to_packet(),
                    11 => ChangeBaudrate { new: rng.random(), old: 0 }.to_packet(),
                    12 => MemEnd { flag: rng.random_range(0..2), entry: a }.to_packet(),
                    _ => FlashDeflData::new(1, zlib(&data)).to_packet(),
                };
                h.b.on_bytes(h.now, &slip::encode(&p.to_bytes()));
                h.collect();
                if h.b.read.is_some() && rng.random_bool(0.7) {
                    h.send_raw(&rng.random::<u32>().to_le_bytes());
                }
                if matches!(h.b.mode(), Mode::App) {
                    h.b.set_lines(h.now, true, false);
                    h.b.set_lines(h.now, false, true);
                    h.b.set_lines(h.now, true, false);
                }
            }
        }
    }
}

#[test]
fn run_user_code_only_on_esp8266_stub() {
    let mut h = Host::new(Chip::Esp8266);
    h.upload_stub(ESP8266_LEGACY);
    let frames = h.send_raw(&RunUserCode.to_packet().to_bytes());
    assert!(frames.is_empty(), "no reply");
    assert_eq!(h.b.mode(), Mode::App);
    assert!(String::from_utf8_lossy(&h.dec.take_noise().unwrap()).contains("app running"));
    let mut h = Host::new(Chip::Esp32);
    h.upload_stub(ESP32_LEGACY);
    assert_eq!(h.status(RunUserCode.to_packet()), (0xFF, 0));
    assert_eq!(h.b.mode(), Mode::Stub(StubKind::Legacy));
}

/// A stub linked for another revision's RAM (ESP32-P4 v3 on a v1 board) or another chip
/// does not run: no greeting, the host is ignored, and a reset brings the ROM back.
#[test]
fn a_stub_the_chip_cannot_run_never_greets() {
    let v3 = Chip::Esp32P4.spec().stub_v2;
    let mut h = Host::new(Chip::Esp32P4);
    let begin = BeginParams { size: 100, num_blocks: 1, block_size: 0x800, offset: v3.text_start, encrypted: Some(0) };
    assert_ne!(h.one(&MemBegin(begin)).data[..2], [0, 0], "MEM_BEGIN has no 20-byte form");
    let begin = BeginParams { encrypted: None, ..begin };
    assert!(h.one(&MemBegin(begin)).data.starts_with(&[0, 0]));
    h.one(&MemData::new(0, vec![0xAA; 100]));
    let frames = h.send_raw(&MemEnd { flag: 0, entry: v3.entry }.to_packet().to_bytes());
    assert_eq!(frames.len(), 1, "the MEM_END reply only, no OHAI");
    assert_eq!(h.b.mode(), Mode::App);
    assert!(h.send_raw(&ReadReg { addr: 0x6000_0000 }.to_packet().to_bytes()).is_empty(), "nobody answers");
    let rev1 = flashline_protocol::chip::esp32p4::STUB_REV1.layout;
    let mut h = Host::new(Chip::Esp32P4);
    h.upload_stub((rev1.text_start, rev1.entry));
    assert_eq!(h.b.mode(), Mode::Stub(StubKind::New));
}

/// Streams the first packet of a READ_FLASH of `len` bytes at 0 and returns it, as a host
/// does before it vanishes.
fn read_first_packet(h: &mut Host, len: u32) -> Vec<u8> {
    let frames = h.send_raw(&ReadFlash::esptool(0, len).to_packet().to_bytes());
    assert_eq!(frames.len(), 2, "reply + first packet");
    frames[1].1.clone()
}

#[test]
fn a_sync_ends_a_read_whose_host_vanished_and_is_swallowed() {
    // Both stubs take the next host's first SYNC as part of the read: it ends the read
    // (the digest of what was sent comes back) and is not answered; the next one is.
    for stub in [ESP32_NEW, ESP32_LEGACY] {
        let mut h = Host::new(Chip::Esp32);
        h.b.flash_mut().write_raw(0, &(0..20_000u32).map(|i| (i * 7) as u8).collect::<Vec<_>>()).unwrap();
        h.upload_stub(stub);
        let sent = read_first_packet(&mut h, 20_000);
        let frames = h.send_raw(&Sync.to_packet().to_bytes());
        assert_eq!(frames.len(), 1, "only the digest: {frames:?}");
        assert_eq!(frames[0].1, md5(&sent).to_vec());
        assert_eq!(h.sync().len(), 8, "the next SYNC is answered");
    }
}

#[test]
fn only_an_end_ack_ends_a_legacy_read_past_what_a_sync_reads_as() {
    // A SYNC's first four bytes read as 0x0024_0800: a legacy read that sent more than
    // that takes it as an acknowledgement and goes on waiting.
    let mut h = Host::new(Chip::Esp32);
    h.upload_stub(ESP32_LEGACY);
    let len = 0x30_0000;
    let mut got = read_first_packet(&mut h, len).len() as u32;
    while got <= 0x24_0800 {
        let f = h.send_raw(&got.to_le_bytes());
        assert_eq!(f.len(), 1);
        got += f[0].1.len() as u32;
    }
    assert!(h.send_raw(&Sync.to_packet().to_bytes()).is_empty(), "the SYNC is taken as an ack");
    let f = h.send_raw(&u32::MAX.to_le_bytes());
    assert_eq!(f.len(), 1, "an ack of u32::MAX ends it");
    assert_eq!(f[0].1.len(), 16, "the digest");
    assert_eq!(h.sync().len(), 8);
}

#[test]
fn a_wedged_stub_answers_nothing_until_power_cycled() {
    let mut cfg = BoardConfig::new(Chip::Esp32, Mac([0x24, 0x0a, 0xc4, 0, 0, 7]));
    cfg.faults = vec![Fault::HangUntilPowerCycle];
    let mut h = Host::with(cfg);
    for _ in 0..3 {
        let frames = h.send_raw(&Sync.to_packet().to_bytes());
        assert_eq!(frames.len(), 1);
        assert_eq!(frames[0].1, md5(&[]).to_vec(), "a raw digest, not a reply");
        assert_eq!(h.send_raw(&u32::MAX.to_le_bytes()).len(), 1, "an ack ends nothing either");
    }
    let now = h.now;
    h.b.power_cycle(now);
    h.collect();
    assert_eq!(h.b.mode(), Mode::Rom, "boots into download mode");
    h.now += Duration::from_millis(100);
    assert_eq!(h.sync().len(), 8);
    h.b.power_cycle(h.now);
    h.collect();
    h.now += Duration::from_millis(100);
    assert_eq!(h.sync().len(), 8, "the fault is spent");
}

mod fidelity;
