//! The voice assistant (SPEC §3 op 16) on a live switch: scenarios built through the API, a
//! caller that is a SIP UA speaking PCMU RTP, and the switch's speech service either
//!
//! - a stub speech service (the harness's stub HTTP server, `tests/common/http_stub.rs`) that checks
//!   the request the switch sends — a `multipart/form-data` POST with `lang`, `phrases` (as the
//!   scenario configured them) and `audio`, a mono 16-bit 8 kHz WAV holding what the caller
//!   said — and answers as each case needs: a phrase, a 500, garbage, too late, a low
//!   confidence; plus no service listening at the URL, no service configured, and a caller who
//!   says nothing;
//! - or the reference service (`soak/speech/`, pocketsphinx) hearing espeak-ng speech sent as
//!   G.711 RTP at real-time pace.
//!
//! The call's events (`speech_recognised`, `exit_taken`) are read from the call-detail API once
//! the switch has hung up; nothing waits a fixed time for the switch.
#![allow(clippy::unwrap_used)]

mod api_support;
mod common;
use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use api_support::*;
use common::*;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::UdpSocket;

// ---------------------------------------------------------------------------------------------
// The switch, the scenario, the caller

/// A switch whose speech service is `url`, with the API logged in as the admin.
async fn switch_with(
    url: Option<String>,
) -> (
    TestSwitch,
    Api<
        impl Service<
            actix_http::Request,
            Response = ServiceResponse<impl MessageBody>,
            Error = actix_web::Error,
        >,
    >,
) {
    api_on(TestSwitch::builder().settings(move |s| s.speech_url = url)).await
}

/// The phrases every scenario here expects.
fn phrases() -> Value {
    json!([
        {"phrase": "support", "synonyms": ["help", "technical support"]},
        {"phrase": "billing", "synonyms": []},
        {"phrase": "operator", "synonyms": ["agent"]}
    ])
}

