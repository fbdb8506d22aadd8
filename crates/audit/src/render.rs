//! Output for people and tools: aligned table, JSON, CSV. The query CLI only picks one.
//!
//! Times are RFC 3339 everywhere. The tables people read show them in the station's time
//! zone with its offset (`2026-11-22T08:00:00.000+08:00`); JSON and CSV of attempt rows
//! keep UTC (`…Z`), one stable spelling for tools. CSV follows RFC 4180: a field containing a comma,
//! a double quote, CR or LF (or leading/trailing spaces) is enclosed in double quotes and
//! its quotes are doubled; failure reasons from the field routinely contain all of these.

use std::fmt::Write as _;

use jiff::tz::TimeZone;

use crate::model::{AttemptRow, RegionSummary};
use crate::stats::{Counts, LocalStats};
use crate::zone::LocalTime;

/// Longest failure reason shown in a table cell; JSON and CSV always carry all of it.
const TABLE_REASON_CHARS: usize = 60;

/// An aligned text table with the columns an operator scans: id, start, slot, port, MAC,
/// chip, image, result, stage (the failed stage; for a running row the stage it is in),
/// reason, duration, rework, and what the write did to the flash ([`flash_summary`]).
/// Start times are shown in `tz`, with its offset.
pub fn table(rows: &[AttemptRow], tz: &TimeZone) -> String {
    table_with(rows, tz, &|cell| cell)
}

/// [`table`] with every cell passed through `cell` before the columns are measured: a
/// terminal's caller escapes the text that came from the database (slot names, ports,
/// image names, reasons written by hand or by an older version) so it cannot drive the
/// terminal.
pub fn table_with(rows: &[AttemptRow], tz: &TimeZone, cell: &dyn Fn(String) -> String) -> String {
    let header = [
        "ID", "STARTED", "SLOT", "PORT", "MAC", "SERIAL", "CHIP", "IMAGE", "RESULT", "STAGE", "SECS", "REWORK",
        "FLASH", "BOOT", "REASON",
    ];
    let right_aligned =
        [true, false, false, false, false, false, false, false, false, false, true, false, false, false, false];
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                r.id.0.to_string(),
                LocalTime::new(r.started_at, tz).to_string(),
                r.slot.clone(),
                r.port.clone(),
                r.mac.clone().unwrap_or_else(|| "-".into()),
                r.serial.clone().unwrap_or_else(|| "-".into()),
                chip_cell(r.chip.as_deref(), r.chip_revision.as_deref()),
                format!("{} ({})", r.image_name, r.image_sha256.get(..8).unwrap_or(&r.image_sha256)),
                r.result.to_string(),
                // A running row shows the stage it is in, a completed one the stage it failed in.
                r.failure_stage.clone().or_else(|| r.current_stage.clone()).unwrap_or_else(|| "-".into()),
                r.duration_ms().map_or("-".into(), |ms| format!("{:.1}", ms as f64 / 1000.0)),
                if r.rework { "yes".into() } else { "no".into() },
                flash_summary(&r.region_summary),
                boot_summary(r.boot.as_ref()),
                r.failure_reason.as_deref().map_or("-".into(), |s| one_line(s, TABLE_REASON_CHARS)),
            ]
            .into_iter()
            .map(cell)
            .collect()
        })
        .collect();
    aligned(&header, &right_aligned, &cells)
}

/// The chip for a table cell: the stored description, with the revision added only when
/// the description does not already name it. Identify stores the chip's own description,
/// which names the revision for most chips (`ESP32-D0WDQ6 (revision v1.0)`), and the
/// revision again in its own column; rows written that way since the first schema are
/// shown once (`ESP32-D0WDQ6 (revision v1.0)`), a bare chip name gets its revision
/// (`ESP32-C3 v0.4`), and `-` stands for a board never identified.
pub fn chip_cell(chip: Option<&str>, revision: Option<&str>) -> String {
    match (chip, revision) {
        (Some(c), Some(rev)) if !rev.trim().is_empty() && !names_revision(c, rev) => format!("{c} {rev}"),
        (Some(c), _) => c.to_owned(),
        (None, _) => "-".into(),
    }
}

