//! vpbx media: RTP sessions, G.711, SDP offer/answer, prompts, DTMF, bridging,
//! mixing, recording and text-to-speech.
//!
//! # Model
//!
//! The crate is split into pure code and a small I/O shell:
//!
//! * **Pure code** (no tokio, no clock; time and samples are inputs):
//!   [`g711`] companding and [`Codec`]; [`sdp`] parsing/negotiation/answer
//!   building; [`packetizer::RtpSender`] (RTP header state); [`prompt`]
//!   loading/resampling (blocking file I/O); [`dtmf`] (RFC 4733 receive
//!   deduplication, send plans, SIP INFO bodies); [`dtmf_detect`] (in-band
//!   Goertzel detector) and [`goertzel`]; [`tones`] (ringback, busy, beep,
//!   DTMF tones); [`playlist`]; [`latch`] (symmetric RTP); [`rtp_stats`]
//!   (loss, late, RFC 3550 jitter); [`jitter`] (mixer playout buffer);
//!   [`mixer`] ([`MixMatrix`], [`mix`]); the stop rule of [`voicemail`]. None of
//!   it panics on peer input: malformed SDP is an [`SdpError`], garbage RTP and
//!   telephone-events are dropped.
//! * **I/O shell**: [`session`] — a [`MediaEngine`] owns the configuration, a
//!   pool of even RTP ports (RTCP = port + 1 is reserved, not bound) and the
//!   shared [`PromptCache`]; each call leg is one UDP socket driven by one tokio
//!   task. [`bridge`] and [`conference`] link legs together with bounded
//!   channels of PCM frames (a mixer is one more tokio task); [`recorder`]
//!   writes WAV files on a blocking writer fed by a channel; [`tts`] runs
//!   `espeak-ng` as a subprocess.
//!
//! # Leg lifecycle and run-loop contract
//!
//! 1. [`MediaEngine::open_leg`] allocates a port and binds the socket; its
//!    [`MediaLeg::local_addr`] goes into the SDP answer built by [`answer`].
//!    Dropping an unstarted [`MediaLeg`] releases the port.
//! 2. [`MediaLeg::start`] (inside a tokio runtime) spawns the leg task with the
//!    remote address, codec and telephone-event payload type from
//!    [`negotiate`], and returns a [`MediaHandle`].
//! 3. The task loop waits on, in priority order: handle commands, a 20 ms
//!    tick (only while playing, sending DTMF or recording), the echo deadline,
//!    the inactivity timer, frames from a linked leg/mixer, and incoming
//!    datagrams. It never blocks (disk I/O happens on writer threads) and
//!    never panics on peer input.
//!    * **Send:** the output is one of idle, a prompt sequence
//!      ([`MediaHandle::play`], [`MediaHandle::play_sequence`], one 160-sample
//!      frame per tick, optionally looped) or echo. While idle, frames from a
//!      bridge or mixer link are sent as they arrive. A digit from
//!      [`MediaHandle::send_dtmf`] pauses audio output: RFC 4733 packets on
//!      the telephone-event payload type, or the dual tone in-band when none
//!      was negotiated. RTP is version 2 with a random SSRC, sequence and
//!      timestamp; after a pause in sending the timestamp jumps by the pause
//!      and the marker bit is set, as it is on the very first packet.
//!    * **Where to:** symmetric RTP ([`latch`]): RTP goes to the SDP address
//!      until the first valid packet arrives, then to that packet's source;
//!      moving to another source needs three consecutive packets from it
//!      (packets from other sources are counted but otherwise ignored).
//!      [`MediaHandle::set_remote`] resets the latch.
//!    * **Receive:** every datagram that parses as RTP is counted; anything
//!      else is dropped and counted in `vpbx_rtp_packets_invalid_total`.
//!      Accepted packets update loss/late/jitter ([`SessionStats`]).
//!      Telephone-events become one [`MediaEvent::Dtmf`] per press (in-band
//!      detection replaces this when telephone-event was not negotiated);
//!      with a barge-in playback the digit also stops it
//!      ([`MediaEvent::PlayInterrupted`]). Audio is decoded and goes to the
//!      echo, the link (bridge/mixer), the recorder and the voicemail recorder.
//!    * When nothing valid arrives for the configured inactivity timeout
//!      ([`MediaConfig::DEFAULT_INACTIVITY_TIMEOUT`] = 60 s recommended),
//!      [`MediaEvent::Timeout`] is sent once (re-armed when RTP resumes); the
//!      leg keeps running until closed.
//!    * A new `play`/`echo` replaces the current output; `stop_output`, a
//!      replacement or `close` cancel output without a Done event.
//! 4. The task ends on [`MediaHandle::close`] or when every handle clone is
//!    dropped: links end, running recordings are finalized (their Done events
//!    are sent once the files are complete), the socket is closed, the port
//!    returns to the pool and [`MediaEvent::Closed`] is sent as the last event.
//!    Event send errors are ignored.
//!
//! # Bridges and mixers
//!
//! [`MediaEngine::bridge`] links two legs: each forwards its received audio as
//! PCM frames and sends the other's frames in its own codec (PCMU ↔ PCMA
//! transcoding is implicit). [`MediaEngine::mixer`] starts a mixing task
//! ([`MixKind::Conference`] or [`MixKind::Coach`]); [`MixerHandle::join`] links
//! a leg with a [`MixRole`]. Every 20 ms the mixer takes one frame per
//! participant from its jitter buffer and sends each participant the sum of
//! what it hears. A leg has at most one link; a new bridge or join replaces it.
//!
//! Metrics (via the `metrics` facade; the binary installs the recorder):
//! `vpbx_rtp_packets_sent_total`, `vpbx_rtp_packets_received_total`,
//! `vpbx_rtp_packets_invalid_total`, `vpbx_rtp_packets_lost_total`,
//! `vpbx_rtp_packets_late_total`, `vpbx_rtp_packets_dropped_total{reason}` (packets the
//! switch received or made but did not send: `send_failed` when the socket refused one,
//! `link_full` when a bridged or mixed peer was a second behind),
//! `vpbx_mixer_frames_late_total`, the histogram
//! `vpbx_rtp_jitter_ms` (one sample per leg, at close) and the gauge
//! `vpbx_media_sessions_active`.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod bridge;
pub mod conference;
pub mod detached;
pub mod dtmf;
pub mod dtmf_detect;
pub mod error;
pub mod g711;
pub mod goertzel;
pub mod jitter;
pub mod latch;
pub mod link;
pub mod mixer;
pub mod packetizer;
pub mod playlist;
pub mod prompt;
pub mod recorder;
pub mod rtp_stats;
mod rx;
pub mod sdp;
pub mod session;
pub mod tones;
mod transmit;
pub mod tts;
pub mod voicemail;

pub use bridge::BridgeHandle;
pub use conference::{MixerHandle, MixerStats};
pub use dtmf::{parse_sip_info_dtmf, DtmfDigit};
pub use error::MediaError;
pub use g711::Codec;
pub use mixer::{mix, MixKind, MixMatrix, MixRole};
pub use playlist::PlayOptions;
pub use prompt::{Prompt, PromptCache};
pub use recorder::RecordSpec;
pub use sdp::{
    answer, negotiate, offer, Direction, MediaDescription, Negotiated, SdpError, SessionDescription,
};
pub use session::{MediaConfig, MediaEngine, MediaEvent, MediaHandle, MediaLeg, SessionStats};
pub use tts::Tts;
pub use voicemail::{VoicemailReason, VoicemailSpec};
