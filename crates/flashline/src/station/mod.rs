//! The running station: the dispatcher owns every slot, jobs flash boards, reporters
//! show what the dispatcher publishes.
//!
//! Data flow: device source → [`dispatcher::Dispatcher`] → [`job::run`] per board →
//! [`job::JobUpdate`]s back to the dispatcher → [`view::StationView`] (live view) and
//! [`events::StationEvent`]s (logs, tests, summaries). The audit row is written by the job
//! itself, before it touches the board and before it reports its end.

pub mod context;
pub mod dispatcher;
pub mod events;
pub mod golden;
pub mod job;
pub mod record;
pub mod serve;
pub mod view;

pub use context::StationContext;
pub use dispatcher::{Control, Dispatcher};
pub use events::StationEvent;
pub use golden::Golden;
pub use job::Outcome;
pub use view::StationView;
