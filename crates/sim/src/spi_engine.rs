//! The SPI controller's "user command" engine, driven through READ_REG / WRITE_REG.
//!
//! esptool has no opcode for JEDEC id, SFDP or status reads: it programs USR/USR1/USR2,
//! ADDR and W0 and sets CMD bit 18; the hardware runs the command and clears the bit, and
//! the bytes received from the flash land in W0.. (first byte in bits 7:0). This module
//! executes such a command against the simulated flash (a Winbond W25Qxx part).
//!
//! In download mode most ROMs leave the flash detached until SPI_ATTACH (ESP8266: until
//! its first FLASH_BEGIN): the controller's pins are not routed to the flash chip, so a
//! command reaches nothing and MISO reads as all ones (esptool then shows manufacturer
//! `ff`, device `ffff`, an unknown size and SFDP `0xff` bytes). [`FlashChipState::attached`]
//! holds that state; the board sets it.

use crate::flash::NorFlash;
use flashline_protocol::chip::SpiRegs;
use flashline_protocol::flash::{spi_cmd, winbond_jedec_for_size};
use std::collections::HashMap;

/// Serial Flash Discoverable Parameters as a Winbond W25Q32JV reports them: signature
/// "SFDP" at 0, and at 0x10 the second parameter header (id 0x84), which is not 0x20 —
/// so esptool's XMC recovery is never triggered.
fn sfdp_table(size: u32) -> Vec<u8> {
    let mut t = vec![0xFF; 256];
    let header: [u8; 24] = [
        b'S', b'F', b'D', b'P', 0x06, 0x01, 0x01, 0xFF, // signature, rev 1.6, 2 headers
        0x00, 0x06, 0x01, 0x10, 0x80, 0x00, 0x00, 0xFF, // JEDEC basic table: 16 dwords at 0x80
        0x84, 0x00, 0x01, 0x02, 0xD0, 0x00, 0x00, 0xFF, // vendor table at 0xD0
    ];
    t[..24].copy_from_slice(&header);
    // Basic table dword 2: density in bits minus one.
    let bits = (size as u64 * 8 - 1) as u32;
    t[0x80..0x84].copy_from_slice(&[0xE5, 0x20, 0xF9, 0xFF]);
    t[0x84..0x88].copy_from_slice(&bits.to_le_bytes());
    t
}

/// Flash-side state the engine changes (status registers, power-down).
#[derive(Debug, Clone, Default)]
pub struct FlashChipState {
    /// The flash is routed to the SPI controller (after SPI_ATTACH, or from boot on chips
    /// whose ROM attaches it, or once a stub runs).
    pub attached: bool,
    pub sr: [u8; 3],
    pub powered_down: bool,
    /// Number of user commands executed (for tests and statistics).
    pub commands: u64,
}

