use std::path::{Path, PathBuf};

use flashline_protocol::Chip;
use flashline_session::{After, BeforeReset};

use super::*;
use crate::device::{DeviceInfo, UsbLocation, VidPid, DEFAULT_ADAPTERS};
use crate::image::ImageSource;

pub(super) const DIGEST: &str = "1b045c75f74b6425888da62284cb52a484ad4199300e9cbba17793fccfcadc98";

pub(super) fn minimal() -> String {
    format!(
        "station = \"st1\"\n[image]\nmanifest = \"golden/manifest.toml\"\nsha256 = \"{DIGEST}\"\nchip = \"esp32\"\n"
    )
}

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(text, Path::new("/etc/flashline/flashline.toml"))
}

/// The error's one-line message, which is what the operator sees.
pub(super) fn error(text: &str) -> String {
    parse(text).unwrap_err().to_string()
}

#[test]
fn the_example_config_parses() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/flashline.toml");
    let c = Config::load(&path).unwrap();
    assert_eq!(c.station, "line1-station3");
    assert_eq!(
        c.images.single().unwrap().source,
        ImageSource::Manifest(path.parent().unwrap().join("golden/manifest.toml"))
    );
    assert_eq!(c.images.single().unwrap().chip, Chip::Esp32);
    assert_eq!(c.images.single().unwrap().min_flash_size, Some(4 << 20));
    assert_eq!(c.flash.baud_fallback, [Baud(460_800), Baud(115_200)]);
    let defaults: Vec<VidPid> = DEFAULT_ADAPTERS.iter().map(|(id, _)| *id).collect();
    assert_eq!(c.devices.allow, defaults, "the example lists exactly the defaults");
    assert_eq!(c.slots.len(), 6);
    assert_eq!(c.recovery.power_cycle, PowerCycle::Off);
    assert_eq!(c.path(), path);
}

#[test]
fn defaults_for_a_minimal_config() {
    let c = parse(&minimal()).unwrap();
    assert_eq!(c.database, PathBuf::from(DEFAULT_DATABASE));
    assert_eq!(c.database_max_size, None);
    assert_eq!(c.max_jobs, DEFAULT_MAX_JOBS);
    assert_eq!(c.images.single().unwrap().source, ImageSource::Manifest("/etc/flashline/golden/manifest.toml".into()));
    assert_eq!(c.images.single().unwrap().min_flash_size, None);
    let f = &c.flash;
    assert_eq!((f.baud, f.verify, f.skip_blank, f.skip_identical), (Baud(921_600), VerifyMode::Md5, true, false));
    assert_eq!(f.baud_fallback, [Baud(460_800), Baud(115_200)]);
    assert_eq!((f.reset, f.after, f.stub_dir.as_ref()), (BeforeReset::Auto, After::HardReset, None));
    assert_eq!(c.devices.filter(), crate::device::DeviceFilter::default());
    assert_eq!(c.devices.unmapped_ports, UnmappedPorts::Flash);
    assert!(c.slots.is_empty());
    assert_eq!(c.log, LogConfig { format: LogFormat::Auto, level: LogLevel::Info });

    // A low main baud drops the default fallbacks that are not below it.
    let c = parse(&format!("{}[flash]\nbaud = 460800\nstub_dir = \"stubs\"\n", minimal())).unwrap();
    assert_eq!(c.flash.baud_fallback, [Baud(115_200)]);
    assert_eq!(c.flash.stub_dir, Some(PathBuf::from("/etc/flashline/stubs")));
}

#[test]
fn syntax_type_and_unknown_key_errors_point_at_the_spot() {
    let e = error(&format!("{}[flash]\nbaud = 921600\nskip_identicall = true\n", minimal()));
    assert!(e.starts_with("/etc/flashline/flashline.toml:8:1: [flash] skip_identicall: unknown field"), "{e}");

    let e = error(&format!("{}[flash]\nbaud = \"fast\"\n", minimal()));
    assert!(e.starts_with("/etc/flashline/flashline.toml:7:8: [flash] baud: invalid type: string \"fast\""), "{e}");

    let e = error(&format!("{}[flash]\nbaud = 300\n", minimal()));
    assert!(e.contains(":7:8: [flash] baud: baud 300 is out of range"), "{e}");

    let e = error(&format!("{}colour = \"red\"\n", minimal()));
    assert!(e.contains(":6:1: [image] colour: unknown field `colour`"), "{e}");

    let e = error(&minimal().replace(DIGEST, "abc"));
    assert!(e.contains(":4:10: [image] sha256: 'abc' is not a SHA-256 digest"), "{e}");

    let e = error(&minimal().replace("esp32", "esp31"));
    assert!(e.contains(":5:8: [image] chip: unknown chip 'esp31'"), "{e}");

    let e = error(&format!("{}min_flash_size = \"4 parsecs\"\n", minimal()));
    assert!(e.contains(":6:18: [image] min_flash_size: '4 parsecs' is not a size"), "{e}");

    let e = error(&format!("{}[devices]\nallow = [\"10c4:ea60\", \"1a86\"]\n", minimal()));
    assert!(e.contains(":7:23: [devices] allow[1]: '1a86' is not a USB id"), "{e}");

    let e = error(&format!("{}[log]\nformat = \"xml\"\n", minimal()));
    assert!(
        e.contains(":7:10: [log] format: unknown variant `xml`, expected one of `auto`, `text`, `json`, `journald`"),
        "{e}"
    );

    let e = error("station = \"st1\"\n");
    assert!(e.contains(":1:1: [image]: say what to flash: an [image] table"), "{e}");

    let e = error("station = \"st1\"\nstation = \"st2\"\n");
    assert!(e.contains(":2:1: duplicate key"), "{e}");
    assert_eq!(parse("station = ").unwrap_err().exit_code(), crate::exit::Exit::Config);
}

