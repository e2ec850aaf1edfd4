//! Menu (IVR, SPEC §3 op 2): answer, play the prompt (optional), wait for one key.
//!
//! - A key with an exit of its own takes that exit; a key without one takes `invalid`; no key
//!   within `timeout_s` after the prompt takes `timeout`.
//! - A key typed while the prompt plays cuts it short (barge-in) and counts.
//! - `#` with no exit of its own, in a menu reached from another menu, goes back to that menu
//!   (the run keeps the menus walked through).
//! - With `extension_entry`, digits may spell an extension (inter-digit timeout = `timeout_s`,
//!   `#` ends the entry). A first digit that has an exit of its own and starts no extension takes
//!   its exit at once; a single digit left alone follows its exit when it has one, else it is an
//!   extension. A known extension is rung (the forward machinery) and the menu's `extension`
//!   exit is taken when that call ends; an unknown one plays "number entered incorrectly", one
//!   second of silence and the menu again.

use super::forward::forward_done;
use super::{Command, Ctx, Input, OpState, Step};
use std::collections::BTreeMap;
use vpbx_store::model::ops::MENU_KEYS;
use vpbx_store::model::{Event, Forward, Menu, OpName, Prompt};

/// Played for an unknown extension.
pub(crate) const INCORRECT: &str = "Number entered incorrectly.";

/// A running menu.
#[derive(Debug)]
pub(crate) struct MenuState {
    phase: Phase,
    /// Extension digits typed so far.
    typed: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// The prompt with this id plays (a key cuts it short).
    Prompt(u64),
    /// Waiting for a key (or the next extension digit) until the timer with this id fires.
    Wait(u64),
    /// "Number entered incorrectly" plays.
    Incorrect(u64),
    /// The second of silence before the menu again.
    Silence(u64),
    /// The dialled extension rings (or talks).
    Forwarding(u64),
}

pub(super) fn enter(ctx: &mut Ctx, name: &OpName, m: &Menu, out: &mut Vec<Command>) -> OpState {
    ctx.answer(out);
    // The menu stack: entering a menu walked through already goes back to it.
    match ctx.menus.iter().position(|n| n == name) {
        Some(at) => ctx.menus.truncate(at + 1),
        None => ctx.menus.push(name.clone()),
    }
    let phase = match &m.prompt {
        Some(prompt) => {
            let id = ctx.id();
            out.push(Command::Play {
                id,
                prompt: prompt.clone(),
            });
            Phase::Prompt(id)
        }
        None => wait(ctx, m, out),
    };
    OpState::Menu(MenuState {
        phase,
        typed: String::new(),
    })
}

fn wait(ctx: &mut Ctx, m: &Menu, out: &mut Vec<Command>) -> Phase {
    let id = ctx.id();
    out.push(Command::Timer {
        id,
        ms: m.timeout_s.saturating_mul(1000),
    });
    Phase::Wait(id)
}

pub(super) fn handle(
    ctx: &mut Ctx,
    name: &OpName,
    m: &Menu,
    exits: &BTreeMap<String, OpName>,
    st: &mut MenuState,
    input: Input,
    out: &mut Vec<Command>,
) -> Step {
    let mut menu = At {
        ctx,
        name,
        m,
        exits,
    };
    match (st.phase, input) {
        (Phase::Prompt(id), Input::PlayDone { id: i }) if i == id => {
            st.phase = wait(menu.ctx, m, out);
            Step::Stay
        }
        (Phase::Prompt(id), Input::PlayFailed { id: i, why }) if i == id => {
            out.push(Command::Event(Event::PromptFailed {
                why: format!("{name}: {why}, skipped"),
            }));
            st.phase = wait(menu.ctx, m, out);
            Step::Stay
        }
        (Phase::Prompt(id), Input::Digit { digit }) => {
            // Barge-in.
            out.push(Command::StopPlay { id });
            out.push(Command::Event(Event::PromptPlayed {
                prompt: describe(m.prompt.as_ref()),
                interrupted_by: Some(digit),
            }));
            menu.key(st, digit, out)
        }
        (Phase::Wait(_), Input::Digit { digit }) => menu.key(st, digit, out),
        (Phase::Wait(id), Input::TimerFired { id: i }) if i == id => {
            if st.typed.is_empty() {
                menu.input("", "timeout", out);
                Step::Exit("timeout".into())
            } else {
                menu.resolve(st, out)
            }
        }
        (Phase::Incorrect(id), Input::PlayDone { id: i } | Input::PlayFailed { id: i, .. })
            if i == id =>
        {
            let id = menu.ctx.id();
            out.push(Command::Silence { id, ms: 1000 });
            st.phase = Phase::Silence(id);
            Step::Stay
        }
        (Phase::Silence(id), Input::PlayDone { id: i } | Input::PlayFailed { id: i, .. })
            if i == id =>
        {
            Step::Enter(name.clone())
        }
        (Phase::Forwarding(id), Input::ForwardDone { id: i, outcome }) if i == id => {
            forward_done(menu.ctx, outcome);
            Step::Exit("extension".into())
        }
        _ => Step::Stay,
    }
}

