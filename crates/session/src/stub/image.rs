//! Loading flasher stub images.
//!
//! The stubs are not part of this repository: they come from esptool's PyPI package, which
//! ships the esp-flasher-stub builds (Apache-2.0 OR MIT) as JSON files in
//! `esptool/targets/stub_flasher/2/<chip>.json` with the keys `entry`, `text` (base64),
//! `text_start`, `data` (base64), `data_start` and `bss_start`. [`StubSet::discover`] finds
//! an installed esptool; [`StubSet::from_dir`] reads a configured directory.

use crate::error::{Error, Result};
use base64::Engine;
use flashline_protocol::Chip;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Sub-path of an installed esptool holding the v2 stubs.
const STUB_SUBDIR: &str = "esptool/targets/stub_flasher/2";
/// Environment variable naming a stub directory (or a prefix to search for esptool in).
pub const STUB_DIR_ENV: &str = "FLASHLINE_STUB_DIR";

/// One stub image, ready to upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StubImage {
    pub entry: u32,
    pub text: Vec<u8>,
    pub text_start: u32,
    pub data: Vec<u8>,
    pub data_start: u32,
    pub bss_start: Option<u32>,
}

#[derive(serde::Deserialize)]
struct StubJson {
    entry: u32,
    text: String,
    text_start: u32,
    #[serde(default)]
    data: Option<String>,
    #[serde(default)]
    data_start: Option<u32>,
    #[serde(default)]
    bss_start: Option<u32>,
}

impl StubImage {
    /// Parses esptool's stub JSON format.
    pub fn from_json(text: &str) -> std::result::Result<Self, String> {
        let j: StubJson = serde_json::from_str(text).map_err(|e| format!("not stub JSON: {e}"))?;
        let b64 = base64::engine::general_purpose::STANDARD;
        let code = b64.decode(j.text.as_bytes()).map_err(|e| format!("`text` is not base64: {e}"))?;
        if code.is_empty() {
            return Err("`text` is empty".into());
        }
        let data = match &j.data {
            Some(d) => b64.decode(d.as_bytes()).map_err(|e| format!("`data` is not base64: {e}"))?,
            None => Vec::new(),
        };
        if !data.is_empty() && j.data_start.is_none() {
            return Err("`data` without `data_start`".into());
        }
        let text_end = j.text_start as u64 + code.len() as u64;
        if (j.entry as u64) < j.text_start as u64 || j.entry as u64 >= text_end {
            return Err(format!("entry 0x{:08x} lies outside the text segment", j.entry));
        }
        Ok(Self {
            entry: j.entry,
            text: code,
            text_start: j.text_start,
            data,
            data_start: j.data_start.unwrap_or(0),
            bss_start: j.bss_start,
        })
    }

    /// Reads and parses one JSON file.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::StubInvalid { path: path.to_path_buf(), reason: e.to_string() })?;
        Self::from_json(&text).map_err(|reason| Error::StubInvalid { path: path.to_path_buf(), reason })
    }

    /// Segments to load, text first, as (address, bytes).
    pub fn segments(&self) -> impl Iterator<Item = (u32, &[u8])> {
        [(self.text_start, &self.text[..]), (self.data_start, &self.data[..])]
            .into_iter()
            .filter(|(_, d)| !d.is_empty())
    }
}

/// The stubs of one directory, loaded once and shared by every board.
#[derive(Debug, Clone)]
pub struct StubSet {
    dir: PathBuf,
    images: HashMap<Chip, StubImage>,
}

impl StubSet {
    /// Loads the stubs for the chips flashline drives (ESP32, ESP8266, and the S2/S3/C3
    /// files when present) from `dir`. Fails if the directory holds none of them.
    pub fn from_dir(dir: &Path) -> Result<Self> {
        let mut images = HashMap::new();
        for chip in Chip::ALL {
            let p = dir.join(format!("{}.json", chip.file_name()));
            if p.is_file() {
                images.insert(chip, StubImage::load(&p)?);
            }
        }
        if images.is_empty() {
            return Err(Error::StubNotFound { searched: dir.display().to_string() });
        }
        Ok(Self { dir: dir.to_path_buf(), images })
    }

