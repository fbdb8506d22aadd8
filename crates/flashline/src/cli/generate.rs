//! `flashline generate completions|man --out DIR` (hidden): shell completions and man
//! pages rendered from this very command line, so the package never ships stale ones.
//! `scripts/package.sh` runs it before building the .deb.

use std::path::{Path, PathBuf};

use clap::{Args, Command, CommandFactory, Subcommand};
use clap_complete::Shell;

use super::{Cli, CliResult, Failure};
use crate::exit::Exit;

/// The shells the package ships completions for.
pub const SHELLS: [Shell; 3] = [Shell::Bash, Shell::Zsh, Shell::Fish];

#[derive(Debug, Clone, Subcommand)]
pub enum GenerateCommand {
    /// Completions for bash, zsh and fish (flashline.bash, _flashline, flashline.fish).
    Completions(OutDir),
    /// Man pages: flashline.1 and one per command (flashline-run.1, ...).
    Man(OutDir),
}

#[derive(Debug, Clone, Args)]
pub struct OutDir {
    /// Directory to write into (created if missing).
    #[arg(long)]
    pub out: PathBuf,
}

pub fn run(cmd: GenerateCommand) -> CliResult {
    let written = match &cmd {
        GenerateCommand::Completions(o) => completions(&o.out),
        GenerateCommand::Man(o) => man_pages(&o.out),
    };
    let out = match &cmd {
        GenerateCommand::Completions(o) | GenerateCommand::Man(o) => &o.out,
    };
    let files = written.map_err(|e| {
        Failure::new(
            Exit::Failure,
            format!("cannot write into {}: {e}; check the directory and its permissions", out.display()),
        )
    })?;
    for f in files {
        println!("{}", f.display());
    }
    Ok(Exit::Success)
}

/// Writes one completion file per shell of [`SHELLS`]; returns their paths.
pub fn completions(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let mut cmd = visible_command();
    SHELLS.iter().map(|&shell| clap_complete::generate_to(shell, &mut cmd, "flashline", dir)).collect()
}

/// The command line as an operator sees it: the hidden commands (this one) left out, so
/// completing `flashline g<TAB>` never offers a packaging tool. clap has no way to drop a
/// subcommand, so the top level is rebuilt from its parts.
fn visible_command() -> Command {
    let full = Cli::command();
    let mut cmd = Command::new("flashline")
        .version(env!("CARGO_PKG_VERSION"))
        .about(full.get_about().cloned().unwrap_or_default())
        .subcommand_required(full.is_subcommand_required_set());
    for arg in full.get_arguments().filter(|a| !a.is_hide_set()) {
        cmd = cmd.arg(arg.clone());
    }
    for sub in full.get_subcommands().filter(|s| !s.is_hide_set()) {
        cmd = cmd.subcommand(sub.clone());
    }
    cmd
}

/// Writes the man pages (hidden commands left out); returns their paths, sorted.
pub fn man_pages(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    clap_mangen::generate_to(Cli::command(), dir)?;
    let mut pages: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "1"))
        .collect();
    pages.sort();
    Ok(pages)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(paths: &[PathBuf]) -> Vec<String> {
        paths.iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect()
    }

    #[test]
    fn completions_cover_every_shell_and_know_the_commands() {
        let dir = tempfile::tempdir().unwrap();
        let files = completions(dir.path()).unwrap();
        assert_eq!(names(&files), ["flashline.bash", "_flashline", "flashline.fish"]);
        for f in &files {
            let text = std::fs::read_to_string(f).unwrap();
            for word in ["run", "flash", "capture", "max-jobs", "write-flash", "port", "chip", "before"] {
                assert!(text.contains(word), "{} lacks {word}", f.display());
            }
            assert!(!text.contains("generate"), "{} offers the hidden command", f.display());
        }
    }

    #[test]
    fn man_pages_one_per_visible_command() {
        let dir = tempfile::tempdir().unwrap();
        let pages = names(&man_pages(dir.path()).unwrap());
        for want in ["flashline.1", "flashline-run.1", "flashline-flash.1", "flashline-log.1"] {
            assert!(pages.iter().any(|p| p == want), "{want} missing from {pages:?}");
        }
        assert!(!pages.iter().any(|p| p.contains("generate")), "the hidden command has no page: {pages:?}");
        let top = std::fs::read_to_string(dir.path().join("flashline.1")).unwrap();
        assert!(top.contains(".TH flashline 1"), "{}", &top[..200.min(top.len())]);
        assert!(top.contains("flashline\\-run(1)"), "the top page lists the commands");
    }
}
