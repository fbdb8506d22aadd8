//! The station end to end with its ports injected: dispatcher, jobs and the pipeline run
//! against in-process simulated boards over the in-memory duplex link (no pseudo-terminal,
//! no udev), including the fault cases. The PTY and umockdev tests stay the system level.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use flashline::device::DeviceInfo;
use flashline::station::serve::{Station, Ui};
use flashline::station::{Control, Outcome, StationEvent};
use flashline_audit::{AttemptFilter, AttemptResult};
use flashline_protocol::chip::Mac;
use flashline_protocol::Chip;
use flashline_session::Stage;
use flashline_sim::{BoardConfig, Fault, SimHandle};

const LIMIT: Duration = Duration::from_secs(60);

mod support_station;
use support_station::{flash_matches, Rig};

/// An ESP32 station config over `n` simulated ports, built by the one station builder with
/// the simulated-ports opener.
async fn rig(n: u32, max_jobs: usize) -> Rig {
    support_station::rig("fl-duplex-", n, max_jobs, "baud = 921600\nafter = \"no-reset\"\n").await
}

/// A station for `chip` (`[image] chip` and a sample image built for it) over `n` ports.
async fn rig_for(chip: Chip, n: u32, max_jobs: usize) -> Rig {
    support_station::rig_for("fl-duplex-", chip, n, max_jobs, "baud = 921600\nafter = \"no-reset\"\n").await
}

/// [`rig`] with `extra` appended to the config (whole tables).
async fn rig_with(n: u32, max_jobs: usize, extra: &str) -> Rig {
    support_station::rig_with_tables(
        "fl-duplex-",
        Chip::Esp32,
        n,
        max_jobs,
        "baud = 921600\nafter = \"no-reset\"\n",
        extra,
    )
    .await
}

fn devnode(k: u32) -> PathBuf {
    PathBuf::from(format!("/dev/sim-duplex{k}"))
}

fn board(chip: Chip, k: u32, faults: Vec<Fault>) -> BoardConfig {
    let mut cfg = BoardConfig::new(chip, Mac([0x24, 0x0a, 0xc4, 0x33, 0x00, k as u8]));
    cfg.faults = faults;
    cfg
}

/// Runs the station until every plugged board has a result; `pull_at` names slots whose
/// board is pulled out when its job enters that stage.
async fn run(
    rig: &Rig,
    boards: Vec<BoardConfig>,
    pull_at: &[(&str, Stage)],
) -> (BTreeMap<String, Outcome>, Vec<SimHandle>) {
    let (mut station, devices) = Station::start_simulated(rig.ctx.clone(), &rig.config, Ui::Logs);
    let mut events = station.events.take().unwrap();
    let mut handles = Vec::new();
    let mut infos = Vec::new();
    for (k, cfg) in boards.into_iter().enumerate() {
        let k = k as u32;
        handles.push(rig.ports.attach(devnode(k), cfg).unwrap());
        let info = DeviceInfo::simulated(k, devnode(k));
        devices.plug(info.clone());
        infos.push(info);
    }
    let mut finished = BTreeMap::new();
    let deadline = tokio::time::Instant::now() + LIMIT;
    while finished.len() < infos.len() {
        let ev = tokio::time::timeout_at(deadline, events.recv()).await.expect("a result within the limit").unwrap();
        match ev {
            StationEvent::Stage { slot, stage } if pull_at.contains(&(slot.as_str(), stage)) => {
                let k: u32 = slot[1..].parse::<u32>().unwrap() - 1;
                rig.ports.detach(&devnode(k));
                devices.unplug(&infos[k as usize].syspath);
            }
            StationEvent::Finished { slot, outcome, .. } => {
                assert!(finished.insert(slot.clone(), outcome).is_none(), "{slot} finished twice");
            }
            _ => {}
        }
    }
    support_station::drain_and_stop(station, devices).await;
    (finished, handles)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boards_on_injected_ports_pass_and_are_recorded() {
    let rig = rig(6, 4).await;
    let boards = (0..6).map(|k| board(Chip::Esp32, k, Vec::new())).collect();
    let (finished, handles) = run(&rig, boards, &[]).await;
    assert_eq!(finished.len(), 6);
    assert!(finished.values().all(|o| *o == Outcome::Pass), "{finished:?}");
    assert!(handles.iter().all(|h| flash_matches(&rig, h)));
    let rows = rig.ctx.store.query(&AttemptFilter::default()).await.unwrap();
    assert_eq!(rows.len(), 6);
    assert!(rows.iter().all(|r| r.result == AttemptResult::Pass && r.mac.is_some()));
}

/// One small station per chip (a station has one golden image and one chip): a board of
/// that chip passes with the image for it in its flash (the bootloader at the chip's own
/// offset) and its row.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_chip_passes_a_station_of_its_own() {
    for chip in Chip::ALL {
        let rig = rig_for(chip, 1, 1).await;
        let boot = chip.spec().bootloader_offset;
        assert!(
            rig.ctx.plan.images.single().expect("one image").image.regions().iter().any(|r| r.offset == boot),
            "{chip}: bootloader at 0x{boot:x}"
        );
        let (finished, handles) = run(&rig, vec![board(chip, 0, Vec::new())], &[]).await;
        assert_eq!(finished["A1"], Outcome::Pass, "{chip}");
        assert!(flash_matches(&rig, &handles[0]), "{chip}");
        let rows = rig.ctx.store.query(&AttemptFilter::default()).await.unwrap();
        assert_eq!(rows.len(), 1, "{chip}");
        assert_eq!(rows[0].result, AttemptResult::Pass, "{chip}");
        assert_eq!(rows[0].mac.as_deref().map(str::to_ascii_lowercase), Some(handles[0].mac().to_string()), "{chip}");
    }
}

