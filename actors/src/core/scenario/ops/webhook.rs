//! CRM webhook (SPEC §3 op 13): collect N digits (optional), call the CRM, act on its reply.
//!
//! - With `digits` > 0 the caller is answered, hears the prompt (if any; a digit cuts it short
//!   and counts) and types up to `digits` digits: `#`, the last digit or `digits_timeout_s`
//!   without a digit ends the entry, and the request goes with what was typed (`input_result`).
//! - The request leaves as [`Command::Webhook`]; a guard timer of the timeout plus two seconds
//!   runs beside it, so a result that never comes takes `no_answer` too.
//! - No usable reply (timeout, connection error, a status other than 200, a body that is not the
//!   expected JSON object) takes `no_answer`: the call is never lost because the CRM failed.
//! - A usable reply: its operator hint (`operator_media`, a file by name, wins over
//!   `operator_text`) is kept for the forwards of this call, beating their own setting; its
//!   message (`message_name`, a file by name, else `text`) is played to the caller (answered
//!   for it); then the exit bound to its `returned_code` is taken, else its `phones` are rung
//!   (`answered` after a talk, `not_answered` when nobody took the call), else `ok`.
//! - The call's events get `webhook_request` (method, URL without its query, parameter names)
//!   and `webhook_reply` (status, time, body size, outcome, returned code).

use super::forward::forward_done;
use super::{Command, Ctx, Input, OpState, Step};
use crate::core::webhook::{parse_reply, url_for_events, Reply, WebhookCall, WebhookResult};
use vpbx_store::model::{Event, Forward, ForwardTarget, OpName, Prompt, Webhook};

/// Milliseconds the guard timer waits beyond the operation's timeout.
const GUARD_MS: u32 = 2000;

/// A running webhook operation.
#[derive(Debug)]
pub(crate) struct WebhookState {
    phase: Phase,
    /// Digits typed so far.
    typed: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Phase {
    /// The prompt before the digits plays.
    Prompt(u64),
    /// Waiting for a digit until the timer with this id fires.
    Collect(u64),
    /// The request with id `id` is out; the guard timer is `guard`.
    Request { id: u64, guard: u64 },
    /// The reply's message plays; then `then`.
    Message { id: u64, then: Then },
    /// The reply's phones ring (the forward with this id).
    Forwarding(u64),
}

/// What follows the reply's message.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Then {
    Exit(String),
    Forward(Vec<String>),
}

pub(super) fn enter(ctx: &mut Ctx, name: &OpName, w: &Webhook, out: &mut Vec<Command>) -> OpState {
    let mut st = WebhookState {
        phase: Phase::Collect(0),
        typed: String::new(),
    };
    if w.digits == 0 {
        st.phase = request(ctx, name, w, &st.typed, out);
        return OpState::Webhook(st);
    }
    ctx.answer(out);
    st.phase = match &w.prompt {
        Some(prompt) => {
            let id = ctx.id();
            out.push(Command::Play {
                id,
                prompt: prompt.clone(),
            });
            Phase::Prompt(id)
        }
        None => wait(ctx, w, out),
    };
    OpState::Webhook(st)
}

fn wait(ctx: &mut Ctx, w: &Webhook, out: &mut Vec<Command>) -> Phase {
    let id = ctx.id();
    out.push(Command::Timer {
        id,
        ms: w.digits_timeout_s.saturating_mul(1000),
    });
    Phase::Collect(id)
}

/// Sends the request with the digits typed, and arms the guard.
fn request(
    ctx: &mut Ctx,
    name: &OpName,
    w: &Webhook,
    typed: &str,
    out: &mut Vec<Command>,
) -> Phase {
    let id = ctx.id();
    let guard = ctx.id();
    let timeout_ms = w.timeout_s.saturating_mul(1000);
    out.push(Command::Event(Event::WebhookRequest {
        op: name.to_string(),
        method: if w.is_post() { "POST" } else { "GET" }.into(),
        url: url_for_events(&w.url).to_owned(),
        params: w.params.clone(),
    }));
    out.push(Command::Webhook {
        id,
        call: WebhookCall {
            url: w.url.clone(),
            post: w.is_post(),
            timeout_ms,
            params: w.params.clone(),
            input: typed.to_owned(),
        },
    });
    out.push(Command::Timer {
        id: guard,
        ms: timeout_ms.saturating_add(GUARD_MS),
    });
    Phase::Request { id, guard }
}

