//! The task that owns one inbound leg's dialog: it executes the call actor's [`LegCommand`]s and
//! reports the dialog's progress as [`LegEvent`]s.
//!
//! If the call actor disappears (its command channel closes without a final command), the leg is
//! ended here: BYE when answered, 500 when not. A call is never left hanging on the wire.

use super::in_dialog::{
    allows, identity_value, in_dialog_options, local_addr_of, notify_refer, on_refer,
    reason_header, reinvite, sip_info_dtmf, update_identity, FINAL_WAIT, TRYING_WAIT,
};
use super::inspector::Annotated;
use rsipstack::dialog::dialog::{DialogState, TerminatedReason};
use rsipstack::dialog::invite_dialog::InviteDialog;
use rsipstack::sip::{Header, StatusCode};
use rsipstack::transaction::transaction::Transaction;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};
use tracing::{debug, info_span, Instrument};
use vpbx_actors::call::CallId;
use vpbx_actors::leg::{LegCommand, LegEvent};

pub(super) struct LegTask {
    pub call_id: CallId,
    pub dialog: InviteDialog,
    pub tx: Transaction,
    pub states: super::states::StateStream,
    pub commands: UnboundedReceiver<LegCommand>,
    pub events: UnboundedSender<LegEvent>,
    /// RFC 4028 session timer negotiated from the INVITE.
    pub session_timer: Option<super::timer::SessionTimer>,
    /// Headers for the messages the stack builds (the `Warning` of our rejection).
    pub annotations: std::sync::Arc<super::inspector::Annotations>,
    /// The call's place among the calls in setup: left at the call actor's first command.
    pub setup: Option<super::overload::SetupSlot>,
}

pub(super) async fn run(task: LegTask) {
    let span = info_span!("leg", call_id = %task.call_id);
    drive(task).instrument(span).await
}

