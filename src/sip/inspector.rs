//! Counts every SIP message in and out, by method and status code, for `/metrics`.

use rsipstack::sip::prelude::HeadersExt;
use rsipstack::sip::SipMessage;
use rsipstack::transaction::endpoint::MessageInspector;
use rsipstack::transport::SipAddr;

pub(super) struct Metrics;

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
        count(&msg, "out");
        msg
    }

    fn after_received(&self, msg: SipMessage, _from: Option<&SipAddr>) -> SipMessage {
        count(&msg, "in");
        msg
    }
}
