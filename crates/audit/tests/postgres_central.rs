//! The central PostgreSQL record against a real server (a throwaway cluster per test):
//! rows forwarded from a station's SQLite log read back exactly as the station reads them,
//! chains verify centrally, and the database itself holds each station to its own rows.

mod common;

use common::*;
use flashline_audit::postgres::{add_station, init_schema, CentralError, CentralLink, CentralUrl};
use flashline_audit::{
    AttemptFilter, AttemptResult, AuditError, AuditStore, ChainProblem, Completion, NewAttempt, RegionSummary,
};
use flashline_testkit::pg::PgCluster;
use sqlx::Connection;

/// A cluster with the central schema; `None` (skipped) without server binaries.
async fn central() -> Option<(PgCluster, CentralUrl)> {
    let pg = PgCluster::start()?;
    let admin = CentralUrl::parse(&pg.admin_url(), None).unwrap();
    init_schema(&admin).await.expect("central init");
    // A second run is a no-op.
    init_schema(&admin).await.expect("central init is idempotent");
    Some((pg, admin))
}

/// The station's URL, after registering it.
async fn station_url(pg: &PgCluster, admin: &CentralUrl, station: &str) -> CentralUrl {
    let role = add_station(admin, station).await.expect("add station");
    CentralUrl::parse(&pg.url_without_password(station), Some(&role.password)).unwrap()
}

async fn forward_all(store: &AuditStore, link: &CentralLink) -> u64 {
    let mut inserted = 0;
    let mut after = link.head().await.unwrap().last_seq;
    loop {
        let rows = store.chained_rows(after, 3).await.unwrap();
        if rows.is_empty() {
            return inserted;
        }
        let done = link.send(&rows).await.unwrap();
        inserted += done.inserted;
        after = done.last_seq;
    }
}

fn new_at(station: &str, slot: &str) -> NewAttempt {
    NewAttempt { station_id: station.into(), ..new_attempt(slot) }
}