/// Executes the user command currently programmed into `regs` and writes the result to
/// the W registers. Called when CMD bit 18 is written; clears that bit.
pub fn execute(spi: &SpiRegs, regs: &mut HashMap<u32, u32>, flash: &mut NorFlash, st: &mut FlashChipState) {
    let get = |regs: &HashMap<u32, u32>, a: u32| regs.get(&a).copied().unwrap_or(0);
    let usr = get(regs, spi.usr_addr());
    let usr1 = get(regs, spi.usr1_addr());
    let usr2 = get(regs, spi.usr2_addr());
    let opcode = (usr2 & 0xFF) as u8;
    st.commands += 1;

    // Bit lengths: separate registers on ESP32, packed into USR1 on ESP8266.
    let miso_bits = if usr & SpiRegs::USR_MISO == 0 {
        0
    } else if let Some(a) = spi.miso_dlen_addr() {
        get(regs, a) + 1
    } else {
        ((usr1 >> 8) & 0x1FF) + 1
    };
    let mosi_bits = if usr & SpiRegs::USR_MOSI == 0 {
        0
    } else if let Some(a) = spi.mosi_dlen_addr() {
        get(regs, a) + 1
    } else {
        ((usr1 >> 17) & 0x1FF) + 1
    };
    let addr = if usr & SpiRegs::USR_ADDR != 0 {
        let bits = (usr1 >> 26) + 1;
        let raw = get(regs, spi.addr_addr());
        if spi.addr_left_aligned && bits < 32 {
            raw >> (32 - bits)
        } else {
            raw
        }
    } else {
        0
    };
    let mosi: Vec<u8> = (0..mosi_bits.div_ceil(8).min(64))
        .map(|i| (get(regs, spi.w0_addr() + (i / 4) * 4) >> ((i % 4) * 8)) as u8)
        .collect();

    let size = flash.size();
    let jedec = winbond_jedec_for_size(size).unwrap_or(0x0016_40EF);
    let reply: Vec<u8> = if !st.attached {
        vec![0xFF; 64] // nothing drives MISO: the line floats high
    } else if st.powered_down && opcode != spi_cmd::RELEASE_POWER_DOWN {
        Vec::new() // a powered-down chip ignores everything but release
    } else {
        match opcode {
            spi_cmd::RDID => jedec.to_le_bytes()[..3].to_vec(),
            spi_cmd::RDSFDP => {
                let t = sfdp_table(size);
                (0..64).map(|i| t.get(addr as usize + i).copied().unwrap_or(0xFF)).collect()
            }
            spi_cmd::RDSR => vec![st.sr[0]; 4],
            spi_cmd::RDSR2 => vec![st.sr[1]; 4],
            spi_cmd::RDSR3 => vec![st.sr[2]; 4],
            spi_cmd::WREN => {
                st.sr[0] |= 0x02;
                Vec::new()
            }
            spi_cmd::WRDI => {
                st.sr[0] &= !0x02;
                Vec::new()
            }
            spi_cmd::WRSR => {
                // Status register write needs WEL; WIP/WEL bits are read-only.
                if st.sr[0] & 0x02 != 0 {
                    if let Some(&b) = mosi.first() {
                        st.sr[0] = b & 0xFC;
                    }
                    if let Some(&b) = mosi.get(1) {
                        st.sr[1] = b;
                    }
                }
                Vec::new()
            }
            spi_cmd::RESET_ENABLE | spi_cmd::RESET => {
                st.sr[0] &= !0x03;
                Vec::new()
            }
            spi_cmd::DEEP_POWER_DOWN => {
                st.powered_down = true;
                Vec::new()
            }
            spi_cmd::RELEASE_POWER_DOWN => {
                st.powered_down = false;
                vec![((jedec >> 16) as u8).wrapping_sub(1); 4]
            }
            // Manufacturer / device id.
            0x90 => vec![0xEF, ((jedec >> 16) as u8).wrapping_sub(1)],
            // Read data / fast read.
            0x03 | 0x0B => {
                let n = miso_bits.div_ceil(8).min(64);
                flash.peek(addr, n).map(|d| d.to_vec()).unwrap_or_default()
            }
            _ => Vec::new(),
        }
    };

    if miso_bits > 0 {
        let n = miso_bits.div_ceil(8).min(64) as usize;
        let mut bytes = reply;
        bytes.resize(n, 0);
        // Bits beyond the requested length read as zero.
        if miso_bits % 8 != 0 {
            if let Some(last) = bytes.last_mut() {
                *last &= (1u16 << (miso_bits % 8)).wrapping_sub(1) as u8;
            }
        }
        for (i, chunk) in bytes.chunks(4).enumerate() {
            let mut w = [0u8; 4];
            w[..chunk.len()].copy_from_slice(chunk);
            regs.insert(spi.w0_addr() + 4 * i as u32, u32::from_le_bytes(w));
        }
    }
    let cmd = get(regs, spi.cmd_addr());
    regs.insert(spi.cmd_addr(), cmd & !SpiRegs::CMD_USR);
}

#[cfg(test)]
mod tests {
    use super::*;
    use flashline_protocol::Chip;

    /// Programs the registers the way esptool's `run_spiflash_command` does.
    fn run(chip: Chip, op: u8, addr: Option<(u32, u32)>, dummy: u32, miso_bits: u32, flash: &mut NorFlash) -> u32 {
        run_on(true, chip, op, addr, dummy, miso_bits, flash)
    }

