//! PIN (SPEC §3 op 7): answer, play the prompt (optional), collect a code, compare it.
//!
//! - Digits are collected until `#`, until as many digits as the longest code, or until
//!   `timeout_s` passes without a digit (inter-digit timeout, as in the menu); then the entry is
//!   judged. Nothing typed within `timeout_s` takes `timeout`.
//! - A digit typed while the prompt plays cuts it short (barge-in) and counts.
//! - A wrong code before the last of `attempts` plays the prompt again (a new attempt); the
//!   last wrong one takes `incorrect`.
//! - The digits never leave this file: the call's events get `pin_input` with the attempt, the
//!   number of digits and the outcome, and the call core leaves the caller's `digit` events out
//!   while a PIN runs ([`super::super::ScenarioRun::hides_digits`]).

use super::{Command, Ctx, Input, OpState, Step};
use vpbx_store::model::{Event, OpName, Pin};

/// A running PIN operation.
#[derive(Debug)]
pub(crate) struct PinState {
    phase: Phase,
    /// Digits typed so far in this attempt.
    typed: String,
    /// The attempt, from 1.
    attempt: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// The prompt with this id plays (a digit cuts it short).
    Prompt(u64),
    /// Waiting for a digit until the timer with this id fires.
    Wait(u64),
}

pub(super) fn enter(ctx: &mut Ctx, p: &Pin, out: &mut Vec<Command>) -> OpState {
    ctx.answer(out);
    OpState::Pin(PinState {
        phase: begin(ctx, p, out),
        typed: String::new(),
        attempt: 1,
    })
}

/// The prompt, or the wait at once without one.
fn begin(ctx: &mut Ctx, p: &Pin, out: &mut Vec<Command>) -> Phase {
    match &p.prompt {
        Some(prompt) => {
            let id = ctx.id();
            out.push(Command::Play {
                id,
                prompt: prompt.clone(),
            });
            Phase::Prompt(id)
        }
        None => wait(ctx, p, out),
    }
}

fn wait(ctx: &mut Ctx, p: &Pin, out: &mut Vec<Command>) -> Phase {
    let id = ctx.id();
    out.push(Command::Timer {
        id,
        ms: p.timeout_s.saturating_mul(1000),
    });
    Phase::Wait(id)
}

pub(super) fn handle(
    ctx: &mut Ctx,
    name: &OpName,
    p: &Pin,
    st: &mut PinState,
    input: Input,
    out: &mut Vec<Command>,
) -> Step {
    match (st.phase, input) {
        (Phase::Prompt(id), Input::PlayDone { id: i }) if i == id => {
            st.phase = wait(ctx, p, out);
            Step::Stay
        }
        (Phase::Prompt(id), Input::PlayFailed { id: i, why }) if i == id => {
            out.push(Command::Event(Event::PromptFailed {
                why: format!("{name}: {why}, skipped"),
            }));
            st.phase = wait(ctx, p, out);
            Step::Stay
        }
        (Phase::Prompt(id), Input::Digit { digit }) => {
            // Barge-in; the event does not name the key (it is part of the code).
            out.push(Command::StopPlay { id });
            key(ctx, name, p, st, digit, out)
        }
        (Phase::Wait(_), Input::Digit { digit }) => key(ctx, name, p, st, digit, out),
        (Phase::Wait(id), Input::TimerFired { id: i }) if i == id => {
            if st.typed.is_empty() {
                judged(name, st, "timeout", out);
                Step::Exit("timeout".into())
            } else {
                judge(ctx, name, p, st, out)
            }
        }
        _ => Step::Stay,
    }
}

/// A key while waiting (or while the prompt plays).
fn key(
    ctx: &mut Ctx,
    name: &OpName,
    p: &Pin,
    st: &mut PinState,
    digit: char,
    out: &mut Vec<Command>,
) -> Step {
    if digit == '#' {
        return judge(ctx, name, p, st, out);
    }
    // `*` and `A`-`D` are part of no code: a wrong entry.
    st.typed.push(digit);
    if st.typed.len() >= p.max_len() {
        return judge(ctx, name, p, st, out);
    }
    st.phase = wait(ctx, p, out);
    Step::Stay
}

