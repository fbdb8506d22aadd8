//! The begun-attempt mark: the highest attempt id a daemon's store has begun, kept in the
//! database header (`PRAGMA user_version`) and raised in the same transaction as every
//! `running` row it inserts.
//!
//! At start-up a `running` row above the mark was not inserted by any daemon's store: it
//! was slipped in while no daemon ran (see SECURITY.md, "Forged running rows"), and it is
//! closed as suspect instead of being quietly absorbed into the chain. Anyone who can
//! write the file can raise the mark as well; the mark stops the plain forgery and makes
//! the careful one a second, deliberate edit of the header. A mark of 0 is a database
//! written before the mark existed: its running rows cannot be told apart and are closed
//! as ordinary interrupted rows. Ids above `i32::MAX` (the header field is 32 bits) stop
//! raising the mark: later rows are again told apart from nothing.

use sqlx::SqliteConnection;

/// The mark (0: never raised).
pub(crate) async fn read(conn: &mut SqliteConnection) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("PRAGMA user_version").fetch_one(&mut *conn).await
}

/// Raises the mark to `id` (inside the transaction that inserted row `id`).
pub(crate) async fn raise(conn: &mut SqliteConnection, id: i64) -> Result<(), sqlx::Error> {
    if let Ok(id) = i32::try_from(id) {
        if id > 0 && i64::from(id) > read(conn).await? {
            // A PRAGMA takes no bound parameters; `id` is an integer.
            sqlx::query(sqlx::AssertSqlSafe(format!("PRAGMA user_version = {id}"))).execute(&mut *conn).await?;
        }
    }
    Ok(())
}

/// Whether running row `id` was not begun by any daemon's store, given the mark.
pub(crate) fn not_begun_by_a_daemon(mark: i64, id: i64) -> bool {
    mark > 0 && id > mark && mark < i64::from(i32::MAX)
}

#[cfg(test)]
mod tests {
    use super::not_begun_by_a_daemon;

    #[test]
    fn only_rows_above_a_set_mark_are_suspect() {
        let cases = [
            (0, 1, false, "a database from before the mark"),
            (5, 5, false, "the last begun row"),
            (5, 3, false, "an earlier begun row"),
            (5, 6, true, "inserted after the last begin"),
            (i64::from(i32::MAX), i64::from(i32::MAX) + 1, false, "the mark cannot count that far"),
        ];
        for (mark, id, want, what) in cases {
            assert_eq!(not_begun_by_a_daemon(mark, id), want, "{what}");
        }
    }
}
