//! The call core on virtual time: feed events, assert effects, fire the timer the core asked
//! for (ersip's transaction tests, quinn's `Pair::step`). No sockets, no runtime, no clock.

use super::*;
use vpbx_store::model::{CompanyConfig, RingOutcome};

/// A call and a virtual clock that jumps to the core's next deadline.
struct Sim {
    core: CallCore,
    now: Instant,
    /// Every effect so far, in order.
    log: Vec<Effect>,
}

fn company(scenario_yaml: &str) -> (Arc<CompanyConfig>, Arc<Scenario>) {
    let yaml = format!(
        r#"
employees:
  - id: 1
    first_name: Anna
    last_name: Petrova
    extension: "101"
    phones: [ {{ kind: sip_line, id: 1, login: "101", password: "pw-101-xxxxxxx", dial_timeout_s: 15 }} ]
  - id: 2
    first_name: Boris
    last_name: Ivanov
    extension: "102"
    phones: [ {{ kind: sip_line, id: 2, login: "102", password: "pw-102-xxxxxxx", dial_timeout_s: 20 }} ]
  - id: 3
    first_name: Vera
    last_name: Orlova
    extension: "103"
    transfers_join_queue: true
    phones: [ {{ kind: sip_line, id: 3, login: "103", password: "pw-103-xxxxxxx", dial_timeout_s: 20 }} ]
talk_options:
  - {{ id: 1, keys: "*5", action: {{ kind: recorder }} }}
scenarios:
{scenario_yaml}
"#
    );
    let cfg: CompanyConfig = serde_yaml::from_str(&yaml).expect("test company");
    let s = cfg.scenarios[0].clone();
    (Arc::new(cfg), Arc::new(s))
}

/// Forward to Anna (answered → hang up; no answer → voicemail-less hang-up).
const FORWARD_TO_ANNA: &str = r#"
  - id: 1
    name: to Anna
    start: ring
    operations:
      ring:
        action: { kind: forward, targets: [ { kind: employee, id: 1 } ], max_wait_s: 60 }
        exits: {}
"#;

impl Sim {
    fn new(scenario_yaml: &str) -> Sim {
        Sim::with(scenario_yaml, |_| {})
    }

    /// A call whose setup `tweak` changes first.
    fn with(scenario_yaml: &str, tweak: impl FnOnce(&mut CallInfo)) -> Sim {
        let (cfg, scenario) = company(scenario_yaml);
        let mut info = CallInfo {
            call_id: "c1".into(),
            numa: "79001234567".into(),
            numb: "74951234567".into(),
            dialog: Dialog {
                call_id: "caller-call".into(),
                local_tag: "us".into(),
                remote_tag: "them".into(),
            },
            outbound_caller_id: None,
            caller_line: None,
            start_unix_ms: 0,
            originated: false,
            resume_at: None,
        };
        tweak(&mut info);
        let mut sim = Sim {
            core: CallCore::new(info, scenario, cfg, 50),
            now: crate::clock::test_origin(),
            log: Vec::new(),
        };
        let out = sim.core.start(sim.now);
        sim.log.extend(out.iter().cloned());
        sim
    }

    fn feed(&mut self, input: Input) -> Vec<Effect> {
        let out = self.core.handle(self.now, input);
        self.log.extend(out.iter().cloned());
        out
    }

    fn party(&mut self, p: u32, s: Signal) -> Vec<Effect> {
        self.feed(Input::Party(PartyId(p), s))
    }

    /// Jumps to the next deadline and fires it; returns its reason and the effects.
    fn step(&mut self) -> Option<(Timer, Vec<Effect>)> {
        let (at, reason) = self.core.poll_timeout()?;
        self.now = self.now.max(at);
        let out = self.core.handle_timeout(self.now);
        self.log.extend(out.iter().cloned());
        Some((reason, out))
    }

    fn answered_by(&mut self, p: u32) -> Vec<Effect> {
        self.party(
            p,
            Signal::Answered {
                by: format!("party {p}"),
                dialog: Dialog {
                    call_id: format!("out-{p}"),
                    local_tag: "a".into(),
                    remote_tag: format!("b{p}"),
                },
            },
        )
    }

