//! Reading the eFuse "system data" words that S2 and later chips use for their revision,
//! package and in-package flash/PSRAM. Every such chip names these words relative to its
//! eFuse block base and takes bit fields out of them; the helpers keep those field
//! extractions one-liners that read like esptool's `get_*_version` functions.

use super::target::Description;

/// Address of word `n` of the block starting at `block_addr`.
pub(crate) const fn word(block_addr: u32, n: u32) -> u32 {
    block_addr + 4 * n
}

/// `width` bits of `value` starting at bit `shift`.
pub(crate) const fn bits(value: u32, shift: u32, width: u32) -> u32 {
    (value >> shift) & ((1 << width) - 1)
}

/// The description esptool prints: "<name> (revision v<major>.<minor>)".
pub(crate) fn revision_description(name: &str, major: u32, minor: u32) -> Description {
    Description { revision: Some((major, minor)), text: format!("{name} (revision v{major}.{minor})") }
}

/// Checks that `target` describes each set of values of `addrs` as esptool does (the
/// revision tables of the chip modules).
#[cfg(test)]
pub(crate) fn check_descriptions<const N: usize>(
    target: &dyn super::Target,
    addrs: [u32; N],
    cases: &[([u32; N], (u32, u32), &str)],
) {
    for (values, revision, text) in cases {
        let regs: Vec<(u32, u32)> = addrs.into_iter().zip(*values).collect();
        let d = target.describe(&regs).unwrap();
        assert_eq!((d.revision, d.text.as_str()), (Some(*revision), *text), "{values:08x?}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bit_fields() {
        let cases =
            [(0xFFFF_FFFF, 0, 4, 0xF), (0x00F0_0000, 20, 4, 0xF), (0x0080_0000, 23, 1, 1), (0x0040_0000, 23, 1, 0)];
        for (value, shift, width, expected) in cases {
            assert_eq!(bits(value, shift, width), expected, "{value:08x} >> {shift} & {width} bits");
        }
        assert_eq!(word(0x6000_8844, 3), 0x6000_8850);
    }

    #[test]
    fn description_format() {
        let d = revision_description("ESP32-C3 (QFN32)", 0, 4);
        assert_eq!((d.revision, d.text.as_str()), (Some((0, 4)), "ESP32-C3 (QFN32) (revision v0.4)"));
    }
}
