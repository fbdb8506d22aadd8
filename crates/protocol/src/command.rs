//! One small type per protocol command.
//!
//! Host side: every command type implements [`Command`]: `to_packet` builds the request and
//! `parse_response` turns the chip's reply into a typed value or a typed error.
//! Chip side: [`Request::parse`] decodes any request packet into the same types.

use crate::packet::{checksum, CommandPacket, ResponsePacket};
use crate::status::{Status, StatusFormat};
use crate::timeouts;
use std::time::Duration;
use thiserror::Error;

macro_rules! opcodes {
    ($($variant:ident = $code:literal,)*) => {
        /// Every opcode of the serial protocol that flashline knows by name.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[repr(u8)]
        pub enum Opcode {
            $($variant = $code,)*
        }

        impl Opcode {
            /// All known opcodes, in numeric order.
            pub const ALL: &'static [Opcode] = &[$(Opcode::$variant,)*];

            pub fn from_u8(code: u8) -> Option<Opcode> {
                match code {
                    $($code => Some(Opcode::$variant),)*
                    _ => None,
                }
            }

            pub fn name(self) -> &'static str {
                match self {
                    $(Opcode::$variant => stringify!($variant),)*
                }
            }
        }
    };
}

opcodes! {
    FlashBegin = 0x02,
    FlashData = 0x03,
    FlashEnd = 0x04,
    MemBegin = 0x05,
    MemEnd = 0x06,
    MemData = 0x07,
    Sync = 0x08,
    WriteReg = 0x09,
    ReadReg = 0x0A,
    SpiSetParams = 0x0B,
    SpiAttach = 0x0D,
    ReadFlashSlow = 0x0E,
    ChangeBaudrate = 0x0F,
    FlashDeflBegin = 0x10,
    FlashDeflData = 0x11,
    FlashDeflEnd = 0x12,
    SpiFlashMd5 = 0x13,
    GetSecurityInfo = 0x14,
    EraseFlash = 0xD0,
    EraseRegion = 0xD1,
    ReadFlash = 0xD2,
    RunUserCode = 0xD3,
}

impl std::fmt::Display for Opcode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (0x{:02x})", self.name(), *self as u8)
    }
}

/// Why a reply could not be turned into a result.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ResponseError {
    #[error("the chip reported failure: {0}")]
    Failed(Status),
    #[error("reply carries opcode 0x{got:02x}, expected 0x{expected:02x}")]
    WrongOpcode { expected: u8, got: u8 },
    #[error("reply too short: {got} bytes after the header, need at least {need}")]
    Short { got: usize, need: usize },
    #[error("malformed reply: {0}")]
    Malformed(&'static str),
}

/// Splits response data into (payload, status) the way esptool's `check_command` does:
/// the status is the two bytes right after the expected payload; when fewer bytes arrived,
/// the first two bytes are taken as the status.
pub fn split_status(resp: &ResponsePacket, expect: usize, format: StatusFormat) -> Result<&[u8], ResponseError> {
    let d = &resp.data;
    if d.len() >= expect + 2 {
        let st = Status::from_bytes(format, d[expect], d[expect + 1]);
        if !st.is_ok() {
            return Err(ResponseError::Failed(st));
        }
        Ok(&d[..expect])
    } else if d.len() >= 2 {
        let st = Status::from_bytes(format, d[0], d[1]);
        if !st.is_ok() {
            return Err(ResponseError::Failed(st));
        }
        Err(ResponseError::Short { got: d.len(), need: expect + 2 })
    } else {
        Err(ResponseError::Short { got: d.len(), need: expect + 2 })
    }
}

/// A request the host can send.
pub trait Command {
    const OPCODE: Opcode;
    type Response;

    /// The data field of the request.
    fn payload(&self) -> Vec<u8>;

    /// Checksum field (only data commands carry one).
    fn checksum(&self) -> u32 {
        0
    }

    /// Number of response bytes before the status (depends on who answers for MD5).
    fn response_len(&self, _format: StatusFormat) -> usize {
        0
    }

    /// Turns the payload part of a successful reply into the typed result.
    fn decode(&self, value: u32, payload: &[u8], format: StatusFormat) -> Result<Self::Response, ResponseError>;

    /// How long to wait for the reply. `stub` tells whether the flasher stub answers.
    fn timeout(&self, _stub: bool) -> Duration {
        timeouts::DEFAULT
    }

    /// Whether the chip answers at all (RUN_USER_CODE does not).
    fn expects_response(&self) -> bool {
        true
    }

    /// Builds the request packet.
    fn to_packet(&self) -> CommandPacket {
        CommandPacket { opcode: Self::OPCODE as u8, checksum: self.checksum(), data: self.payload() }
    }

