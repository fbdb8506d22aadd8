//! The chip side's request parser (`CommandPacket::parse` + `Request::parse`) on arbitrary
//! packets.
//!
//! Input: one unescaped frame. It is parsed as a whole packet (header and size check), and
//! also as `[opcode, data...]` so that every opcode's payload rules are reached without the
//! fuzzer having to keep the size field right. Invariants: never panics; an accepted packet
//! re-encodes to the same bytes; a parsed request re-encodes to the payload it came from.
#![no_main]

use flashline_protocol::command::*;
use flashline_protocol::CommandPacket;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|frame: &[u8]| {
    if let Ok(p) = CommandPacket::parse(frame) {
        assert_eq!(p.to_bytes(), frame, "an accepted packet must re-encode to itself");
        check(&p);
    }
    if let [opcode, data @ ..] = frame {
        check(&CommandPacket { opcode: *opcode, checksum: 0, data: data.to_vec() });
    }
});

fn check(p: &CommandPacket) {
    let req = match Request::parse(p) {
        Ok(req) => req,
        Err(e) => {
            let _ = e.to_string();
            if let RequestError::UnknownOpcode(op) = e {
                assert_eq!(op, p.opcode);
                assert!(Opcode::from_u8(op).is_none());
            }
            return;
        }
    };
    let op = Opcode::from_u8(p.opcode).expect("a parsed request has a known opcode");
    let d = &p.data[..];
    // The payload the host side would send for the same request.
    let encoded: Option<Vec<u8>> = match &req {
        Request::ReadReg(r) => Some(r.payload()),
        Request::WriteReg(w) => Some(w.payload()),
        Request::MemBegin(b) => Some(MemBegin(*b).payload()),
        Request::FlashBegin(b) => Some(FlashBegin(*b).payload()),
        Request::FlashDeflBegin(b) => Some(FlashDeflBegin(*b).payload()),
        Request::MemData { block, checksum }
        | Request::FlashData { block, checksum }
        | Request::FlashDeflData { block, checksum } => {
            // Words 2 and 3 of the block header are reserved (sent as zero) and not kept.
            assert_eq!(*checksum, p.checksum);
            let encoded = FlashData::new(block.seq, block.data.clone()).payload();
            assert_eq!((&encoded[..8], &encoded[16..]), (&d[..8], &d[16..]));
            None
        }
        Request::MemEnd(m) => Some(m.payload()),
        Request::FlashEnd { flag } => Some(FlashEnd { flag: *flag, ..FlashEnd::stay() }.payload()),
        Request::FlashDeflEnd { flag } => Some(FlashDeflEnd { flag: *flag, ..FlashDeflEnd::stay() }.payload()),
        // The ROM form's second word (esptool's `is_legacy` byte and padding) is not kept.
        Request::SpiAttach { config, rom_format } => {
            assert_eq!(*rom_format, d.len() == 8);
            assert_eq!(&SpiAttach { config: *config, rom_format: *rom_format }.payload()[..4], &d[..4]);
            None
        }
        Request::SpiSetParams(s) => Some(s.payload()),
        Request::ChangeBaudrate(c) => Some(c.payload()),
        // The last two words are reserved: compare address and size only.
        Request::SpiFlashMd5(m) => {
            assert_eq!(&m.payload()[..8], &d[..8]);
            None
        }
        // The ROM reads address and size; words after them (espflash's 16-byte form) are ignored.
        Request::ReadFlashSlow(r) => {
            assert_eq!(&r.payload()[..8], &d[..8]);
            None
        }
        Request::ReadFlash(r) => Some(r.payload()),
        Request::EraseRegion(e) => Some(e.payload()),
        // These ignore their payload.
        Request::Sync | Request::EraseFlash | Request::GetSecurityInfo | Request::RunUserCode => None,
    };
    if let Some(encoded) = encoded {
        assert_eq!(encoded, d, "{op} does not re-encode to the payload it was parsed from");
    }
}
