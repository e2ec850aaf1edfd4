//! The scenario interpreter: a pure state machine over one call's walk through its scenario.
//!
//! Contract: create a [`ScenarioRun`] with the scenario and a step budget, call
//! [`ScenarioRun::start`] once, then feed every result the call actor observes through
//! [`ScenarioRun::handle`]. Both return the [`Command`]s to execute, in order. The run is finished
//! once it has returned [`Command::Hangup`]; later inputs return nothing.
//!
//! Inputs carry the id of the command they answer, so a stale result (a `PlayDone` for a prompt
//! that was already cut short) is ignored instead of advancing the walk twice.
//!
//! Each operation lives in a file of its own under `ops/` with its `enter` (the commands it
//! starts with) and its `handle` (how it reacts to inputs); this module keeps the walk: start,
//! following exits, the step budget that ends loops ("scenario loop") and the menu stack. The
//! run has no clock: a wait is a [`Command::Timer`] whose firing comes back as
//! [`Input::TimerFired`]. The wall-clock time that branches on a schedule read is data too: the
//! call core passes it with each input ([`ScenarioRun::start_at`], [`ScenarioRun::handle_at`]),
//! and the caller's number and the configuration come with [`ScenarioRun::with_call`].

mod ops;

use super::forward::ForwardOutcome;
use super::numbering::Registries;
pub use super::speech::{SpeechAsk, SpeechResult};
pub use super::webhook::{WebhookCall, WebhookResult};
use ops::{OpState, Step};
use std::collections::BTreeMap;
use std::sync::Arc;
use vpbx_store::model::ops::MAX_NESTING;
use vpbx_store::model::{
    CompanyConfig, Event, Forward, ForwardTarget, OpName, Prompt, Scenario, ScenarioId,
};

/// What the call actor must do.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Answer the inbound leg (idempotent: the actor answers once).
    Answer,
    /// Play a prompt; report [`Input::PlayDone`] with this id.
    Play {
        /// Correlation id.
        id: u64,
        /// What to play.
        prompt: Prompt,
    },
    /// Send 180 Ringing (once) and wait `ms` unanswered; report [`Input::TimerFired`].
    Ring {
        /// Correlation id.
        id: u64,
        /// Milliseconds.
        ms: u32,
    },
    /// Send silence (answered) for `ms`; report [`Input::PlayDone`] with this id.
    Silence {
        /// Correlation id.
        id: u64,
        /// Milliseconds.
        ms: u32,
    },
    /// Echo the caller's audio back for at most `max_s`; report [`Input::EchoDone`].
    Echo {
        /// Correlation id.
        id: u64,
        /// Upper bound in seconds.
        max_s: u32,
    },
    /// Ring the forward operation's targets and connect the caller to whoever answers; report
    /// [`Input::ForwardDone`] when nobody answered, or when the talk ended on the employee's
    /// side. Does not answer the caller by itself.
    Forward {
        /// Correlation id.
        id: u64,
        /// The operation's settings.
        forward: Forward,
    },
    /// Voicemail: play `prompt` (if any) and a beep, then record; report
    /// [`Input::VoicemailDone`].
    Voicemail {
        /// Correlation id.
        id: u64,
        /// Played before the beep.
        prompt: Option<Prompt>,
        /// Maximum length in seconds.
        max_s: u32,
        /// Silence after speech that ends the message, seconds (0: never).
        silence_s: u32,
        /// Notification address.
        email: Option<String>,
    },
    /// Start a timer of `ms`; report [`Input::TimerFired`] with this id when it fires (a timer
    /// the run no longer waits for is ignored, so timers are never cancelled).
    Timer {
        /// Correlation id.
        id: u64,
        /// Milliseconds.
        ms: u32,
    },
    /// Barge-in: stop the prompt with this id now (its late `PlayDone` is ignored).
    StopPlay {
        /// The prompt's correlation id.
        id: u64,
    },
    /// Call the CRM (a webhook operation): the call core fills in the parameters' values and
    /// the shell sends the request; report [`Input::WebhookDone`] with this id. The run also
    /// sets a guard [`Command::Timer`] a little after the timeout, so a result that never comes
    /// cannot hold the call.
    Webhook {
        /// Correlation id.
        id: u64,
        /// What to send.
        call: WebhookCall,
    },
    /// Voice assistant: record the caller's answer (until the silence after it, `listen_ms`
    /// without a word, or `max_ms`) and post it to the speech service; report
    /// [`Input::SpeechDone`] with this id. The run sets a guard [`Command::Timer`] beside it.
    Listen {
        /// Correlation id.
        id: u64,
        /// What to listen for and ask.
        ask: SpeechAsk,
    },
    /// A step for the call detail.
    Event(Event),
    /// Count the calls from `caller` that ended at or after `since_unix_ms` (the call records);
    /// feed [`Input::CallsCounted`].
    CountCalls {
        /// Correlation id.
        id: u64,
        /// The caller's number.
        caller: String,
        /// The start of the look-back, ms since the Unix epoch.
        since_unix_ms: u64,
    },
    /// The escalation fired: whatever the call does for the running operation (prompts,
    /// ringing, the queue) stops; the commands that follow start the escalation's target.
    Interrupt,
    /// End the call with this reason. Always the last command of a run.
    Hangup {
        /// Why, for the CDR.
        reason: Ending,
    },
}

