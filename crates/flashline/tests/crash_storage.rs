//! Reliability of the daemon as a process: killed at any moment, and starved of its audit
//! database (locked by another program, full).
//!
//! - `sigkill_at_random_moments_loses_nothing`: `flashline run` is SIGKILLed again and
//!   again (during start-up, mid-write, mid-verify, between jobs, idle, at a random time;
//!   the moments are drawn from a printed seed) and started again each time. After every
//!   kill the database passes `PRAGMA integrity_check` and the hash chain verifies, every
//!   row seen before is still there unchanged, the rows the dead daemon left `running` are
//!   closed as `interrupted` by the next start, every logged pass has its row, and the
//!   restarted daemon flashes again.
//! - `locked_database_holds_new_jobs_and_resumes_when_released`: another process holds
//!   `BEGIN EXCLUSIVE` on the database while boards are inserted.
//! - `full_database_holds_new_jobs_and_resumes_after_sighup_raises_the_limit`: the
//!   database reaches `database_max_size`.
//!
//! In both storage faults the daemon starts no job (the new boards are not touched), says
//! why in its structured log, keeps every recorded row, and once the fault clears flashes
//! the waiting boards and records them.
//!
//! Set `FLASHLINE_CRASH_SEED` to replay the kill moments of a failed run. A failed run
//! keeps its station directory (database, flash files, `output.log` with every daemon
//! life's log, `espsim-bK.log`) and prints where; `scripts/crash-seeds.sh` runs the kill
//! test over many seeds.

mod support_daemon;

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use flashline_audit::{
    insert_synthetic, AttemptResult, AttemptRow, AuditStore, StoreOptions, INTERRUPTED_REASON, UNKNOWN_STAGE,
};
use flashline_testkit::EspSim;
use nix::sys::signal::{kill, Signal};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde_json::Value;
use support_daemon::*;

/// The moments a daemon is killed at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KillAt {
    /// Shortly after the process started: loading the image, opening and repairing the
    /// database, enumerating the boards.
    Startup,
    /// While a board is being written.
    Write,
    /// While a board is being read back.
    Verify,
    /// Right after a job finished, while the next board's job is starting.
    BetweenJobs,
    /// Every board done, nothing running.
    Idle,
    /// Any time within the first seconds.
    Anytime,
}

/// The shell loop that runs one daemon after the other in the same testbed: each start
/// waits for the test to create the gate file (so the test can look at the database of a
/// dead daemon first), and the daemon's pid and exit status are printed for the test.
/// SIGTERM (the harness's quit) is passed on to the running daemon.
const RESTART_LOOP: &str = r#"FL="$1"; CFG="$2"; GATE="$3"; pid=""
trap 'if [ -n "$pid" ]; then kill -TERM "$pid"; wait "$pid"; echo "daemon ended with $?"; fi; exit 0' TERM
while :; do
    while [ ! -e "$GATE" ]; do sleep 0.02; done
    rm -f "$GATE"
    "$FL" run --config "$CFG" &
    pid=$!
    echo "daemon pid $pid"
    wait "$pid"
    echo "daemon ended with $?"
    pid=""
done"#;

const BOARDS: usize = 3;
const MAC_BASE: &str = "24:0a:c4:60:00:00";
/// Realistic UART and flash timing: writing and reading back take a while, so the kills
/// catch boards in the middle of them.
const SIM_ARGS: &[&str] = &["--timing", "realistic"];
const KILLS: usize = 12;

