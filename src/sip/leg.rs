//! The task that owns one inbound leg's dialog: it executes the call actor's [`LegCommand`]s and
//! reports the dialog's progress as [`LegEvent`]s.
//!
//! If the call actor disappears (its command channel closes without a final command), the leg is
//! ended here: BYE when answered, 500 when not. A call is never left hanging on the wire.

use rsipstack::dialog::dialog::{DialogState, DialogStateReceiver, TerminatedReason};
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
    pub states: DialogStateReceiver,
    pub commands: UnboundedReceiver<LegCommand>,
    pub events: UnboundedSender<LegEvent>,
}

/// `Reason` header value for a BYE we send (RFC 3326).
fn reason_header(text: &str) -> String {
    let clean: String = text
        .chars()
        .filter(|c| !c.is_control() && *c != '"' && *c != '\\')
        .take(120)
        .collect();
    format!("Q.850;cause=16;text=\"{clean}\"")
}

pub(super) async fn run(task: LegTask) {
    let span = info_span!("leg", call_id = %task.call_id);
    drive(task).instrument(span).await
}

async fn drive(task: LegTask) {
    let LegTask {
        call_id: _,
        dialog,
        mut tx,
        mut states,
        mut commands,
        events,
    } = task;
    // The INVITE server transaction: sends 100 Trying, then waits for the ACK or a CANCEL.
    let mut tx_dialog = dialog.clone();
    let invite = tokio::spawn(async move {
        if let Err(e) = tx_dialog.handle(&mut tx).await {
            debug!(error = %e, "INVITE transaction ended with error");
        }
    });
    let mut answered = false;
    loop {
        tokio::select! {
            cmd = commands.recv() => match cmd {
                Some(LegCommand::Ring) => {
                    dialog.ringing(None, None).ok();
                }
                Some(LegCommand::Answer { sdp }) => {
                    let headers = vec![Header::ContentType("application/sdp".into())];
                    match dialog.accept(Some(headers), Some(sdp.into_bytes())) {
                        Ok(()) => answered = true,
                        Err(e) => {
                            let _ = events.send(LegEvent::Failed(format!("answer failed: {e}")));
                            break;
                        }
                    }
                }
                Some(LegCommand::Reject { code, reason }) => {
                    dialog.reject(Some(StatusCode::from(code)), Some(reason_header(&reason))).ok();
                    let _ = events.send(LegEvent::Ended);
                    break;
                }
                Some(LegCommand::Hangup { reason }) => {
                    end(&dialog, answered, 480, &reason).await;
                    let _ = events.send(LegEvent::Ended);
                    break;
                }
                None => {
                    end(&dialog, answered, 500, "call ended by its supervisor").await;
                    break;
                }
            },
            st = states.recv() => match st {
                Some(DialogState::Confirmed(..)) => {
                    let _ = events.send(LegEvent::Confirmed);
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
    // The transaction task ends on its own once the ACK/CANCEL arrived or its timers fired; it
    // never outlives the transaction layer's timeouts.
    drop(invite);
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
