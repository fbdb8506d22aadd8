//! `flashline config check`: a station config and everything it names are validated
//! without starting the daemon, with the daemon's exit codes.

use std::path::Path;
use std::process::Command;

use flashline_protocol::Chip;

fn check(config: &Path) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_flashline")).args(["config", "check"]).arg(config).output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.code().unwrap_or(-1), text)
}

fn write_config(dir: &Path, manifest: &Path, sha: &str, db: &Path) -> std::path::PathBuf {
    let text = format!(
        "station = \"st1\"\ndatabase = \"{}\"\n[image]\nmanifest = \"{}\"\nsha256 = \"{sha}\"\nchip = \"esp32\"\n",
        db.display(),
        manifest.display()
    );
    let path = dir.join("station.toml");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn a_good_config_passes_and_each_fault_has_its_exit_code() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = flashline::cli::sample::write_sample(&dir.path().join("image"), Chip::Esp32, 32 * 1024).unwrap();
    let image =
        flashline::image::GoldenImage::load(&flashline::image::ImageSource::Manifest(manifest.clone())).unwrap();
    let sha = image.sha256().to_hex();
    let db = dir.path().join("audit.db");

    let (code, out) = check(&write_config(dir.path(), &manifest, &sha, &db));
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(": ok") && out.contains("will be created at the first start"), "{out}");
    assert!(!db.exists(), "a check creates no database");

    let out = Command::new(env!("CARGO_BIN_EXE_flashline"))
        .args(["config", "check", "--format", "json"])
        .arg(write_config(dir.path(), &manifest, &sha, &db))
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((v["ok"].as_bool(), v["image_sha256"].as_str()), (Some(true), Some(sha.as_str())));

    let (code, out) = check(&write_config(dir.path(), &manifest, &"0".repeat(64), &db));
    assert_eq!(code, 3, "a changed image is an image error: {out}");

    let (code, out) = check(&write_config(dir.path(), &manifest, &sha, &dir.path().join("missing/audit.db")));
    assert_eq!(code, 4, "{out}");
    assert!(out.contains("does not exist"), "{out}");

    std::fs::write(dir.path().join("bad.toml"), "station = 12\n").unwrap();
    let (code, out) = check(&dir.path().join("bad.toml"));
    assert_eq!(code, 2, "{out}");
}

/// A station of several chips: every image is checked and listed with its chip, as text
/// and in the JSON report's `images`; a wrong pin on any of them is an image error.
#[test]
fn a_config_of_several_chips_lists_every_image() {
    let dir = tempfile::tempdir().unwrap();
    let mut tables = String::new();
    let mut shas = Vec::new();
    for chip in [Chip::Esp32, Chip::Esp32C3] {
        let manifest =
            flashline::cli::sample::write_sample(&dir.path().join(chip.file_name()), chip, 32 * 1024).unwrap();
        let image =
            flashline::image::GoldenImage::load(&flashline::image::ImageSource::Manifest(manifest.clone())).unwrap();
        let sha = image.sha256().to_hex();
        tables.push_str(&format!(
            "[images.{}]\nmanifest = \"{}\"\nsha256 = \"{sha}\"\n",
            chip.file_name(),
            manifest.display()
        ));
        shas.push(sha);
    }
    let path = dir.path().join("station.toml");
    let head = format!("station = \"st1\"\ndatabase = \"{}\"\n", dir.path().join("audit.db").display());
    std::fs::write(&path, format!("{head}{tables}")).unwrap();

    let (code, out) = check(&path);
    assert_eq!(code, 0, "{out}");
    for (sha, chip) in shas.iter().zip(["chip ESP32\n", "chip ESP32-C3\n"]) {
        assert!(out.lines().any(|l| l.contains(sha.as_str()) && format!("{l}\n").ends_with(chip)), "{out}");
    }

    let out = Command::new(env!("CARGO_BIN_EXE_flashline"))
        .args(["config", "check", "--format", "json"])
        .arg(&path)
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["images"][0]["chip"], "esp32");
    assert_eq!(v["images"][1]["chip"], "esp32c3");
    assert_eq!(v["images"][1]["image_sha256"].as_str(), Some(shas[1].as_str()));
    assert!(v["image_sha256"].is_null(), "no one image at the top level: {v}");

    std::fs::write(&path, format!("{head}{}", tables.replace(&shas[1], &"0".repeat(64)))).unwrap();
    let (code, out) = check(&path);
    assert_eq!(code, 3, "a changed image is an image error: {out}");
}
