//! One station of the benchmark's line, as a process of its own (this executable re-run
//! with `--station`): the real station (config loader, `StationContext`, dispatcher, jobs,
//! pipeline, local SQLite log, forwarder) on in-process simulated boards, timing off, all
//! boards plugged at once. It prints when its last board finished (`finished MS`) and when
//! its forwarder had every row acknowledged centrally (`caught-up MS`), unix milliseconds.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use flashline::config::Config;
use flashline::device::DeviceInfo;
use flashline::pipeline::SimulatedPorts;
use flashline::station::serve::{Station, Ui};
use flashline::station::{Control, Outcome, StationContext, StationEvent};
use flashline_protocol::chip::Mac;
use flashline_protocol::Chip;
use flashline_sim::BoardConfig;
use tokio_util::sync::CancellationToken;

/// What a station child is told on its command line.
pub struct StationArgs {
    pub station: String,
    /// Index of the station (distinct MACs per station).
    pub index: u8,
    pub url: String,
    pub password_file: PathBuf,
    pub boards: u32,
    pub dir: PathBuf,
}

impl StationArgs {
    /// The arguments after `--station`.
    pub fn to_args(&self) -> Vec<String> {
        vec![
            "--station".into(),
            self.station.clone(),
            self.index.to_string(),
            self.url.clone(),
            self.password_file.display().to_string(),
            self.boards.to_string(),
            self.dir.display().to_string(),
        ]
    }

    /// Parses what [`Self::to_args`] wrote (after `--station`).
    pub fn parse(args: &[String]) -> StationArgs {
        let [station, index, url, pw, boards, dir] = args else { panic!("--station takes six values: {args:?}") };
        StationArgs {
            station: station.clone(),
            index: index.parse().expect("index"),
            url: url.clone(),
            password_file: pw.into(),
            boards: boards.parse().expect("boards"),
            dir: dir.into(),
        }
    }
}

fn unix_ms() -> u128 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis()
}

fn config(args: &StationArgs) -> (Config, PathBuf) {
    let dir = &args.dir;
    std::fs::create_dir_all(dir).unwrap();
    let manifest = flashline::cli::sample::write_sample(&dir.join("image"), Chip::Esp32, 16 * 1024).unwrap();
    let image =
        flashline::image::GoldenImage::load(&flashline::image::ImageSource::Manifest(manifest.clone())).unwrap();
    let slots: String = (0..args.boards).map(|k| format!("S{k} = \"sim-usb-0:{k}:1.0\"\n")).collect();
    let text = format!(
        "station = \"{station}\"\ndatabase = \"{db}\"\nmax_jobs = {n}\n\n[image]\nmanifest = \"{m}\"\n\
         sha256 = \"{sha}\"\nchip = \"esp32\"\n\n[flash]\nbaud = 921600\nafter = \"no-reset\"\n\n\
         [central]\nurl = \"{url}\"\npassword_file = \"{pw}\"\n\n[slots]\n{slots}",
        station = args.station,
        db = dir.join("audit.db").display(),
        n = args.boards,
        m = manifest.display(),
        sha = image.sha256().to_hex(),
        url = args.url,
        pw = args.password_file.display(),
    );
    let path = dir.join("station.toml");
    std::fs::write(&path, text).unwrap();
    (Config::load(&path).unwrap_or_else(|e| panic!("{e}")), dir.join("audit.db"))
}

/// Runs the station until its boards are done and forwarded; prints the two instants.
pub fn run(args: StationArgs) {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async move {
        let (config, _db) = config(&args);
        let ports = SimulatedPorts::new();
        let ctx = StationContext::build(&config, Arc::new(ports.clone()), CancellationToken::new())
            .await
            .unwrap_or_else(|e| panic!("{}", e.message));
        let (mut station, devices) = Station::start_simulated(Arc::new(ctx), &config, Ui::Logs);
        let mut events = station.events.take().unwrap();
        let forwarder = station.central.take().expect("[central] starts a forwarder");
        let mut status = forwarder.status.clone();
        for k in 0..args.boards {
            let devnode = PathBuf::from(format!("/dev/sim-scale-{}-{k}", args.index));
            let mac = Mac([0x24, 0x0a, 0xc4, args.index, (k >> 8) as u8, k as u8]);
            ports.attach(devnode.clone(), BoardConfig::new(Chip::Esp32, mac)).unwrap();
            devices.plug(DeviceInfo::simulated(k, devnode));
        }
        let mut done = 0;
        while done < args.boards {
            let ev = tokio::time::timeout(Duration::from_secs(600), events.recv()).await.expect("results").unwrap();
            if let StationEvent::Finished { slot, outcome, .. } = ev {
                assert_eq!(outcome, Outcome::Pass, "{slot}");
                done += 1;
            }
        }
        println!("finished {}", unix_ms());
        let want = u64::from(args.boards);
        tokio::time::timeout(Duration::from_secs(600), status.wait_for(|s| s.backlog == 0 && s.forwarded == want))
            .await
            .expect("forwarded in time")
            .expect("forwarder alive");
        println!("caught-up {}", unix_ms());
        station.control.send(Control::DrainAndStop).await.unwrap();
        drop(devices);
        let (_view, end) = station.wait().await;
        end.unwrap();
        let _ = forwarder.task.await;
    });
}

/// The station's work directory under the benchmark's.
pub fn dir(root: &Path, station: &str) -> PathBuf {
    root.join(station)
}
