//! The call actor with fake legs, a fake dialer and fake media: the test plays the SIP edge (it
//! holds the caller's leg channels and serves the dialer) and the media engine is detached (no
//! sockets: every command a leg gets is logged and answered at once), so forward, hold and both
//! transfers run through the real shell and core with no SIP, no RTP and no socket. Every wait is
//! for an event, bounded.
#![allow(clippy::unwrap_used)]

use actix::prelude::*;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};
use vpbx_actors::call::{CallActor, CallDeps, CallExited, CallId, CallSetup};
use vpbx_actors::cdr::CdrSink;
use vpbx_actors::clock::Clock;
use vpbx_actors::core::routing::Routed;
use vpbx_actors::leg::{Dial, Dialer, Dialog, Leg, LegCommand, LegEvent, LegInfo, Replaces};
use vpbx_media::detached::{Logged, MediaLog};
use vpbx_media::{MediaConfig, MediaEngine, Negotiated};
use vpbx_store::model::{
    CallResult, CompanyConfig, Event, HangupSide, RuleId, ScenarioId, TransferKind,
};
use vpbx_store::Store;

const WAIT: Duration = Duration::from_secs(10);

struct TestClock;
impl Clock for TestClock {
    #[allow(clippy::disallowed_methods)] // the harness is the test's edge: it owns the clock
    fn unix_ms(&self) -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64
    }
    #[allow(clippy::disallowed_methods)]
    fn now(&self) -> std::time::Instant {
        std::time::Instant::now()
    }
}

/// Collects the calls' exits.
struct Exits(Arc<Mutex<Vec<CallExited>>>);
impl Actor for Exits {
    type Context = Context<Self>;
}
impl Handler<CallExited> for Exits {
    type Result = ();
    fn handle(&mut self, msg: CallExited, _: &mut Context<Self>) {
        self.0.lock().unwrap().push(msg);
    }
}

fn sdp(port: u16, direction: &str) -> Negotiated {
    let text = format!(
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio {port} RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\na={direction}\r\n"
    );
    vpbx_media::negotiate(&vpbx_media::SessionDescription::parse(&text).unwrap()).unwrap()
}

/// The media port in an SDP body (`m=audio <port> ...`).
fn sdp_port(sdp: &str) -> u16 {
    sdp.lines()
        .find_map(|l| l.strip_prefix("m=audio "))
        .and_then(|r| r.split(' ').next())
        .and_then(|p| p.parse().ok())
        .unwrap()
}

const COMPANY: &str = r#"
employees:
  - id: 1
    first_name: Anna
    last_name: Petrova
    extension: "101"
    phones: [ { kind: sip_line, id: 1, login: "101", password: "pw-101-xxxxxxx", dial_timeout_s: 20 } ]
  - id: 2
    first_name: Boris
    last_name: Ivanov
    extension: "102"
    phones: [ { kind: sip_line, id: 2, login: "102", password: "pw-102-xxxxxxx", dial_timeout_s: 20 } ]
scenarios:
  - id: 1
    name: to Anna
    start: ring
    operations:
      ring:
        action: { kind: forward, targets: [ { kind: employee, id: 1 } ] }
        exits: {}
  - id: 2
    name: to Boris
    start: ring
    operations:
      ring:
        action: { kind: forward, targets: [ { kind: employee, id: 2 } ] }
        exits: {}
"#;

/// The test's side of the switch: the store, the dialer's requests and the calls' exits.
struct Harness {
    _dir: tempfile::TempDir,
    store: Store,
    deps: CallDeps,
    dials: UnboundedReceiver<Dial>,
    exits: Arc<Mutex<Vec<CallExited>>>,
    exits_addr: Recipient<CallExited>,
    cfg: Arc<CompanyConfig>,
    /// What the legs' media was asked to do.
    media: MediaLog,
}

/// The caller's leg as the edge holds it.
struct CallerLeg {
    commands: UnboundedReceiver<LegCommand>,
    events: UnboundedSender<LegEvent>,
}

/// An outbound party as the edge holds it.
struct OutParty {
    dial: Dial,
}

impl OutParty {
    fn send(&self, ev: LegEvent) {
        self.dial.events.send(ev).unwrap();
    }
    fn answer(&self, port: u16, call_id: &str) {
        self.send(LegEvent::Answered {
            answer: Box::new(sdp(port, "sendrecv")),
            by: self.dial.request.target.to_string(),
            dialog: Box::new(Dialog {
                call_id: call_id.into(),
                local_tag: "sw".into(),
                remote_tag: "phone".into(),
            }),
        });
    }
    async fn command(&mut self) -> LegCommand {
        tokio::time::timeout(WAIT, self.dial.commands.recv())
            .await
            .expect("a command for the party")
            .expect("party channel open")
    }
}

