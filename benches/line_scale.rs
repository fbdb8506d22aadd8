//! Line-scale benchmark: N boards (default 1, 8, 32, 64) through the daemon's pipeline
//! (device source → dispatcher → flashline-session → audit store, the code `flashline run`
//! and `flashline demo` use) versus N parallel esptool processes, all against one
//! `espsim --count N --timing realistic` process, with the 4 MB merged image of
//! `flash_one_board`.
//!
//! ```text
//! cargo build --release --workspace --bins
//! cargo bench --bench line_scale                      # N = 1, 8, 32, 64
//! cargo bench --bench line_scale -- --boards 1,8 --no-esptool
//! cargo bench --bench line_scale -- --mixed           # 32 boards of four families
//! ```
//!
//! `--mixed` (see `line_scale_mixed`) runs a mixed-chip line in process instead: one
//! station with an image per chip family (`[images.CHIP]`), 32 boards of four families,
//! half on their chip's own USB port, against the slowest single board.
//!
//! The pipeline runs in a child process of this benchmark (this executable re-run with
//! `--station`), so its CPU time, peak RSS (VmHWM) and open descriptors are its own: the
//! simulator is a separate process and is measured separately. The station is loaded from
//! a real config file (`[image] merged_bin`) by the same loader as `flashline run`; boards
//! are plugged through the simulated device source, as in the demo, since udev does not
//! see pseudo-terminals.

mod common;
mod line_scale_mixed;

use common::merged_image;
use flashline_testkit::{esptool, workspace_bin, EspSim};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn clk_tck() -> f64 {
    // Linux reports /proc CPU times in USER_HZ, 100 on every mainstream architecture.
    100.0
}

/// utime + stime (and, when `children`, cutime + cstime) of a process, in seconds.
fn cpu_secs(pid: &str, children: bool) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = after.split_whitespace().collect();
    // Fields after the name start at field 3 (state); utime is field 14.
    let get = |n: usize| f.get(n - 3).and_then(|s| s.parse::<f64>().ok());
    let mut t = get(14)? + get(15)?;
    if children {
        t += get(16)? + get(17)?;
    }
    Some(t / clk_tck())
}

fn status_kb(pid: &str, key: &str) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines().find(|l| l.starts_with(key)).and_then(|l| l.split_whitespace().nth(1)).and_then(|v| v.parse().ok())
}

fn fd_count(pid: &str) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map(|d| d.count()).unwrap_or(0)
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------------------
// The station child
// ---------------------------------------------------------------------------------------

