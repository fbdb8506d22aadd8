//! The rows a start-up closed as possibly forged: `running` rows no daemon began (above
//! the begun-attempt mark, see `sqlite::mark`), closed with [`FORGED_RUNNING_REASON`].
//!
//! The start-up only logs them; they stay in the chain as what they are. `flashline log
//! verify` lists them and fails, so a row slipped in while no daemon ran is reported by
//! the check operators and auditors run instead of passing as an ordinary interrupted job.
//! The reason is a hashed column: changing it afterwards breaks the chain. Works on both
//! backends (the central record holds the stations' rows as they were closed).

use crate::{AttemptFilter, AttemptResult, AttemptRow, AuditStore, Result, FORGED_RUNNING_REASON};

/// Whether `row` is one a start-up closed as possibly forged.
pub fn is_possibly_forged(row: &AttemptRow) -> bool {
    closed_as_forged(row.result, row.failure_reason.as_deref())
}

fn closed_as_forged(result: AttemptResult, reason: Option<&str>) -> bool {
    result == AttemptResult::Interrupted && reason == Some(FORGED_RUNNING_REASON)
}

impl AuditStore {
    /// The rows closed as possibly forged, oldest first.
    pub async fn possibly_forged(&self) -> Result<Vec<AttemptRow>> {
        let mut rows = self.query(&AttemptFilter::all().result(AttemptResult::Interrupted)).await?;
        rows.retain(is_possibly_forged);
        rows.reverse();
        Ok(rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::INTERRUPTED_REASON;

    #[test]
    fn only_interrupted_rows_with_the_forged_reason_count() {
        let cases = [
            (AttemptResult::Interrupted, Some(FORGED_RUNNING_REASON), true),
            (AttemptResult::Interrupted, Some(INTERRUPTED_REASON), false),
            (AttemptResult::Interrupted, None, false),
            (AttemptResult::Fail, Some(FORGED_RUNNING_REASON), false),
            (AttemptResult::Pass, None, false),
        ];
        for (result, reason, want) in cases {
            assert_eq!(closed_as_forged(result, reason), want, "{result:?} {reason:?}");
        }
    }
}