    /// Checks opcode and status, then decodes.
    fn parse_response(&self, resp: &ResponsePacket, format: StatusFormat) -> Result<Self::Response, ResponseError> {
        if resp.opcode != Self::OPCODE as u8 {
            return Err(ResponseError::WrongOpcode { expected: Self::OPCODE as u8, got: resp.opcode });
        }
        let payload = split_status(resp, self.response_len(format), format)?;
        self.decode(resp.value, payload, format)
    }
}

fn words(ws: &[u32]) -> Vec<u8> {
    ws.iter().flat_map(|w| w.to_le_bytes()).collect()
}

fn word_at(data: &[u8], i: usize) -> u32 {
    u32::from_le_bytes(data[i * 4..i * 4 + 4].try_into().expect("4 bytes"))
}

/// Implements `decode` for commands that return nothing but a status.
macro_rules! unit_decode {
    () => {
        fn decode(&self, _value: u32, _p: &[u8], _f: StatusFormat) -> Result<(), ResponseError> {
            Ok(())
        }
    };
}

/// SYNC: `07 07 12 20` + 32 × `55`. The chip answers with eight replies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Sync;

impl Sync {
    pub const PAYLOAD_LEN: usize = 36;
    pub fn payload_bytes() -> Vec<u8> {
        let mut v = vec![0x07, 0x07, 0x12, 0x20];
        v.extend(std::iter::repeat_n(0x55, 32));
        v
    }
}

impl Command for Sync {
    const OPCODE: Opcode = Opcode::Sync;
    /// The value field: non-zero from a ROM, zero from a stub.
    type Response = u32;
    fn payload(&self) -> Vec<u8> {
        Self::payload_bytes()
    }
    fn decode(&self, value: u32, _p: &[u8], _f: StatusFormat) -> Result<u32, ResponseError> {
        Ok(value)
    }
    fn timeout(&self, _stub: bool) -> Duration {
        timeouts::SYNC
    }
}

/// READ_REG: the value field of the reply is the register.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadReg {
    pub addr: u32,
}

impl Command for ReadReg {
    const OPCODE: Opcode = Opcode::ReadReg;
    type Response = u32;
    fn payload(&self) -> Vec<u8> {
        words(&[self.addr])
    }
    fn decode(&self, value: u32, _p: &[u8], _f: StatusFormat) -> Result<u32, ResponseError> {
        Ok(value)
    }
}

/// One entry of WRITE_REG: `reg = (reg & !mask) | (value & mask)`, then wait `delay_us`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegWrite {
    pub addr: u32,
    pub value: u32,
    pub mask: u32,
    pub delay_us: u32,
}

/// WRITE_REG with one or more entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteReg {
    pub writes: Vec<RegWrite>,
}

impl WriteReg {
    /// A single full-word write.
    pub fn one(addr: u32, value: u32) -> Self {
        Self { writes: vec![RegWrite { addr, value, mask: 0xFFFF_FFFF, delay_us: 0 }] }
    }
}

impl Command for WriteReg {
    const OPCODE: Opcode = Opcode::WriteReg;
    type Response = ();
    fn payload(&self) -> Vec<u8> {
        self.writes.iter().flat_map(|w| words(&[w.addr, w.value, w.mask, w.delay_us])).collect()
    }
    unit_decode!();
}

/// Header of MEM_BEGIN / FLASH_BEGIN / FLASH_DEFL_BEGIN: four words plus, on stubs and
/// newer ROMs, an `encrypted` flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BeginParams {
    /// MEM: total size. FLASH: erase size (ROM) or byte count (stub). DEFL: uncompressed size.
    pub size: u32,
    pub num_blocks: u32,
    pub block_size: u32,
    pub offset: u32,
    /// `Some` when the fifth word is sent (stubs, S2/S3/C3 ROMs).
    pub encrypted: Option<u32>,
}

impl BeginParams {
    fn to_bytes(self) -> Vec<u8> {
        let mut v = words(&[self.size, self.num_blocks, self.block_size, self.offset]);
        if let Some(e) = self.encrypted {
            v.extend_from_slice(&e.to_le_bytes());
        }
        v
    }

    fn parse(data: &[u8], allow_fifth: bool) -> Result<Self, RequestError> {
        match data.len() {
            16 => Ok(Self {
                size: word_at(data, 0),
                num_blocks: word_at(data, 1),
                block_size: word_at(data, 2),
                offset: word_at(data, 3),
                encrypted: None,
            }),
            20 if allow_fifth => Ok(Self {
                size: word_at(data, 0),
                num_blocks: word_at(data, 1),
                block_size: word_at(data, 2),
                offset: word_at(data, 3),
                encrypted: Some(word_at(data, 4)),
            }),
            n => Err(RequestError::BadLength { expected: 16, got: n }),
        }
    }
}

