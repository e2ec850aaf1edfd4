//! Calls the switch places itself (SPEC §4.3 queue callbacks, §6.3 the call API). The caller's
//! leg is an outbound leg the actor dials first, with its own media offer; once it answers, the
//! call runs like any other, its caller answered from the start. A leg that is refused or not
//! answered in time ends the call with a record saying so.

use super::{CallActor, FromLeg};
use crate::core::call::{DialTarget, Dialog};
use crate::core::dist::board::{CallKey, Request};
use crate::leg::{DialRequest, LegCommand, LegEvent};
use actix::prelude::*;
use std::time::Duration;
use tracing::warn;
use vpbx_store::model::{CallEvent, CallResult, Event, HangupSide, LegCause};

/// Seconds the switch lets the leg it places ring before it gives up.
pub const RING_S: u64 = 40;

/// How the switch places the caller's leg of a call it starts itself.
#[derive(Debug, Clone)]
pub struct Origin {
    /// Who is rung first.
    pub target: DialTarget,
    /// The number presented to them.
    pub caller_id: String,
    /// The display name presented, if any.
    pub caller_name: Option<String>,
    /// A queue callback: the place it rejoins once the caller answers.
    pub callback: Option<CallbackPlace>,
    /// The first step of the call detail (why the switch places the call).
    pub first: Event,
}

/// The queue place a callback keeps (SPEC §4.3).
#[derive(Debug, Clone)]
pub struct CallbackPlace {
    /// The callback's key at the distributor (the call takes it over).
    pub key: CallKey,
    /// Its place in the queue.
    pub seq: u64,
    /// The distribution of the operation it waited in.
    pub request: Request,
    /// That forward operation (the scenario resumes there).
    pub op: String,
}

impl Origin {
    /// The call detail's first steps.
    pub(super) fn events(&self, at_unix_ms: u64) -> Vec<CallEvent> {
        vec![CallEvent {
            at_unix_ms,
            what: self.first.clone(),
        }]
    }
}

impl CallActor {
    /// Opens the caller's media, dials the caller with our offer, and waits for the answer.
    pub(super) fn place_caller(&mut self, origin: Origin, ctx: &mut Context<Self>) {
        let engine = self.deps.media.clone();
        ctx.wait(async move { engine.open_leg().await }.into_actor(self).map(
            move |res, act, ctx| {
                let _g = act.span.clone().entered();
                let media_leg = match res {
                    Ok(m) => m,
                    Err(e) => {
                        warn!(error = %e, "no media for the call placed");
                        act.not_placed(CallResult::Failed, format!("media unavailable: {e}"), ctx);
                        return;
                    }
                };
                let local = media_leg.local_addr();
                let offer =
                    vpbx_media::offer(local.ip(), local.port(), act.record.start_unix_ms, 1);
                act.caller.media_leg = Some(media_leg);
                let out = act.deps.dialer.dial(DialRequest {
                    call_id: act.id.0.clone(),
                    target: origin.target.clone(),
                    caller_id: origin.caller_id,
                    caller_name: origin.caller_name,
                    offer_sdp: offer,
                    replaces: None,
                });
                act.caller.commands = out.commands;
                act.caller.open = true;
                act.caller.placing = Some(origin.target);
                let mut events = out.events;
                let addr = ctx.address();
                ctx.spawn(
                    async move {
                        while let Some(ev) = events.recv().await {
                            addr.do_send(FromLeg(ev));
                        }
                    }
                    .into_actor(act),
                );
                ctx.run_later(Duration::from_secs(RING_S), |act, ctx| {
                    if act.caller.placing.is_some() {
                        let _g = act.span.clone().entered();
                        act.not_placed(
                            CallResult::NotAnswered,
                            format!("no answer in {RING_S} s"),
                            ctx,
                        );
                    }
                });
            },
        ));
    }

    /// An event of the caller's leg while it is being placed. Answers whether it was one.
    pub(super) fn placing_event(&mut self, ev: &LegEvent, ctx: &mut Context<Self>) -> bool {
        let Some(target) = self.caller.placing.clone() else {
            return false;
        };
        match ev {
            LegEvent::Ringing { .. } => {}
            LegEvent::Answered { answer, by, dialog } => {
                self.caller.placing = None;
                self.caller_answered(*answer, by, dialog.clone(), ctx);
            }
            LegEvent::Rejected {
                code,
                cause,
                reason,
            } => {
                let result = match cause {
                    LegCause::Busy => CallResult::Busy,
                    LegCause::NoAnswer | LegCause::Declined(_) => CallResult::NotAnswered,
                    _ => CallResult::Failed,
                };
                self.caller.open = false;
                self.not_placed(result, format!("{target}: {code} {reason}"), ctx);
            }
            LegEvent::Failed(why) => {
                self.caller.open = false;
                self.not_placed(CallResult::Failed, format!("{target}: {why}"), ctx);
            }
            _ => {}
        }
        true
    }

    /// The caller answered the leg the switch placed: the call starts, answered.
    fn caller_answered(
        &mut self,
        answer: vpbx_media::Negotiated,
        by: &str,
        dialog: Dialog,
        ctx: &mut Context<Self>,
    ) {
        self.caller.info.offer = answer;
        self.caller.info.sip_call_id = dialog.call_id.clone();
        self.caller.info.local_tag = dialog.local_tag.clone();
        self.caller.info.remote_tag = dialog.remote_tag.clone();
        self.register_dialog(dialog.call_id.clone(), ctx);
        self.core.caller_placed(dialog);
        self.note(format!("answered by {by}"));
        self.record.answer_unix_ms = Some(self.deps.clock.unix_ms());
        let fx = self.core.start(self.deps.clock.now());
        self.apply(fx, ctx);
    }

    /// The leg the switch placed was not answered: the call ends with `result`.
    fn not_placed(&mut self, result: CallResult, reason: String, ctx: &mut Context<Self>) {
        if self.caller.open {
            // Still ringing: CANCEL it.
            let _ = self.caller.commands.send(LegCommand::Hangup {
                reason: reason.clone(),
            });
            self.caller.open = false;
        }
        self.caller.placing = None;
        self.note(format!("the call placed was not answered: {reason}"));
        self.record.outcome = Some((result, HangupSide::Caller, reason));
        ctx.stop();
    }
}