#[test]
fn sigkill_at_random_moments_loses_nothing() {
    let t0 = Instant::now();
    let seed: u64 = std::env::var("FLASHLINE_CRASH_SEED")
        .ok()
        .map(|s| s.parse().expect("FLASHLINE_CRASH_SEED is a number"))
        .unwrap_or_else(|| rand::rng().random());
    println!("kill moments drawn from seed {seed} (FLASHLINE_CRASH_SEED={seed} replays them)");
    let mut rng = StdRng::seed_from_u64(seed);
    // Every kind of moment twice, in a seeded order. The first daemon is not killed at
    // start-up or at a random moment (which may fall within start-up): it creates the
    // database, and the checks need one to look at.
    let mut plan =
        vec![KillAt::Startup, KillAt::Write, KillAt::Verify, KillAt::BetweenJobs, KillAt::Idle, KillAt::Anytime];
    plan.extend(plan.clone());
    plan.shuffle(&mut rng);
    if matches!(plan[0], KillAt::Startup | KillAt::Anytime) {
        let k = plan.iter().position(|p| !matches!(p, KillAt::Startup | KillAt::Anytime)).unwrap();
        plan.swap(0, k);
    }
    assert_eq!(plan.len(), KILLS);

    // Three boards, two at a time: the third waits for a place, so jobs start while others
    // finish. Read-back verify gives each board a verify stage of its own.
    let extra = Extra { flash: "verify = \"readback\"\n".into(), ..Extra::default() };
    let st = Station::new(BOARDS, 128, 2, &extra);
    let _keep = st.keep_on_failure();
    let sims = (0..BOARDS).map(|k| Some(st.sim(k, MAC_BASE, SIM_ARGS))).collect();
    let gate = st.dir.path().join("gate");
    std::fs::write(&gate, b"").unwrap();
    let program: Vec<OsString> = vec![
        "/bin/sh".into(),
        "-c".into(),
        RESTART_LOOP.into(),
        "sh".into(),
        flashline_bin().into(),
        st.config.clone().into(),
        gate.clone().into(),
    ];
    let boards: Vec<String> = (0..BOARDS).map(|k| st.board(k, ",present")).collect();
    let tb = Testbed::start(&st, &boards, &program, "daemon pid");
    let mut fx = Fixture { st: &st, tb, sims, scanned: 0, power_cycles: 0, silent: 0 };

    // Rows seen so far (none: the first daemon creates the database).
    let mut before: Vec<AttemptRow> = Vec::new();
    let mut stages_hit: Vec<Option<String>> = Vec::new();
    let mut next_line = 0;
    for (life, at) in plan.iter().copied().enumerate() {
        let (start, pid_line) = fx.tb.wait_line(next_line, "[child] daemon pid ", Duration::from_secs(30));
        let pid = pid_of(&pid_line);
        let t_life = Instant::now();
        let what = format!("life {life} (seed {seed}, kill at {at:?})");
        match at {
            KillAt::Startup => thread::sleep(Duration::from_millis(rng.random_range(0..400))),
            KillAt::Write | KillAt::Verify => {
                let stage = if at == KillAt::Write { "write" } else { "verify" };
                fx.wait(start, 1, Duration::from_secs(60), &what, |v| v["message"] == "stage" && v["stage"] == stage);
                // A board that already holds part of the image is re-flashed by difference:
                // its write is short, so a write kill follows the stage closely.
                let within = if at == KillAt::Write { 60 } else { 250 };
                thread::sleep(Duration::from_millis(rng.random_range(0..within)));
            }
            KillAt::BetweenJobs => {
                fx.wait(start, 1, Duration::from_secs(60), &what, is("board passed", None));
                thread::sleep(Duration::from_millis(rng.random_range(0..30)));
            }
            KillAt::Idle => {
                fx.wait(start, BOARDS, Duration::from_secs(90), &what, is("board passed", None));
                thread::sleep(Duration::from_millis(rng.random_range(0..200)));
            }
            KillAt::Anytime => fx.wait_for(Duration::from_millis(rng.random_range(0..4000))),
        }
        kill(pid, Signal::SIGKILL).expect("SIGKILL the daemon");
        let (end, ended) = fx.tb.wait_line(start, "[child] daemon ended with ", Duration::from_secs(20));
        assert_eq!(ended, "[child] daemon ended with 137", "{what}: the daemon died of the SIGKILL\n{}", fx.tb.tail());
        fx.tb.drain();
        next_line = end + 1;

        // The dead daemon's database, before the next start touches it.
        let now = st.look();
        println!("{what}: killed after {:.1?}", t_life.elapsed());
        check_after_life(&st, &fx.tb, start, end, &before, &now, &what);
        stages_hit
            .extend(now.rows.iter().filter(|r| r.result == AttemptResult::Running).map(|r| r.current_stage.clone()));
        // No board is power-cycled between lives: a board killed mid-frame or while it
        // streamed its flash back answers the next daemon on this no-reset fixture.
        next_line = next_line.max(fx.tb.log.len());
        before = now.rows;
        std::fs::write(&gate, b"").unwrap();
    }

    // The last start: it repairs what the last kill left and flashes every board again.
    let (start, _) = fx.tb.wait_line(next_line, "[child] daemon pid ", Duration::from_secs(30));
    for k in 0..BOARDS {
        fx.wait(start, 1, Duration::from_secs(90), "the final passes", is("board passed", Some(slot(k))));
    }
    let (power_cycles, silent) = (fx.power_cycles, fx.silent);
    let tb = fx.tb;
    // Boards a kill left mid-frame, brought back by the session's resynchronisation.
    let resynced = tb
        .events
        .iter()
        .filter(|(_, v)| v["message"].as_str().is_some_and(|m| m.contains("resynchronising SLIP delimiter")))
        .count();
    let repaired = started(&tb, start, usize::MAX);
    assert_eq!(tb.quit(), "0", "the last daemon stops cleanly on SIGTERM");
    let now = st.look();
    let what = format!("after the last start (seed {seed})");
    check_after_life_rows(&before, &now, &what, repaired);
    assert!(now.integrity_ok, "{what}: {:?}", now.integrity);
    assert!(now.chain.is_valid(), "{what}: {:?}", now.chain.problems);
    assert!(now.rows.iter().all(|r| r.result != AttemptResult::Running), "{what}: rows left running");
    let (code, text) = st.log_verify();
    assert_eq!(code, Some(0), "flashline log verify: {text}");
    assert!(text.contains("running (not chained yet): 0"), "{text}");
    for k in 0..BOARDS {
        assert!(st.flashed(k), "board {k} holds the image at the end");
        let last = now.rows.iter().rev().find(|r| r.slot == slot(k)).expect("a row per slot");
        assert_eq!(last.result, AttemptResult::Pass, "{last:#?}");
        let mac = MAC_BASE.parse::<flashline_protocol::chip::Mac>().unwrap().offset(k as u32).to_string();
        assert_eq!(last.mac.as_deref().map(str::to_ascii_lowercase), Some(mac.to_ascii_lowercase()));
    }
    drop(fx.sims);
    let interrupted = now.rows.iter().filter(|r| r.result == AttemptResult::Interrupted).count();
    let in_stage = |s: &str| stages_hit.iter().filter(|h| h.as_deref() == Some(s)).count();
    println!(
        "{KILLS} kills in {:.1?}: {} rows, {interrupted} interrupted, {power_cycles} boards power-cycled \
         ({silent} of them silent at connect), {resynced} resynchronised; rows the kills caught in write: {}, \
         in verify: {}, other stages: {:?}",
        t0.elapsed(),
        now.rows.len(),
        in_stage("write"),
        in_stage("verify"),
        stages_hit.iter().filter(|h| !matches!(h.as_deref(), Some("write" | "verify"))).collect::<Vec<_>>(),
    );
    assert!(interrupted > 0, "no kill caught a running job: {:#?}", now.rows);
    assert_eq!(silent, 0, "boards that answered no daemon after a kill and had to be power-cycled (seed {seed})");
    assert!(in_stage("write") > 0, "no kill caught a board mid-write (seed {seed})");
}

