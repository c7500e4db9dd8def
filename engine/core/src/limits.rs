//! Tunable limits of the state machine.

use jiff::SignedDuration;

/// How long a run in a recoverable Error may be resumed, unless configured:
/// 14 days, as in the system Stagecraft models.
pub const DEFAULT_RECOVERY_WINDOW: SignedDuration = SignedDuration::from_hours(14 * 24);

/// Limits a [`crate::Plan`] runs under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// How long after a recoverable error a run may still be resumed (default 14 days).
    pub recovery_window: SignedDuration,
    /// How many stages one event may enter before the run is failed as looping without ever
    /// waiting for work (guards Go To loops whose stages complete instantly).
    pub max_stage_entries_per_event: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            recovery_window: DEFAULT_RECOVERY_WINDOW,
            max_stage_entries_per_event: 1_000,
        }
    }
}
