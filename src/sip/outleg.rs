//! Outbound legs (the B2BUA's UAC side): a task per [`Dial`] resolves the target into one or
//! more destinations, sends an INVITE to each (a registered line forks to every contact; each
//! branch is its own dialog), reports progress, and keeps the winning dialog until the call
//! actor or the peer ends it. Losing branches are cancelled.
//!
//! Destinations:
//! - a line of this box: every registered contact, sent to the address the REGISTER really
//!   came from (NAT: the Contact may name a private address) with the Contact as Request-URI;
//! - a SIP URI: as given;
//! - an external number: the first enabled outbound trunk whose prefixes match, with the
//!   trunk's number format and, for registration trunks, its credentials for 401/407.

use super::in_dialog::{
    allows, identity_value, in_dialog_options, local_addr_of, notify_refer, on_refer,
    reason_header, reinvite, sip_info_dtmf, update_identity, FINAL_WAIT, TRYING_WAIT,
};
use super::inspector::Annotated;
use super::EdgeContext;
use futures::stream::{FuturesUnordered, StreamExt};
use rsipstack::dialog::authenticate::Credential;
use rsipstack::dialog::dialog::{DialogState, TerminatedReason};
use rsipstack::dialog::dialog_layer::DialogLayer;
use rsipstack::dialog::invitation::InviteOption;
use rsipstack::dialog::invite_dialog::InviteDialog;
use rsipstack::sip::{Header, StatusCode, Transport, Uri};
use rsipstack::transport::SipAddr;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::sync::mpsc::UnboundedReceiver;
use tracing::{debug, info_span, Instrument};
use vpbx_actors::leg::{Dial, DialRequest, DialTarget, Dialog, LegCommand, LegEvent};
use vpbx_store::model::LegCause;
use vpbx_store::model::{TrunkAuth, TrunkTransport};

/// The `Reason` of the CANCEL sent to the devices that lost a fork (RFC 3326 §2).
pub(super) const COMPLETED_ELSEWHERE: &str = "SIP;cause=200;text=\"Call completed elsewhere\"";

/// Where one branch of an outbound leg goes.
struct Destination {
    callee: String,
    caller: String,
    destination: Option<SipAddr>,
    credential: Option<Credential>,
    label: String,
}

/// The edge's outbound side.
pub(super) struct Outbound {
    pub dialogs: Arc<DialogLayer>,
    pub ctx: EdgeContext,
    /// Our SIP address (From host for lines, Contact).
    pub local: SocketAddr,
    /// Headers for the messages the stack builds (the `Reason` of a CANCEL).
    pub annotations: Arc<super::inspector::Annotations>,
    /// The states of the dialogs we start, routed to their legs (by our own Call-IDs).
    pub states: Arc<super::states::StateRouter>,
}

/// Serves dial requests until the channel closes.
pub(super) async fn serve(mut dials: UnboundedReceiver<Dial>, out: Arc<Outbound>) {
    while let Some(dial) = dials.recv().await {
        let span = info_span!("out_leg", call_id = %dial.request.call_id);
        tokio::spawn(out.clone().run(dial).instrument(span));
    }
}

fn reason_text(resp: &rsipstack::sip::Response) -> String {
    let code = u16::from(resp.status_code.clone());
    format!("{code} {}", resp.status_code)
}

fn transport_of(t: &str) -> Transport {
    if t.eq_ignore_ascii_case("tcp") {
        Transport::Tcp
    } else {
        Transport::Udp
    }
}