/// The testbed and the boards' simulators.
struct Fixture<'a> {
    st: &'a Station,
    tb: Testbed,
    sims: Vec<Option<EspSim>>,
    /// Output lines up to here were looked at for boards that do not answer.
    scanned: usize,
    power_cycles: usize,
    /// Boards power-cycled because a job failed at connect: a kill left them unable to
    /// answer SYNC without being spotted as reading at the kill.
    silent: usize,
}

impl Fixture<'_> {
    /// Unplugs board `k`, restarts its simulator (its flash is kept) and plugs it in again.
    fn power_cycle(&mut self, k: usize) {
        self.tb.cmd(&format!("remove {k}"));
        self.sims[k] = None;
        self.sims[k] = Some(self.st.sim(k, MAC_BASE, SIM_ARGS));
        self.tb.cmd(&format!("add {k}"));
        self.power_cycles += 1;
    }

    /// Waits until `n` events logged since line `start` satisfy `pred`. A board that fails
    /// at connect after a kill is power-cycled on the way, as an operator would, and
    /// counted: the run fails at the end if there was any (a stub left mid-command must
    /// answer the next daemon without a reset).
    fn wait(&mut self, start: usize, n: usize, timeout: Duration, what: &str, pred: impl Fn(&Value) -> bool) {
        let deadline = Instant::now() + timeout;
        loop {
            let from = self.scanned.max(start);
            self.scanned = self.tb.log.len();
            let silent: Vec<usize> = self
                .tb
                .events
                .iter()
                .filter(|(i, v)| *i >= from && v["message"] == "board failed" && v["stage"] == "connect")
                .filter_map(|(_, v)| v["slot"].as_str()?.strip_prefix('S')?.parse().ok())
                .collect();
            for k in silent {
                println!("board {k} does not answer after a kill; power-cycling it");
                self.silent += 1;
                self.power_cycle(k);
            }
            if self.tb.events_since(start).filter(|v| pred(v)).count() >= n {
                return;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            self.tb.read_until(left, what, |_, _| true);
        }
    }

    /// Lets `d` pass, handling silent boards meanwhile.
    fn wait_for(&mut self, d: Duration) {
        let until = Instant::now() + d;
        while Instant::now() < until {
            self.tb.watch_for(until.saturating_duration_since(Instant::now()).min(Duration::from_millis(100)));
            self.wait(0, 0, Duration::ZERO, "", |_| false);
        }
    }
}

