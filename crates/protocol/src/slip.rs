//! SLIP framing (RFC 1055 with Espressif's conventions).
//!
//! Every frame starts and ends with `0xC0`. Inside a frame `0xC0` is sent as `DB DC` and
//! `0xDB` as `DB DD`. The decoder is incremental: feed it whatever the transport delivered,
//! in chunks of any size, and it yields complete frames. Bytes seen between frames are
//! reported as [`SlipEvent::Noise`] rather than dropped silently, because a board that
//! prints a boot log instead of answering is a diagnosis the host must be able to make.

/// Frame delimiter.
pub const END: u8 = 0xC0;
/// Escape byte.
pub const ESC: u8 = 0xDB;
/// Escaped `END`.
pub const ESC_END: u8 = 0xDC;
/// Escaped `ESC`.
pub const ESC_ESC: u8 = 0xDD;

/// Appends the SLIP encoding of `payload` (with both delimiters) to `out`.
pub fn encode_into(payload: &[u8], out: &mut Vec<u8>) {
    out.reserve(payload.len() + payload.len() / 32 + 2);
    out.push(END);
    for &b in payload {
        match b {
            END => out.extend_from_slice(&[ESC, ESC_END]),
            ESC => out.extend_from_slice(&[ESC, ESC_ESC]),
            _ => out.push(b),
        }
    }
    out.push(END);
}

/// Returns the SLIP encoding of `payload` as a new buffer.
pub fn encode(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    encode_into(payload, &mut out);
    out
}

/// Number of bytes the SLIP encoding of `payload` occupies on the wire.
pub fn encoded_len(payload: &[u8]) -> usize {
    2 + payload.len() + payload.iter().filter(|&&b| b == END || b == ESC).count()
}

/// What the decoder found in the byte stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SlipEvent {
    /// A complete frame (unescaped payload). May be empty when two delimiters follow each
    /// other while idle; callers decide whether an empty frame matters.
    Frame(Vec<u8>),
    /// Bytes received outside of any frame (boot log, line noise). Consecutive noise bytes
    /// are reported together, in chunks of at most [`SlipDecoder::MAX_NOISE`] bytes.
    Noise(Vec<u8>),
    /// An escape byte followed by something other than `DC`/`DD`. The frame in progress is
    /// dropped and the decoder waits for the next delimiter.
    BadEscape(u8),
    /// A frame grew beyond the configured maximum; it is dropped.
    Oversize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Outside a frame.
    Idle,
    /// Inside a frame.
    InFrame,
    /// Inside a frame, after an escape byte.
    Escape,
    /// After a protocol violation: skip until the next delimiter.
    Discard,
}

/// Incremental SLIP decoder.
#[derive(Debug, Clone)]
pub struct SlipDecoder {
    state: State,
    frame: Vec<u8>,
    noise: Vec<u8>,
    max_frame: usize,
}

impl Default for SlipDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl SlipDecoder {
    /// Largest frame the real loaders ever exchange is a 16 KiB data block plus headers;
    /// allow generous head room before calling a frame oversize.
    pub const DEFAULT_MAX_FRAME: usize = 64 * 1024;

    /// Most noise bytes buffered between frames. A port that streams a boot log or garbage
    /// without ever sending a delimiter gets its noise reported in chunks of this size
    /// instead of growing the buffer for as long as the stream lasts.
    pub const MAX_NOISE: usize = 64 * 1024;

    /// New decoder with [`Self::DEFAULT_MAX_FRAME`].
    pub fn new() -> Self {
        Self::with_max_frame(Self::DEFAULT_MAX_FRAME)
    }

    /// New decoder that drops frames longer than `max_frame` bytes (unescaped).
    pub fn with_max_frame(max_frame: usize) -> Self {
        Self { state: State::Idle, frame: Vec::new(), noise: Vec::new(), max_frame }
    }

    /// True when the decoder is between frames (no partial frame buffered).
    pub fn is_idle(&self) -> bool {
        self.state == State::Idle && self.noise.is_empty()
    }

    /// Forgets any partial frame and buffered noise (after a baud change, for example).
    pub fn reset(&mut self) {
        self.state = State::Idle;
        self.frame.clear();
        self.noise.clear();
    }

    /// Feeds bytes and appends every event they complete to `events`.
    ///
    /// Noise is flushed as one event when the next frame starts, so a boot log arrives as a
    /// few large chunks instead of one event per byte. Call [`Self::take_noise`] to get noise
    /// that is still pending when no frame follows.
    pub fn push(&mut self, bytes: &[u8], events: &mut Vec<SlipEvent>) {
        for &b in bytes {
            self.push_byte(b, events);
        }
    }

