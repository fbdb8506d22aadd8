//! The backend contract (`contract/`) on the SQLite backend: a fresh database file in a
//! temporary directory per fixture, tampered with through a plain SQLite connection.

mod common;
#[macro_use]
mod contract;

use common::{options, raw, test_db, TestDb};
use flashline_audit::AuditStore;
use sqlx::Executor;

struct SqliteFixture {
    db: TestDb,
}

impl contract::Fixture for SqliteFixture {
    async fn new() -> Self {
        SqliteFixture { db: test_db() }
    }

    async fn open(&self) -> AuditStore {
        AuditStore::open_sqlite(&self.db.path, options()).await.expect("open the SQLite store")
    }

    async fn open_read_only(&self) -> AuditStore {
        AuditStore::open_sqlite_read_only(&self.db.path).await.expect("open the SQLite store read-only")
    }

    async fn tamper(&self, sql: &str) {
        let mut conn = raw(&self.db.path).await;
        conn.execute(sqlx::AssertSqlSafe(sql.to_owned())).await.expect("tamper statement");
    }
}

contract_tests!(SqliteFixture);
