//! A board on its USB-Serial/JTAG port, in process and on tokio's paused clock: esptool's
//! USB-JTAG reset sequence enters download mode, every chip reset drops the link and a
//! new one enumerates after the delay, and the throughput does not depend on the baud.

use flashline_protocol::command::{ChangeBaudrate, Command, Sync};
use flashline_protocol::packet::ResponsePacket;
use flashline_protocol::slip::{self, SlipDecoder, SlipEvent};
use flashline_sim::{chips, spawn_duplex, spawn_usb_duplex, BoardConfig, Chip, Mac, Mode, TimingMode, UsbLinkEvent};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::time::Instant;

const MAC: Mac = Mac([0x24, 0x0a, 0xc4, 0x55, 0, 1]);

fn usb_board(chip: Chip, timing: TimingMode) -> BoardConfig {
    let mut cfg = BoardConfig::new(chip, MAC).on_usb_serial_jtag();
    cfg.timing = timing;
    // The link's behaviour does not depend on the chip; ESP32 stands in until the chips
    // with the peripheral are simulated.
    cfg.usb_any_chip = chip.spec().usb_serial_jtag.is_none();
    cfg
}

/// Sends SYNC and reads its eight replies; returns the SYNC value, or None on EOF.
async fn sync(io: &mut DuplexStream) -> Option<u32> {
    io.write_all(&slip::encode(&Sync.to_packet().to_bytes())).await.ok()?;
    let frames = frames(io, 8).await?;
    Some(ResponsePacket::parse(&frames[0]).expect("SYNC reply").value)
}

async fn frames(io: &mut DuplexStream, n: usize) -> Option<Vec<Vec<u8>>> {
    let mut dec = SlipDecoder::new();
    let mut out = Vec::new();
    let mut buf = [0u8; 1024];
    while out.len() < n {
        let got = io.read(&mut buf).await.ok()?;
        if got == 0 {
            return None;
        }
        out.extend(dec.feed(&buf[..got]).into_iter().filter_map(|e| match e {
            SlipEvent::Frame(f) => Some(f),
            _ => None,
        }));
    }
    Some(out)
}

/// esptool's USBJTAGSerialReset, write by write.
const USB_RESET: [(bool, bool); 8] = [
    (false, false),
    (false, false),
    (true, false),
    (true, false),
    (true, true),
    (false, true),
    (false, true),
    (false, false),
];

