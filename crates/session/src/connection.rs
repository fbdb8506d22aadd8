//! Frame-level I/O over a [`Transport`]: the one place that writes requests and waits for
//! replies.
//!
//! Every wait is bounded by a deadline and raced against the cancellation token, so an
//! unplugged board or a cancelled job ends promptly. Errors carry the stage the session
//! is in ([`Connection::set_stage`]).

use crate::error::{hint_for, Error, Result, Stage};
use crate::transport::Transport;
use flashline_protocol::command::{Command, ResponseError};
use flashline_protocol::packet::{CommandPacket, DIR_RESPONSE};
use flashline_protocol::slip::{self, SlipDecoder, SlipEvent};
use flashline_protocol::{Opcode, ResponsePacket, StatusFormat};
use std::collections::VecDeque;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Longest a single port write may take (esptool's serial write timeout).
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// esptool reads at most 100 frames looking for the reply to a command.
const MAX_FRAMES_PER_REPLY: usize = 100;
/// Keep at most this much boot-log noise for error messages.
const NOISE_KEEP: usize = 512;

pub(crate) struct Connection<T: Transport> {
    port: T,
    decoder: SlipDecoder,
    frames: VecDeque<Vec<u8>>,
    read_buf: Vec<u8>,
    write_buf: Vec<u8>,
    /// Who answers: decides status length and which timeouts apply.
    pub(crate) format: StatusFormat,
    pub(crate) stage: Stage,
    cancel: CancellationToken,
    /// The latest bytes seen outside any frame (boot log, line noise).
    last_noise: Vec<u8>,
    /// Frames skipped while waiting for a reply that were not replies at all (raw stub
    /// output: flash read packets, digests), since `clear_noise`.
    stray_frames: u32,
}

impl<T: Transport> Connection<T> {
    pub(crate) fn new(port: T, cancel: CancellationToken) -> Self {
        Self {
            port,
            decoder: SlipDecoder::new(),
            frames: VecDeque::new(),
            read_buf: vec![0; 16 * 1024],
            write_buf: Vec::with_capacity(40 * 1024),
            format: StatusFormat::Rom4,
            stage: Stage::Connect,
            cancel,
            last_noise: Vec::new(),
            stray_frames: 0,
        }
    }

    pub(crate) fn set_stage(&mut self, stage: Stage) {
        self.stage = stage;
    }

    pub(crate) fn is_stub(&self) -> bool {
        self.format == StatusFormat::Stub
    }

    pub(crate) fn port(&mut self) -> &mut T {
        &mut self.port
    }

    pub(crate) fn port_ref(&self) -> &T {
        &self.port
    }

    /// The token that cancels this session.
    pub(crate) fn cancel_token(&self) -> CancellationToken {
        self.cancel.clone()
    }

    /// Swaps in a new link to the same board (it re-enumerated); input state starts over.
    pub(crate) fn replace_port(&mut self, port: T) -> T {
        self.decoder = SlipDecoder::new();
        self.frames.clear();
        std::mem::replace(&mut self.port, port)
    }

    pub(crate) fn into_port(self) -> T {
        self.port
    }

    /// The boot-log / noise bytes seen most recently, as text for an error message.
    pub(crate) fn last_noise(&self) -> Option<String> {
        (!self.last_noise.is_empty()).then(|| String::from_utf8_lossy(&self.last_noise).into_owned())
    }

    pub(crate) fn clear_noise(&mut self) {
        self.last_noise.clear();
        self.stray_frames = 0;
    }

    /// Frames that were not replies (4 bytes or more, so not empty frames or delimiter
    /// noise) skipped since `clear_noise`: a stub talking without answering.
    pub(crate) fn stray_frames(&self) -> u32 {
        self.stray_frames
    }

    fn io_err(&self, e: std::io::Error) -> Error {
        match e.kind() {
            std::io::ErrorKind::BrokenPipe
            | std::io::ErrorKind::ConnectionReset
            | std::io::ErrorKind::UnexpectedEof
            | std::io::ErrorKind::NotConnected => Error::Disconnected { stage: self.stage },
            // A PTY whose other side went away, or a USB adapter that was unplugged.
            _ if e.raw_os_error() == Some(nix::libc::EIO) || e.raw_os_error() == Some(nix::libc::ENXIO) => {
                Error::Disconnected { stage: self.stage }
            }
            _ => Error::Io { stage: self.stage, source: e },
        }
    }

    fn remember_noise(&mut self, noise: &[u8]) {
        self.last_noise.extend_from_slice(noise);
        if self.last_noise.len() > NOISE_KEEP {
            let cut = self.last_noise.len() - NOISE_KEEP;
            self.last_noise.drain(..cut);
        }
    }

    fn absorb(&mut self, n: usize) {
        let events = self.decoder.feed(&self.read_buf[..n]);
        for ev in events {
            match ev {
                SlipEvent::Frame(f) => self.frames.push_back(f),
                SlipEvent::Noise(n) => {
                    tracing::debug!(stage = %self.stage, bytes = n.len(), "noise between frames");
                    self.remember_noise(&n);
                }
                SlipEvent::BadEscape(b) => {
                    tracing::warn!(stage = %self.stage, byte = b, "bad SLIP escape, frame dropped")
                }
                SlipEvent::Oversize => tracing::warn!(stage = %self.stage, "oversize frame dropped"),
            }
        }
    }

    /// Writes raw bytes to the port.
    pub(crate) async fn write_raw(&mut self, bytes: &[u8]) -> Result<()> {
        let stage = self.stage;
        let fut = async {
            self.port.write_all(bytes).await?;
            self.port.flush().await
        };
        let res = tokio::select! {
            biased;
            _ = self.cancel.cancelled() => return Err(Error::Cancelled { stage }),
            r = tokio::time::timeout(WRITE_TIMEOUT, fut) => r,
        };
        match res {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(self.io_err(e)),
            Err(_) => Err(Error::Timeout { stage, command: "serial write", timeout: WRITE_TIMEOUT }),
        }
    }

    /// SLIP-encodes and sends a request.
    pub(crate) async fn send_packet(&mut self, packet: &CommandPacket) -> Result<()> {
        let mut buf = std::mem::take(&mut self.write_buf);
        buf.clear();
        slip::encode_into(&packet.to_bytes(), &mut buf);
        let r = self.write_raw(&buf).await;
        self.write_buf = buf;
        r
    }

    /// Sends a SLIP frame with `payload` as is (READ_FLASH acks).
    pub(crate) async fn send_raw_frame(&mut self, payload: &[u8]) -> Result<()> {
        let buf = slip::encode(payload);
        self.write_raw(&buf).await
    }

    /// Waits for the next complete frame until `deadline`. `what` names the awaited reply
    /// for the timeout message.
    pub(crate) async fn next_frame(
        &mut self,
        deadline: Instant,
        what: &'static str,
        nominal: Duration,
    ) -> Result<Vec<u8>> {
        loop {
            if let Some(f) = self.frames.pop_front() {
                return Ok(f);
            }
            let stage = self.stage;
            let res = tokio::select! {
                biased;
                _ = self.cancel.cancelled() => return Err(Error::Cancelled { stage }),
                r = tokio::time::timeout_at(deadline, self.port.read(&mut self.read_buf)) => r,
            };
            match res {
                Err(_) => return Err(Error::Timeout { stage, command: what, timeout: nominal }),
                Ok(Ok(0)) => return Err(Error::Disconnected { stage }),
                Ok(Ok(n)) => self.absorb(n),
                Ok(Err(e)) => return Err(self.io_err(e)),
            }
        }
    }

    /// Reads whatever is already waiting (boot log, stale replies) without blocking, then
    /// asks the OS to drop anything else and resets the frame decoder.
    pub(crate) async fn drain_input(&mut self) -> Result<()> {
        loop {
            match tokio::time::timeout(Duration::ZERO, self.port.read(&mut self.read_buf)).await {
                Ok(Ok(0)) => return Err(Error::Disconnected { stage: self.stage }),
                Ok(Ok(n)) => self.absorb(n),
                Ok(Err(e)) => return Err(self.io_err(e)),
                Err(_) => break,
            }
        }
        if let Some(n) = self.decoder.take_noise() {
            self.remember_noise(&n);
        }
        if let Err(e) = self.port.clear_input() {
            tracing::debug!(error = %e, "clearing input buffer failed");
        }
        self.decoder.reset();
        self.frames.clear();
        Ok(())
    }

    /// Waits for the reply to `opcode`, skipping frames that are not it (stale replies,
    /// empty frames), the way esptool does.
    pub(crate) async fn recv_response(&mut self, opcode: Opcode, timeout: Duration) -> Result<ResponsePacket> {
        let deadline = Instant::now() + timeout;
        for _ in 0..MAX_FRAMES_PER_REPLY {
            let frame = self.next_frame(deadline, opcode.name(), timeout).await?;
            if frame.len() < 8 || frame[0] != DIR_RESPONSE {
                tracing::trace!(len = frame.len(), "skipping non-response frame");
                if frame.len() >= 4 {
                    self.stray_frames = self.stray_frames.saturating_add(1);
                }
                continue;
            }
            let resp = ResponsePacket::parse(&frame).expect("length and direction checked");
            if resp.opcode == opcode as u8 {
                return Ok(resp);
            }
            tracing::debug!(expected = %opcode, got = resp.opcode, "skipping reply to another command");
        }
        Err(Error::Protocol {
            stage: self.stage,
            command: opcode.name(),
            reason: format!("{MAX_FRAMES_PER_REPLY} frames arrived without the reply"),
        })
    }

    /// Turns a protocol-level reply error into the crate error.
    pub(crate) fn response_error(&self, opcode: Opcode, e: ResponseError) -> Error {
        match e {
            ResponseError::Failed(status) => {
                Error::Chip { stage: self.stage, command: opcode, status, hint: hint_for(status) }
            }
            other => Error::Protocol { stage: self.stage, command: opcode.name(), reason: other.to_string() },
        }
    }

    /// Sends `cmd` and waits for its reply with the command's own timeout.
    pub(crate) async fn command<C: Command>(&mut self, cmd: &C) -> Result<C::Response> {
        let timeout = cmd.timeout(self.is_stub());
        self.command_timeout(cmd, timeout).await
    }

    /// Sends `cmd` and waits up to `timeout` for its reply. This is the request/response
    /// function every other module goes through.
    pub(crate) async fn command_timeout<C: Command>(&mut self, cmd: &C, timeout: Duration) -> Result<C::Response> {
        self.send_packet(&cmd.to_packet()).await?;
        if !cmd.expects_response() {
            return cmd.decode(0, &[], self.format).map_err(|e| self.response_error(C::OPCODE, e));
        }
        self.recv_reply(cmd, timeout).await
    }

    /// Waits for and decodes the reply to a command already sent.
    pub(crate) async fn recv_reply<C: Command>(&mut self, cmd: &C, timeout: Duration) -> Result<C::Response> {
        let resp = self.recv_response(C::OPCODE, timeout).await?;
        cmd.parse_response(&resp, self.format).map_err(|e| self.response_error(C::OPCODE, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::duplex::DuplexTransport;
    use flashline_protocol::command::{response, ReadReg};
    use flashline_protocol::{Status, StubError};
    use tokio::io::AsyncWriteExt;

    fn conn() -> (Connection<DuplexTransport>, tokio::io::DuplexStream) {
        let (a, b) = tokio::io::duplex(4096);
        (Connection::new(DuplexTransport::new(a), CancellationToken::new()), b)
    }

    #[tokio::test]
    async fn skips_noise_and_stale_frames() {
        let (mut c, mut chip) = conn();
        let mut wire = b"boot log".to_vec();
        wire.extend(slip::encode(&[]));
        let stale = response(0x08, 0x2012_0707, &[], StatusFormat::Rom4, Status::Ok);
        wire.extend(slip::encode(&stale.to_bytes()));
        let good = response(0x0A, 0x00F0_1D83, &[], StatusFormat::Rom4, Status::Ok);
        wire.extend(slip::encode(&good.to_bytes()));
        chip.write_all(&wire).await.unwrap();
        let v = c.recv_reply(&ReadReg { addr: 0x4000_1000 }, Duration::from_secs(1)).await.unwrap();
        assert_eq!(v, 0x00F0_1D83);
        assert_eq!(c.last_noise().as_deref(), Some("boot log"));
    }

    #[tokio::test]
    async fn chip_errors_are_typed_with_stage() {
        let (mut c, mut chip) = conn();
        c.format = StatusFormat::Stub;
        c.set_stage(Stage::Write);
        let bad = response(0x0A, 0, &[], StatusFormat::Stub, Status::Stub(StubError::FailedSpiOp));
        chip.write_all(&slip::encode(&bad.to_bytes())).await.unwrap();
        let e = c.recv_reply(&ReadReg { addr: 0 }, Duration::from_secs(1)).await.unwrap_err();
        assert!(matches!(e, Error::Chip { stage: Stage::Write, .. }), "{e}");
    }

    #[tokio::test]
    async fn timeout_closed_and_cancel() {
        let (mut c, chip) = conn();
        c.set_stage(Stage::Verify);
        let t0 = std::time::Instant::now();
        let e = c.recv_reply(&ReadReg { addr: 0 }, Duration::from_millis(50)).await.unwrap_err();
        assert!(matches!(e, Error::Timeout { stage: Stage::Verify, .. }), "{e}");
        assert!(t0.elapsed() < Duration::from_secs(1));
        drop(chip);
        let e = c.recv_reply(&ReadReg { addr: 0 }, Duration::from_secs(5)).await.unwrap_err();
        assert!(matches!(e, Error::Disconnected { stage: Stage::Verify }), "{e}");

        let (mut c, _chip) = conn();
        let tok = c.cancel_token().clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            tok.cancel();
        });
        let e = c.recv_reply(&ReadReg { addr: 0 }, Duration::from_secs(30)).await.unwrap_err();
        assert!(matches!(e, Error::Cancelled { .. }), "{e}");
    }

    #[tokio::test]
    async fn drain_keeps_noise() {
        let (mut c, mut chip) = conn();
        chip.write_all(b"rst:0x1 (POWERON_RESET),boot:0x13 (SPI_FAST_FLASH_BOOT)\r\n").await.unwrap();
        tokio::task::yield_now().await;
        c.drain_input().await.unwrap();
        assert!(c.last_noise().unwrap().contains("boot:0x13"));
    }
}
