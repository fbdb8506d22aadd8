//! Which stub set a station or command uses: a configured directory wins, then
//! `$FLASHLINE_STUB_DIR`, otherwise the built-in stubs. Nothing is searched for: what
//! runs is either what was compiled in or what the operator named.

use super::set::StubSet;
use crate::error::Result;
use std::path::{Path, PathBuf};

/// Environment variable naming a stub directory that replaces the built-in stubs.
pub const STUB_DIR_ENV: &str = "FLASHLINE_STUB_DIR";

impl StubSet {
    /// The stubs to use: `configured` (`[flash] stub_dir`, `--stub-dir`) if given, else
    /// `$FLASHLINE_STUB_DIR` if set and non-empty, else [`StubSet::builtin`]. A named
    /// directory that cannot be loaded is an error, never a silent fallback.
    pub fn resolve(configured: Option<&Path>) -> Result<StubSet> {
        match override_dir(configured, std::env::var_os(STUB_DIR_ENV).map(PathBuf::from)) {
            Some(dir) => {
                let set = StubSet::from_dir(&dir)?;
                tracing::info!(dir = %dir.display(), "flasher stubs from a directory (instead of the built-in ones)");
                Ok(set)
            }
            None => Ok(StubSet::builtin()),
        }
    }
}

/// The directory that replaces the built-in stubs, if any.
fn override_dir(configured: Option<&Path>, env: Option<PathBuf>) -> Option<PathBuf> {
    configured.map(Path::to_path_buf).or_else(|| env.filter(|d| !d.as_os_str().is_empty()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stub::StubSource;

    #[test]
    fn configured_dir_then_env_then_builtin() {
        let (cfg, env) = (Path::new("/etc/flashline/stubs"), PathBuf::from("/opt/stubs"));
        let cases: [(Option<&Path>, Option<PathBuf>, Option<PathBuf>); 5] = [
            (Some(cfg), Some(env.clone()), Some(cfg.to_path_buf())),
            (Some(cfg), None, Some(cfg.to_path_buf())),
            (None, Some(env.clone()), Some(env.clone())),
            (None, Some(PathBuf::new()), None),
            (None, None, None),
        ];
        for (configured, env, want) in cases {
            assert_eq!(override_dir(configured, env.clone()), want, "{configured:?} {env:?}");
        }
    }

    #[test]
    fn a_named_directory_that_does_not_load_is_an_error() {
        let d = tempfile::tempdir().unwrap();
        assert!(StubSet::resolve(Some(d.path())).is_err());
        std::fs::write(d.path().join("esp32.json"), "{").unwrap();
        assert!(StubSet::resolve(Some(d.path())).is_err());
    }

    #[test]
    fn a_loadable_named_directory_is_used() {
        let d = tempfile::tempdir().unwrap();
        let json = crate::stub::builtin::files().find(|(n, _)| *n == "esp8266").unwrap().1;
        std::fs::write(d.path().join("esp8266.json"), json).unwrap();
        let set = StubSet::resolve(Some(d.path())).unwrap();
        assert_eq!(set.source(), &StubSource::Dir(d.path().to_path_buf()));
    }
}
