//! Callback from the queue on a live switch (SPEC §4.3): a waiting caller presses the callback
//! key, hears that they will be called back and is hung up; their place waits without them —
//! a later caller queues behind it, and it survives a restart of the distributor (persisted).
//! When the employee is free the switch calls the caller back through the trunk (presenting the
//! virtual number), and once they answer the employee's phone rings for them — before the later
//! caller, who gets the employee next. The calls' events tell every step.
#![allow(clippy::unwrap_used)]

mod api_support;
mod common;
use api_support::*;
use common::*;
use serde_json::Value;

const NUMBER: &str = "74957000310";
/// Every test caller presents this number (see `Phone`).
const CALLER: &str = "79161234567";

fn company(carrier_port: u16) -> String {
    demo_company_with(
        "  - id: 31\n    name: Support queue with callback\n    start: support\n    operations:\n      support:\n        action:\n          kind: forward\n          targets: [ { kind: employee, id: 1 } ]\n          strategy: { kind: sequential }\n          queue: { announce: false, callback_key: \"1\" }\n          max_wait_s: 120\n        exits: { answered: bye, no_answer: bye, busy: bye }\n      bye:\n        action: { kind: hang_up }\n",
        &format!("  - number: \"{NUMBER}\"\n    rules:\n      - id: 31\n        name: Support\n        scenario: 31\n"),
        &format!("trunks:\n  - id: 1\n    name: Carrier\n    host: 127.0.0.1\n    port: {carrier_port}\n    auth: {{ kind: ip, addresses: [ \"127.0.0.1\" ] }}\n"),
    )
    // Anna's phone takes one call at a time.
    .replacen("lines: 2", "lines: 1", 1)
}

/// The caller presses `digit` (SIP INFO, application/dtmf-relay).
async fn press(p: &mut Phone, digit: char) {
    p.cseq += 1;
    let br = p.branch();
    let body = format!("Signal={digit}\r\nDuration=160\r\n");
    let t = format!(
        "INFO {target} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch={br};rport\r\nMax-Forwards: 70\r\nFrom: \"Tester\" <sip:{CALLER}@127.0.0.1>;tag={ft}\r\nTo: <{target}>;tag={tt}\r\nCall-ID: {cid}\r\nCSeq: {cseq} INFO\r\nContent-Type: application/dtmf-relay\r\nContent-Length: {len}\r\n\r\n{body}",
        target = p.target,
        local = p.local,
        ft = p.from_tag,
        tt = p.to_tag.clone().unwrap_or_default(),
        cid = p.call_id,
        cseq = p.cseq,
        len = body.len(),
    );
    p.send(&t).await;
}

/// The queues now: per waiting caller, whether a callback keeps the place.
async fn queues(sw: &TestSwitch) -> Vec<Vec<bool>> {
    let Some(c) = sw.running().registry.children() else {
        return Vec::new();
    };
    match c.dist.send(vpbx_actors::dist::ListQueues).await {
        Ok(qs) => qs
            .iter()
            .map(|q| q.waiting.iter().map(|w| w.callback).collect())
            .collect(),
        Err(_) => Vec::new(),
    }
}

