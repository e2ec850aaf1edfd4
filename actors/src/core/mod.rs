//! Pure call logic: no actix, no tokio, no clock. Time arrives as input.
//!
//! `.ci/run` greps this directory and fails the build if any of those creep in.

pub mod call;
pub mod dialplan;
pub mod digits;
pub mod dist;
pub mod forward;
pub mod leg;
pub mod mail;
pub mod numbering;
pub mod routing;
pub mod scenario;
pub mod speech;
pub mod timer;
pub mod webhook;
