//! Fault knobs for reliability tests, and their text grammar (`--fault SPEC`).
//!
//! Grammar (one fault per spec, optionally targeted at one board with `boardK:`):
//!
//! ```text
//! SPEC   := [ "board" K ":" ] FAULT
//! FAULT  := "not-download" [ "=" ( "silent" | "garbage" ) ]   never enters download mode
//!         | "unplug-after=" BYTES     link closes once the board received BYTES bytes
//!         | "hang-after=" BYTES       board goes silent (link stays open) after BYTES bytes
//!         | "corrupt-frame=" N        one byte of the Nth frame the board sends (1-based) is flipped
//!         | "bad-flash=" ADDR [ "+" LEN ]   programming does not stick there (LEN default 1)
//!         | "slow-replies=" MS        every reply is delayed by MS milliseconds more
//!         | "flash-changes=" ADDR [ "+" LEN ] "@" N   the flash there changes right after
//!                                     the board has hashed flash N times (SPI_FLASH_MD5)
//!         | "wrong-chip=" CHIP        the board really is CHIP (any simulated chip)
//!         | "slow-erase=" MS          every sector and block erase takes at least MS ms
//!         | "stuck-sector=" ADDR      the 4 KiB sector at ADDR never erases (its bits stay)
//!         | "hang-until-power-cycle"  the board's stub is wedged in a command a vanished
//!                                     host left it in, until its power is cut
//! BYTES, ADDR, LEN := decimal | 0x-hex | with unit (64k, 1M)
//! ```

use crate::chips;
use flashline_protocol::flash::parse_size;
use flashline_protocol::Chip;
use std::fmt;
use std::str::FromStr;

/// What a board that is not in download mode prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BootNoise {
    /// Nothing at all (strapping wrong, board dead, wrong port).
    Silent,
    /// A boot loop printing its log (as a board with an invalid app does), at a baud the
    /// host does not expect — garbage on the host side.
    Garbage,
}

/// One fault of a simulated board.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    NotDownload(BootNoise),
    UnplugAfter(u64),
    HangAfter(u64),
    CorruptFrame(u64),
    BadFlash {
        addr: u32,
        len: u32,
    },
    SlowReplies {
        ms: u64,
    },
    WrongChip(Chip),
    /// A slow flash part (datasheet maxima: W25Q32JV sector erase 400 ms, 64 KiB block
    /// erase 2 s): every sector and block erase takes at least `ms`. Longer than the new
    /// stub's ERASE_REGION budget (120 ms per sector), it makes that command answer "failed
    /// SPI operation" on a healthy board while the erase goes on in the flash.
    SlowErase {
        ms: u64,
    },
    /// Worn-out NOR cells: the 4 KiB sector containing `addr` never erases. Sector, block
    /// and chip erases over it succeed as commands but leave its bits as they were (what is
    /// programmed over it is then the AND of old and new), and a sector or block erase
    /// over it runs to the part's limit ([`crate::timing::STUCK_SECTOR_ERASE`], also with
    /// timing off) — longer than the new stub's ERASE_REGION budget, so that command
    /// answers "failed SPI operation"; the ROM loader and the legacy stub wait and answer
    /// success. Only a hash of the range tells.
    StuckSector {
        addr: u32,
    },
    /// The board starts with its flasher stub wedged in the middle of a command, as a host
    /// that vanished on a link without reset lines can leave it: every frame it receives
    /// gets one raw 16-byte frame back (the digest of an empty read) and no command is
    /// answered, whatever the host sends, until the board is power-cycled
    /// (`SimHandle::power_cycle`, `espsim` on SIGUSR1); it then boots into download mode
    /// (the fixture holds the strapping pin) and the fault is spent.
    HangUntilPowerCycle,
    /// Something else writes the flash behind the loader's back (a second programmer, a
    /// brown-out mid-operation): right after the Nth SPI_FLASH_MD5 the bytes at
    /// `addr..addr+len` are inverted. Makes "the board changed between probe and write"
    /// reproducible.
    FlashChanges {
        addr: u32,
        len: u32,
        after_md5: u64,
    },
}