fn describe(prompt: Option<&Prompt>) -> String {
    prompt.map(Prompt::label).unwrap_or_default()
}

/// The menu at hand.
struct At<'a> {
    ctx: &'a mut Ctx,
    name: &'a OpName,
    m: &'a Menu,
    exits: &'a BTreeMap<String, OpName>,
}

impl At<'_> {
    fn input(&self, digits: &str, outcome: &str, out: &mut Vec<Command>) {
        out.push(Command::Event(Event::MenuInput {
            op: self.name.to_string(),
            digits: digits.into(),
            outcome: outcome.into(),
        }));
    }

    /// A key while waiting (or while the prompt plays).
    fn key(&mut self, st: &mut MenuState, digit: char, out: &mut Vec<Command>) -> Step {
        if !self.m.extension_entry || (st.typed.is_empty() && !digit.is_ascii_digit()) {
            return self.single(digit, out);
        }
        if !digit.is_ascii_digit() {
            // `#` (or `*`) ends an extension entry.
            return self.resolve(st, out);
        }
        st.typed.push(digit);
        let typed = st.typed.as_str();
        let longer = self
            .ctx
            .extensions
            .keys()
            .any(|e| e.len() > typed.len() && e.starts_with(typed));
        if !longer && typed.len() == 1 && self.exits.contains_key(typed) {
            st.typed.clear();
            return self.single(digit, out);
        }
        if !longer && self.ctx.extensions.contains_key(typed) {
            return self.resolve(st, out);
        }
        // Wait for more digits.
        st.phase = wait(self.ctx, self.m, out);
        Step::Stay
    }

    /// One key on its own.
    fn single(&mut self, digit: char, out: &mut Vec<Command>) -> Step {
        let key = digit.to_string();
        if MENU_KEYS.contains(&key.as_str()) && self.exits.contains_key(&key) {
            self.input(&key, "key", out);
            return Step::Exit(key);
        }
        if digit == '#' {
            let n = self.ctx.menus.len();
            if n >= 2 && self.ctx.menus[n - 1] == *self.name {
                let back = self.ctx.menus[n - 2].clone();
                self.input(&key, "back", out);
                out.push(Command::Event(Event::ExitTaken {
                    op: self.name.to_string(),
                    exit: key,
                }));
                return Step::Enter(back);
            }
        }
        self.input(&key, "invalid", out);
        Step::Exit("invalid".into())
    }

    /// The extension entry is complete.
    fn resolve(&mut self, st: &mut MenuState, out: &mut Vec<Command>) -> Step {
        let typed = std::mem::take(&mut st.typed);
        if typed.len() == 1 && self.exits.contains_key(&typed) {
            self.input(&typed, "key", out);
            return Step::Exit(typed);
        }
        if let Some(target) = self.ctx.extensions.get(&typed).cloned() {
            self.input(&typed, "extension", out);
            let id = self.ctx.id();
            out.push(Command::Forward {
                id,
                forward: Forward {
                    operator_hint: None,
                    targets: vec![target],
                    mode: Default::default(),
                    max_wait_s: None,
                    ringback: None,
                    present_virtual_number: false,
                    strategy: None,
                    queue: None,
                    wrap_up_s: 0,
                    not_answered: None,
                },
            });
            st.phase = Phase::Forwarding(id);
            return Step::Stay;
        }
        self.input(&typed, "unknown_extension", out);
        let id = self.ctx.id();
        out.push(Command::Play {
            id,
            prompt: Prompt::Text {
                text: INCORRECT.into(),
                voice: None,
            },
        });
        st.phase = Phase::Incorrect(id);
        Step::Stay
    }
}