/// A data block of MEM_DATA / FLASH_DATA / FLASH_DEFL_DATA: `len, seq, 0, 0` + data,
/// checksummed over the data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataBlock {
    pub seq: u32,
    pub data: Vec<u8>,
}

impl DataBlock {
    fn to_bytes(&self) -> Vec<u8> {
        let mut v = words(&[self.data.len() as u32, self.seq, 0, 0]);
        v.extend_from_slice(&self.data);
        v
    }

    /// Parses the sub-header; a declared length that does not match the payload is an error.
    fn parse(data: &[u8]) -> Result<Self, RequestError> {
        if data.len() < 16 {
            return Err(RequestError::BadLength { expected: 16, got: data.len() });
        }
        let len = word_at(data, 0) as usize;
        if len != data.len() - 16 {
            return Err(RequestError::DataLenMismatch { declared: len, actual: data.len() - 16 });
        }
        Ok(Self { seq: word_at(data, 1), data: data[16..].to_vec() })
    }
}

macro_rules! begin_command {
    ($(#[$m:meta])* $name:ident, $op:ident) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub struct $name(pub BeginParams);

        impl Command for $name {
            const OPCODE: Opcode = Opcode::$op;
            type Response = ();
            fn payload(&self) -> Vec<u8> {
                self.0.to_bytes()
            }
            fn timeout(&self, stub: bool) -> Duration {
                timeouts::begin(Opcode::$op, stub, self.0.size)
            }
            unit_decode!();
        }
    };
}

macro_rules! data_command {
    ($(#[$m:meta])* $name:ident, $op:ident) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct $name {
            pub block: DataBlock,
            /// Reply timeout; the host knows how much flash work this block implies.
            pub timeout: Duration,
        }

        impl $name {
            pub fn new(seq: u32, data: Vec<u8>) -> Self {
                Self { block: DataBlock { seq, data }, timeout: timeouts::DEFAULT }
            }
        }

        impl Command for $name {
            const OPCODE: Opcode = Opcode::$op;
            type Response = ();
            fn payload(&self) -> Vec<u8> {
                self.block.to_bytes()
            }
            fn checksum(&self) -> u32 {
                checksum(&self.block.data) as u32
            }
            fn timeout(&self, _stub: bool) -> Duration {
                self.timeout
            }
            unit_decode!();
        }
    };
}

macro_rules! end_command {
    ($(#[$m:meta])* $name:ident, $op:ident) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub struct $name {
            /// Flag word: 0 = reboot (stub: back to ROM download mode), 1 = stay / run app.
            pub flag: u32,
            pub timeout: Duration,
        }

        impl $name {
            /// Flag 1: ROM leaves the loader and runs the app; a stub stays.
            pub fn stay() -> Self {
                Self { flag: 1, timeout: timeouts::DEFAULT }
            }
            /// Flag 0: reboot (a stub reboots into ROM download mode).
            pub fn reboot() -> Self {
                Self { flag: 0, timeout: timeouts::DEFAULT }
            }
        }

        impl Command for $name {
            const OPCODE: Opcode = Opcode::$op;
            type Response = ();
            fn payload(&self) -> Vec<u8> {
                words(&[self.flag])
            }
            fn timeout(&self, _stub: bool) -> Duration {
                self.timeout
            }
            unit_decode!();
        }
    };
}

begin_command!(
    /// MEM_BEGIN: prepare to load `size` bytes of RAM at `offset`.
    MemBegin, MemBegin);
data_command!(
    /// MEM_DATA: one RAM block.
    MemData, MemData);
begin_command!(
    /// FLASH_BEGIN: ROM erases `size` bytes up front; a stub records the region.
    FlashBegin, FlashBegin);
data_command!(
    /// FLASH_DATA: one uncompressed block (padded with 0xFF to the block size).
    FlashData, FlashData);
end_command!(
    /// FLASH_END.
    FlashEnd, FlashEnd);
begin_command!(
    /// FLASH_DEFL_BEGIN: `size` is the uncompressed size.
    FlashDeflBegin, FlashDeflBegin);
data_command!(
    /// FLASH_DEFL_DATA: a slice of the zlib stream.
    FlashDeflData, FlashDeflData);
end_command!(
    /// FLASH_DEFL_END.
    FlashDeflEnd, FlashDeflEnd);

/// MEM_END: `flag` 0 jumps to `entry` (this is how the stub is started).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemEnd {
    pub flag: u32,
    pub entry: u32,
}

