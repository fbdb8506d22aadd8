//! The running station: the dispatcher owns every slot, jobs flash boards, reporters
//! show what the dispatcher publishes.
//!
//! Data flow: device source → [`dispatcher::Dispatcher`] → [`job::run`] per board (the
//! [`crate::pipeline`] with the station's plan, opener and store) → [`job::JobUpdate`]s
//! back to the dispatcher → [`view::StationView`] (a `watch`: live view) and
//! [`events::StationEvent`]s (a bounded broadcast: logs, the demo, tests, any new
//! output). The audit row is written by the pipeline itself, before it touches the board
//! and before the job reports its end. [`StationContext::build`] is the one place a
//! station is put together from its config.

pub mod anchor;
pub mod context;
pub mod dispatcher;
pub mod events;
pub mod forward;
pub mod forward_mark;
pub mod golden;
pub mod golden_set;
pub mod job;
pub mod notify;
pub mod reenum;
pub mod serve;
pub mod view;

pub use context::{load_images, load_stubs, open_audit, open_store, open_store_limited, StationContext};
pub use dispatcher::{Control, Dispatcher};
pub use events::{AuditRef, EventReceiver, StationEvent};
pub use golden::Golden;
pub use golden_set::{GoldenSet, NoImageForChip};
pub use job::Outcome;
pub use view::{ImageInfo, SlotPhase, SlotView, StationView};