pub(super) fn handle(
    ctx: &mut Ctx,
    name: &OpName,
    w: &Webhook,
    st: &mut WebhookState,
    input: Input,
    out: &mut Vec<Command>,
) -> Step {
    match (st.phase.clone(), input) {
        (Phase::Prompt(id), Input::PlayDone { id: i }) if i == id => {
            st.phase = wait(ctx, w, out);
            Step::Stay
        }
        (Phase::Prompt(id), Input::PlayFailed { id: i, why }) if i == id => {
            out.push(Command::Event(Event::PromptFailed {
                why: format!("{name}: {why}, skipped"),
            }));
            st.phase = wait(ctx, w, out);
            Step::Stay
        }
        (Phase::Prompt(id), Input::Digit { digit }) => {
            out.push(Command::StopPlay { id });
            key(ctx, name, w, st, digit, out)
        }
        (Phase::Collect(_), Input::Digit { digit }) => key(ctx, name, w, st, digit, out),
        (Phase::Collect(id), Input::TimerFired { id: i }) if i == id => {
            st.phase = request(ctx, name, w, &st.typed, out);
            Step::Stay
        }
        (Phase::Request { id, .. }, Input::WebhookDone { id: i, result }) if i == id => {
            replied(ctx, name, w, st, result, out)
        }
        (Phase::Request { guard, .. }, Input::TimerFired { id: i }) if i == guard => {
            out.push(Command::Event(Event::WebhookReply {
                op: name.to_string(),
                status: None,
                time_ms: u64::from(w.timeout_s.saturating_mul(1000).saturating_add(GUARD_MS)),
                body_bytes: 0,
                outcome: "timeout".into(),
                returned_code: None,
            }));
            Step::Exit("no_answer".into())
        }
        (Phase::Message { id, then }, Input::PlayDone { id: i }) if i == id => {
            after_message(ctx, w, st, then, out)
        }
        (Phase::Message { id, then }, Input::PlayFailed { id: i, why }) if i == id => {
            out.push(Command::Event(Event::PromptFailed {
                why: format!("{name}: {why}, skipped"),
            }));
            after_message(ctx, w, st, then, out)
        }
        (Phase::Forwarding(id), Input::ForwardDone { id: i, outcome }) if i == id => {
            forward_done(ctx, outcome);
            let exit = if outcome == crate::core::forward::ForwardOutcome::Answered {
                "answered"
            } else {
                "not_answered"
            };
            Step::Exit(exit.into())
        }
        _ => Step::Stay,
    }
}

/// A key while collecting (or while the prompt plays).
fn key(
    ctx: &mut Ctx,
    name: &OpName,
    w: &Webhook,
    st: &mut WebhookState,
    digit: char,
    out: &mut Vec<Command>,
) -> Step {
    if digit != '#' {
        st.typed.push(digit);
    }
    let complete = digit == '#' || st.typed.len() >= usize::try_from(w.digits).unwrap_or(0);
    st.phase = if complete {
        request(ctx, name, w, &st.typed, out)
    } else {
        wait(ctx, w, out)
    };
    Step::Stay
}

/// The request ended: no usable reply takes `no_answer`, a reply is acted on.
fn replied(
    ctx: &mut Ctx,
    name: &OpName,
    w: &Webhook,
    st: &mut WebhookState,
    result: WebhookResult,
    out: &mut Vec<Command>,
) -> Step {
    let event = |status, time_ms, body_bytes: usize, outcome: String, code| {
        Command::Event(Event::WebhookReply {
            op: name.to_string(),
            status,
            time_ms,
            body_bytes: u64::try_from(body_bytes).unwrap_or(u64::MAX),
            outcome,
            returned_code: code,
        })
    };
    let reply = match result {
        WebhookResult::TimedOut { time_ms } => {
            out.push(event(None, time_ms, 0, "timeout".into(), None));
            return Step::Exit("no_answer".into());
        }
        WebhookResult::Failed { why, time_ms } => {
            out.push(event(None, time_ms, 0, format!("error: {why}"), None));
            return Step::Exit("no_answer".into());
        }
        WebhookResult::Replied {
            status,
            body,
            time_ms,
        } => {
            if status != 200 {
                out.push(event(
                    Some(status),
                    time_ms,
                    body.len(),
                    "status".into(),
                    None,
                ));
                return Step::Exit("no_answer".into());
            }
            match parse_reply(&body) {
                Ok(reply) => {
                    out.push(event(
                        Some(status),
                        time_ms,
                        body.len(),
                        "ok".into(),
                        reply.returned_code.clone(),
                    ));
                    reply
                }
                Err(e) => {
                    out.push(event(
                        Some(status),
                        time_ms,
                        body.len(),
                        format!("bad_reply: {e}"),
                        None,
                    ));
                    return Step::Exit("no_answer".into());
                }
            }
        }
    };
    act(ctx, name, w, st, reply, out)
}

