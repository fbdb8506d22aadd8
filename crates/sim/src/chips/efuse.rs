//! Burning words into a simulated eFuse block: the MAC words from the host module's
//! `encode_mac` and the revision/package words a chip module chooses may share a word
//! (ESP32-C2 keeps MAC bytes and revision in BLOCK2 word 1), so values at one address
//! are OR-ed together, as burnt eFuse bits are.

use flashline_protocol::chip::{Mac, Target};

/// The MAC words of `target` for `mac` followed by `extra`, merged per address (bits
/// OR-ed), in first-seen address order.
pub fn burn(target: &dyn Target, mac: &Mac, extra: &[(u32, u32)]) -> Vec<(u32, u32)> {
    let mac_words = target.spec().mac_regs.iter().copied().zip(target.encode_mac(mac));
    let mut out: Vec<(u32, u32)> = Vec::new();
    for (addr, value) in mac_words.chain(extra.iter().copied()) {
        match out.iter_mut().find(|(a, _)| *a == addr) {
            Some((_, v)) => *v |= value,
            None => out.push((addr, value)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use flashline_protocol::chip::esp32c2::{Esp32C2, EFUSE_BLOCK2, EFUSE_BLOCK2_W1};

    #[test]
    fn shared_words_keep_both_fields() {
        let mac = Mac([0x08, 0x3a, 0x8d, 0x12, 0x34, 0x56]);
        let words = burn(&Esp32C2, &mac, &[(EFUSE_BLOCK2_W1, 0x0010_0000), (0x6000_0000, 7)]);
        assert_eq!(words, [(EFUSE_BLOCK2, 0x8D12_3456), (EFUSE_BLOCK2_W1, 0x0010_083A), (0x6000_0000, 7)]);
    }
}
