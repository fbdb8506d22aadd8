//! The crystal estimate esptool makes from the UART clock divider, for the chips whose
//! ROM may run from a crystal other than the one it assumes (ESP32-C2: 26 or 40 MHz,
//! ESP32-C5: 40 or 48 MHz). The ROM set the divider for the link it is talking on, so
//! baud rate × divider is the UART clock, i.e. the crystal (times a chip's divider).

/// The baud rate the ROM loader talks at when flashline reads the divider (esptool's
/// `ESP_ROM_BAUD`; flashline connects at this rate and changes it afterwards).
pub const ROM_BAUD: u32 = 115_200;

/// Bits of UART_CLKDIV holding the integer divider.
pub const UART_CLKDIV_MASK: u32 = 0xF_FFFF;

/// The crystal in MHz, normalised like esptool's `get_crystal_freq` (48, 40 or 26), or
/// `None` when the divider is 0 (the register was not set: no estimate possible).
pub fn crystal_mhz(uart_clkdiv: u32, xtal_clk_divider: u32) -> Option<u32> {
    let div = (uart_clkdiv & UART_CLKDIV_MASK) as u64;
    if div == 0 || xtal_clk_divider == 0 {
        return None;
    }
    // est_xtal (MHz) = baud * div / 1e6 / divider; compared with 45 and 33 MHz.
    let hz = ROM_BAUD as u64 * div / xtal_clk_divider as u64;
    Some(if hz > 45_000_000 {
        48
    } else if hz > 33_000_000 {
        40
    } else {
        26
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalised_like_esptool() {
        // 40 MHz / 115200 = 347, 26 MHz / 115200 = 225, 48 MHz / 115200 = 416.
        let cases = [(347, 1, Some(40)), (225, 1, Some(26)), (416, 1, Some(48)), (694, 2, Some(40)), (0, 1, None)];
        for (div, divider, mhz) in cases {
            assert_eq!(crystal_mhz(div, divider), mhz, "div {div} / {divider}");
        }
        assert_eq!(crystal_mhz(0xFFF0_0000 | 347, 1), Some(40), "fractional bits are not the divider");
    }
}