/// Whether the daemon of this life got through its start-up (its repair of `running`
/// rows is committed before it logs "station starting").
fn started(tb: &Testbed, start: usize, end: usize) -> bool {
    tb.events.iter().any(|(i, v)| *i >= start && *i < end && v["message"] == "station starting")
}

/// What must hold once the daemon that ran between output lines `start` and `end` is dead.
fn check_after_life(
    st: &Station,
    tb: &Testbed,
    start: usize,
    end: usize,
    before: &[AttemptRow],
    now: &Look,
    what: &str,
) {
    assert!(now.integrity_ok, "{what}: integrity_check: {:?}", now.integrity);
    assert!(now.chain.is_valid(), "{what}: hash chain: {:?}", now.chain.problems);
    let (code, text) = st.log_verify();
    assert_eq!(code, Some(0), "{what}: flashline log verify: {text}");
    check_after_life_rows(before, now, what, started(tb, start, end));

    // The repair is reported with the number of rows it closed.
    let running_before = before.iter().filter(|r| r.result == AttemptResult::Running).count();
    let closed: Vec<u64> = tb
        .events
        .iter()
        .filter(|(i, v)| {
            *i >= start
                && *i < end
                && v["message"].as_str().is_some_and(|m| m.contains("left running by a previous daemon"))
        })
        .filter_map(|(_, v)| v["rows"].as_u64())
        .collect();
    if started(tb, start, end) && running_before > 0 {
        assert_eq!(closed, [running_before as u64], "{what}: the start reports the rows it closed");
    }

    // Every result the daemon logged has its completed row, created in this life.
    let new_rows: Vec<&AttemptRow> = now.rows.iter().filter(|r| !before.iter().any(|b| b.id == r.id)).collect();
    let mut logged: BTreeMap<(String, String), usize> = BTreeMap::new();
    for (_, v) in tb.events.iter().filter(|(i, _)| *i >= start && *i < end) {
        let result = match v["message"].as_str() {
            Some("board passed") => "pass",
            Some("board failed") => "fail",
            _ => continue,
        };
        *logged.entry((v["slot"].as_str().unwrap_or_default().to_string(), result.into())).or_default() += 1;
    }
    for ((slot, result), n) in logged {
        let stored = new_rows.iter().filter(|r| r.slot == slot && r.result.as_str() == result).count();
        assert!(stored >= n, "{what}: {n} '{result}' results logged for {slot}, {stored} rows: {new_rows:#?}");
    }
}