/// The file of the file base named `name`.
fn file_named(ctx: &Ctx, name: &str) -> Option<Prompt> {
    ctx.config
        .files
        .iter()
        .find(|f| f.name == name)
        .map(|f| Prompt::File { id: f.id })
}

/// Acts on a usable reply: keeps its hint, plays its message, then its code's exit, its phones
/// or `ok`.
fn act(
    ctx: &mut Ctx,
    name: &OpName,
    w: &Webhook,
    st: &mut WebhookState,
    reply: Reply,
    out: &mut Vec<Command>,
) -> Step {
    let missing = |out: &mut Vec<Command>, what: &str, file: &str| {
        out.push(Command::Event(Event::PromptFailed {
            why: format!("{name}: the reply's {what} '{file}' is not in the file base"),
        }));
    };
    // The hint: media wins over text.
    let media_hint = reply.operator_media.as_deref().and_then(|f| {
        let found = file_named(ctx, f);
        if found.is_none() {
            missing(out, "operator_media", f);
        }
        found
    });
    let hint = media_hint.or_else(|| {
        reply
            .operator_text
            .clone()
            .map(|text| Prompt::Text { text, voice: None })
    });
    if hint.is_some() {
        ctx.crm_hint = hint;
    }
    let then = match reply.returned_code.as_deref().and_then(|c| w.exit_of(c)) {
        Some(exit) => Then::Exit(exit.to_owned()),
        None if !reply.phones.is_empty() => Then::Forward(reply.phones),
        None => Then::Exit("ok".into()),
    };
    let file = reply.message_name.as_deref().and_then(|f| {
        let found = file_named(ctx, f);
        if found.is_none() {
            missing(out, "message_name", f);
        }
        found
    });
    let message = file.or_else(|| reply.text.map(|text| Prompt::Text { text, voice: None }));
    match message {
        Some(prompt) => {
            ctx.answer(out);
            let id = ctx.id();
            out.push(Command::Play { id, prompt });
            st.phase = Phase::Message { id, then };
            Step::Stay
        }
        None => after_message(ctx, w, st, then, out),
    }
}