/// Why a scenario ended the call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    /// A hang-up operation, or an exit with no next operation.
    Finished(String),
    /// The scenario is broken (missing operation, step budget exhausted, failed prompt).
    Broken(String),
}

impl Ending {
    /// Human-readable reason.
    pub fn reason(&self) -> &str {
        match self {
            Ending::Finished(r) | Ending::Broken(r) => r,
        }
    }
}

/// A result fed back into the run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// The answer to [`Command::CountCalls`] (0 when the records could not be read).
    CallsCounted {
        /// Correlation id.
        id: u64,
        /// Calls found.
        calls: usize,
    },
    /// The prompt or silence with this id finished playing.
    PlayDone {
        /// Correlation id.
        id: u64,
    },
    /// The prompt with this id could not be played (file missing, unreadable).
    PlayFailed {
        /// Correlation id.
        id: u64,
        /// Why.
        why: String,
    },
    /// The echo with this id ended.
    EchoDone {
        /// Correlation id.
        id: u64,
    },
    /// The timer with this id fired.
    TimerFired {
        /// Correlation id.
        id: u64,
    },
    /// The voicemail with this id was recorded (or ended without a message).
    VoicemailDone {
        /// Correlation id.
        id: u64,
    },
    /// The forward operation with this id finished.
    ForwardDone {
        /// Correlation id.
        id: u64,
        /// How.
        outcome: ForwardOutcome,
    },
    /// The webhook request with this id ended: the CRM's reply, or why there was none.
    WebhookDone {
        /// Correlation id.
        id: u64,
        /// What came back.
        result: WebhookResult,
    },
    /// The voice assistant's listening and request with this id ended.
    SpeechDone {
        /// Correlation id.
        id: u64,
        /// What came of it.
        result: SpeechResult,
    },
    /// The caller pressed a key while the scenario runs (no talk in progress).
    Digit {
        /// `0-9`, `*`, `#`, `A-D`.
        digit: char,
    },
}

/// What the run is doing.
#[derive(Debug)]
enum State {
    /// Not started.
    Idle,
    /// The scenario's greeting plays (prompt `id`); the start operation follows.
    Greeting { id: u64 },
    /// An operation is executing.
    Running { op: OpName, st: OpState },
    /// The run returned `Hangup`.
    Done,
}

/// The extensions a menu's extension entry can reach: extension → what to ring.
pub type Extensions = BTreeMap<String, ForwardTarget>;

