//! Voice assistant (SPEC §3 op 16): ask, listen, have the answer recognised, branch.
//!
//! - The caller is answered and hears the question (if any); a key pressed meanwhile changes
//!   nothing (the answer is spoken).
//! - Then [`Command::Listen`]: the shell records the caller until the silence after their answer
//!   (or `listen_s` without a word, or the longest answer) and posts the recording to the speech
//!   service; a guard timer of the whole (listen + answer + service time + 2 s) runs beside it,
//!   so a result that never comes takes `not_recognised` too.
//! - The exit is the phrase the service matched ([`matched`]) with at least `min_confidence`;
//!   anything else — nothing said, no match, too low a confidence, timeout, a failure, a status
//!   other than 200, a reply that is not the expected JSON, no service configured — takes
//!   `not_recognised`: the caller is never lost because recognition failed.
//! - The call's events get `speech_recognised` with the outcome, the text, the phrase, the
//!   confidence, and the audio and service times.

use super::{Command, Ctx, Input, OpState, Step};
use crate::core::speech::{matched, parse_reply, SpeechAsk, SpeechResult};
use vpbx_store::model::{Event, OpName, VoiceAssistant};

/// Milliseconds the guard timer waits beyond the listening and the service's timeout.
const GUARD_MS: u32 = 2000;

/// A running voice assistant.
#[derive(Debug)]
pub(crate) enum AssistantState {
    /// The question plays (prompt id).
    Question(u64),
    /// The shell listens and asks the service (`id`); the guard timer is `guard`.
    Listening { id: u64, guard: u64 },
}

pub(super) fn enter(ctx: &mut Ctx, v: &VoiceAssistant, out: &mut Vec<Command>) -> OpState {
    ctx.answer(out);
    OpState::Assistant(match &v.prompt {
        Some(prompt) => {
            let id = ctx.id();
            out.push(Command::Play {
                id,
                prompt: prompt.clone(),
            });
            AssistantState::Question(id)
        }
        None => listen(ctx, v, out),
    })
}

fn listen(ctx: &mut Ctx, v: &VoiceAssistant, out: &mut Vec<Command>) -> AssistantState {
    let id = ctx.id();
    let guard = ctx.id();
    let ask = SpeechAsk {
        lang: v.lang.clone(),
        phrases: v.phrases.clone(),
        listen_ms: v.listen_s.saturating_mul(1000),
        max_ms: v.max_s.saturating_mul(1000),
        silence_ms: v.silence_ms,
        timeout_ms: v.timeout_s.saturating_mul(1000),
    };
    let whole = ask
        .listen_ms
        .saturating_add(ask.max_ms)
        .saturating_add(ask.timeout_ms)
        .saturating_add(GUARD_MS);
    out.push(Command::Listen { id, ask });
    out.push(Command::Timer {
        id: guard,
        ms: whole,
    });
    AssistantState::Listening { id, guard }
}

pub(super) fn handle(
    ctx: &mut Ctx,
    name: &OpName,
    v: &VoiceAssistant,
    st: &mut AssistantState,
    input: Input,
    out: &mut Vec<Command>,
) -> Step {
    match (&*st, input) {
        (AssistantState::Question(id), Input::PlayDone { id: i }) if i == *id => {
            *st = listen(ctx, v, out);
            Step::Stay
        }
        (AssistantState::Question(id), Input::PlayFailed { id: i, why }) if i == *id => {
            out.push(Command::Event(Event::PromptFailed {
                why: format!("{name}: {why}, skipped"),
            }));
            *st = listen(ctx, v, out);
            Step::Stay
        }
        (AssistantState::Listening { id, .. }, Input::SpeechDone { id: i, result }) if i == *id => {
            let (event, exit) = judge(name, v, result);
            out.push(Command::Event(event));
            Step::Exit(exit)
        }
        (AssistantState::Listening { guard, .. }, Input::TimerFired { id: i }) if i == *guard => {
            out.push(Command::Event(recognised(name, "timeout", 0, 0)));
            Step::Exit("not_recognised".into())
        }
        _ => Step::Stay,
    }
}

/// An event without a usable reply.
fn recognised(name: &OpName, outcome: &str, audio_ms: u64, time_ms: u64) -> Event {
    Event::SpeechRecognised {
        op: name.to_string(),
        outcome: outcome.into(),
        text: None,
        phrase: None,
        confidence: None,
        audio_ms,
        time_ms,
    }
}