    fn events(&self) -> Vec<&Event> {
        self.log
            .iter()
            .filter_map(|e| match e {
                Effect::Event(e) => Some(e),
                _ => None,
            })
            .collect()
    }
}

fn dials(out: &[Effect]) -> Vec<(PartyId, String)> {
    out.iter()
        .filter_map(|e| match e {
            Effect::Dial {
                party, caller_id, ..
            } => Some((*party, caller_id.clone())),
            _ => None,
        })
        .collect()
}

fn ended(out: &[Effect]) -> Option<(CallResult, HangupSide)> {
    out.iter().find_map(|e| match e {
        Effect::End { result, side, .. } => Some((*result, *side)),
        _ => None,
    })
}

#[test]
fn forward_with_early_media_then_no_answer_ends_unanswered() {
    let t0 = crate::clock::test_origin();
    let mut sim = Sim::new(FORWARD_TO_ANNA);
    // The caller rings; Anna's line is dialled with the caller's number (a SIP phone).
    assert_eq!(
        sim.log[..2],
        [
            Effect::Event(Event::ScenarioStarted {
                name: "to Anna".into()
            }),
            Effect::Event(Event::OperationEntered {
                op: "ring".into(),
                kind: "forward".into()
            }),
        ]
    );
    assert!(sim.log.contains(&Effect::RingCaller));
    assert_eq!(dials(&sim.log), vec![(PartyId(1), "79001234567".into())]);
    // Early media: 183 to the caller, the caller hears the party.
    let out = sim.party(1, Signal::Ringing { early: true });
    assert!(out.contains(&Effect::ProgressCaller));
    assert!(out.contains(&Effect::Bridge { party: PartyId(1) }));
    // Nobody answers: the 15 s round ends before the 60 s maximum wait.
    let (reason, out) = sim.step().unwrap();
    assert_eq!(reason, Timer::RingRound);
    assert_eq!(sim.now.duration_since(t0).as_secs(), 15);
    assert!(out.contains(&Effect::Release {
        party: PartyId(1),
        reason: "no answer".into()
    }));
    assert!(out.contains(&Effect::Unbridge));
    assert_eq!(
        ended(&out),
        Some((CallResult::NotAnswered, HangupSide::Switch))
    );
    assert!(sim.events().iter().any(|e| matches!(
        e,
        Event::RingEnded {
            outcome: RingOutcome::Cancelled,
            cause: Some(LegCause::NoAnswer),
            ..
        }
    )));
    assert!(
        sim.core.poll_timeout().is_none(),
        "no timer outlives the call"
    );
}

#[test]
fn busy_everywhere_ends_busy_and_late_events_are_ignored() {
    let mut sim = Sim::new(FORWARD_TO_ANNA);
    let out = sim.party(
        1,
        Signal::Rejected {
            code: 486,
            cause: LegCause::Busy,
        },
    );
    assert_eq!(ended(&out), Some((CallResult::Busy, HangupSide::Switch)));
    // A late answer of a leg the call no longer has changes nothing.
    assert!(sim.answered_by(1).is_empty());
}

#[test]
fn hold_plays_music_to_the_other_side_and_resume_reconnects() {
    let mut sim = Sim::new(FORWARD_TO_ANNA);
    let out = sim.answered_by(1);
    assert!(out.contains(&Effect::AnswerCaller));
    assert!(out.contains(&Effect::Bridge { party: PartyId(1) }));
    assert!(
        sim.core.poll_timeout().is_none(),
        "the ring timers are gone once talking"
    );
    let out = sim.party(
        1,
        Signal::Media {
            held: true,
            to: "x".into(),
        },
    );
    assert!(out.contains(&Effect::MusicOnHold {
        to: Listener::Caller
    }));
    let out = sim.party(
        1,
        Signal::Media {
            held: false,
            to: "x".into(),
        },
    );
    assert!(out.contains(&Effect::StopOutput {
        of: Listener::Caller
    }));
    let out = sim.feed(Input::Caller(Signal::Media {
        held: true,
        to: "y".into(),
    }));
    assert!(out.contains(&Effect::MusicOnHold {
        to: Listener::Party(PartyId(1))
    }));
    // The employee hangs up: the scenario goes on at `answered`, which leads nowhere.
    let out = sim.party(1, Signal::Hangup);
    assert_eq!(
        ended(&out),
        Some((CallResult::Answered, HangupSide::Switch))
    );
}