/// A board of another chip plugged into a station fails at identify, naming both chips;
/// a board of the station's chip next to it passes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_board_of_another_chip_fails_at_identify_naming_both() {
    let rig = rig_for(Chip::Esp32S3, 2, 2).await;
    let boards = vec![board(Chip::Esp32S3, 0, Vec::new()), board(Chip::Esp32C6, 1, Vec::new())];
    let (finished, handles) = run(&rig, boards, &[]).await;
    assert_eq!(finished["A1"], Outcome::Pass);
    match &finished["A2"] {
        Outcome::Fail { stage, reason } => {
            assert_eq!(stage, "identify");
            assert!(reason.contains("ESP32-C6") && reason.contains("ESP32-S3"), "{reason}");
        }
        o => panic!("wrong chip: {o:?}"),
    }
    assert!(handles[1].flash().iter().all(|&b| b == 0xFF), "the other chip's board is not written");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faulty_boards_fail_with_their_stage_and_the_others_pass() {
    let rig = rig(5, 5).await;
    let boards = vec![
        board(Chip::Esp32, 0, Vec::new()),
        board(Chip::Esp8266, 1, Vec::new()),
        board(Chip::Esp32, 2, vec![Fault::HangAfter(20_000)]),
        // Answers slowly, so the pull lands while the board is still being written.
        board(Chip::Esp32, 3, vec![Fault::SlowReplies { ms: 30 }]),
        board(Chip::Esp32, 4, vec![Fault::BadFlash { addr: 0x10000, len: 1 }]),
    ];
    let (finished, handles) = run(&rig, boards, &[("A4", Stage::Write)]).await;
    assert_eq!(finished["A1"], Outcome::Pass);
    assert!(flash_matches(&rig, &handles[0]));
    match &finished["A2"] {
        Outcome::Fail { stage, reason } => {
            assert_eq!(stage, "identify");
            assert!(reason.contains("ESP8266") && reason.contains("ESP32"), "{reason}");
        }
        o => panic!("wrong chip: {o:?}"),
    }
    match &finished["A3"] {
        Outcome::Fail { stage, reason } => {
            assert!(reason.contains("no reply") || reason.contains("timed out"), "{stage}: {reason}")
        }
        o => panic!("hung board: {o:?}"),
    }
    match &finished["A4"] {
        // Pulled in the write; its row says so with the stage the board was in.
        Outcome::Fail { stage, reason } if stage == "write" || stage == "verify" => {
            assert_eq!(reason, &format!("board removed during {stage}"))
        }
        o => panic!("pulled board: {o:?}"),
    }
    match &finished["A5"] {
        Outcome::Fail { stage, .. } => assert!(stage == "write" || stage == "verify", "{stage}"),
        o => panic!("bad flash: {o:?}"),
    }
    // One row per board, each completed.
    let rows = rig.ctx.store.query(&AttemptFilter::default()).await.unwrap();
    assert_eq!(rows.len(), 5);
    assert!(rows.iter().all(|r| r.result != AttemptResult::Running), "{rows:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_interrupts_running_jobs_and_closes_their_rows() {
    let rig = rig(2, 2).await;
    let (station, devices) = Station::start_simulated(rig.ctx.clone(), &rig.config, Ui::Logs);
    let mut events = station.subscribe();
    for k in 0..2 {
        // A board that stops answering mid-write keeps its job busy until the shutdown.
        rig.ports.attach(devnode(k), board(Chip::Esp32, k, vec![Fault::HangAfter(30_000)])).unwrap();
        devices.plug(DeviceInfo::simulated(k, devnode(k)));
    }
    let mut started = 0;
    while started < 2 {
        if let Some(StationEvent::JobStarted { .. }) = events.recv().await {
            started += 1;
        }
    }
    station.control.send(Control::Shutdown).await.unwrap();
    let (_view, _) = tokio::time::timeout(LIMIT, station.wait()).await.unwrap();
    drop(devices);
    let rows = rig.ctx.store.query(&AttemptFilter::default()).await.unwrap();
    assert_eq!(rows.len(), 2);
    assert!(rows.iter().all(|r| r.result == AttemptResult::Interrupted), "{rows:?}");
}

/// `max_jobs` is the station's parallel limit: with 2, no more than two boards are ever
/// flashed at once, and the others wait their turn and pass.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_jobs_limits_the_boards_flashed_at_once() {
    let rig = rig(5, 2).await;
    let (station, devices) = Station::start_simulated(rig.ctx.clone(), &rig.config, Ui::Logs);
    let mut events = station.subscribe();
    for k in 0..5 {
        // Slow answers keep each job busy long enough for the others to pile up.
        rig.ports.attach(devnode(k), board(Chip::Esp32, k, vec![Fault::SlowReplies { ms: 5 }])).unwrap();
        devices.plug(DeviceInfo::simulated(k, devnode(k)));
    }
    let (mut running, mut most, mut passed) = (0usize, 0usize, 0usize);
    let deadline = tokio::time::Instant::now() + LIMIT;
    while passed < 5 {
        match tokio::time::timeout_at(deadline, events.recv()).await.expect("results within the limit").unwrap() {
            StationEvent::JobStarted { .. } => {
                running += 1;
                most = most.max(running);
            }
            StationEvent::Finished { outcome, .. } => {
                running -= 1;
                assert_eq!(outcome, Outcome::Pass);
                passed += 1;
            }
            _ => {}
        }
    }
    assert_eq!(most, 2, "max_jobs = 2");
    station.control.send(Control::Shutdown).await.unwrap();
    let _ = tokio::time::timeout(LIMIT, station.wait()).await.unwrap();
    drop(devices);
}