/// The call's event and the exit of one result.
fn judge(name: &OpName, v: &VoiceAssistant, result: SpeechResult) -> (Event, String) {
    let not = || "not_recognised".to_string();
    let (status, body, audio_ms, time_ms) = match result {
        SpeechResult::NotConfigured => return (recognised(name, "not_configured", 0, 0), not()),
        SpeechResult::NoSpeech { audio_ms } => {
            return (recognised(name, "no_speech", audio_ms, 0), not())
        }
        SpeechResult::TimedOut { audio_ms, time_ms } => {
            return (recognised(name, "timeout", audio_ms, time_ms), not())
        }
        SpeechResult::Failed {
            why,
            audio_ms,
            time_ms,
        } => {
            return (
                recognised(name, &format!("error: {why}"), audio_ms, time_ms),
                not(),
            )
        }
        SpeechResult::Replied {
            status,
            body,
            audio_ms,
            time_ms,
        } => (status, body, audio_ms, time_ms),
    };
    if status != 200 {
        return (recognised(name, "status", audio_ms, time_ms), not());
    }
    let heard = match parse_reply(&body) {
        Ok(h) => h,
        Err(why) => {
            return (
                recognised(name, &format!("bad_reply: {why}"), audio_ms, time_ms),
                not(),
            )
        }
    };
    let confidence = heard.confidence.unwrap_or(0.0);
    let phrase = matched(&v.phrases, &heard);
    let (outcome, exit) = match phrase {
        None => ("no_match", not()),
        Some(_) if confidence < f64::from(v.min_confidence) => ("low_confidence", not()),
        Some(p) => ("recognised", p.phrase.clone()),
    };
    #[allow(clippy::cast_possible_truncation)]
    let event = Event::SpeechRecognised {
        op: name.to_string(),
        outcome: outcome.into(),
        text: heard.text.clone(),
        phrase: phrase
            .map(|p| p.phrase.clone())
            .or_else(|| heard.phrase.clone()),
        confidence: heard.confidence.map(|c| c as f32),
        audio_ms,
        time_ms,
    };
    (event, exit)
}

#[cfg(test)]
mod tests {
    use crate::core::scenario::testkit::*;
    use crate::core::speech::SpeechResult;
    use vpbx_store::model::{Phrase, VoiceAssistant};

    fn assistant(prompt: bool) -> Arc<Scenario> {
        let v = VoiceAssistant {
            prompt: prompt.then(|| Prompt::Text {
                text: "Say support or billing".into(),
                voice: None,
            }),
            phrases: vec![
                Phrase {
                    phrase: "support".into(),
                    synonyms: vec!["help".into()],
                },
                Phrase {
                    phrase: "billing".into(),
                    synonyms: vec![],
                },
            ],
            lang: "en-US".into(),
            listen_s: 5,
            max_s: 6,
            silence_ms: 800,
            min_confidence: 0.5,
            timeout_s: 3,
        };
        scenario(vec![
            (
                "ask",
                Operation {
                    action: Action::VoiceAssistant(v),
                    exits: BTreeMap::from([
                        ("support".to_string(), OpName("s".into())),
                        ("billing".to_string(), OpName("b".into())),
                        ("not_recognised".to_string(), OpName("n".into())),
                    ]),
                },
            ),
            ("s", op(Action::Pause(Pause { ms: 1 }), None)),
            ("b", op(Action::Pause(Pause { ms: 2 }), None)),
            ("n", op(Action::Pause(Pause { ms: 3 }), None)),
        ])
    }

    /// Starts the run past the question; returns it and the listen id and guard id.
    fn listening() -> (ScenarioRun, u64, u64, u32) {
        let mut run = ScenarioRun::new(assistant(true), 10);
        let out = without_traces(run.start());
        assert_eq!(out[0], Command::Answer);
        let Command::Play { id, .. } = out[1] else {
            panic!("{out:?}")
        };
        // A key during the question changes nothing.
        assert!(without_traces(run.handle(Input::Digit { digit: '1' })).is_empty());
        let out = without_traces(run.handle(Input::PlayDone { id }));
        let (Command::Listen { id: listen, ask }, Command::Timer { id: guard, ms }) =
            (&out[0], &out[1])
        else {
            panic!("{out:?}")
        };
        assert_eq!(
            (ask.lang.as_str(), ask.listen_ms, ask.max_ms, ask.timeout_ms),
            ("en-US", 5000, 6000, 3000)
        );
        assert_eq!(ask.phrases.len(), 2);
        (run, *listen, *guard, *ms)
    }