/// Rows seen before are all still there: completed ones unchanged, `running` ones closed
/// as interrupted by the start of the next daemon (or unchanged, if it died before its
/// start-up got that far).
fn check_after_life_rows(before: &[AttemptRow], now: &Look, what: &str, repaired: bool) {
    let by_id: BTreeMap<i64, &AttemptRow> = now.rows.iter().map(|r| (r.id.0, r)).collect();
    for old in before {
        let Some(new) = by_id.get(&old.id.0) else { panic!("{what}: row {} is gone: {old:#?}", old.id) };
        if old.result != AttemptResult::Running {
            assert_eq!(*new, old, "{what}: a completed row changed");
            continue;
        }
        if new.result == AttemptResult::Running {
            assert!(!repaired, "{what}: row {} still running after a start that repaired the database", old.id);
            assert_eq!(*new, old, "{what}: a running row changed");
            continue;
        }
        let stage = old.current_stage.clone().unwrap_or_else(|| UNKNOWN_STAGE.to_string());
        let expected = AttemptRow {
            result: AttemptResult::Interrupted,
            failure_stage: Some(stage),
            failure_reason: Some(INTERRUPTED_REASON.to_string()),
            current_stage: None,
            ended_at: new.ended_at,
            seq: new.seq,
            prev_hash: new.prev_hash.clone(),
            row_hash: new.row_hash.clone(),
            ..old.clone()
        };
        assert_eq!(*new, &expected, "{what}: a running row closed otherwise than as interrupted");
        assert!(new.ended_at.is_some() && new.seq.is_some(), "{what}: {new:#?}");
    }
}

// ---------------------------------------------------------------------------------------
// Storage faults

/// `flashline run` on the station's config; `exec` keeps the shell's pid, so the printed
/// pid is the daemon's (for SIGHUP).
fn daemon_program(st: &Station) -> Vec<OsString> {
    let script = r#"echo "daemon pid $$"; exec "$1" run --config "$2""#;
    vec!["/bin/sh".into(), "-c".into(), script.into(), "sh".into(), flashline_bin().into(), st.config.clone().into()]
}

/// Another program holding the database's write lock: Python's sqlite3 in a transaction
/// opened with `BEGIN EXCLUSIVE`, as an operator's `sqlite3` shell or a backup job would.
struct Locker {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

const LOCKER: &str = r#"import sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)
db.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
sys.stdin.readline()
db.execute("ROLLBACK")
db.close()
print("released", flush=True)
"#;

impl Locker {
    fn take(db: &std::path::Path) -> Locker {
        let mut child = Command::new(PYTHON)
            .args(["-c", LOCKER])
            .arg(db)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start python3");
        let stdin = child.stdin.take().unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        assert_eq!(line.trim(), "locked", "the locker could not lock {}", db.display());
        Locker { child, stdin, stdout }
    }

