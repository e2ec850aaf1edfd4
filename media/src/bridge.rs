//! A two-leg bridge: one [link](crate::link) between two legs, relaying their audio both ways.

use crate::error::MediaError;
use crate::link::link_pair;
use crate::session::{Command, MediaEngine, MediaHandle};

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
        a.command(Command::Connect(Box::new(la)));
        b.command(Command::Connect(Box::new(lb)));
        Ok(BridgeHandle {
            id,
            a: a.clone(),
            b: b.clone(),
        })
    }
}