    fn reply(body: &str) -> SpeechResult {
        SpeechResult::Replied {
            status: 200,
            body: body.as_bytes().to_vec(),
            audio_ms: 1200,
            time_ms: 40,
        }
    }

    /// The pause entered after the exit (its ms tell which exit) and the event's outcome.
    fn outcome(result: SpeechResult) -> (u32, String) {
        let (mut run, id, _, _) = listening();
        let out = run.handle(Input::SpeechDone { id, result });
        let event = out
            .iter()
            .find_map(|c| match c {
                Command::Event(Event::SpeechRecognised { outcome, .. }) => Some(outcome.clone()),
                _ => None,
            })
            .unwrap();
        let pause = out
            .iter()
            .find_map(|c| match c {
                Command::Silence { ms, .. } => Some(*ms),
                _ => None,
            })
            .unwrap();
        (pause, event)
    }

    #[test]
    fn the_recognised_phrase_is_the_exit() {
        assert_eq!(
            outcome(reply(
                r#"{"text":"billing","phrase":"billing","confidence":0.9}"#
            )),
            (2, "recognised".into())
        );
        // By synonym, from text alone.
        assert_eq!(
            outcome(reply(r#"{"text":"help me","confidence":0.7}"#)),
            (1, "recognised".into())
        );
        let (mut run, id, _, _) = listening();
        let out = run.handle(Input::SpeechDone {
            id,
            result: reply(r#"{"text":"support","phrase":"support","confidence":0.8}"#),
        });
        assert!(out.contains(&Command::Event(Event::SpeechRecognised {
            op: "ask".into(),
            outcome: "recognised".into(),
            text: Some("support".into()),
            phrase: Some("support".into()),
            confidence: Some(0.8),
            audio_ms: 1200,
            time_ms: 40,
        })));
    }

    #[test]
    fn every_failure_takes_not_recognised() {
        let n = |r| outcome(r);
        assert_eq!(
            n(reply(
                r#"{"text":"sales","phrase":"sales","confidence":0.9}"#
            )),
            (3, "no_match".into())
        );
        assert_eq!(
            n(reply(
                r#"{"text":"billing","phrase":"billing","confidence":0.3}"#
            )),
            (3, "low_confidence".into())
        );
        assert_eq!(
            n(reply(r#"{"text":"billing","phrase":"billing"}"#)),
            (3, "low_confidence".into())
        );
        assert_eq!(n(reply("oops")).1.split(':').next(), Some("bad_reply"));
        assert_eq!(
            n(SpeechResult::Replied {
                status: 500,
                body: Vec::new(),
                audio_ms: 1,
                time_ms: 1
            }),
            (3, "status".into())
        );
        assert_eq!(
            n(SpeechResult::NoSpeech { audio_ms: 5000 }),
            (3, "no_speech".into())
        );
        assert_eq!(n(SpeechResult::NotConfigured), (3, "not_configured".into()));
        assert_eq!(
            n(SpeechResult::TimedOut {
                audio_ms: 900,
                time_ms: 3000
            }),
            (3, "timeout".into())
        );
        assert_eq!(
            n(SpeechResult::Failed {
                why: "connection refused".into(),
                audio_ms: 900,
                time_ms: 2
            }),
            (3, "error: connection refused".into())
        );
    }

    #[test]
    fn the_guard_ends_a_wait_that_never_ends() {
        let (mut run, id, guard, ms) = listening();
        assert_eq!(ms, 5000 + 6000 + 3000 + 2000);
        let out = run.handle(Input::TimerFired { id: guard });
        assert!(out.iter().any(|c| matches!(
            c,
            Command::Event(Event::SpeechRecognised { outcome, .. }) if outcome == "timeout"
        )));
        assert!(out
            .iter()
            .any(|c| matches!(c, Command::Silence { ms: 3, .. })));
        // The late result is ignored.
        assert!(without_traces(run.handle(Input::SpeechDone {
            id,
            result: reply(r#"{"phrase":"billing","confidence":1}"#)
        }))
        .is_empty());
    }

    #[test]
    fn without_a_question_it_listens_at_once() {
        let mut run = ScenarioRun::new(assistant(false), 10);
        let out = without_traces(run.start());
        assert_eq!(out[0], Command::Answer);
        assert!(matches!(out[1], Command::Listen { .. }), "{out:?}");
    }
}