/// `[recovery] power_cycle = "uhubctl"`: a board that answers nothing gets its hub port
/// power-cycled with `uhubctl -l HUB -p PORT -a cycle` (a fake uhubctl on `PATH` records
/// its arguments), the row is recorded as the connect failure it was, and the reason says
/// what was done. A board that answers is never cycled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_board_that_does_not_answer_is_power_cycled_when_configured() {
    let bin = tempfile::tempdir().unwrap();
    let calls = bin.path().join("calls");
    let fake = bin.path().join("uhubctl");
    std::fs::write(&fake, format!("#!/bin/sh\necho \"$@\" >> '{}'\n", calls.display())).unwrap();
    std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let path = format!("{}:{}", bin.path().display(), std::env::var("PATH").unwrap_or_default());
    // No other test of this binary runs a program by name.
    std::env::set_var("PATH", path);

    let rig = rig_with(2, 2, "[recovery]\npower_cycle = \"uhubctl\"\n").await;
    let boards = vec![
        board(Chip::Esp32, 0, Vec::new()),
        board(Chip::Esp32, 1, vec![Fault::NotDownload(flashline_sim::BootNoise::Silent)]),
    ];
    let (finished, _) = run(&rig, boards, &[]).await;
    assert_eq!(finished["A1"], Outcome::Pass);
    match &finished["A2"] {
        Outcome::Fail { stage, reason } => {
            assert_eq!(stage, "connect");
            assert!(reason.contains("power-cycled the hub port (uhubctl -l 0 -p 1 -a cycle)"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    let calls = std::fs::read_to_string(&calls).unwrap();
    assert_eq!(calls, "-l 0 -p 1 -a cycle\n", "one cycle, of the silent board's port only");
}

/// A board whose flash has a sector that never erases (worn-out cells), under a golden
/// image that is 0xFF there and a board that holds other bytes there: the re-flash cannot
/// erase it, the board fails in the erase stage with a reason naming the sector and what
/// to do, and its audit row says the same. The healthy board beside it passes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sector_that_never_erases_fails_the_board_in_erase_naming_it() {
    const LEN: usize = 0x40000;
    const STUCK: u32 = 0x31000;
    let rig =
        support_station::rig_merged("fl-duplex-", Chip::Esp32, 2, 2, "baud = 921600\nafter = \"no-reset\"\n", LEN)
            .await;
    let golden = rig.ctx.plan.images.single().expect("one image").image.regions()[0].data.clone();
    assert!(golden[STUCK as usize..STUCK as usize + 0x1000].iter().all(|&b| b == 0xFF), "0xFF in the image");
    // Both boards hold older firmware: the image, and other bytes in the block of the sector.
    let mut older = golden.clone();
    for (i, b) in older[0x30000..0x40000].iter_mut().enumerate() {
        *b = (i as u8).wrapping_mul(13) ^ 0x5A;
    }
    let files = tempfile::tempdir().unwrap();
    let with_flash = |k: u32, faults: Vec<Fault>| {
        let mut content = vec![0xFFu8; 4 << 20];
        content[..LEN].copy_from_slice(&older);
        let file = files.path().join(format!("board{k}.bin"));
        std::fs::write(&file, &content).unwrap();
        let mut cfg = board(Chip::Esp32, k, faults);
        cfg.flash_file = Some(file);
        cfg
    };
    let boards = vec![with_flash(0, Vec::new()), with_flash(1, vec![Fault::StuckSector { addr: STUCK }])];
    let (finished, handles) = run(&rig, boards, &[]).await;

    assert_eq!(finished["A1"], Outcome::Pass);
    assert!(flash_matches(&rig, &handles[0]));
    let reason = match &finished["A2"] {
        Outcome::Fail { stage, reason } => {
            assert_eq!(stage, "erase", "{reason}");
            reason.clone()
        }
        other => panic!("a flash that does not erase: {other:?}"),
    };
    assert!(
        reason.contains("flash sector at 0x00031000 still does not read blank after 3 erases")
            && reason.contains("reject the board"),
        "{reason}"
    );
    assert_eq!(handles[1].stats().stuck_erases, 4, "the range's erase, then three of the sector alone");

    let rows = rig.ctx.store.query(&AttemptFilter::default()).await.unwrap();
    let row = rows.iter().find(|r| r.slot == "A2").expect("a row for the board");
    assert_eq!(row.result, AttemptResult::Fail);
    assert_eq!(row.failure_stage.as_deref(), Some("erase"));
    assert_eq!(row.failure_reason.as_deref(), Some(reason.as_str()), "the row says what the station said");
    assert!(rows.iter().any(|r| r.slot == "A1" && r.result == AttemptResult::Pass));
}
