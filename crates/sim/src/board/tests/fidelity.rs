//! What clients other than esptool 5.6 found: a stub uploaded over a running stub, flash
//! commands before the ROM attached the flash, and requests longer than a command needs.

use super::*;
use crate::chips::SIMULATED;

/// Runs RDID (0x9F, 24 bits) through the SPI controller's user-command registers, as
/// esptool's `run_spiflash_command` does, and returns W0.
fn rdid(h: &mut Host) -> u32 {
    let spi = h.b.chip().spec().spi;
    let w = |addr, value| RegWrite { addr, value, mask: !0, delay_us: 0 };
    let mut writes = vec![w(spi.usr_addr(), 0x9000_0000), w(spi.usr2_addr(), 0x7000_009F)];
    writes.push(match spi.miso_dlen_addr() {
        Some(a) => w(a, 23),
        None => w(spi.usr1_addr(), 23 << 8),
    });
    writes.push(w(spi.cmd_addr(), 1 << 18));
    assert_eq!(h.status(WriteReg { writes }.to_packet()), (0, 0));
    h.one(&ReadReg { addr: spi.w0_addr() }).value
}

/// What the chip's download mode needs before flash commands reach the flash: SPI_ATTACH,
/// or on ESP8266 (no SPI_ATTACH in its ROM) an empty FLASH_BEGIN.
pub(super) fn attach(h: &mut Host) {
    let p = if h.b.chip().spec().rom_is_esp32_class {
        SpiAttach { config: 0, rom_format: true }.to_packet()
    } else {
        FlashBegin(BeginParams { size: 0, num_blocks: 0, block_size: 0x400, offset: 0, encrypted: None }).to_packet()
    };
    assert_eq!(h.status(p), (0, 0));
}

#[test]
fn a_stub_uploaded_over_a_running_stub_starts_and_greets_again() {
    for m in SIMULATED {
        let chip = m.chip();
        let [(_, legacy), (_, new)] = m.stub_layouts();
        let (legacy, new) = ((legacy.text_start, legacy.entry), (new.text_start, new.entry));
        for (first, second, kind) in
            [(new, new, StubKind::New), (legacy, new, StubKind::New), (new, legacy, StubKind::Legacy)]
        {
            let mut h = Host::new(chip);
            h.upload_stub(first);
            // A write left open by the first stub does not survive the jump.
            let begin = BeginParams { size: 0x1000, num_blocks: 1, block_size: 0x400, offset: 0, encrypted: None };
            assert_eq!(h.status(FlashBegin(begin).to_packet()), (0, 0), "{chip}");
            h.upload_stub(second);
            assert_eq!(h.b.mode(), Mode::Stub(kind), "{chip}");
            assert_eq!(h.b.stats().stub_starts, 2, "{chip}");
            assert_eq!(h.sync(), vec![0; 8], "{chip}: the new stub answers SYNC");
            assert_ne!(h.status(FlashData::new(0, vec![0; 0x400]).to_packet()).0, 0, "{chip}: no write open");
            assert_eq!(rdid(&mut h), 0x0016_40EF, "{chip}: the stub attached the flash");
        }
    }
}

#[test]
fn mem_end_without_run_leaves_the_running_stub_in_place() {
    let mut h = Host::new(Chip::Esp32);
    h.upload_stub(ESP32_NEW);
    let begin = BeginParams { size: 100, num_blocks: 1, block_size: 0x1800, offset: 0x3FFE_0000, encrypted: None };
    assert_eq!(h.status(MemBegin(begin).to_packet()), (0, 0));
    h.one(&MemData::new(0, vec![0x55; 100]));
    let frames = h.send_raw(&MemEnd { flag: 1, entry: 0 }.to_packet().to_bytes());
    assert_eq!(frames.len(), 1, "reply only, no greeting");
    assert_eq!(h.b.mode(), Mode::Stub(StubKind::New));
    assert_eq!(h.b.stats().stub_starts, 1);
}

