//! Running one `#[ignore]`d test of the same test binary as a child process: for what a
//! test cannot change in its own process (umask, user, working directory).

use std::path::Path;
use std::process::{Command, Output};

/// A command that runs the ignored test `test` of the test binary `exe`.
pub fn test_command(exe: &Path, test: &str) -> Command {
    let mut cmd = Command::new(exe);
    cmd.args([test, "--exact", "--ignored", "--nocapture", "--test-threads=1"]);
    cmd
}

/// The same, started through `sh` with the process umask set to `umask` (octal text).
pub fn test_command_with_umask(exe: &Path, test: &str, umask: &str) -> Command {
    let mut cmd = Command::new("sh");
    cmd.arg("-c").arg(format!("umask {umask} && exec \"$0\" \"$@\"")).arg(exe).args([
        test,
        "--exact",
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ]);
    cmd
}

/// Panics with the child's output unless it succeeded and ran exactly one test.
pub fn assert_child_passed(what: &str, out: &Output) {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "{what}: child failed ({})\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
}
