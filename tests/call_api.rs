//! The call API on a live switch (SPEC §6.3, §4.3): `POST /api/v1/calls` dials its first party
//! and connects them once they answer — click-to-call (an employee's phone first, then a
//! customer through the trunk, the virtual number presented), and a customer put into a
//! queue-enabled scenario, where the call waits in the queue like an inbound caller (the outbound
//! exception of SPEC §4.3). Bad requests get 422/400 naming the field; an unanswered first leg
//! leaves a call record saying so.
#![allow(clippy::unwrap_used)]

mod api_support;
mod common;
use api_support::*;
use common::*;
use serde_json::{json, Value};

const QUEUE_NUMBER: &str = "74957000320";
const MAIN: &str = "74951234567";
const CUSTOMER: &str = "79160000001";

fn company(carrier_port: u16) -> String {
    demo_company_with(
        "  - id: 32\n    name: Support queue\n    start: support\n    operations:\n      support:\n        action:\n          kind: forward\n          targets: [ { kind: employee, id: 1 } ]\n          strategy: { kind: sequential }\n          queue: { announce: false }\n          max_wait_s: 120\n        exits: { answered: bye, no_answer: bye, busy: bye }\n      bye:\n        action: { kind: hang_up }\n",
        &format!("  - number: \"{QUEUE_NUMBER}\"\n    rules:\n      - id: 32\n        name: Support\n        scenario: 32\n"),
        &format!("trunks:\n  - id: 1\n    name: Carrier\n    host: 127.0.0.1\n    port: {carrier_port}\n    auth: {{ kind: ip, addresses: [ \"127.0.0.1\" ] }}\n"),
    )
    .replacen("lines: 2", "lines: 1", 1)
}

