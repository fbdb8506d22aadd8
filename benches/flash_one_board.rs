//! Speed benchmark: one ESP32 board, a 4 MB merged image, flashline-session against
//! esptool, on `espsim --timing realistic` at 921600 baud.
//!
//! ```text
//! cargo build --release --workspace --bins
//! cargo bench --bench flash_one_board            # 3 runs per row, medians
//! cargo bench --bench flash_one_board -- --runs 1 --no-stats
//! ```
//!
//! Every run gets a fresh `espsim` process: a blank board, a board whose flash file holds
//! an older, different firmware (bootloader + 2 MB app), or one already holding the image
//! (rework). Each board state is measured for flashline and esptool, and each has its own
//! lower bound. After each run the board's flash file is compared with the image, so a
//! fast but wrong flasher cannot win.
//! Results: docs/BENCHMARKS.md, section "Flashing one board: flashline vs esptool".

use flashline_protocol::slip::{SlipDecoder, SlipEvent};
use flashline_session::image::{non_blank_runs, plan_payload};
use flashline_session::{
    After, BeforeReset, BlankSkip, Chip, Flasher, FlasherConfig, PreparedImage, Progress, Region, SerialTransport,
    StubSet, Transport, WriteOptions,
};
use flashline_sim::{BoardConfig, Mac, SimStats, TimingMode, TimingModel};
use flashline_testkit::{esptool, workspace_bin, EspSim};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::pin::Pin;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

const BAUD: u32 = 921_600;
mod common;
use common::{merged_image, APP_LEN, FLASH_SIZE};

// ---------------------------------------------------------------------------------------
// Lower bound from the simulator's timing model
// ---------------------------------------------------------------------------------------

struct Bound {
    /// Compressed bytes of the sector runs that must be written.
    wire_bytes: u64,
    /// zlib-9 of the whole 4 MB (what esptool sends).
    full_wire_bytes: u64,
    /// Bytes of the sectors that must be written.
    written_bytes: u64,
    /// Bytes of the sectors that must only be erased (0xFF in the image, not on the board).
    erased_bytes: u64,
    wire: Duration,
    erase: Duration,
    program: Duration,
    /// The final proof: an on-chip MD5 of the whole range.
    verify: Duration,
    /// A stricter variant: an on-chip MD5 of the written runs only (the gaps taken on trust).
    verify_written: Duration,
}

impl Bound {
    fn flash(&self) -> Duration {
        self.erase + self.program
    }
    /// max(wire, erase + program) + verify of the whole range.
    fn total(&self) -> Duration {
        self.wire.max(self.flash()) + self.verify
    }
    /// max(wire, erase + program) + verify of the written runs only.
    fn strict(&self) -> Duration {
        self.wire.max(self.flash()) + self.verify_written
    }
}

/// Sector-aligned runs of `offset..` whose 4 KiB sectors satisfy `keep(image, board)`.
fn sector_runs(image: &[u8], board: &[u8], keep: impl Fn(&[u8], &[u8]) -> bool) -> Vec<(u32, u32)> {
    let mut runs: Vec<(u32, u32)> = Vec::new();
    for (i, (a, b)) in image.chunks(0x1000).zip(board.chunks(0x1000)).enumerate() {
        if keep(a, b) {
            let at = (i * 0x1000) as u32;
            match runs.last_mut() {
                Some((o, l)) if *o + *l == at => *l += a.len() as u32,
                _ => runs.push((at, a.len() as u32)),
            }
        }
    }
    runs
}

/// The stubs' erase plan of a run: 64 KiB block erases where aligned and 64 KiB remain,
/// 4 KiB sector erases otherwise.
fn erase_time(offset: u32, len: u32, m: &TimingModel) -> Duration {
    let mut erase = Duration::ZERO;
    let (mut at, end) = (offset, offset + len.div_ceil(4096) * 4096);
    while at < end {
        if at.is_multiple_of(0x10000) && end - at >= 0x10000 {
            erase += m.block_erase;
            at += 0x10000;
        } else {
            erase += m.sector_erase;
            at += 0x1000;
        }
    }
    erase
}

