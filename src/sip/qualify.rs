//! OPTIONS qualify of registered contacts: every interval each binding gets an OPTIONS sent to
//! the address its REGISTER came from. Any response proves the phone is there; two probes in a
//! row without one mark the contact unreachable (and a line with no reachable contact is
//! unavailable for distribution) until it answers again or re-registers.

use super::Registrar;
use rsipstack::sip::{Method, StatusCodeKind, Uri};
use rsipstack::transaction::endpoint::EndpointInnerRef;
use rsipstack::transaction::key::{TransactionKey, TransactionRole};
use rsipstack::transaction::make_tag;
use rsipstack::transaction::transaction::Transaction;
use rsipstack::transport::SipAddr;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info};
use vpbx_actors::dist::LineRegistration;
use vpbx_actors::switch::Registry;

/// Probes without an answer before a contact counts as unreachable.
pub const MISSES: u32 = 2;

/// Sends one OPTIONS to `contact` at `to`; whether any response came back within `wait`.
async fn probe(endpoint: &EndpointInnerRef, contact: &str, to: SocketAddr, wait: Duration) -> bool {
    let Ok(uri) = Uri::try_from(contact) else {
        return false;
    };
    let mut dest = SipAddr::from(to);
    dest.r#type = Some(rsipstack::sip::Transport::Udp);
    let Ok(via) = endpoint.get_via(None, None) else {
        return false;
    };
    let me = Uri::try_from(format!("sip:vpbx@{}", via.uri.host_with_port).as_str());
    let Ok(me) = me else {
        return false;
    };
    let from = rsipstack::sip::typed::From {
        display_name: None,
        uri: me,
        params: vec![],
    }
    .with_tag(make_tag());
    let to_hdr = rsipstack::sip::typed::To {
        display_name: None,
        uri: uri.clone(),
        params: vec![],
    };
    let req = endpoint.make_request(Method::Options, uri, via, from, to_hdr, 1, None);
    let Ok(key) = TransactionKey::from_request(&req, TransactionRole::Client) else {
        return false;
    };
    let mut tx = Transaction::new_client(key, req, endpoint.clone(), None);
    tx.destination = Some(dest);
    if tx.send().await.is_err() {
        return false;
    }
    let answered = tokio::time::timeout(wait, async {
        while let Some(msg) = tx.receive().await {
            if let rsipstack::sip::SipMessage::Response(r) = msg {
                if r.status_code.kind() != StatusCodeKind::Provisional {
                    return true;
                }
            }
        }
        false
    })
    .await;
    matches!(answered, Ok(true))
}

/// Probes every registered contact each `interval` until `cancel`.
pub(super) async fn run(
    endpoint: EndpointInnerRef,
    registrar: Arc<Registrar>,
    registry: Registry,
    interval: Duration,
    cancel: CancellationToken,
) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let wait = interval.clamp(Duration::from_millis(500), Duration::from_secs(5));
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tick.tick() => {}
        }
        let mut probes = Vec::new();
        for line in registrar.registered_lines() {
            for b in registrar.bindings(line) {
                let Ok(to) = b.source.parse::<SocketAddr>() else {
                    continue;
                };
                if !b.transport.eq_ignore_ascii_case("udp") {
                    // Stream contacts are watched by their connection.
                    continue;
                }
                let ep = endpoint.clone();
                probes.push(async move {
                    let ok = probe(&ep, &b.contact, to, wait).await;
                    (line, b.contact, ok)
                });
            }
        }
        let results = futures::future::join_all(probes).await;
        let mut changed = Vec::new();
        for (line, contact, ok) in results {
            let before = registrar.line_reachable(line);
            registrar.probed(line, &contact, ok, MISSES);
            let after = registrar.line_reachable(line);
            if before != after {
                changed.push((line, after));
            }
            if !ok {
                debug!(line = %line, %contact, "no answer to OPTIONS");
            }
        }
        for (line, reachable) in changed {
            info!(line = %line, reachable, "line reachability changed");
            if let Some(c) = registry.children() {
                c.dist.do_send(LineRegistration {
                    line,
                    registered: reachable,
                });
            }
        }
    }
}