    fn release(mut self) {
        writeln!(self.stdin).unwrap();
        self.stdin.flush().unwrap();
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        assert_eq!(line.trim(), "released");
        assert!(self.child.wait().unwrap().success());
    }
}

impl Drop for Locker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Store faults the daemon logged at or after output line `from`.
fn store_faults(tb: &Testbed, from: usize) -> Vec<Value> {
    tb.events_since(from)
        .filter(|v| v["message"].as_str().is_some_and(|m| m.starts_with("audit store refuses writes")))
        .cloned()
        .collect()
}

/// Board `k` was left alone since output line `from`: inserted, but no job announced, no
/// stage entered, nothing identified, and its flash does not hold the image.
fn assert_untouched(st: &Station, tb: &Testbed, k: usize, from: usize) {
    let touched: Vec<&Value> = tb
        .events_since(from)
        .filter(|v| v["slot"] == slot(k).as_str())
        .filter(|v| v["message"] != "board inserted")
        .collect();
    assert!(touched.is_empty(), "board {k} was worked on while the store refused writes: {touched:#?}\n{}", tb.tail());
    assert!(!st.flashed(k), "board {k} was flashed while the store refused writes");
}

/// Another program locks the database while boards come in: the daemon starts no job,
/// says why, keeps what was recorded (and the row of the board it was writing), and once
/// the lock is gone records that board and flashes the waiting one.
#[test]
fn locked_database_holds_new_jobs_and_resumes_when_released() {
    let t0 = Instant::now();
    let st = Station::new(3, 128, 16, &Extra::default());
    let _sims: Vec<EspSim> = (0..3).map(|k| st.sim(k, "24:0a:c4:70:00:00", SIM_ARGS)).collect();
    let boards: Vec<String> = (0..3).map(|k| st.board(k, if k == 0 { ",present" } else { "" })).collect();
    let mut tb = Testbed::start(&st, &boards, &daemon_program(&st), "device source ready");
    tb.wait_count(0, 1, Duration::from_secs(60), "board 0", is("board passed", Some(slot(0))));
    let recorded = st.look();
    assert_eq!(recorded.rows.len(), 1, "{:#?}", recorded.rows);
    assert_eq!(recorded.rows[0].result, AttemptResult::Pass);

    // Board 1 is being written when the lock is taken; board 2 comes in under the lock.
    tb.cmd("add 1");
    tb.wait_count(0, 1, Duration::from_secs(60), "board 1 writing", |v| {
        v["message"] == "stage" && v["slot"] == "S1" && v["stage"] == "write"
    });
    let locker = Locker::take(&st.db);
    let locked_at = tb.log.len();
    tb.cmd("add 2");
    // The daemon gives up waiting for the lock after its busy timeout and says why.
    tb.wait_count(locked_at, 1, Duration::from_secs(40), "the daemon to report the lock", |v| {
        v["message"].as_str().is_some_and(|m| m.starts_with("audit store refuses writes"))
    });
    let fault = store_faults(&tb, locked_at).remove(0);
    assert_eq!(fault["level"], "ERROR", "{fault}");
    let reason = fault["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("is locked by another connection") && reason.contains("audit.sqlite"), "{fault}");
    // Two retry periods of the dispatcher: still nothing started.
    tb.watch_for(Duration::from_secs(5));
    assert_untouched(&st, &tb, 2, locked_at);
    assert_eq!(tb.events_since(locked_at).filter(|v| is("board passed", None)(v)).count(), 0, "{}", tb.tail());
    // Readers are not blocked: every recorded row is there, unchanged, and board 1's row
    // (created before the lock) still waits to be completed.
    let during = st.look();
    assert!(during.integrity_ok, "{:?}", during.integrity);
    assert_eq!(during.rows.len(), 2, "{:#?}", during.rows);
    assert_eq!(during.rows[0], recorded.rows[0]);
    assert_eq!((during.rows[1].slot.as_str(), during.rows[1].result), ("S1", AttemptResult::Running));

    // Released: the store takes writes again, board 1's row is completed, board 2 flashed.
    let released_at = tb.log.len();
    locker.release();
    tb.wait_count(
        released_at,
        1,
        Duration::from_secs(30),
        "the recovery",
        is("audit store accepts writes again", None),
    );
    tb.wait_count(0, 1, Duration::from_secs(60), "board 1", is("board passed", Some(slot(1))));
    tb.wait_count(0, 1, Duration::from_secs(60), "board 2", is("board passed", Some(slot(2))));
    assert_eq!(tb.quit(), "0");

    let end = st.look();
    assert!(end.integrity_ok, "{:?}", end.integrity);
    assert!(end.chain.is_valid(), "{:?}", end.chain.problems);
    assert_eq!(end.rows.len(), 3, "one row per board, none for the turned-away starts: {:#?}", end.rows);
    assert_eq!(end.rows[0], recorded.rows[0]);
    for (k, row) in end.rows.iter().enumerate() {
        assert_eq!((row.slot.as_str(), row.result), (slot(k).as_str(), AttemptResult::Pass), "{row:#?}");
        assert!(st.flashed(k), "board {k}");
    }
    let (code, text) = st.log_verify();
    assert_eq!(code, Some(0), "{text}");
    println!("locked database: {:.1?}", t0.elapsed());
}

/// The database reaches its configured size (`database_max_size`): the daemon starts no
/// job, says why, keeps every row, and resumes once a reload (SIGHUP) raises the limit.
#[test]
fn full_database_holds_new_jobs_and_resumes_after_sighup_raises_the_limit() {
    let t0 = Instant::now();
    let st = Station::new(2, 64, 16, &Extra::default());
    // A database with some history, then a limit at exactly its size: the next rows fill
    // its last pages, and the first write that needs a new page fails.
    with_runtime(async {
        let store = AuditStore::open(&st.db, StoreOptions::default()).await.expect("create the database");
        insert_synthetic(&store, 300, 11).await.expect("synthetic rows");
        store.close().await;
    });
    let size = std::fs::metadata(&st.db).unwrap().len();
    let limited = |limit: &str| Extra { top: format!("database_max_size = {limit}\n"), ..Extra::default() };
    st.write_config(2, 16, &limited(&size.to_string()));
    let history = st.look();
    assert_eq!(history.rows.len(), 300);

    // Instant boards: board 0 is re-plugged and flashed until the database is full.
    let _sims: Vec<EspSim> = (0..2).map(|k| st.sim(k, "24:0a:c4:80:00:00", &[])).collect();
    let boards = [st.board(0, ",present"), st.board(1, "")];
    let mut tb = Testbed::start(&st, &boards, &daemon_program(&st), "device source ready");
    let pid = tb.log.iter().find_map(|l| l.strip_prefix("[child] daemon pid ").map(pid_of)).expect("pid");
    let mut passes = 0;
    while store_faults(&tb, 0).is_empty() {
        assert!(passes < 60, "the database never filled up ({size} bytes limit)");
        tb.read_until(Duration::from_secs(30), "a pass or a store fault", |_, evs| {
            let passed = evs.iter().filter(|(_, v)| is("board passed", Some(slot(0)))(v)).count();
            passed > passes
                || evs.iter().any(|(_, v)| v["message"].as_str().is_some_and(|m| m.starts_with("audit store refuses")))
        });
        if tb.events_since(0).filter(|v| is("board passed", Some(slot(0)))(v)).count() > passes {
            passes += 1;
            if store_faults(&tb, 0).is_empty() {
                tb.cmd("remove 0");
                tb.cmd("add 0");
            }
        }
    }
    let fault = store_faults(&tb, 0).remove(0);
    let reason = fault["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("is full") && reason.contains("database_max_size"), "{fault}");
    println!("database full after {passes} more boards");

    // Board 1 comes in: it waits, untouched, over several retry periods.
    let full_at = tb.log.len();
    let at_fault = st.look();
    tb.cmd("add 1");
    tb.watch_for(Duration::from_secs(5));
    assert_untouched(&st, &tb, 1, full_at);
    let during = st.look();
    assert!(during.integrity_ok, "{:?}", during.integrity);
    assert!(during.chain.is_valid(), "{:?}", during.chain.problems);
    assert_eq!(during.rows, at_fault.rows, "nothing changes while the database is full");
    assert_eq!(&during.rows[..300], &history.rows[..], "the history is kept");

    // The operator raises the limit and reloads: the waiting board is flashed and recorded.
    let raised_at = tb.log.len();
    st.write_config(2, 16, &limited("\"64MB\""));
    kill(pid, Signal::SIGHUP).expect("SIGHUP the daemon");
    tb.wait_count(
        raised_at,
        1,
        Duration::from_secs(30),
        "the new limit",
        is("audit database size limit changed", None),
    );
    tb.wait_count(raised_at, 1, Duration::from_secs(30), "the recovery", is("audit store accepts writes again", None));
    tb.wait_count(0, 1, Duration::from_secs(60), "board 1", is("board passed", Some(slot(1))));
    // Board 0, re-plugged when the store filled up, gets its pass too (its job either had
    // flashed it and waited to record the row, or had not started).
    tb.wait_count(0, passes + 1, Duration::from_secs(60), "board 0", is("board passed", Some(slot(0))));
    assert_eq!(tb.quit(), "0");

    let end = st.look();
    assert!(end.integrity_ok, "{:?}", end.integrity);
    assert!(end.chain.is_valid(), "{:?}", end.chain.problems);
    assert_eq!(&end.rows[..300], &history.rows[..]);
    for old in at_fault.rows.iter().filter(|r| r.result != AttemptResult::Running) {
        assert!(end.rows.contains(old), "row {} changed or vanished", old.id);
    }
    let new: Vec<&AttemptRow> = end.rows[300..].iter().collect();
    assert!(new.iter().all(|r| r.result == AttemptResult::Pass), "{new:#?}");
    assert_eq!(new.iter().filter(|r| r.slot == "S0").count(), passes + 1, "{new:#?}");
    assert_eq!(new.iter().filter(|r| r.slot == "S1").count(), 1, "{new:#?}");
    assert!(st.flashed(1));
    let (code, text) = st.log_verify();
    assert_eq!(code, Some(0), "{text}");
    println!("full database: {:.1?}", t0.elapsed());
}
