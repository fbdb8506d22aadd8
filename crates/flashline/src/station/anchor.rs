//! Anchoring the audit chain outside the database.
//!
//! Whoever can write the database can rewrite a row and recompute the chain and its head
//! (SECURITY.md). The daemon therefore writes the chain head — sequence number and hash —
//! to its log whenever it advanced: at start (after closing rows a previous daemon left
//! running), after every finished attempt and at shutdown. In the journal the entry
//! carries the fields `FLASHLINE_CHAIN_SEQ`, `FLASHLINE_CHAIN_HEAD` and
//! `FLASHLINE_DATABASE` (tracing fields are upper-cased by the journald layer); in the text
//! and JSON logs the same fields in lower case. `flashline log verify --anchors` reads
//! them back (`cli/log/anchors.rs`) and fails at the first head the database no longer
//! holds. The journal is only as safe as its own storage: forward it, or export the heads,
//! to a machine the station cannot write.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use flashline_audit::AuditStore;

use super::events::{EventReceiver, StationEvent};

/// Writes the head when it moved past the last one written.
#[derive(Debug, Clone)]
pub struct Anchors {
    store: AuditStore,
    /// Sequence number written last (0: none yet).
    written: Arc<AtomicI64>,
}

impl Anchors {
    pub fn new(store: AuditStore) -> Anchors {
        Anchors { store, written: Arc::new(AtomicI64::new(0)) }
    }

    /// Writes the current head (`why`: start, attempt, shutdown) unless it was written
    /// already; `always` writes it even then (at shutdown, so the last head is the last
    /// entry). A store that cannot be read is logged and skipped: the next one catches up.
    pub async fn write(&self, why: &'static str, always: bool) {
        let head = match self.store.chain_head().await {
            Ok(head) => head,
            Err(e) => {
                tracing::warn!(error = %crate::text::Escaped(&e), "cannot read the audit chain head to anchor it");
                return;
            }
        };
        let before = self.written.fetch_max(head.last_seq, Ordering::SeqCst);
        if head.last_seq == 0 || (head.last_seq <= before && !always) {
            return;
        }
        tracing::info!(
            flashline_chain_seq = head.last_seq,
            flashline_chain_head = %head.last_hash,
            flashline_database = %crate::text::Escaped(self.store.location()),
            why,
            "audit chain head"
        );
    }

    /// Writes the head at start, then after every finished attempt, until the events end.
    pub async fn follow(self, mut rx: EventReceiver) {
        self.write("start", true).await;
        while let Some(ev) = rx.recv().await {
            if matches!(ev, StationEvent::Finished { .. } | StationEvent::StoreRecovered) {
                self.write("attempt", false).await;
            }
        }
    }
}
