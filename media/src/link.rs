//! Audio links: the plumbing between legs that bridges and mixers are built from.
//!
//! A link is a pair of bounded tokio channels of 20 ms PCM frames (not actor
//! messages). A linked leg forwards every received audio frame (decoded to
//! 16-bit PCM, in 160-sample frames; telephone-events are never forwarded) to
//! `to_peer`, and sends every frame arriving on `from_peer` in its own codec
//! with its own SSRC/sequence/timestamp (so PCMU ↔ PCMA transcoding is
//! implicit). While the leg plays a prompt, echoes or sends DTMF, frames from
//! the link are dropped; the link resumes afterwards.
//!
//! Between two legs (a bridge), a leg that only relays lends its outgoing
//! stream to the link (the `transmit` module): the other leg then encodes and
//! sends its frames straight out of the relaying leg's socket instead of
//! queueing them, and the channel carries only what comes while the stream is
//! not lent.
//!
//! A link ends when either side drops its end: `BridgeHandle::unbridge`, a
//! leg closing, a new bridge/mixer join on one of the legs, or a mixer
//! removing the participant. The surviving leg then simply stops relaying.

use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::mpsc;

use crate::transmit::TxSlot;

/// Frames a link buffers before dropping (1 s).
pub(crate) const LINK_CAPACITY: usize = 50;

/// One frame of 8 kHz PCM with the RTP timestamp of its first sample.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PcmFrame {
    pub ts: u32,
    pub samples: Vec<i16>,
}

/// A leg's end of a link.
#[derive(Debug)]
pub(crate) struct AudioLink {
    pub id: u64,
    pub to_peer: mpsc::Sender<PcmFrame>,
    pub from_peer: mpsc::Receiver<PcmFrame>,
    /// Where this leg lends its stream for the peer to send its frames on directly (a bridge
    /// of two legs; `None` toward a mixer, which takes frames only by the channel).
    pub own: Option<TxSlot>,
    /// Where the peer lends its stream: a frame goes straight out of the peer's socket while
    /// the slot holds it, by the channel otherwise.
    pub peer: Option<TxSlot>,
}

static NEXT_LINK: AtomicU64 = AtomicU64::new(1);

/// A process-unique link id.
pub(crate) fn next_link_id() -> u64 {
    NEXT_LINK.fetch_add(1, Ordering::Relaxed)
}

/// Counts a frame dropped because the link toward its receiver was full (the receiver is a
/// second behind): `vpbx_rtp_packets_dropped_total{reason="link_full"}`.
pub(crate) fn count_full() {
    metrics::counter!(
        "vpbx_rtp_packets_dropped_total",
        "reason" => crate::session::DROPPED_LINK_FULL
    )
    .increment(1);
}

/// Two crossed link ends with the same id.
pub(crate) fn link_pair() -> (AudioLink, AudioLink) {
    let id = next_link_id();
    let (a_tx, b_rx) = mpsc::channel(LINK_CAPACITY);
    let (b_tx, a_rx) = mpsc::channel(LINK_CAPACITY);
    let (a_slot, b_slot) = (crate::transmit::slot(), crate::transmit::slot());
    (
        AudioLink {
            id,
            to_peer: a_tx,
            from_peer: a_rx,
            own: Some(a_slot.clone()),
            peer: Some(b_slot.clone()),
        },
        AudioLink {
            id,
            to_peer: b_tx,
            from_peer: b_rx,
            own: Some(b_slot),
            peer: Some(a_slot),
        },
    )
}
