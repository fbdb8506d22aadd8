//! SHA-256 digests as they appear in config files and manifests, and the canonical digest
//! of a whole image.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};
use std::fmt;
use std::str::FromStr;

use super::Region;

/// A SHA-256 digest, written as 64 hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Sha256Digest(pub [u8; 32]);

impl Sha256Digest {
    /// Digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Sha256Digest {
        Sha256Digest(Sha256::digest(bytes).into())
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Display for Sha256Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Sha256Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sha256Digest({})", self.to_hex())
    }
}

impl FromStr for Sha256Digest {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        // `sha256sum` output pasted whole ("<hex>  file") is a common slip; say so.
        let t = s.trim();
        let err = || format!("'{s}' is not a SHA-256 digest: expected 64 hex digits (as printed by sha256sum)");
        if t.len() != 64 {
            return Err(err());
        }
        let mut out = [0u8; 32];
        hex::decode_to_slice(t, &mut out).map_err(|_| err())?;
        Ok(Sha256Digest(out))
    }
}

impl<'de> Deserialize<'de> for Sha256Digest {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl Serialize for Sha256Digest {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

/// The canonical digest of an image: what the config pins and the audit rows record.
///
/// Definition (version 1), over the regions sorted by offset:
///
/// ```text
/// SHA-256( for each region: offset as u32 little-endian
///                           ‖ length as u32 little-endian
///                           ‖ the region's bytes )
/// ```
///
/// The bytes are those written to flash, i.e. each file padded with 0xFF to a multiple of
/// 4 as esptool does. Offsets are part of the digest so that moving a file changes it, and
/// the digest does not depend on file names or on the manifest format (the same layout
/// given as a manifest, a `flasher_args.json` or, for one region at 0, a merged bin gives
/// the same digest). It can be recomputed without flashline:
///
/// ```text
/// python3 -c 'import hashlib,struct,sys; h=hashlib.sha256()
/// for off,path in zip(sys.argv[1::2], sys.argv[2::2]):
///     b=open(path,"rb").read(); b+=b"\xff"*(-len(b)%4)
///     h.update(struct.pack("<II",int(off,0),len(b))+b)
/// print(h.hexdigest())' 0x1000 bootloader.bin 0x8000 partition-table.bin 0x10000 app.bin
/// ```
pub fn canonical_digest(regions: &[Region]) -> Sha256Digest {
    let mut sorted: Vec<&Region> = regions.iter().collect();
    sorted.sort_by_key(|r| r.offset);
    let mut h = Sha256::new();
    for r in sorted {
        h.update(r.offset.to_le_bytes());
        h.update((r.data.len() as u32).to_le_bytes());
        h.update(&r.data);
    }
    Sha256Digest(h.finalize().into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints() {
        let hex = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        let d: Sha256Digest = hex.parse().unwrap();
        assert_eq!(d, Sha256Digest::of(b""));
        assert_eq!(d.to_string(), hex);
        assert_eq!(hex.to_uppercase().parse::<Sha256Digest>().unwrap(), d);
        assert!("abc".parse::<Sha256Digest>().is_err());
        assert!(format!("{hex}  app.bin").parse::<Sha256Digest>().is_err());
        assert!(hex.replace('e', "g").parse::<Sha256Digest>().is_err());
    }
}
