//! A flasher stub whose host vanished in the middle of a frame (a daemon killed mid-write
//! on a fixture without reset lines), or while the stub streamed its flash back, answers
//! the next host's connect.

mod common;

use common::*;
use flashline_protocol::command::{BeginParams, Command, FlashDeflBegin, FlashDeflData, ReadFlash, Sync};
use flashline_protocol::slip;
use flashline_session::*;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Leaves the stub of a connected board in the middle of a FLASH_DEFL_DATA frame, as a
/// host killed while writing it does; returns the port.
async fn vanish_mid_frame(cut: impl Fn(usize) -> usize) -> (DuplexTransport, flashline_sim::SimHandle) {
    let (f, sim) = connect(Chip::Esp32, true).await;
    let mut port = f.finish(After::StayInStub).await.unwrap();
    let begin = BeginParams { size: 0x4000, num_blocks: 1, block_size: 0x4000, offset: 0x10000, encrypted: Some(0) };
    port.write_all(&slip::encode(&FlashDeflBegin(begin).to_packet().to_bytes())).await.unwrap();
    let data = FlashDeflData::new(0, (0..2048u32).map(|i| (i * 7) as u8).collect());
    let frame = slip::encode(&data.to_packet().to_bytes());
    port.write_all(&frame[..cut(frame.len())]).await.unwrap();
    port.flush().await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    (port, sim)
}

/// What a host that knows nothing of the recovery sees: SYNC after SYNC, no answer.
async fn plain_syncs_answered(port: &mut DuplexTransport) -> bool {
    let sync = slip::encode(&Sync.to_packet().to_bytes());
    let mut buf = [0u8; 512];
    for _ in 0..5 {
        while tokio::time::timeout(Duration::from_millis(20), port.read(&mut buf)).await.is_ok_and(|r| r.is_ok()) {}
        port.write_all(&sync).await.unwrap();
        port.flush().await.unwrap();
        let deadline = tokio::time::Instant::now() + Duration::from_millis(150);
        let mut got = Vec::new();
        while let Ok(Ok(n)) = tokio::time::timeout_at(deadline, port.read(&mut buf)).await {
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
        // A SYNC reply: direction 1, opcode 8.
        if got.windows(3).any(|w| w == [slip::END, 0x01, 0x08]) {
            return true;
        }
    }
    false
}

#[tokio::test]
async fn a_stub_left_mid_frame_ignores_plain_syncs_for_good() {
    // The fault this recovery exists for, as the simulated stub models it: without the
    // resynchronising delimiter no SYNC is ever read whole again.
    let (mut port, _sim) = vanish_mid_frame(|n| n / 2).await;
    assert!(!plain_syncs_answered(&mut port).await, "the stub is out of SLIP phase");
    assert!(!plain_syncs_answered(&mut port).await, "and stays so");
}

#[tokio::test]
async fn a_stub_left_mid_frame_answers_the_next_connect() {
    for (name, cut) in [
        ("mid frame", (|n| n / 2) as fn(usize) -> usize),
        ("just after the opening delimiter", |_| 1),
        ("before the closing delimiter", |n| n - 1),
    ] {
        let (port, sim) = vanish_mid_frame(cut).await;
        let f = bounded(
            Duration::from_secs(20),
            Flasher::connect(port, &config(true), Progress::none(), CancellationToken::new()),
        )
        .await
        .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(f.is_stub(), "{name}: the stub left running answers");
        assert_eq!(f.info().mac, sim.mac(), "{name}");
        // And it works: a full write goes through.
        let mut f = f;
        let regions = sample_image(3, 16 * 1024);
        let image = prepared(&regions);
        f.write(&image, &WriteOptions { verify: true, ..Default::default() }).await.unwrap();
    }
}

#[tokio::test]
async fn a_stub_in_phase_is_found_without_recovery() {
    // A frame cut exactly at its end leaves nothing half done: the first SYNC answers.
    let (mut port, _sim) = vanish_mid_frame(|n| n).await;
    assert!(plain_syncs_answered(&mut port).await);
}

#[tokio::test]
async fn a_stub_left_streaming_its_flash_answers_the_next_connect() {
    let (f, sim) = connect(Chip::Esp32, true).await;
    let mut port = f.finish(After::StayInStub).await.unwrap();
    let read = ReadFlash { offset: 0, len: 256 * 1024, packet_size: 0x1000, max_in_flight: 64 };
    port.write_all(&slip::encode(&read.to_packet().to_bytes())).await.unwrap();
    port.flush().await.unwrap();
    // The first data packets arrive; then the host vanishes without acknowledging them.
    let mut buf = vec![0u8; 8192];
    let mut got = 0;
    while got < 0x1000 {
        got += tokio::time::timeout(Duration::from_secs(2), port.read(&mut buf)).await.unwrap().unwrap();
    }
    let f = bounded(
        Duration::from_secs(20),
        Flasher::connect(port, &config(true), Progress::none(), CancellationToken::new()),
    )
    .await
    .unwrap();
    assert!(f.is_stub());
    assert_eq!(f.info().mac, sim.mac());
}

/// The error of a connect that must fail.
async fn connect_error(port: DuplexTransport) -> Error {
    let config = config(true);
    let connect = Flasher::connect(port, &config, Progress::none(), CancellationToken::new());
    match bounded(Duration::from_secs(30), connect).await {
        Ok(_) => panic!("the board answered"),
        Err(e) => e,
    }
}

#[tokio::test]
async fn a_stub_that_talks_but_never_answers_is_reported_stuck() {
    // A stub wedged in a command (`hang-until-power-cycle`): every frame gets a raw frame
    // back, none an answer, whatever the recovery sends.
    let (port, _sim) = duplex_board(Chip::Esp32, vec![flashline_sim::Fault::HangUntilPowerCycle]);
    let e = connect_error(port).await;
    assert!(matches!(e, Error::StubStuck { frames } if frames > 0), "{e:?}");
    assert!(e.to_string().starts_with(&format!("connect: {STUB_STUCK}")), "{e}");

    // Power-cycled, the same board answers (from its ROM loader).
    let (port, sim) = duplex_board(Chip::Esp32, vec![flashline_sim::Fault::HangUntilPowerCycle]);
    sim.power_cycle();
    let f = bounded(
        Duration::from_secs(30),
        Flasher::connect(port, &config(true), Progress::none(), CancellationToken::new()),
    )
    .await
    .unwrap();
    assert_eq!(f.info().mac, sim.mac());
}

#[tokio::test]
async fn a_silent_board_is_not_called_stuck() {
    let (port, _sim) =
        duplex_board(Chip::Esp32, vec![flashline_sim::Fault::NotDownload(flashline_sim::BootNoise::Silent)]);
    let e = connect_error(port).await;
    assert!(matches!(e, Error::NoSync { .. }), "{e:?}");
}
