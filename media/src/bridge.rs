//! Audio links between legs: a two-leg bridge, and the plumbing mixers use.
//!
//! A link is a pair of bounded tokio channels of 20 ms PCM frames (not actor
//! messages). A linked leg forwards every received audio frame (decoded to
//! 16-bit PCM, in 160-sample frames; telephone-events are never forwarded) to
//! `to_peer`, and sends every frame arriving on `from_peer` in its own codec
//! with its own SSRC/sequence/timestamp (so PCMU ↔ PCMA transcoding is
//! implicit). While the leg plays a prompt, echoes or sends DTMF, frames from
//! the link are dropped; the link resumes afterwards.
//!
//! A link ends when either side drops its end: [`BridgeHandle::unbridge`], a
//! leg closing, a new bridge/mixer join on one of the legs, or a mixer
//! removing the participant. The surviving leg then simply stops relaying.

use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::mpsc;

use crate::error::MediaError;
use crate::session::{Command, MediaEngine, MediaHandle};

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
}

static NEXT_LINK: AtomicU64 = AtomicU64::new(1);

/// A process-unique link id.
pub(crate) fn next_link_id() -> u64 {
    NEXT_LINK.fetch_add(1, Ordering::Relaxed)
}

/// Two crossed link ends with the same id.
pub(crate) fn link_pair() -> (AudioLink, AudioLink) {
    let id = next_link_id();
    let (a_tx, b_rx) = mpsc::channel(LINK_CAPACITY);
    let (b_tx, a_rx) = mpsc::channel(LINK_CAPACITY);
    (
        AudioLink {
            id,
            to_peer: a_tx,
            from_peer: a_rx,
        },
        AudioLink {
            id,
            to_peer: b_tx,
            from_peer: b_rx,
        },
    )
}

/// Control of one bridge. Dropping it does **not** unbridge; the bridge lasts
/// until [`unbridge`](BridgeHandle::unbridge) or until either leg closes or is
/// linked elsewhere.
#[derive(Debug, Clone)]
pub struct BridgeHandle {
    id: u64,
    a: MediaHandle,
    b: MediaHandle,
}

impl BridgeHandle {
    /// The bridge's id (process-unique).
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Stop relaying between the two legs (no-op if already unbridged or
    /// replaced by a newer link). Both legs stay open and idle.
    pub fn unbridge(&self) {
        self.a.command(Command::Disconnect { link_id: self.id });
        self.b.command(Command::Disconnect { link_id: self.id });
    }
}

impl MediaEngine {
    /// Relay audio between two started legs, transcoding when their codecs
    /// differ. Replaces any bridge or mixer membership either leg had.
    ///
    /// Errors with [`MediaError::Bridge`] when `a` and `b` are the same leg or
    /// either leg has already ended.
    pub fn bridge(&self, a: &MediaHandle, b: &MediaHandle) -> Result<BridgeHandle, MediaError> {
        if a.leg_id() == b.leg_id() {
            return Err(MediaError::Bridge("cannot bridge a leg to itself".into()));
        }
        if a.is_closed() || b.is_closed() {
            return Err(MediaError::Bridge("leg already closed".into()));
        }
        let (la, lb) = link_pair();
        let id = la.id;
        a.command(Command::Connect(la));
        b.command(Command::Connect(lb));
        Ok(BridgeHandle {
            id,
            a: a.clone(),
            b: b.clone(),
        })
    }
}