/// True when `chip` carries `revision` as a word of its own (`(revision v1.0)`, `v1.0`).
fn names_revision(chip: &str, revision: &str) -> bool {
    let revision = revision.trim();
    chip.split(|c: char| c.is_whitespace() || c == '(' || c == ')').any(|w| w == revision)
}

/// The boot check for a table cell: `pass 312ms`, `fail`, `-` when none ran.
pub fn boot_summary(boot: Option<&crate::boot::BootRecord>) -> String {
    match boot {
        None => "-".into(),
        Some(b) => match b.ms_to_pattern {
            Some(ms) if b.passed() => format!("pass {ms}ms"),
            _ => b.result.clone(),
        },
    }
}

/// What the write did over all regions, for a table cell: the non-zero amounts of
/// `written`, `erased`, `blank` (left alone, 0xFF on both sides) and `identical` (left
/// alone, already on the board), e.g. `written 1.0M, erased 1.0M, blank 1.9M`; `-` when
/// the row has no summary.
pub fn flash_summary(regions: &[RegionSummary]) -> String {
    if regions.is_empty() {
        return "-".into();
    }
    let sum = |f: fn(&RegionSummary) -> u64| regions.iter().map(f).sum::<u64>();
    let parts: Vec<String> = [
        ("written", sum(|r| r.written)),
        ("erased", sum(|r| r.erased)),
        ("blank", sum(|r| r.blank)),
        ("identical", sum(|r| r.identical)),
    ]
    .into_iter()
    .filter(|(_, n)| *n > 0)
    .map(|(what, n)| format!("{what} {}", short_size(n)))
    .collect();
    if parts.is_empty() {
        "nothing".into()
    } else {
        parts.join(", ")
    }
}

/// Bytes as a short size: `512`, `24K`, `1.0M` (binary units).
fn short_size(n: u64) -> String {
    const K: u64 = 1024;
    match n {
        n if n < K => n.to_string(),
        n if n < K * K => format!("{}K", n.div_ceil(K)),
        n => format!("{:.1}M", n as f64 / (K * K) as f64),
    }
}

/// Pretty-printed JSON array of the full rows.
pub fn json(rows: &[AttemptRow]) -> String {
    serde_json::to_string_pretty(rows).expect("attempt rows serialise")
}

/// One JSON object per line (for `jq`, log shippers).
pub fn json_lines(rows: &[AttemptRow]) -> String {
    let mut out = String::new();
    for r in rows {
        out.push_str(&serde_json::to_string(r).expect("attempt rows serialise"));
        out.push('\n');
    }
    out
}

/// Column names of [`csv`], in order. Deliberately not derived from
/// [`crate::chain::CHAIN_COLUMNS`] although they overlap: the hashed columns are a frozen
/// on-disk format (changing them breaks every existing chain), the CSV columns are a
/// public output with rendered times and extra columns, and each must change on its own.
pub const CSV_COLUMNS: [&str; 33] = [
    "id",
    "started_at",
    "ended_at",
    "station_id",
    "slot",
    "port",
    "usb_vid",
    "usb_pid",
    "usb_serial",
    "chip",
    "chip_revision",
    "mac",
    "flash_id",
    "flash_size",
    "image_name",
    "image_sha256",
    "result",
    "failure_stage",
    "failure_reason",
    "bytes_written",
    "verify_method",
    "rework",
    "rework_of",
    "skipped_regions",
    "stage_timings",
    "seq",
    "prev_hash",
    "row_hash",
    "current_stage",
    "region_summary",
    "boot",
    "serial",
    "provision",
];

