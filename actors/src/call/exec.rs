//! The effect executor: the one place a call's effects happen. Each arm is mechanical — the
//! decision was the core's.

use super::{CallActor, FromParty, JoinRequest, Party, PartyEvent};
use crate::core::call::{DialTarget, Effect, Input, Listener, PartyId, Signal};
use crate::core::scenario::Command;
use crate::leg::{DialRequest, LegCommand};
use actix::prelude::*;
use std::sync::Arc;
use tracing::{debug, warn};
use vpbx_media::Prompt as MediaPrompt;
use vpbx_store::model::{HangupSide, LegCause};

impl CallActor {
    /// Carries out one effect. Returns an input for the core when the effect failed at once.
    pub(super) fn exec(&mut self, effect: Effect, ctx: &mut Context<Self>) -> Option<Input> {
        match effect {
            Effect::RingCaller => self.send_leg(LegCommand::Ring),
            Effect::ProgressCaller => {
                if let Some(sdp) = self.start_caller_media(ctx) {
                    self.send_leg(LegCommand::Progress { sdp });
                }
            }
            Effect::AnswerCaller => {
                let Some(sdp) = self.start_caller_media(ctx) else {
                    return Some(Input::AnswerFailed("no media leg to answer with".into()));
                };
                self.send_leg(LegCommand::Answer { sdp });
                self.record.answer_unix_ms = Some(self.deps.clock.unix_ms());
            }
            Effect::HangupCaller { reason } => {
                self.send_leg(LegCommand::Hangup { reason });
                self.caller.open = false;
            }
            Effect::RejectCaller { code, reason } => {
                self.send_leg(LegCommand::Reject { code, reason })
            }
            Effect::Media(cmd) => self.media_command(cmd, ctx),
            Effect::Dial {
                party,
                target,
                caller_id,
                caller_name,
                agent,
            } => self.claim_then_dial(party, target, caller_id, caller_name, agent, ctx),
            Effect::Release { party, reason } => {
                self.dialling.remove(&party);
                if let Some(p) = self.parties.remove(&party) {
                    p.release(&reason);
                }
                self.free_agent(party);
            }
            Effect::LoseFork { party } => {
                self.dialling.remove(&party);
                if let Some(p) = self.parties.remove(&party) {
                    p.lose();
                }
                self.free_agent(party);
            }
            acd @ (Effect::Distribute { .. }
            | Effect::JoinQueue { .. }
            | Effect::LeaveQueue
            | Effect::OfferEnded
            | Effect::DeclineOffer { .. }
            | Effect::AskPlace
            | Effect::QueuePass { .. }
            | Effect::AgentTalking { .. }
            | Effect::Hint { .. }
            | Effect::RequestCallback { .. }
            | Effect::Say { .. }) => return self.exec_acd(acd, ctx),
            Effect::UpdateIdentity {
                to,
                display,
                number,
            } => {
                let cmd = LegCommand::UpdateIdentity {
                    display: display.into(),
                    number: number.into(),
                };
                match to {
                    Listener::Caller => self.send_leg(cmd),
                    Listener::Party(id) => {
                        if let Some(p) = self.parties.get(&id) {
                            let _ = p.commands.send(cmd);
                        }
                    }
                }
            }
            Effect::ReferFailed { party, code } => {
                if let Some(p) = self.parties.get(&party) {
                    let _ = p.commands.send(LegCommand::ReferFailed { code });
                }
            }
            Effect::Bridge { party } => {
                self.start_party_media(party, ctx);
                let (Some(caller), Some(far)) = (
                    self.caller.media.clone(),
                    self.media_of(Listener::Party(party)),
                ) else {
                    return None;
                };
                caller.stop_output();
                if let Some(b) = self.caller.bridge.take() {
                    b.unbridge();
                }
                match self.deps.media.bridge(&caller, &far) {
                    Ok(b) => self.caller.bridge = Some(b),
                    Err(e) => warn!(error = %e, "bridge failed"),
                }
            }
            Effect::Unbridge => {
                if let Some(b) = self.caller.bridge.take() {
                    b.unbridge();
                }
            }
            Effect::Ringback { prompt } => self.ringback(prompt),
            Effect::MusicOnHold { to } => self.music_on_hold(to),
            Effect::StopOutput { of } => {
                // Stopping the output resumes a bridge (links resume after a prompt).
                if let Some(m) = self.media_of(of) {
                    m.stop_output();
                }
            }
            Effect::Join { replaces, keep } => return self.join(replaces, keep, ctx),
            Effect::StartRecording => self.start_recording(),
            Effect::StopRecording => self.stop_recording(),
            Effect::Event(e) => self.event(e),
            Effect::Webhook { id, request } => self.webhook(id, request, ctx),
            Effect::End {
                result,
                side,
                reason,
            } => {
                debug!(result = result.as_str(), %reason, "call ending");
                if side != HangupSide::Caller {
                    self.send_leg(LegCommand::Hangup {
                        reason: reason.clone(),
                    });
                }
                self.caller.open = false;
                self.release_all(&reason);
                self.record.outcome = Some((result, side, reason));
                ctx.stop();
            }
        }
        None
    }