    fn run_on(
        attached: bool,
        chip: Chip,
        op: u8,
        addr: Option<(u32, u32)>,
        dummy: u32,
        miso_bits: u32,
        flash: &mut NorFlash,
    ) -> u32 {
        let spi = chip.spec().spi;
        let mut regs = HashMap::new();
        let mut st = FlashChipState { attached, ..FlashChipState::default() };
        let mut usr = SpiRegs::USR_COMMAND;
        if miso_bits > 0 {
            usr |= SpiRegs::USR_MISO;
        }
        let mut usr1 = 0;
        if let Some((_, bits)) = addr {
            usr |= SpiRegs::USR_ADDR;
            usr1 |= (bits - 1) << 26;
        }
        if dummy > 0 {
            usr |= SpiRegs::USR_DUMMY;
            usr1 |= dummy - 1;
        }
        match spi.miso_dlen_addr() {
            Some(a) => {
                if miso_bits > 0 {
                    regs.insert(a, miso_bits - 1);
                }
            }
            None => usr1 |= (miso_bits.max(1) - 1) << 8,
        }
        regs.insert(spi.usr_addr(), usr);
        regs.insert(spi.usr1_addr(), usr1);
        regs.insert(spi.usr2_addr(), 0x7000_0000 | op as u32);
        if let Some((a, bits)) = addr {
            regs.insert(spi.addr_addr(), a << (32 - bits));
        }
        regs.insert(spi.w0_addr(), 0);
        regs.insert(spi.cmd_addr(), SpiRegs::CMD_USR);
        execute(&spi, &mut regs, flash, &mut st);
        assert_eq!(regs[&spi.cmd_addr()] & SpiRegs::CMD_USR, 0, "bit 18 cleared when done");
        regs[&spi.w0_addr()]
    }

    #[test]
    fn rdid_sfdp_rdsr_on_both_chips() {
        for chip in [Chip::Esp32, Chip::Esp8266] {
            let mut f = NorFlash::new(4 << 20);
            assert_eq!(run(chip, 0x9F, None, 0, 24, &mut f), 0x0016_40EF, "{chip}");
            assert_eq!(run(chip, 0x5A, Some((0, 24)), 8, 32, &mut f), 0x5044_4653, "SFDP signature");
            let at10 = run(chip, 0x5A, Some((0x10, 24)), 8, 8, &mut f);
            assert_ne!(at10, 0x20, "not an XMC part");
            assert_eq!(at10, 0x84);
            assert_eq!(run(chip, 0x05, None, 0, 8, &mut f), 0);
            let mut big = NorFlash::new(16 << 20);
            assert_eq!(run(chip, 0x9F, None, 0, 24, &mut big), 0x0018_40EF);
        }
    }

    #[test]
    fn read_data_through_engine() {
        let mut f = NorFlash::new(1 << 20);
        f.write_raw(0x1234, &[1, 2, 3, 4, 5]).unwrap();
        assert_eq!(run(Chip::Esp32, 0x03, Some((0x1234, 24)), 0, 32, &mut f), 0x0403_0201);
    }

    #[test]
    fn a_detached_flash_reads_all_ones() {
        for chip in [Chip::Esp32, Chip::Esp8266, Chip::Esp32C3] {
            let mut f = NorFlash::new(4 << 20);
            f.write_raw(0, &[1, 2, 3, 4]).unwrap();
            assert_eq!(run_on(false, chip, 0x9F, None, 0, 24, &mut f), 0x00FF_FFFF, "{chip}: RDID");
            assert_eq!(run_on(false, chip, 0x5A, Some((0, 24)), 8, 32, &mut f), 0xFFFF_FFFF, "{chip}: SFDP");
            assert_eq!(run_on(false, chip, 0x03, Some((0, 24)), 0, 32, &mut f), 0xFFFF_FFFF, "{chip}: read");
            assert_eq!(run_on(true, chip, 0x9F, None, 0, 24, &mut f), 0x0016_40EF, "{chip}: attached");
        }
    }
}