async fn wait_for_queues(sw: &TestSwitch, want: &[Vec<bool>]) {
    let mut now = Vec::new();
    for _ in 0..500 {
        now = queues(sw).await;
        if now == want {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("queues {now:?}, expected {want:?}");
}

#[actix_rt::test]
async fn a_caller_who_asks_for_a_callback_keeps_their_place_and_is_called_back_first() {
    let carrier_port = free_port();
    let (mut sw, api) = api(Some(&company(carrier_port))).await;
    let mut carrier = LinePhone::bind(sw.sip, "carrier", "", carrier_port).await;
    let mut agent = LinePhone::new(sw.sip, "101", P101).await;
    agent.register().await;
    let agent_rtp = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let agent_port = agent_rtp.local_addr().unwrap().port();
    let rtp = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let port = rtp.local_addr().unwrap().port();

    // A talks with the agent.
    let mut a = Phone::new(sw.sip).await;
    let (ok_a, _) = tokio::join!(a.call(NUMBER, port), agent.answer_next(agent_port));
    assert_eq!(ok_a.status(), Some(200));

    // B waits, presses the callback key, is told so and hung up; the place stays.
    let mut b = Phone::new(sw.sip).await;
    assert_eq!(b.call(NUMBER, port).await.status(), Some(200));
    wait_for_queues(&sw, &[vec![false]]).await;
    press(&mut b, '1').await;
    let r = b.recv(10).await.expect("the INFO is answered");
    assert_eq!(r.status(), Some(200), "{}", r.start);
    b.bye_from_switch().await;
    wait_for_queues(&sw, &[vec![true]]).await;

    // C queues behind the callback.
    let mut c = Phone::new(sw.sip).await;
    assert_eq!(c.call(NUMBER, port).await.status(), Some(200));
    wait_for_queues(&sw, &[vec![true, false]]).await;

    // The distributor fails: its successor reads the callback back from the store and hears
    // C again from its call, in the same order.
    let old = sw.running().registry.children().unwrap().dist;
    old.do_send(vpbx_actors::dist::StopDist);
    for _ in 0..500 {
        if sw.running().registry.children().unwrap().dist != old {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    wait_for_queues(&sw, &[vec![true, false]]).await;

    // The agent's talk with A ends: the switch calls B back through the trunk, presenting the
    // virtual number; B answers and the agent's phone rings for B — not for C.
    agent.in_dialog("BYE", "", None).await;
    let bye = a.recv_final(10).await.expect("A is hung up");
    a.ok_to(&bye).await;
    let cb = carrier.answer_next(port).await;
    assert!(
        cb.start.contains(&format!("sip:{CALLER}@")),
        "the callback dials the caller: {}",
        cb.start
    );
    assert!(
        cb.header("From").unwrap_or("").contains(NUMBER),
        "the callback presents the virtual number: {:?}",
        cb.header("From")
    );
    let _ = agent.answer_next(agent_port).await;
    wait_for_queues(&sw, &[vec![false]]).await;
    // The agent hangs up: the called-back caller gets the BYE; then C's turn.
    agent.in_dialog("BYE", "", None).await;
    let bye = carrier
        .expect_request("BYE", 10)
        .await
        .expect("the callback's caller is hung up");
    carrier.respond(&bye, 200, "OK", None, None).await;
    let _ = agent.answer_next(agent_port).await;
    agent.in_dialog("BYE", "", None).await;
    let bye = c.recv_final(10).await.expect("C is hung up");
    c.ok_to(&bye).await;

    // Four calls: A; B asked for the callback at position 1; the callback rejoined and talked;
    // C waited behind it (one caller ahead) and talked last.
    let mut calls = Vec::new();
    for _ in 0..600 {
        let r = api.get("/api/v1/calls/recent?limit=20").await;
        calls = r.json["items"].as_array().cloned().unwrap_or_default();
        if calls.len() >= 4 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(calls.len(), 4, "{calls:#?}");
    calls.sort_by_key(|c| c["start_unix_ms"].as_u64());
    let events: Vec<Vec<Value>> = calls
        .iter()
        .map(|c| c["events"].as_array().cloned().unwrap_or_default())
        .collect();
    let asked = find(&events[1], "callback_requested");
    assert_eq!(asked.len(), 1, "{:#?}", events[1]);
    assert_eq!(asked[0]["position"], 1);
    assert_eq!(asked[0]["already"], false);
    assert_eq!(
        find(&events[1], "queue_left")[0]["why"],
        "callback requested"
    );
    let (callback, later) = if find(&events[2], "callback_started").is_empty() {
        (&events[3], &events[2])
    } else {
        (&events[2], &events[3])
    };
    assert_eq!(find(callback, "callback_started").len(), 1, "{callback:#?}");
    assert_eq!(find(callback, "queue_left")[0]["why"], "answered");
    assert!(!find(callback, "talk").is_empty(), "{callback:#?}");
    let joined_c = find(later, "queue_joined");
    assert_eq!(joined_c[0]["position"], 2, "{later:#?}");
    assert_eq!(joined_c[0]["ahead"][0], CALLER);
    // The callback talked before C did.
    let talk_at = |e: &[Value]| {
        e.iter()
            .find(|x| x["what"].get("talk").is_some())
            .and_then(|x| x["at_unix_ms"].as_u64())
            .unwrap()
    };
    assert!(talk_at(callback) <= talk_at(later));
    // Nothing is left waiting, and nothing is left in the store.
    wait_for_queues(&sw, &[]).await;
    assert!(sw.running().store.queue_callbacks().unwrap().is_empty());
    sw.stop().await;
}