/// CSV with a header row and every field; nested values (timings, skipped regions) as
/// JSON text; USB ids as 4-digit hex, flash id as hex; lines end with `\n`.
pub fn csv(rows: &[AttemptRow]) -> String {
    let mut out = String::new();
    push_record(&mut out, CSV_COLUMNS.iter().map(|s| s.to_string()));
    for r in rows {
        let opt = |v: &Option<String>| v.clone().unwrap_or_default();
        push_record(
            &mut out,
            [
                r.id.0.to_string(),
                r.started_at.to_string(),
                r.ended_at.map(|t| t.to_string()).unwrap_or_default(),
                r.station_id.clone(),
                r.slot.clone(),
                r.port.clone(),
                r.usb_vid.map(|v| format!("{v:04x}")).unwrap_or_default(),
                r.usb_pid.map(|v| format!("{v:04x}")).unwrap_or_default(),
                opt(&r.usb_serial),
                opt(&r.chip),
                opt(&r.chip_revision),
                opt(&r.mac),
                r.flash_id.map(|v| format!("0x{v:06x}")).unwrap_or_default(),
                r.flash_size.map(|v| v.to_string()).unwrap_or_default(),
                r.image_name.clone(),
                r.image_sha256.clone(),
                r.result.to_string(),
                opt(&r.failure_stage),
                opt(&r.failure_reason),
                r.bytes_written.to_string(),
                opt(&r.verify_method),
                r.rework.to_string(),
                r.rework_of.map(|i| i.0.to_string()).unwrap_or_default(),
                serde_json::to_string(&r.skipped_regions).expect("skipped regions serialise"),
                serde_json::to_string(&r.stage_timings).expect("stage timings serialise"),
                r.seq.map(|s| s.to_string()).unwrap_or_default(),
                opt(&r.prev_hash),
                opt(&r.row_hash),
                opt(&r.current_stage),
                serde_json::to_string(&r.region_summary).expect("region summary serialises"),
                r.boot.as_ref().map(crate::boot::BootRecord::to_json).unwrap_or_default(),
                opt(&r.serial),
                r.provision.as_ref().map(|p| p.to_json()).unwrap_or_default(),
            ],
        );
    }
    out
}

/// Quotes one CSV field when it needs it (RFC 4180).
pub fn csv_field(s: &str) -> String {
    let needs = s.contains([',', '"', '\n', '\r']) || s.starts_with(' ') || s.ends_with(' ');
    if needs {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

fn push_record(out: &mut String, fields: impl IntoIterator<Item = String>) {
    let mut first = true;
    for f in fields {
        if !first {
            out.push(',');
        }
        first = false;
        out.push_str(&csv_field(&f));
    }
    out.push('\n');
}

/// Statistics as text: totals, then one table per slot and per hour of the zone the
/// statistics were taken in ([`crate::Stats::in_zone`]).
pub fn stats_table(stats: &LocalStats) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "attempts started {} .. {}", stats.since, stats.until);
    let header = ["", "TOTAL", "PASS", "FAIL", "INTERRUPTED", "RUNNING", "YIELD"];
    let right = [false, true, true, true, true, true, true];
    let row = |label: String, c: &Counts| {
        vec![
            label,
            c.total.to_string(),
            c.pass.to_string(),
            c.fail.to_string(),
            c.interrupted.to_string(),
            c.running.to_string(),
            c.yield_ratio.map_or("-".into(), |y| format!("{:.1}%", y * 100.0)),
        ]
    };
    let mut cells = vec![row("all".into(), &stats.total)];
    cells.extend(stats.per_slot.iter().map(|s| row(format!("slot {}", s.slot), &s.counts)));
    out.push_str(&aligned(&header, &right, &cells));
    out.push('\n');
    let hours: Vec<Vec<String>> = stats.per_hour.iter().map(|h| row(h.hour.to_string(), &h.counts)).collect();
    let mut hour_header = header;
    hour_header[0] = "HOUR";
    out.push_str(&aligned(&hour_header, &right, &hours));
    out
}