/// Help text for `espsim --help`.
pub const GRAMMAR: &str = "\
FAULT SPECS (--fault, repeatable; prefix with boardK: to target one board, e.g. board2:unplug-after=100000):
  not-download[=silent|garbage]  board never enters download mode (silent, or a boot loop printing garbage)
  unplug-after=BYTES             link closes once the board has received BYTES bytes
  hang-after=BYTES               board stops answering after BYTES received bytes (link stays open)
  corrupt-frame=N                one byte of the Nth frame the board sends (1-based) is corrupted
  bad-flash=ADDR[+LEN]           programming does not stick at ADDR..ADDR+LEN (LEN default 1)
  slow-replies=MS                every reply is delayed by MS extra milliseconds
  flash-changes=ADDR[+LEN]@N     the flash at ADDR..ADDR+LEN changes right after the board's Nth flash MD5
  wrong-chip=CHIP                the board is really CHIP (any simulated chip): other id, registers, loader
  slow-erase=MS                  every sector and block erase takes at least MS ms (a slow flash part)
  stuck-sector=ADDR              the 4 KiB sector at ADDR never erases: erases leave its bits (worn-out cells)
  hang-until-power-cycle         the board's stub is wedged mid-command until power-cycled (SIGUSR1 to espsim)
Numbers: decimal, 0x-hex, or with a unit (64k, 1M).";

impl FromStr for Fault {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (name, value) = match s.split_once('=') {
            Some((n, v)) => (n.trim(), Some(v.trim())),
            None => (s.trim(), None),
        };
        let need = || value.ok_or_else(|| format!("fault '{name}' needs a value ({name}=...)"));
        let num = |v: &str| parse_size(v).map(u64::from);
        match name {
            "not-download" => match value {
                None | Some("silent") => Ok(Fault::NotDownload(BootNoise::Silent)),
                Some("garbage") => Ok(Fault::NotDownload(BootNoise::Garbage)),
                Some(o) => Err(format!("not-download={o}: expected silent or garbage")),
            },
            "unplug-after" => Ok(Fault::UnplugAfter(num(need()?)?)),
            "hang-after" => Ok(Fault::HangAfter(num(need()?)?)),
            "corrupt-frame" => {
                let n = num(need()?)?;
                if n == 0 {
                    return Err("corrupt-frame counts from 1".into());
                }
                Ok(Fault::CorruptFrame(n))
            }
            "bad-flash" => {
                let v = need()?;
                let (a, l) = match v.split_once('+') {
                    Some((a, l)) => (parse_size(a)?, parse_size(l)?),
                    None => (parse_size(v)?, 1),
                };
                if l == 0 {
                    return Err("bad-flash length must be at least 1".into());
                }
                Ok(Fault::BadFlash { addr: a, len: l })
            }
            "slow-replies" => {
                let v = need()?;
                let ms = v.strip_suffix("ms").unwrap_or(v).trim();
                Ok(Fault::SlowReplies { ms: ms.parse().map_err(|_| format!("slow-replies={v}: not a number"))? })
            }
            "wrong-chip" => Ok(Fault::WrongChip(chips::parse_simulated(need()?)?)),
            "slow-erase" => {
                let v = need()?;
                let ms = v.strip_suffix("ms").unwrap_or(v).trim();
                Ok(Fault::SlowErase { ms: ms.parse().map_err(|_| format!("slow-erase={v}: not a number"))? })
            }
            "stuck-sector" => Ok(Fault::StuckSector { addr: parse_size(need()?)? }),
            "hang-until-power-cycle" => match value {
                None => Ok(Fault::HangUntilPowerCycle),
                Some(v) => Err(format!("hang-until-power-cycle takes no value (got {v})")),
            },
            "flash-changes" => {
                let v = need()?;
                let (range, n) =
                    v.split_once('@').ok_or_else(|| format!("flash-changes={v}: expected ADDR[+LEN]@N"))?;
                let (a, l) = match range.split_once('+') {
                    Some((a, l)) => (parse_size(a)?, parse_size(l)?),
                    None => (parse_size(range)?, 1),
                };
                if l == 0 {
                    return Err("flash-changes length must be at least 1".into());
                }
                let n = num(n)?;
                if n == 0 {
                    return Err("flash-changes counts MD5 requests from 1".into());
                }
                Ok(Fault::FlashChanges { addr: a, len: l, after_md5: n })
            }
            other => Err(format!("unknown fault '{other}'\n{GRAMMAR}")),
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::NotDownload(BootNoise::Silent) => f.write_str("not-download=silent"),
            Fault::NotDownload(BootNoise::Garbage) => f.write_str("not-download=garbage"),
            Fault::UnplugAfter(n) => write!(f, "unplug-after={n}"),
            Fault::HangAfter(n) => write!(f, "hang-after={n}"),
            Fault::CorruptFrame(n) => write!(f, "corrupt-frame={n}"),
            Fault::BadFlash { addr, len } => write!(f, "bad-flash=0x{addr:x}+{len}"),
            Fault::SlowReplies { ms } => write!(f, "slow-replies={ms}"),
            Fault::WrongChip(c) => write!(f, "wrong-chip={}", c.file_name()),
            Fault::SlowErase { ms } => write!(f, "slow-erase={ms}"),
            Fault::StuckSector { addr } => write!(f, "stuck-sector=0x{addr:x}"),
            Fault::HangUntilPowerCycle => f.write_str("hang-until-power-cycle"),
            Fault::FlashChanges { addr, len, after_md5 } => write!(f, "flash-changes=0x{addr:x}+{len}@{after_md5}"),
        }
    }
}

