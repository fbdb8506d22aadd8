//! Read-only stores (query tools beside the daemon): every write refused, every read
//! served, a live writer undisturbed.

use super::Fixture;
use crate::common::*;
use flashline_audit::{insert_synthetic, AttemptFilter, AttemptResult, AuditError, Completion};

pub async fn a_read_only_store_refuses_every_write_and_reads_everything<F: Fixture>() {
    let f = F::new().await;
    let store = f.open().await;
    let done = record(&store, "A1", at(0), Some("AA:BB:CC:DD:EE:01"), pass()).await;
    let running = store.begin_attempt(new_attempt("A2")).await.unwrap();
    store.set_stage(running, "write").await.unwrap();
    store.close().await;

    let ro = f.open_read_only().await;
    let refused = |r: Result<(), AuditError>, what: &str| {
        assert!(matches!(r, Err(AuditError::ReadOnly { .. })), "{what}: {r:?}");
    };
    refused(ro.begin_attempt(new_attempt("A3")).await.map(drop), "begin_attempt");
    refused(ro.update_identity(running, &identity("AA:BB:CC:DD:EE:02")).await.map(drop), "update_identity");
    refused(ro.set_stage(running, "verify").await, "set_stage");
    refused(ro.complete_attempt(running, pass()).await, "complete_attempt");
    refused(ro.close_interrupted().await.map(drop), "close_interrupted");
    refused(ro.set_max_db_bytes(Some(1 << 20)).await, "set_max_db_bytes");
    refused(insert_synthetic(&ro, 10, 1).await.map(drop), "insert_synthetic");

    // Every read works.
    assert_eq!(ro.query(&AttemptFilter::all()).await.unwrap().len(), 2);
    assert_eq!(ro.get(done).await.unwrap().result, AttemptResult::Pass);
    let still = ro.get(running).await.unwrap();
    assert_eq!((still.result, still.current_stage.as_deref()), (AttemptResult::Running, Some("write")));
    assert!(ro.verify_chain().await.unwrap().is_valid());
    assert_eq!(ro.chain_head().await.unwrap().last_attempt_id, Some(done.0));
    assert_eq!(ro.stats(at(-HOUR), at(HOUR)).await.unwrap().total.total, 1);
    assert!(ro.integrity_check().await.unwrap().ok);
    ro.close().await;

    let store = f.open().await;
    assert_eq!(store.get(running).await.unwrap().result, AttemptResult::Running);
}

/// A query tool beside a live daemon: it sees what the daemon committed,
/// does not disturb it, and never closes the daemon's running jobs.
pub async fn reads_run_beside_a_live_writer<F: Fixture>() {
    let f = F::new().await;
    let daemon = f.open().await;
    let first = record(&daemon, "A1", at(0), Some("AA:BB:CC:DD:EE:01"), pass()).await;
    let live = daemon.begin_attempt(new_attempt("A2")).await.unwrap();
    daemon.set_stage(live, "erase").await.unwrap();

    let tool = f.open_read_only().await;
    let rows = tool.query(&AttemptFilter::all()).await.unwrap();
    assert_eq!(rows.iter().map(|r| r.id).collect::<Vec<_>>(), [live, first]);
    assert_eq!(rows[0].current_stage.as_deref(), Some("erase"));

    // The daemon keeps writing while the tool holds its connections open.
    daemon.set_stage(live, "write").await.unwrap();
    daemon.update_identity(live, &identity("AA:BB:CC:DD:EE:02")).await.unwrap();
    daemon.complete_attempt(live, Completion::fail("write", "timeout")).await.unwrap();
    let row = tool.get(live).await.unwrap();
    assert_eq!((row.result, row.current_stage), (AttemptResult::Fail, None));
    assert!(tool.verify_chain().await.unwrap().is_valid());
    tool.close().await;
    assert!(daemon.verify_chain().await.unwrap().is_valid());
}