    /// Finds an installed esptool's stub directory (see [`candidate_dirs`]) and loads it.
    pub fn discover() -> Result<Self> {
        let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
        let exe = std::env::current_exe().ok();
        let candidates = candidate_dirs(
            std::env::var_os(STUB_DIR_ENV).map(PathBuf::from),
            &cwd,
            exe.as_deref(),
            python_esptool_dir(),
        );
        for dir in &candidates {
            if dir.join("esp32.json").is_file() || dir.join("esp8266.json").is_file() {
                tracing::info!(dir = %dir.display(), "using flasher stubs");
                return Self::from_dir(dir);
            }
        }
        let searched = candidates.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ");
        Err(Error::StubNotFound { searched: if searched.is_empty() { "nowhere".into() } else { searched } })
    }

    /// The directory the stubs came from.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The stub for `chip`.
    pub fn get(&self, chip: Chip) -> Result<&StubImage> {
        self.images.get(&chip).ok_or_else(|| Error::StubMissingChip { chip, dir: self.dir.clone() })
    }
}

/// `<prefix>/lib/python3.*/site-packages/esptool/...` directories under `prefix`.
fn site_packages_under(prefix: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for lib in ["lib", "lib64"] {
        let Ok(entries) = std::fs::read_dir(prefix.join(lib)) else { continue };
        let mut pys: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("python3")))
            .collect();
        pys.sort();
        for py in pys {
            for sp in ["site-packages", "dist-packages"] {
                out.push(py.join(sp).join(STUB_SUBDIR));
            }
        }
    }
    out
}

/// The esptool package directory that `python3` imports, if any.
fn python_esptool_dir() -> Option<PathBuf> {
    let out = std::process::Command::new("python3")
        .args(["-c", "import os, esptool; print(os.path.dirname(esptool.__file__))"])
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let p = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    p.is_dir().then_some(p)
}

