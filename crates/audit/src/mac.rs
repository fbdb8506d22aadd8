//! One spelling of a MAC address in the database, whatever the caller typed.
//!
//! The chip reports bytes, esptool prints `aa:bb:..`, labels say `AA-BB-..`; lookups by MAC
//! and rework detection only work if every row stores the same canonical form.

/// Normalises a MAC address to `AA:BB:CC:DD:EE:FF`. Accepts `:`, `-`, `.` or no
/// separators, any case.
pub fn normalize_mac(s: &str) -> Result<String, String> {
    let hex: String = s.trim().chars().filter(|c| !matches!(c, ':' | '-' | '.')).collect();
    if hex.len() != 12 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(format!("'{s}' is not a MAC address (expected six hex bytes like AA:BB:CC:DD:EE:FF)"));
    }
    let upper = hex.to_ascii_uppercase();
    let parts: Vec<&str> = (0..6).map(|i| &upper[i * 2..i * 2 + 2]).collect();
    Ok(parts.join(":"))
}

/// Formats six MAC bytes canonically.
pub fn format_mac(bytes: [u8; 6]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect::<Vec<_>>().join(":")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_common_spellings() {
        for s in ["aa:bb:cc:dd:ee:0f", "AA-BB-CC-DD-EE-0F", "aabb.ccdd.ee0f", " AABBCCDDEE0F "] {
            assert_eq!(normalize_mac(s).unwrap(), "AA:BB:CC:DD:EE:0F", "{s}");
        }
        assert_eq!(format_mac([0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0x0f]), "AA:BB:CC:DD:EE:0F");
    }

    #[test]
    fn rejects_garbage() {
        for s in ["", "AA:BB:CC:DD:EE", "AA:BB:CC:DD:EE:GG", "AA:BB:CC:DD:EE:FF:00"] {
            assert!(normalize_mac(s).is_err(), "{s}");
        }
    }
}
