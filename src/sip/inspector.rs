//! Sees every SIP message in and out: counts them by method and status code for `/metrics`,
//! and adds the headers the stack's API cannot take to the messages it builds itself
//! ([`Annotations`]): the `Reason` of a CANCEL (RFC 3326) and the `Warning` of a final error
//! response to an INVITE (RFC 3261 §20.43); and `Allow` to the stack's own 405 answers.

use dashmap::DashMap;
use rsipstack::sip::prelude::HeadersExt;
use rsipstack::sip::{Header, Method, SipMessage};
use rsipstack::transaction::endpoint::MessageInspector;
use rsipstack::transport::SipAddr;
use std::sync::Arc;

/// Which message of a dialog an annotation is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum Annotated {
    /// The CANCEL we send for our INVITE (and its retransmissions).
    Cancel,
    /// Our final non-2xx response to an INVITE we received.
    InviteRejection,
}

/// Headers to add to messages the stack builds for a Call-ID. Entries are removed by whoever
/// put them, when the leg is over.
#[derive(Default)]
pub(super) struct Annotations {
    extra: DashMap<(String, Annotated), Vec<(String, String)>>,
}

impl Annotations {
    /// Adds `name: value` to the `what` message of the dialog `call_id`.
    pub fn set(&self, call_id: &str, what: Annotated, name: &str, value: String) {
        let mut e = self.extra.entry((call_id.to_string(), what)).or_default();
        e.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        e.push((name.to_string(), value));
    }

    /// Forgets everything about `call_id`.
    pub fn forget(&self, call_id: &str) {
        self.extra.remove(&(call_id.to_string(), Annotated::Cancel));
        self.extra
            .remove(&(call_id.to_string(), Annotated::InviteRejection));
    }

    fn apply(&self, msg: SipMessage) -> SipMessage {
        let msg = allow_in_405(msg);
        if self.extra.is_empty() {
            return msg;
        }
        match msg {
            SipMessage::Request(mut r) if r.method == Method::Cancel => {
                let Some(call_id) = r.call_id_header().ok().map(|c| c.value().to_string()) else {
                    return SipMessage::Request(r);
                };
                if let Some(extra) = self.extra.get(&(call_id, Annotated::Cancel)) {
                    add(&mut r.headers, &extra);
                }
                SipMessage::Request(r)
            }
            SipMessage::Response(mut r) => {
                let code: u16 = r.status_code.clone().into();
                let invite = r
                    .cseq_header()
                    .ok()
                    .and_then(|c| c.method().ok())
                    .is_some_and(|m| m == Method::Invite);
                if code >= 300 && invite {
                    if let Some(call_id) = r.call_id_header().ok().map(|c| c.value().to_string()) {
                        if let Some(extra) = self.extra.get(&(call_id, Annotated::InviteRejection))
                        {
                            add(&mut r.headers, &extra);
                        }
                    }
                }
                SipMessage::Response(r)
            }
            other => other,
        }
    }
}

/// A 405 must say what is allowed (RFC 3261 §21.4.6); the stack's own 405s (a method a dialog
/// does not take) say nothing.
fn allow_in_405(msg: SipMessage) -> SipMessage {
    match msg {
        SipMessage::Response(mut r) if u16::from(r.status_code.clone()) == 405 => {
            if !r.headers.iter().any(|h| matches!(h, Header::Allow(_))) {
                r.headers.push(Header::Allow(super::ALLOW.into()));
            }
            SipMessage::Response(r)
        }
        other => other,
    }
}

/// Adds the headers not there yet (a retransmission may pass here again).
fn add(headers: &mut rsipstack::sip::Headers, extra: &[(String, String)]) {
    for (name, value) in extra {
        let present = headers
            .iter()
            .any(|h| matches!(h, Header::Other(n, _) if n.eq_ignore_ascii_case(name)));
        if !present {
            headers.push(Header::Other(name.clone(), value.clone()));
        }
    }
}

pub(super) struct Metrics {
    pub annotations: Arc<Annotations>,
}

fn count(msg: &SipMessage, direction: &'static str) {
    match msg {
        SipMessage::Request(r) => {
            metrics::counter!(
                "vpbx_sip_requests_total",
                "direction" => direction,
                "method" => r.method.to_string()
            )
            .increment(1);
        }
        SipMessage::Response(r) => {
            let code: u16 = r.status_code.clone().into();
            let method = r
                .cseq_header()
                .ok()
                .and_then(|c| c.method().ok())
                .map(|m| m.to_string())
                .unwrap_or_else(|| "unknown".into());
            metrics::counter!(
                "vpbx_sip_responses_total",
                "direction" => direction,
                "method" => method,
                "code" => code.to_string()
            )
            .increment(1);
        }
    }
}

impl MessageInspector for Metrics {
    fn before_send(&self, msg: SipMessage, _dest: Option<&SipAddr>) -> SipMessage {
        let msg = self.annotations.apply(msg);
        count(&msg, "out");
        msg
    }

    fn after_received(&self, msg: SipMessage, _from: Option<&SipAddr>) -> SipMessage {
        count(&msg, "in");
        msg
    }
}
