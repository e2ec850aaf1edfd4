//! `/api/v1/agents` and `/api/v1/queues` on a live switch: the demo employees' phones, named
//! from the configuration, offline until their line registers; the filters and their 400s; an
//! employee added through the API appears; the queues of an idle switch are empty; both need
//! authentication; without a distributor both answer 503 at once.
#![allow(clippy::unwrap_used)]

mod api_support;
mod common;
use actix_web::dev::{Service, ServiceResponse};
use api_support::*;
use common::{LinePhone, P101};
use serde_json::{json, Value};
use std::time::Duration;

/// Polls `GET path` (at most 200 tries, 50 ms apart) until `cond` holds on the answer; the
/// last answer either way.
async fn poll<S, B>(api: &Api<S>, path: &str, cond: impl Fn(&Resp) -> bool) -> Resp
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: actix_web::body::MessageBody,
{
    let mut r = api.get(path).await;
    for _ in 0..200 {
        if cond(&r) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        r = api.get(path).await;
    }
    r
}

fn items(r: &Resp) -> Vec<Value> {
    r.json["items"].as_array().cloned().unwrap_or_default()
}

fn employees(r: &Resp) -> Vec<u64> {
    items(r)
        .iter()
        .map(|a| a["employee"].as_u64().unwrap())
        .collect()
}

#[actix_rt::test]
async fn agents_list_the_demo_phones_offline_until_a_line_registers() {
    let (mut sw, api) = api(None).await;

    let r = api.get("/api/v1/agents").await;
    assert_eq!(r.status, 200, "{}", r.text);
    let agents = items(&r);
    assert_eq!(agents.len(), 2, "{}", r.text);
    assert_eq!(
        agents[0],
        json!({"employee": 1, "name": "Anna Petrova", "extension": "101", "phone": 0,
               "phone_kind": "sip_line", "phone_target": "101", "sip_line": 101,
               "state": "offline", "lines": 2, "ringing": 0, "talking": 0,
               "wrap_up_left_s": 0, "idle_s": agents[0]["idle_s"]}),
    );
    assert!(agents[0]["idle_s"].is_u64());
    assert_eq!(agents[1]["employee"], 2);
    assert_eq!(agents[1]["name"], "Boris Ivanov");
    assert_eq!(agents[1]["phone_target"], "102");
    assert_eq!(agents[1]["state"], "offline");

    // Line 101 registers: its agent line becomes available; 102 stays offline.
    let mut phone = LinePhone::new(sw.sip, "101", P101).await;
    phone.register().await;
    let r = poll(&api, "/api/v1/agents?employee=1", |r| {
        items(r).first().is_some_and(|a| a["state"] == "available")
    })
    .await;
    assert_eq!(items(&r)[0]["state"], "available", "{}", r.text);

    // Filters.
    let r = api.get("/api/v1/agents?state=available").await;
    assert_eq!((r.status, employees(&r)), (200, vec![1]), "{}", r.text);
    let r = api.get("/api/v1/agents?state=offline").await;
    assert_eq!((r.status, employees(&r)), (200, vec![2]), "{}", r.text);
    let r = api.get("/api/v1/agents?employee=2").await;
    assert_eq!((r.status, employees(&r)), (200, vec![2]), "{}", r.text);
    let r = api.get("/api/v1/agents?employee=2&state=available").await;
    assert_eq!((r.status, employees(&r)), (200, vec![]), "{}", r.text);
    let r = api.get("/api/v1/agents?employee=999").await;
    assert_eq!((r.status, employees(&r)), (200, vec![]), "{}", r.text);
    let r = api.get("/api/v1/agents?state=talking").await;
    assert_eq!((r.status, employees(&r)), (200, vec![]), "{}", r.text);

    // Bad filters: 400 naming the field (and, for state, the values allowed).
    let r = api.get("/api/v1/agents?state=idle").await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(r.json["error"], "bad_request");
    assert_eq!(r.json["field"], "state");
    let message = r.json["message"].as_str().unwrap();
    for s in [
        "offline",
        "available",
        "ringing",
        "talking",
        "wrap_up",
        "busy",
        "call_status_off",
        "not_allowed_by_schedule",
    ] {
        assert!(message.contains(s), "{message}");
    }
    let r = api.get("/api/v1/agents?employee=anna").await;
    assert_eq!((r.status, &r.json["field"]), (400, &json!("employee")));
    let r = api.get("/api/v1/agents?team=1").await;
    assert_eq!((r.status, &r.json["field"]), (400, &json!("team")));

    sw.stop().await;
}

