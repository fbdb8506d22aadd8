//! Runs Espressif's NVS partition generator (esp-idf-nvs-partition-gen, pinned in
//! `scripts/setup.sh`) from the workspace's `.venv`, and writes generator CSVs.
//!
//! Without `.venv` the tests that need it skip with a message, except under `CI=true`,
//! where a missing generator fails them; a `.venv` without the pinned generator always
//! fails, naming the command that installs it.

use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine as _;
use flashline_nvs::{Item, Value};

/// The generator version `scripts/setup.sh` pins.
pub const NVS_GEN_VERSION: &str = "0.3.0";

/// The pinned generator, ready to run.
pub struct Official {
    python: PathBuf,
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).ancestors().nth(2).expect("crates/nvs is two levels deep").to_path_buf()
}

/// The generator, or `None` (after saying so) when the venv is absent outside CI.
pub fn official() -> Option<Official> {
    let python = std::env::var_os("FLASHLINE_NVS_GEN_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join(".venv/bin/python"));
    if !python.exists() {
        let ci = std::env::var("CI").is_ok_and(|v| v == "true");
        assert!(
            !ci,
            "{} not found under CI: run scripts/setup.sh (installs esp-idf-nvs-partition-gen=={NVS_GEN_VERSION} into .venv)",
            python.display()
        );
        eprintln!(
            "skipped: {} not found; run scripts/setup.sh to compare with esp-idf-nvs-partition-gen",
            python.display()
        );
        return None;
    }
    let out = Command::new(&python)
        .args(["-c", "import importlib.metadata as m; print(m.version('esp-idf-nvs-partition-gen'))"])
        .output()
        .expect("run the venv's python");
    let version = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert!(
        out.status.success() && version == NVS_GEN_VERSION,
        "{} has esp-idf-nvs-partition-gen {version:?}, not {NVS_GEN_VERSION} ({}): run scripts/setup.sh",
        python.display(),
        String::from_utf8_lossy(&out.stderr).trim()
    );
    Some(Official { python })
}

/// A CSV and the files its `file` rows name.
pub struct CsvCase {
    pub csv: String,
    pub files: Vec<(String, Vec<u8>)>,
}

impl Official {
    /// The official generator's image for `case` in a partition of `size` bytes, or its
    /// complaint when it refuses (non-zero exit or no image written).
    pub fn generate(&self, case: &CsvCase, size: usize) -> Result<Vec<u8>, String> {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("in.csv"), &case.csv).expect("write csv");
        for (name, bytes) in &case.files {
            std::fs::write(dir.path().join(name), bytes).expect("write value file");
        }
        let out = Command::new(&self.python)
            .current_dir(dir.path())
            .args(["-m", "esp_idf_nvs_partition_gen", "generate", "in.csv", "out.bin", &format!("{size:#x}")])
            .output()
            .expect("run esp_idf_nvs_partition_gen");
        let image = std::fs::read(dir.path().join("out.bin")).unwrap_or_default();
        if out.status.success() && !image.is_empty() {
            Ok(image)
        } else {
            Err(format!(
                "exit {:?}: {}{}",
                out.status.code(),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    }
}

/// Writes `items` as a generator CSV: blobs alternate between hex2bin, base64 and files.
pub fn to_csv(items: &[Item]) -> CsvCase {
    let mut csv = String::from("key,type,encoding,value\n");
    let mut files = Vec::new();
    let mut current: Option<&str> = None;
    let mut blobs = 0usize;
    for item in items {
        let entry = match item {
            Item::Namespace(name) => {
                csv.push_str(&format!("{name},namespace,,\n"));
                current = Some(name.as_str());
                continue;
            }
            Item::Entry(entry) => entry,
        };
        if current != Some(entry.namespace.as_str()) {
            csv.push_str(&format!("{},namespace,,\n", entry.namespace));
            current = Some(entry.namespace.as_str());
        }
        let key = &entry.key;
        let row = match &entry.value {
            Value::U8(v) => format!("data,u8,{v}"),
            Value::I8(v) => format!("data,i8,{v}"),
            Value::U16(v) => format!("data,u16,{v}"),
            Value::I16(v) => format!("data,i16,{v}"),
            Value::U32(v) => format!("data,u32,{v}"),
            Value::I32(v) => format!("data,i32,{v}"),
            Value::U64(v) => format!("data,u64,{v}"),
            Value::I64(v) => format!("data,i64,{v}"),
            Value::Str(s) => format!("data,string,\"{}\"", s.replace('"', "\"\"")),
            Value::Blob(b) => {
                blobs += 1;
                match blobs % 3 {
                    0 => format!("data,hex2bin,{}", hex(b)),
                    1 => format!("data,base64,{}", base64::engine::general_purpose::STANDARD.encode(b)),
                    _ => {
                        let name = format!("blob{blobs}.bin");
                        files.push((name.clone(), b.clone()));
                        format!("file,binary,{name}")
                    }
                }
            }
        };
        csv.push_str(&format!("{key},{row}\n"));
    }
    CsvCase { csv, files }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Panics, naming the first differing page and entry, unless the images are equal.
pub fn assert_same(ours: &[u8], theirs: &[u8], what: &str) {
    if ours == theirs {
        return;
    }
    let at = ours.iter().zip(theirs).position(|(a, b)| a != b).unwrap_or(ours.len().min(theirs.len()));
    let (page, within) = (at / 4096, at % 4096);
    let place = if within < 64 { "header/bitmap".to_owned() } else { format!("entry {}", (within - 64) / 32) };
    let show = |b: &[u8]| hex(&b[at.min(b.len())..(at + 16).min(b.len())]);
    panic!(
        "{what}: images differ (ours {} bytes, official {} bytes) first at {at:#x} (page {page}, {place}): ours {} official {}",
        ours.len(),
        theirs.len(),
        show(ours),
        show(theirs)
    );
}