/// A mixed day at one station: passes, failures, rework, an interrupted row, two images.
async fn station_day(store: &AuditStore, station: &str, mac_base: u8) {
    for i in 0..12i64 {
        let mut a = new_at(station, ["A1", "A2", "A3"][i as usize % 3]);
        a.started_at = Some(at(8 * HOUR + i * 7 * MIN));
        if i % 4 == 3 {
            a.image_name = "golden-v2.bin".into();
            a.image_sha256 = sha(0xcd);
        }
        let id = store.begin_attempt(a).await.unwrap();
        if i != 5 {
            // i = 9 brings board 1 back: rework at this station.
            let n = if i == 9 { 1 } else { i as u8 };
            store.update_identity(id, &identity(&format!("AA:BB:CC:{mac_base:02X}:00:{n:02X}"))).await.unwrap();
        }
        if i % 2 == 0 && i != 5 {
            // Provisioned: the chain version 2 columns travel and verify centrally.
            let nvs = flashline_audit::NvsRecord { offset: 0x9000, size: 0x6000, sha256: sha(i as u8) };
            let record = flashline_audit::ProvisionRecord { nvs: Some(nvs) };
            store.record_provision(id, Some(&format!("FL-{i:06}")), Some(&record)).await.unwrap();
        }
        let c = match i % 5 {
            1 => Completion::fail("write", "timeout, no \"ACK\""),
            4 => {
                let mut c = Completion::fail("verify", "md5");
                c.result = AttemptResult::Interrupted;
                c
            }
            _ => {
                // What the write did per region travels beside the chain (not hashed).
                let mut c = pass();
                c.regions = vec![
                    RegionSummary { offset: 0x1000, length: 0x7000, written: 0x7000, ..RegionSummary::default() },
                    RegionSummary {
                        offset: 0x10000,
                        length: 0x40000,
                        written: 0x1000 * i as u64,
                        erased: 0x1000,
                        blank: 0x2000,
                        identical: 0x40000 - 0x1000 * (i as u64 + 3),
                    },
                ];
                c
            }
        };
        store.complete_attempt(id, c.ended_at(at(8 * HOUR + i * 7 * MIN + MIN))).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarded_rows_read_back_as_on_the_station_and_verify() {
    let Some((pg, admin)) = central().await else { return };
    let db = test_db();
    let local = open(&db.path).await;
    station_day(&local, "line-1", 1).await;
    let url = station_url(&pg, &admin, "line-1").await;
    let link = CentralLink::new(&url, "line-1");
    assert_eq!(forward_all(&local, &link).await, 12);
    // Sending again stores nothing twice.
    let again = link.send(&local.chained_rows(0, 100).await.unwrap()).await.unwrap();
    assert_eq!((again.inserted, again.skipped), (0, 12));

    let central = AuditStore::open_postgres(&admin, Some("line-1".into())).await.unwrap();
    assert!(central.is_read_only());
    let filters = [
        AttemptFilter::all(),
        AttemptFilter::all().slot("A2"),
        AttemptFilter::all().result(AttemptResult::Fail),
        AttemptFilter::all().mac("aa-bb-cc-01-00-01"),
        AttemptFilter::all().image("cdcd"),
        AttemptFilter::all().image("golden-v2.bin"),
        AttemptFilter::all().since(at(9 * HOUR)).until(at(9 * HOUR + 30 * MIN)),
        AttemptFilter::all().limit(4),
        AttemptFilter::all().station("line-1").result(AttemptResult::Interrupted),
        AttemptFilter::all().serial("FL-000002"),
    ];
    for f in filters {
        let want = local.query(&f).await.unwrap();
        let got = central.query(&f).await.unwrap();
        assert!(!want.is_empty(), "{f:?} selects nothing: a useless case");
        assert_eq!(got, want, "{f:?}");
    }
    let summaries = central.query(&AttemptFilter::all().result(AttemptResult::Pass)).await.unwrap();
    assert!(summaries.iter().all(|r| r.region_summary.len() == 2), "region summaries are forwarded: {summaries:?}");
    let (since, until) = (at(0), at(24 * HOUR));
    assert_eq!(central.stats(since, until).await.unwrap(), local.stats(since, until).await.unwrap());
    let some = local.query(&AttemptFilter::all().limit(1)).await.unwrap().remove(0);
    assert_eq!(central.get(some.id).await.unwrap(), some);
    assert_eq!(central.chain_head().await.unwrap(), local.chain_head().await.unwrap());
    let report = central.verify_chain().await.unwrap();
    assert!(report.is_valid() && report.rows_checked == 12, "{report:?}");
    assert!(central.integrity_check().await.unwrap().ok);
    let serials = central.query(&AttemptFilter::all()).await.unwrap();
    assert_eq!(serials.iter().filter(|r| r.serial.is_some() && r.provision.is_some()).count(), 6);
    match central.begin_attempt(new_at("line-1", "A1")).await {
        Err(AuditError::ReadOnly { location }) => assert!(!location.contains(pg.admin_password()), "{location}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stations_are_verified_one_by_one_and_rework_is_seen_across_them() {
    let Some((pg, admin)) = central().await else { return };
    let (db1, db2) = (test_db(), test_db());
    let (s1, s2) = (open(&db1.path).await, open(&db2.path).await);
    station_day(&s1, "line-1", 1).await;
    // Station 2 works later on boards of station 1 (same MACs): rework centrally.
    let mut a = new_at("line-2", "A1");
    a.started_at = Some(at(12 * HOUR));
    let id = s2.begin_attempt(a).await.unwrap();
    assert_eq!(s2.update_identity(id, &identity("AA:BB:CC:01:00:02")).await.unwrap(), None, "new at station 2");
    s2.complete_attempt(id, pass().ended_at(at(12 * HOUR + MIN))).await.unwrap();
    for (store, name) in [(&s1, "line-1"), (&s2, "line-2")] {
        let link = CentralLink::new(&station_url(&pg, &admin, name).await, name);
        forward_all(store, &link).await;
    }

    let all = AuditStore::open_postgres(&admin, None).await.unwrap();
    let rows = all.query(&AttemptFilter::all().mac("AA:BB:CC:01:00:02")).await.unwrap();
    assert_eq!(rows.len(), 2);
    assert!(rows[0].station_id == "line-2" && rows[0].rework, "{:?}", rows[0]);
    assert!(!rows[1].rework, "the first sighting is no rework");
    assert_eq!(all.query(&AttemptFilter::all().station("line-2")).await.unwrap().len(), 1);
    // Per station chains; one chain for one handle needs a station.
    let reports = all.verify_chains().await.unwrap();
    let names: Vec<_> = reports.iter().map(|r| r.station.clone().unwrap()).collect();
    assert_eq!(names, ["line-1", "line-2"]);
    assert!(reports.iter().all(|r| r.report.is_valid()));
    assert!(matches!(all.verify_chain().await, Err(AuditError::Invalid(_))));
    // Across stations, slots are STATION/SLOT.
    let stats = all.stats(at(0), at(24 * HOUR)).await.unwrap();
    let slots: Vec<_> = stats.per_slot.iter().map(|s| s.slot.as_str()).collect();
    assert_eq!(slots, ["line-1/A1", "line-1/A2", "line-1/A3", "line-2/A1"]);
    assert_eq!(stats.total.total, 13);

    // The administrator edits a row of line-1 behind the store: named centrally.
    let mut conn = sqlx::PgConnection::connect(&pg.admin_url()).await.unwrap();
    sqlx::query("UPDATE attempts SET failure_reason = 'cable' WHERE station_id = 'line-1' AND seq = 2")
        .execute(&mut conn)
        .await
        .unwrap();
    // A forged serial number (chain version 2 column) is an edit too.
    sqlx::query("UPDATE attempts SET serial = 'FL-999999' WHERE station_id = 'line-1' AND serial = 'FL-000004'")
        .execute(&mut conn)
        .await
        .unwrap();
    let reports = all.verify_chains().await.unwrap();
    assert!(
        matches!(
            reports[0].report.problems.as_slice(),
            [ChainProblem::Edited { seq: 2, .. }, ChainProblem::Edited { seq: 5, .. }]
        ),
        "{reports:?}"
    );
    assert!(reports[1].report.is_valid());
    // Deleting the newest row is caught by the head the trigger kept.
    sqlx::query("DELETE FROM attempts WHERE station_id = 'line-2'").execute(&mut conn).await.unwrap();
    let r2 = AuditStore::open_postgres(&admin, Some("line-2".into())).await.unwrap();
    assert!(matches!(r2.verify_chain().await.unwrap().problems.as_slice(), [ChainProblem::TailDeleted { .. }]));
    assert!(!r2.integrity_check().await.unwrap().ok);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_station_role_may_only_add_its_own_rows() {
    let Some((pg, admin)) = central().await else { return };
    let db = test_db();
    let local = open(&db.path).await;
    station_day(&local, "line-1", 1).await;
    let url1 = station_url(&pg, &admin, "line-1").await;
    forward_all(&local, &CentralLink::new(&url1, "line-1")).await;
    let role2 = add_station(&admin, "line-2").await.unwrap();
    // Registering an id twice is refused.
    assert!(matches!(add_station(&admin, "line-2").await, Err(AuditError::Invalid(m)) if m.contains("already")));

    let url2 = format!("postgres://line-2:{}@127.0.0.1:{}/postgres?sslmode=disable", role2.password, pg.port());
    let mut st2 = sqlx::PgConnection::connect(&url2).await.unwrap();
    let refused = |r: Result<sqlx::postgres::PgQueryResult, sqlx::Error>| match r {
        Err(e) => e.as_database_error().and_then(|d| d.code()).map(|c| c.into_owned()),
        Ok(done) => panic!("the server allowed it ({} rows)", done.rows_affected()),
    };
    let denied = Some("42501".to_owned());
    assert_eq!(refused(sqlx::query("UPDATE attempts SET result = 'pass'").execute(&mut st2).await), denied);
    assert_eq!(refused(sqlx::query("DELETE FROM attempts").execute(&mut st2).await), denied);
    assert_eq!(refused(sqlx::query("DELETE FROM chain_heads").execute(&mut st2).await), denied);
    assert_eq!(refused(sqlx::query("TRUNCATE attempts").execute(&mut st2).await), denied);
    // Not even its own rows: forwarding line-2's rows first, then trying to change them.
    let db2 = test_db();
    let local2 = open(&db2.path).await;
    station_day(&local2, "line-2", 2).await;
    let url2 = CentralUrl::parse(&url2, None).unwrap();
    forward_all(&local2, &CentralLink::new(&url2, "line-2")).await;
    let changed =
        sqlx::query("UPDATE attempts SET failure_reason = 'x' WHERE station_id = 'line-2'").execute(&mut st2).await;
    assert_eq!(refused(changed), denied);
    // Line-1's rows, re-labelled, sent over line-2's login: refused by row-level security.
    local.complete_attempt(local.begin_attempt(new_at("line-1", "A1")).await.unwrap(), pass()).await.unwrap();
    let rows = local.chained_rows(12, 1).await.unwrap();
    let link2 = CentralLink::new(&url2, "line-1");
    assert!(matches!(link2.send(&rows).await, Err(CentralError::NotPermitted { .. })), "RLS refuses");
    // Rows of another station offered as its own are refused before they leave.
    assert!(matches!(CentralLink::new(&url2, "line-2").send(&rows).await, Err(CentralError::Unforwardable { .. })));
    // It reads only its own rows.
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM attempts").fetch_one(&mut st2).await.unwrap();
    assert_eq!(n, 12);
    let central = AuditStore::open_postgres(&admin, None).await.unwrap();
    assert!(central.verify_chains().await.unwrap().iter().all(|r| r.report.is_valid()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_station_with_the_same_id_is_refused_and_a_wrong_password_named() {
    let Some((pg, admin)) = central().await else { return };
    let url = station_url(&pg, &admin, "line-1").await;
    let (db1, db2) = (test_db(), test_db());
    let (s1, s2) = (open(&db1.path).await, open(&db2.path).await);
    station_day(&s1, "line-1", 1).await;
    station_day(&s2, "line-1", 9).await;
    forward_all(&s1, &CentralLink::new(&url, "line-1")).await;
    let twin = CentralLink::new(&url, "line-1");
    match twin.send(&s2.chained_rows(0, 5).await.unwrap()).await {
        Err(e @ CentralError::Conflict { .. }) => assert!(e.to_string().contains("same station id"), "{e}"),
        other => panic!("{other:?}"),
    }
    // A fork after the recorded head is refused too.
    s1.complete_attempt(s1.begin_attempt(new_at("line-1", "A1")).await.unwrap(), pass()).await.unwrap();
    let mut forked = s1.chained_rows(12, 1).await.unwrap();
    forked[0].values[flashline_audit::chain::PREV_HASH_INDEX] = flashline_audit::chain::Value::Text("ab".repeat(32));
    assert!(matches!(twin.send(&forked).await, Err(CentralError::Conflict { .. })));
    let central = AuditStore::open_postgres(&admin, Some("line-1".into())).await.unwrap();
    assert!(central.verify_chain().await.unwrap().is_valid());
    assert_eq!(central.chain_head().await.unwrap().last_seq, 12);

    let wrong = CentralUrl::parse(&pg.url_without_password("line-1"), Some("not-the-password")).unwrap();
    match CentralLink::new(&wrong, "line-1").head().await {
        Err(e @ CentralError::Login { .. }) => {
            assert!(!e.to_string().contains("not-the-password"), "{e}");
            assert!(e.to_string().contains("password_file"), "{e}");
        }
        other => panic!("{other:?}"),
    }
    drop(pg);
    match CentralLink::new(&url, "line-1").head().await {
        Err(CentralError::Unreachable { .. }) => {}
        other => panic!("{other:?}"),
    }
}