// The leg's I/O shell: it arms the session-timer deadline on the tokio clock it sleeps on.
#[allow(clippy::disallowed_methods)]
async fn drive(task: LegTask) {
    let LegTask {
        call_id: _,
        dialog,
        mut tx,
        mut states,
        mut commands,
        events,
        session_timer,
        annotations,
        mut setup,
    } = task;
    let sip_call_id = dialog.id().call_id;
    // Session timer: when the caller refreshes, the session ends if no refresh arrives in time
    // (RFC 4028 §10: interval minus min(32 s, interval/3)); when we refresh, a re-INVITE with
    // our SDP goes out at half the interval.
    let timer_step = |t: &super::timer::SessionTimer| {
        let secs = u64::from(t.interval);
        match t.refresher {
            super::timer::Refresher::Uac => secs - (secs / 3).min(32),
            super::timer::Refresher::Uas => secs / 2,
        }
    };
    let mut timer_deadline: Option<tokio::time::Instant> = None;
    let mut last_sdp: Option<String> = None;
    // The INVITE server transaction: sends 100 Trying, then waits for the ACK or a CANCEL.
    // It is driven here, first in a biased select, so its first poll — which sends the 100 —
    // always happens before any command of the call actor (an early 200 would otherwise race
    // ahead of the 100).
    let mut tx_dialog = dialog.clone();
    let invite = async move {
        if let Err(e) = tx_dialog.handle(&mut tx).await {
            debug!(error = %e, "INVITE transaction ended with error");
        }
    };
    tokio::pin!(invite);
    let mut invite_done = false;
    let mut answered = false;
    // A REFER was accepted: our BYE is preceded by its final NOTIFY.
    let mut refer_pending = false;
    // Our last SDP answer's address and codec, reused to answer re-INVITEs.
    let mut local_media: Option<(std::net::SocketAddr, u64, u64)> = None;
    loop {
        tokio::select! {
            biased;
            () = &mut invite, if !invite_done => invite_done = true,
            cmd = next_command(&mut commands, &mut setup) => match cmd {
                Some(LegCommand::Ring) => {
                    dialog.ringing(None, None).ok();
                }
                Some(LegCommand::Progress { sdp }) => {
                    local_media = local_addr_of(&sdp);
                    let headers = vec![Header::ContentType("application/sdp".into())];
                    dialog.ringing(Some(headers), Some(sdp.into_bytes())).ok();
                }
                Some(LegCommand::Answer { sdp }) => {
                    local_media = local_addr_of(&sdp);
                    let mut headers = vec![
                        Header::ContentType("application/sdp".into()),
                        Header::Allow(super::ALLOW.into()),
                    ];
                    if let Some(t) = &session_timer {
                        headers.push(Header::SessionExpires(t.header_value().into()));
                        if t.require {
                            headers.push(Header::Require("timer".into()));
                        }
                        timer_deadline = Some(
                            tokio::time::Instant::now()
                                + std::time::Duration::from_secs(timer_step(t)),
                        );
                    }
                    last_sdp = Some(sdp.clone());
                    match dialog.accept(Some(headers), Some(sdp.into_bytes())) {
                        Ok(()) => answered = true,
                        Err(e) => {
                            let _ = events.send(LegEvent::Failed(format!("answer failed: {e}")));
                            break;
                        }
                    }
                }
                Some(LegCommand::Reject { code, reason }) => {
                    // The caller's phone shows why (RFC 3261 §20.43), e.g. who was busy.
                    annotations.set(
                        &sip_call_id,
                        Annotated::InviteRejection,
                        "Warning",
                        warning_value(&reason),
                    );
                    dialog
                        .reject(Some(StatusCode::from(code)), Some(reject_reason(code, &reason)))
                        .ok();
                    let _ = events.send(LegEvent::Ended);
                    break;
                }
                Some(LegCommand::ReferFailed { code }) => {
                    if refer_pending {
                        refer_pending = false;
                        notify_refer(
                            &dialog,
                            code,
                            "terminated;reason=noresource",
                            FINAL_WAIT,
                        )
                        .await;
                    }
                }
                Some(LegCommand::CompletedElsewhere) => {
                    // Not an outbound leg: end it like a hang-up.
                    end(&dialog, answered, 480, "call completed elsewhere").await;
                    let _ = events.send(LegEvent::Ended);
                    break;
                }
                Some(LegCommand::UpdateIdentity { display, number }) => {
                    if answered {
                        let invite = dialog.initial_request();
                        let host = invite.uri.host_with_port.to_string();
                        update_identity(
                            &dialog,
                            allows(invite.headers.iter(), "UPDATE"),
                            identity_value(&display, &number, &host),
                            last_sdp.clone(),
                        );
                    }
                }
                Some(LegCommand::Hangup { reason }) => {
                    if refer_pending {
                        notify_refer(
                            &dialog,
                            200,
                            "terminated;reason=noresource",
                            FINAL_WAIT,
                        )
                        .await;
                    }
                    if !answered {
                        annotations.set(
                            &sip_call_id,
                            Annotated::InviteRejection,
                            "Warning",
                            warning_value(&reason),
                        );
                    }
                    end(&dialog, answered, 480, &reason).await;
                    let _ = events.send(LegEvent::Ended);
                    break;
                }
                None => {
                    end(&dialog, answered, 500, "call ended by its supervisor").await;
                    break;
                }
            },
            () = sleep_until_opt(timer_deadline), if timer_deadline.is_some() => {
                let Some(t) = &session_timer else { break };
                match t.refresher {
                    super::timer::Refresher::Uac => {
                        end(&dialog, answered, 408, "session timer expired").await;
                        let _ = events.send(LegEvent::Failed("session timer expired".into()));
                        break;
                    }
                    super::timer::Refresher::Uas => {
                        let headers = vec![
                            Header::ContentType("application/sdp".into()),
                            Header::SessionExpires(t.header_value().into()),
                        ];
                        let body = last_sdp.clone().map(String::into_bytes);
                        if let Err(e) = dialog.reinvite(Some(headers), body).await {
                            debug!(error = %e, "session refresh failed");
                        }
                        timer_deadline = Some(
                            tokio::time::Instant::now()
                                + std::time::Duration::from_secs(timer_step(t)),
                        );
                    }
                }
            }
            st = states.recv() => match st {
                Some(DialogState::Confirmed(..)) => {
                    let _ = events.send(LegEvent::Confirmed);
                }
                Some(DialogState::Info(_, req, handle)) => {
                    match sip_info_dtmf(&req) {
                        Some((digit, duration_ms)) => {
                            let _ = events.send(LegEvent::Dtmf { digit, duration_ms });
                            handle.reply(StatusCode::OK).await.ok();
                        }
                        None => {
                            // RFC 6086 §4.2.2: an Info-Package we do not support.
                            handle.reply(StatusCode::from(469)).await.ok();
                        }
                    }
                }
                Some(DialogState::Options(_, _, handle)) => in_dialog_options(&handle).await,
                Some(DialogState::Notify(_, _, handle)) => {
                    // We subscribe to nothing (RFC 6665 §4.1.3).
                    handle.reply(StatusCode::from(481)).await.ok();
                }
                Some(DialogState::Message(_, _, handle)) => {
                    handle.reply(StatusCode::from(405)).await.ok();
                }
                Some(DialogState::Refer(_, req, handle)) => {
                    let accepted = on_refer(&req, &handle, &events).await;
                    refer_pending |= accepted.is_some();
                    if accepted == Some(false) {
                        notify_refer(
                            &dialog,
                            100,
                            "active;expires=60",
                            TRYING_WAIT,
                        )
                        .await;
                    }
                }
                Some(DialogState::Updated(_, req, handle)) => {
                    let extra = session_timer
                        .iter()
                        .map(|t| Header::SessionExpires(t.header_value().into()))
                        .collect();
                    if let Some(sdp) = reinvite(&req, &handle, &events, &mut local_media, extra).await {
                        last_sdp = Some(sdp);
                    }
                    if let (Some(t), Some(_)) = (&session_timer, timer_deadline) {
                        if t.refresher == super::timer::Refresher::Uac {
                            // The caller refreshed.
                            timer_deadline = Some(
                                tokio::time::Instant::now()
                                    + std::time::Duration::from_secs(timer_step(t)),
                            );
                        }
                    }
                }
                Some(DialogState::Terminated(_, why)) => {
                    let ev = match why {
                        TerminatedReason::UacCancel => LegEvent::Cancelled,
                        TerminatedReason::UacBye => LegEvent::RemoteHangup,
                        TerminatedReason::Timeout => LegEvent::Failed("no ACK for our answer".into()),
                        other => LegEvent::Failed(format!("dialog terminated: {other:?}")),
                    };
                    let _ = events.send(ev);
                    break;
                }
                Some(_) => {}
                None => break,
            }
        }
    }
    // A call that ended before its first answer is no longer in setup.
    drop(setup);
    // Let the INVITE transaction finish (ACK, CANCEL or its timers) so its final messages are
    // handled; bounded by the transaction layer's own timeouts.
    if !invite_done {
        let _ = tokio::time::timeout(std::time::Duration::from_secs(40), invite).await;
    }
    annotations.forget(&sip_call_id);
}

