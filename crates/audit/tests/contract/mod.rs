//! The audit backend contract, written once and run against every backend.
//!
//! A backend's test file implements [`Fixture`] (a new empty database, handles on it, and
//! a way to edit it behind the store's back) and expands [`contract_tests!`] with it:
//!
//! ```ignore
//! mod common;
//! #[macro_use]
//! mod contract;
//! struct MyFixture { /* ... */ }
//! impl contract::Fixture for MyFixture { /* ... */ }
//! contract_tests!(MyFixture);
//! ```
//!
//! Every test below then runs on that backend, through [`AuditStore`] only.

pub mod chain;
pub mod concurrency;
pub mod lifecycle;
pub mod query_stats;
pub mod read_only;
pub mod synthetic;

use flashline_audit::AuditStore;

/// One database of the backend under test.
#[allow(async_fn_in_trait)]
pub trait Fixture: Sized {
    /// A new, empty database (not opened yet).
    async fn new() -> Self;

    /// A writing handle on the database, as a daemon (re)starting gets it; the first call
    /// creates the schema.
    async fn open(&self) -> AuditStore;

    /// A read-only handle, as a query tool beside the daemon gets it.
    async fn open_read_only(&self) -> AuditStore;

    /// Runs one SQL statement directly on the database, bypassing the store, as someone
    /// covering up a failure would. Statements are plain SQL on the `attempts` table
    /// (`UPDATE attempts SET ... WHERE id = 3`, `DELETE FROM attempts WHERE ...`).
    async fn tamper(&self, sql: &str);
}

/// Expands to one `#[tokio::test]` per contract test, run with the fixture type given.
macro_rules! contract_tests {
    ($fixture:ty) => {
        contract_tests!(@each $fixture;
            lifecycle::begin_identify_complete_round_trip,
            lifecycle::a_row_is_completed_exactly_once,
            lifecycle::invalid_input_is_refused_without_writing,
            lifecycle::dead_daemon_leaves_running_rows_that_the_next_start_closes_as_interrupted,
            lifecycle::rework_is_flagged_when_a_mac_comes_back,
            lifecycle::completion_order_defines_the_chain_not_start_order,
            lifecycle::reopening_an_existing_database_keeps_everything,
            lifecycle::the_stage_of_a_running_row_ends_up_in_its_interrupted_record,
            lifecycle::set_stage_only_touches_running_rows,
            lifecycle::set_image_names_the_image_chosen_at_identify,
            lifecycle::the_region_summary_round_trips_and_leaves_the_chain_intact,
            query_stats::every_filter_selects_exactly_its_rows_newest_first,
            query_stats::stats_count_per_slot_and_per_hour,
            chain::an_untouched_chain_verifies,
            chain::the_head_is_the_last_completed_row,
            chain::an_edited_field_is_named_by_seq_and_id,
            chain::a_deleted_row_is_named_with_its_neighbours,
            chain::deleting_the_newest_rows_is_caught_by_the_head,
            chain::a_valid_chain_stays_valid_after_more_completions_and_recovery,
            chain::any_single_tamper_is_reported_precisely,
            read_only::a_read_only_store_refuses_every_write_and_reads_everything,
            read_only::reads_run_beside_a_live_writer,
            concurrency::sixty_four_parallel_jobs_each_get_exactly_one_completed_row,
            concurrency::verifying_while_jobs_complete_sees_a_consistent_chain,
            synthetic::synthetic_rows_are_valid_chained_and_deterministic,
            synthetic::stats_over_synthetic_days_add_up,
        );
    };
    (@each $fixture:ty; $($group:ident :: $name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                contract::$group::$name::<$fixture>().await;
            }
        )*
    };
}