/// What the operations share: ids, whether the caller is answered, the menus walked through.
#[derive(Debug, Default)]
pub(crate) struct Ctx {
    next_id: u64,
    answered: bool,
    /// Menus entered, oldest first: `#` goes back to the one before the current menu.
    menus: Vec<OpName>,
    extensions: Arc<Extensions>,
    /// The configuration the call runs with (schedules, number lists, time zone, calendars).
    config: Arc<CompanyConfig>,
    /// The caller's number, as routing saw it.
    caller: String,
    /// Wall-clock time of the input being handled, milliseconds since the Unix epoch.
    unix_ms: u64,
    /// The armed escalation: its timer id, the escalation operation and its seconds.
    escalation: Option<(u64, OpName, u32)>,
    /// Sub-scenarios running inside one another now (0: the call's own scenario).
    depth: usize,
    /// The depth the armed escalation's operation runs at.
    escalation_depth: usize,
    /// The operator hint the last CRM webhook reply asked for: it beats the operator hint of
    /// the forwards that follow (SPEC §3 op 13, "the reply beats the panel setting").
    crm_hint: Option<Prompt>,
    /// The numbering plan region branches look the caller up in.
    registries: Arc<Registries>,
}

impl Ctx {
    /// A fresh correlation id.
    pub(crate) fn id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    /// Answers the caller, once.
    pub(crate) fn answer(&mut self, out: &mut Vec<Command>) {
        if !self.answered {
            self.answered = true;
            out.push(Command::Answer);
        }
    }
}

/// A scenario the run left for a sub-scenario: where it comes back to.
#[derive(Debug)]
struct Frame {
    scenario: Arc<Scenario>,
    /// The `insert_scenario` operation whose `next` the run goes on at.
    insert: OpName,
}

/// One call's walk through a scenario.
#[derive(Debug)]
pub struct ScenarioRun {
    /// The scenario running now (a sub-scenario while one runs).
    scenario: Arc<Scenario>,
    /// The scenarios that inserted the running one, outermost first.
    frames: Vec<Frame>,
    state: State,
    steps_left: u32,
    ctx: Ctx,
}

impl ScenarioRun {
    /// A run of `scenario` that may enter at most `step_budget` operations (loop guard).
    pub fn new(scenario: Arc<Scenario>, step_budget: u32) -> Self {
        ScenarioRun {
            scenario,
            frames: Vec::new(),
            state: State::Idle,
            steps_left: step_budget,
            ctx: Ctx {
                next_id: 1,
                ..Ctx::default()
            },
        }
    }

    /// The extensions menus with extension entry can forward to (none by default).
    pub fn with_extensions(mut self, extensions: Arc<Extensions>) -> Self {
        self.ctx.extensions = extensions;
        self
    }

    /// The configuration and the caller's number that branches read (schedules, number lists;
    /// an empty configuration and caller by default).
    pub fn with_call(mut self, config: Arc<CompanyConfig>, caller: impl Into<String>) -> Self {
        self.ctx.config = config;
        self.ctx.caller = caller.into();
        self
    }

    /// The admin-loaded numbering-plan registry files region branches read (none by default:
    /// the shipped data only).
    pub fn with_registries(mut self, registries: Arc<Registries>) -> Self {
        self.ctx.registries = registries;
        self
    }

    /// [`ScenarioRun::start`] at wall-clock time `unix_ms` (milliseconds since the Unix epoch).
    pub fn start_at(&mut self, unix_ms: u64) -> Vec<Command> {
        self.ctx.unix_ms = unix_ms;
        self.start()
    }

    /// [`ScenarioRun::handle`] at wall-clock time `unix_ms`: operations entered while handling
    /// the input see that time (a schedule branch decides on it).
    pub fn handle_at(&mut self, unix_ms: u64, input: Input) -> Vec<Command> {
        self.ctx.unix_ms = unix_ms;
        self.handle(input)
    }

    /// The scenario's id.
    pub fn scenario_id(&self) -> vpbx_store::model::ScenarioId {
        self.scenario.id
    }

