//! The scenario interpreter: a pure state machine over one call's walk through its scenario.
//!
//! Contract: create a [`ScenarioRun`] with the scenario and a step budget, call
//! [`ScenarioRun::start`] once, then feed every result the call actor observes through
//! [`ScenarioRun::handle`]. Both return the [`Command`]s to execute, in order. The run is finished
//! once it has returned [`Command::Hangup`]; later inputs return nothing.
//!
//! Inputs carry the id of the command they answer, so a stale result (a `PlayDone` for a prompt
//! that was already cut short) is ignored instead of advancing the walk twice.

use super::forward::ForwardOutcome;
use std::sync::Arc;
use vpbx_store::model::{
    Action, Echo, Event, Forward, InfoMessage, OpName, Pause, Prompt, Ring, Scenario, Voicemail,
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
    /// A step for the call detail.
    Event(Event),
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
}

/// What the run is waiting for.
#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    /// Not started.
    Idle,
    /// An operation is executing and waits for the result with this id.
    Waiting { op: OpName, id: u64 },
    /// The run returned `Hangup`.
    Done,
}

/// One call's walk through a scenario.
#[derive(Debug)]
pub struct ScenarioRun {
    scenario: Arc<Scenario>,
    state: State,
    steps_left: u32,
    next_id: u64,
    answered: bool,
}

impl ScenarioRun {
    /// A run of `scenario` that may enter at most `step_budget` operations (loop guard).
    pub fn new(scenario: Arc<Scenario>, step_budget: u32) -> Self {
        ScenarioRun {
            scenario,
            state: State::Idle,
            steps_left: step_budget,
            next_id: 1,
            answered: false,
        }
    }

    /// Whether the run has ended the call.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Starts the walk at the scenario's start operation.
    pub fn start(&mut self) -> Vec<Command> {
        if self.state != State::Idle {
            return Vec::new();
        }
        let mut out = vec![Command::Event(Event::ScenarioStarted {
            name: self.scenario.name.clone(),
        })];
        let start = self.scenario.start.clone();
        self.enter(start, &mut out);
        out
    }

    /// Feeds one result.
    pub fn handle(&mut self, input: Input) -> Vec<Command> {
        let (op, waiting_id) = match &self.state {
            State::Waiting { op, id } => (op.clone(), *id),
            State::Idle | State::Done => return Vec::new(),
        };
        let mut out = Vec::new();
        match input {
            Input::PlayDone { id }
            | Input::EchoDone { id }
            | Input::TimerFired { id }
            | Input::VoicemailDone { id }
                if id == waiting_id =>
            {
                self.follow(&op, "next", &mut out);
            }
            Input::ForwardDone { id, outcome } if id == waiting_id => {
                if outcome == ForwardOutcome::Answered {
                    // The talk answered the caller.
                    self.answered = true;
                }
                self.follow(&op, outcome.exit(), &mut out);
            }
            Input::PlayFailed { id, why } if id == waiting_id => {
                // A prompt that cannot be played is skipped, as a PBX would do, and logged in the
                // call detail: the caller is never lost because a file is missing.
                out.push(Command::Event(Event::PromptFailed {
                    why: format!("{op}: {why}, skipped"),
                }));
                self.follow(&op, "next", &mut out);
            }
            _ => {}
        }
        out
    }

    fn follow(&mut self, from: &OpName, exit: &str, out: &mut Vec<Command>) {
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
        match next {
            Some(next) => self.enter(next, out),
            None => self.finish(
                Ending::Finished(format!("{from}: exit '{exit}' leads nowhere, call ended")),
                out,
            ),
        }
    }

