//! `flashline central init|add-station`, and `flashline log|stats|log verify --db
//! postgres://...` as the real binary against a throwaway PostgreSQL cluster: set up the
//! record, forward two stations' rows, query them like a station's file, and see an
//! administrator's edit named by `log verify`. The password never shows on any output.

use std::process::Command;

use flashline_audit::postgres::{CentralLink, CentralUrl};
use flashline_audit::{AuditStore, Completion, Identity, NewAttempt, RegionSummary, StoreOptions, Timestamp};
use flashline_testkit::pg::PgCluster;
use serde_json::Value;
use sqlx::Connection;

mod support_http;

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

fn flashline(args: &[&str], password: &str) -> Out {
    let out = Command::new(env!("CARGO_BIN_EXE_flashline"))
        .args(args)
        .env("TZ", "UTC")
        .env("PGPASSWORD", password)
        .output()
        .expect("run flashline");
    let out = Out {
        code: out.status.code().expect("exit code"),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    };
    assert!(!out.stderr.contains(password), "the password was printed: {}", out.stderr);
    out
}

/// An attempt of `station` on `slot` with the test's golden image.
fn attempt(station: &str, slot: &str, started_at: Option<Timestamp>) -> NewAttempt {
    NewAttempt {
        station_id: station.into(),
        slot: slot.into(),
        port: "1-1".into(),
        usb: None,
        image_name: "golden.bin".into(),
        image_sha256: "ab".repeat(32),
        started_at,
    }
}

