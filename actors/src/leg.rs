//! The telephony interface between the SIP edge and the call actors.
//!
//! The edge owns the SIP dialog of a leg and runs it on its own task; the call actor holds a
//! [`Leg`]: it sends [`LegCommand`]s and receives [`LegEvent`]s. No SIP-stack type crosses this
//! boundary, so the stack can be replaced without touching call logic.
//!
//! Safety net: when every sender of a leg's commands is dropped without a final command (the call
//! actor died), the edge ends the leg on its own — BYE if it was answered, a 500 response if not.

use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};
use vpbx_media::Negotiated;

/// What the edge learnt about an inbound leg.
#[derive(Debug, Clone)]
pub struct LegInfo {
    /// SIP Call-ID of the dialog.
    pub sip_call_id: String,
    /// Caller number (user part of From).
    pub numa: String,
    /// Dialled number (user part of the Request-URI).
    pub numb: String,
    /// The codec and address negotiated from the caller's offer.
    pub offer: Negotiated,
}

/// A command from the call actor to the leg.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LegCommand {
    /// Send 180 Ringing.
    Ring,
    /// Send 200 OK with this SDP answer.
    Answer {
        /// The SDP body.
        sdp: String,
    },
    /// Reject an unanswered leg with a final response.
    Reject {
        /// SIP status code (4xx–6xx).
        code: u16,
        /// Reason phrase / `Reason` header text.
        reason: String,
    },
    /// End the leg: BYE when answered, a final error response when not.
    Hangup {
        /// Why (sent in a `Reason` header).
        reason: String,
    },
}

/// An event from the leg to the call actor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LegEvent {
    /// The peer acknowledged our answer (ACK received).
    Confirmed,
    /// The peer cancelled before answer (the edge already answered 487).
    Cancelled,
    /// The peer hung up (BYE received, already answered 200).
    RemoteHangup,
    /// The leg failed (transport error, ACK timeout).
    Failed(String),
    /// The leg is over after our own hang-up or reject.
    Ended,
    /// A DTMF digit signalled in SIP INFO (`application/dtmf-relay` or `application/dtmf`).
    Dtmf {
        /// `0-9`, `*`, `#`, `A-D`.
        digit: char,
        /// Duration in ms as signalled (0 if none).
        duration_ms: u32,
    },
    /// A re-INVITE moved the peer's media (new address, or hold/resume direction); the edge
    /// already answered it with our unchanged address and codec.
    RemoteMedia {
        /// The peer's new media description.
        offer: Negotiated,
    },
}

/// The call actor's end of a leg.
#[derive(Debug)]
pub struct Leg {
    /// What the edge learnt.
    pub info: LegInfo,
    /// Commands to the edge.
    pub commands: UnboundedSender<LegCommand>,
    /// Events from the edge.
    pub events: UnboundedReceiver<LegEvent>,
}
