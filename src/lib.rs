//! vpbx: a virtual PBX and contact-center switch.
//!
//! This crate is the wiring: settings, the SIP edge (`sip`), the HTTP edge (`http`), the read
//! model of the SIP edge's live state that the HTTP edge reads (`presence`), and the [`app`] that
//! starts the actor tree from `vpbx-actors` over the store from `vpbx-store` and the media engine
//! from `vpbx-media`, and shuts it all down cleanly.
#![forbid(unsafe_code)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod admin_client;
pub mod alloc;
pub mod app;
pub mod cidr;
pub mod clock;
pub mod demo;
pub mod http;
pub mod presence;
pub mod settings;
pub mod sip;