impl Command for MemEnd {
    const OPCODE: Opcode = Opcode::MemEnd;
    type Response = ();
    fn payload(&self) -> Vec<u8> {
        words(&[self.flag, self.entry])
    }
    fn timeout(&self, stub: bool) -> Duration {
        if stub {
            timeouts::DEFAULT
        } else {
            timeouts::MEM_END_ROM
        }
    }
    unit_decode!();
}

/// SPI_ATTACH: ROMs take 8 bytes (config + 4 zero bytes), stubs 4.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpiAttach {
    pub config: u32,
    pub rom_format: bool,
}

impl Command for SpiAttach {
    const OPCODE: Opcode = Opcode::SpiAttach;
    type Response = ();
    fn payload(&self) -> Vec<u8> {
        if self.rom_format {
            words(&[self.config, 0])
        } else {
            words(&[self.config])
        }
    }
    unit_decode!();
}

/// SPI_SET_PARAMS: tells the loader the flash geometry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpiSetParams {
    pub id: u32,
    pub total_size: u32,
    pub block_size: u32,
    pub sector_size: u32,
    pub page_size: u32,
    pub status_mask: u32,
}

impl SpiSetParams {
    /// The values esptool sends for a flash of `total_size` bytes.
    pub fn for_size(total_size: u32) -> Self {
        Self { id: 0, total_size, block_size: 0x10000, sector_size: 0x1000, page_size: 0x100, status_mask: 0xFFFF }
    }
}

impl Command for SpiSetParams {
    const OPCODE: Opcode = Opcode::SpiSetParams;
    type Response = ();
    fn payload(&self) -> Vec<u8> {
        words(&[self.id, self.total_size, self.block_size, self.sector_size, self.page_size, self.status_mask])
    }
    unit_decode!();
}

/// CHANGE_BAUDRATE: `old` is 0 for a ROM, the current host baud for a stub.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChangeBaudrate {
    pub new: u32,
    pub old: u32,
}

impl Command for ChangeBaudrate {
    const OPCODE: Opcode = Opcode::ChangeBaudrate;
    type Response = ();
    fn payload(&self) -> Vec<u8> {
        words(&[self.new, self.old])
    }
    unit_decode!();
}

/// SPI_FLASH_MD5 over `[addr, addr + size)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpiFlashMd5 {
    pub addr: u32,
    pub size: u32,
}

impl Command for SpiFlashMd5 {
    const OPCODE: Opcode = Opcode::SpiFlashMd5;
    type Response = [u8; 16];
    fn payload(&self) -> Vec<u8> {
        words(&[self.addr, self.size, 0, 0])
    }
    fn response_len(&self, format: StatusFormat) -> usize {
        match format {
            StatusFormat::Stub => 16,
            _ => 32,
        }
    }
    fn decode(&self, _v: u32, p: &[u8], format: StatusFormat) -> Result<[u8; 16], ResponseError> {
        match format {
            StatusFormat::Stub => Ok(p.try_into().map_err(|_| ResponseError::Malformed("MD5 digest length"))?),
            _ => decode_hex_md5(p).ok_or(ResponseError::Malformed("ROM MD5 is not 32 lowercase hex digits")),
        }
    }
    fn timeout(&self, _stub: bool) -> Duration {
        timeouts::per_mb(timeouts::MD5_PER_MB, self.size)
    }
}

/// Decodes the ROM's 32-character lowercase hex MD5.
pub fn decode_hex_md5(p: &[u8]) -> Option<[u8; 16]> {
    if p.len() != 32 {
        return None;
    }
    let nib = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    let mut out = [0u8; 16];
    for (i, o) in out.iter_mut().enumerate() {
        *o = nib(p[2 * i])? << 4 | nib(p[2 * i + 1])?;
    }
    Some(out)
}

/// Encodes an MD5 digest the way the ROM sends it (lowercase ASCII hex).
pub fn encode_hex_md5(d: &[u8; 16]) -> Vec<u8> {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    d.iter().flat_map(|b| [HEX[(b >> 4) as usize], HEX[(b & 15) as usize]]).collect()
}

/// READ_FLASH_SLOW (ESP32+ ROM): up to 64 bytes; the reply always carries 64.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadFlashSlow {
    pub offset: u32,
    pub len: u32,
}

impl ReadFlashSlow {
    pub const CHUNK: u32 = 64;
}