#[test]
fn blind_transfer_completes_when_the_target_answers() {
    let mut sim = Sim::new(FORWARD_TO_ANNA);
    sim.answered_by(1);
    let out = sim.party(
        1,
        Signal::Refer {
            target: "102".into(),
            replaces: None,
        },
    );
    // The caller hears ringback; Boris rings; Anna stays until he answers.
    assert!(out.contains(&Effect::Unbridge));
    assert!(out.contains(&Effect::Ringback { prompt: None }));
    assert_eq!(dials(&out), vec![(PartyId(2), "79001234567".into())]);
    assert!(!out.iter().any(|e| matches!(
        e,
        Effect::Release {
            party: PartyId(1),
            ..
        }
    )));
    let out = sim.answered_by(2);
    assert!(out.contains(&Effect::Bridge { party: PartyId(2) }));
    assert!(out.contains(&Effect::Release {
        party: PartyId(1),
        reason: "call transferred".into()
    }));
    // The caller's phone is told it talks to Boris now.
    assert!(out.contains(&Effect::UpdateIdentity {
        to: Listener::Caller,
        display: "Boris Ivanov".into(),
        number: "102".into(),
    }));
    assert!(sim.events().contains(&&Event::TransferCompleted {
        kind: TransferKind::Blind
    }));
}

#[test]
fn blind_transfer_failure_gives_the_caller_back_to_the_transferor() {
    let mut sim = Sim::new(FORWARD_TO_ANNA);
    sim.answered_by(1);
    sim.party(
        1,
        Signal::Refer {
            target: "102".into(),
            replaces: None,
        },
    );
    // Boris never answers: after his 20 s the transfer fails with 480.
    let (reason, out) = sim.step().unwrap();
    assert_eq!(reason, Timer::RingRound);
    assert!(out.contains(&Effect::ReferFailed {
        party: PartyId(1),
        code: 480
    }));
    assert!(out.contains(&Effect::Bridge { party: PartyId(1) }));
    assert!(ended(&out).is_none(), "the call goes on with Anna");
    // Anna can hold again: she is the talk.
    let out = sim.party(
        1,
        Signal::Media {
            held: true,
            to: "x".into(),
        },
    );
    assert!(out.contains(&Effect::MusicOnHold {
        to: Listener::Caller
    }));
}

#[test]
fn attended_transfer_from_the_employee_joins_and_releases_her() {
    let mut sim = Sim::new(FORWARD_TO_ANNA);
    sim.answered_by(1);
    let r = Replaces {
        call_id: "consult".into(),
        to_tag: "x".into(),
        from_tag: "y".into(),
    };
    let out = sim.party(
        1,
        Signal::Refer {
            target: "102".into(),
            replaces: Some(r.clone()),
        },
    );
    assert_eq!(
        out.last(),
        Some(&Effect::Join {
            replaces: r,
            keep: Listener::Caller
        })
    );
    let out = sim.feed(Input::Joined(Ok(())));
    assert!(out.contains(&Effect::Release {
        party: PartyId(1),
        reason: "call transferred".into()
    }));
    // The other call ends: so does this one.
    let out = sim.feed(Input::PartnerEnded);
    assert_eq!(
        ended(&out),
        Some((CallResult::Answered, HangupSide::Callee))
    );
}

#[test]
fn a_join_request_naming_our_caller_hangs_the_caller_up_and_keeps_the_party() {
    let mut sim = Sim::new(FORWARD_TO_ANNA);
    sim.answered_by(1);
    let r = Replaces {
        call_id: "caller-call".into(),
        to_tag: "them".into(),
        from_tag: "us".into(),
    };
    let partner = ("Boris Ivanov".to_string(), "102".to_string());
    let (keep, out, kept) = sim.core.join_request(&r, partner).unwrap();
    assert_eq!(keep, Listener::Party(PartyId(1)));
    // Anna, kept, is told she talks to Boris now; Boris's call learns she is Anna.
    assert!(out.contains(&Effect::UpdateIdentity {
        to: Listener::Party(PartyId(1)),
        display: "Boris Ivanov".into(),
        number: "102".into(),
    }));
    assert_eq!(kept, ("Anna Petrova".to_string(), "101".to_string()));
    assert!(out.contains(&Effect::HangupCaller {
        reason: "call transferred".into()
    }));
    let out = sim.party(1, Signal::Hangup);
    assert_eq!(
        ended(&out),
        Some((CallResult::Answered, HangupSide::Callee))
    );
    // A dialog this call does not have is refused.
    let mut other = Sim::new(FORWARD_TO_ANNA);
    assert!(other.core.join_request(&r, Default::default()).is_err());
}