/// What putting the image on a board that holds `board` needs at the least, whatever the
/// flasher: send (zlib 9) and program the 4 KiB sectors whose content must change and
/// that hold data in the image, erase them and the sectors that hold data only on the
/// board, and prove the whole range with one on-chip MD5 at the end. Programming follows
/// the ROM `SPIWrite` plan (32-byte commands that never cross a 256-byte page); timing of
/// the ESP32 new stub, clocks boosted.
fn bound(image: &PreparedImage, board: &[u8], m: &TimingModel) -> Bound {
    let region = &image.regions[0];
    let blank = |s: &[u8]| s.iter().all(|&x| x == 0xFF);
    let write = sector_runs(&region.data, board, |a, b| !blank(a) && a != b);
    let erase_only = sector_runs(&region.data, board, |a, b| blank(a) && !blank(b));
    let mut erase = Duration::ZERO;
    let mut program = Duration::ZERO;
    let mut verify_written = Duration::ZERO;
    let mut wire_bytes = 0u64;
    let mut written = 0u64;
    for &(offset, len) in &write {
        let data = &region.data[(offset - region.offset) as usize..][..len as usize];
        wire_bytes += plan_payload(offset, data).wire_len as u64;
        written += len as u64;
        erase += erase_time(offset, len, m);
        let mut pos = 0usize;
        while pos < data.len() {
            let addr = offset as usize + pos;
            let page_left = 256 - addr % 256;
            let n = (m.program_chunk as usize).min(page_left).min(data.len() - pos);
            program += m.program_op(&data[pos..pos + n], true);
            pos += n;
        }
        verify_written += m.read(len as u64, true) + m.md5(len as u64, true);
    }
    for &(offset, len) in &erase_only {
        erase += erase_time(offset, len, m);
    }
    let all = region.data.len() as u64;
    Bound {
        wire_bytes,
        full_wire_bytes: region.full.wire_len as u64,
        written_bytes: written,
        erased_bytes: erase_only.iter().map(|r| r.1 as u64).sum(),
        wire: m.wire_time(BAUD, wire_bytes as usize),
        erase,
        program,
        verify: m.read(all, true) + m.md5(all, true),
        verify_written,
    }
}

// ---------------------------------------------------------------------------------------
// A transport that timestamps every request and response frame
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy)]
struct FrameEvent {
    at: Instant,
    request: bool,
    opcode: u8,
    /// MD5 requests: hashed length.
    md5_len: u32,
}

struct Timed {
    inner: SerialTransport,
    log: Arc<Mutex<Vec<FrameEvent>>>,
    tx: SlipDecoder,
    rx: SlipDecoder,
}

impl Timed {
    fn record(log: &Mutex<Vec<FrameEvent>>, request: bool, frame: &[u8]) {
        if frame.len() < 8 {
            return;
        }
        let md5_len = if request && frame[1] == 0x13 && frame.len() >= 16 {
            u32::from_le_bytes([frame[12], frame[13], frame[14], frame[15]])
        } else {
            0
        };
        log.lock().unwrap().push(FrameEvent { at: Instant::now(), request, opcode: frame[1], md5_len });
    }
}

impl AsyncRead for Timed {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = &r {
            let new = buf.filled()[before..].to_vec();
            let this = &mut *self;
            for ev in this.rx.feed(&new) {
                if let SlipEvent::Frame(f) = ev {
                    Self::record(&this.log, false, &f);
                }
            }
        }
        r
    }
}

impl AsyncWrite for Timed {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, data);
        if let Poll::Ready(Ok(n)) = &r {
            let this = &mut *self;
            for ev in this.tx.feed(&data[..*n]) {
                if let SlipEvent::Frame(f) = ev {
                    Self::record(&this.log, true, &f);
                }
            }
        }
        r
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

