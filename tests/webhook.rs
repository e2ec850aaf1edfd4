//! The CRM webhook operation on a live switch: scenarios built through the API call a local stub
//! CRM (a plain TCP listener speaking HTTP/1.1) — a POST after collecting two digits whose reply
//! binds `returned_code` to an exit, and GETs answered with garbage, a 500 and nothing in time,
//! which all take `no_answer` without losing the call. The stub checks the parameters each
//! request carried; the call's events show the request and the reply (status, time, body size).
#![allow(clippy::unwrap_used)]

mod api_support;
mod common;
use api_support::*;
use common::*;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// One request the stub CRM received.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    /// Path and query.
    target: String,
    body: String,
}

/// `a=1&b=x+y` → {a: 1, b: "x y"} (enough for the switch's encoding of our values).
fn form(s: &str) -> BTreeMap<String, String> {
    let decode = |v: &str| {
        let v = v.replace('+', " ");
        let mut out = Vec::new();
        let b = v.as_bytes();
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'%' && i + 2 < b.len() {
                out.push(u8::from_str_radix(&v[i + 1..i + 3], 16).unwrap());
                i += 3;
            } else {
                out.push(b[i]);
                i += 1;
            }
        }
        String::from_utf8(out).unwrap()
    };
    s.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

/// The body of the stub's 500 (a code that must not count).
const ERR_BODY: &str = r#"{"returned_code": 7}"#;

/// A stub CRM on 127.0.0.1: `/ok` answers a bound code, `/bad` garbage, `/err` a 500, `/slow`
/// only after three seconds, `/phones` forwards to extension 101 with a message and a hint. Returns its port and what it received.
async fn stub_crm() -> (u16, Arc<Mutex<Vec<Seen>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
    let log = Arc::clone(&seen);
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let log = Arc::clone(&log);
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                let head_end = loop {
                    let n = sock.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        break i + 4;
                    }
                };
                let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
                let length: usize = head
                    .lines()
                    .find_map(|l| {
                        let (k, v) = l.split_once(':')?;
                        k.eq_ignore_ascii_case("content-length")
                            .then(|| v.trim().parse().ok())?
                    })
                    .unwrap_or(0);
                while buf.len() < head_end + length {
                    let n = sock.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        break;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                }
                let mut first = head.lines().next().unwrap_or("").split(' ');
                let seen = Seen {
                    method: first.next().unwrap_or("").to_owned(),
                    target: first.next().unwrap_or("").to_owned(),
                    body: String::from_utf8_lossy(&buf[head_end..]).to_string(),
                };
                let path = seen.target.split('?').next().unwrap_or("").to_owned();
                log.lock().unwrap().push(seen);
                let (status, body) = match path.as_str() {
                    "/ok" => (
                        "200 OK",
                        r#"{"returned_code": 7, "operator_text": "VIP client", "extra": [1]}"#,
                    ),
                    "/bad" => ("200 OK", "<html>not json</html>"),
                    "/phones" => (
                        "200 OK",
                        r#"{"phones": ["101"], "text": "Connecting you.", "operator_text": "A client who owes us money"}"#,
                    ),
                    "/slow" => {
                        tokio::time::sleep(std::time::Duration::from_secs(3)).await;
                        ("200 OK", "{}")
                    }
                    _ => ("500 Internal Server Error", ERR_BODY),
                };
                let reply = format!(
                    "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = sock.write_all(reply.as_bytes()).await;
                let _ = sock.shutdown().await;
            });
        }
    });
    (port, seen)
}

/// A call to make: number, the stub's path, method, timeout, digits typed, the exits taken,
/// the reply's status and outcome.
type Case = (
    &'static str,
    &'static str,
    &'static str,
    u32,
    &'static [char],
    &'static [&'static str],
    Value,
    &'static str,
);

/// `op->exit` of every `exit_taken`.
fn exits(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| e["what"].get("exit_taken"))
        .map(|x| {
            format!(
                "{}->{}",
                x["op"].as_str().unwrap(),
                x["exit"].as_str().unwrap()
            )
        })
        .collect()
}

/// The one event of kind `kind`.
fn one<'a>(events: &'a [Value], kind: &str) -> &'a Value {
    let found: Vec<&Value> = events.iter().filter_map(|e| e["what"].get(kind)).collect();
    assert_eq!(found.len(), 1, "{kind}: {events:#?}");
    found[0]
}