/// A fault with an optional board index (`board2:...`; `None` = every board).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetedFault {
    pub board: Option<usize>,
    pub fault: Fault,
}

impl TargetedFault {
    /// Whether this fault applies to board `index`.
    pub fn applies_to(&self, index: usize) -> bool {
        self.board.is_none_or(|b| b == index)
    }
}

impl FromStr for TargetedFault {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if let Some(rest) = s.strip_prefix("board") {
            if let Some((idx, fault)) = rest.split_once(':') {
                let board = idx.parse().map_err(|_| format!("'{s}': board{idx} is not a board index"))?;
                return Ok(Self { board: Some(board), fault: fault.parse()? });
            }
        }
        Ok(Self { board: None, fault: s.parse()? })
    }
}

impl fmt::Display for TargetedFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.board {
            Some(b) => write!(f, "board{b}:{}", self.fault),
            None => write!(f, "{}", self.fault),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_fault_and_round_trips() {
        let cases = [
            ("not-download", Fault::NotDownload(BootNoise::Silent)),
            ("not-download=garbage", Fault::NotDownload(BootNoise::Garbage)),
            ("unplug-after=100000", Fault::UnplugAfter(100_000)),
            ("hang-after=64k", Fault::HangAfter(65_536)),
            ("corrupt-frame=3", Fault::CorruptFrame(3)),
            ("bad-flash=0x10000", Fault::BadFlash { addr: 0x10000, len: 1 }),
            ("bad-flash=0x10000+256", Fault::BadFlash { addr: 0x10000, len: 256 }),
            ("slow-replies=20", Fault::SlowReplies { ms: 20 }),
            ("slow-erase=400", Fault::SlowErase { ms: 400 }),
            ("slow-erase=2500ms", Fault::SlowErase { ms: 2500 }),
            ("stuck-sector=0x1f000", Fault::StuckSector { addr: 0x1f000 }),
            ("stuck-sector=124k", Fault::StuckSector { addr: 0x1f000 }),
            ("wrong-chip=esp8266", Fault::WrongChip(Chip::Esp8266)),
            ("flash-changes=0x20000+4k@3", Fault::FlashChanges { addr: 0x20000, len: 4096, after_md5: 3 }),
            ("flash-changes=0x20000@1", Fault::FlashChanges { addr: 0x20000, len: 1, after_md5: 1 }),
            ("hang-until-power-cycle", Fault::HangUntilPowerCycle),
        ];
        for (text, fault) in cases {
            let parsed: Fault = text.parse().unwrap();
            assert_eq!(parsed, fault, "{text}");
            assert_eq!(parsed.to_string().parse::<Fault>().unwrap(), fault);
        }
    }

    #[test]
    fn rejects_bad_specs() {
        for bad in [
            "",
            "unplug-after",
            "unplug-after=x",
            "corrupt-frame=0",
            "explode",
            "wrong-chip=z80",
            "hang-until-power-cycle=1",
            "stuck-sector",
            "stuck-sector=x",
            "bad-flash=1+0",
            "flash-changes=0x1000",
            "flash-changes=0x1000@0",
            "flash-changes=0x1000+0@1",
        ] {
            assert!(bad.parse::<Fault>().is_err(), "{bad}");
        }
        assert!("boardx:hang-after=1".parse::<TargetedFault>().is_err());
    }

    #[test]
    fn targeting() {
        let t: TargetedFault = "board2:unplug-after=100000".parse().unwrap();
        assert_eq!(t, TargetedFault { board: Some(2), fault: Fault::UnplugAfter(100_000) });
        assert!(t.applies_to(2) && !t.applies_to(0));
        assert_eq!(t.to_string(), "board2:unplug-after=100000");
        let all: TargetedFault = "slow-replies=5".parse().unwrap();
        assert!(all.applies_to(0) && all.applies_to(7));
    }
}
