//! One agent line as a state machine (in progress).

/// State of an agent line (SPEC §4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineState {
    /// Not registered.
    Offline,
}

/// Why a line takes no call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Busy.
    Busy,
}

/// One agent line.
#[derive(Debug, Clone)]
pub struct Line;
