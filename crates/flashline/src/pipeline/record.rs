//! What a flashing run contributes to its audit row beyond pass/fail: per-stage times,
//! the regions that were not (fully) written, and per region what the write did. Shared by the daemon's jobs and
//! `flashline flash`, so both write the same row for the same run.

use std::time::Instant;

use flashline_audit::{RegionSummary, SkippedRegion, StageTimings};
use flashline_session::{RegionOutcome, Stage, WriteReport};

/// Records when each stage began, from the session's progress events, so the audit row
/// gets per-stage timings without the session knowing about the audit.
#[derive(Debug, Default)]
pub struct StageClock {
    marks: Vec<(Stage, Instant)>,
}

impl StageClock {
    /// Notes the stage of a progress event; true when it is a new stage.
    pub fn mark(&mut self, stage: Stage) -> bool {
        let new = self.marks.last().map(|(s, _)| *s) != Some(stage);
        if new {
            self.marks.push((stage, Instant::now()));
        }
        new
    }

    pub fn current(&self) -> Option<Stage> {
        self.marks.last().map(|(s, _)| *s)
    }

    /// Milliseconds per stage; a stage seen twice (write → verify → write) is summed.
    pub fn timings(&self, end: Instant) -> StageTimings {
        let mut out: Vec<(String, u64)> = Vec::new();
        for (i, (stage, start)) in self.marks.iter().enumerate() {
            let stop = self.marks.get(i + 1).map(|(_, t)| *t).unwrap_or(end);
            let ms = stop.duration_since(*start).as_millis() as u64;
            match out.iter_mut().find(|(s, _)| s == stage.as_str()) {
                Some((_, total)) => *total += ms,
                None => out.push((stage.as_str().to_string(), ms)),
            }
        }
        StageTimings(out)
    }
}

/// The regions of `report` that were skipped in whole or in part, with the reason.
pub fn skipped_regions(report: &WriteReport) -> Vec<SkippedRegion> {
    report
        .regions
        .iter()
        .filter_map(|r| {
            let reason = match r.outcome {
                RegionOutcome::SkippedIdentical => "already identical on the board".to_string(),
                RegionOutcome::Sparse => format!(
                    "blank-skip: {} of {} bytes were 0xFF on a blank board",
                    u64::from(r.len) - r.written,
                    r.len
                ),
                RegionOutcome::Diff => format!(
                    "re-flash: {} bytes written, {} erased, {} blank on board and image, {} already identical",
                    r.written, r.erased, r.blank, r.identical
                ),
                RegionOutcome::Full | RegionOutcome::FullAfterSparseMismatch => return None,
            };
            Some(SkippedRegion { offset: r.offset.into(), length: r.len.into(), reason })
        })
        .collect()
}

/// Per region of `report`: bytes written, erased, skipped as blank and found identical.
pub fn region_summary(report: &WriteReport) -> Vec<RegionSummary> {
    report
        .regions
        .iter()
        .map(|r| RegionSummary {
            offset: r.offset.into(),
            length: r.len.into(),
            written: r.written,
            erased: r.erased,
            blank: r.blank,
            identical: r.identical,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn stage_clock_sums_repeated_stages() {
        let mut c = StageClock::default();
        let t = Instant::now();
        c.marks = vec![
            (Stage::Connect, t),
            (Stage::Write, t + Duration::from_millis(100)),
            (Stage::Verify, t + Duration::from_millis(300)),
            (Stage::Write, t + Duration::from_millis(350)),
        ];
        let timings = c.timings(t + Duration::from_millis(400));
        assert_eq!(timings.get("connect"), Some(100));
        assert_eq!(timings.get("write"), Some(250));
        assert_eq!(timings.get("verify"), Some(50));
        assert_eq!(timings.0.len(), 3);
    }
}
