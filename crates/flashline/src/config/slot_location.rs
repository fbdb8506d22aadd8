//! Checks a `[slots]` value against the spellings of a hub port flashline can match, so a
//! typo is a config error instead of a slot that never sees a board.
//!
//! [`UsbLocation`]'s parser takes anything without `/` or white space as a udev `ID_PATH`;
//! here an `ID_PATH` must also look like one. udev's `path_id` builds it from the
//! controller's path (`pci-0000:00:14.0`, `platform-xhci-hcd.0.auto`, …) followed by
//! `-usb-0:` and the kernel's interface name without its bus number (`2.3:1.0` for
//! `1-2.3:1.0`); `-usbv2-0:`/`-usbv3-0:` where the USB revision is included. When the
//! value is close to a valid spelling (`1.2.3` for `1-2.3`, an `ID_PATH` without its
//! `:1.0`), the error says which.

use crate::device::UsbLocation;

/// The spellings, as the error lists them.
pub(super) const ACCEPTED: &str = "use udev's ID_PATH (like pci-0000:00:14.0-usb-0:2.3:1.0, or the \
     /dev/serial/by-path/ link name), a kernel USB port or interface (like 1-2.3 or 1-2.3:1.0) or a sysfs \
     devpath (/devices/…/1-2.3)";

/// The location `text` names, or why it names none (with a suggestion when one is
/// obvious).
pub(super) fn parse(text: &str) -> Result<UsbLocation, String> {
    if let Some(location) = valid(text) {
        return Ok(location);
    }
    let t = text.trim();
    let why = if t.is_empty() {
        "the location is empty".to_string()
    } else if t.starts_with("/dev/") && !t.starts_with("/dev/serial/by-path/") {
        format!("'{t}' is not a USB location but a device node, which changes with plug order")
    } else if t.starts_with("usb-") {
        format!("'{t}' is not a USB location: the ID_PATH lacks its controller part (pci-…); copy it whole")
    } else {
        match t.parse::<UsbLocation>() {
            // White space, a devpath without a USB port in it.
            Err(e) if !e.contains("use udev's ID_PATH") => e,
            _ => format!("'{t}' is not a USB location"),
        }
    };
    let hint = suggestion(t).map(|s| format!(" (did you mean '{s}'?)")).unwrap_or_default();
    Err(format!("{why}{hint}: {ACCEPTED}"))
}

/// The location, if `text` is one of the accepted spellings.
fn valid(text: &str) -> Option<UsbLocation> {
    match text.parse::<UsbLocation>().ok()? {
        UsbLocation::IdPath(p) if !is_id_path(&p) => None,
        location => Some(location),
    }
}

/// `<controller>-usb-0:<ports>:<config>.<interface>` (or `-usbvN-0:`), where the part
/// after `-0:` is a kernel interface name without its bus.
fn is_id_path(s: &str) -> bool {
    let Some((controller, usb)) = s.rsplit_once("-usb") else { return false };
    let Some((revision, interface)) = usb.split_once("-0:") else { return false };
    let revision_ok = revision.is_empty()
        || revision.strip_prefix('v').is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
    let controller_ok = controller.starts_with(|c: char| c.is_ascii_alphabetic())
        && controller.chars().all(|c| c.is_ascii_graphic() && c != '/');
    revision_ok
        && controller_ok
        && matches!(format!("0-{interface}").parse::<UsbLocation>(), Ok(UsbLocation::Interface(_)))
}

/// A valid spelling one slip away from `t`, if there is one.
fn suggestion(t: &str) -> Option<String> {
    let mut candidates = Vec::new();
    // `1.2.3` for `1-2.3`: the bus separator typed as a dot.
    candidates.push(t.replacen('.', "-", 1));
    // `1-2-3` for `1-2.3`: port separators typed as dashes.
    if let Some((bus, ports)) = t.split_once('-') {
        candidates.push(format!("{bus}-{}", ports.replace('-', ".")));
    }
    // An ID_PATH or interface without its `:1.0`, or with half of it.
    candidates.push(format!("{t}:1.0"));
    candidates.push(format!("{t}.0"));
    // A trailing separator.
    candidates.push(t.trim_end_matches([':', '.', '-']).to_string());
    candidates.into_iter().find(|c| c != t && valid(c).is_some())
}

#[cfg(test)]
mod tests {
    use super::*;
    use UsbLocation::*;

    #[test]
    fn accepted_spellings() {
        let cases = [
            ("pci-0000:00:14.0-usb-0:2.3:1.0", IdPath("pci-0000:00:14.0-usb-0:2.3:1.0".into())),
            ("pci-0000:00:14.0-usbv2-0:2.3:1.0", IdPath("pci-0000:00:14.0-usbv2-0:2.3:1.0".into())),
            ("platform-xhci-hcd.0.auto-usb-0:1.2:1.0", IdPath("platform-xhci-hcd.0.auto-usb-0:1.2:1.0".into())),
            (
                "platform-fd500000.pcie-pci-0000:01:00.0-usb-0:1.4.2:1.1",
                IdPath("platform-fd500000.pcie-pci-0000:01:00.0-usb-0:1.4.2:1.1".into()),
            ),
            ("/dev/serial/by-path/pci-0000:00:14.0-usb-0:2:1.0-port0", IdPath("pci-0000:00:14.0-usb-0:2:1.0".into())),
            ("1-2.3", Port("1-2.3".into())),
            ("1-2.3:1.0", Interface("1-2.3:1.0".into())),
            ("/devices/pci0000:00/0000:00:14.0/usb1/1-2/1-2.3", Port("1-2.3".into())),
        ];
        for (text, location) in cases {
            assert_eq!(parse(text), Ok(location), "{text}");
        }
    }

    #[test]
    fn refused_spellings_say_why_and_suggest() {
        let cases = [
            ("typo", "'typo' is not a USB location", None),
            ("A1", "'A1' is not a USB location", None),
            ("1.2.3", "'1.2.3' is not a USB location", Some("1-2.3")),
            ("1.2.3:1.0", "is not a USB location", Some("1-2.3:1.0")),
            ("1-2-3", "is not a USB location", Some("1-2.3")),
            ("1-2.3:1", "is not a USB location", Some("1-2.3:1.0")),
            ("1-2.3:", "is not a USB location", Some("1-2.3")),
            ("pci-0000:00:14.0-usb-0:2.3", "is not a USB location", Some("pci-0000:00:14.0-usb-0:2.3:1.0")),
            ("pci-0000:00:14.0-usb-0:2.3:1", "is not a USB location", Some("pci-0000:00:14.0-usb-0:2.3:1.0")),
            ("pci-0000:00:14.0-usb-1:2.3:1.0", "is not a USB location", None),
            ("pci-0000:00:14.0-usb-0:x:1.0", "is not a USB location", None),
            ("usb-0:2.3:1.0", "lacks its controller part", None),
            ("/dev/ttyUSB0", "'/dev/ttyUSB0' is not a USB location but a device node", None),
            ("1-2 .3", "contains white space", None),
            ("", "the location is empty", None),
            ("/devices/pci0000:00/0000:00:14.0", "contains no USB port", None),
        ];
        for (text, why, suggested) in cases {
            let e = parse(text).unwrap_err();
            assert!(e.contains(why), "{text}: {e}");
            assert!(e.contains("1-2.3:1.0"), "{text}: the accepted forms are listed: {e}");
            match suggested {
                Some(s) => assert!(e.contains(&format!("(did you mean '{s}'?): use udev's")), "{text}: {e}"),
                None => assert!(!e.contains("did you mean"), "{text}: {e}"),
            }
        }
    }
}
