//! vpbx actors: the supervision tree and the pure call-logic cores.
//!
//! ```text
//! Switch (root; restarts its children, see switch.rs)
//!  ├─ CallSupervisor ── CallActor ×N   one per call, spread over one arbiter per core; never restarted
//!  ├─ DistActor                        agent lines and queues (the pure `core::dist::Board`);
//!  │                                    restarted from the snapshot, the store and the live calls
//!  └─ ConfigHub                        validates, stores and publishes configuration snapshots
//! Mailer (a tokio task beside the tree)   voicemail e-mail: bounded retry queue, SMTP relay
//! ```
//!
//! `core/` holds the pure logic (routing, the scenario interpreter): no actix, no tokio, no
//! clock. The actors are thin shells: each handler feeds its input to a core, drains the core's
//! commands and executes them. Every child reports its exit to its parent from `stopped()`; the
//! parent owns the policy.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod call;
pub mod call_supervisor;
pub mod cdr;
pub mod clock;
pub mod config_hub;
pub mod core;
pub mod dist;
pub mod leg;
pub mod mailer;
pub mod pii;
pub mod speech;
pub mod stats;
pub mod supervision;
pub mod switch;
pub mod webhook;