async fn expect_reenumeration(events: &mut UnboundedReceiver<UsbLinkEvent>, delay: Duration) -> DuplexStream {
    assert!(matches!(events.recv().await, Some(UsbLinkEvent::Dropped)), "the link drops at the reset");
    let t0 = Instant::now();
    match events.recv().await {
        Some(UsbLinkEvent::Enumerated(link)) => {
            assert_eq!(t0.elapsed(), delay, "back after the re-enumeration delay");
            link
        }
        other => panic!("expected the port to enumerate again, got {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn usb_reset_reenumerates_into_download_mode_and_hard_reset_into_the_app() {
    let (mut old, sim, mut events) = spawn_usb_duplex(usb_board(Chip::Esp32, TimingMode::Realistic)).unwrap();
    assert_eq!(sync(&mut old).await, Some(0x2012_0707));
    for (d, r) in USB_RESET {
        sim.set_lines(d, r);
    }
    let mut link = expect_reenumeration(&mut events, Duration::from_millis(200)).await;
    // The old port is gone: EOF, and no boot log reached anyone.
    let mut rest = Vec::new();
    old.read_to_end(&mut rest).await.unwrap();
    assert!(rest.is_empty(), "{rest:?}");
    assert_eq!(sim.mode(), Mode::Rom);
    assert_eq!(sync(&mut link).await, Some(0x2012_0707));
    assert_eq!(sim.stats().resets, 1);

    // esptool's hard reset on USB-Serial/JTAG: RTS pulse from idle → the application.
    sim.set_lines(false, false);
    sim.set_lines(false, true);
    sim.set_lines(false, false);
    let _app_link = expect_reenumeration(&mut events, Duration::from_millis(200)).await;
    assert_eq!(sim.mode(), Mode::App);
    assert_eq!(sim.stats().resets, 2);
}

#[tokio::test(start_paused = true)]
async fn a_closed_port_opens_again_and_an_unplug_ends_the_board() {
    let (link, sim, mut events) = spawn_usb_duplex(usb_board(Chip::Esp32, TimingMode::Off)).unwrap();
    drop(link);
    let Some(UsbLinkEvent::Reopenable(mut again)) = events.recv().await else { panic!("reopenable") };
    assert_eq!(sync(&mut again).await, Some(0x2012_0707));
    sim.unplug();
    assert!(matches!(events.recv().await, Some(UsbLinkEvent::Unplugged)));
    assert_eq!(sync(&mut again).await, None);
}

/// SYNC's request and its eight replies are ~150 bytes: 13 ms at 115200 baud on a UART,
/// a fraction of a millisecond at USB full speed — before and after CHANGE_BAUDRATE.
#[tokio::test(start_paused = true)]
async fn throughput_is_the_usb_rate_whatever_the_baud() {
    async fn sync_time(io: &mut DuplexStream) -> Duration {
        let t0 = Instant::now();
        assert!(sync(io).await.is_some());
        t0.elapsed()
    }
    let (mut uart, _u) =
        spawn_duplex(BoardConfig { timing: TimingMode::Realistic, ..BoardConfig::new(Chip::Esp32, MAC) });
    let (mut usb, _s, _e) = spawn_usb_duplex(usb_board(Chip::Esp32, TimingMode::Realistic)).unwrap();
    let uart_t = sync_time(&mut uart).await;
    let usb_t = sync_time(&mut usb).await;
    assert!(uart_t >= Duration::from_millis(10), "{uart_t:?}");
    assert!(usb_t <= Duration::from_millis(2), "{usb_t:?}");
    // CHANGE_BAUDRATE is accepted and changes nothing on USB.
    usb.write_all(&slip::encode(&ChangeBaudrate { new: 9600, old: 115_200 }.to_packet().to_bytes())).await.unwrap();
    let reply = ResponsePacket::parse(&frames(&mut usb, 1).await.unwrap()[0]).unwrap();
    assert_eq!(reply.opcode, ChangeBaudrate::OPCODE as u8);
    let after = sync_time(&mut usb).await;
    assert!(after <= Duration::from_millis(2), "{after:?}");
}

#[tokio::test]
async fn only_chips_with_the_peripheral_are_presented_on_usb() {
    let e = spawn_usb_duplex(BoardConfig::new(Chip::Esp32, MAC).on_usb_serial_jtag()).err().expect("refused");
    assert!(e.to_string().contains("no USB-Serial/JTAG peripheral"), "{e}");
    assert!(spawn_usb_duplex(BoardConfig::new(Chip::Esp32, MAC)).is_err(), "a UART board is not a USB board");
}

/// Every simulated chip that has the peripheral runs the USB reset end to end — the list
/// follows the simulator's chip table, so new chips are covered as they land.
#[tokio::test(start_paused = true)]
async fn every_simulated_chip_with_the_peripheral_resets_over_usb() {
    let usb_chips: Vec<Chip> =
        Chip::ALL.into_iter().filter(|c| c.spec().usb_serial_jtag.is_some() && chips::model(*c).is_some()).collect();
    for chip in usb_chips {
        let cfg = BoardConfig::new(chip, MAC).on_usb_serial_jtag();
        let (_old, sim, mut events) = spawn_usb_duplex(cfg).unwrap_or_else(|e| panic!("{chip}: {e}"));
        for (d, r) in USB_RESET {
            sim.set_lines(d, r);
        }
        let mut link = expect_reenumeration(&mut events, Duration::ZERO).await;
        assert!(sync(&mut link).await.is_some(), "{chip}");
    }
}

/// ESP32-S3 and ESP32-C3 by name, without the test-only override.
#[tokio::test(start_paused = true)]
async fn esp32s3_and_esp32c3_on_their_own_usb_port() {
    for chip in [Chip::Esp32S3, Chip::Esp32C3] {
        let (_old, sim, mut events) = spawn_usb_duplex(BoardConfig::new(chip, MAC).on_usb_serial_jtag()).unwrap();
        for (d, r) in USB_RESET {
            sim.set_lines(d, r);
        }
        let mut link = expect_reenumeration(&mut events, Duration::ZERO).await;
        assert_eq!(sync(&mut link).await, Some(0x2012_0707), "{chip}");
    }
}

/// On a PTY (the `espsim` binary), a reset replaces the port: the old PTY closes, the
/// `boardK` link disappears, and after the delay it points at a new PTY that answers in
/// download mode.
#[tokio::test]
async fn on_a_pty_a_reset_replaces_the_port_behind_the_same_link() {
    use flashline_sim::spawn_pty;
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("board0");
    let mut cfg = usb_board(Chip::Esp32, TimingMode::Off);
    cfg.reenumerate = Some(Duration::from_millis(300));
    let board = spawn_pty(cfg, &link).unwrap();
    assert_eq!(std::fs::read_link(&link).unwrap(), board.tty);
    for (d, r) in USB_RESET {
        board.handle.set_lines(d, r);
    }
    // Gone while the port is off the bus...
    let gone = tokio::time::Instant::now() + Duration::from_secs(5);
    while link.symlink_metadata().is_ok() {
        assert!(tokio::time::Instant::now() < gone, "the link never went away");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // ...then back, on another PTY.
    let back = tokio::time::Instant::now() + Duration::from_secs(5);
    // (The kernel may give the new PTY the old number, as it gives a ttyACM its old
    // number when nobody held the old one open.)
    while std::fs::read_link(&link).is_err() {
        assert!(tokio::time::Instant::now() < back, "the link never came back");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(board.handle.mode(), Mode::Rom);
    let port = std::fs::OpenOptions::new().read(true).write(true).open(&link).unwrap();
    let mut port = tokio::fs::File::from_std(port);
    port.write_all(&slip::encode(&Sync.to_packet().to_bytes())).await.unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 512];
    let mut dec = SlipDecoder::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while got.is_empty() {
        let n = tokio::time::timeout_at(deadline, port.read(&mut buf)).await.expect("a SYNC reply").unwrap();
        got.extend(dec.feed(&buf[..n]).into_iter().filter(|e| matches!(e, SlipEvent::Frame(_))));
    }
}
