//! [`AuditStore`]: the cheap-to-clone handle everyone uses, whatever database is behind it.
//!
//! The handle owns the rules that do not depend on the database: it checks and normalises
//! every input, refuses writes on a read-only store, fills in default times, and only then
//! calls the [`AuditBackend`]. That keeps the behaviour the same for every backend and the
//! backends small.

use std::path::Path;
use std::sync::Arc;

use crate::anchor::Anchor;
use crate::backend::{AuditBackend, StationChainReport};
use crate::chain::ChainHead;
use crate::error::{AuditError, Result};
use crate::integrity::IntegrityReport;
use crate::mac::normalize_mac;
use crate::model::{normalize_sha256, AttemptId, AttemptRow, ClosedRunning, Completion, Identity, NewAttempt};
use crate::options::StoreOptions;
use crate::query::AttemptFilter;
use crate::serial::{ProvisionRecord, SerialAllocation, SerialSource};
use crate::sqlite::SqliteBackend;
use crate::stats::Stats;
use crate::synthetic::{SyntheticSpec, SyntheticSummary};
use crate::time::Timestamp;
use crate::verify::{ChainReport, ChainRow};

/// Longest stage name [`AuditStore::set_stage`] takes.
pub const MAX_STAGE_LEN: usize = 64;

/// Failure stage of an interrupted row whose stage was never recorded.
pub const UNKNOWN_STAGE: &str = "unknown";

/// The audit log of one station. Clones share the same database connections.
#[derive(Debug, Clone)]
pub struct AuditStore {
    backend: Arc<dyn AuditBackend>,
}

impl AuditStore {
    /// A store on any backend (e.g. one written for a test, or a future server backend).
    pub fn from_backend(backend: Arc<dyn AuditBackend>) -> AuditStore {
        AuditStore { backend }
    }

    /// Opens (creating if needed) the SQLite database at `path` for the daemon: applies
    /// the pragmas and brings the schema up to date. See [`SqliteBackend::open`].
    ///
    /// Opening does not close rows left `running`: only the daemon knows that no job of its
    /// own is in flight, so it calls [`AuditStore::close_interrupted`] once at start.
    pub async fn open_sqlite(path: impl AsRef<Path>, opts: StoreOptions) -> Result<AuditStore> {
        Ok(AuditStore::from_backend(Arc::new(SqliteBackend::open(path.as_ref(), opts).await?)))
    }

    /// Opens an existing SQLite database for queries only (`flashline log`, `flashline
    /// stats`, beside the daemon): never creates, migrates or writes it. See
    /// [`SqliteBackend::open_read_only`].
    pub async fn open_sqlite_read_only(path: impl AsRef<Path>) -> Result<AuditStore> {
        Ok(AuditStore::from_backend(Arc::new(SqliteBackend::open_read_only(path.as_ref()).await?)))
    }

    /// [`AuditStore::open_sqlite`]: the database is an SQLite file.
    pub async fn open(path: impl AsRef<Path>, opts: StoreOptions) -> Result<AuditStore> {
        AuditStore::open_sqlite(path, opts).await
    }

    /// [`AuditStore::open_sqlite_read_only`]: the database is an SQLite file.
    pub async fn open_read_only(path: impl AsRef<Path>) -> Result<AuditStore> {
        AuditStore::open_sqlite_read_only(path).await
    }

    /// Opens a central PostgreSQL record for queries (`flashline log|stats --db
    /// postgres://...`), optionally scoped to one station. Always read-only: rows arrive
    /// there only by forwarding ([`crate::postgres::CentralLink`]).
    pub async fn open_postgres(url: &crate::postgres::CentralUrl, station: Option<String>) -> Result<AuditStore> {
        Ok(AuditStore::from_backend(Arc::new(crate::postgres::PgBackend::open(url, station).await?)))
    }

    /// Whether this store was opened read-only.
    pub fn is_read_only(&self) -> bool {
        self.backend.is_read_only()
    }

    /// The database, for messages: a file path (or a server address).
    pub fn location(&self) -> &str {
        self.backend.location()
    }

