//! Walking the hash chain and naming what was changed.
//!
//! Pure logic shared by every backend: the backend reads the chained rows in `seq` order
//! (in batches, on one consistent snapshot) and feeds them to a [`ChainWalker`], which
//! keeps one row of look-ahead. For each row the
//! verifier knows the hash the row should link to (the anchor: the previous accepted
//! row's `row_hash`) and checks two things: its content still hashes to its `row_hash`,
//! and its `prev_hash` is the anchor. The combination tells what happened:
//!
//! | content | link | look-ahead                 | finding                                  |
//! |---------|------|----------------------------|------------------------------------------|
//! | any     | any  | next row links to anchor   | [`ChainProblem::Inserted`] (skipped)     |
//! | ok      | bad  | seq jumps over a gap       | [`ChainProblem::Deleted`]                |
//! | ok      | bad  | no gap                     | [`ChainProblem::Rewritten`] (previous row changed and re-hashed) |
//! | bad     | any  |                            | [`ChainProblem::Edited`]                 |
//!
//! After an edited row the next link is not judged (its successor committed to the
//! original hash, which is unknown), so one edit gives one finding. At the end the last
//! row is compared with the recorded [`ChainHead`], which catches deleted or appended
//! newest rows.
//!
//! None of this notices a chain that was rewritten *and recomputed* from some row on, head
//! included: every link then holds. Anchors do ([`crate::anchor`]): heads recorded outside
//! the database. Given some ([`ChainWalker::with_anchors`]), the walker compares each with
//! the stored hash of the row at its sequence number and reports the first that differs
//! ([`ChainProblem::AnchorMismatch`]) or that lies beyond the chain's end
//! ([`ChainProblem::AnchorBeyondChain`]).

use std::fmt;

use serde::Serialize;

use crate::anchor::Anchor;
use crate::chain::{self, ChainHead, Value, CHAIN_COLUMNS, GENESIS_HASH, PREV_HASH_INDEX};

/// One finding of [`crate::AuditStore::verify_chain`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ChainProblem {
    /// The row's fields were changed after completion: they no longer hash to `row_hash`.
    Edited { seq: i64, id: i64 },
    /// A row that the store never chained: its neighbours link past it.
    Inserted { seq: i64, id: i64 },
    /// Rows are missing between two chained rows (`missing` of them, by `seq`).
    Deleted { after_seq: i64, after_id: Option<i64>, before_seq: i64, before_id: i64, missing: i64 },
    /// The row at `seq` was changed and its hash recomputed: its successor `next_seq`
    /// recorded a different hash for it.
    Rewritten { seq: i64, id: Option<i64>, next_seq: i64, next_id: i64 },
    /// A chained row appended after the recorded chain head (not by the store).
    AfterHead { seq: i64, id: i64 },
    /// The newest rows are gone: the chain ends at `last_seq` but the head says `head_seq`.
    TailDeleted { last_seq: i64, head_seq: i64, head_attempt_id: Option<i64> },
    /// The head's attempt exists but with a different hash (changed and re-hashed), or the
    /// head record itself was edited.
    HeadMismatch { head_seq: i64, head_hash: String, last_seq: i64, last_hash: String },
    /// The first anchor (a head recorded outside the database) that the chain does not
    /// hold: the row at `seq` has another hash, so the chain was rewritten at or before
    /// `seq` and recomputed. `later` more anchors do not match either.
    AnchorMismatch {
        seq: i64,
        /// The row now at `seq` (`None`: there is none, it was deleted).
        id: Option<i64>,
        anchored_hash: String,
        stored_hash: Option<String>,
        source: String,
        later: u64,
    },
    /// The first anchor beyond the chain's last row: rows up to `seq` existed and are gone
    /// (deleted, head rewound).
    AnchorBeyondChain { seq: i64, last_seq: i64, source: String, later: u64 },
}

