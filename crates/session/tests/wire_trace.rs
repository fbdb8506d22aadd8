//! The requests chip knowledge decides (register reads and writes, baud change, flash
//! attach, FLASH_BEGIN sizes), in order, while the host connects, identifies, raises the
//! baud rate, probes the flash and writes a small image, for each simulated chip with and
//! without the stub. A change in a chip module that alters what goes on the wire fails
//! here first. The traces are those of flashline before the chip modules existed.

mod common;

use common::*;
use flashline_protocol::command::Request;
use flashline_protocol::packet::CommandPacket;
use flashline_protocol::slip::{SlipDecoder, SlipEvent};
use flashline_session::*;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// A transport that keeps a copy of every byte the host writes.
struct Recording {
    inner: DuplexTransport,
    sent: Arc<Mutex<Vec<u8>>>,
}

impl Transport for Recording {
    fn set_dtr(&mut self, level: bool) -> io::Result<()> {
        self.inner.set_dtr(level)
    }
    fn set_rts(&mut self, level: bool) -> io::Result<()> {
        self.inner.set_rts(level)
    }
    fn set_baud(&mut self, baud: u32) -> io::Result<()> {
        self.inner.set_baud(baud)
    }
    fn baud(&self) -> u32 {
        self.inner.baud()
    }
    fn name(&self) -> String {
        self.inner.name()
    }
}

impl AsyncRead for Recording {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for Recording {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = r {
            self.sent.lock().unwrap().extend_from_slice(&buf[..n]);
        }
        r
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// One line per register access, baud change, attach or FLASH_BEGIN the host sent.
async fn trace(chip: Chip, stub: bool) -> Vec<String> {
    let (inner, _sim) = duplex_board(chip, Vec::new());
    let sent = Arc::new(Mutex::new(Vec::new()));
    let t = Recording { inner, sent: sent.clone() };
    let mut f = Flasher::connect(t, &config(stub), Progress::none(), CancellationToken::new()).await.unwrap();
    let image = prepared(&[Region::new(0x10000, (0..5000u32).map(|i| (i % 251) as u8).collect::<Vec<u8>>())]);
    let opts = WriteOptions { verify: stub || chip.spec().rom_is_esp32_class, ..Default::default() };
    f.write(&image, &opts).await.unwrap();
    drop(f);
    let bytes = sent.lock().unwrap().clone();
    let mut lines = Vec::new();
    for ev in SlipDecoder::new().feed(&bytes) {
        let SlipEvent::Frame(frame) = ev else { continue };
        let Ok(pkt) = CommandPacket::parse(&frame) else { continue };
        let line = match Request::parse(&pkt) {
            Ok(Request::ReadReg(r)) => format!("read {:08x}", r.addr),
            Ok(Request::WriteReg(w)) => {
                w.writes.iter().map(|x| format!("write {:08x}={:08x}", x.addr, x.value)).collect::<Vec<_>>().join(" ")
            }
            Ok(Request::FlashBegin(p)) => format!("flash_begin {:x}+{:x}", p.offset, p.size),
            Ok(Request::SpiAttach { config, .. }) => format!("spi_attach {config:x}"),
            Ok(Request::ChangeBaudrate(c)) => format!("baud {} {}", c.new, c.old),
            _ => continue,
        };
        lines.push(line);
    }
    lines
}

/// Magic, MAC words (CRC-checked), revision words, then the ROM baud compensation inputs
/// and the scaled rate, proven by reading the magic again.
const ESP32_IDENTIFY: &[&str] = &[
    "read 40001000",
    "read 3ff5a004",
    "read 3ff5a008",
    "read 3ff5a00c",
    "read 3ff5a014",
    "read 3ff6607c",
    "read 3ff5f06c",
    "read 3ff5a010",
    "baud 921690 0",
    "read 40001000",
];

/// RDID through the SPI user-command registers.
const ESP32_RDID: &[&str] = &[
    "read 3ff4201c",
    "read 3ff42024",
    "write 3ff4202c=00000017",
    "write 3ff4201c=90000000",
    "write 3ff42024=7000009f",
    "write 3ff42080=00000000",
    "write 3ff42000=00040000",
    "read 3ff42000",
    "read 3ff42080",
    "write 3ff4201c=00000000",
    "write 3ff42024=00000000",
];

/// Magic, then the MAC words twice (no checksum to check them against).
const ESP8266_IDENTIFY: &[&str] = &[
    "read 40001000",
    "read 3ff00050",
    "read 3ff00054",
    "read 3ff00058",
    "read 3ff0005c",
    "read 3ff00050",
    "read 3ff00054",
    "read 3ff00058",
    "read 3ff0005c",
];

/// RDID with the bit length in USR1.
const ESP8266_RDID: &[&str] = &[
    "read 6000021c",
    "read 60000224",
    "write 60000220=00001700",
    "write 6000021c=90000000",
    "write 60000224=7000009f",
    "write 60000240=00000000",
    "write 60000200=00040000",
    "read 60000200",
    "read 60000240",
    "write 6000021c=00000000",
    "write 60000224=00000000",
];

#[tokio::test]
async fn chip_modules_put_the_same_requests_on_the_wire() {
    let cases: [(Chip, bool, Vec<&str>); 4] = [
        // The ROM attaches with the eFuse pad word and erases 5000 bytes as asked.
        (Chip::Esp32, false, [ESP32_IDENTIFY, &["spi_attach 0"], ESP32_RDID, &["flash_begin 10000+1388"]].concat()),
        (Chip::Esp32, true, [ESP32_IDENTIFY, ESP32_RDID].concat()),
        // FLASH_BEGIN of nothing attaches; the erase size works around the ROM's bug.
        (
            Chip::Esp8266,
            false,
            [ESP8266_IDENTIFY, &["flash_begin 0+0"], ESP8266_RDID, &["flash_begin 10000+1000"]].concat(),
        ),
        // Its ROM cannot change the baud rate: the stub does.
        (Chip::Esp8266, true, [ESP8266_IDENTIFY, &["baud 921600 115200", "read 40001000"], ESP8266_RDID].concat()),
    ];
    for (chip, stub, expected) in cases {
        assert_eq!(trace(chip, stub).await, expected, "{chip} stub={stub}");
    }
}
