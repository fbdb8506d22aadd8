//! A throwaway system user and group, for tests that must show what an unprivileged user
//! can do with flashline's files (e.g. quality staff reading the audit log). Creating them
//! needs root; without root, [`ThrowawayAccount::create`] says so and the test skips.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn run(cmd: &str, args: &[&str]) -> String {
    let out = Command::new(cmd).args(args).output().unwrap_or_else(|e| panic!("{cmd}: {e}"));
    assert!(out.status.success(), "{cmd} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// A system group and a user whose only group it is; both removed on drop.
#[derive(Debug)]
pub struct ThrowawayAccount {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
}

impl ThrowawayAccount {
    /// Creates the account (name `prefix` + process id), or returns `None` after printing
    /// why the calling test skips when the tests do not run as root.
    pub fn create(prefix: &str) -> Option<ThrowawayAccount> {
        if run("id", &["-u"]) != "0" {
            eprintln!("skipped: needs root to create a throwaway user and group and to run commands as that user");
            return None;
        }
        let name = format!("{prefix}{}", std::process::id());
        run("groupadd", &["--system", &name]);
        run("useradd", &["--system", "--no-create-home", "--gid", &name, "--shell", "/usr/sbin/nologin", &name]);
        let uid = run("id", &["-u", &name]).parse().expect("uid");
        let gid = run("id", &["-g", &name]).parse().expect("gid");
        Some(ThrowawayAccount { name, uid, gid })
    }

    /// `program` run as this user, with this group only (no supplementary groups).
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut cmd = Command::new(program);
        cmd.uid(self.uid).gid(self.gid);
        cmd
    }

    /// Creates `dir` as `root:<group>` mode 0750: members read and list it, nobody but
    /// root creates files in it. `dir`'s parent must be traversable by the user.
    pub fn group_dir(&self, dir: &Path) {
        std::fs::create_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        std::os::unix::fs::chown(dir, Some(0), Some(self.gid)).expect("chown");
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o750)).expect("chmod");
    }

    /// Gives `file` to `root:<group>` (its mode is left alone).
    pub fn give_to_group(&self, file: &Path) {
        std::os::unix::fs::chown(file, Some(0), Some(self.gid)).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    }
}

impl Drop for ThrowawayAccount {
    fn drop(&mut self) {
        // userdel usually removes the user's own group too; groupdel is for the other case.
        for cmd in ["userdel", "groupdel"] {
            let _ = Command::new(cmd).arg(&self.name).stderr(Stdio::null()).status();
        }
    }
}

/// Makes `dir` traversable by everyone (0711) and copies the executable `exe` into it
/// (0755): a build directory may not be reachable by another user.
pub fn reachable_copy(exe: &Path, dir: &Path) -> PathBuf {
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o711)).expect("chmod dir");
    let copy = dir.join(exe.file_name().expect("file name"));
    std::fs::copy(exe, &copy).unwrap_or_else(|e| panic!("copy {}: {e}", exe.display()));
    std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o755)).expect("chmod exe");
    copy
}
