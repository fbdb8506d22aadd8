//! The MAC address type shared by every chip, the audit log and the simulator. How a chip
//! stores its MAC in eFuse lives in that chip's module; this file only knows the address.

use std::fmt;
use std::str::FromStr;

/// A 48-bit MAC address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Mac(pub [u8; 6]);

impl Mac {
    /// The MAC `n` addresses after this one (wrapping in the low 24 bits, keeping the OUI).
    pub fn offset(self, n: u32) -> Mac {
        let low = u32::from_be_bytes([0, self.0[3], self.0[4], self.0[5]]).wrapping_add(n) & 0xFF_FFFF;
        let b = low.to_be_bytes();
        Mac([self.0[0], self.0[1], self.0[2], b[1], b[2], b[3]])
    }
}

impl fmt::Display for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = self.0;
        write!(f, "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", m[0], m[1], m[2], m[3], m[4], m[5])
    }
}

impl FromStr for Mac {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let parts: Vec<&str> = s.split([':', '-']).collect();
        let err = || format!("'{s}' is not a MAC address (expected aa:bb:cc:dd:ee:ff)");
        if parts.len() != 6 {
            return Err(err());
        }
        let mut m = [0u8; 6];
        for (o, p) in m.iter_mut().zip(parts) {
            if p.len() != 2 {
                return Err(err());
            }
            *o = u8::from_str_radix(p, 16).map_err(|_| err())?;
        }
        Ok(Mac(m))
    }
}

/// Why the eFuse words do not yield a MAC.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MacError {
    #[error("ESP8266 MAC uses an unknown OUI selector 0x{0:02x}")]
    UnknownOui(u8),
    #[error("expected {expected} register values, got {got}")]
    WrongCount { expected: usize, got: usize },
}

/// Checks that `words` has one value per MAC register of the chip.
pub(crate) fn expect_words(words: &[u32], expected: usize) -> Result<(), MacError> {
    if words.len() == expected {
        Ok(())
    } else {
        Err(MacError::WrongCount { expected, got: words.len() })
    }
}

/// MAC layout of ESP32-S2 and later: word 0 holds bytes 2..5, word 1 [15:0] bytes 0..1.
pub(crate) fn decode_s2_and_later(words: &[u32]) -> Result<Mac, MacError> {
    expect_words(words, 2)?;
    let (lo, hi) = (words[0].to_be_bytes(), words[1]);
    Ok(Mac([(hi >> 8) as u8, hi as u8, lo[0], lo[1], lo[2], lo[3]]))
}

/// The words [`decode_s2_and_later`] turns back into `mac`.
pub(crate) fn encode_s2_and_later(mac: &Mac) -> Vec<u32> {
    let m = mac.0;
    vec![u32::from_be_bytes([m[2], m[3], m[4], m[5]]), (m[0] as u32) << 8 | m[1] as u32]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mac_offset_and_parse() {
        let mac: Mac = "24:0a:c4:ff:ff:ff".parse().unwrap();
        assert_eq!(mac.offset(1).to_string(), "24:0a:c4:00:00:00");
        assert_eq!(mac.offset(0), mac);
        assert_eq!("24-0a-c4-00-00-01".parse::<Mac>(), Ok(Mac([0x24, 0x0a, 0xc4, 0, 0, 1])));
        assert!("24:0a:c4".parse::<Mac>().is_err());
        assert!("zz:0a:c4:00:00:00".parse::<Mac>().is_err());
        assert!("240:a:c4:00:00:00".parse::<Mac>().is_err());
    }

    #[test]
    fn s2_and_later_layout() {
        let mac = Mac([0x7c, 0xdf, 0xa1, 0x01, 0x02, 0x03]);
        let words = encode_s2_and_later(&mac);
        assert_eq!(words, vec![0xA101_0203, 0x7CDF]);
        assert_eq!(decode_s2_and_later(&words), Ok(mac));
        assert_eq!(decode_s2_and_later(&[0xA101_0203, 0xFFFF_7CDF]), Ok(mac), "upper bits of word 1 are not MAC");
        assert_eq!(decode_s2_and_later(&[1]), Err(MacError::WrongCount { expected: 2, got: 1 }));
    }

    #[test]
    fn word_count_check() {
        assert_eq!(expect_words(&[1, 2], 2), Ok(()));
        assert_eq!(expect_words(&[1], 2), Err(MacError::WrongCount { expected: 2, got: 1 }));
    }
}
