//! Symmetric RTP latching (pure code).
//!
//! A leg sends to the address its peer's packets really come from (the peer may
//! be behind NAT, so the SDP address can be wrong):
//!
//! * until the first valid RTP packet arrives, RTP goes to the SDP address;
//! * the first valid packet latches its source address at once;
//! * afterwards, moving to another source takes [`RELATCH_PACKETS`]
//!   consecutive packets from that source (a packet from the latched address
//!   resets the count), so a single spoofed packet cannot hijack the stream;
//! * a new SDP address (re-INVITE) resets the latch.

use std::net::SocketAddr;

/// Consecutive packets from a new source needed to move an established latch.
pub const RELATCH_PACKETS: u32 = 3;

/// What the leg should do with a packet from some source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LatchVerdict {
    /// From the current peer (possibly just latched): process it.
    Accept,
    /// From another source that has not (yet) earned the latch: ignore its media.
    Ignore,
}

/// Latching state of one leg.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Latch {
    target: SocketAddr,
    latched: bool,
    candidate: Option<(SocketAddr, u32)>,
}

impl Latch {
    /// Start sending to the SDP address `sdp_remote`, not yet latched.
    pub fn new(sdp_remote: SocketAddr) -> Self {
        Latch {
            target: sdp_remote,
            latched: false,
            candidate: None,
        }
    }

    /// Where RTP should go now.
    pub fn target(&self) -> SocketAddr {
        self.target
    }

    /// True once a packet has been received since the last reset.
    pub fn is_latched(&self) -> bool {
        self.latched
    }

    /// A new SDP address (re-INVITE): send there and latch again on the next packet.
    pub fn reset(&mut self, sdp_remote: SocketAddr) {
        *self = Latch::new(sdp_remote);
    }

    /// A valid RTP packet arrived from `src`.
    pub fn on_packet(&mut self, src: SocketAddr) -> LatchVerdict {
        if !self.latched {
            self.latched = true;
            if src != self.target {
                tracing::debug!(from = %self.target, to = %src, "RTP latched");
            }
            self.target = src;
            self.candidate = None;
            return LatchVerdict::Accept;
        }
        if src == self.target {
            self.candidate = None;
            return LatchVerdict::Accept;
        }
        let count = match self.candidate {
            Some((addr, n)) if addr == src => n + 1,
            _ => 1,
        };
        if count >= RELATCH_PACKETS {
            tracing::debug!(from = %self.target, to = %src, "RTP re-latched");
            self.target = src;
            self.candidate = None;
            LatchVerdict::Accept
        } else {
            self.candidate = Some((src, count));
            LatchVerdict::Ignore
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(port: u16) -> SocketAddr {
        SocketAddr::from(([10, 0, 0, 1], port))
    }

    #[test]
    fn first_packet_latches_then_needs_consecutive_packets() {
        let mut l = Latch::new(a(1000));
        assert_eq!(l.target(), a(1000));
        assert!(!l.is_latched());
        assert_eq!(l.on_packet(a(2000)), LatchVerdict::Accept);
        assert_eq!(l.target(), a(2000));
        // One spoofed packet does not move it.
        assert_eq!(l.on_packet(a(3000)), LatchVerdict::Ignore);
        assert_eq!(l.on_packet(a(2000)), LatchVerdict::Accept);
        assert_eq!(l.on_packet(a(3000)), LatchVerdict::Ignore);
        assert_eq!(l.on_packet(a(3000)), LatchVerdict::Ignore);
        assert_eq!(l.target(), a(2000));
        // Interleaved sources reset the count.
        assert_eq!(l.on_packet(a(4000)), LatchVerdict::Ignore);
        assert_eq!(l.on_packet(a(3000)), LatchVerdict::Ignore);
        assert_eq!(l.on_packet(a(3000)), LatchVerdict::Ignore);
        assert_eq!(l.on_packet(a(3000)), LatchVerdict::Accept);
        assert_eq!(l.target(), a(3000));
        // Re-INVITE resets.
        l.reset(a(5000));
        assert_eq!(l.target(), a(5000));
        assert_eq!(l.on_packet(a(3000)), LatchVerdict::Accept);
        assert_eq!(l.target(), a(3000));
    }

    #[test]
    fn first_packet_from_sdp_address_confirms_it() {
        let mut l = Latch::new(a(1000));
        assert_eq!(l.on_packet(a(1000)), LatchVerdict::Accept);
        assert!(l.is_latched());
        assert_eq!(l.on_packet(a(2000)), LatchVerdict::Ignore);
        assert_eq!(l.target(), a(1000));
    }
}
