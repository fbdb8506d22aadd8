//! SLIP decoder on arbitrary bytes, fed in arbitrary chunk sizes.
//!
//! Input: `[chunk seed, frame limit, wire bytes...]`. Invariants: never panics; splitting
//! the stream into chunks changes nothing; no frame exceeds the limit; every frame
//! re-encodes to a wire form that decodes back to the same payload; noise never contains
//! a delimiter.
#![no_main]

use flashline_protocol::slip::{self, SlipDecoder, SlipEvent};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let [seed, limit, wire @ ..] = data else { return };
    // 0 selects the production limit; anything else a small one, to reach `Oversize`.
    let max_frame = if *limit == 0 { SlipDecoder::DEFAULT_MAX_FRAME } else { usize::from(*limit) };

    // Reference: the whole stream in one call.
    let mut whole = SlipDecoder::with_max_frame(max_frame);
    let expected = whole.feed(wire);
    let idle = whole.is_idle();
    let expected_noise = whole.take_noise();

    // The same stream in chunks of 0..=64 bytes (xorshift32 seeded from the input).
    let mut chunked = SlipDecoder::with_max_frame(max_frame);
    let mut events = Vec::new();
    let mut rng = u32::from(*seed) | 0x100;
    let mut pos = 0;
    while pos < wire.len() {
        rng ^= rng << 13;
        rng ^= rng >> 17;
        rng ^= rng << 5;
        let end = (pos + (rng % 65) as usize).min(wire.len());
        chunked.push(&wire[pos..end], &mut events);
        pos = end;
    }
    assert_eq!(events, expected, "chunking changed the decoded events");
    assert_eq!(chunked.is_idle(), idle);
    assert_eq!(chunked.take_noise(), expected_noise);

    for ev in &expected {
        match ev {
            SlipEvent::Frame(payload) => {
                assert!(payload.len() <= max_frame, "frame of {} bytes over the limit {max_frame}", payload.len());
                let encoded = slip::encode(payload);
                assert_eq!(encoded.len(), slip::encoded_len(payload));
                assert!(!encoded[1..encoded.len() - 1].contains(&slip::END));
                let again = SlipDecoder::with_max_frame(max_frame).feed(&encoded);
                assert_eq!(again, vec![SlipEvent::Frame(payload.clone())], "frame does not re-encode to itself");
            }
            SlipEvent::Noise(noise) => {
                assert!(!noise.is_empty());
                assert!(noise.len() <= SlipDecoder::MAX_NOISE, "noise chunk of {} bytes", noise.len());
                assert!(!noise.contains(&slip::END));
            }
            SlipEvent::BadEscape(b) => assert!(*b != slip::ESC_END && *b != slip::ESC_ESC),
            SlipEvent::Oversize => {}
        }
    }

    // After a reset the decoder is idle and decodes a fresh frame.
    chunked.reset();
    assert!(chunked.is_idle());
    assert_eq!(chunked.feed(&[slip::END, 1, slip::END]), vec![SlipEvent::Frame(vec![1])]);
});