    /// Closes all connections (SQLite: checkpointing the WAL into the database file).
    /// Dropping the store without calling this is safe: committed rows are kept. Clones of
    /// this store share the connections and cannot be used afterwards.
    pub async fn close(self) {
        self.backend.close().await;
    }

    /// Changes the size limit at run time (e.g. after the operator freed space or raised
    /// the limit). A limit below the current size keeps the database at its current size.
    pub async fn set_max_db_bytes(&self, limit: Option<u64>) -> Result<()> {
        self.writable()?;
        self.backend.set_max_db_bytes(limit).await
    }

    /// Records the start of a job: inserts a `running` row and returns its id.
    ///
    /// A failure means the board must not be flashed: no row, no job.
    pub async fn begin_attempt(&self, new: NewAttempt) -> Result<AttemptId> {
        for (field, value) in
            [("station_id", &new.station_id), ("slot", &new.slot), ("port", &new.port), ("image_name", &new.image_name)]
        {
            if value.trim().is_empty() {
                return Err(AuditError::Invalid(format!("{field} must not be empty")));
            }
        }
        let new = NewAttempt {
            image_sha256: normalize_sha256(&new.image_sha256).map_err(AuditError::Invalid)?,
            started_at: Some(new.started_at.unwrap_or_else(Timestamp::now)),
            ..new
        };
        self.writable()?;
        self.backend.begin_attempt(&new).await
    }

    /// Records what the identify stage learned. Detects rework: when the MAC is already in
    /// another row (earlier, or still running in a parallel slot), the attempt is flagged
    /// and the first such attempt is returned.
    pub async fn update_identity(&self, id: AttemptId, identity: &Identity) -> Result<Option<AttemptId>> {
        let mac = normalize_mac(&identity.mac).map_err(AuditError::Invalid)?;
        if identity.chip.trim().is_empty() {
            return Err(AuditError::Invalid("chip must not be empty".into()));
        }
        self.writable()?;
        self.backend.update_identity(id, &Identity { mac, ..identity.clone() }).await
    }

    /// Records the golden image a running attempt's board gets, when it is chosen after
    /// the row began: a station of several chip families picks the image by the chip it
    /// identifies. Same rules as [`AuditStore::begin_attempt`] for the name and SHA-256;
    /// the row is hashed with these when it completes.
    ///
    /// Fails with `NotFound` for an unknown id and `AlreadyCompleted` for a completed row.
    pub async fn set_image(&self, id: AttemptId, name: &str, sha256: &str) -> Result<()> {
        if name.trim().is_empty() {
            return Err(AuditError::Invalid("image_name must not be empty".into()));
        }
        let sha256 = normalize_sha256(sha256).map_err(AuditError::Invalid)?;
        self.writable()?;
        self.backend.set_image(id, name, &sha256).await
    }

    /// Records the stage a running attempt has just entered (`connect`, `identify`,
    /// `write`, ...), so that a row left `running` by a daemon that died is closed as
    /// "interrupted during write" rather than "unknown" ([`AuditStore::close_interrupted`]).
    ///
    /// One update in its own write transaction (SQLite: one commit, so one fsync with
    /// [`crate::Durability::Full`]); call it at each stage change, not per progress event.
    /// The stage is live progress only: it is not hashed, and completing the row clears it
    /// (the outcome's stage is `failure_stage`). A storage fault here does not endanger the
    /// row; the daemon may log it and carry on with the job.
    ///
    /// Fails with `NotFound` for an unknown id and `AlreadyCompleted` for a completed row.
    pub async fn set_stage(&self, id: AttemptId, stage: &str) -> Result<()> {
        let stage = stage.trim();
        if stage.is_empty() || stage.len() > MAX_STAGE_LEN {
            return Err(AuditError::Invalid(format!("stage name '{stage}' must be 1 to {MAX_STAGE_LEN} bytes long")));
        }
        self.writable()?;
        self.backend.set_stage(id, stage).await
    }

    /// Records the end of a job and appends the row to the hash chain, in one transaction.
    /// A row is completed exactly once: a second call fails with `AlreadyCompleted`.
    pub async fn complete_attempt(&self, id: AttemptId, completion: Completion) -> Result<()> {
        completion.validate().map_err(AuditError::Invalid)?;
        let completion =
            Completion { ended_at: Some(completion.ended_at.unwrap_or_else(Timestamp::now)), ..completion };
        self.writable()?;
        self.backend.complete_attempt(id, &completion).await
    }