/// The entry is complete: correct, another attempt, or incorrect.
fn judge(ctx: &mut Ctx, name: &OpName, p: &Pin, st: &mut PinState, out: &mut Vec<Command>) -> Step {
    if p.accepts(&st.typed) {
        judged(name, st, "correct", out);
        return Step::Exit("correct".into());
    }
    judged(name, st, "incorrect", out);
    if st.attempt < p.attempts {
        st.attempt += 1;
        st.typed.clear();
        st.phase = begin(ctx, p, out);
        return Step::Stay;
    }
    Step::Exit("incorrect".into())
}

/// The `pin_input` event: how many digits, never which.
fn judged(name: &OpName, st: &mut PinState, outcome: &str, out: &mut Vec<Command>) {
    out.push(Command::Event(Event::PinInput {
        op: name.to_string(),
        attempt: st.attempt,
        length: u32::try_from(st.typed.len()).unwrap_or(u32::MAX),
        outcome: outcome.into(),
    }));
    st.typed.clear();
}

#[cfg(test)]
mod tests {
    use crate::core::scenario::testkit::*;
    use vpbx_store::model::{Event, Pin, Prompt};

    fn pin(prompt: bool, codes: &[&str], attempts: u32) -> Pin {
        Pin {
            prompt: prompt.then_some(Prompt::File { id: FileId(1) }),
            codes: codes.iter().map(|c| c.to_string()).collect(),
            timeout_s: 5,
            attempts,
        }
    }

    fn pin_scenario(p: Pin) -> Arc<Scenario> {
        let pause = |ms| op(Action::Pause(Pause { ms }), None);
        scenario(vec![
            (
                "p",
                Operation {
                    action: Action::Pin(p),
                    exits: [("correct", "ok"), ("incorrect", "bad"), ("timeout", "late")]
                        .iter()
                        .map(|(k, v)| (k.to_string(), OpName((*v).into())))
                        .collect(),
                },
            ),
            ("ok", pause(1)),
            ("bad", pause(2)),
            ("late", pause(3)),
        ])
    }

    /// The PIN decisions and exits among `cmds`.
    fn path(cmds: &[Command]) -> Vec<String> {
        cmds.iter()
            .filter_map(|c| match c {
                Command::Event(Event::PinInput {
                    op,
                    attempt,
                    length,
                    outcome,
                }) => Some(format!("{op}#{attempt}:{length}:{outcome}")),
                Command::Event(Event::ExitTaken { op, exit }) => Some(format!("{op}->{exit}")),
                Command::Event(Event::OperationEntered { op, .. }) => Some(format!("@{op}")),
                _ => None,
            })
            .collect()
    }

    /// No command carries a digit of the code.
    fn no_digits(cmds: &[Command]) {
        for c in cmds {
            if let Command::Event(e) = c {
                assert!(
                    !matches!(e, Event::Digit { .. } | Event::PromptPlayed { .. }),
                    "{e:?}"
                );
            }
        }
    }

    fn feed(run: &mut ScenarioRun, digits: &str) -> Vec<Command> {
        let mut all = Vec::new();
        for digit in digits.chars() {
            all.extend(run.handle(Input::Digit { digit }));
        }
        no_digits(&all);
        all
    }

    #[test]
    fn the_right_code_takes_correct_at_its_length() {
        let mut run = ScenarioRun::new(pin_scenario(pin(true, &["1234"], 1)), 10);
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
        assert_eq!(
            run.handle(Input::PlayDone { id: 1 }),
            vec![Command::Timer { id: 2, ms: 5000 }]
        );
        assert!(run.hides_digits());
        // Each digit restarts the inter-digit timer; the fourth ends the entry.
        assert_eq!(
            feed(&mut run, "123"),
            vec![
                Command::Timer { id: 3, ms: 5000 },
                Command::Timer { id: 4, ms: 5000 },
                Command::Timer { id: 5, ms: 5000 },
            ]
        );
        let out = feed(&mut run, "4");
        assert_eq!(path(&out), ["p#1:4:correct", "p->correct", "@ok"]);
        assert!(!run.hides_digits());
        // The stale timers change nothing.
        assert!(run.handle(Input::TimerFired { id: 5 }).is_empty());
    }

    #[test]
    fn a_digit_during_the_prompt_cuts_it_short_and_counts() {
        let mut run = ScenarioRun::new(pin_scenario(pin(true, &["42"], 1)), 10);
        run.start();
        let out = feed(&mut run, "4");
        assert_eq!(
            out,
            vec![
                Command::StopPlay { id: 1 },
                Command::Timer { id: 2, ms: 5000 }
            ]
        );
        // The cut prompt's late end changes nothing.
        assert!(run.handle(Input::PlayDone { id: 1 }).is_empty());
        let out = feed(&mut run, "2");
        assert_eq!(path(&out), ["p#1:2:correct", "p->correct", "@ok"]);
    }

