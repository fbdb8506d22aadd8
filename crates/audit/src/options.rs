//! How a store is opened: the knobs every backend applies in its own way (SQLite:
//! pragmas; a server database: its timeouts and pool).

use std::time::Duration;

/// How hard SQLite works to make a commit survive a power cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// `synchronous = FULL`: the WAL is fsynced at every commit, so a row that was
    /// reported as written survives a power cut. This is the default because the audit
    /// log promises that no completed attempt is ever lost; the fsync costs a few
    /// milliseconds per commit against tens of seconds of flashing per board.
    #[default]
    Full,
    /// `synchronous = NORMAL`: still never corrupts the database in WAL mode, but the
    /// last commits before a power cut can be lost. For bulk test data only.
    Normal,
}

/// Options for [`crate::AuditStore::open_sqlite`] (and the backends to come).
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// How long a write waits for a lock held by another connection before it fails with
    /// [`crate::AuditError::Locked`]. Applied as SQLite's `busy_timeout` and as the
    /// deadline of the store's own retry of busy transactions.
    pub busy_timeout: Duration,
    /// Upper bound of the database file size (`PRAGMA max_page_count`). Reaching it fails
    /// writes with [`crate::AuditError::DiskFull`] exactly like a full disk, which keeps a
    /// runaway log from filling the disk the OS needs, and lets the full-disk path be tested
    /// without root. `None` means no limit besides the disk.
    pub max_db_bytes: Option<u64>,
    pub durability: Durability,
    /// Connections for queries; they run beside the single writer thanks to WAL.
    pub read_connections: u32,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            busy_timeout: Duration::from_secs(5),
            max_db_bytes: None,
            durability: Durability::Full,
            read_connections: 4,
        }
    }
}

impl StoreOptions {
    /// Sets the busy timeout (builder style).
    pub fn busy_timeout(mut self, t: Duration) -> Self {
        self.busy_timeout = t;
        self
    }

    /// Sets the size limit (builder style).
    pub fn max_db_bytes(mut self, limit: Option<u64>) -> Self {
        self.max_db_bytes = limit;
        self
    }

    /// Sets the durability (builder style).
    pub fn durability(mut self, d: Durability) -> Self {
        self.durability = d;
        self
    }
}