#[test]
fn talk_option_keys_toggle_recording_and_stale_keys_expire() {
    let mut sim = Sim::new(FORWARD_TO_ANNA);
    sim.answered_by(1);
    let key = |d| Signal::Dtmf {
        digit: d,
        duration_ms: 80,
        sip_info: false,
    };
    sim.party(1, key('*'));
    // Three seconds pass without a key: '*' is forgotten, so '5' alone does nothing.
    let (reason, _) = sim.step().unwrap();
    assert_eq!(reason, Timer::TalkKeys);
    let out = sim.party(1, key('5'));
    assert!(!out.contains(&Effect::StartRecording));
    sim.party(1, key('*'));
    let out = sim.party(1, key('5'));
    assert!(out.contains(&Effect::StartRecording));
    sim.party(1, key('*'));
    assert!(sim.party(1, key('5')).contains(&Effect::StopRecording));
}

#[test]
fn caller_cancel_before_answer_is_abandoned_and_releases_nothing_twice() {
    let mut sim = Sim::new(FORWARD_TO_ANNA);
    let out = sim.feed(Input::Caller(Signal::Cancelled));
    assert_eq!(
        ended(&out),
        Some((CallResult::Abandoned, HangupSide::Caller))
    );
    assert!(sim.feed(Input::Caller(Signal::Hangup)).is_empty());
}

#[test]
fn ring_operation_waits_on_the_timer_table() {
    let yaml = r#"
  - id: 1
    name: ring then hang up
    start: r
    operations:
      r: { action: { kind: ring, ms: 2500 }, exits: { next: bye } }
      bye: { action: { kind: hang_up }, exits: {} }
"#;
    let t0 = crate::clock::test_origin();
    let mut sim = Sim::new(yaml);
    assert!(sim.log.contains(&Effect::RingCaller));
    let (reason, out) = sim.step().unwrap();
    assert!(matches!(reason, Timer::Scenario(_)));
    assert_eq!(sim.now.duration_since(t0).as_millis(), 2500);
    assert_eq!(
        ended(&out),
        Some((CallResult::NotAnswered, HangupSide::Switch))
    );
}

#[test]
fn a_busy_extension_rejects_the_caller_with_486_naming_it_and_the_call_is_busy() {
    let mut sim = Sim::new(FORWARD_TO_ANNA);
    let out = sim.party(
        1,
        Signal::Rejected {
            code: 486,
            cause: LegCause::Busy,
        },
    );
    assert!(
        out.contains(&Effect::RejectCaller {
            code: 486,
            reason: "Extension 101 is busy".into()
        }),
        "{out:#?}"
    );
    assert_eq!(ended(&out), Some((CallResult::Busy, HangupSide::Switch)));
    // The rejection comes before the end, which is always last.
    assert!(matches!(out.last(), Some(Effect::End { .. })));
}

#[test]
fn the_phones_that_lost_a_fork_are_told_the_call_was_completed_elsewhere() {
    const GROUP: &str = r#"
  - id: 1
    name: to both
    start: ring
    operations:
      ring:
        action: { kind: forward, targets: [ { kind: employee, id: 1 }, { kind: employee, id: 2 } ], mode: simultaneous }
        exits: {}
"#;
    let mut sim = Sim::new(GROUP);
    let out = sim.answered_by(2);
    assert!(
        out.contains(&Effect::LoseFork { party: PartyId(1) }),
        "{out:#?}"
    );
    assert!(!out.iter().any(|e| matches!(
        e,
        Effect::Release {
            party: PartyId(1),
            ..
        }
    )));
}

