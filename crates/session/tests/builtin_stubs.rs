//! The built-in flasher stubs need nothing installed: simulated ESP8266 and ESP32 boards
//! are flashed and MD5-verified through them with no Python, esptool or stub directory
//! reachable. A configured stub directory still replaces them.

mod common;

use base64::Engine;
use common::*;
use flashline_session::stub::{builtin, STUB_DIR_ENV};
use flashline_session::*;
use md5::{Digest, Md5};
use std::sync::Arc;

const FLASH: usize = 4 << 20;

fn config(stubs: StubSet) -> FlasherConfig {
    FlasherConfig {
        before: BeforeReset::NoReset,
        stubs: Some(Arc::new(stubs)),
        connect_attempts: 3,
        ..Default::default()
    }
}

/// Leaves no way to a Python esptool: `PATH` and `HOME` point into an empty directory
/// (also the working directory), and the stub and Python variables are unset.
fn strip_python_from_environment() -> tempfile::TempDir {
    let empty = tempfile::tempdir().unwrap();
    std::env::set_var("PATH", empty.path());
    std::env::set_var("HOME", empty.path());
    for v in [STUB_DIR_ENV, "VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "FLASHLINE_ESPTOOL"] {
        std::env::remove_var(v);
    }
    std::env::set_current_dir(empty.path()).unwrap();
    empty
}

#[tokio::test]
async fn esp8266_and_esp32_flash_and_verify_without_python() {
    let _empty = strip_python_from_environment();
    for tool in ["python3", "python", "esptool"] {
        assert!(std::process::Command::new(tool).output().is_err(), "{tool} is still reachable");
    }
    let stubs = StubSet::resolve(None).unwrap();
    assert_eq!(stubs.source(), &StubSource::BuiltIn);
    let config = config(stubs);

    for chip in [Chip::Esp8266, Chip::Esp32] {
        let (t, sim) = duplex_board(chip, Vec::new());
        let mut f = Flasher::connect(t, &config, Progress::none(), CancellationToken::new())
            .await
            .unwrap_or_else(|e| panic!("connect {chip}: {e}"));
        assert!(f.is_stub(), "{chip}: the built-in stub is not running");
        assert_eq!(sim.stats().stub_starts, 1, "{chip}");

        let regions = sample_image(7, 64 * 1024);
        let image = prepared(&regions);
        let report = f.write(&image, &WriteOptions::default()).await.unwrap_or_else(|e| panic!("write {chip}: {e}"));
        assert!(report.regions.iter().all(|r| r.verified), "{chip}: not every region MD5-verified: {report:?}");
        assert_eq!(sim.flash(), expected_flash(&regions, FLASH), "{chip}");
        // The on-chip MD5 (which the ESP8266 ROM loader cannot compute) agrees with the host's.
        for r in &regions {
            let md5 = f.flash_md5(r.offset, r.data.len() as u32).await.unwrap_or_else(|e| panic!("{chip} MD5: {e}"));
            let want: [u8; 16] = Md5::digest(&r.data).into();
            assert_eq!(md5, want, "{chip} 0x{:x}", r.offset);
        }
        f.finish(After::NoReset).await.unwrap();
    }
}

/// The built-in ESP32 stub with 256 bytes of unreachable code appended: valid, and
/// recognisably not the built-in one.
fn padded_esp32_stub() -> String {
    let json = builtin::files().find(|(n, _)| *n == "esp32").unwrap().1;
    let mut v: serde_json::Value = serde_json::from_str(json).unwrap();
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut text = b64.decode(v["text"].as_str().unwrap()).unwrap();
    text.extend_from_slice(&[0u8; 256]);
    v["text"] = b64.encode(&text).into();
    v.to_string()
}

#[tokio::test]
async fn a_configured_stub_directory_replaces_the_builtin_stubs() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("esp32.json"), padded_esp32_stub()).unwrap();
    let set = StubSet::resolve(Some(dir.path())).unwrap();
    assert_eq!(set.source(), &StubSource::Dir(dir.path().to_path_buf()));
    let ours = set.get(Chip::Esp32).unwrap();
    let builtin_len = StubSet::builtin().get(Chip::Esp32).unwrap().text.len();
    assert_eq!(ours.text.len(), builtin_len + 256);
    let upload = (ours.text.len() + ours.data.len()) as u64;
    // The directory is the whole set: no built-in ESP8266 stub behind it.
    assert!(matches!(set.get(Chip::Esp8266), Err(Error::StubMissingChip { .. })));

    let (progress, mut events) = Progress::channel();
    let (t, sim) = duplex_board(Chip::Esp32, Vec::new());
    let f = Flasher::connect(t, &config(set), progress, CancellationToken::new()).await.unwrap();
    assert!(f.is_stub());
    assert_eq!(sim.stats().stub_starts, 1);
    let mut last = None;
    while let Ok(e) = events.try_recv() {
        if e.stage == Stage::Stub && e.total > 0 {
            last = Some((e.done, e.total));
        }
    }
    assert_eq!(last, Some((upload, upload)), "the board did not receive the directory's stub");
    f.finish(After::NoReset).await.unwrap();
}