impl fmt::Display for ChainProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use ChainProblem::*;
        match self {
            Edited { seq, id } => write!(f, "seq {seq} (attempt #{id}): fields were edited after completion"),
            Inserted { seq, id } => {
                write!(f, "seq {seq} (attempt #{id}): row was inserted by hand, its neighbours link past it")
            }
            Deleted { after_seq, before_seq, before_id, missing, .. } => write!(
                f,
                "{missing} row(s) deleted between seq {after_seq} and seq {before_seq} (attempt #{before_id})"
            ),
            Rewritten { seq, id, next_seq, .. } => write!(
                f,
                "seq {seq} (attempt {}): row was changed and its hash recomputed; seq {next_seq} recorded another hash for it",
                id.map_or("?".into(), |i| format!("#{i}"))
            ),
            AfterHead { seq, id } => {
                write!(f, "seq {seq} (attempt #{id}): row was appended after the recorded chain head")
            }
            TailDeleted { last_seq, head_seq, .. } => {
                write!(f, "newest row(s) deleted: chain ends at seq {last_seq}, head records seq {head_seq}")
            }
            HeadMismatch { head_seq, last_seq, .. } => write!(
                f,
                "chain head (seq {head_seq}) does not match the last row (seq {last_seq}): it was changed and re-hashed, or the head was edited"
            ),
            AnchorMismatch { seq, id, source, later, .. } => write!(
                f,
                "seq {seq} (attempt {}): the chain head anchored outside the database ({source}) has another hash: \
                 the chain was rewritten at or before seq {seq} and recomputed{}",
                id.map_or("?".into(), |i| format!("#{i}")),
                later_note(*later)
            ),
            AnchorBeyondChain { seq, last_seq, source, later } => write!(
                f,
                "the chain ends at seq {last_seq} but a head at seq {seq} was anchored outside the database ({source}): \
                 rows were deleted and the head rewound{}",
                later_note(*later)
            ),
        }
    }
}

fn later_note(later: u64) -> String {
    if later == 0 {
        String::new()
    } else {
        format!(" ({later} later anchor(s) do not match either)")
    }
}

/// Result of [`crate::AuditStore::verify_chain`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChainReport {
    /// Chained (completed) rows read.
    pub rows_checked: u64,
    /// Anchors compared with the chain ([`ChainWalker::with_anchors`]).
    pub anchors_checked: u64,
    pub head: ChainHead,
    pub problems: Vec<ChainProblem>,
}

impl ChainReport {
    /// No finding.
    pub fn is_valid(&self) -> bool {
        self.problems.is_empty()
    }
}

/// One chained row as stored: its `seq`, its stored `row_hash` and its [`CHAIN_COLUMNS`]
/// values (read exactly as stored, storage class included).
#[derive(Debug, Clone, PartialEq)]
pub struct ChainRow {
    pub seq: i64,
    pub row_hash: Option<String>,
    pub values: Vec<Value>,
    /// The unhashed [`crate::forwarded::FORWARDED_COLUMNS`] as stored, for the central
    /// record; empty where only the chain is read (a chain walk).
    pub forwarded: Vec<Value>,
}

impl ChainRow {
    fn id(&self) -> i64 {
        match self.values.first() {
            Some(Value::Int(i)) => *i,
            _ => -1,
        }
    }

    fn prev_hash(&self) -> Option<&str> {
        self.values.get(PREV_HASH_INDEX).and_then(Value::as_text)
    }
}

/// Walks a chain row by row: [`ChainWalker::push`] every chained row in ascending `seq`
/// order, then [`ChainWalker::finish`] for the report.
#[derive(Debug)]
pub struct ChainWalker {
    head: ChainHead,
    /// The row pushed last, judged once its successor (or the end) is known.
    pending: Option<ChainRow>,
    problems: Vec<ChainProblem>,
    checked: u64,
    /// Hash the next row must link to; `None` right after an edited row (unknown).
    anchor: Option<String>,
    anchor_seq: i64,
    anchor_id: Option<i64>,
    seen_head: bool,
    after_head: Vec<(i64, i64)>,
    head_id_hash: Option<Option<String>>,
    /// Anchors not reached yet, by ascending `seq` (reversed: the next one is last).
    anchors: Vec<Anchor>,
    anchors_checked: u64,
    /// Anchors the chain does not hold: (anchor, stored hash and id of the row at its
    /// `seq`, when there is one).
    anchor_misses: Vec<(Anchor, Option<String>, Option<i64>)>,
    last_seq: i64,
}

impl ChainWalker {
    /// A walker that checks the rows against `head`, the chain head as recorded.
    pub fn new(head: ChainHead) -> Self {
        debug_assert_eq!(CHAIN_COLUMNS[PREV_HASH_INDEX], "prev_hash");
        let seen_head = head.last_seq == 0;
        ChainWalker {
            head,
            pending: None,
            problems: Vec::new(),
            checked: 0,
            anchor: Some(GENESIS_HASH.to_owned()),
            anchor_seq: 0,
            anchor_id: None,
            seen_head,
            after_head: Vec::new(),
            head_id_hash: None,
            anchors: Vec::new(),
            anchors_checked: 0,
            anchor_misses: Vec::new(),
            last_seq: 0,
        }
    }