#[test]
fn validation_errors_are_precise() {
    let slots = |body: &str| error(&format!("{}[slots]\n{body}", minimal()));

    let e = slots("A1 = \"1-2.1\"\nA2 = \"pci-0000:00:14.0-usb-0:2.2:1.0\"\nA3 = \"/dev/serial/by-path/pci-0000:00:14.0-usb-0:2.2:1.0-port0\"\n");
    assert_eq!(
        e,
        "/etc/flashline/flashline.toml:9:6: [slots] 'A3' maps to usb path \
         '/dev/serial/by-path/pci-0000:00:14.0-usb-0:2.2:1.0-port0' already used by 'A2'"
    );
    let e = slots("A1 = \"1-2.1\"\nA2 = \"1-2.1:1.0\"\n");
    assert!(e.contains(":8:6: [slots] 'A2' maps to usb path '1-2.1:1.0' overlapping the one of 'A1'"), "{e}");
    let e = slots("\"A 1\" = \"1-2.1\"\n");
    assert!(e.contains(":7:1: [slots] A 1: slot name 'A 1' must be"), "{e}");
    let e = slots("A1 = \"/dev/ttyUSB0\"\n");
    assert!(e.contains(":7:6: [slots] A1: '/dev/ttyUSB0' is not a USB location"), "{e}");

    let e = error(&format!("{}merged_bin = \"m.bin\"\n", minimal()));
    assert!(e.contains(":6:14: [image] merged_bin: manifest is already set: give exactly one of"), "{e}");
    let e = error(&minimal().replace("manifest = \"golden/manifest.toml\"\n", ""));
    assert!(e.contains(":2:1: [image]: say where the golden image is"), "{e}");

    let e = error(&format!("{}[flash]\nbaud = 460800\nbaud_fallback = [230400, 460800]\n", minimal()));
    assert!(
        e.contains(":8:26: [flash] baud_fallback[1]: 460800 must be lower than the previous fallback (230400)"),
        "{e}"
    );
    let e = error(&format!("{}[flash]\nbaud_fallback = [1000000]\n", minimal()));
    assert!(e.contains("1000000 must be lower than baud (921600)"), "{e}");

    let e = error(&format!("{}[devices]\nallow = []\n", minimal()));
    assert!(e.contains(":7:9: [devices] allow: the list is empty"), "{e}");
    let e = error(&format!("max_jobs = 0\n{}", minimal()));
    assert!(e.contains(":1:12: max_jobs: 0 is out of range (1 to 256)"), "{e}");
    let e = error(&minimal().replace("\"st1\"", "\"  \""));
    assert!(e.contains(":1:11: station: the station id is empty"), "{e}");
}

#[test]
fn slots_name_devices_by_port() {
    let c = parse(&format!(
        "{}[slots]\nA1 = \"pci-0000:00:14.0-usb-0:2.1:1.0\"\nA2 = \"1-2.2\"\nA3 = \"1-2.3:1.1\"\n",
        minimal()
    ))
    .unwrap();
    let mut dev = DeviceInfo::simulated(1, "/dev/ttyUSB0".into());
    dev.id_path = Some("pci-0000:00:14.0-usb-0:2.1:1.0".into());
    assert_eq!(c.slots.name_for(&dev), Some("A1"));
    dev.id_path = None;
    dev.usb_port = Some("1-2.2".into());
    dev.usb_interface = Some("1-2.2:1.0".into());
    assert_eq!(c.slots.name_for(&dev), Some("A2"));
    dev.usb_port = Some("1-2.3".into());
    assert_eq!(c.slots.name_for(&dev), None, "A3 names another interface of port 1-2.3");
    dev.usb_interface = Some("1-2.3:1.1".into());
    assert_eq!(c.slots.name_for(&dev), Some("A3"));
    dev.usb_port = Some("1-9".into());
    dev.usb_interface = Some("1-9:1.0".into());
    assert_eq!(c.slots.name_for(&dev), None);
    assert_eq!(c.slots.iter().map(|s| s.location.clone()).nth(1), Some(UsbLocation::Port("1-2.2".into())));
}