/// Where to look for stub JSON files, in order: `$FLASHLINE_STUB_DIR` (the directory
/// itself, or an esptool installation under it), a `.venv` in `cwd` or any ancestor, a
/// `.venv` in an ancestor of the running executable `exe` (the workspace of a
/// `target/debug/flashline`, whatever the working directory), the esptool that `python3`
/// imports, then common system and user site-packages. Each directory appears once.
pub fn candidate_dirs(
    env_dir: Option<PathBuf>,
    cwd: &Path,
    exe: Option<&Path>,
    python_pkg: Option<PathBuf>,
) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Some(d) = env_dir {
        out.push(d.clone());
        out.push(d.join(STUB_SUBDIR));
        out.extend(site_packages_under(&d));
    }
    for anc in cwd.ancestors() {
        out.extend(site_packages_under(&anc.join(".venv")));
    }
    for anc in exe.and_then(Path::parent).into_iter().flat_map(Path::ancestors) {
        out.extend(site_packages_under(&anc.join(".venv")));
    }
    if let Some(pkg) = python_pkg {
        out.push(pkg.join("targets/stub_flasher/2"));
    }
    for prefix in ["/usr/local", "/usr"] {
        out.extend(site_packages_under(Path::new(prefix)));
    }
    out.push(PathBuf::from("/usr/lib/python3/dist-packages").join(STUB_SUBDIR));
    if let Some(home) = std::env::var_os("HOME") {
        out.extend(site_packages_under(&PathBuf::from(home).join(".local")));
    }
    let mut seen = std::collections::HashSet::new();
    out.retain(|p| seen.insert(p.clone()));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(entry: u32) -> String {
        let b = base64::engine::general_purpose::STANDARD;
        format!(
            r#"{{"entry": {entry}, "text": "{}", "text_start": 1074429952, "data": "{}", "data_start": 1073605996, "bss_start": 1073528832}}"#,
            b.encode([1u8, 2, 3, 4, 5, 6, 7, 8]),
            b.encode([9u8, 10])
        )
    }

    #[test]
    fn parses_esptool_format() {
        let s = StubImage::from_json(&json(1074429956)).unwrap();
        assert_eq!(s.text, vec![1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(s.data, vec![9, 10]);
        assert_eq!(s.text_start, 0x400A_8000);
        assert_eq!(s.data_start, 0x3FFD_ED6C);
        assert_eq!(s.bss_start, Some(0x3FFC_C000));
        let segs: Vec<_> = s.segments().map(|(a, d)| (a, d.len())).collect();
        assert_eq!(segs, vec![(0x400A_8000, 8), (0x3FFD_ED6C, 2)]);
    }

    #[test]
    fn rejects_bad_files() {
        assert!(StubImage::from_json("{}").is_err());
        assert!(StubImage::from_json(&json(0x1000)).unwrap_err().contains("outside the text"));
        assert!(StubImage::from_json(r#"{"entry":1,"text":"***","text_start":0}"#).unwrap_err().contains("base64"));
    }

    #[test]
    fn dir_loading_and_missing_chip() {
        let d = tempfile::tempdir().unwrap();
        assert!(matches!(StubSet::from_dir(d.path()), Err(Error::StubNotFound { .. })));
        std::fs::write(d.path().join("esp32.json"), json(1074429956)).unwrap();
        let set = StubSet::from_dir(d.path()).unwrap();
        assert_eq!(set.get(Chip::Esp32).unwrap().entry, 1074429956);
        let e = set.get(Chip::Esp8266).unwrap_err();
        assert!(e.to_string().contains("ESP8266"), "{e}");
        std::fs::write(d.path().join("esp8266.json"), "not json").unwrap();
        assert!(matches!(StubSet::from_dir(d.path()), Err(Error::StubInvalid { .. })));
    }

    #[test]
    fn candidates_include_venv_in_ancestors() {
        let root = tempfile::tempdir().unwrap();
        let stub = root.path().join(".venv/lib/python3.11/site-packages").join(STUB_SUBDIR);
        std::fs::create_dir_all(&stub).unwrap();
        let deep = root.path().join("a/b/c");
        std::fs::create_dir_all(&deep).unwrap();
        let c = candidate_dirs(None, &deep, None, None);
        assert!(c.contains(&stub), "{c:?}");
        let env = root.path().join("envdir");
        let c = candidate_dirs(Some(env.clone()), &deep, None, None);
        assert_eq!(c[0], env);
    }

    #[test]
    fn candidates_include_venv_next_to_the_executable() {
        let ws = tempfile::tempdir().unwrap();
        let stub = ws.path().join(".venv/lib/python3.11/site-packages").join(STUB_SUBDIR);
        std::fs::create_dir_all(&stub).unwrap();
        let exe = ws.path().join("target/debug/flashline");
        let elsewhere = tempfile::tempdir().unwrap();
        assert!(!candidate_dirs(None, elsewhere.path(), None, None).contains(&stub));
        let c = candidate_dirs(None, elsewhere.path(), Some(&exe), None);
        assert!(c.contains(&stub), "{c:?}");
        // Found through both the working directory and the executable: listed once.
        let c = candidate_dirs(None, &ws.path().join("target"), Some(&exe), None);
        assert_eq!(c.iter().filter(|p| **p == stub).count(), 1, "{c:?}");
    }

    /// The stubs of the pinned esptool must load when it is installed in the workspace.
    #[test]
    fn real_esptool_stubs_load_when_installed() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).ancestors().nth(2).unwrap().to_path_buf();
        let cands = candidate_dirs(None, &root, None, None);
        let Some(dir) = cands.iter().find(|d| d.join("esp32.json").is_file()) else {
            panic!("no esptool stubs under {}: run scripts/setup-esptool.sh", root.display());
        };
        let set = StubSet::from_dir(dir).unwrap();
        let esp32 = set.get(Chip::Esp32).unwrap();
        assert_eq!(esp32.text_start, Chip::Esp32.spec().stub_v2.text_start);
        let esp8266 = set.get(Chip::Esp8266).unwrap();
        assert_eq!(esp8266.text_start, Chip::Esp8266.spec().stub_v2.text_start);
    }
}