    /// Also compares the chain with `anchors`, heads recorded outside the database.
    pub fn with_anchors(mut self, mut anchors: Vec<Anchor>) -> Self {
        anchors.sort_by_key(|a| std::cmp::Reverse(a.seq));
        self.anchors_checked = anchors.len() as u64;
        self.anchors = anchors;
        self
    }

    /// Compares the anchors at or below `row.seq` with the row.
    fn check_anchors(&mut self, row: &ChainRow) {
        self.last_seq = self.last_seq.max(row.seq);
        while self.anchors.last().is_some_and(|a| a.seq <= row.seq) {
            let a = self.anchors.pop().expect("checked");
            if a.seq < row.seq {
                // No row at that sequence number (a gap, also reported as deleted).
                self.anchor_misses.push((a, None, None));
            } else if row.row_hash.as_deref() != Some(a.hash.as_str()) {
                self.anchor_misses.push((a, row.row_hash.clone(), Some(row.id())));
            }
        }
    }

    /// The anchor findings: the first anchor the chain does not hold, if any.
    fn anchor_problem(&mut self) -> Option<ChainProblem> {
        let beyond = std::mem::take(&mut self.anchors);
        let mut misses = std::mem::take(&mut self.anchor_misses);
        misses.extend(beyond.into_iter().rev().map(|a| (a, None, None)));
        let later = misses.len().saturating_sub(1) as u64;
        let (first, stored_hash, id) = misses.into_iter().next()?;
        Some(if first.seq > self.last_seq {
            ChainProblem::AnchorBeyondChain { seq: first.seq, last_seq: self.last_seq, source: first.source, later }
        } else {
            ChainProblem::AnchorMismatch {
                seq: first.seq,
                id,
                anchored_hash: first.hash,
                stored_hash,
                source: first.source,
                later,
            }
        })
    }

    /// The next chained row (ascending `seq`).
    pub fn push(&mut self, row: ChainRow) {
        self.check_anchors(&row);
        if let Some(prev) = self.pending.take() {
            let next_prev = row.prev_hash().map(str::to_owned);
            self.judge(prev, Some(next_prev));
        }
        self.pending = Some(row);
    }

    /// Judges the last row and the head; the findings in chain order.
    pub fn finish(mut self) -> ChainReport {
        if let Some(last) = self.pending.take() {
            self.judge(last, None);
        }
        let anchor_problem = self.anchor_problem();
        let mut problems = self.problems;
        if self.seen_head {
            problems.extend(self.after_head.into_iter().map(|(seq, id)| ChainProblem::AfterHead { seq, id }));
        } else if self.head_id_hash.is_some() {
            problems.push(ChainProblem::HeadMismatch {
                head_seq: self.head.last_seq,
                head_hash: self.head.last_hash.clone(),
                last_seq: self.anchor_seq,
                last_hash: self.anchor.clone().unwrap_or_default(),
            });
        } else {
            problems.push(ChainProblem::TailDeleted {
                last_seq: self.anchor_seq,
                head_seq: self.head.last_seq,
                head_attempt_id: self.head.last_attempt_id,
            });
        }
        problems.extend(anchor_problem);
        ChainReport { rows_checked: self.checked, anchors_checked: self.anchors_checked, head: self.head, problems }
    }

