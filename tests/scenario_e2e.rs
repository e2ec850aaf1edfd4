//! The scenarios issue's "done when": a scenario built only through the API — a greeting, a menu
//! with extension entry, a CRM webhook branch, a voice-assistant branch, a forward with
//! escalation, a forward whose no-answer falls back to voicemail with e-mail — handles real calls
//! correctly in every branch, and each call's path is visible in its events.
//!
//! One switch starts with an empty company. Employees with SIP lines, the scenario and the
//! virtual number with its rule are created through the REST API; every prompt is a text prompt.
//! The CRM and the speech service are stub HTTP servers and the mail relay an SMTP sink
//! (`tests/common/`). A SIP caller places one call per branch: it hears the greeting to its end
//! (the switch's audio, recognised by its content: [`Caller::hears`]), types RFC 4733 digits into
//! the menu, and speaks when the switch listens. The employees' registered lines answer, or ring
//! until the switch cancels them, as each branch needs. Each call's path is then read from the
//! call-detail API: the `exit_taken` sequence and the branch's own events.
//!
//! Nothing waits a fixed time: the test waits for SIP messages, the switch's RTP, the stubs and
//! the call records, with bounded waits only as upper bounds.
#![allow(clippy::unwrap_used)]

mod api_support;
mod common;
use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use api_support::*;
use common::*;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use tokio::net::UdpSocket;

/// The virtual number the scenario answers.
const NUMBER: &str = "74957000500";
/// The test caller's number (`Phone` calls from it).
const CALLER: &str = "79161234567";
const VOICE: &str = "en";
const GREETING: &str = "Welcome to Scenario Company.";
const MENU: &str = "Press one for your account, two for the assistant, three for support, \
                    four for sales, or dial an extension.";
const QUESTION: &str = "Say billing or operator.";
const BILLING: &str = "Your bill is paid.";
const LEAVE_A_MESSAGE: &str = "Nobody can take your call. Please leave a message after the tone.";
const SALES_MAIL: &str = "sales@scenario.invalid";
/// The CRM knows the caller: code 7, which the scenario binds to the `vip` exit.
const CRM_REPLY: &str = r#"{"returned_code": 7}"#;
/// The speech service hears "billing".
const SPEECH_REPLY: &str = r#"{"text": "billing please", "phrase": "billing", "confidence": 0.9}"#;

fn text(t: &str) -> Value {
    json!({"kind": "text", "text": t, "voice": VOICE})
}

/// The scenario, as the admin would send it: the greeting, then the menu — key 1 the CRM (its
/// code 7 rings Anna), key 2 the voice assistant, key 3 support under an escalation to the head
/// of support, key 4 sales with voicemail when nobody answers, or an employee's extension.
fn front_desk(crm_url: &str, anna: u64, boris: u64, olga: u64, dmitri: u64) -> Value {
    let ring = |employee: u64, max_wait_s: Option<u32>| {
        json!({"kind": "forward", "targets": [{"kind": "employee", "id": employee}],
               "max_wait_s": max_wait_s})
    };
    let ended = json!({"answered": "bye", "no_answer": "bye", "busy": "bye"});
    json!({
        "name": "Front desk",
        "greeting": text(GREETING),
        "start": "menu",
        "operations": {
            "menu": {"action": {"kind": "menu", "prompt": text(MENU), "timeout_s": 3,
                                "extension_entry": true},
                     "exits": {"1": "crm", "2": "assistant", "3": "guard", "4": "sales",
                               "extension": "bye", "timeout": "bye", "invalid": "menu"}},
            "crm": {"action": {"kind": "webhook", "url": crm_url, "method": "POST",
                               "timeout_s": 5, "params": ["cdr_id", "numa", "numb"],
                               "codes": {"7": "vip"}},
                    "exits": {"vip": "vip_line", "ok": "bye", "no_answer": "bye"}},
            "vip_line": {"action": ring(anna, None), "exits": ended},
            "assistant": {"action": {"kind": "voice_assistant", "prompt": text(QUESTION),
                                     "phrases": [{"phrase": "billing", "synonyms": ["invoice"]},
                                                 {"phrase": "operator"}],
                                     "listen_s": 5, "silence_ms": 800, "timeout_s": 5},
                          "exits": {"billing": "billing", "operator": "vip_line",
                                    "not_recognised": "bye"}},
            "billing": {"action": {"kind": "info_message", "prompt": text(BILLING)},
                        "exits": {"next": "bye"}},
            "guard": {"action": {"kind": "escalation", "after_s": 3},
                      "exits": {"next": "support", "escalated": "head"}},
            "support": {"action": ring(boris, Some(60)), "exits": ended},
            "head": {"action": ring(olga, None), "exits": ended},
            "sales": {"action": ring(dmitri, Some(2)),
                      "exits": {"answered": "bye", "no_answer": "vm", "busy": "vm"}},
            "vm": {"action": {"kind": "voicemail", "prompt": text(LEAVE_A_MESSAGE), "max_s": 20,
                              "silence_s": 1, "email": SALES_MAIL},
                   "exits": {"next": "bye"}},
            "bye": {"action": {"kind": "hang_up"}}
        }
    })
}