impl Outbound {
    fn resolve(&self, req: &DialRequest) -> Result<Vec<Destination>, (u16, LegCause, String)> {
        let me = self.local;
        match &req.target {
            DialTarget::Line { line, login } => {
                let bindings = self.ctx.registrar.bindings(*line);
                if bindings.is_empty() {
                    return Err((
                        480,
                        LegCause::Offline,
                        format!("line {login} not registered"),
                    ));
                }
                let bindings: Vec<_> = bindings
                    .into_iter()
                    .filter(|b| self.ctx.registrar.contact_reachable(*line, &b.contact))
                    .collect();
                if bindings.is_empty() {
                    return Err((
                        480,
                        LegCause::Unreachable,
                        format!("line {login} unreachable (no answer to OPTIONS)"),
                    ));
                }
                Ok(bindings
                    .into_iter()
                    .map(|b| {
                        let destination = b.source.parse::<SocketAddr>().ok().map(|a| {
                            let mut s = SipAddr::from(a);
                            s.r#type = Some(transport_of(&b.transport));
                            s
                        });
                        Destination {
                            callee: b.contact.clone(),
                            caller: format!("sip:{}@{me}", req.caller_id),
                            destination,
                            credential: None,
                            label: format!("{login} at {}", b.source),
                        }
                    })
                    .collect())
            }
            DialTarget::Uri(uri) => Ok(vec![Destination {
                callee: format!("sip:{uri}"),
                caller: format!("sip:{}@{me}", req.caller_id),
                destination: None,
                credential: None,
                label: format!("sip:{uri}"),
            }]),
            DialTarget::External(number) => {
                let snapshot = self.ctx.snapshots.current();
                let Some(trunk) = pick_trunk(&snapshot.trunks, number) else {
                    return Err((503, LegCause::Failed, format!("no trunk serves {number}")));
                };
                if let Some(max) = trunk.max_channels {
                    if self.ctx.trunks.in_use(trunk.id) >= max as usize {
                        return Err((
                            503,
                            LegCause::Failed,
                            format!("trunk {} is full ({max} calls)", trunk.name),
                        ));
                    }
                }
                let host = if trunk.host.contains(':') && !trunk.host.starts_with('[') {
                    format!("[{}]", trunk.host)
                } else {
                    trunk.host.clone()
                };
                let tp = match trunk.transport {
                    TrunkTransport::Udp => "",
                    TrunkTransport::Tcp => ";transport=tcp",
                };
                let (credential, from_host) = match &trunk.auth {
                    TrunkAuth::Registration {
                        username,
                        password,
                        realm,
                        ..
                    } => (
                        Some(Credential {
                            username: username.clone(),
                            password: password.clone(),
                            realm: realm.clone(),
                            ..Default::default()
                        }),
                        host.clone(),
                    ),
                    TrunkAuth::Ip { .. } => (None, host.clone()),
                };
                Ok(vec![Destination {
                    callee: format!(
                        "sip:{}@{host}:{}{tp}",
                        trunk.format_number(number),
                        trunk.port
                    ),
                    caller: format!("sip:{}@{from_host}", req.caller_id),
                    destination: None,
                    credential,
                    label: format!("{number} via trunk {}", trunk.name),
                }])
            }
        }
    }

    /// Cancels every branch but the winner `won`, each on its own task: a device that never
    /// answers its CANCEL must not hold up the winner's talk. Their CANCEL says the call was
    /// answered elsewhere (RFC 3326), so phones do not log a missed call.
    fn cancel_losers(&self, branches: &[(InviteDialog, String)], won: usize) {
        for (j, (d, _)) in branches.iter().enumerate() {
            if j != won {
                self.annotations.set(
                    &d.id().call_id,
                    Annotated::Cancel,
                    "Reason",
                    COMPLETED_ELSEWHERE.into(),
                );
                let d = d.clone();
                tokio::spawn(async move {
                    let _ = d.cancel().await;
                });
            }
        }
    }