impl Command for ReadFlashSlow {
    const OPCODE: Opcode = Opcode::ReadFlashSlow;
    type Response = Vec<u8>;
    fn payload(&self) -> Vec<u8> {
        words(&[self.offset, self.len])
    }
    fn response_len(&self, _f: StatusFormat) -> usize {
        Self::CHUNK as usize
    }
    fn decode(&self, _v: u32, p: &[u8], _f: StatusFormat) -> Result<Vec<u8>, ResponseError> {
        Ok(p[..(self.len as usize).min(p.len())].to_vec())
    }
}

/// READ_FLASH (stub): the reply is empty, then the stub streams raw data frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadFlash {
    pub offset: u32,
    pub len: u32,
    pub packet_size: u32,
    pub max_in_flight: u32,
}

impl ReadFlash {
    /// The parameters esptool uses.
    pub fn esptool(offset: u32, len: u32) -> Self {
        Self { offset, len, packet_size: 0x1000, max_in_flight: 64 }
    }
}

impl Command for ReadFlash {
    const OPCODE: Opcode = Opcode::ReadFlash;
    type Response = ();
    fn payload(&self) -> Vec<u8> {
        words(&[self.offset, self.len, self.packet_size, self.max_in_flight])
    }
    unit_decode!();
}

/// ERASE_FLASH (stub): whole chip.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EraseFlash;

impl Command for EraseFlash {
    const OPCODE: Opcode = Opcode::EraseFlash;
    type Response = ();
    fn payload(&self) -> Vec<u8> {
        Vec::new()
    }
    fn timeout(&self, _stub: bool) -> Duration {
        timeouts::CHIP_ERASE
    }
    unit_decode!();
}

/// ERASE_REGION (stub): both values multiples of 4 KiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EraseRegion {
    pub offset: u32,
    pub size: u32,
}

impl Command for EraseRegion {
    const OPCODE: Opcode = Opcode::EraseRegion;
    type Response = ();
    fn payload(&self) -> Vec<u8> {
        words(&[self.offset, self.size])
    }
    fn timeout(&self, _stub: bool) -> Duration {
        timeouts::per_mb(timeouts::ERASE_PER_MB, self.size)
    }
    unit_decode!();
}

/// What GET_SECURITY_INFO returns (S2 and later ROMs; ESP32/ESP8266 answer with an error).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SecurityInfo {
    pub flags: u32,
    pub flash_crypt_cnt: u8,
    pub key_purposes: [u8; 7],
    /// Absent on ESP32-S2 (12-byte form).
    pub chip_id: Option<u32>,
    pub api_version: Option<u32>,
}

impl SecurityInfo {
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = self.flags.to_le_bytes().to_vec();
        v.push(self.flash_crypt_cnt);
        v.extend_from_slice(&self.key_purposes);
        if let Some(id) = self.chip_id {
            v.extend_from_slice(&id.to_le_bytes());
            v.extend_from_slice(&self.api_version.unwrap_or(0).to_le_bytes());
        }
        v
    }
}

/// GET_SECURITY_INFO. `long_form` expects the 20-byte reply, otherwise the 12-byte S2 form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GetSecurityInfo {
    pub long_form: bool,
}

impl Command for GetSecurityInfo {
    const OPCODE: Opcode = Opcode::GetSecurityInfo;
    type Response = SecurityInfo;
    fn payload(&self) -> Vec<u8> {
        Vec::new()
    }
    fn response_len(&self, _f: StatusFormat) -> usize {
        if self.long_form {
            20
        } else {
            12
        }
    }
    fn decode(&self, _v: u32, p: &[u8], _f: StatusFormat) -> Result<SecurityInfo, ResponseError> {
        let mut key_purposes = [0u8; 7];
        key_purposes.copy_from_slice(&p[5..12]);
        Ok(SecurityInfo {
            flags: word_at(p, 0),
            flash_crypt_cnt: p[4],
            key_purposes,
            chip_id: self.long_form.then(|| word_at(p, 3)),
            api_version: self.long_form.then(|| word_at(p, 4)),
        })
    }
}

/// RUN_USER_CODE (ESP8266 stub): no reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RunUserCode;

impl Command for RunUserCode {
    const OPCODE: Opcode = Opcode::RunUserCode;
    type Response = ();
    fn payload(&self) -> Vec<u8> {
        Vec::new()
    }
    fn expects_response(&self) -> bool {
        false
    }
    unit_decode!();
}

/// Why the chip side rejects a request packet.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RequestError {
    #[error("unknown opcode 0x{0:02x}")]
    UnknownOpcode(u8),
    #[error("payload of {got} bytes, expected {expected}")]
    BadLength { expected: usize, got: usize },
    #[error("data block declares {declared} bytes but carries {actual}")]
    DataLenMismatch { declared: usize, actual: usize },
}