/// A group of Anna and Boris dialled by Anna's own line (id 1).
fn anna_dials_the_group() -> Sim {
    const GROUP: &str = r#"
  - id: 1
    name: to the group
    start: ring
    operations:
      ring:
        action: { kind: forward, targets: [ { kind: group, id: 7 } ], mode: simultaneous }
        exits: {}
"#;
    let (cfg, scenario) = company(GROUP);
    let mut cfg = (*cfg).clone();
    cfg.groups = vec![serde_yaml::from_str(
        "{ id: 7, name: Sales, extension: \"200\", members: [1, 2], simultaneous_lines: 2 }",
    )
    .expect("group")];
    let info = CallInfo {
        call_id: "c1".into(),
        numa: "101".into(),
        numb: "200".into(),
        dialog: Dialog {
            call_id: "caller-call".into(),
            local_tag: "us".into(),
            remote_tag: "them".into(),
        },
        outbound_caller_id: None,
        caller_line: Some(CallerLine {
            line: vpbx_store::model::SipLineId(1),
            name: "Anna Petrova".into(),
        }),
        start_unix_ms: 0,
        originated: false,
        resume_at: None,
    };
    let mut sim = Sim {
        core: CallCore::new(info, scenario, Arc::new(cfg), 50),
        now: crate::clock::test_origin(),
        log: Vec::new(),
    };
    let out = sim.core.start(sim.now);
    sim.log.extend(out.iter().cloned());
    sim
}