    fn enter(&mut self, name: OpName, out: &mut Vec<Command>) {
        if self.steps_left == 0 {
            self.finish(
                Ending::Broken(format!("step budget exhausted at '{name}' (scenario loop)")),
                out,
            );
            return;
        }
        self.steps_left -= 1;
        let Some(op) = self.scenario.operations.get(&name) else {
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
        let action = op.action.clone();
        match action {
            Action::InfoMessage(InfoMessage { prompt }) => {
                self.answer(out);
                let id = self.wait(name);
                out.push(Command::Play { id, prompt });
            }
            Action::Ring(Ring { ms }) => {
                let id = self.wait(name);
                out.push(Command::Ring { id, ms });
            }
            Action::Pause(Pause { ms }) => {
                self.answer(out);
                let id = self.wait(name);
                out.push(Command::Silence { id, ms });
            }
            Action::Echo(Echo { max_s }) => {
                self.answer(out);
                let id = self.wait(name);
                out.push(Command::Echo { id, max_s });
            }
            Action::Voicemail(Voicemail {
                prompt,
                max_s,
                silence_s,
                email,
            }) => {
                self.answer(out);
                let id = self.wait(name);
                out.push(Command::Voicemail {
                    id,
                    prompt,
                    max_s,
                    silence_s,
                    email,
                });
            }
            Action::Forward(forward) => {
                let id = self.wait(name);
                out.push(Command::Forward { id, forward });
            }
            Action::HangUp(_) => {
                self.finish(Ending::Finished(format!("{name}: hang up")), out);
            }
        }
    }

    fn answer(&mut self, out: &mut Vec<Command>) {
        if !self.answered {
            self.answered = true;
            out.push(Command::Answer);
        }
    }

    fn wait(&mut self, op: OpName) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        self.state = State::Waiting { op, id };
        id
    }