/// Any request, as the chip side sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    Sync,
    ReadReg(ReadReg),
    WriteReg(WriteReg),
    MemBegin(BeginParams),
    MemData { block: DataBlock, checksum: u32 },
    MemEnd(MemEnd),
    FlashBegin(BeginParams),
    FlashData { block: DataBlock, checksum: u32 },
    FlashEnd { flag: u32 },
    FlashDeflBegin(BeginParams),
    FlashDeflData { block: DataBlock, checksum: u32 },
    FlashDeflEnd { flag: u32 },
    SpiAttach { config: u32, rom_format: bool },
    SpiSetParams(SpiSetParams),
    ChangeBaudrate(ChangeBaudrate),
    SpiFlashMd5(SpiFlashMd5),
    ReadFlashSlow(ReadFlashSlow),
    ReadFlash(ReadFlash),
    EraseFlash,
    EraseRegion(EraseRegion),
    GetSecurityInfo,
    RunUserCode,
}

impl Request {
    /// Decodes a request packet. Length rules are the union of what ROMs and stubs accept
    /// (FLASH_BEGIN 16 or 20 bytes, SPI_ATTACH 4 or 8); the chip model applies its own,
    /// stricter rules on top. Data-block checksums are returned, not checked, because ROM
    /// and stub report a bad checksum differently.
    pub fn parse(p: &CommandPacket) -> Result<Request, RequestError> {
        let op = Opcode::from_u8(p.opcode).ok_or(RequestError::UnknownOpcode(p.opcode))?;
        let d = &p.data[..];
        let exact = |n: usize| {
            if d.len() == n {
                Ok(())
            } else {
                Err(RequestError::BadLength { expected: n, got: d.len() })
            }
        };
        let at_least = |n: usize| {
            if d.len() >= n {
                Ok(())
            } else {
                Err(RequestError::BadLength { expected: n, got: d.len() })
            }
        };
        Ok(match op {
            Opcode::Sync => {
                at_least(4)?;
                Request::Sync
            }
            Opcode::ReadReg => {
                exact(4)?;
                Request::ReadReg(ReadReg { addr: word_at(d, 0) })
            }
            Opcode::WriteReg => {
                if d.is_empty() || !d.len().is_multiple_of(16) {
                    return Err(RequestError::BadLength { expected: 16, got: d.len() });
                }
                Request::WriteReg(WriteReg {
                    writes: d
                        .chunks_exact(16)
                        .map(|c| RegWrite {
                            addr: word_at(c, 0),
                            value: word_at(c, 1),
                            mask: word_at(c, 2),
                            delay_us: word_at(c, 3),
                        })
                        .collect(),
                })
            }
            // 16 bytes only (esp-flasher-stub's MEM_BEGIN_SIZE; esptool never sends more).
            Opcode::MemBegin => Request::MemBegin(BeginParams::parse(d, false)?),
            Opcode::MemData => Request::MemData { block: DataBlock::parse(d)?, checksum: p.checksum },
            Opcode::MemEnd => {
                exact(8)?;
                Request::MemEnd(MemEnd { flag: word_at(d, 0), entry: word_at(d, 1) })
            }
            Opcode::FlashBegin => Request::FlashBegin(BeginParams::parse(d, true)?),
            Opcode::FlashData => Request::FlashData { block: DataBlock::parse(d)?, checksum: p.checksum },
            Opcode::FlashEnd => {
                exact(4)?;
                Request::FlashEnd { flag: word_at(d, 0) }
            }
            Opcode::FlashDeflBegin => Request::FlashDeflBegin(BeginParams::parse(d, true)?),
            Opcode::FlashDeflData => Request::FlashDeflData { block: DataBlock::parse(d)?, checksum: p.checksum },
            Opcode::FlashDeflEnd => {
                exact(4)?;
                Request::FlashDeflEnd { flag: word_at(d, 0) }
            }
            Opcode::SpiAttach => match d.len() {
                4 => Request::SpiAttach { config: word_at(d, 0), rom_format: false },
                8 => Request::SpiAttach { config: word_at(d, 0), rom_format: true },
                n => return Err(RequestError::BadLength { expected: 8, got: n }),
            },
            Opcode::SpiSetParams => {
                exact(24)?;
                Request::SpiSetParams(SpiSetParams {
                    id: word_at(d, 0),
                    total_size: word_at(d, 1),
                    block_size: word_at(d, 2),
                    sector_size: word_at(d, 3),
                    page_size: word_at(d, 4),
                    status_mask: word_at(d, 5),
                })
            }
            Opcode::ChangeBaudrate => {
                exact(8)?;
                Request::ChangeBaudrate(ChangeBaudrate { new: word_at(d, 0), old: word_at(d, 1) })
            }
            Opcode::SpiFlashMd5 => {
                exact(16)?;
                Request::SpiFlashMd5(SpiFlashMd5 { addr: word_at(d, 0), size: word_at(d, 1) })
            }
            // The ROMs read `offset, length` and ignore what follows: espflash's ROM
            // read-flash (esp-rs/espflash PR #812, run against real boards in its hardware
            // tests) sends 16 bytes — `offset, length, block_size, max_in_flight`, the
            // layout of the stub's READ_FLASH — and gets the 64-byte answer.
            Opcode::ReadFlashSlow => {
                at_least(8)?;
                Request::ReadFlashSlow(ReadFlashSlow { offset: word_at(d, 0), len: word_at(d, 1) })
            }
            Opcode::ReadFlash => {
                exact(16)?;
                Request::ReadFlash(ReadFlash {
                    offset: word_at(d, 0),
                    len: word_at(d, 1),
                    packet_size: word_at(d, 2),
                    max_in_flight: word_at(d, 3),
                })
            }
            Opcode::EraseFlash => Request::EraseFlash,
            Opcode::EraseRegion => {
                exact(8)?;
                Request::EraseRegion(EraseRegion { offset: word_at(d, 0), size: word_at(d, 1) })
            }
            Opcode::GetSecurityInfo => Request::GetSecurityInfo,
            Opcode::RunUserCode => Request::RunUserCode,
        })
    }
}