    /// Closes every row left `running` by a daemon that died, as `interrupted` with the
    /// reason [`crate::INTERRUPTED_REASON`]; returns how many. The failure stage is the
    /// last stage recorded with [`AuditStore::set_stage`] ("interrupted during write"), or
    /// [`UNKNOWN_STAGE`] when none was. Call once at daemon start, before any job begins,
    /// never from a tool that runs beside the daemon (a read-only store refuses it).
    ///
    /// A row that no daemon began (above the begun-attempt mark: inserted while no daemon
    /// ran) is closed too, with [`crate::FORGED_RUNNING_REASON`], and logged as a warning
    /// naming its id; [`AuditStore::close_left_running`] tells the two kinds apart.
    pub async fn close_interrupted(&self) -> Result<u64> {
        Ok(self.close_left_running().await?.total())
    }

    /// [`AuditStore::close_interrupted`], saying which rows a daemon left and which it did
    /// not.
    pub async fn close_left_running(&self) -> Result<ClosedRunning> {
        self.writable()?;
        let closed = self.backend.close_interrupted(Timestamp::now()).await?;
        if !closed.interrupted.is_empty() {
            tracing::warn!(
                database = %self.location(),
                rows = closed.interrupted.len(),
                "closed attempts left running as interrupted"
            );
        }
        for id in &closed.suspect {
            tracing::warn!(
                database = %self.location(),
                attempt_id = id.0,
                "a running row that no daemon began was found at start-up (possibly forged): closed as interrupted \
                 with that reason; look at who could write the database"
            );
        }
        Ok(closed)
    }

    /// One attempt by id.
    pub async fn get(&self, id: AttemptId) -> Result<AttemptRow> {
        self.backend.get(id).await
    }

    /// Attempts matching `filter`, newest first.
    pub async fn query(&self, filter: &AttemptFilter) -> Result<Vec<AttemptRow>> {
        let filter = filter.normalized()?;
        self.backend.query(&filter).await
    }

    /// Statistics of the attempts started at or after `since` and before `until`.
    pub async fn stats(&self, since: Timestamp, until: Timestamp) -> Result<Stats> {
        self.backend.stats(since, until).await
    }

    /// The end of the chain as recorded: log or print it now and then to pin the chain.
    pub async fn chain_head(&self) -> Result<ChainHead> {
        self.backend.chain_head().await
    }

    /// Walks the whole chain; see [`crate::verify`] for what each finding means.
    pub async fn verify_chain(&self) -> Result<ChainReport> {
        self.backend.verify_chain(&[]).await
    }

    /// [`AuditStore::verify_chain`], also comparing the chain with `anchors`: heads
    /// recorded outside the database ([`crate::anchor`]). Catches a chain rewritten and
    /// recomputed after an anchor was written.
    pub async fn verify_chain_with_anchors(&self, anchors: &[Anchor]) -> Result<ChainReport> {
        self.backend.verify_chain(anchors).await
    }

    /// Walks every chain the database holds: the station's own, or each station's of a
    /// central record.
    pub async fn verify_chains(&self) -> Result<Vec<StationChainReport>> {
        self.backend.verify_chains().await
    }

    /// Up to `limit` chained rows after `after_seq`, in chain order, exactly as stored:
    /// what a station forwards to the central record.
    pub async fn chained_rows(&self, after_seq: i64, limit: u32) -> Result<Vec<ChainRow>> {
        self.backend.chained_rows(after_seq, limit).await
    }

    /// The database's own check of its structures (SQLite: `PRAGMA integrity_check`).
    pub async fn integrity_check(&self) -> Result<IntegrityReport> {
        self.backend.integrity_check().await
    }

    /// Inserts synthetic completed attempts as described by `spec` (see
    /// [`crate::synthetic`]).
    pub async fn insert_synthetic(&self, spec: &SyntheticSpec) -> Result<SyntheticSummary> {
        self.writable()?;
        self.backend.insert_synthetic(spec).await
    }