fn after_message(
    ctx: &mut Ctx,
    w: &Webhook,
    st: &mut WebhookState,
    then: Then,
    out: &mut Vec<Command>,
) -> Step {
    match then {
        Then::Exit(exit) => Step::Exit(exit),
        Then::Forward(phones) => {
            // An extension of an employee or a group rings them; anything else is a number.
            let targets = phones
                .iter()
                .map(|p| match ctx.extensions.get(p.as_str()) {
                    Some(t) => t.clone(),
                    None => ForwardTarget::External {
                        number: p.trim_start_matches('+').to_owned(),
                        timeout_s: None,
                    },
                })
                .collect();
            let id = ctx.id();
            out.push(Command::Forward {
                id,
                forward: Forward {
                    targets,
                    mode: w.ring_mode,
                    max_wait_s: None,
                    ringback: None,
                    present_virtual_number: false,
                    strategy: None,
                    queue: None,
                    wrap_up_s: 0,
                    operator_hint: ctx.crm_hint.clone().or_else(|| w.operator_hint.clone()),
                    not_answered: None,
                },
            });
            st.phase = Phase::Forwarding(id);
            Step::Stay
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::core::forward::ForwardOutcome;
    use crate::core::scenario::testkit::*;
    use crate::core::webhook::{WebhookCall, WebhookResult};
    use vpbx_store::model::{
        CompanyConfig, Event, FileKind, FileMeta, Forward, ForwardTarget, Prompt, Webhook,
    };

    fn hook(digits: u32, codes: &[(&str, &str)]) -> Webhook {
        Webhook {
            url: "http://crm.test/hook?token=s".into(),
            method: "POST".into(),
            timeout_s: 3,
            params: vec!["numa".into(), "input_result".into()],
            digits,
            digits_timeout_s: 5,
            prompt: (digits > 0).then_some(Prompt::File { id: FileId(9) }),
            codes: codes
                .iter()
                .map(|(c, e)| (c.to_string(), e.to_string()))
                .collect(),
            ring_mode: Default::default(),
            operator_hint: None,
        }
    }

    /// The webhook `w` as `h` with every exit to an operation of its own name, and a forward
    /// `f` after `ok` (to see the hint it gets).
    fn run_of(w: Webhook) -> ScenarioRun {
        let pause = |ms| op(Action::Pause(Pause { ms }), None);
        let mut exits: Vec<String> = ["ok", "no_answer", "answered", "not_answered"]
            .iter()
            .map(|e| e.to_string())
            .collect();
        exits.extend(w.codes.values().cloned());
        let mut ops = vec![(
            "h",
            Operation {
                action: Action::Webhook(w),
                exits: exits
                    .iter()
                    .map(|e| {
                        let to = if e == "ok" {
                            "f".into()
                        } else {
                            format!("@{e}")
                        };
                        (e.clone(), OpName(to))
                    })
                    .collect(),
            },
        )];
        let names: Vec<String> = exits.iter().map(|e| format!("@{e}")).collect();
        for n in &names {
            ops.push((n.as_str(), pause(1)));
        }
        ops.push((
            "f",
            op(
                Action::Forward(Forward {
                    targets: vec![ForwardTarget::External {
                        number: "1".into(),
                        timeout_s: None,
                    }],
                    mode: Default::default(),
                    max_wait_s: None,
                    ringback: None,
                    present_virtual_number: false,
                    strategy: None,
                    queue: None,
                    wrap_up_s: 0,
                    operator_hint: Some(Prompt::File { id: FileId(5) }),
                    not_answered: None,
                }),
                None,
            ),
        ));
        let mut cfg = CompanyConfig::default();
        for (id, name) in [(1, "hello"), (2, "vip-hint")] {
            cfg.files.push(FileMeta {
                id: FileId(id),
                name: name.into(),
                path: format!("{name}.wav"),
                kind: FileKind::default(),
            });
        }
        let ext = Extensions::from([(
            "101".to_string(),
            ForwardTarget::Employee {
                id: vpbx_store::model::EmployeeId(1),
            },
        )]);
        ScenarioRun::new(scenario(ops), 20)
            .with_call(std::sync::Arc::new(cfg), "79160000000")
            .with_extensions(std::sync::Arc::new(ext))
    }

    /// Exits and webhook events among `cmds`.
    fn path(cmds: &[Command]) -> Vec<String> {
        cmds.iter()
            .filter_map(|c| match c {
                Command::Event(Event::ExitTaken { op, exit }) => Some(format!("{op}->{exit}")),
                Command::Event(Event::WebhookReply {
                    status,
                    outcome,
                    returned_code,
                    ..
                }) => Some(format!("reply {status:?} {outcome} {returned_code:?}")),
                Command::Event(Event::PromptFailed { .. }) => Some("prompt failed".into()),
                _ => None,
            })
            .collect()
    }

    fn ok(body: &str) -> WebhookResult {
        WebhookResult::Replied {
            status: 200,
            body: body.as_bytes().to_vec(),
            time_ms: 12,
        }
    }

    /// Starts a run of `w` without digits: the request goes at once; returns its id.
    fn started(w: Webhook) -> (ScenarioRun, u64) {
        let mut run = run_of(w);
        let out = run.start();
        let id = out
            .iter()
            .find_map(|c| match c {
                Command::Webhook { id, .. } => Some(*id),
                _ => None,
            })
            .expect("a request");
        (run, id)
    }

    #[test]
    fn the_request_goes_at_once_without_digits_with_a_guard_timer() {
        let mut run = run_of(hook(0, &[]));
        let out = run.start();
        assert!(out.iter().any(|c| matches!(c,
            Command::Event(Event::WebhookRequest { op, method, url, params })
                if op == "h" && method == "POST" && url == "http://crm.test/hook"
                    && params == &["numa", "input_result"])));
        assert_eq!(
            without_traces(out),
            vec![
                Command::Webhook {
                    id: 1,
                    call: WebhookCall {
                        url: "http://crm.test/hook?token=s".into(),
                        post: true,
                        timeout_ms: 3000,
                        params: vec!["numa".into(), "input_result".into()],
                        input: String::new(),
                    }
                },
                Command::Timer { id: 2, ms: 5000 },
            ]
        );
        // An empty object: `ok`, nothing played, nothing answered.
        let out = run.handle(Input::WebhookDone {
            id: 1,
            result: ok("{}"),
        });
        assert_eq!(path(&out), ["reply Some(200) ok None", "h->ok"]);
        assert!(!out.contains(&Command::Answer));
        // Stale results and the guard change nothing afterwards.
        assert!(run.handle(Input::TimerFired { id: 2 }).is_empty());
    }

    #[test]
    fn digits_are_collected_first_and_sent_as_input_result() {
        let mut run = run_of(hook(3, &[]));
        let out = without_traces(run.start());
        assert_eq!(
            out,
            vec![
                Command::Answer,
                Command::Play {
                    id: 1,
                    prompt: Prompt::File { id: FileId(9) }
                }
            ]
        );
        // A digit cuts the prompt short and counts.
        let out = run.handle(Input::Digit { digit: '4' });
        assert_eq!(
            out,
            vec![
                Command::StopPlay { id: 1 },
                Command::Timer { id: 2, ms: 5000 }
            ]
        );
        run.handle(Input::Digit { digit: '2' });
        let out = without_traces(run.handle(Input::Digit { digit: '7' }));
        assert!(
            matches!(&out[0], Command::Webhook { call, .. } if call.input == "427"),
            "{out:?}"
        );
        // `#` ends a shorter entry; the inter-digit timeout sends what was typed.
        let mut run = run_of(hook(5, &[]));
        run.start();
        run.handle(Input::Digit { digit: '1' });
        let out = without_traces(run.handle(Input::Digit { digit: '#' }));
        assert!(matches!(&out[0], Command::Webhook { call, .. } if call.input == "1"));
        let mut run = run_of(hook(5, &[]));
        run.start();
        run.handle(Input::PlayDone { id: 1 });
        run.handle(Input::Digit { digit: '9' });
        let out = without_traces(run.handle(Input::TimerFired { id: 3 }));
        assert!(matches!(&out[0], Command::Webhook { call, .. } if call.input == "9"));
        // Nothing typed: the request goes with an empty input.
        let mut run = run_of(hook(2, &[]));
        run.start();
        run.handle(Input::PlayFailed {
            id: 1,
            why: "gone".into(),
        });
        let out = without_traces(run.handle(Input::TimerFired { id: 2 }));
        assert!(matches!(&out[0], Command::Webhook { call, .. } if call.input.is_empty()));
    }

    #[test]
    fn no_usable_reply_takes_no_answer() {
        let cases = [
            (
                WebhookResult::TimedOut { time_ms: 3000 },
                "reply None timeout None",
            ),
            (
                WebhookResult::Failed {
                    why: "connection refused".into(),
                    time_ms: 1,
                },
                "reply None error: connection refused None",
            ),
            (
                WebhookResult::Replied {
                    status: 500,
                    body: b"{}".to_vec(),
                    time_ms: 1,
                },
                "reply Some(500) status None",
            ),
            (
                WebhookResult::Replied {
                    status: 204,
                    body: Vec::new(),
                    time_ms: 1,
                },
                "reply Some(204) status None",
            ),
            (ok("not json"), "bad_reply"),
            (
                ok("[1, 2]"),
                "reply Some(200) bad_reply: not a JSON object None",
            ),
            (ok(r#"{"phones": "101"}"#), "bad_reply: phones"),
        ];
        for (result, want) in cases {
            let (mut run, id) = started(hook(0, &[("1", "vip")]));
            let got = path(&run.handle(Input::WebhookDone { id, result }));
            assert!(got[0].contains(want), "{got:?} vs {want}");
            assert_eq!(got[1], "h->no_answer");
        }
        // No result at all: the guard takes no_answer.
        let (mut run, _) = started(hook(0, &[]));
        let got = path(&run.handle(Input::TimerFired { id: 2 }));
        assert_eq!(got, ["reply None timeout None", "h->no_answer"]);
        // A late result changes nothing.
        assert!(run
            .handle(Input::WebhookDone {
                id: 1,
                result: ok("{}")
            })
            .is_empty());
    }

    #[test]
    fn a_bound_code_takes_its_exit_after_the_message() {
        let w = hook(0, &[("1", "vip"), ("2", "vip"), ("7", "debtor")]);
        for (body, exit) in [
            (r#"{"returned_code": 2}"#, "h->vip"),
            (r#"{"returned_code": "7"}"#, "h->debtor"),
            (r#"{"returned_code": 3}"#, "h->ok"),
        ] {
            let (mut run, id) = started(w.clone());
            let got = path(&run.handle(Input::WebhookDone {
                id,
                result: ok(body),
            }));
            assert_eq!(got.last().map(String::as_str), Some(exit), "{body}");
        }
        // The message plays first (answering the caller), a file by name, else the text.
        let (mut run, id) = started(w.clone());
        let out = run.handle(Input::WebhookDone {
            id,
            result: ok(r#"{"returned_code": 1, "message_name": "hello", "text": "Hi"}"#),
        });
        assert_eq!(
            without_traces(out),
            vec![
                Command::Answer,
                Command::Play {
                    id: 3,
                    prompt: Prompt::File { id: FileId(1) }
                }
            ]
        );
        assert_eq!(path(&run.handle(Input::PlayDone { id: 3 })), ["h->vip"]);
        let (mut run, id) = started(w.clone());
        let out = run.handle(Input::WebhookDone {
            id,
            result: ok(r#"{"message_name": "nope", "text": "Hi"}"#),
        });
        assert_eq!(path(&out), ["reply Some(200) ok None", "prompt failed"]);
        assert!(out.contains(&Command::Play {
            id: 3,
            prompt: Prompt::Text {
                text: "Hi".into(),
                voice: None
            }
        }));
        let out = run.handle(Input::PlayFailed {
            id: 3,
            why: "tts".into(),
        });
        assert_eq!(path(&out), ["prompt failed", "h->ok"]);
    }

    #[test]
    fn phones_are_rung_with_the_replys_hint() {
        let (mut run, id) = started(hook(0, &[]));
        let out = run.handle(Input::WebhookDone {
            id,
            result: ok(
                r#"{"phones": ["101", "+79161234567"], "operator_media": "vip-hint", "operator_text": "x"}"#,
            ),
        });
        let fwd = without_traces(out);
        let [Command::Forward { id: fid, forward }] = fwd.as_slice() else {
            panic!("{fwd:?}");
        };
        assert_eq!(
            forward.targets,
            [
                ForwardTarget::Employee {
                    id: vpbx_store::model::EmployeeId(1)
                },
                ForwardTarget::External {
                    number: "79161234567".into(),
                    timeout_s: None
                }
            ]
        );
        assert_eq!(forward.operator_hint, Some(Prompt::File { id: FileId(2) }));
        let out = run.handle(Input::ForwardDone {
            id: *fid,
            outcome: ForwardOutcome::Answered,
        });
        assert_eq!(path(&out), ["h->answered"]);
        for outcome in [ForwardOutcome::NoAnswer, ForwardOutcome::Busy] {
            let (mut run, id) = started(hook(0, &[]));
            run.handle(Input::WebhookDone {
                id,
                result: ok(r#"{"phones": ["5"]}"#),
            });
            let out = run.handle(Input::ForwardDone { id: 3, outcome });
            assert_eq!(path(&out), ["h->not_answered"]);
        }
    }

    #[test]
    fn the_replys_hint_beats_a_later_forwards_own() {
        // The text hint (no media), then `ok` to the forward `f` with a hint of its own.
        let (mut run, id) = started(hook(0, &[]));
        let out = run.handle(Input::WebhookDone {
            id,
            result: ok(r#"{"operator_text": "Client owes 100", "operator_media": "nope"}"#),
        });
        let fwd = without_traces(out);
        let Some(Command::Forward { forward, .. }) = fwd.last() else {
            panic!("{fwd:?}");
        };
        assert_eq!(
            forward.operator_hint,
            Some(Prompt::Text {
                text: "Client owes 100".into(),
                voice: None
            })
        );
        // Without a hint in the reply, the forward keeps its own.
        let (mut run, id) = started(hook(0, &[]));
        let fwd = without_traces(run.handle(Input::WebhookDone {
            id,
            result: ok("{}"),
        }));
        let Some(Command::Forward { forward, .. }) = fwd.last() else {
            panic!("{fwd:?}");
        };
        assert_eq!(forward.operator_hint, Some(Prompt::File { id: FileId(5) }));
    }
}