#[actix_rt::test]
async fn an_employee_added_through_the_api_has_agent_lines() {
    let (mut sw, api) = api(None).await;
    let r = api
        .post(
            "/api/v1/employees",
            json!({"first_name": "Vera", "last_name": "Orlova", "extension": "103",
                   "phones": [{"kind": "external", "number": "79161234567"},
                              {"kind": "sip_uri", "uri": "vera@sip.example.org"}]}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.json["id"].as_u64().unwrap();

    let path = format!("/api/v1/agents?employee={id}");
    let r = poll(&api, &path, |r| items(r).len() == 2).await;
    let agents = items(&r);
    assert_eq!(agents.len(), 2, "{}", r.text);
    assert_eq!(agents[0]["name"], "Vera Orlova");
    assert_eq!(agents[0]["extension"], "103");
    assert_eq!(
        (
            &agents[0]["phone"],
            &agents[0]["phone_kind"],
            &agents[0]["phone_target"],
            &agents[0]["sip_line"]
        ),
        (
            &json!(0),
            &json!("external"),
            &json!("79161234567"),
            &Value::Null
        )
    );
    assert_eq!(
        (
            &agents[1]["phone"],
            &agents[1]["phone_kind"],
            &agents[1]["phone_target"]
        ),
        (&json!(1), &json!("sip_uri"), &json!("vera@sip.example.org"))
    );
    sw.stop().await;
}

#[actix_rt::test]
async fn queues_are_empty_on_an_idle_switch() {
    let (mut sw, api) = api(None).await;
    let r = api.get("/api/v1/queues").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json, json!({"items": []}));
    let r = api.get("/api/v1/queues?key=101").await;
    assert_eq!((r.status, &r.json["field"]), (400, &json!("key")));
    sw.stop().await;
}

#[actix_rt::test]
async fn both_need_authentication() {
    let (mut sw, api) = api(None).await;
    for path in ["/api/v1/agents", "/api/v1/queues"] {
        let r = send(api.app(), actix_web::test::TestRequest::get().uri(path)).await;
        assert_eq!(r.status, 401, "{path}: {}", r.text);
        assert_eq!(r.json["error"], "unauthorized");
        let r = send(api.app(), req("GET", path, "not-a-token")).await;
        assert_eq!(r.status, 401, "{path}: {}", r.text);
    }
    sw.stop().await;
}

#[actix_rt::test]
async fn without_a_distributor_both_answer_503() {
    let sw = switch(None).await;
    let mut state = state(&sw);
    state.registry = vpbx_actors::switch::Registry::default();
    let app = actix_web::test::init_service(vpbx::http::app(state)).await;
    let api = Api::login(app).await;
    for path in ["/api/v1/agents", "/api/v1/queues"] {
        let r = api.get(path).await;
        assert_eq!(r.status, 503, "{path}: {}", r.text);
        assert_eq!(r.json["error"], "unavailable");
    }
    let mut sw = sw;
    sw.stop().await;
}

const QUEUE_NUMBER: &str = "74957000300";

/// The demo with a number whose forward to Anna (one line) queues callers who find her busy.
fn queue_company() -> String {
    common::demo_company_with(
        "  - id: 30\n    name: Support queue\n    start: support\n    operations:\n      support:\n        action:\n          kind: forward\n          targets: [ { kind: employee, id: 1 } ]\n          strategy: { kind: sequential }\n          queue: { announce: false }\n          max_wait_s: 120\n        exits: { answered: bye, no_answer: bye, busy: bye }\n      bye:\n        action: { kind: hang_up }\n",
        &format!("  - number: \"{QUEUE_NUMBER}\"\n    rules:\n      - id: 30\n        name: Support\n        scenario: 30\n"),
        "",
    )
    .replacen("lines: 2", "lines: 1", 1)
}

#[actix_rt::test]
async fn a_caller_who_finds_the_agent_busy_is_listed_in_its_queue() {
    let (mut sw, api) = api(Some(&queue_company())).await;
    let mut agent = LinePhone::new(sw.sip, "101", P101).await;
    agent.register().await;
    let agent_rtp = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let agent_port = agent_rtp.local_addr().unwrap().port();
    let r = poll(&api, "/api/v1/agents?employee=1", |r| {
        items(r).first().is_some_and(|a| a["state"] == "available")
    })
    .await;
    assert_eq!(items(&r)[0]["state"], "available", "{}", r.text);

    // A talks with Anna: her one line is busy.
    let rtp_a = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut a = common::Phone::new(sw.sip).await;
    let answer = async {
        let inv = agent
            .expect_request("INVITE", 30)
            .await
            .expect("Anna's phone rings");
        agent.answer(&inv, agent_port).await;
    };
    let (ok_a, ()) = tokio::join!(
        a.call(QUEUE_NUMBER, rtp_a.local_addr().unwrap().port()),
        answer
    );
    assert_eq!(ok_a.status(), Some(200));
    let r = poll(&api, "/api/v1/agents?employee=1", |r| {
        items(r).first().is_some_and(|a| a["talking"] == 1)
    })
    .await;
    let anna = &items(&r)[0];
    assert_eq!(
        (&anna["state"], &anna["talking"]),
        (&json!("busy"), &json!(1)),
        "{}",
        r.text
    );

    // B finds her busy and waits in the queue of extension 101, at its head.
    let rtp_b = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut b = common::Phone::new(sw.sip).await;
    let ok_b = b
        .call(QUEUE_NUMBER, rtp_b.local_addr().unwrap().port())
        .await;
    assert_eq!(ok_b.status(), Some(200));
    let r = poll(&api, "/api/v1/queues", |r| !items(r).is_empty()).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let queues = items(&r);
    assert_eq!(queues.len(), 1, "{}", r.text);
    assert_eq!(queues[0]["key"], "101");
    let waiting = queues[0]["waiting"].as_array().unwrap();
    assert_eq!(waiting.len(), 1, "{}", r.text);
    assert_eq!(waiting[0]["caller"], "79161234567");
    assert_eq!(waiting[0]["position"], 1);
    assert!(waiting[0]["waited_s"].is_u64());
    assert_eq!(
        waiting[0]["offered"], false,
        "Anna is busy: nothing rings for B"
    );

    // B gives up: the queue is gone.
    b.bye().await;
    let r = poll(&api, "/api/v1/queues", |r| items(r).is_empty()).await;
    assert_eq!(r.json, json!({"items": []}), "{}", r.text);
    a.bye().await;
    sw.stop().await;
}