#[test]
fn reload_returns_the_new_config_or_keeps_the_old() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("flashline.toml");
    std::fs::write(&path, minimal()).unwrap();
    let old = Config::load(&path).unwrap();

    std::fs::write(&path, format!("{}[flash]\nbaud = 460800\n", minimal())).unwrap();
    let new = reload(&old).unwrap();
    assert_eq!(new.flash.baud, Baud(460_800));

    std::fs::write(&path, format!("{}[flash]\nbaud = 460800\nbuad = 1\n", minimal())).unwrap();
    let e = old.reload().unwrap_err().to_string();
    assert!(e.starts_with(&format!("{}:8:1: [flash] buad: unknown field", path.display())), "{e}");
    assert_eq!(old.flash.baud, Baud(921_600), "the running config is untouched");

    std::fs::write(&path, minimal().replace("st1", "st2")).unwrap();
    let e = old.reload().unwrap_err();
    assert!(matches!(&e, ConfigError::RestartRequired { key, .. } if key == "station"), "{e}");
    assert!(e.to_string().contains("station changed from 'st1' to 'st2'"), "{e}");

    std::fs::write(&path, format!("database = \"other.sqlite\"\n{}", minimal())).unwrap();
    assert!(matches!(old.reload().unwrap_err(), ConfigError::RestartRequired { .. }));

    std::fs::remove_file(&path).unwrap();
    let e = old.reload().unwrap_err().to_string();
    assert!(e.starts_with("cannot read config file") && e.contains("flashline.toml"), "{e}");
}

#[test]
fn database_size_limit() {
    let c = parse(&format!("database_max_size = \"2GB\"\n{}", minimal())).unwrap();
    assert_eq!(c.database_max_size, Some(2 << 30));
    let c = parse(&format!("database_max_size = 1048576\n{}", minimal())).unwrap();
    assert_eq!(c.database_max_size, Some(1 << 20));
    let e = error(&format!("database_max_size = 4096\n{}", minimal()));
    assert!(e.contains(":1:21: database_max_size: 4096 bytes is too small"), "{e}");
    let e = error(&format!("database_max_size = \"a lot\"\n{}", minimal()));
    assert!(e.contains("database_max_size") && e.contains("not a size"), "{e}");
}

#[test]
fn recovery_power_cycle_is_off_unless_asked_for() {
    assert_eq!(parse(&minimal()).unwrap().recovery.power_cycle, PowerCycle::Off);
    let c = parse(&format!("{}[recovery]\npower_cycle = \"uhubctl\"\n", minimal())).unwrap();
    assert_eq!(c.recovery.power_cycle, PowerCycle::Uhubctl);
    let e = error(&format!("{}[recovery]\npower_cycle = \"ykush\"\n", minimal()));
    assert!(e.contains("[recovery] power_cycle: unknown variant `ykush`, expected `off` or `uhubctl`"), "{e}");
    let e = error(&format!("{}[recovery]\npowercycle = \"uhubctl\"\n", minimal()));
    assert!(e.contains("unknown field `powercycle`"), "{e}");
}

/// `[central]`: a postgres URL without a password, the password from one place.
#[test]
fn central_takes_a_url_and_one_password_source() {
    use super::{CentralConfig, CentralPassword};
    let with = |body: &str| format!("{}[central]\n{body}", minimal());
    let c = parse(&with("url = \"postgres://st1@db/fl\"\npassword_file = \"central.pw\"\n")).unwrap();
    assert_eq!(
        c.central,
        Some(CentralConfig {
            url: "postgres://st1@db/fl".into(),
            password: CentralPassword::File("/etc/flashline/central.pw".into())
        })
    );
    let c = parse(&with("url = \"postgres://st1@db/fl\"\npassword_env = \"FL_PW\"\n")).unwrap();
    assert_eq!(c.central.unwrap().password, CentralPassword::Env("FL_PW".into()));
    assert_eq!(parse(&minimal()).unwrap().central, None);
    let refused = [
        ("url = \"/var/lib/x.sqlite\"\n", "postgres://"),
        ("url = \"postgres://st1:secret@db/fl\"\n", "holds a password"),
        ("url = \"postgres://st1@db/fl\"\npassword_file = \"a\"\npassword_env = \"B\"\n", "one of them"),
        ("url = \"postgres://st1@db/fl\"\npasword_file = \"a\"\n", "unknown field"),
    ];
    for (body, want) in refused {
        let e = error(&with(body));
        assert!(e.contains("[central]") && e.contains(want), "{body}: {e}");
        assert!(!e.contains("secret"), "{e}");
    }
}
