//! What the one-off board commands (`info`, `capture`, `flash`, `read`, `erase`) share:
//! the common options, opening the port, bringing the board up through the session's
//! [`Flasher`], and turning every failure into a message that says what to do and a
//! documented exit code.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::Args;
use flashline_protocol::flash::{format_size, parse_size};
use flashline_protocol::Chip;
use flashline_session::{
    After, BeforeReset, CancellationToken, Error as SessionError, Flasher, FlasherConfig, Named, Reconnect,
    SerialTransport, Stage, StubSet,
};

use super::progress_bar::ProgressBar;
use super::report_format::ReportFormat;
use super::Failure;
use crate::config::Baud;
use crate::exit::Exit;
use crate::pipeline::{BoxTransport, OpenRequest, PortFinder, PortOpener, PortReconnect, SerialPorts, SysfsPorts};

/// Default link speed once the loader runs (esptool's usual `-b 921600`).
pub const DEFAULT_BAUD: u32 = 921_600;

/// The link options, as esptool and espflash users type them: before or after the
/// command (`flashline -p /dev/ttyUSB0 -b 460800 read-flash ...`), with
/// `$FLASHLINE_PORT` / `$ESPTOOL_PORT` for the port.
#[derive(Debug, Clone, Default, Args)]
pub struct LinkArgs {
    /// Serial port of the board (e.g. /dev/ttyUSB0) [env: FLASHLINE_PORT, ESPTOOL_PORT];
    /// without one, the only USB serial port present is used.
    #[arg(long, short = 'p', global = true, value_name = "PORT")]
    pub port: Option<PathBuf>,
    /// Link speed once the loader runs [default: 921600].
    #[arg(long, short = 'b', global = true, value_name = "BAUD")]
    pub baud: Option<u32>,
    /// Refuse the board unless it is this chip (esp32, esp8266, esp32s3, esp32c3, …: every
    /// chip flashline knows); the demo's chip.
    #[arg(long, short = 'c', global = true, value_parser = parse_chip, value_name = "CHIP")]
    pub chip: Option<Chip>,
    /// How to put the board into download mode: `default-reset` pulses DTR/RTS (auto-reset
    /// circuit), `no-reset` expects it there already (BOOT held, or a fixture); also
    /// `classic`, `unix-tight`, `usb-reset` (the `[flash] reset` names are accepted too).
    #[arg(long, global = true, value_parser = named::<BeforeReset>, value_name = "HOW")]
    pub before: Option<BeforeReset>,
    /// What to do at the end: `hard-reset` starts the firmware (RTS pulse), `no-reset`
    /// leaves the chip in its download mode, `no-reset-stub` leaves the stub running.
    #[arg(long, global = true, value_parser = named::<After>, value_name = "HOW")]
    pub after: Option<After>,
}

/// Environment variables naming the port, in the order they are read.
pub const PORT_ENV: [&str; 2] = ["FLASHLINE_PORT", "ESPTOOL_PORT"];

/// Options every board command takes (the link options come from [`LinkArgs`] through
/// [`BoardArgs::bind`]).
#[derive(Debug, Clone, Args)]
pub struct BoardArgs {
    /// The board's port, resolved by [`BoardArgs::bind`].
    #[arg(skip)]
    pub port: PathBuf,
    #[arg(skip)]
    pub baud: Option<u32>,
    #[arg(skip)]
    pub chip: Option<Chip>,
    #[arg(skip)]
    pub before: Option<BeforeReset>,
    #[arg(skip)]
    pub after: Option<After>,
    /// Directory of flasher stubs (esptool's `<chip>.json`) to use instead of the built-in
    /// ones; default: $FLASHLINE_STUB_DIR if set, else the built-in stubs.
    #[arg(long, value_name = "DIR")]
    pub stub_dir: Option<PathBuf>,
    /// Do not upload the flasher stub: talk to the ROM loader only (slow; the ESP8266 ROM
    /// can neither read nor verify flash).
    #[arg(long)]
    pub no_stub: bool,
    /// Reset-and-sync attempts before giving up on the board.
    #[arg(long, default_value_t = 7, value_name = "N")]
    pub connect_attempts: u32,
    /// Report as text (stderr) or as one JSON object (stdout).
    #[arg(long, value_enum, default_value_t = ReportFormat::Text)]
    pub format: ReportFormat,
}

/// clap parser for a setting that has one type from config to session (`--before`,
/// `--after`): the names come from the type itself.
pub fn named<T: Named>(s: &str) -> Result<T, String> {
    T::parse_name(s)
}

/// clap parser for `--chip`: the families the session flashes, which are every chip
/// [`Chip`] knows (`Chip::ALL`, one list; its error names them all).
pub fn parse_chip(s: &str) -> Result<Chip, String> {
    Ok(s.parse::<Chip>()?)
}

