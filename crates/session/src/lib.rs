//! Host-side flasher for Espressif chips (ESP32, ESP8266): an async session over a serial
//! port (or an in-memory link to the simulator) that connects, identifies, uploads the
//! flasher stub, raises the baud rate, writes, verifies, reads and erases flash.
//!
//! Built for a production line: a golden image is prepared once ([`PreparedImage`]:
//! compressed, split for blank-skip, framed) and shared by every board; each board's
//! [`Flasher`] then only moves bytes. Every error is one [`Error`] that names the
//! [`Stage`] and says what to do; progress goes to a [`Progress`] sink; a
//! `CancellationToken` (or dropping the future) stops a board promptly.
//!
//! The flasher stubs are built in ([`StubSet::builtin`], from the esp-flasher-stub
//! release esptool ships; see the crate's `stubs/README.md`): no Python and no esptool
//! are needed at run time. [`StubSet::resolve`] swaps in a directory of stub files when
//! the operator names one.
//!
//! ```no_run
//! # async fn demo() -> Result<(), flashline_session::Error> {
//! use flashline_session::*;
//! use std::sync::Arc;
//! let image = Arc::new(PreparedImage::new(vec![Region::new(0x1000, vec![0u8; 4096])])?);
//! let config = FlasherConfig { stubs: Some(Arc::new(StubSet::builtin())), ..Default::default() };
//! let port = SerialTransport::open("/dev/ttyUSB0", 115_200).map_err(|e| Error::Io { stage: Stage::Connect, source: e })?;
//! let mut f = Flasher::connect(port, &config, Progress::none(), Default::default()).await?;
//! let report = f.write(&image, &WriteOptions::default()).await?;
//! f.finish(After::HardReset).await?;
//! # let _ = report; Ok(()) }
//! ```

mod baud;
mod connect;
mod connection;
pub mod diff_plan;
pub mod duplex;
mod erase;
pub mod error;
mod flasher;
mod identify;
pub mod image;
pub mod progress;
mod read;
pub mod reconnect;
pub mod recover;
mod reflash;
pub mod reset;
pub mod serial;
pub mod side_hash;
pub mod stub;
mod stub_upload;
pub mod transport;
mod verify;
pub mod write;

pub use baud::{rate_plan, FALLBACK_RATES, MAX_BAUD};
pub use connect::Loader;
pub use duplex::DuplexTransport;
pub use erase::SECTOR_ERASE_ATTEMPTS;
pub use error::{Error, Result, Stage, STUB_STUCK};
pub use flasher::{Flasher, FlasherConfig};
pub use identify::{ChipInfo, FlashInfo};
pub use image::{Block, Encoding, ImageCompression, Payload, PreparedImage, PreparedRegion, Region};
pub use progress::{Progress, ProgressEvent};
pub use reconnect::{Reconnect, ReopenFuture, ResetInto, REENUMERATE_TIMEOUT};
pub use reset::{After, BeforeReset, Named, ResetStrategy};
pub use serial::SerialTransport;
pub use stub::{StubImage, StubSet, StubSource};
pub use transport::Transport;
pub use verify::{RegionVerify, VerifyOptions};
pub use write::{chip_work_bound, BlankSkip, Pipelining, RegionOutcome, RegionReport, WriteOptions, WriteReport};

pub use flashline_protocol::chip::{Chip, Mac};
pub use tokio_util::sync::CancellationToken;
