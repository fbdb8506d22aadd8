//! `flashline demo --faults N`: which simulated boards are faulty, and how.
//!
//! A line sees four kinds of bad board, and the demo shows each in turn, spread evenly
//! over the boards so they show up between good ones: a board of the wrong chip family,
//! flash that does not keep what is written (verify catches it), a board pulled out in the
//! middle of the write, and a board that stops answering (the job's timeout catches it).
//! Every faulty board is expected to fail; the demo's exit status counts only surprises.

use flashline_protocol::Chip;
use flashline_sim::Fault;

/// The kinds of fault, in the order the faulty boards get them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    WrongChip,
    BadFlash,
    PulledMidWrite,
    Hangs,
}

impl FaultKind {
    const CYCLE: [FaultKind; 4] =
        [FaultKind::WrongChip, FaultKind::BadFlash, FaultKind::PulledMidWrite, FaultKind::Hangs];

    /// Words for the summary.
    pub fn describe(self) -> &'static str {
        match self {
            FaultKind::WrongChip => "wrong chip family",
            FaultKind::BadFlash => "flash that does not keep the data",
            FaultKind::PulledMidWrite => "pulled out during the write",
            FaultKind::Hangs => "stops answering",
        }
    }

    /// The simulator's fault for a board of `chip`, on a line of the chips `line`, whose
    /// image's app starts at `app_start` and whose write sends about `write_bytes` bytes.
    /// The wrong chip is one the line has no image for.
    pub fn fault(self, chip: Chip, line: &[Chip], app_start: u32, write_bytes: u64) -> Fault {
        match self {
            FaultKind::WrongChip => Fault::WrongChip(
                [Chip::Esp8266, Chip::Esp32, Chip::Esp32C6, Chip::Esp32H2]
                    .into_iter()
                    .chain(Chip::ALL)
                    .find(|c| *c != chip && !line.contains(c))
                    .unwrap_or(if chip == Chip::Esp8266 { Chip::Esp32 } else { Chip::Esp8266 }),
            ),
            FaultKind::BadFlash => Fault::BadFlash { addr: app_start + 0x100, len: 16 },
            // Received bytes include the stub upload and the commands before the write;
            // half the write is well inside it.
            FaultKind::PulledMidWrite => Fault::UnplugAfter(write_bytes / 2),
            FaultKind::Hangs => Fault::HangAfter(write_bytes / 3),
        }
    }
}

/// The fault of each of `boards` boards when `faults` of them are faulty (`None`: good).
pub fn plan(boards: u32, faults: u32) -> Vec<Option<FaultKind>> {
    let faults = faults.min(boards);
    let mut out = vec![None; boards as usize];
    for i in 0..faults {
        // Evenly spread, each in the middle of its share of the boards.
        let k =
            (u64::from(i) * u64::from(boards) / u64::from(faults) + u64::from(boards) / u64::from(faults) / 2) as usize;
        out[k.min(boards as usize - 1)] = Some(FaultKind::CYCLE[i as usize % FaultKind::CYCLE.len()]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faulty_boards_are_spread_and_counted_exactly() {
        // (boards, faults, faulty indexes)
        let cases: [(u32, u32, &[usize]); 6] = [
            (8, 0, &[]),
            (16, 4, &[2, 6, 10, 14]),
            (8, 1, &[4]),
            (3, 3, &[0, 1, 2]),
            (5, 9, &[0, 1, 2, 3, 4]),
            (64, 7, &[4, 13, 22, 31, 40, 49, 58]),
        ];
        for (boards, faults, want) in cases {
            let p = plan(boards, faults);
            assert_eq!(p.len(), boards as usize);
            let got: Vec<usize> = p.iter().enumerate().filter(|(_, f)| f.is_some()).map(|(k, _)| k).collect();
            assert_eq!(got, want, "{boards} boards, {faults} faults");
        }
    }

    #[test]
    fn the_four_kinds_take_turns() {
        let kinds: Vec<FaultKind> = plan(16, 5).into_iter().flatten().collect();
        assert_eq!(
            kinds,
            [
                FaultKind::WrongChip,
                FaultKind::BadFlash,
                FaultKind::PulledMidWrite,
                FaultKind::Hangs,
                FaultKind::WrongChip
            ]
        );
        let one = |c| [c];
        assert_eq!(
            FaultKind::WrongChip.fault(Chip::Esp32, &one(Chip::Esp32), 0x10000, 1000),
            Fault::WrongChip(Chip::Esp8266)
        );
        assert_eq!(
            FaultKind::WrongChip.fault(Chip::Esp8266, &one(Chip::Esp8266), 0, 1000),
            Fault::WrongChip(Chip::Esp32)
        );
        // On a line of several chips: one the line has no image for.
        let line = [Chip::Esp32, Chip::Esp8266, Chip::Esp32S3, Chip::Esp32C3];
        assert_eq!(FaultKind::WrongChip.fault(Chip::Esp32C3, &line, 0, 1000), Fault::WrongChip(Chip::Esp32C6));
    }
}
