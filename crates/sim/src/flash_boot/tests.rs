//! What a boot from flash prints, per chip family (ESP32, ESP8266, a RISC-V ESP-ROM
//! chip), for a valid image with and without a console script and for each broken part.

use super::*;
use crate::chips;

const APP: u32 = 0x10000;

/// A flash as an ESP-IDF build lays it out: bootloader, partition table (nvs, factory),
/// app carrying `app_body`.
pub(crate) fn flash_with(chip: Chip, app_body: &[u8]) -> Vec<u8> {
    let extended = chip != Chip::Esp8266;
    let id = chip.spec().image_chip_id.unwrap_or(0) as u16;
    let mut flash = vec![0xFF; 0x40000];
    let boot = image::build(0x4000, b"bootloader", extended, id);
    let at = chip.spec().bootloader_offset as usize;
    flash[at..at + boot.len()].copy_from_slice(&boot);
    let mut table = Vec::new();
    for (ty, sub, offset, size) in [(1u8, 2u8, 0x9000u32, 0x6000u32), (0, 0, APP, 0x30000)] {
        let mut e = vec![0xAA, 0x50, ty, sub];
        e.extend_from_slice(&offset.to_le_bytes());
        e.extend_from_slice(&size.to_le_bytes());
        e.resize(32, 0);
        table.extend(e);
    }
    flash[0x8000..0x8000 + table.len()].copy_from_slice(&table);
    let app = image::build(0x8000, app_body, extended, id);
    flash[APP as usize..APP as usize + app.len()].copy_from_slice(&app);
    flash
}

fn text(plan: &BootPlan) -> String {
    plan.chunks.iter().map(|c| String::from_utf8_lossy(&c.text).into_owned()).collect()
}

const FAMILIES: [Chip; 3] = [Chip::Esp32, Chip::Esp8266, Chip::Esp32C3];

fn boot(chip: Chip, flash: &[u8]) -> BootPlan {
    plan(chips::require(chip), flash, ResetCause::PowerOn, BootTiming::realistic())
}

#[test]
fn a_valid_image_without_a_script_runs_the_app() {
    for chip in FAMILIES {
        let p = boot(chip, &flash_with(chip, b"no script here"));
        let t = text(&p);
        assert!(t.contains("2nd stage bootloader") && t.contains("Loaded app from partition at offset 0x10000"), "{t}");
        assert!(t.ends_with("flashline-sim app running\r\n"), "{chip}: {t}");
        assert_eq!(p.then, Then::Run);
        assert!(p.chunks.iter().all(|c| c.baud == chips::require(chip).banner_baud()));
    }
}

#[test]
fn the_console_script_is_printed_with_its_delays() {
    let script = b"ESPSIM-CONSOLE-BEGIN\nI (310) app: self-test passed\n@delay 200\ntick\ntock\nESPSIM-CONSOLE-END\n";
    for chip in FAMILIES {
        let p = boot(chip, &flash_with(chip, script));
        let n = p.chunks.len();
        assert_eq!(p.chunks[n - 2].text, b"I (310) app: self-test passed\r\n", "{chip}");
        assert_eq!(p.chunks[n - 2].after, BootTiming::realistic().bootloader);
        assert_eq!(
            (p.chunks[n - 1].text.as_slice(), p.chunks[n - 1].after),
            (&b"tick\r\ntock\r\n"[..], Duration::from_millis(200))
        );
        assert_eq!(p.then, Then::Run);
    }
    let p = boot(
        Chip::Esp32C3,
        &flash_with(Chip::Esp32C3, b"ESPSIM-CONSOLE-BEGIN\nstarting\n@delay 50\n@reboot\nnever\nESPSIM-CONSOLE-END"),
    );
    assert_eq!(p.then, Then::Reboot { after: Duration::from_millis(50), cause: ResetCause::Software });
    assert!(!text(&p).contains("never"));
    let p = boot(Chip::Esp32, &flash_with(Chip::Esp32, b"ESPSIM-CONSOLE-BEGIN\n@wait 5\nESPSIM-CONSOLE-END"));
    assert!(text(&p).contains("console script: line 1: unknown directive @wait"), "{}", text(&p));
}