#[test]
fn flash_commands_before_attach_read_all_ones_like_a_detached_flash() {
    for m in SIMULATED {
        let chip = m.chip();
        let mut h = Host::new(chip);
        let at_boot = m.rom_attaches_flash_at_boot();
        assert_eq!(at_boot, matches!(chip, Chip::Esp32S2 | Chip::Esp32P4), "{chip}");
        let before = if at_boot { 0x0016_40EF } else { 0x00FF_FFFF };
        assert_eq!(rdid(&mut h), before, "{chip}: RDID in the ROM before attach");
        attach(&mut h);
        assert_eq!(rdid(&mut h), 0x0016_40EF, "{chip}: RDID after attach");
        // A reset detaches it again.
        h.b.set_lines(h.now, false, true);
        h.b.set_lines(h.now, true, false);
        h.b.set_lines(h.now, false, false);
        h.collect();
        h.dec.take_noise();
        assert_eq!(h.b.mode(), Mode::Rom, "{chip}");
        assert_eq!(rdid(&mut h), before, "{chip}: RDID after a reset into download mode");
    }
}

#[test]
fn esp8266_rom_attaches_on_flash_begin_only() {
    let mut h = Host::new(Chip::Esp8266);
    assert_eq!(h.status(SpiAttach { config: 0, rom_format: true }.to_packet()), (1, 5), "no SPI_ATTACH");
    assert_eq!(rdid(&mut h), 0x00FF_FFFF);
    attach(&mut h);
    assert_eq!(rdid(&mut h), 0x0016_40EF);
}

#[test]
fn rom_read_flash_slow_takes_espflash_16_byte_form() {
    let mut h = Host::new(Chip::Esp32);
    attach(&mut h);
    let content: Vec<u8> = (0..64u8).collect();
    h.b.flash_mut().write_raw(0x1000, &content).unwrap();
    let words = |ws: &[u32]| ws.iter().flat_map(|w| w.to_le_bytes()).collect::<Vec<u8>>();
    for data in [words(&[0x1000, 16]), words(&[0x1000, 16, 0x1000, 64])] {
        let p = CommandPacket { opcode: Opcode::ReadFlashSlow as u8, checksum: 0, data };
        let mut r = h.send(&p);
        assert_eq!(r.len(), 1);
        let (_, resp) = r.remove(0);
        assert_eq!(&resp.data[..16], &content[..16], "{} request bytes", p.data.len());
        assert_eq!(&resp.data[64..66], [0, 0], "status ok");
    }
    let short = CommandPacket { opcode: Opcode::ReadFlashSlow as u8, checksum: 0, data: words(&[0x1000]) };
    assert_eq!(h.status(short), (1, 5), "fewer bytes than the command needs");
}

#[test]
fn the_rtc_watchdog_resets_into_a_boot_from_flash() {
    for (image, want) in [(None, "invalid header: 0xffffffff"), (Some(0xE9u8), "flashline-sim app running")] {
        let mut h = Host::new(Chip::Esp32S3);
        if let Some(magic) = image {
            h.b.flash_mut().write_raw(0, &[magic, 2, 2, 0x20]).unwrap();
        }
        let cfg0 = crate::chips::ESP32S3.rtc_wdt_config0().expect("esptool watchdog-resets ESP32-S3");
        let enable = RegWrite { addr: cfg0, value: (1 << 31) | (5 << 28) | (1 << 8) | 2, mask: !0, delay_us: 0 };
        assert_eq!(h.status(WriteReg { writes: vec![enable] }.to_packet()), (0, 0));
        let at = h.b.next_deadline().expect("the watchdog runs");
        assert_eq!(h.b.mode(), Mode::Rom, "not before its timeout");
        h.b.poll(at);
        h.collect();
        let log = String::from_utf8_lossy(&h.dec.take_noise().unwrap_or_default()).into_owned();
        assert!(log.contains("rst:0x10 (RTCWDT_RTC_RST)") && log.contains(want), "{log}");
        assert_eq!(h.b.mode(), Mode::App);
        match image {
            Some(_) => assert_eq!(h.b.next_deadline(), None),
            None => {
                // The boot loop complains again later, for a port opened after the reset.
                let again = h.b.next_deadline().expect("boot loop");
                h.b.poll(again);
                h.collect();
                let more = String::from_utf8_lossy(&h.dec.take_noise().unwrap_or_default()).into_owned();
                assert_eq!(more, "invalid header: 0xffffffff\r\n");
                h.b.set_lines(h.now, false, true);
                h.b.set_lines(h.now, true, false);
                assert_eq!(h.b.mode(), Mode::Rom);
                assert_eq!(h.b.next_deadline(), None, "a reset ends the loop");
            }
        }
    }
    // ESP32 has no such watchdog reset (esptool hard-resets it through RTS).
    assert_eq!(crate::chips::Esp32.rtc_wdt_config0(), None);
}
