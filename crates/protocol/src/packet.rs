//! Command and response packets (the unescaped content of one SLIP frame).
//!
//! Command (host → chip): `00 | opcode | size u16 | checksum u32 | data`.
//! Response (chip → host): `01 | opcode | size u16 | value u32 | data | status`.
//! All fields little-endian.

use thiserror::Error;

/// Direction byte of a request.
pub const DIR_REQUEST: u8 = 0x00;
/// Direction byte of a response.
pub const DIR_RESPONSE: u8 = 0x01;
/// Seed of the XOR data checksum.
pub const CHECKSUM_SEED: u8 = 0xEF;

/// XOR checksum over the payload of a data command (seed `0xEF`).
pub fn checksum(data: &[u8]) -> u8 {
    data.iter().fold(CHECKSUM_SEED, |acc, b| acc ^ b)
}

/// Why a frame is not a well-formed packet.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PacketError {
    #[error("packet too short: {0} bytes, a header needs 8")]
    TooShort(usize),
    #[error("wrong direction byte 0x{0:02x}")]
    Direction(u8),
    #[error("declared size {declared} but {actual} data bytes present")]
    SizeMismatch { declared: usize, actual: usize },
    #[error("data of {0} bytes does not fit the 16-bit size field")]
    TooLong(usize),
}

/// A request as it travels from host to chip.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandPacket {
    pub opcode: u8,
    pub checksum: u32,
    pub data: Vec<u8>,
}

impl CommandPacket {
    /// Builds the unescaped packet bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(8 + self.data.len());
        out.push(DIR_REQUEST);
        out.push(self.opcode);
        out.extend_from_slice(&(self.data.len() as u16).to_le_bytes());
        out.extend_from_slice(&self.checksum.to_le_bytes());
        out.extend_from_slice(&self.data);
        out
    }

    /// Parses an unescaped frame. The declared size must match the data present: a chip
    /// that accepted a truncated block would write garbage.
    pub fn parse(frame: &[u8]) -> Result<Self, PacketError> {
        if frame.len() < 8 {
            return Err(PacketError::TooShort(frame.len()));
        }
        if frame[0] != DIR_REQUEST {
            return Err(PacketError::Direction(frame[0]));
        }
        let size = u16::from_le_bytes([frame[2], frame[3]]) as usize;
        let data = &frame[8..];
        if size != data.len() {
            return Err(PacketError::SizeMismatch { declared: size, actual: data.len() });
        }
        Ok(Self {
            opcode: frame[1],
            checksum: u32::from_le_bytes([frame[4], frame[5], frame[6], frame[7]]),
            data: data.to_vec(),
        })
    }
}

/// A response as it travels from chip to host. `data` includes the trailing status bytes;
/// use [`crate::status`] to split them off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponsePacket {
    pub opcode: u8,
    pub value: u32,
    pub data: Vec<u8>,
}

impl ResponsePacket {
    /// Builds the unescaped packet bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(8 + self.data.len());
        out.push(DIR_RESPONSE);
        out.push(self.opcode);
        out.extend_from_slice(&(self.data.len() as u16).to_le_bytes());
        out.extend_from_slice(&self.value.to_le_bytes());
        out.extend_from_slice(&self.data);
        out
    }

    /// Parses an unescaped frame. Like esptool, the size field is not trusted: the data is
    /// whatever follows the header.
    pub fn parse(frame: &[u8]) -> Result<Self, PacketError> {
        if frame.len() < 8 {
            return Err(PacketError::TooShort(frame.len()));
        }
        if frame[0] != DIR_RESPONSE {
            return Err(PacketError::Direction(frame[0]));
        }
        Ok(Self {
            opcode: frame[1],
            value: u32::from_le_bytes([frame[4], frame[5], frame[6], frame[7]]),
            data: frame[8..].to_vec(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_known_values() {
        assert_eq!(checksum(&[]), 0xEF);
        assert_eq!(checksum(&[0xEF]), 0x00);
        assert_eq!(checksum(&[0x01, 0x02, 0x04]), 0xEF ^ 0x07);
    }

    #[test]
    fn real_esp32_read_reg_reply() {
        // ESP32 ROM READ_REG 0x40001000 (protocol reference 1.5).
        let frame = [0x01, 0x0A, 0x04, 0x00, 0x83, 0x1D, 0xF0, 0x00, 0, 0, 0, 0];
        let r = ResponsePacket::parse(&frame).unwrap();
        assert_eq!(r.opcode, 0x0A);
        assert_eq!(r.value, 0x00F0_1D83);
        assert_eq!(r.data, vec![0, 0, 0, 0]);
        assert_eq!(r.to_bytes(), frame.to_vec());
    }

    #[test]
    fn command_round_trip_and_size_check() {
        let p = CommandPacket { opcode: 0x0A, checksum: 0, data: vec![0, 0x10, 0, 0x40] };
        let bytes = p.to_bytes();
        assert_eq!(bytes, vec![0, 0x0A, 4, 0, 0, 0, 0, 0, 0, 0x10, 0, 0x40]);
        assert_eq!(CommandPacket::parse(&bytes).unwrap(), p);
        let mut truncated = bytes.clone();
        truncated.pop();
        assert_eq!(CommandPacket::parse(&truncated), Err(PacketError::SizeMismatch { declared: 4, actual: 3 }));
        assert_eq!(CommandPacket::parse(&[1, 2, 3]), Err(PacketError::TooShort(3)));
        assert_eq!(ResponsePacket::parse(&bytes), Err(PacketError::Direction(0)));
    }
}