/// Creates a scenario whose voice assistant `ask` has `settings` (merged over the phrases) and
/// whose every exit goes through a pause of its own (`to_<exit>`) to the hang-up, and routes
/// `numbers` to it.
async fn assistant_scenario<S, B>(api: &Api<S>, name: &str, settings: Value, numbers: &[&str])
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let mut action = json!({"kind": "voice_assistant", "phrases": phrases()});
    for (k, v) in settings.as_object().unwrap() {
        action[k] = v.clone();
    }
    let mut operations = json!({
        "ask": {"action": action, "exits": {}},
        "bye": {"action": {"kind": "hang_up"}}
    });
    for exit in ["support", "billing", "operator", "not_recognised"] {
        operations["ask"]["exits"][exit] = json!(format!("to_{exit}"));
        operations[format!("to_{exit}")] =
            json!({"action": {"kind": "pause", "ms": 50}, "exits": {"next": "bye"}});
    }
    let r = api
        .post(
            "/api/v1/scenarios",
            json!({"name": name, "start": "ask", "operations": operations}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let scenario = r.json["id"].as_u64().unwrap();
    for number in numbers {
        let r = api
            .post(
                "/api/v1/numbers",
                json!({"number": number, "rules": [{"name": "assistant", "scenario": scenario}]}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
    }
}

/// The one `speech_recognised` of a call.
fn recognised(events: &[Value]) -> Value {
    let found = find(events, "speech_recognised");
    assert_eq!(found.len(), 1, "{events:#?}");
    found[0].clone()
}

/// A caller on the line: calls `number`, says `pcm` (PCMU RTP, 20 ms a packet at real-time
/// pace), then keeps sending silence packets until the switch hangs up.
async fn call_and_say(sip: SocketAddr, number: &str, pcm: &[i16]) {
    let rtp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut caller = Phone::new(sip).await;
    let ok = caller.call(number, rtp.local_addr().unwrap().port()).await;
    let to = ok.sdp_media_addr().unwrap();
    tokio::select! {
        () = caller.bye_from_switch() => {}
        () = say_then_keep_quiet(&rtp, to, pcm) => unreachable!("the silence never ends"),
    }
}

// ---------------------------------------------------------------------------------------------
// The stub speech service

/// What the stub does with the next requests.
#[derive(Debug, Clone)]
enum Reply {
    /// This status and body at once.
    Now(u16, &'static str),
    /// A good reply, but only after this long.
    Late(Duration),
}

/// The stub speech service, answering every request as told by [`Stub::set`].
struct Stub {
    http: HttpStub,
    url: String,
    reply: Arc<Mutex<Reply>>,
}

impl Stub {
    fn set(&self, reply: Reply) {
        *self.reply.lock().unwrap() = reply;
    }
    fn requests(&self) -> usize {
        self.http.count()
    }
    fn last(&self) -> HttpRequest {
        self.http.last()
    }
}

/// A stub speech service on 127.0.0.1 answering every POST as told by [`Stub::set`].
async fn stub_service() -> Stub {
    let reply = Arc::new(Mutex::new(Reply::Now(500, "{}")));
    let how = Arc::clone(&reply);
    let http = HttpStub::start(move |_| match how.lock().unwrap().clone() {
        Reply::Now(status, body) => HttpReply::new(status, body),
        Reply::Late(wait) => {
            HttpReply::ok(r#"{"text":"billing","phrase":"billing","confidence":0.9}"#).after(wait)
        }
    })
    .await;
    let url = http.url("/recognise");
    Stub { http, url, reply }
}

/// Checks a request the switch sent: a multipart POST with `lang`, the scenario's `phrases`
/// and the caller's answer as a mono 16-bit 8 kHz WAV; returns the WAV's samples.
fn check_request(seen: &HttpRequest) -> Vec<i16> {
    assert_eq!(seen.method, "POST");
    assert!(
        seen.content_type
            .starts_with("multipart/form-data; boundary="),
        "{}",
        seen.content_type
    );
    let parts = multipart(&seen.content_type, &seen.body);
    let names: Vec<&str> = parts.iter().map(|p| p.0.as_str()).collect();
    assert_eq!(names, ["lang", "phrases", "audio"]);
    assert_eq!(parts[0].2, b"en-US");
    assert_eq!(parts[1].1, "application/json");
    let asked: Value = serde_json::from_slice(&parts[1].2).unwrap();
    assert_eq!(asked, phrases());
    assert_eq!(parts[2].1, "audio/wav");
    assert!(parts[2].2.starts_with(b"RIFF") && &parts[2].2[8..12] == b"WAVE");
    let mut wav = hound::WavReader::new(std::io::Cursor::new(parts[2].2.clone())).unwrap();
    let spec = wav.spec();
    assert_eq!(
        (spec.channels, spec.sample_rate, spec.bits_per_sample),
        (1, 8000, 16),
        "{spec:?}"
    );
    assert_eq!(spec.sample_format, hound::SampleFormat::Int);
    wav.samples::<i16>().map(Result::unwrap).collect()
}

/// How many 20 ms frames of `samples` are loud (RMS over 1000).
fn loud_frames(samples: &[i16]) -> usize {
    samples
        .chunks(160)
        .filter(|f| {
            let e = f.iter().map(|s| f64::from(*s).powi(2)).sum::<f64>() / f.len() as f64;
            e.sqrt() > 1000.0
        })
        .count()
}

/// The runs of 5 ms or more of digital silence inside the loud part of `samples` (from its
/// first to its last sample over 1000): the audio as it was said has none.
fn gaps(samples: &[i16]) -> usize {
    let loud = |s: &i16| s.unsigned_abs() > 1000;
    let (Some(first), Some(last)) = (
        samples.iter().position(loud),
        samples.iter().rposition(loud),
    ) else {
        return 0;
    };
    samples[first..=last]
        .split(|s| *s != 0)
        .filter(|run| run.len() >= 40)
        .count()
}

#[actix_rt::test]
async fn a_stub_service_is_asked_and_its_answer_routes_the_call() {
    let stub = stub_service().await;
    let (mut sw, api) = switch_with(Some(stub.url.clone())).await;
    let settings = json!({"listen_s": 3, "max_s": 6, "silence_ms": 800, "min_confidence": 0.5});
    let mut patient = settings.clone();
    patient["timeout_s"] = json!(10);
    assistant_scenario(
        &api,
        "Assistant",
        patient,
        &[
            "74957100001",
            "74957100002",
            "74957100003",
            "74957100004",
            "74957100005",
        ],
    )
    .await;
    let mut hasty = settings;
    hasty["timeout_s"] = json!(1);
    assistant_scenario(&api, "Assistant, hasty", hasty, &["74957100006"]).await;

    // The caller says one second of "speech": the stub hears it and answers "billing".
    stub.set(Reply::Now(
        200,
        r#"{"text":"billing","phrase":"billing","confidence":0.9}"#,
    ));
    call_and_say(sw.sip, "74957100001", &loud_pcm(1.0)).await;
    let events = api.finished_call_events("74957100001").await;
    assert_eq!(
        exits(&events),
        ["ask->billing", "to_billing->next"],
        "{events:#?}"
    );
    let heard = recognised(&events);
    assert_eq!(heard["op"], "ask");
    assert_eq!(heard["outcome"], "recognised");
    assert_eq!(heard["text"], "billing");
    assert_eq!(heard["phrase"], "billing");
    assert!(
        (heard["confidence"].as_f64().unwrap() - 0.9).abs() < 1e-3,
        "{heard}"
    );
    assert!(heard["time_ms"].is_u64(), "{heard}");
    assert_eq!(stub.requests(), 1);
    let samples = check_request(&stub.last());
    // The recording holds what was said (50 loud frames, give or take the frames the tone
    // straddles), and ends at the silence after it (800 ms), a little leading silence aside.
    assert_eq!(gaps(&samples), 0, "the answer was recorded with gaps");
    let loud_n = loud_frames(&samples);
    assert!((49..=52).contains(&loud_n), "{loud_n} loud frames");
    let wav_ms = samples.len() as u64 / 8;
    assert!(
        (1780..=3500).contains(&wav_ms),
        "the answer lasts {wav_ms} ms"
    );
    let audio_ms = heard["audio_ms"].as_u64().unwrap();
    assert!(
        audio_ms.abs_diff(wav_ms) <= 40,
        "audio_ms {audio_ms}, WAV {wav_ms} ms"
    );

    // Whatever else the service does, the call goes on at not_recognised.
    let not = ["ask->not_recognised", "to_not_recognised->next"];
    let cases: [(&str, Reply, &str); 5] = [
        (
            "74957100002",
            Reply::Now(500, r#"{"error":"boom"}"#),
            "status",
        ),
        (
            "74957100003",
            Reply::Now(200, "<html>not json</html>"),
            "bad_reply: ",
        ),
        (
            "74957100004",
            Reply::Now(
                200,
                r#"{"text":"billing","phrase":"billing","confidence":0.3}"#,
            ),
            "low_confidence",
        ),
        (
            "74957100005",
            Reply::Now(
                200,
                r#"{"text":"sales","phrase":"sales","confidence":0.95}"#,
            ),
            "no_match",
        ),
        (
            "74957100006",
            Reply::Late(Duration::from_secs(4)),
            "timeout",
        ),
    ];
    for (number, reply, outcome) in cases {
        let before = stub.requests();
        stub.set(reply);
        call_and_say(sw.sip, number, &loud_pcm(0.6)).await;
        let events = api.finished_call_events(number).await;
        assert_eq!(exits(&events), not, "{number}: {events:#?}");
        let heard = recognised(&events);
        let got = heard["outcome"].as_str().unwrap();
        assert!(got.starts_with(outcome), "{number}: {heard}");
        assert_eq!(heard["op"], "ask");
        assert!(heard["audio_ms"].as_u64().unwrap() >= 600, "{heard}");
        match outcome {
            "low_confidence" => {
                assert_eq!(heard["phrase"], "billing");
                assert!((heard["confidence"].as_f64().unwrap() - 0.3).abs() < 1e-3);
            }
            "no_match" => {
                assert_eq!(
                    (&heard["text"], &heard["phrase"]),
                    (&json!("sales"), &json!("sales"))
                );
            }
            _ => assert!(heard["text"].is_null(), "{heard}"),
        }
        assert_eq!(stub.requests(), before + 1, "{number}");
        check_request(&stub.last());
    }

    // A caller who says nothing: listen_s of silence, and the service is never asked.
    let before = stub.requests();
    stub.set(Reply::Now(
        200,
        r#"{"text":"billing","phrase":"billing","confidence":0.9}"#,
    ));
    assistant_scenario(
        &api,
        "Assistant, silent caller",
        json!({"listen_s": 2}),
        &["74957100007"],
    )
    .await;
    call_and_say(sw.sip, "74957100007", &[]).await;
    let events = api.finished_call_events("74957100007").await;
    assert_eq!(exits(&events), not, "{events:#?}");
    let heard = recognised(&events);
    assert_eq!(heard["outcome"], "no_speech", "{heard}");
    assert!(heard["audio_ms"].as_u64().unwrap() >= 2000, "{heard}");
    assert_eq!(heard["time_ms"], 0, "{heard}");
    assert_eq!(stub.requests(), before, "no request for silence");
    sw.stop().await;
}

#[actix_rt::test]
async fn without_a_service_the_call_goes_on_at_not_recognised() {
    // A URL where nothing listens: the connection fails, the outcome says why.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/recognise", dead.local_addr().unwrap());
    drop(dead);
    let (mut sw, api) = switch_with(Some(url)).await;
    assistant_scenario(&api, "Assistant", json!({"timeout_s": 5}), &["74957100011"]).await;
    call_and_say(sw.sip, "74957100011", &loud_pcm(0.6)).await;
    let events = api.finished_call_events("74957100011").await;
    assert_eq!(
        exits(&events),
        ["ask->not_recognised", "to_not_recognised->next"],
        "{events:#?}"
    );
    let heard = recognised(&events);
    assert!(
        heard["outcome"].as_str().unwrap().starts_with("error: "),
        "{heard}"
    );
    assert!(heard["audio_ms"].as_u64().unwrap() >= 600, "{heard}");
    sw.stop().await;

    // No speech service configured: not_recognised at once, nothing recorded.
    let (mut sw, api) = switch_with(None).await;
    assistant_scenario(&api, "Assistant", json!({}), &["74957100012"]).await;
    call_and_say(sw.sip, "74957100012", &loud_pcm(0.6)).await;
    let events = api.finished_call_events("74957100012").await;
    assert_eq!(
        exits(&events),
        ["ask->not_recognised", "to_not_recognised->next"],
        "{events:#?}"
    );
    let heard = recognised(&events);
    assert_eq!(heard["outcome"], "not_configured", "{heard}");
    assert_eq!(
        (heard["audio_ms"].as_u64(), heard["time_ms"].as_u64()),
        (Some(0), Some(0))
    );
    assert!(
        !sw.data.path().join("data/speech").exists()
            || std::fs::read_dir(sw.data.path().join("data/speech"))
                .unwrap()
                .next()
                .is_none(),
        "nothing recorded"
    );
    sw.stop().await;
}

// ---------------------------------------------------------------------------------------------
// The reference service and espeak-ng speech

/// The repo's root.
fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Fails the test naming the Debian package when `tool` is missing.
fn need(tool: &str, check: &[&str], package: &str) {
    let ok = Command::new(tool)
        .args(check)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "this test needs `{tool}` ({}): install the Debian package {package} \
         (apt-get install -y espeak-ng sox python3-venv)",
        check.join(" ")
    );
}

/// The reference speech service, killed when dropped.
struct SpeechService {
    child: Child,
    url: String,
    log: PathBuf,
}

impl SpeechService {
    /// Its request log so far (stderr).
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for SpeechService {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Makes the venv (`soak/speech/setup.sh`) and starts the service on a free port.
async fn reference_service(dir: &Path) -> SpeechService {
    need("python3", &["-c", "import venv, ensurepip"], "python3-venv");
    let setup = Command::new("bash")
        .arg(root().join("soak/speech/setup.sh"))
        .current_dir(root())
        .output()
        .unwrap();
    assert!(
        setup.status.success(),
        "soak/speech/setup.sh failed (needs python3-venv and PyPI): {}",
        String::from_utf8_lossy(&setup.stderr)
    );
    let python = String::from_utf8(setup.stdout).unwrap();
    let python = python
        .lines()
        .last()
        .expect("setup.sh prints the venv's python");
    let log = dir.join("speech-service.log");
    let mut child = Command::new(python)
        .arg(root().join("soak/speech/speech_service.py"))
        .args(["--host", "127.0.0.1", "--port", "0"])
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut service = SpeechService {
        child,
        url: String::new(),
        log,
    };
    let first = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line).unwrap();
        line
    })
    .await
    .unwrap();
    let base = first
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("the service printed {first:?}; log: {}", service.log()))
        .to_owned();
    service.url = format!("{base}/recognise");
    service
}

/// `text` spoken by espeak-ng (`voice`), as 8 kHz mono 16-bit samples (sox).
fn espeak(dir: &Path, text: &str, voice: &str) -> Vec<i16> {
    need("espeak-ng", &["--version"], "espeak-ng");
    need("sox", &["--version"], "sox");
    let raw = dir.join("espeak.wav");
    let narrow = dir.join("narrow.wav");
    let st = Command::new("espeak-ng")
        .args(["-v", voice, "-w"])
        .arg(&raw)
        .arg(text)
        .status()
        .unwrap();
    assert!(st.success(), "espeak-ng failed");
    let st = Command::new("sox")
        .arg("-q")
        .arg(&raw)
        .args(["-r", "8000", "-c", "1", "-b", "16", "-e", "signed-integer"])
        .arg(&narrow)
        .status()
        .unwrap();
    assert!(st.success(), "sox failed");
    let mut wav = hound::WavReader::open(&narrow).unwrap();
    assert_eq!((wav.spec().sample_rate, wav.spec().channels), (8000, 1));
    wav.samples::<i16>().map(Result::unwrap).collect()
}

/// The reference service hears espeak-ng speech sent as PCMU at real-time pace: "technical
/// support" (a synonym) takes the `support` exit and "billing" the `billing` exit. Measured
/// (soak/speech/README.md) to be recognised every time with this voice.
#[actix_rt::test]
async fn the_reference_service_recognises_spoken_phrases() {
    let dir = tempfile::tempdir().unwrap();
    let service = reference_service(dir.path()).await;
    let (mut sw, api) = switch_with(Some(service.url.clone())).await;
    let numbers = ["74957100021", "74957100022"];
    assistant_scenario(
        &api,
        "Assistant",
        json!({"listen_s": 5, "silence_ms": 800, "min_confidence": 0.5, "timeout_s": 20}),
        &numbers,
    )
    .await;
    for (number, text, phrase) in [
        (numbers[0], "technical support", "support"),
        (numbers[1], "billing", "billing"),
    ] {
        let mut speech = espeak(dir.path(), text, "en-us");
        // ~1.5 s of silence after the words.
        speech.extend(std::iter::repeat_n(0, 12_000));
        call_and_say(sw.sip, number, &speech).await;
        let events = api.finished_call_events(number).await;
        let why = || format!("{text}: {events:#?}\nservice log:\n{}", service.log());
        assert_eq!(
            exits(&events),
            [format!("ask->{phrase}"), format!("to_{phrase}->next")],
            "{}",
            why()
        );
        let heard = recognised(&events);
        assert_eq!(heard["outcome"], "recognised", "{}", why());
        assert_eq!(heard["text"], text, "{}", why());
        assert_eq!(heard["phrase"], phrase, "{}", why());
        assert!(heard["confidence"].as_f64().unwrap() >= 0.5, "{}", why());
    }
    // What the service heard (shown with --nocapture).
    eprintln!("{}", service.log());
    sw.stop().await;
    drop(service);
}