    /// The operation running now.
    pub fn current_op(&self) -> Option<&str> {
        match &self.state {
            State::Running { op, .. } => Some(op.0.as_str()),
            _ => None,
        }
    }

    /// Whether the run has ended the call.
    pub fn is_done(&self) -> bool {
        matches!(self.state, State::Done)
    }

    /// Whether the caller's keys are secret now (a PIN operation runs): the call core leaves
    /// them out of the call's events.
    pub fn hides_digits(&self) -> bool {
        matches!(
            self.state,
            State::Running {
                st: ops::OpState::Pin(_),
                ..
            }
        )
    }

    /// Starts the walk at the scenario's start operation (at the last wall-clock time given,
    /// 0 if none).
    pub fn start(&mut self) -> Vec<Command> {
        if !matches!(self.state, State::Idle) {
            return Vec::new();
        }
        let mut out = vec![Command::Event(Event::ScenarioStarted {
            name: self.scenario.name.clone(),
        })];
        if let Some(prompt) = self.scenario.greeting.clone() {
            // The greeting melody: answered, played once, then the start operation.
            self.ctx.answer(&mut out);
            let id = self.ctx.id();
            out.push(Command::Play { id, prompt });
            self.state = State::Greeting { id };
            return out;
        }
        let start = self.scenario.start.clone();
        self.enter(start, &mut out);
        out
    }

    /// The ringback of the scenario running now, for forward operations that set none.
    pub fn ringback(&self) -> Option<&Prompt> {
        self.scenario.ringback.as_ref()
    }

    /// Whether the scenario running now presents the virtual number to employees.
    pub fn presents_virtual_number(&self) -> bool {
        self.scenario.present_virtual_number
    }

    /// Starts the walk at the operation `op` instead of the start operation, the caller
    /// already answered (a queue callback resumes at its forward operation). An operation that
    /// does not exist ends the run like a dangling exit.
    pub fn start_from(&mut self, unix_ms: u64, op: &str) -> Vec<Command> {
        if !matches!(self.state, State::Idle) {
            return Vec::new();
        }
        self.ctx.unix_ms = unix_ms;
        self.ctx.answered = true;
        let mut out = vec![Command::Event(Event::ScenarioStarted {
            name: self.scenario.name.clone(),
        })];
        self.enter(OpName(op.into()), &mut out);
        out
    }

    /// An employee answered the call: a pending escalation no longer applies.
    pub fn person_answered(&mut self) {
        self.ctx.escalation = None;
    }

    /// Feeds one result.
    pub fn handle(&mut self, input: Input) -> Vec<Command> {
        let mut out = Vec::new();
        if let Input::TimerFired { id } = input {
            if self
                .ctx
                .escalation
                .as_ref()
                .is_some_and(|(e, _, _)| *e == id)
            {
                self.escalate(&mut out);
                return out;
            }
        }
        if let State::Greeting { id } = self.state {
            match input {
                Input::PlayDone { id: i } | Input::PlayFailed { id: i, .. } if i == id => {
                    if let Input::PlayFailed { why, .. } = &input {
                        out.push(Command::Event(Event::PromptFailed {
                            why: format!("greeting: {why}, skipped"),
                        }));
                    }
                    self.state = State::Idle;
                    let start = self.scenario.start.clone();
                    self.enter(start, &mut out);
                }
                _ => {}
            }
            return out;
        }
        let State::Running { op, st } = &mut self.state else {
            return out;
        };
        let name = op.clone();
        let Some(operation) = self.scenario.operations.get(&name) else {
            return out;
        };
        let step = ops::handle(&mut self.ctx, &name, operation, st, input, &mut out);
        self.step(&name, step, &mut out);
        out
    }

