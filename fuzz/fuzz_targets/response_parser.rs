//! Every command type's `parse_response`, for every status format, on arbitrary frames.
//!
//! Input: one unescaped frame as the SLIP decoder delivers it. Each command parses the
//! packet as received and once more with its own opcode put in, so every frame reaches
//! every command's decoder. Invariants: never panics; `Ok` only with a zero status byte
//! right after the expected payload; every error is consistent with the frame; decoded
//! values re-encode to the bytes they came from.
#![no_main]

use std::fmt::Debug;

use flashline_protocol::command::*;
use flashline_protocol::{ResponsePacket, StatusFormat};
use libfuzzer_sys::fuzz_target;

const FORMATS: [StatusFormat; 3] = [StatusFormat::Rom2, StatusFormat::Rom4, StatusFormat::Stub];

fuzz_target!(|frame: &[u8]| {
    let resp = match ResponsePacket::parse(frame) {
        Ok(r) => r,
        Err(e) => {
            assert!(frame.len() < 8 || frame[0] != 0x01, "rejected a well-formed header: {e}");
            return;
        }
    };
    assert_eq!(resp.to_bytes()[4..], frame[4..], "value and data must survive a round trip");

    let begin = BeginParams { size: 0x1000, num_blocks: 1, block_size: 0x1000, offset: 0, encrypted: None };
    for f in FORMATS {
        check(&Sync, &resp, f, |&v, r, _| assert_eq!(v, r.value));
        check(&ReadReg { addr: 0x4000_1000 }, &resp, f, |&v, r, _| assert_eq!(v, r.value));
        check(&WriteReg::one(0x6000_0000, 1), &resp, f, unit);
        check(&MemBegin(begin), &resp, f, unit);
        check(&MemData::new(0, vec![0; 4]), &resp, f, unit);
        check(&MemEnd { flag: 0, entry: 0x4000_0000 }, &resp, f, unit);
        check(&FlashBegin(begin), &resp, f, unit);
        check(&FlashData::new(0, vec![0xFF; 4]), &resp, f, unit);
        check(&FlashEnd::stay(), &resp, f, unit);
        check(&FlashDeflBegin(BeginParams { encrypted: Some(0), ..begin }), &resp, f, unit);
        check(&FlashDeflData::new(0, vec![0x78, 0x9c]), &resp, f, unit);
        check(&FlashDeflEnd::reboot(), &resp, f, unit);
        check(&SpiAttach { config: 0, rom_format: true }, &resp, f, unit);
        check(&SpiSetParams::for_size(4 << 20), &resp, f, unit);
        check(&ChangeBaudrate { new: 921_600, old: 115_200 }, &resp, f, unit);
        check(&SpiFlashMd5 { addr: 0, size: 0x1000 }, &resp, f, |digest, _, payload| match f {
            StatusFormat::Stub => assert_eq!(&digest[..], payload),
            _ => assert_eq!(encode_hex_md5(digest), payload),
        });
        // The requested length comes from the frame, so short, exact and huge reads all occur.
        let slow = ReadFlashSlow { offset: 0, len: resp.value };
        check(&slow, &resp, f, |bytes, _, payload| {
            assert_eq!(bytes.len(), (slow.len as usize).min(ReadFlashSlow::CHUNK as usize));
            assert_eq!(&bytes[..], &payload[..bytes.len()]);
        });
        check(&ReadFlash::esptool(0, 0x1000), &resp, f, unit);
        check(&EraseFlash, &resp, f, unit);
        check(&EraseRegion { offset: 0, size: 0x1000 }, &resp, f, unit);
        for long_form in [false, true] {
            check(&GetSecurityInfo { long_form }, &resp, f, |info, _, payload| {
                assert_eq!(info.chip_id.is_some(), long_form);
                assert_eq!(info.to_bytes(), payload);
            });
        }
        check(&RunUserCode, &resp, f, unit);
    }
});

fn unit<T>(_: &T, _: &ResponsePacket, _: &[u8]) {}

/// Parses `resp` as the reply to `cmd`, as received and with `cmd`'s opcode, and checks the
/// outcome; `ok` checks a decoded value against the packet and the payload it came from.
fn check<C: Command>(
    cmd: &C,
    resp: &ResponsePacket,
    format: StatusFormat,
    ok: impl Fn(&C::Response, &ResponsePacket, &[u8]),
) where
    C::Response: Debug,
{
    let expected_op = C::OPCODE as u8;
    match cmd.parse_response(resp, format) {
        Err(ResponseError::WrongOpcode { expected, got }) => {
            assert_eq!((expected, got), (expected_op, resp.opcode));
            assert_ne!(resp.opcode, expected_op);
        }
        other => assert_eq!(resp.opcode, expected_op, "accepted a reply to another opcode: {other:?}"),
    }

    let mut own = resp.clone();
    own.opcode = expected_op;
    let n = cmd.response_len(format);
    let result = cmd.parse_response(&own, format);
    let _ = result.as_ref().map_err(ToString::to_string);
    match result {
        Ok(value) => {
            assert!(own.data.len() >= n + 2, "Ok from {} data bytes, need {}", own.data.len(), n + 2);
            assert_eq!(own.data[n], 0, "Ok with a failure status byte");
            ok(&value, &own, &own.data[..n]);
        }
        Err(ResponseError::WrongOpcode { .. }) => panic!("wrong opcode although it matches"),
        Err(ResponseError::Failed(status)) => {
            assert!(!status.is_ok());
            assert!(own.data.len() >= 2);
        }
        Err(ResponseError::Short { got, need }) => {
            assert_eq!(got, own.data.len());
            assert_eq!(need, n + 2);
            assert!(got < need);
        }
        Err(ResponseError::Malformed(_)) => assert!(own.data.len() >= n + 2),
    }
}
