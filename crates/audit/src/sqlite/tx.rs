//! Write transactions on the single writer connection, with the retry of busy ones.
//!
//! All writes go through one connection (a pool of size one) and each runs in a
//! `BEGIN IMMEDIATE` transaction: the write lock is taken up front, so a transaction never
//! has to upgrade a read lock half-way (which SQLite answers with an immediate SQLITE_BUSY
//! that no busy timeout can wait out), and the chain head is read and advanced atomically.
//! Reads use a separate pool and run beside the writer thanks to WAL.

use sqlx::pool::PoolConnection;
use sqlx::sqlite::SqlitePool;
use sqlx::{Sqlite, SqliteConnection};

use crate::error::{AuditError, Result};

/// Error inside a write transaction: either from SQLite (classified, maybe retried) or a
/// decision of the store (returned as is).
pub(crate) enum TxError {
    Sql(sqlx::Error),
    Audit(AuditError),
}

impl From<sqlx::Error> for TxError {
    fn from(e: sqlx::Error) -> Self {
        TxError::Sql(e)
    }
}

impl From<AuditError> for TxError {
    fn from(e: AuditError) -> Self {
        TxError::Audit(e)
    }
}

/// A `BEGIN IMMEDIATE` transaction on the writer connection, managed by hand rather than
/// with `sqlx::Transaction`: when SQLite rolls a transaction back by itself (it does on
/// SQLITE_FULL and some I/O errors), sqlx's own bookkeeping still believes it is open and
/// refuses every later `BEGIN` on that connection. Here a failed `ROLLBACK` ("no
/// transaction is active") is harmless, and a transaction abandoned half-way (the caller's
/// future was dropped) closes its connection, which makes SQLite roll it back, instead of
/// handing an open transaction to the next writer.
pub(crate) struct WriteTx {
    conn: Option<PoolConnection<Sqlite>>,
}

impl WriteTx {
    pub(crate) async fn begin(pool: &SqlitePool) -> Result<WriteTx, sqlx::Error> {
        let mut conn = pool.acquire().await?;
        sqlx::query("BEGIN IMMEDIATE").execute(&mut *conn).await?;
        Ok(WriteTx { conn: Some(conn) })
    }

    pub(crate) async fn commit(mut self) -> Result<(), sqlx::Error> {
        let conn = self.conn.as_mut().expect("open transaction");
        match sqlx::query("COMMIT").execute(&mut **conn).await {
            Ok(_) => {
                self.conn = None;
                Ok(())
            }
            Err(e) => {
                self.rollback().await;
                Err(e)
            }
        }
    }

    pub(crate) async fn rollback(mut self) {
        if let Some(mut conn) = self.conn.take() {
            if let Err(e) = sqlx::query("ROLLBACK").execute(&mut *conn).await {
                // Already rolled back by SQLite: nothing to do. Anything else: do not reuse.
                if !e.to_string().contains("no transaction is active") {
                    tracing::warn!(error = %e, "rollback failed; closing the writer connection");
                    drop(conn.detach());
                }
            }
        }
    }
}

impl std::ops::Deref for WriteTx {
    type Target = SqliteConnection;
    fn deref(&self) -> &SqliteConnection {
        self.conn.as_ref().expect("open transaction")
    }
}

impl std::ops::DerefMut for WriteTx {
    fn deref_mut(&mut self) -> &mut SqliteConnection {
        self.conn.as_mut().expect("open transaction")
    }
}

impl Drop for WriteTx {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            // Abandoned mid-transaction: closing the connection rolls it back.
            drop(conn.detach());
        }
    }
}

/// Runs `$body` in a [`WriteTx`] named `$tx` and commits. SQLITE_BUSY is retried until
/// `busy_timeout` has passed: SQLite's busy handler covers waiting for a lock, this loop
/// covers the BUSY variants it does not wait for (a stale WAL snapshot, recovery by
/// another process).
macro_rules! write_tx {
    ($store:expr, |$tx:ident| $body:block) => {{
        let store: &$crate::sqlite::SqliteBackend = $store;
        let started = ::std::time::Instant::now();
        let deadline = started + store.opts.busy_timeout;
        let mut backoff = ::std::time::Duration::from_millis(2);
        if store.read_only {
            Err(store.read_only_err())
        } else {
            loop {
                let attempt: ::std::result::Result<_, $crate::sqlite::tx::TxError> = async {
                    #[allow(unused_mut)]
                    let mut $tx = $crate::sqlite::tx::WriteTx::begin(&store.writer).await?;
                    let out: ::std::result::Result<_, $crate::sqlite::tx::TxError> = async { Ok($body) }.await;
                    match out {
                        Ok(v) => {
                            $tx.commit().await?;
                            Ok(v)
                        }
                        Err(e) => {
                            $tx.rollback().await;
                            Err(e)
                        }
                    }
                }
                .await;
                match attempt {
                    Ok(v) => break Ok(v),
                    Err($crate::sqlite::tx::TxError::Audit(e)) => break Err(e),
                    Err($crate::sqlite::tx::TxError::Sql(e)) => {
                        if $crate::sqlite::error::is_busy(&e) && ::std::time::Instant::now() < deadline {
                            ::tokio::time::sleep(backoff).await;
                            backoff = (backoff * 2).min(::std::time::Duration::from_millis(100));
                            continue;
                        }
                        break Err(store.sql_err_since(started, e));
                    }
                }
            }
        }
    }};
}
pub(crate) use write_tx;