/// clap parser for offsets and sizes: `4096`, `0x1000`, `4MB`, `1M`, `512k`.
pub fn parse_number(s: &str) -> Result<u32, String> {
    parse_size(s)
}

impl BoardArgs {
    /// Takes the link options and resolves the port: `--port`, else `$FLASHLINE_PORT`,
    /// else `$ESPTOOL_PORT`, else the only USB serial port present (several or none: the
    /// candidates are listed and nothing is touched).
    pub fn bind(mut self, link: &LinkArgs) -> Result<BoardArgs, Failure> {
        let env = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from);
        let port = match link.port.clone().or_else(|| PORT_ENV.iter().find_map(|n| env(n))) {
            Some(p) => p,
            None => only_port(crate::device::scan_ports().unwrap_or_default())?,
        };
        self.port = port;
        self.baud = link.baud;
        self.chip = link.chip;
        self.before = link.before;
        self.after = link.after;
        Ok(self)
    }

    /// The link speed: `--baud`, else `fallback` (a station config), else 921600.
    pub fn baud_or(&self, fallback: Option<u32>) -> Result<u32, Failure> {
        let baud = self.baud.or(fallback).unwrap_or(DEFAULT_BAUD);
        if (Baud::MIN..=Baud::MAX).contains(&baud) {
            Ok(baud)
        } else {
            Err(Failure::new(Exit::Config, format!("--baud {baud} is out of range ({} to {})", Baud::MIN, Baud::MAX)))
        }
    }

    /// The flasher stubs, unless `--no-stub`: the built-in ones, or the directory given by
    /// `--stub-dir` / $FLASHLINE_STUB_DIR (which must then load).
    pub fn stubs(&self) -> Result<Option<Arc<StubSet>>, Failure> {
        if self.no_stub {
            return Ok(None);
        }
        StubSet::resolve(self.stub_dir.as_deref()).map(|s| Some(Arc::new(s))).map_err(|e| Failure::new(Exit::Config, e))
    }

    /// The session settings for these options (`base` carries a station config's).
    pub fn flasher_config(
        &self,
        base: Option<FlasherConfig>,
        fallback_baud: Option<u32>,
    ) -> Result<FlasherConfig, Failure> {
        let mut cfg = base.unwrap_or_default();
        cfg.baud = self.baud_or(fallback_baud)?;
        if let Some(before) = self.before {
            cfg.before = before;
        }
        if self.stub_dir.is_some() || self.no_stub || cfg.stubs.is_none() {
            cfg.stubs = self.stubs()?;
        }
        if self.chip.is_some() {
            cfg.expect_chip = self.chip;
        }
        cfg.connect_attempts = self.connect_attempts.max(1);
        Ok(cfg)
    }

    pub fn port_name(&self) -> String {
        self.port.display().to_string()
    }
}

/// Where the one-off commands' boards come from: the opener of their port, and the
/// finder that follows a board on its own USB-Serial/JTAG port to the port it comes back
/// on after a reset (see `pipeline::follow`). Tests pass simulated ones.
#[derive(Debug, Clone)]
pub struct OneOffPorts {
    pub opener: Arc<dyn PortOpener>,
    pub finder: Arc<dyn PortFinder>,
}

impl OneOffPorts {
    /// The host's serial ports, followed through sysfs.
    pub fn system() -> OneOffPorts {
        OneOffPorts { opener: Arc::new(SerialPorts), finder: Arc::new(SysfsPorts::default()) }
    }

    /// In-process simulated boards (the `sim` feature): they open and place themselves.
    #[cfg(feature = "sim")]
    pub fn simulated(ports: crate::pipeline::SimulatedPorts) -> OneOffPorts {
        OneOffPorts { opener: Arc::new(ports.clone()), finder: Arc::new(ports) }
    }

    /// The session's way back to the board of `req` after a reset that takes its port off
    /// the bus.
    pub fn reconnect(&self, req: OpenRequest) -> Arc<dyn Reconnect<BoxTransport>> {
        Arc::new(PortReconnect::following(self.opener.clone(), req, self.finder.clone()))
    }
}

/// A board brought up and ready for flash commands.
pub struct Board {
    pub flasher: Flasher<BoxTransport>,
    pub port: String,
    pub bar: ProgressBar,
}

impl std::fmt::Debug for Board {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Board").field("port", &self.port).field("flasher", &self.flasher).finish()
    }
}

/// Opens the port, resets and syncs, identifies, uploads the stub and raises the baud rate.
pub async fn connect(args: &BoardArgs, cfg: &FlasherConfig) -> Result<Board, Failure> {
    connect_on(args, cfg, &OneOffPorts::system()).await
}

