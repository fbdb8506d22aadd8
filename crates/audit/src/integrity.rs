//! The result of a database's own consistency check, whatever the backend.

/// Result of [`crate::AuditStore::integrity_check`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct IntegrityReport {
    pub ok: bool,
    /// The database's messages; `["ok"]` when healthy.
    pub messages: Vec<String>,
}