impl Transport for Timed {
    fn set_dtr(&mut self, level: bool) -> std::io::Result<()> {
        self.inner.set_dtr(level)
    }
    fn set_rts(&mut self, level: bool) -> std::io::Result<()> {
        self.inner.set_rts(level)
    }
    fn set_dtr_rts(&mut self, dtr: bool, rts: bool) -> std::io::Result<()> {
        self.inner.set_dtr_rts(dtr, rts)
    }
    fn set_baud(&mut self, baud: u32) -> std::io::Result<()> {
        self.inner.set_baud(baud)
    }
    fn baud(&self) -> u32 {
        self.inner.baud()
    }
    fn clear_input(&mut self) -> std::io::Result<()> {
        self.inner.clear_input()
    }
    fn name(&self) -> String {
        self.inner.name()
    }
}

// ---------------------------------------------------------------------------------------
// Runs
// ---------------------------------------------------------------------------------------

/// Wall time and its stages of one run.
#[derive(Debug, Clone, Default)]
struct Run {
    wall: Duration,
    connect: Duration,
    /// Blank probe (ours) before the first data is sent.
    probe: Duration,
    write: Duration,
    verify: Duration,
    /// MD5 requests and the bytes they hashed (ours).
    md5_cmds: usize,
    md5_bytes: u64,
    note: String,
    load: String,
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Board {
    Blank,
    /// Holds an older firmware (bootloader + 2 MB app of other content).
    OldFirmware,
    /// Already holds the image (a board back for rework, a re-flash).
    SameImage,
}

impl Board {
    const ALL: [Board; 3] = [Board::Blank, Board::OldFirmware, Board::SameImage];

    fn name(self) -> &'static str {
        match self {
            Board::Blank => "blank board",
            Board::OldFirmware => "older firmware on board",
            Board::SameImage => "same image on board",
        }
    }

    /// The board's flash content.
    fn content(self, old: &[u8], image: &[u8]) -> Vec<u8> {
        match self {
            Board::Blank => vec![0xFF; image.len()],
            Board::OldFirmware => old.to_vec(),
            Board::SameImage => image.to_vec(),
        }
    }
}

fn start_sim(dir: &Path, board: Board, old: &[u8], image: &[u8]) -> EspSim {
    let links = dir.join("links");
    let flash = dir.join("flash");
    std::fs::create_dir_all(&flash).unwrap();
    let file = flash.join("board0.bin");
    match board {
        Board::Blank => {
            let _ = std::fs::remove_file(&file);
        }
        Board::OldFirmware | Board::SameImage => std::fs::write(&file, board.content(old, image)).unwrap(),
    }
    EspSim::start(&[
        "--chip",
        "esp32",
        "--count",
        "1",
        "--timing",
        "realistic",
        "--link-dir",
        links.to_str().unwrap(),
        "--flash-dir",
        flash.to_str().unwrap(),
    ])
}

fn check_flash(dir: &Path, image: &[u8]) -> Result<(), String> {
    let got = std::fs::read(dir.join("flash/board0.bin")).map_err(|e| e.to_string())?;
    if got.len() != image.len() {
        return Err(format!("flash file has {} bytes", got.len()));
    }
    match got.iter().zip(image).position(|(a, b)| a != b) {
        None => Ok(()),
        Some(at) => Err(format!("flash differs from the image at 0x{at:06x}")),
    }
}

