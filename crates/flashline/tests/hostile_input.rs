//! The `flashline` binary against hostile configs and image descriptions: each must stop
//! with its exit code and an escaped message, before a database is opened or a board is
//! touched, and without hanging on a device or FIFO.

use std::os::unix::fs::symlink;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use flashline::exit::Exit;

const DIGEST: &str = "1b045c75f74b6425888da62284cb52a484ad4199300e9cbba17793fccfcadc98";
/// Long enough for a debug build on a loaded machine; a daemon that did not refuse its
/// input is still running by then.
const TIMEOUT: Duration = Duration::from_secs(30);

/// One run of `flashline ARGS` in `dir`; a run still going after [`TIMEOUT`] is killed
/// and fails the test.
fn flashline(dir: &Path, args: &[&str]) -> (Exit, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_flashline"))
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn flashline");
    let t0 = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if t0.elapsed() > TIMEOUT {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!("flashline {args:?} still running after {TIMEOUT:?}: the input was not refused");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    let code = status.code().unwrap_or(-1);
    let exit = Exit::from_code(code).unwrap_or_else(|| panic!("exit status {code}: {stderr}"));
    (exit, stderr)
}

/// `flashline run --config flashline.toml` (a relative path) in `dir` with `config` written
/// there, next to a manifest naming `golden/app.bin`.
fn run_with(dir: &Path, config: &str) -> (Exit, String) {
    std::fs::create_dir_all(dir.join("golden")).unwrap();
    std::fs::write(dir.join("flashline.toml"), config).unwrap();
    flashline(dir, &["run", "--config", "flashline.toml"])
}

fn config(top: &str, image: &str, slots: &str) -> String {
    format!(
        "station = \"st1\"\n{top}\n[image]\nmanifest = \"golden/manifest.toml\"\nsha256 = \"{DIGEST}\"\n\
         chip = \"esp32\"\n{image}\n[slots]\n{slots}\n"
    )
}

/// A manifest at `path` naming one region file.
fn manifest(path: &Path, offset: u32, file: &str) {
    let body = format!("format = 1\nchip = \"esp32\"\n[[region]]\noffset = {offset}\nfile = \"{file}\"\n");
    std::fs::write(path, body).unwrap();
}

#[test]
fn config_errors_stop_the_daemon_with_escaped_messages() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();

    // An empty database would be SQLite's temporary one: every audit row lost at exit.
    let (exit, err) = run_with(d, &config("database = \"\"", "", ""));
    assert_eq!(exit, Exit::Config, "{err}");
    assert!(err.contains("flashline.toml:2:12: database: the path is empty"), "{err}");

    let (exit, err) = run_with(d, &config("", "", "").replace("\"st1\"", "\"line\\u001b]0;pwned\\u0007\""));
    assert_eq!(exit, Exit::Config, "{err}");
    assert!(err.contains("station: 'line\\x1b]0;pwned\\x07' is not a usable station id"), "{err}");
    assert!(!err.contains('\u{1b}') && !err.contains('\u{7}'), "raw escapes reach the terminal: {err:?}");

    let (exit, err) = run_with(d, &config("", "", "\"A\\u001b[31mRED\" = \"1-2.1\""));
    assert_eq!(exit, Exit::Config, "{err}");
    assert!(err.contains("[slots] A\\x1b[31mRED: slot name"), "{err}");
    assert!(!err.contains('\u{1b}'), "{err:?}");

    let (exit, err) = run_with(d, &config("", "", "A1 = \"typo\""));
    assert_eq!(exit, Exit::Config, "{err}");
    assert!(err.contains("[slots] A1: 'typo' is not a USB location: use udev's ID_PATH"), "{err}");

    let (exit, err) = run_with(d, &config("", "", "A1 = 12"));
    assert_eq!(exit, Exit::Config, "{err}");
    assert!(err.contains("[slots] A1: expected a string"), "{err}");
}

#[test]
fn image_errors_stop_the_daemon_before_reading_without_end() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir_all(d.join("golden")).unwrap();
    symlink("/dev/zero", d.join("golden/zero.bin")).unwrap();

    // By default a link out of the manifest's directory is not followed...
    manifest(&d.join("golden/manifest.toml"), 0x10000, "zero.bin");
    let (exit, err) = run_with(d, &config("", "", ""));
    assert_eq!(exit, Exit::Image, "{err}");
    assert!(err.contains("resolves to /dev/zero, outside"), "{err}");

    // ...and when allowed, a device is still not read.
    let (exit, err) = run_with(d, &config("", "allow_outside = true", ""));
    assert_eq!(exit, Exit::Image, "{err}");
    assert!(err.contains("zero.bin (named in") && err.contains("is a character device, not a regular file"), "{err}");

    // A region beyond any ESP32's flash, with no min_flash_size set.
    std::fs::write(d.join("golden/app.bin"), [0x11u8; 0x1000]).unwrap();
    manifest(&d.join("golden/manifest.toml"), 0x100_0000, "app.bin");
    let (exit, err) = run_with(d, &config("", "", ""));
    assert_eq!(exit, Exit::Image, "{err}");
    assert!(err.contains("app.bin at 0x1000000 ends at 0x1001000, beyond 16MB"), "{err}");
}

#[test]
fn flash_keeps_manifest_regions_in_the_manifest_directory() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir_all(d.join("img")).unwrap();
    std::fs::write(d.join("secret.bin"), b"not firmware").unwrap();
    manifest(&d.join("img/manifest.toml"), 0x10000, "../secret.bin");
    let no_port = d.join("no-such-port");
    let port = no_port.to_str().unwrap();

    let (exit, err) = flashline(d, &["flash", "--port", port, "img/manifest.toml"]);
    assert_eq!(exit, Exit::Image, "{err}");
    assert!(err.contains("secret.bin, outside"), "{err}");

    // OFFSET FILE pairs are the user's own choice: any path, checked only for being a file.
    let secret = d.join("secret.bin");
    let (exit, err) = flashline(d, &["flash", "--port", port, "0x10000", secret.to_str().unwrap()]);
    assert_eq!(exit, Exit::Port, "the image loads and the missing port stops it: {err}");
    let (exit, err) = flashline(d, &["flash", "--port", port, "0x10000", "/dev/zero"]);
    assert_eq!(exit, Exit::Image, "{err}");
    assert!(err.contains("is a character device, not a regular file"), "{err}");
}
