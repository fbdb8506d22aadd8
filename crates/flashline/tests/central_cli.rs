//! `flashline central init|add-station`, and `flashline log|stats|log verify --db
//! postgres://...` as the real binary against a throwaway PostgreSQL cluster: set up the
//! record, forward two stations' rows, query them like a station's file, and see an
//! administrator's edit named by `log verify`. The password never shows on any output.

use std::process::Command;

use flashline_audit::postgres::{CentralLink, CentralUrl};
use flashline_audit::{AuditStore, Completion, Identity, NewAttempt, StoreOptions, Timestamp};
use flashline_testkit::pg::PgCluster;
use serde_json::Value;
use sqlx::Connection;

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

/// A station's local log with `n` completed rows (the MAC of row 0 is `shared`).
async fn station_log(dir: &std::path::Path, station: &str, n: u8, shared: &str) -> AuditStore {
    let store = AuditStore::open(dir.join(format!("{station}.db")), StoreOptions::default()).await.unwrap();
    let t0 = Timestamp::now().as_unix_ms() - 3_600_000;
    for i in 0..n {
        let new = NewAttempt {
            station_id: station.into(),
            slot: format!("A{}", i % 2 + 1),
            port: "1-1".into(),
            usb: None,
            image_name: "golden.bin".into(),
            image_sha256: "ab".repeat(32),
            started_at: Some(Timestamp::from_unix_ms(
                t0 + i64::from(i) * 60_000 + if station == "line-2" { 30_000 } else { 0 },
            )),
        };
        let id = store.begin_attempt(new).await.unwrap();
        let mac = if i == 0 { shared.to_owned() } else { format!("AA:00:00:00:{:02X}:{i:02X}", station.as_bytes()[5]) };
        let identity = Identity { mac, chip: "ESP32".into(), chip_revision: None, flash_id: None, flash_size: None };
        store.update_identity(id, &identity).await.unwrap();
        store.complete_attempt(id, Completion::pass(1024, "md5")).await.unwrap();
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