async fn run_ours(port: &Path, image: &PreparedImage, stubs: Arc<StubSet>, blank_skip: BlankSkip) -> Run {
    let load = loadavg();
    let log = Arc::new(Mutex::new(Vec::new()));
    let t0 = Instant::now();
    let serial = SerialTransport::open(port.to_str().unwrap(), 115_200).expect("open port");
    let port = Timed { inner: serial, log: log.clone(), tx: SlipDecoder::new(), rx: SlipDecoder::new() };
    let config = FlasherConfig {
        before: BeforeReset::NoReset,
        baud: BAUD,
        stubs: Some(stubs),
        expect_chip: Some(Chip::Esp32),
        ..Default::default()
    };
    let mut f =
        Flasher::connect(port, &config, Progress::none(), Default::default()).await.expect("flashline: connect");
    let t_connected = Instant::now();
    let opts = WriteOptions { blank_skip, ..Default::default() };
    let report = f.write(image, &opts).await.expect("flashline: write");
    let t_written = Instant::now();
    f.finish(After::NoReset).await.expect("flashline: finish");
    let t_end = Instant::now();

    // Stages from the frame log: probe = MD5s before the first BEGIN; write = first BEGIN
    // request .. last END reply; verify = MD5s after that.
    let log = log.lock().unwrap().clone();
    let after = |t: Instant| log.iter().filter(move |e| e.at >= t && e.at <= t_written);
    let first_begin = after(t_connected).find(|e| e.request && matches!(e.opcode, 0x02 | 0x10)).map(|e| e.at);
    let last_end = after(t_connected).rfind(|e| !e.request && matches!(e.opcode, 0x04 | 0x12)).map(|e| e.at);
    let first_begin = first_begin.unwrap_or(t_connected);
    let last_end = last_end.unwrap_or(t_written);
    let md5: Vec<&FrameEvent> = after(t_connected).filter(|e| e.request && e.opcode == 0x13).collect();
    let outcomes: Vec<String> = report.regions.iter().map(|r| format!("{:?}", r.outcome)).collect();
    Run {
        wall: t_end - t0,
        connect: t_connected - t0,
        probe: first_begin - t_connected,
        write: last_end - first_begin,
        verify: t_written.saturating_duration_since(last_end),
        md5_cmds: md5.len(),
        md5_bytes: md5.iter().map(|e| e.md5_len as u64).sum(),
        note: outcomes.join(","),
        load,
    }
}

fn run_esptool(port: &Path, merged: &Path, stub_version: Option<&str>) -> Run {
    let load = loadavg();
    let mut cmd = Command::new(esptool());
    cmd.env("PYTHONUNBUFFERED", "1").args(["--chip", "esp32", "--port"]).arg(port).args([
        "--before",
        "no-reset",
        "--after",
        "no-reset",
        "-b",
        &BAUD.to_string(),
    ]);
    if let Some(v) = stub_version {
        cmd.args(["--stub-version", v]);
    }
    cmd.args(["write-flash", "0x0"]).arg(merged).stdout(Stdio::piped()).stderr(Stdio::piped());
    let t0 = Instant::now();
    let mut child = cmd.spawn().expect("spawn esptool");
    let stdout = child.stdout.take().unwrap();
    let mut lines: Vec<(Instant, String)> = Vec::new();
    for line in BufReader::new(stdout).split(b'\n') {
        let Ok(line) = line else { break };
        // Progress bars rewrite one line with '\r'; keep each piece.
        for piece in String::from_utf8_lossy(&line).split('\r') {
            lines.push((Instant::now(), piece.trim().to_string()));
        }
    }
    let status = child.wait_with_output().expect("wait esptool");
    let t_end = Instant::now();
    assert!(
        status.status.success(),
        "esptool failed:\n{}\n{}",
        lines.iter().map(|l| l.1.as_str()).collect::<Vec<_>>().join("\n"),
        String::from_utf8_lossy(&status.stderr)
    );
    let at = |needle: &str| lines.iter().find(|l| l.1.contains(needle)).map(|l| l.0);
    let erase_line = at("Flash will be erased").expect("esptool output: erase line");
    let wrote = at("Wrote ").expect("esptool output: Wrote line");
    let verifying = at("Verifying written data").unwrap_or(wrote);
    let verified = at("Hash of data verified").expect("esptool output: verified");
    let note = lines.iter().find(|l| l.1.starts_with("Wrote ")).map(|l| l.1.clone()).unwrap_or_default();
    Run {
        wall: t_end - t0,
        connect: erase_line - t0,
        probe: Duration::ZERO,
        write: wrote - erase_line,
        verify: verified - verifying,
        md5_cmds: 1,
        md5_bytes: FLASH_SIZE as u64,
        note,
        load,
    }
}

