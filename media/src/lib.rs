//! vpbx media: RTP sessions, G.711, SDP offer/answer and prompts.
//!
//! # Model
//!
//! The crate is split into pure code and one small I/O shell:
//!
//! * **Pure code** (no tokio, no clock): [`g711`] companding and [`Codec`],
//!   [`sdp`] parsing/negotiation/answer building, [`packetizer::RtpSender`]
//!   (RTP header state: SSRC, sequence, timestamp, marker) and [`prompt`]
//!   loading/resampling (blocking file I/O, no clock). None of it panics on
//!   peer input: malformed SDP is an [`SdpError`], garbage RTP is dropped.
//! * **I/O shell** ([`session`]): a [`MediaEngine`] owns the configuration, a
//!   pool of even RTP ports (RTCP = port + 1 is reserved, not bound) and the
//!   shared [`PromptCache`]. Each call leg is one UDP socket driven by one
//!   tokio task.
//!
//! # Leg lifecycle and run-loop contract
//!
//! 1. [`MediaEngine::open_leg`] allocates a port and binds the socket; its
//!    [`MediaLeg::local_addr`] goes into the SDP answer built by [`answer`].
//!    Dropping an unstarted [`MediaLeg`] releases the port.
//! 2. [`MediaLeg::start`] (inside a tokio runtime) spawns the leg task with the
//!    remote address and codec from [`negotiate`], and returns a [`MediaHandle`].
//! 3. The task loop waits on, in priority order: handle commands, incoming
//!    datagrams, a 20 ms pacing tick (only while playing), the echo deadline and
//!    the inactivity timer. It never blocks and never panics on peer input.
//!    * **Send:** while a prompt plays, every 20 ms tick sends one 160-sample
//!      frame (the last one padded with silence), then [`MediaEvent::PlayDone`].
//!      In echo mode every received audio packet is re-sent with our own
//!      SSRC/sequence/timestamp until `max` elapses ([`MediaEvent::EchoDone`]).
//!      Otherwise nothing is sent. RTP is version 2 with a random SSRC, random
//!      initial sequence (+1 per packet) and timestamp (+160 per frame); after a
//!      pause in sending the timestamp jumps by the pause and the marker bit is
//!      set, as it is on the very first packet.
//!    * **Receive:** every datagram that parses as RTP is counted (and echoed
//!      in echo mode); anything else is dropped and counted in
//!      `vpbx_rtp_packets_invalid_total`. When nothing valid arrives for the
//!      configured inactivity timeout, [`MediaEvent::Timeout`] is sent once
//!      (re-armed when RTP resumes); the leg keeps running until closed.
//!    * A new `play`/`echo` replaces the current output; `stop_output`, a
//!      replacement or `close` cancel output without a Done event.
//! 4. The task ends on [`MediaHandle::close`] or when every handle clone is
//!    dropped: the socket is closed, the port returns to the pool and
//!    [`MediaEvent::Closed`] is sent as the last event. Event send errors are
//!    ignored.
//!
//! Metrics (via the `metrics` facade; the binary installs the recorder):
//! `vpbx_rtp_packets_sent_total`, `vpbx_rtp_packets_received_total`,
//! `vpbx_rtp_packets_invalid_total` and the gauge `vpbx_media_sessions_active`.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod error;
pub mod g711;
pub mod packetizer;
pub mod prompt;
pub mod sdp;
pub mod session;

pub use error::MediaError;
pub use g711::Codec;
pub use prompt::{Prompt, PromptCache};
pub use sdp::{
    answer, negotiate, Direction, MediaDescription, Negotiated, SdpError, SessionDescription,
};
pub use session::{MediaConfig, MediaEngine, MediaEvent, MediaHandle, MediaLeg, SessionStats};