#[test]
fn a_line_dialling_its_own_group_rings_the_others_with_its_name() {
    let sim = anna_dials_the_group();
    let dialled: Vec<_> = sim
        .log
        .iter()
        .filter_map(|e| match e {
            Effect::Dial {
                target,
                caller_name,
                ..
            } => Some((target.clone(), caller_name.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(
        dialled,
        vec![(
            DialTarget::Line {
                line: vpbx_store::model::SipLineId(2),
                login: "102".into()
            },
            Some("Anna Petrova".into())
        )]
    );
    assert!(sim.events().iter().any(|e| matches!(
        e,
        Event::TargetSkipped { why, .. } if why == "is the caller"
    )));
}

fn dtmf(digit: char) -> Input {
    Input::Caller(Signal::Dtmf {
        digit,
        duration_ms: 100,
        sip_info: false,
    })
}

/// The menu in the call core: caller keys reach the scenario (barge-in stops the prompt on the
/// caller's media), the menu's wait is a timer of the table, and extension entry rings the
/// employee through the forward machinery.
#[test]
fn menu_keys_timers_and_extension_entry_in_the_call_core() {
    let yaml = r#"
  - id: 1
    name: menu
    start: m
    operations:
      m:
        action: { kind: menu, prompt: { kind: file, id: 1 }, timeout_s: 7, extension_entry: true }
        exits: { "2": m, timeout: bye, extension: bye }
      bye: { action: { kind: hang_up }, exits: {} }
"#;
    let t0 = crate::clock::test_origin();
    let mut sim = Sim::new(yaml);
    assert!(sim.log.contains(&Effect::AnswerCaller));
    // `2` over the prompt: the prompt stops, the menu starts again.
    let out = sim.feed(dtmf('2'));
    assert_eq!(
        out.iter()
            .filter(|e| matches!(
                e,
                Effect::StopOutput {
                    of: Listener::Caller
                }
            ))
            .count(),
        1,
        "{out:?}"
    );
    assert!(sim.events().iter().any(|e| matches!(e,
        Event::MenuInput { digits, outcome, .. } if digits == "2" && outcome == "key")));
    // The replayed prompt ends; nothing typed for 7 s: timeout → hang up.
    let play = out.iter().rev().find_map(|e| match e {
        Effect::Media(Command::Play { id, .. }) => Some(*id),
        _ => None,
    });
    sim.feed(Input::Scenario(scenario::Input::PlayDone {
        id: play.expect("the menu plays again"),
    }));
    let (reason, out) = sim.step().unwrap();
    assert!(matches!(reason, Timer::Scenario(_)));
    assert_eq!(sim.now.duration_since(t0).as_millis(), 7000);
    assert!(ended(&out).is_some(), "{out:?}");

    // Extension 101 typed: Anna's phone is dialled.
    let mut sim = Sim::new(yaml);
    let mut out = Vec::new();
    for d in ['1', '0', '1'] {
        out = sim.feed(dtmf(d));
    }
    assert_eq!(dials(&out).len(), 1, "{out:?}");
    assert!(sim.events().iter().any(|e| matches!(e,
        Event::MenuInput { digits, outcome, .. } if digits == "101" && outcome == "extension")));
    // While it rings, keys are not the menu's.
    sim.feed(dtmf('2'));
    assert!(!sim.events().iter().any(|e| matches!(e,
        Event::MenuInput { digits, .. } if digits == "2")));
}

/// A schedule branch decides on the wall-clock time it is entered at: the call's start time
/// plus the virtual time since (here an hour of ringing carries the call into office hours).
#[test]
fn a_schedule_branch_decides_on_the_time_it_is_entered_at() {
    let (cfg, scenario) = company(
        r#"
  - id: 1
    name: hours
    start: wait
    operations:
      wait:
        action: { kind: ring, ms: 3600000 }
        exits: { next: hours }
      hours:
        action: { kind: schedule_branch, schedule: 1 }
        exits: {}
"#,
    );
    let mut cfg = (*cfg).clone();
    cfg.time_zone = String::new();
    cfg.schedules.push(
        serde_yaml::from_str(
            "id: 1\nname: Office\ndays: { kind: weekly, week: { mon: [ { start: \"09:00\", end: \"18:00\" } ] } }\n",
        )
        .expect("schedule"),
    );
    // Monday 2026-12-07 08:30 UTC: outside when the call starts, inside an hour later.
    let info = CallInfo {
        call_id: "c1".into(),
        numa: "79001234567".into(),
        numb: "74951234567".into(),
        dialog: Dialog {
            call_id: "caller-call".into(),
            local_tag: "us".into(),
            remote_tag: "them".into(),
        },
        outbound_caller_id: None,
        caller_line: None,
        start_unix_ms: 1_796_632_200_000,
        originated: false,
        resume_at: None,
    };
    let mut sim = Sim {
        core: CallCore::new(info, scenario, Arc::new(cfg), 50),
        now: crate::clock::test_origin(),
        log: Vec::new(),
    };
    let out = sim.core.start(sim.now);
    sim.log.extend(out);
    let (timer, _) = sim.step().expect("the ring's timer");
    assert_eq!(timer, Timer::Scenario(1));
    let events = sim.events();
    assert!(
        events.iter().any(|e| matches!(e,
            Event::Note(n) if n.contains("hours: schedule 'Office': inside (Mon 2026-12-07 09:30 UTC"))),
        "{events:#?}"
    );
    assert!(
        events.iter().any(|e| matches!(e,
            Event::ExitTaken { op, exit } if op == "hours" && exit == "in")),
        "{events:#?}"
    );
}

/// Forward to Anna with a queue whose callers may press 1 to be called back.
const QUEUE_WITH_CALLBACK: &str = r#"
  - id: 1
    name: support
    start: ring
    operations:
      ring:
        action: { kind: forward, targets: [ { kind: employee, id: 1 } ], strategy: { kind: sequential }, queue: { announce: false, callback_key: "1" }, max_wait_s: 120 }
        exits: {}
"#;

fn place(position: usize) -> Place {
    Place {
        queue: "101".into(),
        position,
        ahead: Vec::new(),
        eta_s: 60,
        seq: 7,
    }
}

#[test]
fn a_waiting_caller_who_presses_the_callback_key_is_told_and_hung_up() {
    let mut sim = Sim::new(QUEUE_WITH_CALLBACK);
    let op = sim
        .log
        .iter()
        .find_map(|e| match e {
            Effect::Distribute { op, .. } => Some(*op),
            _ => None,
        })
        .expect("the operation asks the distributor");
    // Nobody is free: the caller is answered and joins the queue.
    let out = sim.feed(Input::Planned {
        op,
        rounds: Vec::new(),
    });
    assert!(out.contains(&Effect::AnswerCaller), "{out:?}");
    assert!(out.iter().any(|e| matches!(e, Effect::JoinQueue { .. })));
    sim.feed(Input::QueueJoined(Some(place(2))));
    // Another key does nothing; the callback key asks the distributor once.
    assert!(sim
        .feed(dtmf('2'))
        .iter()
        .all(|e| matches!(e, Effect::Event(_))));
    let out = sim.feed(dtmf('1'));
    assert!(
        out.contains(&Effect::RequestCallback {
            scenario: vpbx_store::model::ScenarioId(1),
            op: "ring".into()
        }),
        "{out:?}"
    );
    assert!(!sim
        .feed(dtmf('1'))
        .iter()
        .any(|e| matches!(e, Effect::RequestCallback { .. })));
    // The place is kept: the caller hears so, leaves the queue and is hung up.
    let out = sim.feed(Input::CallbackRegistered(Ok(CallbackReceipt {
        queue: "101".into(),
        position: 2,
        already: false,
    })));
    assert!(out.contains(&Effect::Say {
        text: acd::CALLBACK_PROMPT.into()
    }));
    assert!(sim.events().iter().any(|e| matches!(
        e,
        Event::CallbackRequested {
            position: 2,
            already: false,
            ..
        }
    )));
    assert!(sim
        .events()
        .iter()
        .any(|e| matches!(e, Event::QueueLeft { why, .. } if why == "callback requested")));
    assert_eq!(sim.core.poll_timeout(), None, "max wait no longer runs");
    let out = sim.feed(Input::SayDone);
    assert_eq!(
        ended(&out),
        Some((CallResult::Answered, HangupSide::Switch))
    );
}

/// The caller's queue operation up to its join: returns the join's request.
fn joining_the_queue(sim: &mut Sim) -> crate::core::dist::board::Request {
    let op = sim
        .log
        .iter()
        .find_map(|e| match e {
            Effect::Distribute { op, .. } => Some(*op),
            _ => None,
        })
        .unwrap();
    let out = sim.feed(Input::Planned {
        op,
        rounds: Vec::new(),
    });
    out.iter()
        .find_map(|e| match e {
            Effect::JoinQueue { request } => Some(request.clone()),
            _ => None,
        })
        .expect("the caller joins the queue")
}

#[test]
fn an_offer_that_overtakes_the_join_answer_rings_once_the_place_is_known() {
    let mut sim = Sim::new(QUEUE_WITH_CALLBACK);
    let request = joining_the_queue(&mut sim);
    // The distributor's offer arrives before its answer to the join: nothing rings yet.
    let out = sim.feed(Input::QueueOffer {
        round: request.candidates.clone(),
        timeout_s: 15,
    });
    assert!(dials(&out).is_empty(), "{out:?}");
    // The answer: the place is recorded first, then the offered phone rings.
    let out = sim.feed(Input::QueueJoined(Some(place(1))));
    assert_eq!(dials(&out).len(), 1, "{out:?}");
    let joined = out
        .iter()
        .position(|e| matches!(e, Effect::Event(Event::QueueJoined { position: 1, .. })))
        .expect("the join is recorded");
    let dialled = out
        .iter()
        .position(|e| matches!(e, Effect::Dial { .. }))
        .unwrap();
    assert!(joined < dialled, "{out:?}");
}

#[test]
fn an_offer_held_for_the_join_answer_is_given_back_when_the_caller_leaves_first() {
    let mut sim = Sim::new(QUEUE_WITH_CALLBACK);
    let request = joining_the_queue(&mut sim);
    sim.feed(Input::QueueOffer {
        round: request.candidates.clone(),
        timeout_s: 15,
    });
    // No distributor keeps the queue after all: the operation ends and the phones go back.
    let out = sim.feed(Input::QueueJoined(None));
    let lines: Vec<_> = request.candidates.iter().filter_map(|c| c.line).collect();
    assert!(!lines.is_empty());
    assert!(out.contains(&Effect::DeclineOffer { lines }), "{out:?}");
    assert!(dials(&out).is_empty(), "{out:?}");
}

#[test]
fn a_refused_callback_request_keeps_the_caller_waiting() {
    let mut sim = Sim::new(QUEUE_WITH_CALLBACK);
    joining_the_queue(&mut sim);
    sim.feed(Input::QueueJoined(Some(place(1))));
    sim.feed(dtmf('1'));
    let out = sim.feed(Input::CallbackRegistered(Err(
        "phones ring for the caller now".into(),
    )));
    assert_eq!(ended(&out), None);
    // Still waiting: offered phones ring, and the key may be pressed again.
    assert!(sim
        .feed(dtmf('1'))
        .iter()
        .any(|e| matches!(e, Effect::RequestCallback { .. })));
}

#[test]
fn a_callback_starts_answered_at_its_forward_operation_and_rejoins_without_a_round() {
    let sim = Sim::with(QUEUE_WITH_CALLBACK, |info| {
        info.originated = true;
        info.resume_at = Some("ring".into());
    });
    assert_eq!(
        sim.log.first(),
        Some(&Effect::AnswerCaller),
        "{:?}",
        sim.log
    );
    assert!(!sim.log.iter().any(|e| matches!(
        e,
        Effect::Distribute { .. } | Effect::Dial { .. } | Effect::RingCaller
    )));
    let joins: Vec<&Request> = sim
        .log
        .iter()
        .filter_map(|e| match e {
            Effect::JoinQueue { request } => Some(request),
            _ => None,
        })
        .collect();
    assert_eq!(joins.len(), 1, "{:?}", sim.log);
    assert_eq!(joins[0].queue.as_deref(), Some("101"));
    assert_eq!(joins[0].anchor, "1/ring");
}

#[test]
fn a_transfer_to_an_employee_who_queues_transfers_leaves_the_caller_in_her_queue() {
    let mut sim = Sim::new(FORWARD_TO_ANNA);
    sim.answered_by(1);
    let out = sim.party(
        1,
        Signal::Refer {
            target: "103".into(),
            replaces: None,
        },
    );
    // Vera's transfers may queue: the distributor plans her ring; Anna stays meanwhile.
    let (op, request) = out
        .iter()
        .find_map(|e| match e {
            Effect::Distribute { op, request } => Some((*op, request.clone())),
            _ => None,
        })
        .expect("the transfer is distributed");
    assert_eq!(request.queue.as_deref(), Some("103"));
    assert!(!out.iter().any(|e| matches!(e, Effect::Release { .. })));
    // Vera's line is busy (nothing to ring): the caller joins her queue, Anna is released.
    let out = sim.feed(Input::Planned {
        op,
        rounds: Vec::new(),
    });
    assert!(
        out.iter().any(|e| matches!(e, Effect::JoinQueue { .. })),
        "{out:?}"
    );
    assert!(out.contains(&Effect::Release {
        party: PartyId(1),
        reason: "call transferred to the queue".into()
    }));
    assert!(!out.iter().any(|e| matches!(e, Effect::ReferFailed { .. })));
    assert!(sim.events().contains(&&Event::TransferCompleted {
        kind: TransferKind::Blind
    }));
    assert_eq!(ended(&out), None);
}

/// Escalation after 10 s over a forward to Anna; escalated: Boris.
const ESCALATION: &str = r#"
  - id: 1
    name: escalation
    start: guard
    operations:
      guard:
        action: { kind: escalation, after_s: 10 }
        exits: { next: ring, escalated: head }
      ring:
        action: { kind: forward, targets: [ { kind: employee, id: 1 } ], max_wait_s: 60 }
        exits: {}
      head:
        action: { kind: forward, targets: [ { kind: employee, id: 2 } ] }
        exits: {}
"#;

#[test]
fn an_escalation_abandons_the_ringing_and_rings_its_target() {
    let mut sim = Sim::new(ESCALATION);
    assert_eq!(dials(&sim.log), vec![(PartyId(1), "79001234567".into())]);
    // 10 s later nobody answered: Anna's ring is released and Boris rings.
    let (reason, out) = sim.step().unwrap();
    assert!(matches!(reason, Timer::Scenario(_)), "{reason:?}");
    assert!(out.contains(&Effect::Release {
        party: PartyId(1),
        reason: "escalated".into()
    }));
    assert_eq!(dials(&out), vec![(PartyId(2), "79001234567".into())]);
    // Anna's late answer is ignored; Boris answers.
    assert!(dials(&sim.answered_by(1)).is_empty());
    let out = sim.answered_by(2);
    assert!(out.contains(&Effect::Bridge { party: PartyId(2) }));
}

#[test]
fn an_answered_call_is_not_escalated() {
    let mut sim = Sim::new(ESCALATION);
    sim.answered_by(1);
    // The escalation timer may still fire: nothing happens to the talk.
    while let Some((_, out)) = sim.step() {
        assert!(
            !out.iter()
                .any(|e| matches!(e, Effect::Release { .. } | Effect::Dial { .. })),
            "{out:?}"
        );
    }
    assert!(matches!(sim.core.state, State::Talking(_)));
}