    fn finish(&mut self, ending: Ending, out: &mut Vec<Command>) {
        self.state = State::Done;
        out.push(Command::Hangup { reason: ending });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use vpbx_store::model::{FileId, HangUp, Operation};

    fn op(action: Action, next: Option<&str>) -> Operation {
        Operation {
            action,
            exits: next
                .map(|n| BTreeMap::from([("next".to_string(), OpName(n.into()))]))
                .unwrap_or_default(),
        }
    }

    fn scenario(ops: Vec<(&str, Operation)>) -> Arc<Scenario> {
        Arc::new(Scenario {
            id: vpbx_store::model::ScenarioId(1),
            name: "t".into(),
            start: OpName(ops[0].0.into()),
            operations: ops
                .into_iter()
                .map(|(n, o)| (OpName(n.into()), o))
                .collect(),
            record: false,
        })
    }

    fn without_traces(cmds: Vec<Command>) -> Vec<Command> {
        cmds.into_iter()
            .filter(|c| !matches!(c, Command::Event(_)))
            .collect()
    }

    #[test]
    fn greeting_then_hang_up() {
        let s = scenario(vec![
            (
                "greet",
                op(
                    Action::InfoMessage(InfoMessage {
                        prompt: Prompt::File { id: FileId(1) },
                    }),
                    Some("bye"),
                ),
            ),
            ("bye", op(Action::HangUp(HangUp {}), None)),
        ]);
        let mut run = ScenarioRun::new(s, 100);
        assert_eq!(
            without_traces(run.start()),
            vec![
                Command::Answer,
                Command::Play {
                    id: 1,
                    prompt: Prompt::File { id: FileId(1) }
                }
            ]
        );
        // A stale id does nothing.
        assert!(run.handle(Input::PlayDone { id: 7 }).is_empty());
        let out = without_traces(run.handle(Input::PlayDone { id: 1 }));
        assert!(matches!(
            out.as_slice(),
            [Command::Hangup {
                reason: Ending::Finished(_)
            }]
        ));
        assert!(run.is_done());
        assert!(run.handle(Input::PlayDone { id: 1 }).is_empty());
    }

    #[test]
    fn answer_is_issued_once_and_pause_then_missing_exit_ends() {
        let s = scenario(vec![
            ("a", op(Action::Pause(Pause { ms: 500 }), Some("b"))),
            ("b", op(Action::Pause(Pause { ms: 10 }), None)),
        ]);
        let mut run = ScenarioRun::new(s, 100);
        assert_eq!(
            without_traces(run.start()),
            vec![Command::Answer, Command::Silence { id: 1, ms: 500 }]
        );
        assert_eq!(
            without_traces(run.handle(Input::PlayDone { id: 1 })),
            vec![Command::Silence { id: 2, ms: 10 }]
        );
        let out = run.handle(Input::PlayDone { id: 2 });
        assert!(matches!(
            out.last(),
            Some(Command::Hangup { reason: Ending::Finished(r) }) if r.contains("leads nowhere")
        ));
    }

    #[test]
    fn ring_waits_unanswered_then_continues() {
        let s = scenario(vec![
            ("r", op(Action::Ring(Ring { ms: 3000 }), Some("p"))),
            ("p", op(Action::Pause(Pause { ms: 10 }), None)),
        ]);
        let mut run = ScenarioRun::new(s, 10);
        assert_eq!(
            without_traces(run.start()),
            vec![Command::Ring { id: 1, ms: 3000 }]
        );
        assert_eq!(
            without_traces(run.handle(Input::TimerFired { id: 1 })),
            vec![Command::Answer, Command::Silence { id: 2, ms: 10 }]
        );
    }

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
    fn failed_prompt_is_skipped_not_fatal() {
        let s = scenario(vec![
            (
                "a",
                op(
                    Action::InfoMessage(InfoMessage {
                        prompt: Prompt::File { id: FileId(9) },
                    }),
                    Some("e"),
                ),
            ),
            ("e", op(Action::Echo(Echo { max_s: 3 }), None)),
        ]);
        let mut run = ScenarioRun::new(s, 10);
        run.start();
        let out = without_traces(run.handle(Input::PlayFailed {
            id: 1,
            why: "no such file".into(),
        }));
        assert_eq!(out, vec![Command::Echo { id: 2, max_s: 3 }]);
    }

    #[test]
    fn forward_follows_the_exit_of_its_outcome_and_counts_the_talk_as_answered() {
        let fwd = Forward {
            targets: vec![],
            mode: Default::default(),
            max_wait_s: None,
            ringback: None,
            present_virtual_number: false,
        };
        let mut ops = vec![
            (
                "f",
                Operation {
                    action: Action::Forward(fwd.clone()),
                    exits: BTreeMap::from([
                        ("answered".to_string(), OpName("p".into())),
                        ("busy".to_string(), OpName("p".into())),
                    ]),
                },
            ),
            ("p", op(Action::Pause(Pause { ms: 5 }), None)),
        ];
        let mut run = ScenarioRun::new(scenario(ops.clone()), 10);
        assert_eq!(
            without_traces(run.start()),
            vec![Command::Forward {
                id: 1,
                forward: fwd.clone()
            }]
        );
        // After a talk the caller is answered already: no second Answer.
        assert_eq!(
            without_traces(run.handle(Input::ForwardDone {
                id: 1,
                outcome: ForwardOutcome::Answered
            })),
            vec![Command::Silence { id: 2, ms: 5 }]
        );
        ops.truncate(2);
        let mut run = ScenarioRun::new(scenario(ops), 10);
        run.start();
        assert_eq!(
            without_traces(run.handle(Input::ForwardDone {
                id: 1,
                outcome: ForwardOutcome::Busy
            })),
            vec![Command::Answer, Command::Silence { id: 2, ms: 5 }]
        );
        // no_answer has no exit: the call ends.
        let mut run = ScenarioRun::new(
            scenario(vec![(
                "f",
                Operation {
                    action: Action::Forward(fwd),
                    exits: BTreeMap::new(),
                },
            )]),
            10,
        );
        run.start();
        let out = run.handle(Input::ForwardDone {
            id: 1,
            outcome: ForwardOutcome::NoAnswer,
        });
        assert!(matches!(out.last(), Some(Command::Hangup { .. })));
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
