//! The live view's compact layout, for more slots than the terminal has rows: the slots
//! as a grid of short cells (name, then the stage and progress, PASS, or FAIL and the
//! stage), row by row, and under it one line per failed slot with its reason, as many as
//! the room allows. When even the grid does not fit, its last line says how many slots
//! are not shown and what they are doing, so nothing is silently dropped.

use std::fmt::Write as _;

use super::live::{fit, Style};
use crate::station::view::{SlotPhase, SlotView};
use crate::text::escape_for_terminal;

/// Width of one cell including the two spaces that separate it from the next.
pub const CELL_COLS: usize = 20;

/// The grid of `slots` in at most `room` lines of at most `width` visible characters.
pub fn grid(slots: &[SlotView], style: Style, width: usize, room: usize) -> Vec<String> {
    let room = room.max(1);
    let name_w = slots.iter().map(|s| s.name.chars().count()).max().unwrap_or(0);
    let per_line = (width / CELL_COLS).max(1);
    let needed = slots.len().div_ceil(per_line);
    let shown_lines = if needed <= room { needed } else { room - 1 };
    let mut lines: Vec<String> = slots
        .chunks(per_line)
        .take(shown_lines)
        .map(|row| {
            let mut l = String::new();
            for (i, s) in row.iter().enumerate() {
                let (code, text) = cell(s, name_w);
                let text: String = text.chars().take(CELL_COLS - 2).collect();
                let pad = if i + 1 < row.len() { CELL_COLS - text.chars().count() } else { 0 };
                l.push_str(&paint(style, code, &text));
                l.extend(std::iter::repeat_n(' ', pad));
            }
            fit(l, width)
        })
        .collect();
    let hidden = &slots[(shown_lines * per_line).min(slots.len())..];
    if !hidden.is_empty() {
        lines.push(fit(hidden_summary(hidden), width));
        return lines;
    }
    let failed: Vec<&SlotView> = slots.iter().filter(|s| matches!(s.phase, SlotPhase::Fail { .. })).collect();
    let spare = room - lines.len();
    for (k, s) in failed.iter().enumerate() {
        if k + 1 == spare && failed.len() > spare {
            let more = failed.len() - k;
            lines.push(fit(format!("… {more} more failed: flashline log --result fail"), width));
            break;
        }
        if k == spare {
            break;
        }
        if let SlotPhase::Fail { stage, reason } = &s.phase {
            let head = paint(style, "1;31", "FAIL");
            lines.push(fit(format!("{:<name_w$} {head} {stage}: {}", s.name, escape_for_terminal(reason)), width));
        }
    }
    lines
}

/// The colour and the plain text of one slot's cell.
fn cell(s: &SlotView, name_w: usize) -> (&'static str, String) {
    let name = format!("{:<name_w$}", s.name);
    match &s.phase {
        SlotPhase::Queued => ("33", format!("{name} waiting")),
        SlotPhase::Running => {
            let stage = s.stage.map(|st| st.as_str()).unwrap_or("start");
            let pct = s.fraction().map(|f| format!(" {:>3.0}%", f * 100.0)).unwrap_or_default();
            ("", format!("{name} {stage}{pct}"))
        }
        SlotPhase::Pass => {
            ("1;32", format!("{name} PASS{}", s.took.map(|d| format!(" {}", super::live::secs(d))).unwrap_or_default()))
        }
        SlotPhase::Fail { stage, .. } => ("1;31", format!("{name} FAIL {stage}")),
        SlotPhase::Empty => ("2", format!("{name} empty")),
    }
}

/// `text` in colour `code`, or plain when `code` is empty.
fn paint(style: Style, code: &str, text: &str) -> String {
    if code.is_empty() {
        text.to_string()
    } else {
        style.paint(code, text)
    }
}

/// "… 12 more slots: 3 running, 2 waiting, 6 pass, 1 FAIL (A7)".
fn hidden_summary(hidden: &[SlotView]) -> String {
    let count = |f: fn(&SlotPhase) -> bool| hidden.iter().filter(|s| f(&s.phase)).count();
    let mut out = format!("… {} more slots:", hidden.len());
    let parts = [
        ("running", count(|p| matches!(p, SlotPhase::Running))),
        ("waiting", count(|p| matches!(p, SlotPhase::Queued))),
        ("pass", count(|p| matches!(p, SlotPhase::Pass))),
        ("empty", count(|p| matches!(p, SlotPhase::Empty))),
    ];
    let mut first = true;
    for (label, n) in parts.into_iter().filter(|(_, n)| *n > 0) {
        let _ = write!(out, "{} {n} {label}", if first { "" } else { "," });
        first = false;
    }
    let failed: Vec<&str> =
        hidden.iter().filter(|s| matches!(s.phase, SlotPhase::Fail { .. })).map(|s| s.name.as_str()).collect();
    if !failed.is_empty() {
        let _ = write!(out, "{} {} FAIL ({})", if first { "" } else { "," }, failed.len(), failed.join(" "));
    }
    out
}