    /// The serial number of the board with `mac` on the running attempt `id`: the one it
    /// already has, or the next one from `source` (see [`crate::serial`] for the rule).
    pub async fn allocate_serial(&self, id: AttemptId, mac: &str, source: SerialSource) -> Result<SerialAllocation> {
        self.writable()?;
        let mac = normalize_mac(mac).map_err(AuditError::Invalid)?;
        self.backend.allocate_serial(id, &mac, source).await
    }

    /// Records that `mac` has `number`, as the central record knows it; returns the MAC's
    /// own number when this store already has one for it.
    pub async fn adopt_serial(&self, mac: &str, number: u64) -> Result<SerialAllocation> {
        self.writable()?;
        let mac = normalize_mac(mac).map_err(AuditError::Invalid)?;
        self.backend.adopt_serial(&mac, number).await
    }

    /// Adds a block of serial numbers leased from the central record.
    pub async fn add_serial_lease(&self, first: u64, last: u64) -> Result<()> {
        self.writable()?;
        self.backend.add_serial_lease(first, last).await
    }

    /// Serial numbers left in the leased blocks.
    pub async fn serial_lease_left(&self) -> Result<u64> {
        self.backend.serial_lease_left().await
    }

    /// Records the board's serial number (as printed) and what provisioning writes to it
    /// on the running attempt `id`; both are hashed into the row when it completes.
    pub async fn record_provision(
        &self,
        id: AttemptId,
        serial: Option<&str>,
        provision: Option<&ProvisionRecord>,
    ) -> Result<()> {
        self.writable()?;
        if let Some(s) = serial {
            if s.trim().is_empty() || s.len() > 128 || s.chars().any(char::is_control) {
                return Err(AuditError::Invalid(format!("serial number {s:?} must be 1 to 128 printable characters")));
            }
        }
        let json = provision.map(ProvisionRecord::to_json);
        self.backend.record_provision(id, serial, json.as_deref()).await
    }