// ---------------------------------------------------------------------------------------
// SimStats pass (in-process simulator on a PTY, same timing model)
// ---------------------------------------------------------------------------------------

fn stats_pass(
    image: &PreparedImage,
    merged: &[u8],
    merged_path: &Path,
    stubs: Arc<StubSet>,
    old: &[u8],
) -> Vec<(String, SimStats)> {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut out = Vec::new();
    let rows: [(&str, Board, Option<Option<&str>>); 7] = [
        ("flashline, blank board", Board::Blank, None),
        ("flashline, older firmware on board", Board::OldFirmware, None),
        ("flashline, same image on board", Board::SameImage, None),
        ("esptool 5.6 (stub v2), blank board", Board::Blank, Some(None)),
        ("esptool 5.6 (stub v2), older firmware on board", Board::OldFirmware, Some(None)),
        ("esptool 5.6 (stub v2), same image on board", Board::SameImage, Some(None)),
        ("esptool 5.6 --stub-version 1, blank board", Board::Blank, Some(Some("1"))),
    ];
    for (name, board, esptool_stub) in rows {
        let dir = tempfile::tempdir().unwrap();
        let link = dir.path().join("board0");
        let stats = rt.block_on(async {
            let mut cfg = BoardConfig::new(Chip::Esp32, Mac([0x24, 0x0a, 0xc4, 0, 0, 1]));
            cfg.timing = TimingMode::Realistic;
            if board != Board::Blank {
                let file = dir.path().join("flash.bin");
                std::fs::write(&file, board.content(old, merged)).unwrap();
                cfg.flash_file = Some(file);
            }
            let pty = flashline_sim::spawn_pty(cfg, &link).expect("spawn_pty");
            let before = pty.handle.stats();
            match esptool_stub {
                None => {
                    run_ours(&link, image, stubs.clone(), BlankSkip::Probe).await;
                }
                Some(v) => {
                    let (l, m) = (link.clone(), merged_path.to_path_buf());
                    tokio::task::spawn_blocking(move || run_esptool(&l, &m, v)).await.unwrap();
                }
            }
            let s = pty.handle.stats();
            SimStats {
                sector_erases: s.sector_erases - before.sector_erases,
                block_erases: s.block_erases - before.block_erases,
                program_ops: s.program_ops - before.program_ops,
                bytes_programmed: s.bytes_programmed - before.bytes_programmed,
                flash_bytes_read: s.flash_bytes_read - before.flash_bytes_read,
                blank_sector_skips: s.blank_sector_skips - before.blank_sector_skips,
                overruns: s.overruns - before.overruns,
                bytes_in: s.bytes_in - before.bytes_in,
                bytes_out: s.bytes_out - before.bytes_out,
                commands: s.commands - before.commands,
                ..s
            }
        });
        out.push((name.to_string(), stats));
    }
    out
}

// ---------------------------------------------------------------------------------------
// Main
// ---------------------------------------------------------------------------------------

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn secs(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64())
}

struct Row {
    name: String,
    board: Board,
    runs: Vec<Run>,
}