    async fn run(self: Arc<Self>, dial: Dial) {
        let Dial {
            request,
            mut commands,
            events,
        } = dial;
        let destinations = match self.resolve(&request) {
            Ok(d) => d,
            Err((code, cause, reason)) => {
                let _ = events.send(LegEvent::Rejected {
                    code,
                    cause,
                    reason,
                });
                return;
            }
        };
        let mut carrier_wait: Option<(u32, String)> = None;
        let trunk_guard = match &request.target {
            DialTarget::External(n) => {
                let snapshot = self.ctx.snapshots.current();
                pick_trunk(&snapshot.trunks, n).map(|t| {
                    carrier_wait = Some((t.response_timeout_s.max(1), t.name.clone()));
                    self.ctx.trunks.acquire(t.id)
                })
            }
            _ => None,
        };
        // A carrier that answers nothing at all (not even 100 Trying) fails the call after the
        // trunk's response timeout, not after the INVITE transaction's 32 s.
        let silent_for = carrier_wait
            .as_ref()
            .map(|(s, _)| std::time::Duration::from_secs(u64::from(*s)));
        let carrier_silence = async move {
            match silent_for {
                Some(d) => tokio::time::sleep(d).await,
                None => std::future::pending().await,
            }
        };
        tokio::pin!(carrier_silence);
        let mut heard_from_peer = false;
        let state_tx = self.states.sender();
        let mut states = self.states.stream();
        let contact = Uri::try_from(format!("sip:vpbx@{}", self.local).as_str()).ok();
        let mut branches: Vec<(InviteDialog, String)> = Vec::new();
        let mut pending = FuturesUnordered::new();
        let mut failures: Vec<(u16, String)> = Vec::new();
        for d in destinations {
            let (Ok(caller), Ok(callee)) = (
                Uri::try_from(d.caller.as_str()),
                Uri::try_from(d.callee.as_str()),
            ) else {
                failures.push((400, format!("{}: bad URI", d.label)));
                continue;
            };
            let mut headers = vec![Header::Allow(super::ALLOW.into())];
            if let Some(r) = &request.replaces {
                headers.push(Header::Other(
                    "Replaces".into(),
                    format!("{};to-tag={};from-tag={}", r.call_id, r.to_tag, r.from_tag),
                ));
            }
            let call_id = format!(
                "{:016x}{:016x}@{}",
                rand::random::<u64>(),
                rand::random::<u64>(),
                self.local.ip()
            );
            let opt = InviteOption {
                caller_display_name: request.caller_name.clone(),
                caller,
                callee,
                destination: d.destination,
                content_type: Some("application/sdp".into()),
                offer: Some(request.offer_sdp.clone().into_bytes()),
                contact: contact.clone().unwrap_or_default(),
                credential: d.credential,
                headers: Some(headers),
                // Our own Call-ID (the stack's default names its vendor's domain), unique: the
                // branch's states are routed to this leg by it.
                call_id: Some(call_id.clone()),
                ..Default::default()
            };
            states.add(&call_id, "");
            match self.dialogs.do_invite_async(opt, state_tx.clone()) {
                Ok((dialog, handle)) => {
                    let i = branches.len();
                    branches.push((dialog, d.label));
                    pending.push(async move { (i, handle.await) });
                }
                Err(e) => failures.push((503, format!("{}: {e}", d.label))),
            }
        }
        drop(state_tx);
        if branches.is_empty() {
            let (code, reason) = worst(&failures);
            let _ = events.send(LegEvent::Rejected {
                code,
                cause: LegCause::from_status(code),
                reason,
            });
            return;
        }
        let local_media = local_addr_of(&request.offer_sdp);
        let mut local_media = local_media;
        // Our current SDP and whether the answering phone allows UPDATE (identity updates).
        let mut last_sdp = request.offer_sdp.clone();
        let mut allow_update = false;
        let mut winner: Option<usize> = None;
        let mut ringing_sent = false;
        let mut refer_pending = false;
        let mut confirmed_ids = Vec::new();
        // A branch's dialog can end (the phone's BYE right after its ACK) before its 200 has come
        // out of `pending`: the select may take the state first. Its end is kept here and
        // reported once the branch has been declared the winner.
        let mut ended_before_won: Vec<(String, TerminatedReason)> = Vec::new();
        loop {
            tokio::select! {
                () = &mut carrier_silence, if !heard_from_peer && winner.is_none() => {
                    let (secs, trunk) = carrier_wait.clone().unwrap_or_default();
                    let reason = format!("trunk {trunk}: the carrier did not answer within {secs} s");
                    tracing::warn!(trunk = %trunk, timeout_s = secs, "the carrier did not answer an INVITE");
                    end_all(&branches, None, &reason, false).await;
                    let _ = events.send(LegEvent::Rejected {
                        code: 408,
                        cause: LegCause::Failed,
                        reason,
                    });
                    break;
                }
                cmd = commands.recv() => match cmd {
                    Some(LegCommand::CompletedElsewhere) => {
                        if winner.is_none() {
                            for (d, _) in &branches {
                                self.annotations.set(
                                    &d.id().call_id,
                                    Annotated::Cancel,
                                    "Reason",
                                    COMPLETED_ELSEWHERE.into(),
                                );
                            }
                        }
                        end_all(&branches, winner, "call completed elsewhere", refer_pending).await;
                        let _ = events.send(LegEvent::Ended);
                        break;
                    }
                    Some(LegCommand::Hangup { reason }) | Some(LegCommand::Reject { reason, .. }) => {
                        end_all(&branches, winner, &reason, refer_pending).await;
                        let _ = events.send(LegEvent::Ended);
                        break;
                    }
                    None => {
                        end_all(&branches, winner, "call ended", refer_pending).await;
                        break;
                    }
                    Some(LegCommand::ReferFailed { code }) => {
                        if let (Some(w), true) = (winner, refer_pending) {
                            refer_pending = false;
                            notify_refer(&branches[w].0, code, "terminated;reason=noresource", FINAL_WAIT).await;
                        }
                    }
                    Some(LegCommand::UpdateIdentity { display, number }) => {
                        if let Some(w) = winner {
                            let identity = identity_value(&display, &number, &self.local.to_string());
                            update_identity(&branches[w].0, allow_update, identity, Some(last_sdp.clone()));
                        }
                    }
                    Some(other) => debug!(command = ?other, "not applicable to an outbound leg"),
                },
                Some((i, res)) = pending.next(), if !pending.is_empty() => {
                    heard_from_peer = true;
                    match res {
                        Ok(Ok((id, Some(resp)))) if resp.status_code.kind()
                            == rsipstack::sip::StatusCodeKind::Successful =>
                        {
                            if winner.is_some() {
                                // A second branch answered too late: it loses.
                                let _ = branches[i].0.bye().await;
                                self.dialogs.remove_dialog(&id);
                                continue;
                            }
                            let body = String::from_utf8_lossy(&resp.body).into_owned();
                            match vpbx_media::SessionDescription::parse(&body)
                                .and_then(|d| vpbx_media::negotiate(&d))
                            {
                                Ok(answer) => {
                                    winner = Some(i);
                                    allow_update = allows(resp.headers.iter(), "UPDATE");
                                    confirmed_ids.push(id.clone());
                                    let _ = events.send(LegEvent::Answered {
                                        answer: Box::new(answer),
                                        by: branches[i].1.clone(),
                                        dialog: Box::new(Dialog { call_id: id.call_id.clone(), local_tag: id.local_tag.clone(), remote_tag: id.remote_tag.clone() }),
                                    });
                                    self.cancel_losers(&branches, i);
                                    if let Some(at) = ended_before_won.iter().position(|(c, _)| *c == id.call_id) {
                                        let _ = events.send(ended(ended_before_won.swap_remove(at).1));
                                        break;
                                    }
                                }
                                Err(e) => {
                                    let _ = branches[i].0.bye().await;
                                    self.dialogs.remove_dialog(&id);
                                    failures.push((488, format!("{}: unusable SDP answer ({e})", branches[i].1)));
                                }
                            }
                        }
                        Ok(Ok((_, Some(resp)))) => {
                            failures.push((u16::from(resp.status_code.clone()), format!("{}: {}", branches[i].1, reason_text(&resp))));
                        }
                        Ok(Ok((_, None))) => failures.push((408, format!("{}: no final response", branches[i].1))),
                        Ok(Err(e)) => failures.push((503, format!("{}: {e}", branches[i].1))),
                        Err(e) => failures.push((500, format!("{}: {e}", branches[i].1))),
                    }
                    if winner.is_none() && pending.is_empty() {
                        let (code, reason) = worst(&failures);
                        let _ = events.send(LegEvent::Rejected {
                code,
                cause: LegCause::from_status(code),
                reason,
            });
                        break;
                    }
                }
                st = states.recv() => {
                    let Some(st) = st else { break };
                    if !matches!(st, DialogState::Calling(_)) {
                        heard_from_peer = true;
                    }
                    let is_winner = |call_id: &str| {
                        winner.is_some_and(|w| branches[w].0.id().call_id == call_id)
                    };
                    match st {
                        DialogState::Early(_, resp) if winner.is_none() => {
                            let body = String::from_utf8_lossy(&resp.body).into_owned();
                            let early = if body.trim().is_empty() {
                                None
                            } else {
                                vpbx_media::SessionDescription::parse(&body)
                                    .and_then(|d| vpbx_media::negotiate(&d))
                                    .ok()
                            };
                            if early.is_some() || !ringing_sent {
                                ringing_sent = true;
                                let _ = events.send(LegEvent::Ringing { early });
                            }
                        }
                        DialogState::Terminated(id, why) if is_winner(&id.call_id) => {
                            let _ = events.send(ended(why));
                            break;
                        }
                        DialogState::Terminated(id, why) if winner.is_none() => {
                            ended_before_won.push((id.call_id, why));
                        }
                        DialogState::Info(id, req, handle) if is_winner(&id.call_id) => {
                            match sip_info_dtmf(&req) {
                                Some((digit, duration_ms)) => {
                                    let _ = events.send(LegEvent::Dtmf { digit, duration_ms });
                                    handle.reply(StatusCode::OK).await.ok();
                                }
                                None => {
                                    handle.reply(StatusCode::from(469)).await.ok();
                                }
                            }
                        }
                        DialogState::Updated(id, req, handle) if is_winner(&id.call_id) => {
                            if let Some(sdp) = reinvite(&req, &handle, &events, &mut local_media, Vec::new()).await {
                                last_sdp = sdp;
                            }
                        }
                        DialogState::Options(id, _, handle) if is_winner(&id.call_id) => {
                            in_dialog_options(&handle).await;
                        }
                        DialogState::Notify(id, _, handle) if is_winner(&id.call_id) => {
                            handle.reply(StatusCode::from(481)).await.ok();
                        }
                        DialogState::Message(id, _, handle) if is_winner(&id.call_id) => {
                            handle.reply(StatusCode::from(405)).await.ok();
                        }
                        DialogState::Refer(id, req, handle) if is_winner(&id.call_id) => {
                            let accepted = on_refer(&req, &handle, &events).await;
                            refer_pending |= accepted.is_some();
                            // An attended transfer completes at once: its final NOTIFY is the
                            // only one.
                            if let (Some(false), Some(w)) = (accepted, winner) {
                                notify_refer(&branches[w].0, 100, "active;expires=60", TRYING_WAIT).await;
                            }
                        }
                        _ => {}
                    }
                }
            }
        }
        // Let the branches' transactions settle (CANCEL answered, 487 ACKed), then clean up.
        // A branch whose 200 was taken in by the stack before the leg ended (its dialog was
        // already confirmed, so the CANCEL was a no-op) is in a call nobody will bridge: it gets
        // a BYE (RFC 3261 §9.1: a 2xx that crosses a CANCEL is ACKed, then ended with BYE). A
        // branch the stack itself ended after its CANCEL is terminated, and `bye` is a no-op.
        while let Ok(Some((i, res))) =
            tokio::time::timeout(std::time::Duration::from_secs(5), pending.next()).await
        {
            let Ok(Ok((id, Some(resp)))) = res else {
                continue;
            };
            if resp.status_code.kind() == rsipstack::sip::StatusCodeKind::Successful
                && winner != Some(i)
            {
                let _ = branches[i].0.bye().await;
                self.dialogs.remove_dialog(&id);
            }
        }
        for id in confirmed_ids {
            self.dialogs.remove_dialog(&id);
        }
        for (d, _) in &branches {
            self.annotations.forget(&d.id().call_id);
        }
        drop(trunk_guard);
    }
}