    fn writable(&self) -> Result<()> {
        if self.backend.is_read_only() {
            return Err(AuditError::ReadOnly { location: self.location().to_owned() });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::BoxFuture;
    use crate::model::AttemptResult;

    /// A backend that must never be reached: every data method panics. Proves that the
    /// handle decides on its own what it refuses.
    #[derive(Debug)]
    struct Unreachable {
        read_only: bool,
    }

    impl AuditBackend for Unreachable {
        fn location(&self) -> &str {
            "test-db"
        }
        fn is_read_only(&self) -> bool {
            self.read_only
        }
        fn begin_attempt<'a>(&'a self, _: &'a NewAttempt) -> BoxFuture<'a, Result<AttemptId>> {
            unreachable!("begin_attempt reached the backend")
        }
        fn update_identity<'a>(&'a self, _: AttemptId, _: &'a Identity) -> BoxFuture<'a, Result<Option<AttemptId>>> {
            unreachable!("update_identity reached the backend")
        }
        fn set_stage<'a>(&'a self, _: AttemptId, _: &'a str) -> BoxFuture<'a, Result<()>> {
            unreachable!("set_stage reached the backend")
        }
        fn set_image<'a>(&'a self, _: AttemptId, _: &'a str, _: &'a str) -> BoxFuture<'a, Result<()>> {
            unreachable!("set_image reached the backend")
        }
        fn complete_attempt<'a>(&'a self, _: AttemptId, _: &'a Completion) -> BoxFuture<'a, Result<()>> {
            unreachable!("complete_attempt reached the backend")
        }
        fn close_interrupted(&self, _: Timestamp) -> BoxFuture<'_, Result<ClosedRunning>> {
            unreachable!("close_interrupted reached the backend")
        }
        fn get(&self, _: AttemptId) -> BoxFuture<'_, Result<AttemptRow>> {
            unreachable!("get reached the backend")
        }
        fn query<'a>(&'a self, _: &'a AttemptFilter) -> BoxFuture<'a, Result<Vec<AttemptRow>>> {
            unreachable!("query reached the backend")
        }
        fn stats(&self, _: Timestamp, _: Timestamp) -> BoxFuture<'_, Result<Stats>> {
            unreachable!("stats reached the backend")
        }
        fn chain_head(&self) -> BoxFuture<'_, Result<ChainHead>> {
            unreachable!("chain_head reached the backend")
        }
        fn verify_chain<'a>(&'a self, _: &'a [Anchor]) -> BoxFuture<'a, Result<ChainReport>> {
            unreachable!("verify_chain reached the backend")
        }
        fn chained_rows(&self, _: i64, _: u32) -> BoxFuture<'_, Result<Vec<ChainRow>>> {
            unreachable!("chained_rows reached the backend")
        }
        fn integrity_check(&self) -> BoxFuture<'_, Result<IntegrityReport>> {
            unreachable!("integrity_check reached the backend")
        }
        fn set_max_db_bytes(&self, _: Option<u64>) -> BoxFuture<'_, Result<()>> {
            unreachable!("set_max_db_bytes reached the backend")
        }
        fn insert_synthetic<'a>(&'a self, _: &'a SyntheticSpec) -> BoxFuture<'a, Result<SyntheticSummary>> {
            unreachable!("insert_synthetic reached the backend")
        }
        fn close(&self) -> BoxFuture<'_, ()> {
            Box::pin(async {})
        }
    }

    fn store(read_only: bool) -> AuditStore {
        AuditStore::from_backend(Arc::new(Unreachable { read_only }))
    }

    fn new_attempt() -> NewAttempt {
        NewAttempt {
            station_id: "line-1".into(),
            slot: "A1".into(),
            port: "1-2.1".into(),
            usb: None,
            image_name: "golden.bin".into(),
            image_sha256: "ab".repeat(32),
            started_at: None,
        }
    }

    fn identity(mac: &str) -> Identity {
        Identity { mac: mac.into(), chip: "ESP32".into(), chip_revision: None, flash_id: None, flash_size: None }
    }

    #[tokio::test]
    async fn a_read_only_store_refuses_every_write_without_asking_the_backend() {
        let s = store(true);
        let id = AttemptId(1);
        let results: [(&str, Result<()>); 7] = [
            ("begin_attempt", s.begin_attempt(new_attempt()).await.map(drop)),
            ("update_identity", s.update_identity(id, &identity("AA:BB:CC:DD:EE:FF")).await.map(drop)),
            ("set_stage", s.set_stage(id, "write").await),
            ("complete_attempt", s.complete_attempt(id, Completion::pass(1, "md5")).await),
            ("close_interrupted", s.close_interrupted().await.map(drop)),
            ("set_max_db_bytes", s.set_max_db_bytes(None).await),
            ("insert_synthetic", s.insert_synthetic(&SyntheticSpec::new(1, 1)).await.map(drop)),
        ];
        for (what, r) in results {
            match r {
                Err(AuditError::ReadOnly { location }) => assert_eq!(location, "test-db", "{what}"),
                other => panic!("{what}: {other:?}"),
            }
        }
    }

    #[tokio::test]
    async fn invalid_input_never_reaches_the_backend() {
        let s = store(false);
        let id = AttemptId(1);
        let mut bad_sha = new_attempt();
        bad_sha.image_sha256 = "xyz".into();
        let mut empty_port = new_attempt();
        empty_port.port = "  ".into();
        let mut running = Completion::pass(1, "md5");
        running.result = AttemptResult::Running;
        let results: [(&str, Result<()>); 8] = [
            ("sha", s.begin_attempt(bad_sha).await.map(drop)),
            ("port", s.begin_attempt(empty_port).await.map(drop)),
            ("mac", s.update_identity(id, &identity("not a mac")).await.map(drop)),
            ("chip", s.update_identity(id, &Identity { chip: " ".into(), ..identity("AABBCCDDEEFF") }).await.map(drop)),
            ("empty stage", s.set_stage(id, " ").await),
            ("long stage", s.set_stage(id, &"x".repeat(MAX_STAGE_LEN + 1)).await),
            ("running completion", s.complete_attempt(id, running).await),
            ("filter mac", s.query(&AttemptFilter::all().mac("nope")).await.map(drop)),
        ];
        for (what, r) in results {
            assert!(matches!(r, Err(AuditError::Invalid(_))), "{what}: {r:?}");
        }
    }
}