/// The record of the call `id`, once written.
async fn record<S, B>(api: &Api<S>, id: &str) -> Value
where
    S: actix_web::dev::Service<
        actix_http::Request,
        Response = actix_web::dev::ServiceResponse<B>,
        Error = actix_web::Error,
    >,
    B: actix_web::body::MessageBody,
{
    for _ in 0..600 {
        let r = api.get("/api/v1/calls/recent?limit=20").await;
        if let Some(c) = r.json["items"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|c| c["call_id"] == id)
        {
            return c.clone();
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("no record of call {id}");
}

#[actix_rt::test]
async fn click_to_call_rings_the_employee_then_the_customer() {
    let carrier_port = free_port();
    let (mut sw, api) = api(Some(&company(carrier_port))).await;
    let mut carrier = LinePhone::bind(sw.sip, "carrier", "", carrier_port).await;
    let mut anna = LinePhone::new(sw.sip, "101", P101).await;
    anna.register().await;
    let rtp = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let port = rtp.local_addr().unwrap().port();

    let r = api
        .post(
            "/api/v1/calls",
            json!({"to": "101", "connect": {"kind": "number", "number": CUSTOMER}, "caller_id": MAIN}),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.text);
    let id = r.json["call_id"].as_str().unwrap().to_string();
    // Anna's phone rings first, showing the company's number; she answers.
    let inv = anna.answer_next(port).await;
    assert!(
        inv.header("From").unwrap_or("").contains(MAIN),
        "{:?}",
        inv.header("From")
    );
    // Then the customer, through the trunk, with the virtual number presented.
    let out = carrier.answer_next(port).await;
    assert!(
        out.start.contains(&format!("sip:{CUSTOMER}@")),
        "{}",
        out.start
    );
    assert!(out.header("From").unwrap_or("").contains(MAIN));
    // The customer hangs up: Anna gets the BYE.
    carrier.in_dialog("BYE", "", None).await;
    let bye = anna
        .expect_request("BYE", 10)
        .await
        .expect("Anna is hung up");
    anna.respond(&bye, 200, "OK", None, None).await;

    let cdr = record(&api, &id).await;
    assert_eq!(cdr["result"], "answered", "{cdr:#}");
    assert_eq!(cdr["numa"], "101");
    let events = cdr["events"].as_array().cloned().unwrap();
    let placed = find(&events, "originated");
    assert_eq!(placed[0]["to"], "101");
    assert_eq!(placed[0]["then"], format!("number {CUSTOMER}"));
    assert!(!find(&events, "talk").is_empty(), "{events:#?}");
    sw.stop().await;
}

#[actix_rt::test]
async fn a_call_placed_into_a_queue_scenario_waits_in_the_queue() {
    let carrier_port = free_port();
    let (mut sw, api) = api(Some(&company(carrier_port))).await;
    let mut carrier = LinePhone::bind(sw.sip, "carrier", "", carrier_port).await;
    let mut anna = LinePhone::new(sw.sip, "101", P101).await;
    anna.register().await;
    let rtp = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let port = rtp.local_addr().unwrap().port();

    // Anna talks with an inbound caller.
    let mut a = Phone::new(sw.sip).await;
    let (ok, _) = tokio::join!(a.call(QUEUE_NUMBER, port), anna.answer_next(port));
    assert_eq!(ok.status(), Some(200));

    // The API calls a customer into the queue scenario, run by its name: they answer and wait
    // for Anna.
    let r = api
        .post(
            "/api/v1/calls",
            json!({"to": CUSTOMER, "connect": {"kind": "scenario", "name": "support QUEUE"}, "caller_id": QUEUE_NUMBER}),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.text);
    let id = r.json["call_id"].as_str().unwrap().to_string();
    let out = carrier.answer_next(port).await;
    assert!(out.header("From").unwrap_or("").contains(QUEUE_NUMBER));
    let mut waiting = Value::Null;
    for _ in 0..500 {
        waiting = api.get("/api/v1/queues").await.json;
        if waiting["items"][0]["waiting"][0]["caller"] == CUSTOMER {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(
        waiting["items"][0]["waiting"][0]["caller"], CUSTOMER,
        "{waiting:#}"
    );
    // Anna's talk ends: the queued customer gets her.
    anna.in_dialog("BYE", "", None).await;
    let bye = a
        .recv_final(10)
        .await
        .expect("the inbound caller is hung up");
    a.ok_to(&bye).await;
    let _ = anna.answer_next(port).await;
    anna.in_dialog("BYE", "", None).await;
    let bye = carrier
        .expect_request("BYE", 10)
        .await
        .expect("the customer is hung up");
    carrier.respond(&bye, 200, "OK", None, None).await;

    let cdr = record(&api, &id).await;
    let events = cdr["events"].as_array().cloned().unwrap();
    assert_eq!(
        find(&events, "queue_joined")[0]["position"],
        1,
        "{events:#?}"
    );
    assert_eq!(find(&events, "queue_left")[0]["why"], "answered");
    assert!(!find(&events, "talk").is_empty());
    sw.stop().await;
}

#[actix_rt::test]
async fn bad_requests_name_the_field_and_an_unanswered_call_is_recorded() {
    let carrier_port = free_port();
    let (mut sw, api) = api(Some(&company(carrier_port))).await;
    let carrier = LinePhone::bind(sw.sip, "carrier", "", carrier_port).await;

    let connect = json!({"kind": "employee", "id": 1});
    let r = api
        .post("/api/v1/calls", json!({"to": "999", "connect": connect}))
        .await;
    assert_invalid(&r, "to", "call.to");
    let r = api
        .post(
            "/api/v1/calls",
            json!({"to": CUSTOMER, "connect": {"kind": "scenario", "id": 99}}),
        )
        .await;
    assert_invalid(&r, "connect.id", "call.connect.scenario");
    let r = api
        .post(
            "/api/v1/calls",
            json!({"to": CUSTOMER, "connect": {"kind": "scenario", "name": "Nonexistent"}}),
        )
        .await;
    assert_invalid(&r, "connect.name", "call.connect.scenario");
    for both_or_none in [
        json!({"kind": "scenario", "id": 32, "name": "Support queue"}),
        json!({"kind": "scenario"}),
    ] {
        let r = api
            .post(
                "/api/v1/calls",
                json!({"to": CUSTOMER, "connect": both_or_none}),
            )
            .await;
        assert_invalid(&r, "connect", "call.connect.scenario");
    }
    let r = api
        .post(
            "/api/v1/calls",
            json!({"to": CUSTOMER, "connect": connect, "caller_id": "70000000000"}),
        )
        .await;
    assert_invalid(&r, "caller_id", "call.caller_id");
    let r = api
        .post(
            "/api/v1/calls",
            json!({"to": CUSTOMER, "connect": {"kind": "fax"}}),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
    let r = api
        .post(
            "/api/v1/calls",
            json!({"to": CUSTOMER, "connect": connect, "colour": "red"}),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(r.text.contains("colour"), "{}", r.text);

    // The customer's line is busy: the call ends at once, recorded as busy.
    let r = api
        .post("/api/v1/calls", json!({"to": CUSTOMER, "connect": connect}))
        .await;
    assert_eq!(r.status, 202, "{}", r.text);
    let id = r.json["call_id"].as_str().unwrap().to_string();
    let inv = carrier.expect_request("INVITE", 10).await.unwrap();
    carrier.respond(&inv, 486, "Busy Here", None, None).await;
    let cdr = record(&api, &id).await;
    assert_eq!(cdr["result"], "busy", "{cdr:#}");
    sw.stop().await;
}
