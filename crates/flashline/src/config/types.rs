//! Small value types of the config and manifest files, each validating itself while it is
//! deserialized, so a bad value is reported at its own line and column.

use std::fmt;

use flashline_protocol::chip::Mac;
use flashline_protocol::flash::{format_size, parse_size};
use flashline_protocol::Chip;
use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Accepts an integer or a string in any form `flash::parse_size` reads.
fn deserialize_u32<'de, D: Deserializer<'de>>(d: D, what: &'static str) -> Result<u32, D::Error> {
    struct V(&'static str);
    impl Visitor<'_> for V {
        type Value = u32;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            write!(f, "{} as a number or a string like \"0x1000\" or \"4MB\"", self.0)
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<u32, E> {
            u32::try_from(v).map_err(|_| E::custom(format!("{} {v} is out of range (0 to 4 GiB)", self.0)))
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<u32, E> {
            u32::try_from(v).map_err(|_| E::custom(format!("{} {v} is out of range (0 to 4 GiB)", self.0)))
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<u32, E> {
            parse_size(v).map_err(E::custom)
        }
    }
    d.deserialize_any(V(what))
}

/// A flash size: `4194304`, `"0x400000"`, `"4MB"`. Written back as `"4MB"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ByteSize(pub u32);

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        deserialize_u32(d, "size").map(ByteSize)
    }
}

impl Serialize for ByteSize {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_size(self.0))
    }
}

/// A flash address: `4096`, `"0x1000"`, `"4KB"`. Written back as `"0x1000"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Offset(pub u32);

impl<'de> Deserialize<'de> for Offset {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        deserialize_u32(d, "offset").map(Offset)
    }
}

impl Serialize for Offset {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("0x{:x}", self.0))
    }
}

/// Serde for [`Chip`] by name ("esp32", "ESP32-S3").
pub mod chip_name {
    use super::*;

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Chip, D::Error> {
        String::deserialize(d)?.parse().map_err(de::Error::custom)
    }

    pub fn serialize<S: Serializer>(chip: &Chip, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(chip.file_name())
    }
}

/// Serde for an optional [`Chip`] whose place in the file is kept (`[images.CHIP] chip`
/// is checked against the table's name).
pub mod opt_chip_name {
    use super::*;

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<toml::Spanned<Chip>>, D::Error> {
        let Some(s) = Option::<toml::Spanned<String>>::deserialize(d)? else { return Ok(None) };
        let span = s.span();
        let chip: Chip = s.get_ref().parse().map_err(de::Error::custom)?;
        Ok(Some(toml::Spanned::new(span, chip)))
    }
}

/// Serde for an optional [`Mac`] ("24:0a:c4:12:34:56").
pub mod opt_mac {
    use super::*;

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Mac>, D::Error> {
        Option::<String>::deserialize(d)?.map(|s| s.parse().map_err(de::Error::custom)).transpose()
    }

    pub fn serialize<S: Serializer>(mac: &Option<Mac>, s: S) -> Result<S::Ok, S::Error> {
        match mac {
            Some(m) => s.serialize_some(&m.to_string()),
            None => s.serialize_none(),
        }
    }
}

/// A size on disk (the audit database's limit): `1073741824`, `"512MB"`, `"2GB"`. Units are
/// binary (1 KB = 1024 bytes), as for flash sizes; unlike those it may exceed 4 GiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DiskSize(pub u64);

impl DiskSize {
    fn parse(text: &str) -> Result<u64, String> {
        let err = || format!("'{text}' is not a size: use bytes or a unit like 512KB, 64MB or 2GB");
        let lower = text.trim().to_ascii_lowercase();
        let units = [("tb", 40), ("gb", 30), ("mb", 20), ("kb", 10), ("t", 40), ("g", 30), ("m", 20), ("k", 10)];
        let (num, shift) = units
            .iter()
            .find_map(|(u, shift)| lower.strip_suffix(u).map(|n| (n, *shift)))
            .unwrap_or((lower.as_str(), 0));
        let v: u64 = num.trim().replace('_', "").parse().map_err(|_| err())?;
        v.checked_mul(1u64 << shift).ok_or_else(|| format!("'{text}' is too large"))
    }
}

impl<'de> Deserialize<'de> for DiskSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = u64;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a size as a number of bytes or a string like \"64MB\" or \"2GB\"")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<u64, E> {
                u64::try_from(v).map_err(|_| E::custom(format!("size {v} is negative")))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<u64, E> {
                Ok(v)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<u64, E> {
                DiskSize::parse(v).map_err(E::custom)
            }
        }
        d.deserialize_any(V).map(DiskSize)
    }
}

/// A serial baud rate the Espressif loaders can run at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Baud(pub u32);

impl Baud {
    /// The ROM loader talks 115200 after reset; 9600 is the lowest esptool offers.
    pub const MIN: u32 = 9600;
    /// Above this, USB-UART bridges and the chip's UART divider stop agreeing.
    pub const MAX: u32 = 5_000_000;
}

impl<'de> Deserialize<'de> for Baud {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = u32::deserialize(d)?;
        if (Baud::MIN..=Baud::MAX).contains(&v) {
            Ok(Baud(v))
        } else {
            Err(de::Error::custom(format!("baud {v} is out of range ({} to {})", Baud::MIN, Baud::MAX)))
        }
    }
}

impl fmt::Display for Baud {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize, Serialize)]
    struct T {
        size: ByteSize,
        offset: Offset,
        #[serde(with = "chip_name")]
        chip: Chip,
    }

    #[test]
    fn sizes_offsets_chips_round_trip() {
        let t: T = toml::from_str("size = \"4MB\"\noffset = 4096\nchip = \"ESP32\"").unwrap();
        assert_eq!((t.size, t.offset, t.chip), (ByteSize(4 << 20), Offset(0x1000), Chip::Esp32));
        let text = toml::to_string(&t).unwrap();
        assert_eq!(text, "size = \"4MB\"\noffset = \"0x1000\"\nchip = \"esp32\"\n");
        assert!(toml::from_str::<T>("size = -1\noffset = 0\nchip = \"esp32\"").is_err());
        assert!(toml::from_str::<T>("size = 1\noffset = \"0xZZ\"\nchip = \"esp32\"").is_err());
        assert!(toml::from_str::<T>("size = 1\noffset = 0\nchip = \"esp31\"").is_err());
    }

    #[test]
    fn disk_sizes() {
        #[derive(Deserialize)]
        struct D {
            size: DiskSize,
        }
        let size = |t: &str| toml::from_str::<D>(&format!("size = {t}")).map(|d| d.size.0);
        assert_eq!(size("\"512KB\"").unwrap(), 512 << 10);
        assert_eq!(size("\"64MB\"").unwrap(), 64 << 20);
        assert_eq!(size("\"6 GB\"").unwrap(), 6 << 30);
        assert_eq!(size("\"1t\"").unwrap(), 1 << 40);
        assert_eq!(size("1_000_000").unwrap(), 1_000_000);
        assert!(size("-1").is_err());
        assert!(size("\"lots\"").is_err());
        assert!(size("\"99999999999TB\"").is_err());
    }
}