/// What the call hears when the answered branch's dialog ends.
fn ended(why: TerminatedReason) -> LegEvent {
    match why {
        TerminatedReason::UasBye | TerminatedReason::UacBye => LegEvent::RemoteHangup,
        other => LegEvent::Failed(format!("dialog terminated: {other:?}")),
    }
}

/// The trunk for an outbound number ([`vpbx_store::model::pick_outbound`]: the longest
/// matching prefix, the first on a tie).
pub(super) fn pick_trunk<'a>(
    trunks: &'a [vpbx_store::model::Trunk],
    number: &str,
) -> Option<&'a vpbx_store::model::Trunk> {
    vpbx_store::model::pick_outbound(trunks, number)
}

/// The final status reported for a leg none of whose branches answered: busy wins (the phone
/// refused), then the first failure.
fn worst(failures: &[(u16, String)]) -> (u16, String) {
    failures
        .iter()
        .find(|(c, _)| matches!(c, 486 | 600 | 603))
        .or_else(|| failures.first())
        .cloned()
        .unwrap_or((480, "no destination".into()))
}

/// Ends every branch: BYE for the winner (after the REFER's final NOTIFY), CANCEL otherwise.
async fn end_all(
    branches: &[(InviteDialog, String)],
    winner: Option<usize>,
    reason: &str,
    refer_pending: bool,
) {
    let Some(w) = winner else {
        // Nobody answered: every branch is cancelled, each on its own task, so a device that
        // never answers its CANCEL holds up no other.
        for (d, _) in branches {
            let d = d.clone();
            tokio::spawn(async move {
                let _ = d.cancel().await;
            });
        }
        return;
    };
    // The losers were cancelled when the winner answered.
    let d = &branches[w].0;
    if refer_pending {
        notify_refer(d, 200, "terminated;reason=noresource", FINAL_WAIT).await;
    }
    if let Err(e) = d.bye_with_reason(reason_header(reason)).await {
        debug!(error = %e, "BYE failed");
    }
}

