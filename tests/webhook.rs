//! The CRM webhook operation on a live switch: scenarios built through the API call a local stub
//! CRM (the harness's stub HTTP server, `tests/common/http_stub.rs`) — a POST after collecting two digits whose reply
//! binds `returned_code` to an exit, and GETs answered with garbage, a 500 and nothing in time,
//! which all take `no_answer` without losing the call. The stub checks the parameters each
//! request carried; the call's events show the request and the reply (status, time, body size).
#![allow(clippy::unwrap_used)]

mod api_support;
mod common;
use api_support::*;
use common::*;
use serde_json::{json, Value};
use tokio::io::AsyncWriteExt;

/// The body of the stub's 500 (a code that must not count).
const ERR_BODY: &str = r#"{"returned_code": 7}"#;

/// A stub CRM on 127.0.0.1: `/ok` answers a bound code, `/bad` garbage, `/err` a 500, `/slow`
/// only after three seconds, `/phones` forwards to extension 101 with a message and a hint.
async fn stub_crm() -> HttpStub {
    HttpStub::start(|request| match request.path() {
        "/ok" => HttpReply::ok(
            r#"{"returned_code": 7, "operator_text": "VIP client", "extra": [1]}"#,
        ),
        "/bad" => HttpReply::ok("<html>not json</html>"),
        "/phones" => HttpReply::ok(
            r#"{"phones": ["101"], "text": "Connecting you.", "operator_text": "A client who owes us money"}"#,
        ),
        "/slow" => HttpReply::ok("{}").after(std::time::Duration::from_secs(3)),
        _ => HttpReply::new(500, ERR_BODY),
    })
    .await
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

#[actix_rt::test]
async fn a_crm_webhook_routes_by_code_and_never_loses_the_call() {
    let (mut sw, api) = api(None).await;
    let crm = stub_crm().await;
    let port = crm.addr.port();
    let url = |path: &str| format!("{}?token=secret", crm.url(path));

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
        let got = crm
            .requests()
            .into_iter()
            .find(|s| s.target.starts_with(path))
            .unwrap_or_else(|| panic!("the CRM got no request for {path}"));
        assert_eq!(got.method, method);
        let query = got.query();
        assert_eq!(query["token"], "secret");
        if method == "POST" {
            let body = form(&got.text());
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
            assert_eq!(got.text(), "");
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
    let crm = stub_crm().await;
    let r = api
        .post(
            "/api/v1/scenarios",
            json!({"name": "CRM forward", "start": "greet", "operations": {
                "greet": {"action": {"kind": "pause", "ms": 100}, "exits": {"next": "hook"}},
                "hook": {"action": {"kind": "webhook", "url": crm.url("/phones"),
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