impl Row {
    fn med(&self, f: impl Fn(&Run) -> Duration) -> Duration {
        median(self.runs.iter().map(f).collect())
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let runs: usize =
        args.iter().position(|a| a == "--runs").and_then(|i| args.get(i + 1)).and_then(|s| s.parse().ok()).unwrap_or(3);
    let with_stats = !args.iter().any(|a| a == "--no-stats");
    let only: Option<String> = args.iter().position(|a| a == "--only").and_then(|i| args.get(i + 1)).cloned();
    let espsim = workspace_bin("espsim");
    let _ = esptool();

    let merged = merged_image(APP_LEN, 1);
    let old = merged_image(2 << 20, 77);
    let work = tempfile::tempdir().unwrap();
    let merged_path = work.path().join("merged.bin");
    std::fs::write(&merged_path, &merged).unwrap();

    let t = Instant::now();
    // Prepared as a station prepares its golden image.
    let image = Arc::new(
        PreparedImage::with_compression(vec![Region::new(0, merged.clone())], flashline::image::GOLDEN_COMPRESSION)
            .expect("prepare"),
    );
    let prepare = t.elapsed();
    let stubs = Arc::new(StubSet::builtin());
    let model = TimingModel::realistic(Chip::Esp32);
    let bounds: Vec<(Board, Bound)> =
        Board::ALL.iter().map(|&board| (board, bound(&image, &board.content(&old, &merged), &model))).collect();
    let bound_of = |board: Board| &bounds.iter().find(|(b, _)| *b == board).expect("every board state").1;
    let b = bound_of(Board::Blank);
    let app_z = {
        let app_only =
            PreparedImage::new(vec![Region::new(0x10000, merged[0x10000..0x10000 + APP_LEN].to_vec())]).unwrap();
        app_only.regions[0].full.wire_len as f64 / APP_LEN as f64
    };

    println!("# flash_one_board: ESP32, 4 MB merged image, {BAUD} baud, espsim --timing realistic");
    println!("espsim: {}", espsim.display());
    println!(
        "image: {} bytes; non-0xFF sectors {} bytes in {} runs (flashline writes {} bytes in {} payloads on a blank board); app zlib-9 ratio {:.3}; runs compressed {} bytes; whole image compressed {} bytes; prepare (once per line) {:.2} s",
        merged.len(),
        b.written_bytes,
        non_blank_runs(0, &merged).len(),
        image.regions[0].sparse_len(),
        image.regions[0].sparse.len(),
        app_z,
        b.wire_bytes,
        b.full_wire_bytes,
        prepare.as_secs_f64()
    );
    for (board, b) in &bounds {
        println!(
            "bound, {}: write {} B ({} B compressed, wire {} s), erase only {} B; erase {} s + program {} s = {} s; whole-range MD5 {} s -> max(wire, erase + program) + MD5 = {} s",
            board.name(),
            b.written_bytes,
            b.wire_bytes,
            secs(b.wire),
            b.erased_bytes,
            secs(b.erase),
            secs(b.program),
            secs(b.flash()),
            secs(b.verify),
            secs(b.total()),
        );
    }
    println!(
        "strict bound, blank board (MD5 of the written runs only, {} s): {} s",
        secs(b.verify_written),
        secs(b.strict())
    );

    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    type Scenario<'a> = (String, Board, Box<dyn Fn(&Path) -> Run + 'a>);
    let mut scenarios: Vec<Scenario> = Vec::new();
    for board in Board::ALL {
        let ours = format!("flashline-session (Probe, default), {}", board.name());
        let theirs = format!("esptool 5.6 write-flash (defaults, stub v2), {}", board.name());
        let (image, stubs, merged_path) = (&image, &stubs, &merged_path);
        let rt = &rt;
        scenarios.push((
            ours,
            board,
            Box::new(move |p: &Path| rt.block_on(run_ours(p, image, stubs.clone(), BlankSkip::Probe))),
        ));
        scenarios.push((theirs, board, Box::new(move |p: &Path| run_esptool(p, merged_path, None))));
    }
    scenarios.push((
        "flashline-session (TrustBlank), blank board".into(),
        Board::Blank,
        Box::new(|p: &Path| rt.block_on(run_ours(p, &image, stubs.clone(), BlankSkip::TrustBlank))),
    ));
    scenarios.push((
        "esptool 5.6 --stub-version 1, blank board".into(),
        Board::Blank,
        Box::new(|p: &Path| run_esptool(p, &merged_path, Some("1"))),
    ));
    let mut rows = Vec::new();
    for (name, board, f) in &scenarios {
        if only.as_deref().is_some_and(|o| !name.contains(o)) {
            continue;
        }
        let mut row = Row { name: name.to_string(), board: *board, runs: Vec::new() };
        for i in 0..runs {
            let dir = tempfile::tempdir().unwrap();
            let mut sim = start_sim(dir.path(), *board, &old, &merged);
            let port = sim.port(0).to_path_buf();
            let run = f(&port);
            sim.terminate();
            drop(sim);
            if let Err(e) = check_flash(dir.path(), &merged) {
                panic!("{name}: run {i}: {e}");
            }
            eprintln!(
                "  {name} run {i}: wall {} s (connect {} probe {} write {} verify {}) md5 {}x/{} B [{}] load {}",
                secs(run.wall),
                secs(run.connect),
                secs(run.probe),
                secs(run.write),
                secs(run.verify),
                run.md5_cmds,
                run.md5_bytes,
                run.note,
                run.load
            );
            row.runs.push(run);
        }
        rows.push(row);
    }