/// An employee created through the API, the SIP line the box generated registered.
struct Employee {
    id: u64,
    phone: LinePhone,
    rtp: UdpSocket,
}

async fn employee<S, B>(api: &Api<S>, sw: &TestSwitch, name: &str, extension: &str) -> Employee
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let (first, last) = name.split_once(' ').unwrap();
    let r = api
        .post(
            "/api/v1/employees",
            json!({"first_name": first, "last_name": last, "extension": extension,
                   "phones": [{"kind": "sip_line"}]}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let line = &r.json["phones"][0];
    let (login, password) = (line["login"].as_str(), line["password"].as_str());
    let mut phone = LinePhone::new(sw.sip, login.unwrap(), password.unwrap()).await;
    phone.register().await;
    Employee {
        id: r.json["id"].as_u64().unwrap(),
        phone,
        rtp: UdpSocket::bind("127.0.0.1:0").await.unwrap(),
    }
}

impl Employee {
    /// The phone rings and the employee answers.
    async fn answers(&mut self) {
        let port = self.rtp.local_addr().unwrap().port();
        self.phone.answer_next(port).await;
    }

    /// The employee hangs up the talk, as a phone does over UDP: the BYE is sent again until
    /// a final answer comes (RFC 3261 §17.1.2.2), and the answer to the first must be 200.
    async fn hangs_up(&mut self) {
        for attempt in 0..4 {
            self.phone.in_dialog("BYE", "", None).await;
            if let Some(answer) = self.phone.expect_response("BYE", 200, 3).await {
                // A BYE sent again after a late first one may find the call already gone.
                let fine =
                    answer.status() == Some(200) || (attempt > 0 && answer.status() == Some(481));
                assert!(fine, "the switch's answer to the BYE: {}", answer.start);
                return;
            }
        }
        panic!("no answer to four BYEs");
    }

    /// The phone rings (180) and nobody answers until the switch cancels the ring.
    async fn rings_until_cancelled(&mut self) {
        let invite = self
            .phone
            .expect_request("INVITE", 30)
            .await
            .expect("rings");
        self.phone
            .respond(&invite, 180, "Ringing", None, None)
            .await;
        let cancel = self
            .phone
            .expect_request("CANCEL", 30)
            .await
            .expect("the ring is cancelled");
        self.phone.respond(&cancel, 200, "OK", None, None).await;
        self.phone
            .respond(&invite, 487, "Request Terminated", None, None)
            .await;
    }
}

/// The caller on a call to [`NUMBER`]: its SIP phone and its RTP socket.
struct Caller {
    phone: Phone,
    rtp: UdpSocket,
    /// The switch's RTP address.
    to: SocketAddr,
    seq: u16,
    ts: u32,
    /// The switch's text-to-speech cache.
    tts: PathBuf,
}

impl Caller {
    /// Calls [`NUMBER`] and hears the greeting to its end: the menu listens now.
    async fn calls(sw: &TestSwitch) -> Caller {
        let rtp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let mut phone = Phone::new(sw.sip).await;
        let ok = phone.call(NUMBER, rtp.local_addr().unwrap().port()).await;
        let caller = Caller {
            phone,
            rtp,
            to: ok.sdp_media_addr().unwrap(),
            seq: 1,
            ts: 0,
            tts: sw.data.path().join("data/tts"),
        };
        caller.hears(&[GREETING]).await;
        caller
    }

    /// The samples the switch speaks for `text`, once it has spoken them (from its cache).
    fn spoken(&self, text: &str) -> Option<Vec<i16>> {
        let file = format!("{}.wav", vpbx_media::tts::cache_key(text, VOICE));
        let prompt = vpbx_media::Prompt::load_wav(&self.tts.join(file)).ok()?;
        Some(prompt.samples().to_vec())
    }

    /// Reads the switch's RTP until the last packet of what it plays now or next — the texts
    /// spoken one after the other, then the voicemail beep when `beep` — has arrived, so the
    /// switch has finished playing it (waits up to 30 s).
    async fn hears_then(&self, texts: &[&str], beep: bool) {
        let played = self.read_until_played(texts, beep);
        let heard = tokio::time::timeout(Duration::from_secs(30), played).await;
        assert!(
            heard.is_ok(),
            "the switch did not play {texts:?} to its end"
        );
    }

    /// [`hears_then`](Self::hears_then) without a bound: the packet carrying the audio's first
    /// loud frame is recognised by its content (the switch sends its frames from the start of
    /// a playback, one a packet), the packets after it are counted.
    async fn read_until_played(&self, texts: &[&str], beep: bool) {
        let mut buf = [0u8; 2048];
        // The first loud frame and how many frames follow it, once the switch spoke the texts.
        let mut wanted: Option<(Vec<i16>, usize)> = None;
        let mut left: Option<usize> = None;
        loop {
            let (n, _) = self.rtp.recv_from(&mut buf).await.unwrap();
            let packet = rtp_rs::RtpReader::new(&buf[..n]).unwrap();
            let codec = match packet.payload_type() {
                0 => vpbx_media::Codec::Pcmu,
                8 => vpbx_media::Codec::Pcma,
                _ => continue,
            };
            if let Some(left) = left.as_mut() {
                *left -= 1;
                if *left == 0 {
                    return;
                }
                continue;
            }
            if wanted.is_none() {
                let spoken: Option<Vec<Vec<i16>>> = texts.iter().map(|t| self.spoken(t)).collect();
                wanted = spoken.map(|parts| {
                    let mut audio = parts.concat();
                    if beep {
                        audio.extend_from_slice(vpbx_media::tones::beep().samples());
                    }
                    first_loud_frame(&audio)
                });
            }
            let Some((frame, after)) = &wanted else {
                continue;
            };
            if packet.payload() == codec.encode(frame) {
                if *after == 0 {
                    return;
                }
                left = Some(*after);
            }
        }
    }

    /// [`hears_then`](Self::hears_then) the texts alone.
    async fn hears(&self, texts: &[&str]) {
        self.hears_then(texts, false).await;
    }

    /// Types `keys` (RFC 4733).
    async fn types(&mut self, keys: &str) {
        for key in keys.chars() {
            send_digit(&self.rtp, self.to, key, &mut self.seq, &mut self.ts).await;
        }
    }

    /// Says a second of loud "speech", then keeps quiet until the switch hangs up.
    async fn says_something(&mut self) {
        let speech = loud_pcm(1.0);
        tokio::select! {
            () = self.phone.bye_from_switch() => {}
            () = say_then_keep_quiet(&self.rtp, self.to, &speech) => unreachable!(),
        }
    }

    /// Waits for the switch to hang up (answering its BYE).
    async fn is_hung_up(&self) {
        self.phone.bye_from_switch().await;
    }
}

/// The first loud 20 ms frame of `audio` (padded to 160 samples) and how many frames follow it.
fn first_loud_frame(audio: &[i16]) -> (Vec<i16>, usize) {
    let rms =
        |f: &[i16]| (f.iter().map(|s| f64::from(*s).powi(2)).sum::<f64>() / f.len() as f64).sqrt();
    let frames: Vec<&[i16]> = audio.chunks(160).collect();
    let first = frames.iter().position(|f| rms(f) > 500.0).expect("audible");
    let mut frame = frames[first].to_vec();
    frame.resize(160, 0);
    (frame, frames.len() - 1 - first)
}

/// `op:digits:outcome` of every `menu_input`.
fn menu_inputs(events: &[Value]) -> Vec<String> {
    let s = |v: &Value| v.as_str().unwrap().to_owned();
    find(events, "menu_input")
        .iter()
        .map(|x| format!("{}:{}:{}", s(&x["op"]), s(&x["digits"]), s(&x["outcome"])))
        .collect()
}

/// The notes among `events`.
fn notes(events: &[Value]) -> Vec<&str> {
    events
        .iter()
        .filter_map(|e| e["what"]["note"].as_str())
        .collect()
}

/// The employees who talked with the caller.
fn talked_with(events: &[Value]) -> Vec<u64> {
    find(events, "talk")
        .iter()
        .filter_map(|t| t["employee"].as_u64())
        .collect()
}

/// Asserts that `event` carries every field of `expected`, with its value.
#[track_caller]
fn carries(event: &Value, expected: Value) {
    for (field, value) in expected.as_object().unwrap() {
        assert_eq!(&event[field], value, "{field} in {event}");
    }
}

/// What every call shows first: the rule, the scenario, and the menu whose prompt the caller's
/// first key cut short (after the greeting, played to its end).
#[track_caller]
fn starts_at_the_menu(events: &[Value], first_key: &str) {
    assert_eq!(one(events, "rule_matched")["name"], "All callers");
    assert_eq!(one(events, "scenario_started")["name"], "Front desk");
    assert_eq!(find(events, "operation_entered")[0]["op"], "menu");
    // The greeting played to its end, then the menu's prompt, cut short by the first key.
    let prompts = find(events, "prompt_played");
    assert_eq!(
        prompts[0]["prompt"],
        format!("text: {GREETING}"),
        "{events:#?}"
    );
    assert_eq!(prompts[0]["interrupted_by"], Value::Null, "{events:#?}");
    assert_eq!(prompts[1]["prompt"], format!("text: {MENU}"), "{events:#?}");
    assert_eq!(prompts[1]["interrupted_by"], first_key, "{events:#?}");
}

#[actix_rt::test]
async fn every_branch_of_a_scenario_built_through_the_api_handles_real_calls() {
    let crm = HttpStub::start(|_| HttpReply::ok(CRM_REPLY)).await;
    let speech = HttpStub::start(|_| HttpReply::ok(SPEECH_REPLY)).await;
    let (sink, mut mails) = smtp_sink(SinkTls::Plain).await;
    let speech_url = speech.url("/recognise");
    let (mut sw, api) = api_on(
        TestSwitch::builder()
            .company("company: Scenario Company\ntime_zone: Europe/Moscow\n")
            .settings(move |s| {
                s.smtp = relay(sink.port());
                s.speech_url = Some(speech_url);
            }),
    )
    .await;

    // Everything through the API: four employees with generated SIP lines (registered), the
    // scenario, the virtual number with its rule.
    let mut anna = employee(&api, &sw, "Anna Petrova", "101").await;
    let mut boris = employee(&api, &sw, "Boris Ivanov", "102").await;
    let mut olga = employee(&api, &sw, "Olga Smirnova", "103").await;
    let mut dmitri = employee(&api, &sw, "Dmitri Orlov", "104").await;
    let scenario = front_desk(&crm.url("/incoming"), anna.id, boris.id, olga.id, dmitri.id);
    let r = api.post("/api/v1/scenarios", scenario).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let rule = json!({"name": "All callers", "scenario": r.json["id"]});
    let r = api
        .post(
            "/api/v1/numbers",
            json!({"number": NUMBER, "rules": [rule]}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);

    // 1. Key 1 → the CRM. Extension 101 starts with 1, so the key alone takes its exit once the
    // inter-digit timeout passed. The CRM answers code 7 → `vip` → Anna answers and talks.
    let mut call = Caller::calls(&sw).await;
    call.types("1").await;
    anna.answers().await;
    anna.hangs_up().await;
    call.is_hung_up().await;
    let record = api.finished_call(&call.phone.call_id).await;
    let events = record["events"].as_array().unwrap();
    starts_at_the_menu(events, "1");
    assert_eq!(menu_inputs(events), ["menu:1:key"]);
    assert_eq!(
        exits(events),
        ["menu->1", "crm->vip", "vip_line->answered"],
        "{events:#?}"
    );
    carries(
        one(events, "webhook_request"),
        json!({"op": "crm", "method": "POST", "url": crm.url("/incoming")}),
    );
    carries(
        one(events, "webhook_reply"),
        json!({"op": "crm", "status": 200, "outcome": "ok", "returned_code": "7"}),
    );
    assert_eq!(talked_with(events), [anna.id]);
    // The CRM was asked once, with the call's id, the caller and the number dialled.
    assert_eq!(crm.count(), 1);
    let asked = form(&crm.last().text());
    assert_eq!(asked["cdr_id"], record["call_id"].as_str().unwrap());
    assert_eq!(
        (asked["numa"].as_str(), asked["numb"].as_str()),
        (CALLER, NUMBER)
    );

    // 2. Key 2 → the voice assistant asks, the caller answers, the speech service hears
    // "billing" → the `billing` exit.
    let mut call = Caller::calls(&sw).await;
    call.types("2").await;
    call.hears(&[QUESTION]).await;
    call.says_something().await;
    let record = api.finished_call(&call.phone.call_id).await;
    let events = record["events"].as_array().unwrap();
    starts_at_the_menu(events, "2");
    assert_eq!(
        exits(events),
        ["menu->2", "assistant->billing", "billing->next"],
        "{events:#?}"
    );
    let heard = one(events, "speech_recognised");
    carries(
        heard,
        json!({"op": "assistant", "outcome": "recognised", "phrase": "billing",
               "text": "billing please"}),
    );
    assert!(heard["audio_ms"].as_u64().unwrap() >= 1000, "{heard}");
    // The service got the caller's answer with the operation's phrases.
    assert_eq!(speech.count(), 1);
    let request = speech.last();
    let parts = multipart(&request.content_type, &request.body);
    let names: Vec<&str> = parts.iter().map(|p| p.0.as_str()).collect();
    assert_eq!(names, ["lang", "phrases", "audio"]);
    let phrases: Value = serde_json::from_slice(&parts[1].2).unwrap();
    assert_eq!(phrases[0]["phrase"], "billing");
    assert!(parts[2].2.starts_with(b"RIFF"));

    // 3. Extension 101, typed with the inter-digit timeout → Anna answers and talks; then the
    // menu's `extension` exit.
    let mut call = Caller::calls(&sw).await;
    call.types("101").await;
    anna.answers().await;
    anna.hangs_up().await;
    call.is_hung_up().await;
    let record = api.finished_call(&call.phone.call_id).await;
    let events = record["events"].as_array().unwrap();
    starts_at_the_menu(events, "1");
    assert_eq!(menu_inputs(events), ["menu:101:extension"]);
    assert_eq!(exits(events), ["menu->extension"], "{events:#?}");
    assert_eq!(talked_with(events), [anna.id]);

    // An unknown extension → "number entered incorrectly" → the menu again, which times out.
    let mut call = Caller::calls(&sw).await;
    call.types("555").await;
    call.is_hung_up().await;
    let record = api.finished_call(&call.phone.call_id).await;
    let events = record["events"].as_array().unwrap();
    starts_at_the_menu(events, "5");
    assert_eq!(
        menu_inputs(events),
        ["menu:555:unknown_extension", "menu::timeout"]
    );
    assert_eq!(exits(events), ["menu->timeout"], "{events:#?}");
    let entered: Vec<&str> = find(events, "operation_entered")
        .iter()
        .filter_map(|e| e["op"].as_str())
        .collect();
    assert_eq!(entered, ["menu", "menu", "bye"], "{events:#?}");
    assert!(find(events, "ring_started").is_empty(), "{events:#?}");

    // 4. Key 3 → the escalation is armed → Boris's phone rings and nobody answers → after 3 s
    // the ring is cancelled and Olga, the head of support, answers.
    let mut call = Caller::calls(&sw).await;
    call.types("3").await;
    boris.rings_until_cancelled().await;
    olga.answers().await;
    olga.hangs_up().await;
    call.is_hung_up().await;
    let record = api.finished_call(&call.phone.call_id).await;
    let events = record["events"].as_array().unwrap();
    starts_at_the_menu(events, "3");
    assert_eq!(
        exits(events),
        [
            "menu->3",
            "guard->next",
            "guard->escalated",
            "head->answered"
        ],
        "{events:#?}"
    );
    let guard = notes(events);
    assert!(
        guard.contains(&"guard: escalation armed: 3 s without an answer by an employee"),
        "{guard:?}"
    );
    assert!(
        guard.contains(&"guard: escalated: no employee answered within 3 s"),
        "{guard:?}"
    );
    // Boris's phone rang, the escalation cancelled it (his ring ends `cancelled`), then Olga's
    // rang and she answered.
    let at = |what: &dyn Fn(&Value) -> bool| events.iter().position(|e| what(&e["what"]));
    let boris_rings = at(&|w| w["ring_started"]["employee"] == boris.id).expect("Boris rings");
    let boris_ended = at(&|w| w["ring_ended"]["employee"] == boris.id).expect("Boris's ring ends");
    let escalated = at(&|w| w["note"].as_str().is_some_and(|n| n.contains("escalated:")));
    let olga_rings = at(&|w| w["ring_started"]["employee"] == olga.id).expect("Olga rings");
    assert!(
        boris_rings < boris_ended
            && boris_ended < escalated.unwrap()
            && escalated.unwrap() < olga_rings,
        "{events:#?}"
    );
    carries(
        &events[boris_ended]["what"]["ring_ended"],
        json!({"outcome": "cancelled", "cause": "cancelled"}),
    );
    let olga_ring = find(events, "ring_ended")
        .into_iter()
        .find(|r| r["employee"] == olga.id)
        .expect("Olga's ring ended");
    carries(olga_ring, json!({"outcome": "answered"}));
    assert_eq!(talked_with(events), [olga.id]);

    // 5. Key 4 → sales: Dmitri's phone rings, nobody answers within 2 s → `no_answer` →
    // voicemail: the caller hears the prompt and the beep, speaks, falls silent; the message
    // is mailed with the caller's number in the subject.
    let mut call = Caller::calls(&sw).await;
    call.types("4").await;
    dmitri.rings_until_cancelled().await;
    call.hears_then(&[LEAVE_A_MESSAGE], true).await;
    call.says_something().await;
    let record = api.finished_call(&call.phone.call_id).await;
    let events = record["events"].as_array().unwrap();
    starts_at_the_menu(events, "4");
    assert_eq!(
        exits(events),
        ["menu->4", "sales->no_answer", "vm->next"],
        "{events:#?}"
    );
    carries(
        one(events, "ring_ended"),
        json!({"employee": dmitri.id, "cause": "no_answer"}),
    );
    let message = one(events, "voicemail");
    assert!(message["path"].as_str().is_some(), "{message}");
    assert!(
        message["duration_ms"].as_u64().unwrap() >= 1000,
        "{message}"
    );
    let queued = format!("voicemail: e-mail to {SALES_MAIL} queued");
    assert!(
        notes(events).iter().any(|n| n.contains(&queued)),
        "{events:#?}"
    );
    let mail = next_mail(&mut mails).await;
    assert_eq!(mail.rcpt, [SALES_MAIL]);
    let subject = mail.header("Subject").unwrap();
    assert!(subject.contains(CALLER), "{subject}");
    assert!(!subject.contains("no message"), "{subject}");
    assert!(mail.text.contains(&format!("Number dialled: {NUMBER}")));
    let loud = wav_loud_seconds(&mail.attached_wav());
    assert!(
        loud >= 0.5,
        "the message holds the caller's voice ({loud} s)"
    );

    sw.stop().await;
}