/// A station's local log with `n` completed rows (the MAC of row 0 is `shared`).
async fn station_log(dir: &std::path::Path, station: &str, n: u8, shared: &str) -> AuditStore {
    let store = AuditStore::open(dir.join(format!("{station}.db")), StoreOptions::default()).await.unwrap();
    let t0 = Timestamp::now().as_unix_ms() - 3_600_000;
    for i in 0..n {
        let offset = i64::from(i) * 60_000 + if station == "line-2" { 30_000 } else { 0 };
        let new = attempt(station, &format!("A{}", i % 2 + 1), Some(Timestamp::from_unix_ms(t0 + offset)));
        let id = store.begin_attempt(new).await.unwrap();
        let mac = if i == 0 { shared.to_owned() } else { format!("AA:00:00:00:{:02X}:{i:02X}", station.as_bytes()[5]) };
        let identity = Identity { mac, chip: "ESP32".into(), chip_revision: None, flash_id: None, flash_size: None };
        store.update_identity(id, &identity).await.unwrap();
        let mut done = Completion::pass(1024, "md5");
        if i == 1 {
            // What the write did per region: unhashed, forwarded beside the chain.
            done.regions = vec![RegionSummary {
                offset: 0x10000,
                length: 0x100000,
                written: 0x3000,
                erased: 0x1000,
                blank: 0x80000,
                identical: 0x7c000,
            }];
        }
        store.complete_attempt(id, done).await.unwrap();
    }
    store
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_central_record_is_set_up_queried_and_verified_from_the_command_line() {
    let Some(pg) = PgCluster::start() else { return };
    let pw = pg.admin_password().to_owned();
    let admin = pg.url_without_password(flashline_testkit::pg::ADMIN_USER);
    let init = flashline(&["central", "init", "--db", &admin], &pw);
    assert_eq!(init.code, 0, "{}", init.stderr);

    let dir = tempfile::tempdir().unwrap();
    for (station, n) in [("line-1", 4u8), ("line-2", 3)] {
        let add = flashline(&["central", "add-station", station, "--db", &admin], &pw);
        assert_eq!(add.code, 0, "{}", add.stderr);
        let station_pw = add.stdout.trim().to_owned();
        assert_eq!(station_pw.len(), 32, "{}", add.stdout);
        let local = station_log(dir.path(), station, n, "AA:BB:CC:DD:EE:01").await;
        let url = CentralUrl::parse(&pg.url_without_password(station), Some(&station_pw)).unwrap();
        let link = CentralLink::new(&url, station);
        link.send(&local.chained_rows(0, 100).await.unwrap()).await.unwrap();
    }
    let again = flashline(&["central", "add-station", "line-1", "--db", &admin], &pw);
    assert_eq!(again.code, 2, "{}", again.stderr);

    let json = |args: &[&str]| -> Value {
        let out = flashline(args, &pw);
        assert_eq!(out.code, 0, "{args:?}: {}", out.stderr);
        serde_json::from_str(&out.stdout).unwrap()
    };
    let all = json(&["log", "--db", &admin, "--format", "json"]);
    assert_eq!(all.as_array().unwrap().len(), 7);
    let one = json(&["log", "--db", &admin, "--station", "line-2", "--format", "json"]);
    assert!(one.as_array().unwrap().iter().all(|r| r["station_id"] == "line-2"));
    assert_eq!(one.as_array().unwrap().len(), 3);
    // Region summaries read centrally as from the station's own file, in JSON and the table.
    let file = dir.path().join("line-1.db");
    let local = json(&["log", "--db", file.to_str().unwrap(), "--format", "json"]);
    let summaries = |rows: &Value| -> Vec<(i64, Value)> {
        rows.as_array().unwrap().iter().map(|r| (r["id"].as_i64().unwrap(), r["region_summary"].clone())).collect()
    };
    let central = json(&["log", "--db", &admin, "--station", "line-1", "--format", "json"]);
    assert_eq!(summaries(&central), summaries(&local));
    assert!(summaries(&central).iter().any(|(_, s)| s[0]["written"] == 0x3000), "{central}");
    let table = flashline(&["log", "--db", &admin, "--station", "line-1"], &pw);
    let local_table = flashline(&["log", "--db", file.to_str().unwrap()], &pw);
    let written = |t: &str| t.lines().filter(|l| l.contains("written 12K")).count();
    assert_eq!((written(&table.stdout), written(&local_table.stdout)), (1, 1), "{}", table.stdout);
    let shared = json(&["log", "--db", &admin, "--mac", "aa:bb:cc:dd:ee:01", "--format", "json"]);
    let rework: Vec<bool> = shared.as_array().unwrap().iter().map(|r| r["rework"].as_bool().unwrap()).collect();
    assert_eq!(rework, [true, false], "the later sighting, at the other station, is rework");
    let stats = json(&["stats", "--db", &admin, "--since", "24h", "--format", "json"]);
    assert_eq!(stats["total"]["pass"], 7);
    let stats = json(&["stats", "--db", &admin, "--station", "line-1", "--since", "24h", "--format", "json"]);
    assert_eq!(stats["total"]["pass"], 4);
    assert_eq!(stats["per_slot"][0]["slot"], "A1");

    let ok = flashline(&["log", "verify", "--db", &admin], &pw);
    assert_eq!(ok.code, 0, "{}{}", ok.stdout, ok.stderr);
    assert!(ok.stdout.contains("station: line-1") && ok.stdout.contains("station: line-2"), "{}", ok.stdout);

    let mut conn = sqlx::PgConnection::connect(&pg.admin_url()).await.unwrap();
    sqlx::query(
        "UPDATE attempts SET result = 'fail', failure_stage = 'write', failure_reason = 'x' \
                 WHERE station_id = 'line-2' AND seq = 2",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    let broken = flashline(&["log", "verify", "--db", &admin, "--format", "json"], &pw);
    assert_eq!(broken.code, 1, "{}", broken.stderr);
    let report: Value = serde_json::from_str(&broken.stdout).unwrap();
    assert_eq!(report["valid"], false);
    assert_eq!(report["stations"][0]["valid"], true);
    assert_eq!(report["stations"][1]["problems"][0]["kind"], "edited");
    assert_eq!(report["stations"][1]["problems"][0]["seq"], 2);

    // A wrong password is a database error naming the role, not the password.
    let wrong = Command::new(env!("CARGO_BIN_EXE_flashline"))
        .args(["log", "--db", &admin])
        .env("PGPASSWORD", "wrong-password")
        .output()
        .unwrap();
    assert_eq!(wrong.status.code(), Some(4));
    assert!(!String::from_utf8_lossy(&wrong.stderr).contains("wrong-password"));
    // --station on a station's own file is a usage error for stats.
    let file = dir.path().join("line-1.db");
    let usage = flashline(&["stats", "--db", file.to_str().unwrap(), "--station", "x"], &pw);
    assert_eq!(usage.code, 2, "{}", usage.stderr);
}

/// `flashline demo` with its arguments and `--central`, as a user runs it.
fn demo(dir: &std::path::Path, extra: &[&str], password: &str) -> Out {
    let db = dir.join("demo.db");
    let mut args = vec!["demo", "--boards", "4", "--timing", "off", "--interval-ms", "20", "--app-kib", "64"];
    args.extend(["--db", db.to_str().unwrap()]);
    args.extend(extra);
    flashline(&args, password)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_forwards_its_rows_to_the_central_record() {
    let Some(pg) = PgCluster::start() else { return };
    let pw = pg.admin_password().to_owned();
    let admin = pg.url_without_password(flashline_testkit::pg::ADMIN_USER);
    assert_eq!(flashline(&["central", "init", "--db", &admin], &pw).code, 0);
    let add = flashline(&["central", "add-station", "demo", "--db", &admin], &pw);
    assert_eq!(add.code, 0, "{}", add.stderr);
    let demo_pw = add.stdout.trim().to_owned();
    let dir = tempfile::tempdir().unwrap();
    let pw_file = dir.path().join("demo.pw");
    std::fs::write(&pw_file, format!("{demo_pw}\n")).unwrap();
    let url = pg.url_without_password("demo");

    let first = demo(dir.path(), &["--central", &url, "--password-file", pw_file.to_str().unwrap()], &pw);
    assert_eq!(first.code, 0, "{}{}", first.stdout, first.stderr);
    assert!(first.stdout.contains(": 4 rows arrived from this run"), "{}", first.stdout);
    assert!(!first.stdout.contains(&demo_pw) && !first.stderr.contains(&demo_pw));
    let rows = |station: &str| -> Vec<Value> {
        let out = flashline(&["log", "--db", &admin, "--station", station, "--format", "json"], &pw);
        assert_eq!(out.code, 0, "{}", out.stderr);
        serde_json::from_str::<Value>(&out.stdout).unwrap().as_array().unwrap().clone()
    };
    let central = rows("demo");
    assert_eq!(central.len(), 4, "{central:?}");
    assert!(central.iter().all(|r| r["station_id"] == "demo" && r["result"] == "pass"));

    // The same database again, the password from PGPASSWORD this time: 4 more, one chain.
    let again = demo(dir.path(), &["--keep-db", "--central", &url], &demo_pw);
    assert_eq!(again.code, 0, "{}{}", again.stdout, again.stderr);
    assert!(again.stdout.contains(": 4 rows arrived from this run"), "{}", again.stdout);
    assert_eq!(rows("demo").len(), 8);
    let verify = flashline(&["log", "verify", "--db", &admin, "--station", "demo"], &pw);
    assert_eq!(verify.code, 0, "{}{}", verify.stdout, verify.stderr);

    // A fresh demo database starts another chain under the same id: named, not forwarded.
    let fresh = demo(dir.path(), &["--central", &url, "--password-file", pw_file.to_str().unwrap()], &pw);
    assert_eq!(fresh.code, 0, "the line goes on: {}{}", fresh.stdout, fresh.stderr);
    assert!(fresh.stdout.contains("forwarding STOPPED") && fresh.stdout.contains("--keep-db"), "{}", fresh.stdout);
    assert_eq!(rows("demo").len(), 8);

    // Another station's role is refused before any board is flashed.
    let other = demo(dir.path(), &["--central", &pg.url_without_password("line-1")], &pw);
    assert_eq!(other.code, 2, "{}", other.stderr);
    assert!(other.stderr.contains("add-station demo"), "{}", other.stderr);
}

/// `flashline serve` until dropped.
struct Serve(std::process::Child);

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_line_view_shows_every_station_and_finds_a_board_across_stations() {
    use std::io::BufRead;
    let Some(pg) = PgCluster::start() else { return };
    let pw = pg.admin_password().to_owned();
    let admin = pg.url_without_password(flashline_testkit::pg::ADMIN_USER);
    assert_eq!(flashline(&["central", "init", "--db", &admin], &pw).code, 0);
    let dir = tempfile::tempdir().unwrap();
    let shared_mac = "AA:BB:CC:DD:EE:01";
    for (station, n) in [("line-1", 4u8), ("line-2", 3)] {
        let add = flashline(&["central", "add-station", station, "--db", &admin], &pw);
        let local = station_log(dir.path(), station, n, shared_mac).await;
        if station == "line-2" {
            // One failure with its reason, the station's newest row.
            let new = attempt(station, "A2", None);
            let id = local.begin_attempt(new).await.unwrap();
            local.complete_attempt(id, Completion::fail("verify", "MD5 differs at 0x10000")).await.unwrap();
        }
        let url = CentralUrl::parse(&pg.url_without_password(station), Some(add.stdout.trim())).unwrap();
        CentralLink::new(&url, station).send(&local.chained_rows(0, 100).await.unwrap()).await.unwrap();
    }

    let mut child = Command::new(env!("CARGO_BIN_EXE_flashline"))
        .args(["serve", "--db", &admin, "--listen", "127.0.0.1:0"])
        .env("PGPASSWORD", &pw)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut first = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut first).unwrap();
    let _serve = Serve(child);
    let addr: std::net::SocketAddr = first
        .split("http://")
        .nth(1)
        .and_then(|r| r.split('/').next())
        .unwrap_or_else(|| panic!("no address in {first:?}"))
        .parse()
        .unwrap();
    assert!(!first.contains(&pw), "{first}");

    let (status, body) = support_http::get(addr, "/api/stations").await;
    assert_eq!(status, 200, "{body}");
    let stations: Value = serde_json::from_str(&body).unwrap();
    let stations = stations.as_array().unwrap();
    let ids: Vec<&str> = stations.iter().map(|s| s["station_id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["line-1", "line-2"]);
    let (one, two) = (&stations[0], &stations[1]);
    assert_eq!((one["rows"].as_i64(), two["rows"].as_i64()), (Some(4), Some(4)));
    assert_eq!(one["last_rows"].as_array().unwrap().len(), 4);
    assert!(one["last_rows"].as_array().unwrap().iter().all(|r| r["station_id"] == "line-1"));
    assert_eq!(one["last_failures"].as_array().unwrap().len(), 0);
    assert_eq!(two["last_failures"][0]["failure_reason"], "MD5 differs at 0x10000");
    assert_eq!(two["last_failures"][0]["failure_stage"], "verify");
    // Lag: the time since each station's newest row ended (both just written here).
    let lag = |s: &Value| s["lag_seconds"].as_f64().unwrap();
    assert!((0.0..120.0).contains(&lag(one)) && (0.0..120.0).contains(&lag(two)), "{one} {two}");
    assert_eq!(two["last_rows"][0]["result"], "fail", "newest first");
    assert!(!one["newest_received"].is_null());
    // Today's counts (the rows an hour old may fall on yesterday just after midnight).
    let today = |s: &Value| s["pass"].as_u64().unwrap() + s["fail"].as_u64().unwrap();
    assert!(today(one) <= 4 && today(two) <= 4 && two["fail"] == 1, "{one} {two}");

    let (status, body) = support_http::get(addr, "/api/search?mac=aa-bb-cc-dd-ee-01").await;
    assert_eq!(status, 200, "{body}");
    let found: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(found["across_stations"], true, "{found}");
    assert_eq!(found["stations"], serde_json::json!(["line-1", "line-2"]));
    let rework: Vec<bool> = found["rows"].as_array().unwrap().iter().map(|r| r["rework"].as_bool().unwrap()).collect();
    assert_eq!(rework, [true, false], "the later sighting, at the other station, is rework");
    let (_, body) = support_http::get(addr, "/api/search?mac=AA:00:00:00:31:01").await;
    let single: Value = serde_json::from_str(&body).unwrap();
    assert_eq!((single["across_stations"].as_bool(), single["rows"].as_array().map(Vec::len)), (Some(false), Some(1)));
    let (status, body) = support_http::get(addr, "/api/search?mac=not-a-mac").await;
    assert_eq!(status, 400, "{body}");

    // The station dashboard's audit routes over the whole line: slots as STATION/SLOT.
    let (status, body) = support_http::get(addr, "/api/yield?hours=24").await;
    assert_eq!(status, 200, "{body}");
    let y: Value = serde_json::from_str(&body).unwrap();
    assert!(y["per_slot"].as_array().unwrap().iter().any(|s| s["slot"] == "line-2/A2"), "{y}");
    let (_, page) = support_http::get(addr, "/").await;
    assert!(page.contains("/line.js") && page.contains("/style.css"), "{page}");
    let (_, script) = support_http::get(addr, "/line.js").await;
    assert!(script.contains("/api/stations") && !script.contains("innerHTML"));
}

/// The outage at line scale, as processes: 200 boards flashed by the demo station while the
/// central server is down, a second run killed (SIGKILL) with rows still waiting, the server
/// back, a third run: every local row arrives exactly once, in chain order, and the chain
/// verifies centrally.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_boards_during_an_outage_and_a_killed_station_all_arrive_once_in_order() {
    let Some(mut pg) = PgCluster::start() else { return };
    let pw = pg.admin_password().to_owned();
    let admin = pg.url_without_password(flashline_testkit::pg::ADMIN_USER);
    assert_eq!(flashline(&["central", "init", "--db", &admin], &pw).code, 0);
    let add = flashline(&["central", "add-station", "demo", "--db", &admin], &pw);
    let dir = tempfile::tempdir().unwrap();
    let pw_file = dir.path().join("demo.pw");
    std::fs::write(&pw_file, add.stdout.trim()).unwrap();
    let url = pg.url_without_password("demo");
    let db = dir.path().join("demo.db");
    let run = |boards: &str, keep: bool| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_flashline"));
        c.args(["demo", "--boards", boards, "--timing", "off", "--interval-ms", "5", "--app-kib", "16"])
            .args(["--max-jobs", "16", "--central", &url, "--password-file", pw_file.to_str().unwrap(), "--db"])
            .arg(&db)
            .stdin(std::process::Stdio::null());
        if keep {
            c.arg("--keep-db");
        }
        c
    };

    pg.stop();
    let out = run("200", false).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("200 passed") && stdout.contains(": 0 rows arrived from this run"), "{stdout}");

    // A second run, killed while it flashes (rows waiting, the server still down).
    let mut child =
        run("64", true).stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null()).spawn().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        let local = AuditStore::open_read_only(&db).await.unwrap();
        let n = local.query(&flashline_audit::AttemptFilter::all()).await.unwrap().len();
        local.close().await;
        if n >= 220 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the second run never got going ({n} rows)");
    }
    child.kill().unwrap();
    let _ = child.wait();

    pg.restart();
    let out = run("1", true).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    let local = AuditStore::open_read_only(&db).await.unwrap();
    let head = local.chain_head().await.unwrap();
    assert!(head.last_seq >= 221, "{head:?}");
    assert!(stdout.contains(&format!(": {} rows arrived from this run", head.last_seq)), "{stdout}");

    let central =
        AuditStore::open_postgres(&CentralUrl::parse(&admin, Some(&pw)).unwrap(), Some("demo".into())).await.unwrap();
    assert_eq!(central.chain_head().await.unwrap(), head, "the central head is the local head");
    let central_rows = central.chained_rows(0, 10_000).await.unwrap();
    let local_rows = local.chained_rows(0, 10_000).await.unwrap();
    let seqs: Vec<i64> = central_rows.iter().map(|r| r.seq).collect();
    assert_eq!(seqs, (1..=head.last_seq).collect::<Vec<_>>(), "every row once, in chain order");
    let hashes = |rows: &[flashline_audit::ChainRow]| rows.iter().map(|r| r.row_hash.clone()).collect::<Vec<_>>();
    assert_eq!(hashes(&central_rows), hashes(&local_rows));
    let verify = flashline(&["log", "verify", "--db", &admin, "--station", "demo"], &pw);
    assert_eq!(verify.code, 0, "{}{}", verify.stdout, verify.stderr);
}