    /// The escalation fired before an employee answered: the running operation is abandoned
    /// and the call goes on at the escalation operation's `escalated` exit.
    fn escalate(&mut self, out: &mut Vec<Command>) {
        let Some((_, op, after_s)) = self.ctx.escalation.take() else {
            return;
        };
        if matches!(self.state, State::Done) {
            return;
        }
        // Back to the scenario the escalation was armed in.
        while self.frames.len() > self.ctx.escalation_depth {
            if let Some(frame) = self.frames.pop() {
                self.scenario = frame.scenario;
            }
        }
        self.ctx.depth = self.frames.len();
        out.push(Command::Interrupt);
        out.push(Command::Event(Event::Note(format!(
            "{op}: escalated: no employee answered within {after_s} s"
        ))));
        self.follow(&op, "escalated", out);
    }

    fn step(&mut self, from: &OpName, step: Step, out: &mut Vec<Command>) {
        match step {
            Step::Stay => {}
            Step::Exit(exit) => self.follow(from, &exit, out),
            Step::Enter(next) => self.enter(next, out),
            Step::End(ending) => {
                out.push(Command::Event(Event::ExitTaken {
                    op: from.to_string(),
                    exit: "end_call".into(),
                }));
                self.finish(ending, out);
            }
        }
    }

    fn follow(&mut self, from: &OpName, exit: &str, out: &mut Vec<Command>) {
        if let Some(next) = self.exit_to(from, exit, out) {
            self.enter(next, out);
        }
    }

    /// Logs the exit and returns the operation it leads to; an exit that leads nowhere ends
    /// the call.
    fn exit_to(&mut self, from: &OpName, exit: &str, out: &mut Vec<Command>) -> Option<OpName> {
        out.push(Command::Event(Event::ExitTaken {
            op: from.to_string(),
            exit: exit.to_string(),
        }));
        let next = self
            .scenario
            .operations
            .get(from)
            .and_then(|op| op.exits.get(exit))
            .cloned();
        if next.is_none() {
            if let Some(frame) = self.frames.pop() {
                // The sub-scenario's path ends here: back to the scenario that inserted it.
                out.push(Command::Event(Event::Note(format!(
                    "sub-scenario '{}' done, back in '{}'",
                    self.scenario.name, frame.scenario.name
                ))));
                self.scenario = frame.scenario;
                self.ctx.depth = self.frames.len();
                return self.exit_to(&frame.insert, "next", out);
            }
            self.finish(
                Ending::Finished(format!("{from}: exit '{exit}' leads nowhere, call ended")),
                out,
            );
        }
        next
    }

    /// Enters `name`; an operation that decides at once (a branch) takes its exit here, in a
    /// loop rather than by recursion, so a chain of branches costs no stack.
    fn enter(&mut self, name: OpName, out: &mut Vec<Command>) {
        let mut name = name;
        loop {
            if self.steps_left == 0 {
                self.finish(
                    Ending::Broken(format!("step budget exhausted at '{name}' (scenario loop)")),
                    out,
                );
                return;
            }
            self.steps_left -= 1;
            let scenario = Arc::clone(&self.scenario);
            let Some(op) = scenario.operations.get(&name) else {
                self.finish(
                    Ending::Broken(format!("operation '{name}' does not exist")),
                    out,
                );
                return;
            };
            out.push(Command::Event(Event::OperationEntered {
                op: name.to_string(),
                kind: op.action.kind().to_string(),
            }));
            match ops::enter(&mut self.ctx, &name, &op.action, out) {
                Ok(ops::Entered::Run(st)) => {
                    self.state = State::Running { op: name, st };
                    return;
                }
                Ok(ops::Entered::Exit(exit)) => match self.exit_to(&name, &exit, out) {
                    Some(next) => name = next,
                    None => return,
                },
                Ok(ops::Entered::Insert(id)) => match self.insert(&name, id, out) {
                    Some(start) => name = start,
                    None => return,
                },
                Err(ending) => {
                    self.finish(ending, out);
                    return;
                }
            }
        }
    }