#[cfg(test)]
mod tests {
    use super::pick_trunk;
    use vpbx_store::model::{NumberFormat, Trunk, TrunkAuth, TrunkId, TrunkTransport};

    fn trunk(id: u64, prefixes: &[&str]) -> Trunk {
        Trunk {
            id: TrunkId(id),
            name: format!("t{id}"),
            enabled: true,
            host: "127.0.0.1".into(),
            port: 5060,
            transport: TrunkTransport::Udp,
            auth: TrunkAuth::Ip {
                addresses: vec!["127.0.0.1".into()],
            },
            dids: vec![],
            outbound: true,
            prefixes: prefixes.iter().map(|p| p.to_string()).collect(),
            number_format: NumberFormat::International,
            max_channels: None,
            response_timeout_s: 5,
        }
    }

    #[test]
    fn longest_prefix_wins_then_order() {
        let ts = vec![
            trunk(1, &[]),
            trunk(2, &["7"]),
            trunk(3, &["7495"]),
            trunk(4, &["7495"]),
        ];
        assert_eq!(pick_trunk(&ts, "74951234567").map(|t| t.id.0), Some(3));
        assert_eq!(pick_trunk(&ts, "+79161234567").map(|t| t.id.0), Some(2));
        assert_eq!(pick_trunk(&ts, "12025550100").map(|t| t.id.0), Some(1));
        assert!(pick_trunk(&ts[1..], "12025550100").is_none());
    }
}