    #[test]
    fn a_wrong_code_takes_incorrect_and_hash_ends_early() {
        let mut run = ScenarioRun::new(pin_scenario(pin(false, &["1234", "99"], 1)), 10);
        assert_eq!(
            without_traces(run.start()),
            vec![Command::Answer, Command::Timer { id: 1, ms: 5000 }]
        );
        let out = feed(&mut run, "12#");
        assert_eq!(path(&out), ["p#1:2:incorrect", "p->incorrect", "@bad"]);
        // A shorter code ends on `#`, or on the inter-digit timeout.
        let mut run = ScenarioRun::new(pin_scenario(pin(false, &["1234", "99"], 1)), 10);
        run.start();
        let out = feed(&mut run, "99#");
        assert_eq!(path(&out), ["p#1:2:correct", "p->correct", "@ok"]);
        let mut run = ScenarioRun::new(pin_scenario(pin(false, &["1234", "99"], 1)), 10);
        run.start();
        feed(&mut run, "99");
        let out = run.handle(Input::TimerFired { id: 3 });
        no_digits(&out);
        assert_eq!(path(&out), ["p#1:2:correct", "p->correct", "@ok"]);
        // `*` belongs to no code.
        let mut run = ScenarioRun::new(pin_scenario(pin(false, &["12"], 1)), 10);
        run.start();
        let out = feed(&mut run, "*2");
        assert_eq!(path(&out), ["p#1:2:incorrect", "p->incorrect", "@bad"]);
    }

    #[test]
    fn nothing_typed_takes_timeout() {
        let mut run = ScenarioRun::new(pin_scenario(pin(true, &["1234"], 3)), 10);
        run.start();
        run.handle(Input::PlayDone { id: 1 });
        assert!(run.handle(Input::TimerFired { id: 9 }).is_empty());
        let out = run.handle(Input::TimerFired { id: 2 });
        assert_eq!(path(&out), ["p#1:0:timeout", "p->timeout", "@late"]);
        // `#` alone is an empty, wrong code, not a timeout.
        let mut run = ScenarioRun::new(pin_scenario(pin(false, &["1234"], 1)), 10);
        run.start();
        let out = feed(&mut run, "#");
        assert_eq!(path(&out), ["p#1:0:incorrect", "p->incorrect", "@bad"]);
    }

    #[test]
    fn a_wrong_code_before_the_last_attempt_replays_the_prompt() {
        let mut run = ScenarioRun::new(pin_scenario(pin(true, &["1234"], 3)), 10);
        run.start();
        run.handle(Input::PlayDone { id: 1 });
        let out = feed(&mut run, "1111");
        assert_eq!(path(&out), ["p#1:4:incorrect"]);
        assert_eq!(
            without_traces(out).last(),
            Some(&Command::Play {
                id: 6,
                prompt: Prompt::File { id: FileId(1) }
            })
        );
        // Second attempt: wrong again, typed over the prompt.
        let out = feed(&mut run, "2222");
        assert_eq!(out[0], Command::StopPlay { id: 6 });
        assert_eq!(path(&out), ["p#2:4:incorrect"]);
        // Third and last: right.
        let out = feed(&mut run, "1234");
        assert_eq!(path(&out), ["p#3:4:correct", "p->correct", "@ok"]);

        // Wrong on every attempt: incorrect after the last; an attempt may end on a timeout with
        // digits typed.
        let mut run = ScenarioRun::new(pin_scenario(pin(false, &["1234"], 2)), 10);
        run.start();
        feed(&mut run, "9");
        let out = run.handle(Input::TimerFired { id: 2 });
        assert_eq!(path(&out), ["p#1:1:incorrect"]);
        assert_eq!(
            without_traces(out),
            vec![Command::Timer { id: 3, ms: 5000 }]
        );
        let out = feed(&mut run, "0000");
        assert_eq!(path(&out), ["p#2:4:incorrect", "p->incorrect", "@bad"]);
        // A second attempt with nothing typed is a timeout.
        let mut run = ScenarioRun::new(pin_scenario(pin(false, &["1234"], 2)), 10);
        run.start();
        feed(&mut run, "5#");
        let out = run.handle(Input::TimerFired { id: 3 });
        assert_eq!(path(&out), ["p#2:0:timeout", "p->timeout", "@late"]);
    }
}
