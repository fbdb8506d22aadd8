//! A throwaway PostgreSQL server for tests of the central audit record: Debian's server
//! binaries, a new cluster in a temporary directory, listening on 127.0.0.1 on a free port
//! (and on a socket in that directory), with an admin role that logs in with a password.
//!
//! The server refuses to run as root, so when the tests run as root the cluster belongs to
//! the `postgres` system user the Debian package creates and every server command runs
//! through `runuser`. The cluster can be stopped and started again (outage tests) and is
//! stopped and removed when dropped.
//!
//! Without the server binaries a test skips with a message, except under `CI=true`, where
//! it fails: CI installs them (`scripts/setup.sh`).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The admin role of every throwaway cluster (superuser).
pub const ADMIN_USER: &str = "flashline_admin";

/// Where Debian puts the server binaries (one directory per major version).
const DEBIAN_BIN_GLOB_ROOT: &str = "/usr/lib/postgresql";

/// A running (or stopped) throwaway cluster.
#[derive(Debug)]
pub struct PgCluster {
    bin: PathBuf,
    dir: tempfile::TempDir,
    /// The system user the server runs as (`None`: the current user).
    run_as: Option<String>,
    port: u16,
    password: String,
    running: bool,
}

impl PgCluster {
    /// A new cluster, started; `None` (after saying why) when the server binaries are
    /// missing outside CI. Panics under `CI=true` when they are missing, and whenever the
    /// cluster cannot be created or started.
    pub fn start() -> Option<PgCluster> {
        let Some(bin) = find_bin_dir() else {
            let msg = "PostgreSQL server binaries not found (initdb in /usr/lib/postgresql/*/bin or on PATH): \
                       run scripts/setup.sh (installs Debian's postgresql package)";
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("{msg}");
            }
            eprintln!("skipped: {msg}");
            return None;
        };
        let run_as = is_root().then(|| "postgres".to_owned());
        let dir = tempfile::Builder::new().prefix("flashline-pg-").tempdir().expect("temporary directory");
        if let Some(user) = &run_as {
            let (uid, gid) = ids_of(user);
            std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid)).expect("give the cluster directory away");
        }
        let password = format!("pw-{}-{}", std::process::id(), nanos());
        let mut cluster = PgCluster { bin, dir, run_as, port: free_port(), password, running: false };
        cluster.init();
        cluster.start_server();
        Some(cluster)
    }

    /// The admin's password.
    pub fn admin_password(&self) -> &str {
        &self.password
    }

    /// TCP port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// URL of the admin role on database `postgres`, password included.
    pub fn admin_url(&self) -> String {
        self.url(ADMIN_USER, &self.password)
    }

    /// URL of `user` with `password` on database `postgres` over TCP (no TLS).
    pub fn url(&self, user: &str, password: &str) -> String {
        format!("postgres://{user}:{password}@127.0.0.1:{}/postgres?sslmode=disable", self.port)
    }

    /// URL of `user` without a password (the password comes from elsewhere).
    pub fn url_without_password(&self, user: &str) -> String {
        format!("postgres://{user}@127.0.0.1:{}/postgres?sslmode=disable", self.port)
    }

    /// The directory the cluster lives in (socket, data, server log).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Whether the server is running.
    pub fn is_running(&self) -> bool {
        self.running
    }

    /// Stops the server (fast shutdown: open connections are cut, as in an outage).
    pub fn stop(&mut self) {
        if self.running {
            self.pg_ctl(&["stop", "-m", "fast", "-w"]);
            self.running = false;
        }
    }

    /// Starts the stopped server again on the same port.
    pub fn restart(&mut self) {
        if !self.running {
            self.start_server();
        }
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn init(&self) {
        let pwfile = self.dir.path().join("admin.pw");
        std::fs::write(&pwfile, format!("{}\n", self.password)).expect("write the password file");
        if let Some(user) = &self.run_as {
            let (uid, gid) = ids_of(user);
            std::os::unix::fs::chown(&pwfile, Some(uid), Some(gid)).expect("chown the password file");
        }
        let data = self.data();
        let out = self.server_command(
            "initdb",
            &[
                "-D",
                &data.display().to_string(),
                "-U",
                ADMIN_USER,
                "--pwfile",
                &pwfile.display().to_string(),
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ],
        );
        check("initdb", &out);
        let _ = std::fs::remove_file(&pwfile);
    }

    fn start_server(&mut self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off",
            self.port,
            self.dir.path().display()
        );
        let log = self.dir.path().join("server.log");
        self.pg_ctl(&["start", "-w", "-t", "60", "-o", &options, "-l", &log.display().to_string()]);
        self.running = true;
    }

    fn pg_ctl(&self, args: &[&str]) {
        let data = self.data().display().to_string();
        let mut all = vec!["-D", &data];
        all.extend_from_slice(args);
        let out = self.server_command("pg_ctl", &all);
        if !out.status.success() {
            let log = std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default();
            panic!(
                "pg_ctl {args:?} failed: {}{}\nserver log:\n{log}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }

    /// Runs a server binary as the cluster's user.
    fn server_command(&self, program: &str, args: &[&str]) -> Output {
        let exe = self.bin.join(program);
        let mut cmd = match &self.run_as {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(&exe);
                c
            }
            None => Command::new(&exe),
        };
        // The server's children must not inherit the test's working directory (it may not
        // be readable by the server's user).
        cmd.args(args).current_dir(self.dir.path());
        cmd.output().unwrap_or_else(|e| panic!("cannot run {}: {e}", exe.display()))
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        if self.running {
            let data = self.data().display().to_string();
            let _ = self.server_command("pg_ctl", &["-D", &data, "stop", "-m", "immediate", "-w"]);
        }
    }
}

fn check(what: &str, out: &Output) {
    assert!(
        out.status.success(),
        "{what} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The newest `/usr/lib/postgresql/<major>/bin` holding `initdb`, else the directory of
/// `initdb` on `PATH`.
pub fn find_bin_dir() -> Option<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir(DEBIAN_BIN_GLOB_ROOT)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let major: u32 = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").is_file().then_some((major, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Some(bin);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).find(|d| d.join("initdb").is_file() && d.join("pg_ctl").is_file())
}

fn is_root() -> bool {
    // `id -u` keeps the test kit free of a libc binding.
    Command::new("id").arg("-u").output().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn ids_of(user: &str) -> (u32, u32) {
    let id = |flag: &str| -> u32 {
        let out = Command::new("id").args([flag, user]).output().expect("run id");
        assert!(
            out.status.success(),
            "system user {user} is missing (Debian's postgresql package creates it): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().parse().expect("numeric id")
    };
    (id("-u"), id("-g"))
}

/// A port nobody listens on right now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("bind a free port").port()
}

fn nanos() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A cluster starts, answers on its port, stops (the port is closed) and starts again.
    #[test]
    fn a_cluster_starts_stops_and_restarts() {
        let Some(mut pg) = PgCluster::start() else { return };
        let connect = |port| std::net::TcpStream::connect(("127.0.0.1", port)).is_ok();
        assert!(connect(pg.port()));
        pg.stop();
        assert!(!connect(pg.port()), "the stopped server still accepts connections");
        pg.restart();
        assert!(connect(pg.port()));
        let dir = pg.dir().to_path_buf();
        drop(pg);
        assert!(!dir.exists(), "the cluster directory is removed on drop");
    }
}
