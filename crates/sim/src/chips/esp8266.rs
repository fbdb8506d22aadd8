//! The simulated ESP8266: an ESP-12E (ESP8266EX) as the protocol reference's register
//! profile describes it (section 10.4), its 74880-baud boot log, the ROM's erase bug and
//! the stubs' silent RUN_USER_CODE.

use super::{RomErase, SimChip};
use crate::board::StubKind;
use crate::boot::ResetCause;
use flashline_protocol::chip::esp8266;
use flashline_protocol::chip::{Mac, StubLayout, Target, CHIP_DETECT_MAGIC_REG};
use flashline_protocol::flash::SECTOR_SIZE;

/// OTP word 2 as a real chip has it (bit 16 clear: not an ESP8285).
pub const WORD2: u32 = 0xF200_B000;
/// esptool 5.6's legacy stub (stub set 1).
const LEGACY_STUB: StubLayout = StubLayout { entry: 0x4010_D004, text_start: 0x4010_D000 };

/// The simulated ESP8266.
#[derive(Debug)]
pub struct Esp8266;

impl SimChip for Esp8266 {
    fn target(&self) -> &'static dyn Target {
        &esp8266::Esp8266
    }

    /// The NIC part starts at 1: an ESP8266's chip id is its MAC's last three bytes
    /// ([`chip_id`]), and no real chip has id 0.
    fn default_mac_base(&self) -> Mac {
        Mac([0x84, 0x0d, 0x8e, 0, 0, 1])
    }

    fn power_on_registers(&self, mac: &Mac) -> Vec<(u32, u32)> {
        let spec = self.target().spec();
        let mut regs: Vec<(u32, u32)> = spec.mac_regs.iter().copied().zip(self.target().encode_mac(mac)).collect();
        regs[2].1 = WORD2;
        regs.push((CHIP_DETECT_MAGIC_REG, spec.magic.expect("ESP8266 has a magic value")));
        regs
    }

    /// 52 MHz bus (the value seen on real hardware).
    fn clkdiv_115200(&self) -> u32 {
        0x1C4
    }

    fn stub_layouts(&self) -> [(StubKind, StubLayout); 2] {
        [(StubKind::Legacy, LEGACY_STUB), (StubKind::New, self.target().spec().stub_v2)]
    }

    /// 26 MHz crystal: the ROM prints at 74880.
    fn banner_baud(&self) -> u32 {
        74_880
    }

    fn download_banner(&self, cause: ResetCause) -> Vec<u8> {
        let c = rst_cause(cause);
        format!("\r\n ets Jan  8 2013,rst cause:{c}, boot mode:(1,7)\r\n\r\n").into_bytes()
    }

    fn app_banner(&self) -> Vec<u8> {
        b"\r\n ets Jan  8 2013,rst cause:2, boot mode:(3,7)\r\n\r\nflashline-sim app running\r\n".to_vec()
    }

    fn flash_boot_banner(&self, cause: ResetCause) -> Vec<u8> {
        let c = rst_cause(cause);
        format!("\r\n ets Jan  8 2013,rst cause:{c}, boot mode:(3,7)\r\n\r\n").into_bytes()
    }

    /// The ROM bug esptool's `get_erase_size` compensates, and an erase past the end of
    /// flash clamped to it.
    fn rom_erase(&self, offset: u32, size: u32) -> RomErase {
        RomErase { len: rom_erase_sectors(offset, size) as u64 * SECTOR_SIZE as u64, clamp_to_flash: true }
    }

    fn stub_run_user_code_silent(&self) -> bool {
        true
    }

    /// esptool's `chip-id` (like the SDK's `system_get_chip_id`) computes the id from OTP
    /// words 0 and 1 as `(mac0 >> 24) | ((mac1 & 0xFFFFFF) << 8)`: with the OUI in word 3
    /// (word 1 bits 23:16 are 0, as on a real ESP-12E) that is the MAC's last three bytes.
    fn check_mac(&self, mac: &Mac) -> Result<(), String> {
        if mac.0[3..] == [0, 0, 0] {
            return Err(format!(
                "ESP8266 MAC {mac}: its chip id is the MAC's last three bytes, and 00:00:00 gives \
                 chip id 0, which no real ESP8266 has; choose a MAC base whose boards do not end in 00:00:00"
            ));
        }
        Ok(())
    }
}

/// Sectors the ROM really erases when FLASH_BEGIN asks for `erase_size` bytes at `offset`.
/// Inverting esptool's workaround gives the ROM behaviour: with `e` requested sectors and
/// `head` sectors up to the next 64 KiB boundary, it erases `e + min(e, head)` sectors from
/// the offset's sector.
pub fn rom_erase_sectors(offset: u32, erase_size: u32) -> u32 {
    let e = erase_size.div_ceil(SECTOR_SIZE);
    let start_sector = offset / SECTOR_SIZE;
    let head = 16 - start_sector % 16;
    e + e.min(head)
}

/// The ESP8266 ROM's `rst cause` number: 2 the external (EN pin) reset of the auto-reset
/// circuit and a software restart, 4 the hardware watchdog (which ends a boot whose
/// image the ROM cannot run, and the simulator's software reset as before).
fn rst_cause(cause: ResetCause) -> u8 {
    match cause {
        ResetCause::PowerOn | ResetCause::SystemSoftware => 2,
        ResetCause::Software | ResetCause::BootWatchdog => 4,
    }
}