#[test]
fn a_missing_bootloader_is_what_each_rom_complains_about() {
    let blank = vec![0xFF; 0x40000];
    let cases = [
        (
            Chip::Esp32,
            "rst:0x1 (POWERON_RESET),boot:0x13 (SPI_FAST_FLASH_BOOT)\r\nflash read err, 1000\r\nets_main.c 371 \r\n",
        ),
        (Chip::Esp8266, "rst cause:2, boot mode:(3,7)\r\n\r\n\r\nets_main.c \r\n"),
        (
            Chip::Esp32C3,
            "boot:0xc (SPI_FAST_FLASH_BOOT)\r\ninvalid header: 0xffffffff\r\ninvalid header: 0xffffffff\r\n",
        ),
    ];
    for (chip, want) in cases {
        let p = boot(chip, &blank);
        assert!(text(&p).contains(want), "{chip}: {}", text(&p));
        let watchdog = Then::Reboot { after: BootTiming::realistic().retry, cause: ResetCause::BootWatchdog };
        assert_eq!(p.then, watchdog);
        // The loop: the boot watchdog resets the chip, and the ROM's log says so again.
        let again = plan(chips::require(chip), &blank, ResetCause::BootWatchdog, BootTiming::realistic());
        assert_eq!(again.chunks[0].text, chips::require(chip).flash_boot_banner(ResetCause::BootWatchdog));
        assert_eq!(again.then, watchdog);
    }
}

#[test]
fn a_corrupt_bootloader_fails_its_checksum_in_the_rom() {
    for chip in FAMILIES {
        let mut flash = flash_with(chip, b"app");
        flash[chip.spec().bootloader_offset as usize + 100] ^= 0x10;
        let t = text(&boot(chip, &flash));
        let want = match chip {
            Chip::Esp8266 => "ets_main.c",
            Chip::Esp32 => "checksum error: calculated",
            _ => "Checksum failure. Calculated",
        };
        assert!(t.contains(want) && !t.contains("2nd stage"), "{chip}: {t}");
    }
}

#[test]
fn a_corrupt_or_missing_app_loops_in_the_bootloader() {
    for chip in FAMILIES {
        let good = flash_with(chip, b"ESPSIM-CONSOLE-BEGIN\nready\nESPSIM-CONSOLE-END");
        let mut corrupt = good.clone();
        corrupt[APP as usize + 200] ^= 0x01;
        let mut erased = good.clone();
        erased[APP as usize..APP as usize + 0x8000].fill(0xFF);
        let mut no_table = good.clone();
        no_table[0x8000..0x9000].fill(0xFF);
        let cases = [
            (corrupt, "E (95) esp_image: Checksum failed. Calculated"),
            (erased, "image at 0x10000 has invalid magic byte"),
            (no_table, "partition 0 invalid magic number 0xffff"),
        ];
        for (flash, want) in cases {
            let p = boot(chip, &flash);
            let t = text(&p);
            assert!(t.contains("2nd stage bootloader") && t.contains(want), "{chip}: {t}");
            assert!(!t.contains("ready"), "{chip}: the app never runs");
            let reset = Then::Reboot { after: BootTiming::realistic().retry, cause: ResetCause::SystemSoftware };
            assert_eq!(p.then, reset, "{chip}: the bootloader's software system reset");
        }
    }
}