impl Harness {
    fn new(ports: u16) -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let (cdrs, _writer) = CdrSink::start(store.clone(), || {}).unwrap();
        let (dialer, dials) = Dialer::new();
        let exits = Arc::new(Mutex::new(Vec::new()));
        let exits_addr = Exits(exits.clone()).start().recipient();
        let (engine, media) = MediaEngine::detached(MediaConfig {
            bind_ip: "127.0.0.1".parse().unwrap(),
            port_min: ports,
            port_max: ports + 499,
            inactivity_timeout: Duration::from_secs(60),
        });
        let deps = CallDeps {
            media: engine,
            cdrs,
            data_dir: dir.path().to_path_buf(),
            clock: Arc::new(TestClock),
            step_budget: 50,
            tts: vpbx_media::Tts::new(dir.path().join("tts")),
            default_voice: "en".into(),
            dialer,
            dialogs: Default::default(),
            dist: Default::default(),
            mail: Default::default(),
            store: Some(store.clone()),
            speech_url: None,
            numbering: Default::default(),
        };
        let cfg: CompanyConfig = serde_yaml::from_str(COMPANY).unwrap();
        Harness {
            _dir: dir,
            store,
            deps,
            dials,
            exits,
            exits_addr,
            cfg: Arc::new(cfg),
            media,
        }
    }

    /// A call from `numa` to the scenario `scenario`, its inbound dialog named `sip_call_id`.
    fn call(&self, scenario: u64, sip_call_id: &str) -> (Addr<CallActor>, CallerLeg) {
        let (cmd_tx, cmd_rx) = tokio::sync::mpsc::unbounded_channel();
        let (ev_tx, ev_rx) = tokio::sync::mpsc::unbounded_channel();
        let s = self
            .cfg
            .scenarios
            .iter()
            .find(|s| s.id == ScenarioId(scenario))
            .unwrap()
            .clone();
        let setup = CallSetup {
            call_id: CallId(format!("test-{sip_call_id}")),
            leg: Leg {
                info: LegInfo {
                    sip_call_id: sip_call_id.into(),
                    numa: "79001234567".into(),
                    numb: "74951234567".into(),
                    offer: sdp(9, "sendrecv"),
                    local_tag: "sw-tag".into(),
                    remote_tag: "caller-tag".into(),
                },
                commands: cmd_tx,
                events: ev_rx,
            },
            routed: Some(Routed {
                rule: RuleId(1),
                rule_name: "all".into(),
                scenario: ScenarioId(scenario),
                skipped: vec![],
            }),
            scenario: Arc::new(s),
            snapshot: self.cfg.clone(),
            outbound_caller_id: None,
            caller_line: None,
            origin: None,
        };
        let deps = self.deps.clone();
        let sup = self.exits_addr.clone();
        let addr = CallActor::create(move |_| CallActor::new(setup, deps, sup));
        (
            addr,
            CallerLeg {
                commands: cmd_rx,
                events: ev_tx,
            },
        )
    }

    async fn dialled(&mut self) -> OutParty {
        let dial = tokio::time::timeout(WAIT, self.dials.recv())
            .await
            .expect("a dial request")
            .expect("dialer open");
        OutParty { dial }
    }

    /// The CDR of a call, once written.
    async fn cdr(&self, sip_call_id: &str) -> vpbx_store::model::Cdr {
        for _ in 0..500 {
            let found = self
                .store
                .recent_cdrs(20)
                .unwrap()
                .into_iter()
                .find(|c| c.sip_call_id == sip_call_id);
            if let Some(c) = found {
                return c;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("no CDR for {sip_call_id}");
    }

    fn exited(&self) -> usize {
        self.exits.lock().unwrap().len()
    }
}

/// The media log of the leg on `port`, once `done` holds for it (bounded).
async fn wait_for(log: &MediaLog, port: u16, done: impl Fn(&[Logged]) -> bool) -> Vec<Logged> {
    for _ in 0..500 {
        let l = log.of(port);
        if done(&l) {
            return l;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("media of port {port}: {:?}", log.of(port));
}

impl CallerLeg {
    /// The next command matching `want`, skipping others.
    async fn until(&mut self, want: impl Fn(&LegCommand) -> bool) -> LegCommand {
        loop {
            let c = tokio::time::timeout(WAIT, self.commands.recv())
                .await
                .expect("a command for the caller")
                .expect("caller channel open");
            if want(&c) {
                return c;
            }
        }
    }
}

#[actix_rt::test]
async fn forward_hold_and_blind_transfer_through_the_shell() {
    let mut h = Harness::new(31000);
    let (_call, mut caller) = h.call(1, "c1");
    // Anna's line is dialled with the caller's number; the caller hears 180.
    let mut anna = h.dialled().await;
    assert_eq!(anna.dial.request.caller_id, "79001234567");
    anna.send(LegEvent::Ringing { early: None });
    caller.until(|c| *c == LegCommand::Ring).await;
    anna.answer(9, "anna-dialog");
    let LegCommand::Answer { sdp: ours } = caller
        .until(|c| matches!(c, LegCommand::Answer { .. }))
        .await
    else {
        unreachable!()
    };
    let caller_port = sdp_port(&ours);
    let anna_port = sdp_port(&anna.dial.request.offer_sdp);
    // Anna holds and resumes: the caller hears music on hold, then the bridge again.
    anna.send(LegEvent::RemoteMedia {
        offer: sdp(9, "sendonly"),
    });
    anna.send(LegEvent::RemoteMedia {
        offer: sdp(9, "sendrecv"),
    });
    let heard = wait_for(&h.media, caller_port, |l| {
        l.iter()
            .any(|x| matches!(x, Logged::Play { looped: true, .. }))
            && l.contains(&Logged::StopOutput)
    })
    .await;
    let moh = heard
        .iter()
        .position(|x| matches!(x, Logged::Play { looped: true, .. }))
        .unwrap();
    assert!(
        heard[moh..].contains(&Logged::StopOutput),
        "music on hold, then stopped: {heard:?}"
    );
    assert!(
        h.media
            .of(anna_port)
            .iter()
            .any(|x| matches!(x, Logged::Connect { .. })),
        "Anna's media was bridged"
    );
    // Anna transfers blind to 102: Boris is dialled; Anna stays until he answers.
    anna.send(LegEvent::Refer {
        target: "102".into(),
        replaces: None,
    });
    let boris = h.dialled().await;
    assert!(matches!(
        boris.dial.request.target,
        vpbx_actors::leg::DialTarget::Line { .. }
    ));
    boris.answer(9, "boris-dialog");
    assert_eq!(
        anna.command().await,
        LegCommand::Hangup {
            reason: "call transferred".into()
        }
    );
    // The caller hangs up: the call ends with Boris released.
    caller.events.send(LegEvent::RemoteHangup).unwrap();
    let cdr = h.cdr("c1").await;
    assert_eq!(
        (cdr.result, cdr.hangup),
        (CallResult::Answered, HangupSide::Caller)
    );
    let holds: Vec<bool> = cdr
        .what()
        .filter_map(|e| match e {
            Event::Hold { held, .. } => Some(*held),
            _ => None,
        })
        .collect();
    assert_eq!(holds, vec![true, false]);
    assert!(cdr.what().any(|e| *e
        == Event::TransferCompleted {
            kind: TransferKind::Blind
        }));
    assert_eq!(
        cdr.what()
            .filter(|e| matches!(e, Event::Talk { .. }))
            .count(),
        2,
        "{:?}",
        cdr.events
    );
    assert!(cdr.wait_ms().is_some());
    assert_eq!(cdr.ring_attempts(), 2);
    assert_eq!(h.exited(), 1);
}

#[actix_rt::test]
async fn attended_transfer_joins_two_calls_through_their_shells() {
    let mut h = Harness::new(31500);
    // Call 1: a caller talks to Anna.
    let (_c1, mut caller1) = h.call(1, "c1");
    let anna = h.dialled().await;
    anna.answer(9, "anna-dialog");
    caller1
        .until(|c| matches!(c, LegCommand::Answer { .. }))
        .await;
    // Call 2: Anna's consultation call reaches Boris (here: another caller to Boris).
    let (_c2, mut caller2) = h.call(2, "c2");
    let mut boris = h.dialled().await;
    boris.answer(9, "boris-dialog");
    caller2
        .until(|c| matches!(c, LegCommand::Answer { .. }))
        .await;
    // Anna refers call 1's caller to call 2's caller, replacing call 2's inbound dialog.
    anna.send(LegEvent::Refer {
        target: "102".into(),
        replaces: Some(Replaces {
            call_id: "c2".into(),
            to_tag: "sw-tag".into(),
            from_tag: "caller-tag".into(),
        }),
    });
    // Call 2's caller leg is hung up ("call transferred"); Anna is released from call 1.
    assert_eq!(
        caller2
            .until(|c| matches!(c, LegCommand::Hangup { .. }))
            .await,
        LegCommand::Hangup {
            reason: "call transferred".into()
        }
    );
    let mut anna = anna;
    assert_eq!(
        anna.command().await,
        LegCommand::Hangup {
            reason: "call transferred".into()
        }
    );
    // Boris (in call 2) hangs up: call 2 ends, and with it call 1 (joined).
    boris.send(LegEvent::RemoteHangup);
    let _ = boris.command().await;
    let c2 = h.cdr("c2").await;
    assert_eq!(c2.hangup, HangupSide::Callee);
    let c1 = h.cdr("c1").await;
    assert_eq!(
        (c1.result, c1.hangup),
        (CallResult::Answered, HangupSide::Callee)
    );
    assert!(c1.what().any(|e| *e
        == Event::TransferCompleted {
            kind: TransferKind::Attended
        }));
    caller1
        .until(|c| matches!(c, LegCommand::Hangup { .. }))
        .await;
}