#[cfg(test)]
mod tests {
    use super::INCORRECT;
    use crate::core::forward::ForwardOutcome;
    use crate::core::scenario::testkit::*;
    use vpbx_store::model::{EmployeeId, Event, ForwardTarget, Menu, Prompt};

    fn menu(prompt: bool, extension_entry: bool) -> Menu {
        Menu {
            prompt: prompt.then_some(Prompt::File { id: FileId(1) }),
            timeout_s: 5,
            extension_entry,
        }
    }

    fn menu_op(m: Menu, exits: &[(&str, &str)]) -> Operation {
        Operation {
            action: Action::Menu(m),
            exits: exits
                .iter()
                .map(|(k, v)| (k.to_string(), OpName((*v).into())))
                .collect(),
        }
    }

    fn pause(ms: u32) -> Operation {
        op(Action::Pause(Pause { ms }), None)
    }

    /// The menu decisions and exits among `cmds`.
    fn path(cmds: &[Command]) -> Vec<String> {
        cmds.iter()
            .filter_map(|c| match c {
                Command::Event(Event::MenuInput {
                    op,
                    digits,
                    outcome,
                }) => Some(format!("{op}:{digits}:{outcome}")),
                Command::Event(Event::ExitTaken { op, exit }) => Some(format!("{op}->{exit}")),
                Command::Event(Event::OperationEntered { op, .. }) => Some(format!("@{op}")),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_key_takes_its_exit_after_the_prompt() {
        let s = scenario(vec![
            ("m", menu_op(menu(true, false), &[("1", "one")])),
            ("one", pause(10)),
        ]);
        let mut run = ScenarioRun::new(s, 10);
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
        let out = run.handle(Input::Digit { digit: '1' });
        assert_eq!(path(&out), ["m:1:key", "m->1", "@one"]);
        assert_eq!(
            without_traces(out),
            vec![Command::Silence { id: 3, ms: 10 }]
        );
        // The menu's timer is stale now.
        assert!(run.handle(Input::TimerFired { id: 2 }).is_empty());
    }

    #[test]
    fn a_key_during_the_prompt_cuts_it_short() {
        let s = scenario(vec![
            ("m", menu_op(menu(true, false), &[("2", "two")])),
            ("two", pause(10)),
        ]);
        let mut run = ScenarioRun::new(s, 10);
        run.start();
        let out = run.handle(Input::Digit { digit: '2' });
        assert_eq!(out[0], Command::StopPlay { id: 1 });
        assert!(out.contains(&Command::Event(Event::PromptPlayed {
            prompt: "file 1".into(),
            interrupted_by: Some('2'),
        })));
        assert_eq!(path(&out), ["m:2:key", "m->2", "@two"]);
        // The cut prompt's late end changes nothing.
        assert!(run.handle(Input::PlayDone { id: 1 }).is_empty());
    }

    #[test]
    fn no_key_takes_timeout_and_a_key_without_exit_takes_invalid() {
        let s = scenario(vec![
            (
                "m",
                menu_op(
                    menu(false, false),
                    &[("timeout", "t"), ("invalid", "i"), ("1", "t")],
                ),
            ),
            ("t", pause(1)),
            ("i", pause(2)),
        ]);
        let mut run = ScenarioRun::new(s.clone(), 10);
        assert_eq!(
            without_traces(run.start()),
            vec![Command::Answer, Command::Timer { id: 1, ms: 5000 }]
        );
        assert!(run.handle(Input::TimerFired { id: 9 }).is_empty());
        let out = run.handle(Input::TimerFired { id: 1 });
        assert_eq!(path(&out), ["m::timeout", "m->timeout", "@t"]);

        for key in ['7', 'A', '#', '*'] {
            let mut run = ScenarioRun::new(s.clone(), 10);
            run.start();
            let out = run.handle(Input::Digit { digit: key });
            assert_eq!(
                path(&out),
                [format!("m:{key}:invalid"), "m->invalid".into(), "@i".into()],
                "{key}"
            );
        }
    }

    #[test]
    fn hash_goes_back_through_a_two_level_menu() {
        let s = scenario(vec![
            ("main", menu_op(menu(true, false), &[("1", "sub")])),
            (
                "sub",
                menu_op(menu(true, false), &[("2", "deep"), ("invalid", "sub")]),
            ),
            (
                "deep",
                menu_op(menu(false, false), &[("#", "bye"), ("timeout", "deep")]),
            ),
            ("bye", pause(1)),
        ]);
        let mut run = ScenarioRun::new(s, 20);
        run.start();
        let out = run.handle(Input::Digit { digit: '1' });
        assert_eq!(path(&out), ["main:1:key", "main->1", "@sub"]);
        // `#` in sub (no `#` exit of its own): back to main, which plays its prompt again.
        let out = run.handle(Input::Digit { digit: '#' });
        assert_eq!(path(&out), ["sub:#:back", "sub->#", "@main"]);
        assert!(matches!(
            without_traces(out).as_slice(),
            [Command::StopPlay { .. }, Command::Play { .. }]
        ));
        // In main, `#` has nowhere to go back to: invalid (no exit: the call ends).
        let out = run.handle(Input::Digit { digit: '1' });
        assert_eq!(path(&out), ["main:1:key", "main->1", "@sub"]);
        let out = run.handle(Input::Digit { digit: '2' });
        assert_eq!(path(&out), ["sub:2:key", "sub->2", "@deep"]);
        // deep has a `#` exit of its own: it wins over going back.
        let out = run.handle(Input::Digit { digit: '#' });
        assert_eq!(path(&out), ["deep:#:key", "deep->#", "@bye"]);

        // A replayed menu (invalid → itself) does not stack twice: `#` still goes to main.
        let s = scenario(vec![
            ("main", menu_op(menu(false, false), &[("1", "sub")])),
            ("sub", menu_op(menu(false, false), &[("invalid", "sub")])),
        ]);
        let mut run = ScenarioRun::new(s, 20);
        run.start();
        run.handle(Input::Digit { digit: '1' });
        let out = run.handle(Input::Digit { digit: '5' });
        assert_eq!(path(&out), ["sub:5:invalid", "sub->invalid", "@sub"]);
        let out = run.handle(Input::Digit { digit: '#' });
        assert_eq!(path(&out), ["sub:#:back", "sub->#", "@main"]);
        let out = run.handle(Input::Digit { digit: '#' });
        assert!(
            matches!(out.last(), Some(Command::Hangup { reason: Ending::Finished(r) }) if r.contains("invalid")),
            "{out:?}"
        );
    }

    fn extensions() -> Arc<Extensions> {
        Arc::new(Extensions::from([
            (
                "101".to_string(),
                ForwardTarget::Employee { id: EmployeeId(1) },
            ),
            (
                "202".to_string(),
                ForwardTarget::Employee { id: EmployeeId(2) },
            ),
        ]))
    }

    fn extension_menu() -> Arc<Scenario> {
        scenario(vec![
            (
                "m",
                menu_op(
                    menu(true, true),
                    &[
                        ("1", "one"),
                        ("3", "three"),
                        ("extension", "after"),
                        ("timeout", "t"),
                    ],
                ),
            ),
            ("one", pause(1)),
            ("three", pause(3)),
            ("after", pause(4)),
            ("t", pause(5)),
        ])
    }

    #[test]
    fn a_known_extension_is_forwarded_to_then_takes_the_extension_exit() {
        let mut run = ScenarioRun::new(extension_menu(), 20).with_extensions(extensions());
        run.start();
        // `1` starts 101: wait for more digits (inter-digit timer).
        assert_eq!(
            run.handle(Input::Digit { digit: '1' }),
            vec![
                Command::StopPlay { id: 1 },
                Command::Event(Event::PromptPlayed {
                    prompt: "file 1".into(),
                    interrupted_by: Some('1')
                }),
                Command::Timer { id: 2, ms: 5000 }
            ]
        );
        assert_eq!(
            run.handle(Input::Digit { digit: '0' }),
            vec![Command::Timer { id: 3, ms: 5000 }]
        );
        let out = run.handle(Input::Digit { digit: '1' });
        assert_eq!(path(&out), ["m:101:extension"]);
        let Some(Command::Forward { id, forward }) = out.last() else {
            panic!("{out:?}")
        };
        assert_eq!(
            forward.targets,
            vec![ForwardTarget::Employee { id: EmployeeId(1) }]
        );
        // The stale inter-digit timers change nothing while it rings.
        assert!(run.handle(Input::TimerFired { id: 3 }).is_empty());
        let out = run.handle(Input::ForwardDone {
            id: *id,
            outcome: ForwardOutcome::NoAnswer,
        });
        assert_eq!(path(&out), ["m->extension", "@after"]);
    }

    #[test]
    fn single_digits_follow_their_exit_or_wait_for_an_extension() {
        // `3` has an exit and starts no extension: at once.
        let mut run = ScenarioRun::new(extension_menu(), 20).with_extensions(extensions());
        run.start();
        run.handle(Input::PlayDone { id: 1 });
        let out = run.handle(Input::Digit { digit: '3' });
        assert_eq!(path(&out), ["m:3:key", "m->3", "@three"]);
        // `1` starts 101: alone until the inter-digit timeout, it follows its own exit.
        let mut run = ScenarioRun::new(extension_menu(), 20).with_extensions(extensions());
        run.start();
        run.handle(Input::PlayDone { id: 1 });
        assert_eq!(
            run.handle(Input::Digit { digit: '1' }),
            vec![Command::Timer { id: 3, ms: 5000 }]
        );
        let out = run.handle(Input::TimerFired { id: 3 });
        assert_eq!(path(&out), ["m:1:key", "m->1", "@one"]);
        // `20` then `#` (ends the entry): unknown.
        let mut run = ScenarioRun::new(extension_menu(), 20).with_extensions(extensions());
        run.start();
        run.handle(Input::Digit { digit: '2' });
        run.handle(Input::Digit { digit: '0' });
        let out = run.handle(Input::Digit { digit: '#' });
        assert_eq!(path(&out), ["m:20:unknown_extension"]);
        // Nothing typed: timeout.
        let mut run = ScenarioRun::new(extension_menu(), 20).with_extensions(extensions());
        run.start();
        run.handle(Input::PlayDone { id: 1 });
        let out = run.handle(Input::TimerFired { id: 2 });
        assert_eq!(path(&out), ["m::timeout", "m->timeout", "@t"]);
    }

    #[test]
    fn an_unknown_extension_says_so_then_a_second_of_silence_then_the_menu_again() {
        let mut run = ScenarioRun::new(extension_menu(), 20).with_extensions(extensions());
        run.start();
        run.handle(Input::PlayDone { id: 1 });
        for d in ['5', '5', '5'] {
            run.handle(Input::Digit { digit: d });
        }
        // Ids: 1 prompt, 2 first timer, 3-5 inter-digit timers.
        let out = run.handle(Input::TimerFired { id: 5 });
        assert_eq!(path(&out), ["m:555:unknown_extension"]);
        assert_eq!(
            without_traces(out),
            vec![Command::Play {
                id: 6,
                prompt: Prompt::Text {
                    text: INCORRECT.into(),
                    voice: None
                }
            }]
        );
        // Keys while it says so are ignored.
        assert!(run.handle(Input::Digit { digit: '3' }).is_empty());
        assert_eq!(
            run.handle(Input::PlayDone { id: 6 }),
            vec![Command::Silence { id: 7, ms: 1000 }]
        );
        let out = run.handle(Input::PlayDone { id: 7 });
        assert_eq!(path(&out), ["@m"]);
        assert_eq!(
            without_traces(out),
            vec![Command::Play {
                id: 8,
                prompt: Prompt::File { id: FileId(1) }
            }]
        );
    }

    #[test]
    fn a_menu_that_loops_on_itself_ends_on_the_step_budget() {
        let s = scenario(vec![(
            "m",
            menu_op(menu(false, false), &[("timeout", "m"), ("invalid", "m")]),
        )]);
        let mut run = ScenarioRun::new(s, 4);
        run.start();
        let mut last = Vec::new();
        for id in 1..=10 {
            last = run.handle(Input::TimerFired { id });
            if run.is_done() {
                break;
            }
        }
        assert!(run.is_done());
        assert!(matches!(
            last.last(),
            Some(Command::Hangup { reason: Ending::Broken(r) }) if r.contains("scenario loop")
        ));
    }
}
