//! Why a board run was told to stop: the cause decides how its audit row is closed
//! (`interrupted` at shutdown, `fail` with "board removed" on an unplug, "stopped by the
//! operator" on Ctrl-C).

use std::sync::{Arc, Mutex};

use tokio_util::sync::CancellationToken;

/// Why a run was told to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopCause {
    /// The board was unplugged.
    Removed,
    /// The daemon is shutting down.
    Shutdown,
    /// The operator stopped a one-off command (Ctrl-C).
    Operator,
}

/// A cancellation token that remembers why it fired (the first cause wins).
#[derive(Debug, Clone, Default)]
pub struct Stop {
    token: CancellationToken,
    cause: Arc<Mutex<Option<StopCause>>>,
}

impl Stop {
    pub fn cancel(&self, cause: StopCause) {
        self.cause.lock().expect("stop cause").get_or_insert(cause);
        self.token.cancel();
    }

    pub fn cause(&self) -> Option<StopCause> {
        *self.cause.lock().expect("stop cause")
    }

    pub fn token(&self) -> CancellationToken {
        self.token.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_cause_wins() {
        let a = Stop::default();
        a.cancel(StopCause::Removed);
        a.cancel(StopCause::Shutdown);
        assert_eq!(a.cause(), Some(StopCause::Removed));
        assert!(a.token().is_cancelled());
    }
}