    let esptool_wall = |board: Board| {
        rows.iter()
            .find(|r| r.board == board && r.name.starts_with("esptool 5.6 write-flash"))
            .map(|r| r.med(|x| x.wall))
    };
    println!();
    println!("| run (median of {runs}) | wall s | connect+stub+baud s | probe before first write s | write s | verify s | MD5 hashed | vs esptool (same board) | vs bound (same board) | load avg (1/5/15) |");
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for r in &rows {
        let wall = r.med(|x| x.wall);
        let vs_e =
            esptool_wall(r.board).map(|e| format!("{:.2}×", wall.as_secs_f64() / e.as_secs_f64())).unwrap_or_default();
        let loads: Vec<&str> = r.runs.iter().map(|x| x.load.as_str()).collect();
        println!(
            "| {} | {} | {} | {} | {} | {} | {:.2} MB | {} | {:.2}× | {} |",
            r.name,
            secs(wall),
            secs(r.med(|x| x.connect)),
            secs(r.med(|x| x.probe)),
            secs(r.med(|x| x.write)),
            secs(r.med(|x| x.verify)),
            r.runs[0].md5_bytes as f64 / 1e6,
            vs_e,
            wall.as_secs_f64() / bound_of(r.board).total().as_secs_f64(),
            loads.join("; ")
        );
    }
    for (board, b) in &bounds {
        println!(
            "| lower bound, {} (max(wire, erase+program) + MD5 of the range) | {} | – | – | {} | {} | {:.2} MB | | 1.00× |  |",
            board.name(),
            secs(b.total()),
            secs(b.wire.max(b.flash())),
            secs(b.verify),
            image.regions[0].data.len() as f64 / 1e6
        );
    }

    if with_stats {
        println!();
        println!("SimStats (in-process espsim on a PTY, same timing model, one run each):");
        println!("| run | block erases | sector erases | blank-sector skips | program ops | bytes programmed | flash bytes read | bytes host→chip | overruns |");
        println!("|---|---|---|---|---|---|---|---|---|");
        for (name, s) in stats_pass(&image, &merged, &merged_path, stubs.clone(), &old) {
            println!(
                "| {name} | {} | {} | {} | {} | {} | {} | {} | {} |",
                s.block_erases,
                s.sector_erases,
                s.blank_sector_skips,
                s.program_ops,
                s.bytes_programmed,
                s.flash_bytes_read,
                s.bytes_in,
                s.overruns
            );
        }
    }
}