    fn media_command(&mut self, cmd: Command, ctx: &mut Context<Self>) {
        match cmd {
            Command::Play { id, prompt } => self.play(id, prompt, ctx),
            Command::Silence { id, ms } => {
                if let Some(media) = &self.caller.media {
                    media.play(id, Arc::new(MediaPrompt::silence(ms)));
                }
            }
            Command::Echo { id, max_s } => {
                if let Some(media) = &self.caller.media {
                    media.echo(id, std::time::Duration::from_secs(u64::from(max_s)));
                }
            }
            Command::Voicemail {
                id,
                prompt,
                max_s,
                silence_s,
                email,
            } => self.start_voicemail(id, prompt, max_s, silence_s, email, ctx),
            Command::CountCalls {
                id,
                caller,
                since_unix_ms,
            } => self.count_calls(id, caller, since_unix_ms, ctx),
            Command::Listen { id, ask } => self.listen(id, ask, ctx),
            // The core handles the rest itself.
            Command::Answer
            | Command::Ring { .. }
            | Command::Forward { .. }
            | Command::Webhook { .. }
            | Command::Timer { .. }
            | Command::StopPlay { .. }
            | Command::Interrupt
            | Command::Event(_)
            | Command::Hangup { .. } => {}
        }
    }

    /// Opens media for a party, then dials it with our offer; its leg and media events come
    /// back tagged with the party.
    pub(super) fn dial(
        &mut self,
        party: PartyId,
        target: DialTarget,
        caller_id: String,
        caller_name: Option<String>,
        ctx: &mut Context<Self>,
    ) {
        let engine = self.deps.media.clone();
        let employee = self.media_snapshot_employee(&target);
        self.dialling.insert(party);
        ctx.spawn(async move { engine.open_leg().await }.into_actor(self).map(
            move |res, act, ctx| {
                let _g = act.span.clone().entered();
                if !act.dialling.remove(&party) {
                    // Released while its media was opening.
                    return;
                }
                let media_leg = match res {
                    Ok(m) => m,
                    Err(e) => {
                        warn!(error = %e, "no media for an outbound party");
                        let s = Signal::Rejected {
                            code: 503,
                            cause: LegCause::Failed,
                        };
                        act.feed(Input::Party(party, s), ctx);
                        return;
                    }
                };
                let local = media_leg.local_addr();
                let offer =
                    vpbx_media::offer(local.ip(), local.port(), act.record.start_unix_ms, 1);
                let out = act.deps.dialer.dial(DialRequest {
                    call_id: act.id.0.clone(),
                    target,
                    caller_id,
                    caller_name,
                    offer_sdp: offer,
                    replaces: None,
                });
                act.parties.insert(
                    party,
                    Party {
                        commands: out.commands,
                        media_leg: Some(media_leg),
                        media: None,
                        remote: None,
                        employee,
                    },
                );
                let mut events = out.events;
                let addr = ctx.address();
                ctx.spawn(
                    async move {
                        while let Some(event) = events.recv().await {
                            addr.do_send(FromParty(party, PartyEvent::Leg(event)));
                        }
                    }
                    .into_actor(act),
                );
            },
        ));
    }

    /// The employee behind a dialled line, for the recordings' metadata.
    fn media_snapshot_employee(
        &self,
        target: &DialTarget,
    ) -> Option<vpbx_store::model::EmployeeId> {
        let DialTarget::Line { line, .. } = target else {
            return None;
        };
        self.deps_snapshot()
            .employees
            .iter()
            .find(|e| {
                e.phones
                    .iter()
                    .any(|p| matches!(p, vpbx_store::model::Phone::SipLine(l) if l.id == *line))
            })
            .map(|e| e.id)
    }

    /// Attended transfer: asks the call holding the named dialog to take our side `keep`.
    fn join(
        &mut self,
        replaces: crate::leg::Replaces,
        keep: Listener,
        ctx: &mut Context<Self>,
    ) -> Option<Input> {
        let partner = self.deps.dialogs.get(&replaces.call_id);
        let (Some(partner), Some(media)) = (partner, self.media_of(keep)) else {
            return Some(Input::Joined(Err(
                "the replaced call is not on this box".into()
            )));
        };
        if partner == ctx.address() {
            return Some(Input::Joined(Err("a call cannot replace itself".into())));
        }
        let me = ctx.address();
        let identity = self.core.identity(keep);
        partner
            .send(JoinRequest {
                replaces,
                partner: me,
                media,
                identity,
            })
            .into_actor(self)
            .map(move |res, act, ctx| {
                let _g = act.span.clone().entered();
                let res = match res {
                    Ok(Ok((partner, (display, number)))) => {
                        act.joined = Some(partner);
                        // Our remaining phone learns who it talks to now.
                        let fx = vec![Effect::UpdateIdentity {
                            to: keep,
                            display,
                            number,
                        }];
                        act.apply(fx, ctx);
                        Ok(())
                    }
                    Ok(Err(why)) => Err(why),
                    Err(e) => Err(e.to_string()),
                };
                act.feed(Input::Joined(res), ctx);
            })
            .wait(ctx);
        None
    }
}

impl CallActor {
    /// The repeat-call branch's question, answered from the call records off the call's thread;
    /// without records (no store, a read error) the caller counts as calling for the first time.
    fn count_calls(
        &mut self,
        id: u64,
        caller: String,
        since_unix_ms: u64,
        ctx: &mut Context<Self>,
    ) {
        use crate::core::scenario::Input as Scenario;
        let Some(store) = self.deps.store.clone() else {
            self.feed(
                Input::Scenario(Scenario::CallsCounted { id, calls: 0 }),
                ctx,
            );
            return;
        };
        let ask =
            tokio::task::spawn_blocking(move || store.calls_from_since(&caller, since_unix_ms, 1));
        ctx.spawn(ask.into_actor(self).map(move |res, act, ctx| {
            let _g = act.span.clone().entered();
            let calls = match res {
                Ok(Ok(n)) => n,
                Ok(Err(e)) => {
                    warn!(error = %e, "call records not read; counted as a first call");
                    0
                }
                Err(e) => {
                    warn!(error = %e, "call records look-up failed; counted as a first call");
                    0
                }
            };
            act.feed(Input::Scenario(Scenario::CallsCounted { id, calls }), ctx);
        }));
    }
}