    /// Convenience wrapper around [`Self::push`] returning the events.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<SlipEvent> {
        let mut events = Vec::new();
        self.push(bytes, &mut events);
        events
    }

    /// Returns noise bytes received since the last frame, if any.
    pub fn take_noise(&mut self) -> Option<Vec<u8>> {
        if self.noise.is_empty() {
            None
        } else {
            Some(std::mem::take(&mut self.noise))
        }
    }

    fn push_byte(&mut self, b: u8, events: &mut Vec<SlipEvent>) {
        match self.state {
            State::Idle => {
                if b == END {
                    if let Some(noise) = self.take_noise() {
                        events.push(SlipEvent::Noise(noise));
                    }
                    self.state = State::InFrame;
                } else {
                    self.noise.push(b);
                    if self.noise.len() >= Self::MAX_NOISE {
                        events.push(SlipEvent::Noise(std::mem::take(&mut self.noise)));
                    }
                }
            }
            State::InFrame => match b {
                END => {
                    events.push(SlipEvent::Frame(std::mem::take(&mut self.frame)));
                    self.state = State::Idle;
                }
                ESC => self.state = State::Escape,
                _ => self.store(b, events),
            },
            State::Escape => match b {
                ESC_END => {
                    self.state = State::InFrame;
                    self.store(END, events);
                }
                ESC_ESC => {
                    self.state = State::InFrame;
                    self.store(ESC, events);
                }
                other => {
                    events.push(SlipEvent::BadEscape(other));
                    self.frame.clear();
                    // A delimiter right after the escape still ends the (bad) frame.
                    self.state = if other == END { State::Idle } else { State::Discard };
                }
            },
            State::Discard => {
                if b == END {
                    self.state = State::Idle;
                }
            }
        }
    }

    fn store(&mut self, b: u8, events: &mut Vec<SlipEvent>) {
        if self.frame.len() >= self.max_frame {
            events.push(SlipEvent::Oversize);
            self.frame.clear();
            self.state = State::Discard;
        } else {
            self.frame.push(b);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn encodes_escapes() {
        assert_eq!(encode(&[0x01, 0xC0, 0xDB, 0x02]), vec![0xC0, 0x01, 0xDB, 0xDC, 0xDB, 0xDD, 0x02, 0xC0]);
        assert_eq!(encode(&[]), vec![0xC0, 0xC0]);
        assert_eq!(encoded_len(&[0x01, 0xC0, 0xDB, 0x02]), 8);
    }

    #[test]
    fn decodes_known_sync_frame() {
        let mut wire = vec![0xC0, 0x00, 0x08, 0x24, 0x00, 0, 0, 0, 0, 0x07, 0x07, 0x12, 0x20];
        wire.extend(std::iter::repeat_n(0x55, 32));
        wire.push(0xC0);
        let ev = SlipDecoder::new().feed(&wire);
        assert_eq!(ev.len(), 1);
        match &ev[0] {
            SlipEvent::Frame(f) => assert_eq!(f.len(), 44),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn reports_noise_before_frame() {
        let mut d = SlipDecoder::new();
        let ev = d.feed(b"ets Jun  8 2016\r\n\xC0\x01\xC0");
        assert_eq!(ev, vec![SlipEvent::Noise(b"ets Jun  8 2016\r\n".to_vec()), SlipEvent::Frame(vec![1])]);
        assert!(d.is_idle());
        d.feed(b"garbage");
        assert_eq!(d.take_noise(), Some(b"garbage".to_vec()));
    }

    #[test]
    fn endless_noise_is_reported_in_bounded_chunks() {
        // A port that never sends a delimiter must not grow the decoder without bound.
        let mut d = SlipDecoder::new();
        let mut events = Vec::new();
        for chunk in vec![b'x'; 2 * SlipDecoder::MAX_NOISE + 5].chunks(1000) {
            d.push(chunk, &mut events);
        }
        assert_eq!(events, vec![SlipEvent::Noise(vec![b'x'; SlipDecoder::MAX_NOISE]); 2]);
        assert_eq!(d.take_noise(), Some(vec![b'x'; 5]));
        assert!(d.is_idle());
    }

    #[test]
    fn bad_escape_drops_frame_and_recovers() {
        let mut d = SlipDecoder::new();
        let ev = d.feed(&[0xC0, 1, 0xDB, 0x01, 2, 0xC0, 0xC0, 9, 0xC0]);
        assert_eq!(ev, vec![SlipEvent::BadEscape(0x01), SlipEvent::Frame(vec![9])]);
    }

    #[test]
    fn oversize_frames_are_dropped() {
        let mut d = SlipDecoder::with_max_frame(4);
        let ev = d.feed(&[0xC0, 1, 2, 3, 4, 5, 6, 0xC0, 0xC0, 7, 0xC0]);
        assert_eq!(ev, vec![SlipEvent::Oversize, SlipEvent::Frame(vec![7])]);
    }

    #[test]
    fn back_to_back_delimiters_give_empty_frame() {
        let ev = SlipDecoder::new().feed(&[0xC0, 0xC0]);
        assert_eq!(ev, vec![SlipEvent::Frame(vec![])]);
    }

    proptest! {
        #[test]
        fn round_trip(payload in proptest::collection::vec(any::<u8>(), 0..2048)) {
            let wire = encode(&payload);
            prop_assert_eq!(wire.len(), encoded_len(&payload));
            // No delimiter may appear inside the encoded body.
            prop_assert!(!wire[1..wire.len() - 1].contains(&END));
            let ev = SlipDecoder::new().feed(&wire);
            prop_assert_eq!(ev, vec![SlipEvent::Frame(payload)]);
        }

        #[test]
        fn arbitrary_chunking(
            frames in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 1..300), 1..8),
            cuts in proptest::collection::vec(1usize..64, 1..64),
        ) {
            let mut wire = Vec::new();
            for f in &frames {
                encode_into(f, &mut wire);
            }
            let mut d = SlipDecoder::new();
            let mut events = Vec::new();
            let mut pos = 0;
            let mut i = 0;
            while pos < wire.len() {
                let n = cuts[i % cuts.len()].min(wire.len() - pos);
                d.push(&wire[pos..pos + n], &mut events);
                pos += n;
                i += 1;
            }
            let got: Vec<Vec<u8>> = events
                .into_iter()
                .map(|e| match e { SlipEvent::Frame(f) => f, other => panic!("unexpected {other:?}") })
                .collect();
            prop_assert_eq!(got, frames);
        }

        #[test]
        fn never_panics_on_garbage(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
            let mut d = SlipDecoder::with_max_frame(512);
            let _ = d.feed(&bytes);
        }
    }
}