    /// `insert_scenario` operation `at` runs scenario `id`: answers its start operation, or
    /// ends the call (a missing scenario, nesting too deep).
    fn insert(&mut self, at: &OpName, id: ScenarioId, out: &mut Vec<Command>) -> Option<OpName> {
        let Some(sub) = self.ctx.config.scenario(id).cloned() else {
            self.finish(
                Ending::Broken(format!("{at}: scenario {id} does not exist")),
                out,
            );
            return None;
        };
        if self.frames.len() >= MAX_NESTING {
            self.finish(
                Ending::Broken(format!(
                    "{at}: sub-scenarios nested deeper than {MAX_NESTING} (scenario loop)"
                )),
                out,
            );
            return None;
        }
        out.push(Command::Event(Event::ScenarioStarted {
            name: sub.name.clone(),
        }));
        let sub = Arc::new(sub);
        let start = sub.start.clone();
        let parent = std::mem::replace(&mut self.scenario, sub);
        self.frames.push(Frame {
            scenario: parent,
            insert: at.clone(),
        });
        self.ctx.depth = self.frames.len();
        Some(start)
    }

    fn finish(&mut self, ending: Ending, out: &mut Vec<Command>) {
        self.state = State::Done;
        out.push(Command::Hangup { reason: ending });
    }
}

/// Helpers of the operations' unit tests.
#[cfg(test)]
pub(crate) mod testkit {
    pub(crate) use super::*;
    pub(crate) use std::collections::BTreeMap;
    pub(crate) use vpbx_store::model::{
        Action, Echo, FileId, HangUp, InfoMessage, ListBranch, Operation, Pause, Ring,
        ScheduleBranch, Voicemail,
    };

    pub(crate) fn op(action: Action, next: Option<&str>) -> Operation {
        Operation {
            action,
            exits: next
                .map(|n| BTreeMap::from([("next".to_string(), OpName(n.into()))]))
                .unwrap_or_default(),
        }
    }

    /// The first exit taken and the first note among `out` (a branch's decision and why).
    pub(crate) fn exit_and_note(out: &[Command]) -> (String, String) {
        let exit = out
            .iter()
            .find_map(|c| match c {
                Command::Event(Event::ExitTaken { exit, .. }) => Some(exit.clone()),
                _ => None,
            })
            .expect("an exit taken");
        let note = out
            .iter()
            .find_map(|c| match c {
                Command::Event(Event::Note(n)) => Some(n.clone()),
                _ => None,
            })
            .expect("a note");
        (exit, note)
    }

    pub(crate) fn scenario(ops: Vec<(&str, Operation)>) -> Arc<Scenario> {
        Arc::new(Scenario {
            id: vpbx_store::model::ScenarioId(1),
            name: "t".into(),
            start: OpName(ops[0].0.into()),
            operations: ops
                .into_iter()
                .map(|(n, o)| (OpName(n.into()), o))
                .collect(),
            record: false,
            greeting: None,
            ringback: None,
            present_virtual_number: false,
        })
    }

    pub(crate) fn without_traces(cmds: Vec<Command>) -> Vec<Command> {
        cmds.into_iter()
            .filter(|c| !matches!(c, Command::Event(_)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::testkit::*;

    #[test]
    fn loops_end_on_the_step_budget() {
        let s = scenario(vec![("a", op(Action::Pause(Pause { ms: 1 }), Some("a")))]);
        let mut run = ScenarioRun::new(s, 5);
        run.start();
        let mut last = Vec::new();
        for id in 1..=10 {
            last = run.handle(Input::PlayDone { id });
            if run.is_done() {
                break;
            }
        }
        assert!(run.is_done());
        assert!(matches!(
            last.last(),
            Some(Command::Hangup { reason: Ending::Broken(r) }) if r.contains("step budget")
        ));
    }

    #[test]
    fn missing_operation_is_broken() {
        let s = scenario(vec![("a", op(Action::Pause(Pause { ms: 1 }), Some("zzz")))]);
        let mut run = ScenarioRun::new(s, 10);
        run.start();
        let out = run.handle(Input::PlayDone { id: 1 });
        assert!(matches!(
            out.last(),
            Some(Command::Hangup { reason: Ending::Broken(r) }) if r.contains("zzz")
        ));
    }
}