/// [`connect`] over `ports`. A board on its own USB-Serial/JTAG port (303a:1001) gets the
/// USB reset and is followed to the port it comes back on.
pub async fn connect_on(args: &BoardArgs, cfg: &FlasherConfig, ports: &OneOffPorts) -> Result<Board, Failure> {
    let port_name = args.port_name();
    let req = OpenRequest { devnode: args.port.clone(), baud: cfg.initial_baud, usb_ids: None };
    let port = ports.opener.open(&req).await.map_err(|e| Failure::new(e.exit(), e))?;
    let reconnect = ports.reconnect(req);
    let bar = ProgressBar::stderr();
    let result = Flasher::connect_with(port, cfg, bar.progress(), CancellationToken::new(), Some(reconnect)).await;
    bar.clear();
    let flasher = result.map_err(|e| session_failure(&port_name, e))?;
    Ok(Board { flasher, port: port_name, bar })
}

impl Board {
    /// The flash size from the JEDEC id; an error when the id is not in the table.
    pub fn flash_size(&self) -> Result<u32, Failure> {
        let flash = self.flasher.info().flash;
        match flash.and_then(|f| f.size) {
            Some(size) => Ok(size),
            None => Err(Failure::new(
                Exit::Board,
                format!(
                    "{}: the flash size is unknown (JEDEC id {}): the flash chip is not in the table; \
                     refusing to guess",
                    self.port,
                    flash.map(|f| format!("0x{:06x}", f.jedec_id)).unwrap_or_else(|| "not read".into())
                ),
            )),
        }
    }

    /// Maps a session error of this board.
    pub fn fail(&self, e: SessionError) -> Failure {
        self.bar.clear();
        session_failure(&self.port, e)
    }

    /// Reads `len` bytes at `offset` and checks them against the board's own MD5 of the
    /// range (a second, independent pass over the flash on the chip).
    pub async fn read_checked(&mut self, offset: u32, len: u32) -> Result<Vec<u8>, Failure> {
        let data = self.flasher.read_flash(offset, len).await.map_err(|e| self.fail(e))?;
        self.bar.progress().report(Stage::Verify, 0, 0);
        let chip_md5 = self.flasher.flash_md5(offset, len).await.map_err(|e| self.fail(e))?;
        self.bar.clear();
        let ours = flashline_session::image::md5(&data);
        if chip_md5 != ours {
            return Err(Failure::new(
                Exit::Board,
                format!(
                    "{}: the data read from 0x{offset:x}+0x{len:x} does not match the board's MD5 of that range \
                     (board {}, read {}): flaky flash or link; lower --baud and try again",
                    self.port,
                    flashline_session::image::hex(&chip_md5),
                    flashline_session::image::hex(&ours)
                ),
            ));
        }
        Ok(data)
    }

    /// Ends the run (hard reset or back to the download mode).
    pub async fn finish(self, after: After) -> Result<(), Failure> {
        let port = self.port.clone();
        self.bar.clear();
        self.flasher.finish(after).await.map(drop).map_err(|e| session_failure(&port, e))
    }

    /// "ESP32-D0WD-V3 (revision v3.0), MAC 24:0a:c4:00:00:00, 4MB flash".
    pub fn summary(&self) -> String {
        let info = self.flasher.info();
        let size = info.flash.and_then(|f| f.size).map(format_size).unwrap_or_else(|| "unknown size".into());
        format!("{}, MAC {}, {size} flash", info.description, super::report_format::mac(&info.mac))
    }
}