    /// Judges `r` knowing the `prev_hash` of its successor (`None`: `r` is the last row;
    /// `Some(None)`: the successor has no text `prev_hash`).
    fn judge(&mut self, r: ChainRow, next_prev: Option<Option<String>>) {
        self.checked += 1;
        let id = r.id();
        let content_ok = r.row_hash.is_some() && r.row_hash == chain::row_hash(&r.values);
        let link_ok = self.anchor.as_deref().is_none_or(|a| r.prev_hash() == Some(a));
        // The next row links to this row's predecessor: this row was never part of the
        // chain, however well it hashes or links itself.
        let next_skips_it =
            self.anchor.is_some() && next_prev.as_ref().is_some_and(|n| n.as_deref() == self.anchor.as_deref());
        if next_skips_it {
            self.problems.push(ChainProblem::Inserted { seq: r.seq, id });
            return;
        }
        if !link_ok {
            if !content_ok {
                self.problems.push(ChainProblem::Edited { seq: r.seq, id });
            } else if r.seq > self.anchor_seq + 1 {
                self.problems.push(ChainProblem::Deleted {
                    after_seq: self.anchor_seq,
                    after_id: self.anchor_id,
                    before_seq: r.seq,
                    before_id: id,
                    missing: r.seq - self.anchor_seq - 1,
                });
            } else {
                self.problems.push(ChainProblem::Rewritten {
                    seq: self.anchor_seq,
                    id: self.anchor_id,
                    next_seq: r.seq,
                    next_id: id,
                });
            }
        } else if !content_ok {
            self.problems.push(ChainProblem::Edited { seq: r.seq, id });
        }

        if self.seen_head {
            self.after_head.push((r.seq, id));
        }
        if self.head.last_attempt_id == Some(id) {
            self.head_id_hash = Some(r.row_hash.clone());
        }
        if r.row_hash.as_deref() == Some(self.head.last_hash.as_str()) {
            self.seen_head = true;
            self.after_head.clear();
        }
        self.anchor = if content_ok { r.row_hash } else { None };
        self.anchor_seq = r.seq;
        self.anchor_id = Some(id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A valid chain of `n` rows built with the real hash, and its head.
    fn chain_of(n: i64) -> (Vec<ChainRow>, ChainHead) {
        let mut prev = GENESIS_HASH.to_owned();
        let mut rows = Vec::new();
        for seq in 1..=n {
            let mut values: Vec<Value> = (0..CHAIN_COLUMNS.len()).map(|i| Value::Int(i as i64 * seq)).collect();
            values[0] = Value::Int(100 + seq);
            values[PREV_HASH_INDEX] = Value::Text(prev.clone());
            // Odd rows are version 1 (nothing in the version 2 columns), even ones version 2:
            // a chain may hold both.
            if seq % 2 == 1 {
                values[chain::VERSION_INDEX..].iter_mut().for_each(|v| *v = Value::Null);
            } else {
                values[chain::VERSION_INDEX] = Value::Int(chain::CHAIN_VERSION);
            }
            let hash = chain::row_hash(&values).expect("hashable row");
            prev = hash.clone();
            rows.push(ChainRow { seq, row_hash: Some(hash), values, forwarded: Vec::new() });
        }
        let head = ChainHead { last_seq: n, last_hash: prev, last_attempt_id: (n > 0).then_some(100 + n) };
        (rows, head)
    }

    fn walk(rows: Vec<ChainRow>, head: ChainHead) -> ChainReport {
        let mut w = ChainWalker::new(head);
        for r in rows {
            w.push(r);
        }
        w.finish()
    }

    fn rehash(r: &mut ChainRow) {
        r.row_hash = chain::row_hash(&r.values);
    }

    #[test]
    fn each_kind_of_tamper_gives_its_one_finding() {
        type Tamper = fn(&mut Vec<ChainRow>, &mut ChainHead);
        let cases: [(&str, Tamper, Vec<ChainProblem>); 7] = [
            ("untouched", |_, _| {}, vec![]),
            (
                "edited",
                |rows, _| rows[1].values[5] = Value::Text("x".into()),
                vec![ChainProblem::Edited { seq: 2, id: 102 }],
            ),
            (
                "deleted",
                |rows, _| {
                    rows.remove(1);
                },
                vec![ChainProblem::Deleted {
                    after_seq: 1,
                    after_id: Some(101),
                    before_seq: 3,
                    before_id: 103,
                    missing: 1,
                }],
            ),
            (
                "rewritten",
                |rows, _| {
                    rows[1].values[5] = Value::Null;
                    rehash(&mut rows[1]);
                },
                vec![ChainProblem::Rewritten { seq: 2, id: Some(102), next_seq: 3, next_id: 103 }],
            ),
            (
                "tail deleted",
                |rows, _| {
                    rows.pop();
                },
                vec![ChainProblem::TailDeleted { last_seq: 3, head_seq: 4, head_attempt_id: Some(104) }],
            ),
            (
                "inserted",
                |rows, _| {
                    // A plausible row linking to seq 2, slipped in before seq 3.
                    let mut forged = rows[1].clone();
                    forged.values[0] = Value::Int(999);
                    forged.values[PREV_HASH_INDEX] = Value::Text(rows[1].row_hash.clone().unwrap());
                    rehash(&mut forged);
                    rows.insert(2, forged);
                    for (i, r) in rows.iter_mut().enumerate() {
                        r.seq = i as i64 + 1;
                    }
                },
                vec![ChainProblem::Inserted { seq: 3, id: 999 }],
            ),
            (
                "appended after head",
                |rows, _| {
                    let last = rows.last().unwrap();
                    let mut values = last.values.clone();
                    values[0] = Value::Int(998);
                    values[PREV_HASH_INDEX] = Value::Text(last.row_hash.clone().unwrap());
                    let row_hash = chain::row_hash(&values);
                    rows.push(ChainRow { seq: 5, row_hash, values, forwarded: Vec::new() });
                },
                vec![ChainProblem::AfterHead { seq: 5, id: 998 }],
            ),
        ];
        for (name, tamper, expected) in cases {
            let (mut rows, mut head) = chain_of(4);
            tamper(&mut rows, &mut head);
            let report = walk(rows, head);
            assert_eq!(report.problems, expected, "{name}");
        }
    }

    #[test]
    fn a_rehashed_newest_row_is_caught_by_the_head() {
        let (mut rows, head) = chain_of(3);
        rows[2].values[4] = Value::Text("cable".into());
        rehash(&mut rows[2]);
        let report = walk(rows, head);
        assert!(
            matches!(report.problems.as_slice(), [ChainProblem::HeadMismatch { head_seq: 3, last_seq: 3, .. }]),
            "{:?}",
            report.problems
        );
    }

    fn anchor(seq: i64, hash: &str) -> Anchor {
        Anchor { seq, hash: hash.to_owned(), database: None, source: format!("line {seq}") }
    }

    /// Rows 2.. changed and the chain recomputed from there, head included.
    fn recomputed_from(rows: &mut [ChainRow], from: usize) -> ChainHead {
        rows[from].values[16] = Value::Text("pass".into());
        let mut prev = if from == 0 { GENESIS_HASH.to_owned() } else { rows[from - 1].row_hash.clone().unwrap() };
        for r in rows[from..].iter_mut() {
            r.values[PREV_HASH_INDEX] = Value::Text(prev.clone());
            rehash(r);
            prev = r.row_hash.clone().unwrap();
        }
        let last = rows.last().unwrap();
        ChainHead { last_seq: last.seq, last_hash: prev, last_attempt_id: Some(last.id()) }
    }

    #[test]
    fn a_recomputed_chain_verifies_alone_and_fails_against_its_anchors() {
        let (mut rows, _) = chain_of(5);
        let anchors: Vec<Anchor> = rows.iter().map(|r| anchor(r.seq, r.row_hash.as_deref().unwrap())).collect();
        let head = recomputed_from(&mut rows, 2);
        assert!(walk(rows.clone(), head.clone()).is_valid(), "without anchors the rewrite is invisible");

        let mut w = ChainWalker::new(head).with_anchors(anchors);
        for r in rows {
            w.push(r);
        }
        let report = w.finish();
        assert_eq!(report.anchors_checked, 5);
        match report.problems.as_slice() {
            [ChainProblem::AnchorMismatch { seq: 3, id: Some(103), later: 2, source, .. }] => {
                assert_eq!(source, "line 3")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn anchors_find_a_rewound_chain_and_match_an_intact_one() {
        let (rows, head) = chain_of(4);
        let anchors: Vec<Anchor> = rows.iter().map(|r| anchor(r.seq, r.row_hash.as_deref().unwrap())).collect();
        // Intact, anchors in any order and repeated.
        let mut shuffled = anchors.clone();
        shuffled.reverse();
        shuffled.push(anchors[1].clone());
        let mut w = ChainWalker::new(head).with_anchors(shuffled);
        for r in rows.clone() {
            w.push(r);
        }
        assert!(w.finish().is_valid());

        // The two newest rows deleted and the head rewound to seq 2.
        let kept = rows[..2].to_vec();
        let head = ChainHead {
            last_seq: 2,
            last_hash: kept[1].row_hash.clone().unwrap(),
            last_attempt_id: Some(kept[1].id()),
        };
        assert!(walk(kept.clone(), head.clone()).is_valid());
        let mut w = ChainWalker::new(head).with_anchors(anchors);
        for r in kept {
            w.push(r);
        }
        assert_eq!(
            w.finish().problems,
            vec![ChainProblem::AnchorBeyondChain { seq: 3, last_seq: 2, source: "line 3".into(), later: 1 }]
        );
    }

    #[test]
    fn an_empty_chain_with_an_empty_head_is_valid() {
        let (rows, head) = chain_of(0);
        let report = walk(rows, head);
        assert!(report.is_valid() && report.rows_checked == 0);
    }
}