/// A `Warning` value (code 399, miscellaneous) with `text` made safe for a quoted string.
pub(super) fn warning_value(text: &str) -> String {
    let clean: String = text
        .chars()
        .filter(|c| !c.is_control() && *c != '"' && *c != '\\')
        .take(120)
        .collect();
    format!("399 vpbx \"{clean}\"")
}

/// The `Reason` of a final error response we send: the Q.850 cause that matches the status.
fn reject_reason(code: u16, text: &str) -> String {
    let cause = match code {
        486 | 600 => 17,
        480 | 408 => 19,
        _ => 16,
    };
    reason_header(text).replacen("cause=16", &format!("cause={cause}"), 1)
}

/// The call actor's next command; the first one ends the call's setup (its place among the
/// calls in setup is given back, [`super::overload`]).
async fn next_command(
    commands: &mut UnboundedReceiver<LegCommand>,
    setup: &mut Option<super::overload::SetupSlot>,
) -> Option<LegCommand> {
    let cmd = commands.recv().await;
    *setup = None;
    cmd
}

async fn sleep_until_opt(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

async fn end(dialog: &InviteDialog, answered: bool, code: u16, reason: &str) {
    if answered {
        if let Err(e) = dialog.bye_with_reason(reason_header(reason)).await {
            debug!(error = %e, "BYE failed");
        }
    } else {
        dialog
            .reject(Some(StatusCode::from(code)), Some(reason_header(reason)))
            .ok();
    }
}