/// The port to use when none was named: the one candidate, else a list to choose from.
pub fn only_port(found: Vec<crate::device::DeviceInfo>) -> Result<PathBuf, Failure> {
    let lines = super::ports::describe(found, None);
    let candidates: Vec<_> = lines.iter().filter(|l| l.flashed).collect();
    match candidates.as_slice() {
        [one] => Ok(PathBuf::from(&one.port)),
        [] => Err(Failure::new(
            Exit::Port,
            "no serial port given (--port/-p, $FLASHLINE_PORT or $ESPTOOL_PORT) and no USB serial port of a \
             known adapter is present: is the board plugged in (and its USB cable a data cable)?",
        )),
        many => Err(Failure::new(
            Exit::Port,
            format!(
                "no serial port given and {} are present; choose one with --port: {}",
                many.len(),
                many.iter()
                    .map(|l| format!("{} ({} {})", l.port, l.vid_pid, l.usb_path))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )),
    }
}

/// Checks that `[offset, offset + len)` lies inside a flash of `size` bytes.
pub fn check_range(port: &str, offset: u32, len: u32, size: u32) -> Result<(), Failure> {
    if u64::from(offset) + u64::from(len) > u64::from(size) {
        return Err(Failure::new(
            Exit::Config,
            format!(
                "{port}: 0x{offset:x}+0x{len:x} ends at 0x{:x}, past the end of the board's {} flash",
                u64::from(offset) + u64::from(len),
                format_size(size)
            ),
        ));
    }
    Ok(())
}

/// Opens the serial port, telling "no such port", "in use" and "no permission" apart.
pub fn open_port(path: &Path, baud: u32) -> Result<SerialTransport, Failure> {
    crate::pipeline::ports::open_serial(path, baud).map_err(|e| Failure::new(e.exit(), e))
}

/// The exit code and message for a session error on `port`.
pub fn session_failure(port: &str, e: SessionError) -> Failure {
    let exit = match &e {
        SessionError::StubNotFound { .. }
        | SessionError::StubMissingChip { .. }
        | SessionError::StubInvalid { .. }
        | SessionError::NeedsStub { .. } => Exit::Config,
        SessionError::InvalidRequest { stage: Stage::Erase, .. } => Exit::Config,
        SessionError::InvalidRequest { stage: Stage::Write, .. } => Exit::Image,
        SessionError::Cancelled { .. } => Exit::Failure,
        _ => Exit::Board,
    };
    let message = match &e {
        SessionError::NoSync { attempts } => format!(
            "{port}: the board does not answer (no reply to SYNC in {attempts} attempts): it is not in download mode, \
             not powered, or this is not its port. Hold BOOT (GPIO0) low while pressing EN/RESET, or use \
             --before default-reset on a board with an auto-reset circuit; check the cable."
        ),
        SessionError::BootLogNoDownload { log, .. } => format!(
            "{port}: the board is running (it printed a boot log) but is not in download mode: hold BOOT (GPIO0) \
             low while pressing EN/RESET, or use --before default-reset on a board with an auto-reset circuit \
             (last output: {log:?})"
        ),
        SessionError::Cancelled { stage } => format!("{port}: stopped by the operator during {stage}"),
        SessionError::WrongChip { expected, found } => format!(
            "{port}: this board is an {found}, not an {expected}: wrong board on this port, or wrong --chip / image"
        ),
        _ => format!("{port}: {e}"),
    };
    Failure::new(exit, message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::DeviceInfo;

    #[test]
    fn errors_map_to_documented_codes() {
        let f = session_failure("/dev/ttyUSB0", SessionError::NoSync { attempts: 7 });
        assert_eq!(f.exit, Exit::Board);
        assert!(f.message.contains("not in download mode"), "{}", f.message);
        let f = session_failure("p", SessionError::WrongChip { expected: Chip::Esp32, found: Chip::Esp8266 });
        assert_eq!(f.exit, Exit::Board);
        assert!(f.message.contains("not an ESP32"), "{}", f.message);
        let f = session_failure("p", SessionError::StubNotFound { searched: "x".into() });
        assert_eq!(f.exit, Exit::Config);
        let f = open_port(Path::new("/dev/flashline-no-such-port"), 115_200).err().expect("no such port");
        assert_eq!(f.exit, Exit::Port);
        assert!(f.message.contains("no such serial port"), "{}", f.message);
    }

    #[test]
    fn without_a_port_the_only_candidate_is_used() {
        let port = |k: u32| DeviceInfo::simulated(k, PathBuf::from(format!("/dev/ttyUSB{k}")));
        assert_eq!(only_port(vec![port(3)]).unwrap(), PathBuf::from("/dev/ttyUSB3"));
        let e = only_port(Vec::new()).unwrap_err();
        assert_eq!(e.exit, Exit::Port);
        assert!(e.message.contains("no serial port given"), "{}", e.message);
        let e = only_port(vec![port(1), port(0)]).unwrap_err();
        assert!(e.message.contains("2 are present") && e.message.contains("/dev/ttyUSB0 (10c4:ea60"), "{}", e.message);
    }

    #[test]
    fn ranges_and_numbers() {
        assert_eq!(parse_number("0x1000"), Ok(0x1000));
        assert_eq!(parse_number("4MB"), Ok(4 << 20));
        assert_eq!(parse_number("1M"), Ok(1 << 20));
        assert!(check_range("p", 0x3F_F000, 0x1000, 4 << 20).is_ok());
        assert_eq!(check_range("p", 0x3F_F000, 0x2000, 4 << 20).unwrap_err().exit, Exit::Config);
        for chip in Chip::ALL {
            assert_eq!(parse_chip(chip.file_name()), Ok(chip));
            assert_eq!(parse_chip(&chip.to_string()), Ok(chip), "the display name parses too");
        }
        assert_eq!(parse_chip("ESP8266"), Ok(Chip::Esp8266));
        let e = parse_chip("esp32c61").unwrap_err();
        assert!(e.contains("unknown chip 'esp32c61'") && e.contains("esp32p4"), "{e}");
    }
}