/// Builds a reply packet for the chip side: value, payload and status.
pub fn response(op: u8, value: u32, payload: &[u8], format: StatusFormat, status: Status) -> ResponsePacket {
    let mut data = payload.to_vec();
    data.extend_from_slice(&format.encode(status));
    ResponsePacket { opcode: op, value, data }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::{RomError, StubError};
    use proptest::prelude::*;

    #[test]
    fn sync_frame_matches_reference() {
        let bytes = Sync.to_packet().to_bytes();
        assert_eq!(&bytes[..8], &[0x00, 0x08, 0x24, 0x00, 0, 0, 0, 0]);
        assert_eq!(bytes.len(), 44);
        assert_eq!(crate::slip::encode(&bytes).len(), 46);
    }

    #[test]
    fn rom_md5_parses_hex() {
        let digest = [0x73u8, 0xe8, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 0xff];
        let resp = response(0x13, 0, &encode_hex_md5(&digest), StatusFormat::Rom4, Status::Ok);
        assert_eq!(resp.data.len(), 36);
        let cmd = SpiFlashMd5 { addr: 0, size: 4096 };
        assert_eq!(cmd.parse_response(&resp, StatusFormat::Rom4).unwrap(), digest);
        let stub = response(0x13, 0, &digest, StatusFormat::Stub, Status::Ok);
        assert_eq!(stub.data.len(), 18);
        assert_eq!(cmd.parse_response(&stub, StatusFormat::Stub).unwrap(), digest);
    }

    #[test]
    fn errors_are_typed() {
        let r = ReadReg { addr: 0x4000_1000 };
        let rom_err = response(0x0A, 0, &[], StatusFormat::Rom4, Status::Rom(RomError::InvalidMessage));
        assert_eq!(
            r.parse_response(&rom_err, StatusFormat::Rom4),
            Err(ResponseError::Failed(Status::Rom(RomError::InvalidMessage)))
        );
        let stub_err = response(0x14, 0, &[], StatusFormat::Stub, Status::Stub(StubError::NotImplemented));
        let gsi = GetSecurityInfo { long_form: true };
        assert_eq!(
            gsi.parse_response(&stub_err, StatusFormat::Stub),
            Err(ResponseError::Failed(Status::Stub(StubError::NotImplemented)))
        );
        let wrong = response(0x09, 0, &[], StatusFormat::Stub, Status::Ok);
        assert_eq!(
            r.parse_response(&wrong, StatusFormat::Stub),
            Err(ResponseError::WrongOpcode { expected: 0x0A, got: 0x09 })
        );
    }

    #[test]
    fn security_info_forms() {
        let info =
            SecurityInfo { flags: 0, flash_crypt_cnt: 0, key_purposes: [0; 7], chip_id: Some(9), api_version: Some(0) };
        let resp = response(0x14, 0, &info.to_bytes(), StatusFormat::Rom4, Status::Ok);
        assert_eq!(GetSecurityInfo { long_form: true }.parse_response(&resp, StatusFormat::Rom4).unwrap(), info);
    }

    #[test]
    fn data_block_layout_and_checksum() {
        let cmd = FlashDeflData::new(3, vec![1, 2, 3]);
        let p = cmd.to_packet();
        assert_eq!(p.checksum, (0xEF ^ 1 ^ 2 ^ 3) as u32);
        assert_eq!(&p.data[..16], &[3, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        match Request::parse(&p).unwrap() {
            Request::FlashDeflData { block, checksum } => {
                assert_eq!(block.seq, 3);
                assert_eq!(block.data, vec![1, 2, 3]);
                assert_eq!(checksum, p.checksum);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn begin_accepts_16_and_20_bytes() {
        let p16 =
            FlashBegin(BeginParams { size: 0x1000, num_blocks: 4, block_size: 0x400, offset: 0x1000, encrypted: None });
        let p20 = FlashBegin(BeginParams { encrypted: Some(0), ..p16.0 });
        assert_eq!(p16.to_packet().data.len(), 16);
        assert_eq!(p20.to_packet().data.len(), 20);
        assert_eq!(Request::parse(&p16.to_packet()).unwrap(), Request::FlashBegin(p16.0));
        assert_eq!(Request::parse(&p20.to_packet()).unwrap(), Request::FlashBegin(p20.0));
        let bad = CommandPacket { opcode: 0x02, checksum: 0, data: vec![0; 12] };
        assert!(Request::parse(&bad).is_err());
    }

    #[test]
    fn data_len_mismatch_is_rejected() {
        let mut p = FlashData::new(0, vec![0xFF; 8]).to_packet();
        p.data[0] = 9;
        assert_eq!(Request::parse(&p), Err(RequestError::DataLenMismatch { declared: 9, actual: 8 }));
    }

    #[test]
    fn unknown_opcode() {
        let p = CommandPacket { opcode: 0x42, checksum: 0, data: vec![] };
        assert_eq!(Request::parse(&p), Err(RequestError::UnknownOpcode(0x42)));
        for op in Opcode::ALL {
            assert_eq!(Opcode::from_u8(*op as u8), Some(*op));
        }
    }

    fn roundtrip<C: Command>(c: &C) -> Request {
        Request::parse(&CommandPacket::parse(&c.to_packet().to_bytes()).unwrap()).unwrap()
    }

    proptest! {
        #[test]
        fn requests_round_trip(a in any::<u32>(), b in any::<u32>(), c in any::<u32>(), d in any::<u32>(),
                               data in proptest::collection::vec(any::<u8>(), 0..1024)) {
            prop_assert_eq!(roundtrip(&ReadReg { addr: a }), Request::ReadReg(ReadReg { addr: a }));
            prop_assert_eq!(roundtrip(&SpiFlashMd5 { addr: a, size: b }), Request::SpiFlashMd5(SpiFlashMd5 { addr: a, size: b }));
            prop_assert_eq!(roundtrip(&ReadFlash { offset: a, len: b, packet_size: c, max_in_flight: d }),
                Request::ReadFlash(ReadFlash { offset: a, len: b, packet_size: c, max_in_flight: d }));
            prop_assert_eq!(roundtrip(&EraseRegion { offset: a, size: b }), Request::EraseRegion(EraseRegion { offset: a, size: b }));
            prop_assert_eq!(roundtrip(&ChangeBaudrate { new: a, old: b }), Request::ChangeBaudrate(ChangeBaudrate { new: a, old: b }));
            let fd = FlashData::new(a, data.clone());
            let cs = fd.checksum();
            prop_assert_eq!(roundtrip(&fd), Request::FlashData { block: DataBlock { seq: a, data }, checksum: cs });
            let w = WriteReg { writes: vec![RegWrite { addr: a, value: b, mask: c, delay_us: d }] };
            prop_assert_eq!(roundtrip(&w), Request::WriteReg(w));
        }

        #[test]
        fn request_parser_never_panics(op in any::<u8>(), cs in any::<u32>(), data in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = Request::parse(&CommandPacket { opcode: op, checksum: cs, data });
        }

        #[test]
        fn response_parser_never_panics(frame in proptest::collection::vec(any::<u8>(), 0..80)) {
            if let Ok(r) = ResponsePacket::parse(&frame) {
                for f in [StatusFormat::Rom2, StatusFormat::Rom4, StatusFormat::Stub] {
                    let _ = SpiFlashMd5 { addr: 0, size: 1 }.parse_response(&r, f);
                    let _ = GetSecurityInfo { long_form: true }.parse_response(&r, f);
                    let _ = GetSecurityInfo { long_form: false }.parse_response(&r, f);
                    let _ = ReadFlashSlow { offset: 0, len: 64 }.parse_response(&r, f);
                    let _ = ReadReg { addr: 0 }.parse_response(&r, f);
                }
            }
        }
    }
}