/// Runs the pipeline on the given ports; prints `RESULT passed failed wall_s cpu_s hwm_kb
/// max_fds` on stdout.
fn station_main(config: &Path, ports: Vec<PathBuf>) {
    use flashline::config::Config;
    use flashline::device::DeviceInfo;
    use flashline::pipeline::SerialPorts;
    use flashline::station::serve::{Station, Ui};
    use flashline::station::{Control, StationContext, StationEvent};

    let max_fds = Arc::new(Mutex::new(0usize));
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (max_fds, stop) = (max_fds.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let n = fd_count("self");
                let mut m = max_fds.lock().unwrap();
                *m = (*m).max(n);
                drop(m);
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let (passed, failed, wall) = rt.block_on(async move {
        let config = Config::load(config).unwrap_or_else(|e| panic!("config: {e}"));
        let ctx = StationContext::build(&config, Arc::new(SerialPorts), tokio_util::sync::CancellationToken::new())
            .await
            .unwrap_or_else(|e| panic!("station: {}", e.message));
        let store = ctx.store.clone();
        let ctx = Arc::new(ctx);
        let started = Instant::now();
        let (mut station, devices) = Station::start_simulated(ctx, &config, Ui::Logs);
        let mut events = station.events.take().expect("events");
        // Every board at once, like a fixture whose boards power up together.
        for (k, p) in ports.into_iter().enumerate() {
            devices.plug(DeviceInfo::simulated(k as u32, p));
        }
        let _ = station.control.send(Control::DrainAndStop).await;
        drop(devices);
        let counter = tokio::spawn(async move {
            let (mut pass, mut fail) = (0u32, 0u32);
            while let Some(ev) = events.recv().await {
                if let StationEvent::Finished { outcome, .. } = ev {
                    match outcome {
                        flashline::station::Outcome::Pass => pass += 1,
                        _ => fail += 1,
                    }
                }
            }
            (pass, fail)
        });
        let (_view, end) = station.wait().await;
        let wall = started.elapsed();
        end.unwrap_or_else(|e| panic!("device source: {e}"));
        let (pass, fail) = counter.await.unwrap();
        store.close().await;
        (pass, fail, wall)
    });
    stop.store(true, Ordering::Relaxed);
    let _ = sampler.join();
    println!(
        "RESULT {passed} {failed} {:.3} {:.3} {} {}",
        wall.as_secs_f64(),
        cpu_secs("self", false).unwrap_or(0.0),
        status_kb("self", "VmHWM:").unwrap_or(0),
        *max_fds.lock().unwrap()
    );
}

// ---------------------------------------------------------------------------------------
// The orchestrator
// ---------------------------------------------------------------------------------------

struct Sim {
    sim: EspSim,
    cpu0: f64,
}

impl Sim {
    fn start(dir: &Path, n: usize) -> Sim {
        let links = dir.join("links");
        let sim = EspSim::start(&[
            "--chip",
            "esp32",
            "--count",
            &n.to_string(),
            "--timing",
            "realistic",
            "--link-dir",
            links.to_str().unwrap(),
        ]);
        let cpu0 = cpu_secs(&sim.pid().to_string(), false).unwrap_or(0.0);
        Sim { sim, cpu0 }
    }
    fn cpu(&self) -> f64 {
        cpu_secs(&self.sim.pid().to_string(), false).unwrap_or(0.0) - self.cpu0
    }
    fn ports(&self) -> Vec<PathBuf> {
        self.sim.boards.iter().map(|b| b.path.clone()).collect()
    }
}

#[derive(Debug, Default, Clone)]
struct Line {
    passed: u32,
    failed: u32,
    wall: f64,
    cpu: f64,
    /// Peak RSS: the station's VmHWM, or the sum of the esptool processes' VmHWM.
    peak_kb: u64,
    max_fds: usize,
    sim_cpu: f64,
    load: String,
}

fn run_station(n: usize, merged: &Path, sha256: &str, dir: &Path) -> Line {
    let load = loadavg();
    let sim = Sim::start(dir, n);
    let config = dir.join("flashline.toml");
    std::fs::write(
        &config,
        format!(
            r#"station = "bench"
database = "{db}"
max_jobs = {n}

[image]
merged_bin = "{merged}"
sha256 = "{sha256}"
chip = "esp32"

[flash]
baud = 921600
reset = "no-reset"
after = "no-reset"

[log]
level = "warn"
"#,
            db = dir.join("audit.sqlite").display(),
            merged = merged.display(),
        ),
    )
    .unwrap();
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.arg("--station").arg(&config);
    for p in sim.ports() {
        cmd.arg(p);
    }
    let out = cmd.stderr(Stdio::inherit()).output().expect("station child");
    let sim_cpu = sim.cpu();
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().find(|l| l.starts_with("RESULT ")).unwrap_or_else(|| panic!("station: {text}"));
    let f: Vec<&str> = line.split_whitespace().collect();
    Line {
        passed: f[1].parse().unwrap(),
        failed: f[2].parse().unwrap(),
        wall: f[3].parse().unwrap(),
        cpu: f[4].parse().unwrap(),
        peak_kb: f[5].parse().unwrap(),
        max_fds: f[6].parse().unwrap(),
        sim_cpu,
        load,
    }
}

fn run_esptools(n: usize, merged: &Path, dir: &Path) -> Line {
    let load = loadavg();
    let sim = Sim::start(dir, n);
    let exe = esptool();
    let cpu0 = cpu_secs("self", true).unwrap_or(0.0) - cpu_secs("self", false).unwrap_or(0.0);
    let t0 = Instant::now();
    let mut children: Vec<std::process::Child> = sim
        .ports()
        .iter()
        .map(|p| {
            Command::new(&exe)
                .args(["--chip", "esp32", "--port"])
                .arg(p)
                .args(["--before", "no-reset", "--after", "no-reset", "-b", "921600", "write-flash", "0x0"])
                .arg(merged)
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn esptool")
        })
        .collect();
    let pids: Vec<String> = children.iter().map(|c| c.id().to_string()).collect();
    let hwm = Arc::new(Mutex::new(vec![0u64; n]));
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (hwm, stop, pids) = (hwm.clone(), stop.clone(), pids.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                for (i, p) in pids.iter().enumerate() {
                    if let Some(kb) = status_kb(p, "VmHWM:") {
                        let mut h = hwm.lock().unwrap();
                        h[i] = h[i].max(kb);
                    }
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        })
    };
    let mut passed = 0;
    for c in &mut children {
        let mut err = String::new();
        if let Some(e) = c.stderr.take() {
            for l in BufReader::new(e).lines().map_while(Result::ok) {
                err.push_str(&l);
                err.push('\n');
            }
        }
        if c.wait().map(|s| s.success()).unwrap_or(false) {
            passed += 1;
        } else {
            eprintln!("esptool failed: {err}");
        }
    }
    let wall = t0.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    let _ = sampler.join();
    let cpu = cpu_secs("self", true).unwrap_or(0.0) - cpu_secs("self", false).unwrap_or(0.0) - cpu0;
    let peak_kb = hwm.lock().unwrap().iter().sum();
    Line { passed, failed: n as u32 - passed, wall, cpu, peak_kb, max_fds: 0, sim_cpu: sim.cpu(), load }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--mixed") {
        line_scale_mixed::main(&args);
        return;
    }
    if let Some(i) = args.iter().position(|a| a == "--station") {
        let config = PathBuf::from(&args[i + 1]);
        let ports = args[i + 2..].iter().map(PathBuf::from).collect();
        station_main(&config, ports);
        return;
    }
    let boards: Vec<usize> = args
        .iter()
        .position(|a| a == "--boards")
        .and_then(|i| args.get(i + 1))
        .map(|s| s.split(',').map(|n| n.parse().expect("--boards 1,8,32,64")).collect())
        .unwrap_or_else(|| vec![1, 8, 32, 64]);
    let with_esptool = !args.iter().any(|a| a == "--no-esptool");
    let _ = workspace_bin("espsim");
    if with_esptool {
        let _ = esptool();
    }

    let work = tempfile::tempdir().unwrap();
    let merged = work.path().join("merged.bin");
    std::fs::write(&merged, merged_image(common::APP_LEN, 1)).unwrap();
    let sha256 = flashline::image::GoldenImage::load(&flashline::image::ImageSource::MergedBin(merged.clone()))
        .expect("merged image")
        .sha256()
        .to_hex();

    println!("# line_scale: ESP32, 4 MB merged image, 921600 baud, espsim --timing realistic");
    let mut station_rows: Vec<(usize, Line)> = Vec::new();
    let mut esptool_rows: Vec<(usize, Line)> = Vec::new();
    for &n in &boards {
        let dir = tempfile::tempdir().unwrap();
        let l = run_station(n, &merged, &sha256, dir.path());
        eprintln!("  flashline N={n}: {l:?}");
        station_rows.push((n, l));
        if with_esptool {
            let dir = tempfile::tempdir().unwrap();
            let l = run_esptools(n, &merged, dir.path());
            eprintln!("  esptool   N={n}: {l:?}");
            esptool_rows.push((n, l));
        }
    }
    let one = |rows: &[(usize, Line)]| rows.iter().find(|r| r.0 == 1).map(|r| r.1.wall);
    let print = |title: &str, rows: &[(usize, Line)], station: bool| {
        println!();
        println!("{title}");
        println!(
            "| N | passed | wall s | × 1-board wall | boards/hour | CPU s | CPU s/board | CPU % of a core per active board | peak RSS MB{} | espsim CPU s | load avg (1/5/15) |",
            if station { " | max open fds" } else { " (sum)" }
        );
        println!("|---|---|---|---|---|---|---|---|---|{}---|---|", if station { "---|" } else { "" });
        for (n, l) in rows {
            let ratio = one(rows).map(|w| format!("{:.2}", l.wall / w)).unwrap_or_default();
            println!(
                "| {n} | {}/{n}{} | {:.1} | {ratio} | {:.0} | {:.2} | {:.3} | {:.2} % | {:.1}{} | {:.1} | {} |",
                l.passed,
                if l.failed > 0 { format!(" ({} failed)", l.failed) } else { String::new() },
                l.wall,
                l.passed as f64 * 3600.0 / l.wall,
                l.cpu,
                l.cpu / *n as f64,
                100.0 * l.cpu / (*n as f64 * l.wall),
                l.peak_kb as f64 / 1024.0,
                if station { format!(" | {}", l.max_fds) } else { String::new() },
                l.sim_cpu,
                l.load
            );
        }
    };
    print("flashline pipeline (one process, max_jobs = N):", &station_rows, true);
    if with_esptool {
        print("N parallel esptool 5.6 write-flash processes:", &esptool_rows, false);
    }
}
