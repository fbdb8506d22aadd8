//! Sans-IO core of the Espressif serial download protocol.
//!
//! Everything here is pure code: no async runtime, no file or port access. The host side
//! (`flashline-session`) and the chip simulator (`flashline-sim`) both build on it, so a
//! frame that one side encodes is decoded by exactly the same code on the other side.
//!
//! Layers, bottom up:
//! - [`slip`]: SLIP framing with an incremental decoder that reports noise between frames.
//! - [`packet`]: the 8-byte command/response headers and the XOR data checksum.
//! - [`status`]: trailing status bytes of ROM and stub loaders and their error codes.
//! - [`command`]: one small type per opcode that encodes its request and parses its reply,
//!   plus [`command::Request`], the chip-side view that parses any request packet.
//! - [`chip`]: one module per chip with everything about it (detection, eFuse and MAC
//!   layout, revision, SPI registers, ROM quirks, stub layout, USB identity).
//! - [`flash`]: JEDEC ids, flash sizes and image-header helpers.
//! - [`timeouts`]: per-command timeouts, scaled by size the way esptool does.

pub mod chip;
pub mod command;
pub mod flash;
pub mod packet;
pub mod slip;
pub mod status;
pub mod timeouts;

pub use chip::{Chip, ChipSpec};
pub use command::{Opcode, Request};
pub use packet::{CommandPacket, ResponsePacket};
pub use slip::{SlipDecoder, SlipEvent};
pub use status::{RomError, Status, StatusFormat, StubError};
