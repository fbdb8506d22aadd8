//! Keys the official generator treats specially because ESP-IDF's Wi-Fi driver reads them
//! from its own namespace.
//!
//! - `sta.ssid` / `sta.pswd`: with the first of them, the generator also writes
//!   `sta.apinfo` (140 bytes 0xFF), `sta.pmk` (32 zero bytes) and `sta.apsw` (2 zero
//!   bytes) to the same namespace; flashline does the same. The generator writes these
//!   rows' value text even for type `file` (the path, not the file); flashline refuses
//!   that.
//! - `ap.ssid` / `ap.passwd` / `ap.authmode`: once all three are set (auth mode not `0`),
//!   the generator derives `ap.pmk_info` with PBKDF2-SHA1; flashline does not derive it
//!   and refuses such a CSV rather than write a different partition.

use crate::{Key, Value};

/// What a row with one of these keys needs.
pub(super) enum Special {
    /// Not a driver key: the row is read as usual.
    None,
    /// A `sta.*` key; `extras` are written right after it.
    Station { extras: Vec<(Key, Value)> },
}

/// Why a driver-key row is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WifiError {
    #[error(
        "{key} has type file, for which the official generator stores the path instead of the file; give the value as data"
    )]
    StationFromFile { key: String },
    #[error(
        "ap.ssid, ap.passwd and ap.authmode together make the official generator derive ap.pmk_info, which \
         flashline does not; leave one of them out of the CSV"
    )]
    AccessPointKey,
}

/// The state the generator keeps across rows.
#[derive(Default)]
pub(super) struct WifiRules {
    station_extras_written: bool,
    ap_ssid: bool,
    ap_passwd: bool,
    ap_authmode: bool,
}

impl WifiRules {
    /// Checks a `data`/`file` row (`value` as written in the CSV) before it is read.
    pub fn row(&mut self, key: &str, is_file: bool, value: &str) -> Result<Special, WifiError> {
        match key {
            "ap.ssid" => self.ap_ssid = !value.is_empty(),
            "ap.passwd" => self.ap_passwd = !value.is_empty(),
            "ap.authmode" if value != "0" => self.ap_authmode = !value.is_empty(),
            "sta.ssid" | "sta.pswd" => {
                if is_file {
                    return Err(WifiError::StationFromFile { key: key.to_owned() });
                }
                if std::mem::replace(&mut self.station_extras_written, true) {
                    return Ok(Special::Station { extras: Vec::new() });
                }
                let key = |name: &str| Key::new(name).expect("driver key names are valid");
                let extras = vec![
                    (key("sta.apinfo"), Value::Blob(vec![0xFF; 140])),
                    (key("sta.pmk"), Value::Blob(vec![0; 32])),
                    (key("sta.apsw"), Value::Blob(vec![0; 2])),
                ];
                return Ok(Special::Station { extras });
            }
            _ => return Ok(Special::None),
        }
        if self.ap_ssid && self.ap_passwd && self.ap_authmode {
            return Err(WifiError::AccessPointKey);
        }
        Ok(Special::None)
    }
}