#[actix_rt::test]
async fn a_crm_webhook_routes_by_code_and_never_loses_the_call() {
    let (mut sw, api) = api(None).await;
    let (port, seen) = stub_crm().await;
    let url = |path: &str| format!("http://127.0.0.1:{port}{path}?token=secret");

    // Invalid settings are refused naming each field and rule.
    let bad = api
        .post(
            "/api/v1/scenarios",
            json!({"name": "Bad", "start": "h", "operations": {"h": {"action": {
                "kind": "webhook", "url": "ftp://crm", "method": "PUT", "timeout_s": 0,
                "params": ["numa", "nope"], "codes": {"1": "Not-An-Exit"}}}}}),
        )
        .await;
    assert_eq!(bad.status, 422, "{}", bad.text);
    for (field, rule) in [
        ("action.url", "webhook.url"),
        ("action.method", "webhook.method"),
        ("action.timeout_s", "webhook.timeout_s"),
        ("action.params[1]", "webhook.params"),
        ("action.codes.1", "webhook.code_exit"),
    ] {
        assert_invalid(&bad, field, rule);
    }
    // An exit the codes do not bind is still unknown.
    let r = api
        .post(
            "/api/v1/scenarios",
            json!({"name": "Bad exit", "start": "h", "operations": {
                "h": {"action": {"kind": "webhook", "url": url("/ok")}, "exits": {"vip": "h"}}}}),
        )
        .await;
    assert_invalid(&r, "exits.vip", "scenario.graph");

    // (number, path, method, timeout, digits typed, the exits, the reply's status, outcome)
    let cases: [Case; 4] = [
        (
            "74957000991",
            "/ok",
            "POST",
            3,
            &['4', '2'],
            &["hook->vip"],
            json!(200),
            "ok",
        ),
        (
            "74957000992",
            "/bad",
            "GET",
            3,
            &[],
            &["greet->next", "hook->no_answer"],
            json!(200),
            "bad_reply",
        ),
        (
            "74957000993",
            "/err",
            "GET",
            3,
            &[],
            &["greet->next", "hook->no_answer"],
            json!(500),
            "status",
        ),
        (
            "74957000994",
            "/slow",
            "GET",
            1,
            &[],
            &["greet->next", "hook->no_answer"],
            Value::Null,
            "timeout",
        ),
    ];
    for (number, path, method, timeout_s, digits, _, _, _) in &cases {
        let post = *method == "POST";
        let mut hook = json!({
            "kind": "webhook", "url": url(path), "method": method, "timeout_s": timeout_s,
            "codes": {"7": "vip", "8": "vip"}
        });
        if post {
            hook["digits"] = json!(digits.len());
        } else {
            hook["params"] = json!(["numa", "numb"]);
        }
        let exits = json!({"vip": "bye", "ok": "bye", "no_answer": "bye"});
        let mut operations = json!({
            "hook": {"action": hook, "exits": exits},
            "bye": {"action": {"kind": "hang_up"}}
        });
        // Without digits the webhook answers nothing: a short pause answers the caller first.
        let start = if post {
            "hook"
        } else {
            operations["greet"] =
                json!({"action": {"kind": "pause", "ms": 100}, "exits": {"next": "hook"}});
            "greet"
        };
        let r = api
            .post(
                "/api/v1/scenarios",
                json!({"name": format!("CRM {path}"), "start": start, "operations": operations}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        let scenario = r.json["id"].as_u64().unwrap();
        let r = api
            .post(
                "/api/v1/numbers",
                json!({"number": number, "rules": [{"name": "crm", "scenario": scenario}]}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
    }

    for (number, path, method, _, digits, expected, status, outcome) in cases {
        let rtp = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let mut caller = Phone::new(sw.sip).await;
        let ok = caller.call(number, rtp.local_addr().unwrap().port()).await;
        let to = ok.sdp_media_addr().unwrap();
        let (mut seq, mut ts) = (1u16, 0u32);
        for d in digits {
            send_digit(&rtp, to, *d, &mut seq, &mut ts).await;
        }
        // Whatever the CRM did, the scenario goes on and hangs up.
        caller.bye_from_switch().await;
        let events = api.finished_call_events(number).await;
        assert_eq!(exits(&events), expected, "{number}: {events:#?}");
        let request = one(&events, "webhook_request");
        assert_eq!(request["op"], "hook");
        assert_eq!(request["method"], method);
        assert_eq!(
            request["url"],
            format!("http://127.0.0.1:{port}{path}"),
            "the query (a token) stays out of the events"
        );
        let reply = one(&events, "webhook_reply");
        assert_eq!(reply["status"], status, "{reply}");
        assert!(
            reply["outcome"].as_str().unwrap().starts_with(outcome),
            "{reply}"
        );
        assert!(reply["time_ms"].is_u64(), "{reply}");
        assert!(reply["body_bytes"].is_u64(), "{reply}");
        if path == "/ok" {
            assert_eq!(reply["returned_code"], "7");
            assert!(reply["body_bytes"].as_u64().unwrap() > 10, "{reply}");
        }
        if path == "/err" {
            assert_eq!(reply["body_bytes"], ERR_BODY.len(), "{reply}");
        }
        // The stub saw the request with the parameters asked for.
        let got = seen
            .lock()
            .unwrap()
            .iter()
            .find(|s| s.target.starts_with(path))
            .cloned()
            .unwrap_or_else(|| panic!("the CRM got no request for {path}"));
        assert_eq!(got.method, method);
        let (_, query) = got.target.split_once('?').unwrap();
        let query = form(query);
        assert_eq!(query["token"], "secret");
        if method == "POST" {
            let body = form(&got.body);
            assert_eq!(
                body.keys().collect::<Vec<_>>(),
                ["cdr_id", "input_result", "numa", "numb", "start_time"]
            );
            assert_eq!(body["input_result"], "42");
            assert_eq!(body["numb"], number);
            assert!(!body["numa"].is_empty() && !body["cdr_id"].is_empty());
            assert!(body["start_time"].ends_with('Z'), "{body:?}");
            assert_eq!(query.len(), 1, "POST parameters go in the body: {query:?}");
        } else {
            assert_eq!(got.body, "");
            assert_eq!(query.keys().collect::<Vec<_>>(), ["numa", "numb", "token"]);
            assert_eq!(query["numb"], number);
        }
    }
    sw.stop().await;
}

/// HTTPS goes through rustls: a server that does not speak TLS fails the handshake, and the call goes on through `no_answer` with the error in its events.
#[actix_rt::test]
async fn a_failed_https_handshake_takes_no_answer() {
    let (mut sw, api) = api(None).await;
    // A plain HTTP server that answers at once, whatever it is sent.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let _ = sock
                .write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
                .await;
            let _ = sock.shutdown().await;
        }
    });
    let r = api
        .post(
            "/api/v1/scenarios",
            json!({"name": "CRM over TLS", "start": "greet", "operations": {
                "greet": {"action": {"kind": "pause", "ms": 100}, "exits": {"next": "hook"}},
                "hook": {"action": {"kind": "webhook", "url": format!("https://127.0.0.1:{port}/ok"), "timeout_s": 2},
                         "exits": {"ok": "bye", "no_answer": "bye"}},
                "bye": {"action": {"kind": "hang_up"}}
            }}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let number = "74957000995";
    let r = api
        .post(
            "/api/v1/numbers",
            json!({"number": number, "rules": [{"name": "crm", "scenario": r.json["id"]}]}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let mut caller = Phone::new(sw.sip).await;
    caller.call(number, free_port()).await;
    caller.bye_from_switch().await;
    let events = api.finished_call_events(number).await;
    assert_eq!(
        exits(&events),
        ["greet->next", "hook->no_answer"],
        "{events:#?}"
    );
    let reply = one(&events, "webhook_reply");
    assert_eq!(reply["status"], Value::Null, "{reply}");
    let outcome = reply["outcome"].as_str().unwrap();
    assert!(outcome.starts_with("error: "), "{reply}");
    sw.stop().await;
}

/// A reply with phones, a message and a hint: the caller hears the message, extension 101 rings,
/// hears a hint and talks; the operation takes `answered` (that the reply's hint beats the
/// operation's own is checked by the core's tests).
#[actix_rt::test]
async fn the_replys_phones_ring_with_its_hint() {
    let (mut sw, api) = api(None).await;
    let (port, _) = stub_crm().await;
    let r = api
        .post(
            "/api/v1/scenarios",
            json!({"name": "CRM forward", "start": "greet", "operations": {
                "greet": {"action": {"kind": "pause", "ms": 100}, "exits": {"next": "hook"}},
                "hook": {"action": {"kind": "webhook", "url": format!("http://127.0.0.1:{port}/phones"),
                                    "operator_hint": {"kind": "text", "text": "not this one"}},
                         "exits": {"answered": "bye", "not_answered": "bye", "ok": "bye", "no_answer": "bye"}},
                "bye": {"action": {"kind": "hang_up"}}
            }}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let number = "74957000996";
    let r = api
        .post(
            "/api/v1/numbers",
            json!({"number": number, "rules": [{"name": "crm", "scenario": r.json["id"]}]}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let mut agent = LinePhone::new(sw.sip, "101", P101).await;
    agent.register().await;
    let agent_rtp = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut caller = Phone::new(sw.sip).await;
    caller.call(number, free_port()).await;
    let inv = agent.expect_request("INVITE", 20).await.expect("101 rings");
    agent
        .answer(&inv, agent_rtp.local_addr().unwrap().port())
        .await;
    // The employee hears the hint (speech) before the caller is connected.
    let heard = count_loud(&agent_rtp, 4000).await;
    assert!(
        heard >= 20,
        "the employee heard {heard} loud packets of the hint"
    );
    agent.in_dialog("BYE", "", None).await;
    caller.bye_from_switch().await;

    let events = api.finished_call_events(number).await;
    assert_eq!(
        exits(&events),
        ["greet->next", "hook->answered"],
        "{events:#?}"
    );
    assert_eq!(one(&events, "webhook_reply")["outcome"], "ok");
    one(&events, "hint_played");
    one(&events, "talk");
    assert!(
        !events
            .iter()
            .any(|e| e["what"].get("prompt_failed").is_some()),
        "{events:#?}"
    );
    sw.stop().await;
}
