//! The post-flash boot check's result as the audit row keeps it (column `boot`, JSON):
//! pass or fail, the time from the final reset to the pattern, why it failed, and the
//! last console lines as the board printed them (escaped wherever they are shown).

use serde::{Deserialize, Serialize};

/// Longest console line kept (bytes of text); longer lines are cut.
pub const MAX_LINE: usize = 256;

/// What the boot check saw.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BootRecord {
    /// `pass` or `fail`.
    pub result: String,
    /// Milliseconds from the final reset to the pattern (a pass).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ms_to_pattern: Option<u64>,
    /// Why it failed ("boot loop", "pattern not seen in 10 s", …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The last console lines, oldest first, as printed (not escaped).
    pub lines: Vec<String>,
}

impl BootRecord {
    pub fn passed(&self) -> bool {
        self.result == "pass"
    }

    /// The JSON text stored in the column.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a boot record serialises")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_omits_what_is_not_known() {
        let pass =
            BootRecord { result: "pass".into(), ms_to_pattern: Some(312), reason: None, lines: vec!["ok".into()] };
        assert_eq!(pass.to_json(), r#"{"result":"pass","ms_to_pattern":312,"lines":["ok"]}"#);
        let fail = BootRecord {
            result: "fail".into(),
            ms_to_pattern: None,
            reason: Some("boot loop".into()),
            lines: vec!["\u{1b}[31mE (95) esp_image".into()],
        };
        assert_eq!(serde_json::from_str::<BootRecord>(&fail.to_json()).unwrap(), fail);
        assert!(pass.passed() && !fail.passed());
    }
}
