//! Calls the switch places itself (SPEC §4.3 queue callbacks, §6.3 the call API). The caller's
//! leg is an outbound leg the actor dials first, with its own media offer; once it answers, the
//! call runs like any other, its caller answered from the start. A leg that is refused or not
//! answered in time ends the call with a record saying so.

use super::{CallActor, CallSetup, FromLeg};
use crate::core::call::{DialTarget, Dialog};
use crate::core::dist::board::{CallKey, Request};
use crate::leg::{DialRequest, LegCommand, LegEvent};
use actix::prelude::*;
use std::sync::Arc;
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
                self.caller_answered(**answer, by, Dialog::clone(dialog), ctx);
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

/// What a call placed through the call API connects its first party to once they answer.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Connect {
    /// A number: an employee's extension (their phones ring) or an external number (through a
    /// trunk). Click-to-call: the employee is rung first, then the customer.
    Number {
        /// The number.
        number: String,
    },
    /// An employee: their phones ring (with their agent lines claimed, like any forward).
    Employee {
        /// The employee.
        id: vpbx_store::model::EmployeeId,
    },
    /// A scenario, from its start: a greeting, a menu, a queue (the call waits in it like an
    /// inbound caller, SPEC §4.3). Named by its id or by its name (run by name, SPEC §3).
    Scenario {
        /// The scenario's id.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<vpbx_store::model::ScenarioId>,
        /// The scenario's name (exact; else the one name equal ignoring case).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
    },
}

/// The scenario called `name`: the one with exactly that name, else the only one whose name
/// equals it ignoring case.
fn scenario_named<'a>(
    cfg: &'a vpbx_store::model::CompanyConfig,
    name: &str,
) -> Result<&'a vpbx_store::model::Scenario, PlaceError> {
    if let Some(s) = cfg.scenarios.iter().find(|s| s.name == name) {
        return Ok(s);
    }
    let mut like = cfg
        .scenarios
        .iter()
        .filter(|s| s.name.to_lowercase() == name.to_lowercase());
    match (like.next(), like.next()) {
        (Some(s), None) => Ok(s),
        (Some(_), Some(_)) => Err(refuse(
            "connect.name",
            "call.connect.scenario",
            format!(
                "several scenarios are named '{name}' ignoring case; give the exact name or the id"
            ),
        )),
        _ => Err(refuse(
            "connect.name",
            "call.connect.scenario",
            format!("no scenario is named '{name}'"),
        )),
    }
}

/// Why a call cannot be placed: the request's field and the rule it breaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlaceError {
    /// The field (`to`, `connect.id`, ...).
    pub field: &'static str,
    /// The rule's key (`call.to`, ...).
    pub rule: &'static str,
    /// In words.
    pub message: String,
}

fn refuse(field: &'static str, rule: &'static str, message: String) -> PlaceError {
    PlaceError {
        field,
        rule,
        message,
    }
}

/// A call the switch places through the call API (SPEC §6.3): it dials `to` first (an
/// employee's extension or an external number), presenting `caller_id` (one of the company's
/// virtual numbers; the first one when `None`), and once `to` answers connects them to
/// `connect`. The call then runs like any other, `to` as its caller, and leaves a call record.
pub fn api_call(
    cfg: Arc<vpbx_store::model::CompanyConfig>,
    to: &str,
    connect: &Connect,
    caller_id: Option<&str>,
) -> Result<CallSetup, PlaceError> {
    use crate::core::dialplan::{classify, direct_scenario, Dialled};
    use vpbx_store::model::ForwardTarget;
    let target = crate::core::dialplan::dial_target(&cfg, to).ok_or_else(|| {
        refuse(
            "to",
            "call.to",
            format!(
                "'{to}' is neither an employee's extension nor an external number (6 to 15 digits)"
            ),
        )
    })?;
    let presented = match caller_id {
        Some(n) => {
            if !cfg.numbers.iter().any(|v| v.number == n) {
                return Err(refuse(
                    "caller_id",
                    "call.caller_id",
                    format!("caller_id must be one of the company's virtual numbers, not '{n}'"),
                ));
            }
            n.to_string()
        }
        None => cfg
            .numbers
            .first()
            .map(|v| v.number.clone())
            .ok_or_else(|| {
                refuse(
                    "caller_id",
                    "call.caller_id",
                    "the company has no virtual number to present; add one".into(),
                )
            })?,
    };
    let (scenario, then) = match connect {
        Connect::Number { number } => {
            let target = match classify(&cfg, number) {
                Dialled::Employee(id, _) => ForwardTarget::Employee { id },
                Dialled::Group(id, _) => ForwardTarget::Group { id },
                Dialled::External(n) => ForwardTarget::External {
                    number: n,
                    timeout_s: None,
                },
                Dialled::Pickup(_) | Dialled::Unknown => {
                    return Err(refuse(
                        "connect.number",
                        "call.connect.number",
                        format!(
                            "'{number}' is neither an extension nor an external number (6 to 15 digits)"
                        ),
                    ))
                }
            };
            (
                direct_scenario(format!("call API: {to} → {number}"), target),
                format!("number {number}"),
            )
        }
        Connect::Employee { id } => {
            if cfg.employee(*id).is_none() {
                return Err(refuse(
                    "connect.id",
                    "call.connect.employee",
                    format!("no employee has id {id}"),
                ));
            }
            (
                direct_scenario(
                    format!("call API: {to} → employee {id}"),
                    ForwardTarget::Employee { id: *id },
                ),
                format!("employee {id}"),
            )
        }
        Connect::Scenario { id, name } => {
            let s = match (id, name) {
                (Some(id), None) => cfg.scenario(*id).ok_or_else(|| {
                    refuse(
                        "connect.id",
                        "call.connect.scenario",
                        format!("no scenario has id {id}"),
                    )
                })?,
                (None, Some(name)) => scenario_named(&cfg, name)?,
                _ => {
                    return Err(refuse(
                        "connect",
                        "call.connect.scenario",
                        "name the scenario by its id or by its name (one of them)".into(),
                    ))
                }
            };
            (s.clone(), format!("scenario {} ({})", s.id, s.name))
        }
    };
    Ok(CallSetup {
        call_id: crate::call::CallId::fresh(),
        leg: crate::leg::Leg::unplaced(to.to_string(), presented.clone()),
        routed: None,
        scenario: Arc::new(scenario),
        snapshot: cfg,
        outbound_caller_id: None,
        caller_line: None,
        origin: Some(Origin {
            target,
            caller_id: presented,
            caller_name: None,
            callback: None,
            first: Event::Originated {
                to: to.to_string(),
                then,
            },
        }),
    })
}