/// The reset line of the boot after each kind of reset, as each chip family's ROM prints
/// it (real boards' boot-loop logs: ESP32 "RTCWDT_RTC_RESET" after a ROM that found no
/// bootloader and "SW_RESET" after the bootloader gave up; ESP32-S3/C3 the timer group
/// watchdog with the saved PC; the later chips' names; the ESP8266's cause numbers).
#[test]
fn every_rom_names_the_reset_that_ended_the_last_boot() {
    use ResetCause::*;
    let cases: &[(Chip, ResetCause, &str)] = &[
        (Chip::Esp32, PowerOn, "\r\nrst:0x1 (POWERON_RESET),boot:0x13 (SPI_FAST_FLASH_BOOT)\r\n"),
        (Chip::Esp32, BootWatchdog, "\r\nrst:0x10 (RTCWDT_RTC_RESET),boot:0x13 (SPI_FAST_FLASH_BOOT)\r\n"),
        (Chip::Esp32, SystemSoftware, "\r\nrst:0x3 (SW_RESET),boot:0x13 (SPI_FAST_FLASH_BOOT)\r\n"),
        (Chip::Esp32, Software, "\r\nrst:0xc (SW_CPU_RESET),boot:0x13 (SPI_FAST_FLASH_BOOT)\r\n"),
        (Chip::Esp8266, PowerOn, "rst cause:2, boot mode:(3,7)"),
        (Chip::Esp8266, BootWatchdog, "rst cause:4, boot mode:(3,7)"),
        (Chip::Esp8266, SystemSoftware, "rst cause:2, boot mode:(3,7)"),
        (
            Chip::Esp32S3,
            BootWatchdog,
            "rst:0x7 (TG0WDT_SYS_RST),boot:0x8 (SPI_FAST_FLASH_BOOT)\r\nSaved PC:0x40048839\r\n",
        ),
        (Chip::Esp32S3, SystemSoftware, "rst:0x3 (RTC_SW_SYS_RST),boot:0x8 (SPI_FAST_FLASH_BOOT)\r\n"),
        (
            Chip::Esp32C3,
            BootWatchdog,
            "rst:0x7 (TG0WDT_SYS_RST),boot:0xc (SPI_FAST_FLASH_BOOT)\r\nSaved PC:0x4004d1f8\r\n",
        ),
        (Chip::Esp32C3, SystemSoftware, "rst:0x3 (RTC_SW_SYS_RST),boot:0xc (SPI_FAST_FLASH_BOOT)\r\n"),
        (Chip::Esp32S2, BootWatchdog, "rst:0x7 (TG0WDT_SYS_RST),boot:0x8 (SPI_FAST_FLASH_BOOT)\r\n"),
        (Chip::Esp32C2, BootWatchdog, "rst:0x7 (TG0WDT_SYS_RST),boot:0xc (SPI_FAST_FLASH_BOOT)\r\n"),
        (Chip::Esp32C6, BootWatchdog, "rst:0x7 (TG0_WDT_HPSYS),boot:0xc (SPI_FAST_FLASH_BOOT)\r\n"),
        (Chip::Esp32C6, SystemSoftware, "rst:0x3 (LP_SW_HPSYS),boot:0xc (SPI_FAST_FLASH_BOOT)\r\n"),
        (Chip::Esp32H2, BootWatchdog, "rst:0x7 (TG0_WDT_HPSYS),boot:0xc (SPI_FAST_FLASH_BOOT)\r\n"),
        (Chip::Esp32C5, BootWatchdog, "rst:0x7 (TG0_WDT_HPSYS),boot:0x8 (SPI_FAST_FLASH_BOOT)\r\n"),
        (Chip::Esp32P4, SystemSoftware, "rst:0x3 (LP_SW_HPSYS),boot:0x8 (SPI_FAST_FLASH_BOOT)\r\n"),
    ];
    for (chip, cause, want) in cases {
        let got = String::from_utf8(chips::require(*chip).flash_boot_banner(*cause)).unwrap();
        assert!(got.contains(want), "{chip} after {cause:?}: {got:?}");
        if *cause != BootWatchdog {
            assert!(!got.contains("Saved PC"), "{chip} after {cause:?}: {got:?}");
        }
    }
    // A blank flash loops on the watchdog, a flash without an app on the system reset.
    for chip in Chip::ALL {
        let blank = plan(chips::require(chip), &vec![0xFF; 0x40000], PowerOn, BootTiming::fast());
        assert!(matches!(blank.then, Then::Reboot { cause: BootWatchdog, .. }), "{chip}: {:?}", blank.then);
    }
}
