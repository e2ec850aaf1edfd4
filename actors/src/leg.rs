//! The telephony interface between the SIP edge and the call actors.
//!
//! The edge owns the SIP dialog of a leg and runs it on its own task; the call actor holds a
//! [`Leg`]: it sends [`LegCommand`]s and receives [`LegEvent`]s. No SIP-stack type crosses this
//! boundary, so the stack can be replaced without touching call logic.
//!
//! Safety net: when every sender of a leg's commands is dropped without a final command (the call
//! actor died), the edge ends the leg on its own — BYE if it was answered, a 500 response if not.

pub use crate::core::call::{DialTarget, Dialog, Replaces};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};
use vpbx_media::Negotiated;
use vpbx_store::model::LegCause;

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
    /// Our tag in the dialog (To tag of our answers).
    pub local_tag: String,
    /// The caller's tag (From tag).
    pub remote_tag: String,
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
    /// Send 183 Session Progress with this SDP answer (early media towards the caller).
    Progress {
        /// The SDP body.
        sdp: String,
    },
    /// Report the outcome of a transfer this leg asked for (REFER) with a final NOTIFY carrying
    /// this status (e.g. 486 when the target was busy); the leg stays up.
    ReferFailed {
        /// SIP status of the failed attempt.
        code: u16,
    },
    /// Tell the phone who it now talks to (after a transfer), RFC 4916 style: an UPDATE when the
    /// phone allows it, else a re-INVITE with our unchanged SDP, carrying
    /// `P-Asserted-Identity: "display" <sip:number@…>`.
    UpdateIdentity {
        /// Display name (may be empty).
        display: Box<str>,
        /// Number or extension.
        number: Box<str>,
    },
    /// End the leg: BYE when answered, a final error response when not (CANCEL for an
    /// outbound leg that has not answered).
    Hangup {
        /// Why (sent in a `Reason` header).
        reason: String,
    },
    /// End an outbound leg that was ringing when another phone answered the call: CANCEL with
    /// `Reason: SIP;cause=200;text="Call completed elsewhere"` (RFC 3326).
    CompletedElsewhere,
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
    /// Outbound legs: the callee is ringing (180), or sends early media (183 with SDP).
    Ringing {
        /// The callee's early media description, when it sent one.
        early: Option<Negotiated>,
    },
    /// Outbound legs: the callee answered (2xx, ACK already sent). Its large parts are boxed:
    /// every slot of a leg's event channel is as large as the largest event.
    Answered {
        /// The callee's media description.
        answer: Box<Negotiated>,
        /// Who answered, for the call detail (contact or URI).
        by: String,
        /// The answered dialog.
        dialog: Box<Dialog>,
    },
    /// Outbound legs: every destination refused or could not be reached; the leg is over.
    Rejected {
        /// Final status (e.g. 486 busy, 480/408 no answer, 404, 503).
        code: u16,
        /// What it means, typed: the ringer and the call detail read this, never the words.
        cause: LegCause,
        /// Why, in words.
        reason: String,
    },
    /// A REFER from the peer asks the switch to transfer the other party to `target`
    /// (the edge already answered 202). `replaces` is set for an attended transfer: it names
    /// the dialog (Call-ID, to-tag, from-tag as the peer sees them) whose other party takes
    /// this leg's place.
    Refer {
        /// The user part or URI of Refer-To, without the `Replaces` parameter.
        target: String,
        /// `Replaces` of an attended transfer.
        replaces: Option<Replaces>,
    },
    /// A re-INVITE moved the peer's media (new address, or hold/resume direction); the edge
    /// already answered it with our unchanged address and codec.
    RemoteMedia {
        /// The peer's new media description.
        offer: Negotiated,
    },
}

/// A request for an outbound leg.
#[derive(Debug, Clone)]
pub struct DialRequest {
    /// The call the leg belongs to (for logs).
    pub call_id: String,
    /// Where to.
    pub target: DialTarget,
    /// Number presented as the caller (From user part).
    pub caller_id: String,
    /// Display name presented, if any.
    pub caller_name: Option<String>,
    /// Our SDP offer.
    pub offer_sdp: String,
    /// `Replaces` to put in the INVITE (RFC 3891), when this leg replaces a dialog of the peer.
    pub replaces: Option<Replaces>,
}

/// A dial request as the edge receives it, with its channel ends.
#[derive(Debug)]
pub struct Dial {
    /// What to dial.
    pub request: DialRequest,
    /// Commands from the call actor.
    pub commands: UnboundedReceiver<LegCommand>,
    /// Events to the call actor.
    pub events: UnboundedSender<LegEvent>,
}

/// The call actor's end of an outbound leg.
#[derive(Debug)]
pub struct OutLeg {
    /// Commands to the edge (`Hangup` cancels or ends it).
    pub commands: UnboundedSender<LegCommand>,
    /// Events from the edge.
    pub events: UnboundedReceiver<LegEvent>,
}

/// Places outbound legs through the SIP edge. Cheap to clone. Until the edge is running (or
/// after it stopped), a dialled leg fails at once with `Rejected { code: 503 }`.
#[derive(Debug, Clone)]
pub struct Dialer {
    tx: UnboundedSender<Dial>,
}

impl Dialer {
    /// A dialer and the receiving end the SIP edge serves.
    pub fn new() -> (Dialer, UnboundedReceiver<Dial>) {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        (Dialer { tx }, rx)
    }

    /// Starts an outbound leg. Its progress arrives as [`LegEvent`]s.
    pub fn dial(&self, request: DialRequest) -> OutLeg {
        let (cmd_tx, cmd_rx) = tokio::sync::mpsc::unbounded_channel();
        let (ev_tx, ev_rx) = tokio::sync::mpsc::unbounded_channel();
        let dial = Dial {
            request,
            commands: cmd_rx,
            events: ev_tx,
        };
        if let Err(e) = self.tx.send(dial) {
            let _ = e.0.events.send(LegEvent::Rejected {
                code: 503,
                cause: LegCause::Failed,
                reason: "SIP edge not running".into(),
            });
        }
        OutLeg {
            commands: cmd_tx,
            events: ev_rx,
        }
    }
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

impl Leg {
    /// The caller's leg of a call the switch places itself, before it is dialled: no dialog
    /// and no edge behind it yet (the call actor dials it, then learns the rest).
    pub fn unplaced(numa: String, numb: String) -> Leg {
        let (commands, _) = tokio::sync::mpsc::unbounded_channel();
        let (_, events) = tokio::sync::mpsc::unbounded_channel();
        Leg {
            info: LegInfo {
                sip_call_id: String::new(),
                numa,
                numb,
                // Learnt from the answer.
                offer: Negotiated {
                    codec: vpbx_media::Codec::Pcmu,
                    telephone_event: None,
                    remote: std::net::SocketAddr::from(([0, 0, 0, 0], 0)),
                    direction: vpbx_media::Direction::SendRecv,
                },
                local_tag: String::new(),
                remote_tag: String::new(),
            },
            commands,
            events,
        }
    }
}