/// Pads every column to its widest cell (in characters) and separates columns by two spaces.
fn aligned(header: &[&str], right: &[bool], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut l = String::new();
        for (i, c) in cells.enumerate() {
            if i > 0 {
                l.push_str("  ");
            }
            let pad = widths[i].saturating_sub(c.chars().count());
            if right[i] {
                l.extend(std::iter::repeat_n(' ', pad));
                l.push_str(c);
            } else {
                l.push_str(c);
                l.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.push_str(l.trim_end());
        out.push('\n');
    };
    line(&mut header.iter().copied());
    for r in rows {
        line(&mut r.iter().map(String::as_str));
    }
    out
}

/// A reason on one table line: newlines flattened, long text cut with an ellipsis.
fn one_line(s: &str, max: usize) -> String {
    let flat: String = s.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    if flat.chars().count() <= max {
        flat
    } else {
        let mut cut: String = flat.chars().take(max - 1).collect();
        cut.push('…');
        cut
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flash_summary_names_the_non_zero_amounts() {
        let r = |written, erased, blank, identical| RegionSummary {
            offset: 0,
            length: written + erased + blank + identical,
            written,
            erased,
            blank,
            identical,
        };
        let cases = [
            (vec![], "-"),
            (vec![r(0, 0, 0, 0)], "nothing"),
            (vec![r(1_081_344, 0, 3_112_960, 0)], "written 1.0M, blank 3.0M"),
            (vec![r(0, 0, 0, 4 << 20)], "identical 4.0M"),
            (vec![r(100, 0, 0, 0), r(24 * 1024, 1 << 20, 0, 0)], "written 25K, erased 1.0M"),
        ];
        for (regions, want) in cases {
            assert_eq!(flash_summary(&regions), want);
        }
    }

    #[test]
    fn chip_cell_names_the_revision_once() {
        let cases = [
            (Some("ESP32-D0WDQ6 (revision v1.0)"), Some("v1.0"), "ESP32-D0WDQ6 (revision v1.0)"),
            (Some("ESP32-C3 (QFN32) (revision v0.4)"), Some("v0.4"), "ESP32-C3 (QFN32) (revision v0.4)"),
            (Some("ESP32-C3"), Some("v0.4"), "ESP32-C3 v0.4"),
            (Some("ESP32-C3 v0.4"), Some("v0.4"), "ESP32-C3 v0.4"),
            // A description naming another revision than the column keeps both: a mismatch shows.
            (Some("ESP32-D0WD-V3 (revision v3.0)"), Some("v3.1"), "ESP32-D0WD-V3 (revision v3.0) v3.1"),
            // A revision that is only part of a word is not a mention of it.
            (Some("ESP32-S3 (revision v0.20)"), Some("v0.2"), "ESP32-S3 (revision v0.20) v0.2"),
            (Some("ESP8266EX"), None, "ESP8266EX"),
            (Some("ESP32-C3"), Some(""), "ESP32-C3"),
            (None, Some("v1.0"), "-"),
            (None, None, "-"),
        ];
        for (chip, rev, want) in cases {
            assert_eq!(chip_cell(chip, rev), want, "{chip:?} {rev:?}");
        }
    }

    #[test]
    fn csv_quotes_only_what_needs_quoting() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("two\nlines"), "\"two\nlines\"");
        assert_eq!(csv_field(" padded"), "\" padded\"");
        assert_eq!(csv_field(""), "");
    }

    #[test]
    fn table_columns_line_up_with_wide_characters() {
        let t = aligned(&["A", "B"], &[false, true], &[vec!["ü".into(), "1".into()], vec!["xyz".into(), "100".into()]]);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines, ["A      B", "ü      1", "xyz  100"]);
    }

    #[test]
    fn long_reasons_are_cut_on_one_line() {
        assert_eq!(one_line("a\nb", 10), "a b");
        assert_eq!(one_line("abcdefghijk", 5), "abcd…");
    }
}
