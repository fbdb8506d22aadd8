//! What the simulated boards are, written down independently of the simulator: the chip
//! description esptool prints for each chip's default espsim board, so tests of the
//! simulator, the session and the product check against one expectation.

use flashline_protocol::Chip;

/// The description esptool (and flashline) print for the default simulated board of `chip`.
pub fn sim_board_description(chip: Chip) -> &'static str {
    match chip {
        Chip::Esp32 => "ESP32-D0WDQ6 (revision v1.0)",
        Chip::Esp8266 => "ESP8266EX",
        Chip::Esp32S2 => "ESP32-S2 (revision v1.0)",
        Chip::Esp32S3 => "ESP32-S3 (QFN56) (revision v0.2)",
        Chip::Esp32C3 => "ESP32-C3 (QFN32) (revision v0.4)",
        Chip::Esp32C2 => "ESP32-C2 (revision v1.0)",
        Chip::Esp32C5 => "ESP32-C5HR8 (revision v1.0)",
        Chip::Esp32C6 => "ESP32-C6 (QFN40) (revision v0.1)",
        Chip::Esp32H2 => "ESP32-H2 (revision v0.1)",
        Chip::Esp32P4 => "ESP32-P4 (revision v1.0)",
    }
}
