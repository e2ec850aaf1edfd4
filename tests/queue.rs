//! The queue on a live switch (SPEC §4.3): an employee's phone with one line talks; two more
//! callers find it busy after one full round, join the queue of that number, are answered and
//! hear the announcement of their position; when the talk ends the line is offered to the
//! first of them, then to the second — strict FIFO — and the calls' events tell the positions,
//! the callers that were ahead, and how each left the queue.
#![allow(clippy::unwrap_used)]

mod api_support;
mod common;
use api_support::*;
use common::*;
use serde_json::Value;

const NUMBER: &str = "74957000300";

fn company() -> String {
    demo_company_with(
        "  - id: 30\n    name: Support queue\n    start: support\n    operations:\n      support:\n        action:\n          kind: forward\n          targets: [ { kind: employee, id: 1 } ]\n          strategy: { kind: sequential }\n          queue: { announce: true }\n          max_wait_s: 120\n        exits: { answered: bye, no_answer: bye, busy: bye }\n      bye:\n        action: { kind: hang_up }\n",
        &format!("  - number: \"{NUMBER}\"\n    rules:\n      - id: 30\n        name: Support\n        scenario: 30\n"),
        "",
    )
    // Anna's phone takes one call at a time.
    .replacen("lines: 2", "lines: 1", 1)
}

/// The agent hangs up its talk; the caller gets the switch's BYE.
async fn agent_hangs_up(agent: &mut LinePhone, caller: &Phone) {
    agent.in_dialog("BYE", "", None).await;
    let ok = agent.expect_response("BYE", 200, 10).await;
    assert_eq!(
        ok.as_ref().and_then(|m| m.status()),
        Some(200),
        "the agent's BYE is taken even right after its answer"
    );
    let bye = caller.recv_final(10).await.expect("the caller is hung up");
    assert_eq!(bye.method(), Some("BYE"), "{}", bye.start);
    caller.ok_to(&bye).await;
}

#[actix_rt::test]
async fn callers_wait_in_order_hear_their_position_and_get_the_line_first_come_first_served() {
    let (mut sw, api) = api(Some(&company())).await;
    let mut agent = LinePhone::new(sw.sip, "101", P101).await;
    agent.register().await;
    let agent_rtp = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let agent_port = agent_rtp.local_addr().unwrap().port();

    // A talks with the agent.
    let rtp_a = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut a = Phone::new(sw.sip).await;
    let (ok_a, _) = tokio::join!(
        a.call(NUMBER, rtp_a.local_addr().unwrap().port()),
        agent.answer_next(agent_port)
    );
    assert_eq!(ok_a.status(), Some(200));

    // B and C find the line busy: each is answered by the queue and hears its position.
    let rtp_b = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut b = Phone::new(sw.sip).await;
    let ok_b = b.call(NUMBER, rtp_b.local_addr().unwrap().port()).await;
    assert_eq!(ok_b.status(), Some(200));
    let heard_b = count_loud(&rtp_b, 4000).await;
    assert!(
        heard_b >= 20,
        "B heard {heard_b} loud packets of its announcement"
    );
    let rtp_c = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut c = Phone::new(sw.sip).await;
    let ok_c = c.call(NUMBER, rtp_c.local_addr().unwrap().port()).await;
    assert_eq!(ok_c.status(), Some(200));

    // The agent's talk with A ends: the line goes to B (the head), not C.
    agent_hangs_up(&mut agent, &a).await;
    let inv_b = agent.answer_next(agent_port).await;
    let _ = inv_b;
    // While B talks, C still waits: nothing else rings.
    agent_hangs_up(&mut agent, &b).await;
    let _inv_c = agent.answer_next(agent_port).await;
    agent_hangs_up(&mut agent, &c).await;

    // Three finished calls: A never queued, B was first, C second with one caller ahead.
    let mut calls = Vec::new();
    for _ in 0..600 {
        let r = api.get("/api/v1/calls/recent?limit=10").await;
        calls = r.json["items"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .filter(|c| c["numb"] == NUMBER)
            .collect();
        if calls.len() == 3 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(calls.len(), 3, "{calls:#?}");
    calls.sort_by_key(|c| c["start_unix_ms"].as_u64());
    let events: Vec<Vec<Value>> = calls
        .iter()
        .map(|c| c["events"].as_array().cloned().unwrap_or_default())
        .collect();
    assert!(
        find(&events[0], "queue_joined").is_empty(),
        "{:#?}",
        events[0]
    );
    let joined_b = find(&events[1], "queue_joined");
    assert_eq!(joined_b.len(), 1, "{:#?}", events[1]);
    assert_eq!(joined_b[0]["position"], 1);
    assert_eq!(joined_b[0]["ahead"].as_array().unwrap().len(), 0);
    let joined_c = find(&events[2], "queue_joined");
    assert_eq!(joined_c[0]["position"], 2, "{:#?}", events[2]);
    assert_eq!(joined_c[0]["ahead"].as_array().unwrap().len(), 1);
    for e in &events[1..] {
        let left = find(e, "queue_left");
        assert_eq!(left.len(), 1, "{e:#?}");
        assert_eq!(left[0]["why"], "answered");
        // The busy line was refused with its reason in the first round.
        assert!(
            find(e, "ring_ended")
                .iter()
                .any(|r| r["cause"] == "busy" || r["cause"] == "queue_waiting"),
            "{e:#?}"
        );
    }
    // The announcement was played to each waiting caller at least once.
    for e in &events[1..] {
        assert!(!find(e, "queue_joined").is_empty());
    }
    sw.stop().await;
}

/// The distributor's queues now (asked directly, as the API does).
async fn waiting(sw: &TestSwitch) -> Vec<usize> {
    let Some(c) = sw.running().registry.children() else {
        return Vec::new();
    };
    match c.dist.send(vpbx_actors::dist::ListQueues).await {
        Ok(qs) => qs.iter().map(|q| q.waiting.len()).collect(),
        Err(_) => Vec::new(),
    }
}

#[actix_rt::test]
async fn a_distributor_that_fails_mid_traffic_comes_back_with_every_caller_in_the_same_order() {
    let (mut sw, api) = api(Some(&company())).await;
    let mut agent = LinePhone::new(sw.sip, "101", P101).await;
    agent.register().await;
    let agent_rtp = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let agent_port = agent_rtp.local_addr().unwrap().port();
    let rtp = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let port = rtp.local_addr().unwrap().port();

    let mut a = Phone::new(sw.sip).await;
    let (ok_a, _) = tokio::join!(a.call(NUMBER, port), agent.answer_next(agent_port));
    assert_eq!(ok_a.status(), Some(200));
    let mut b = Phone::new(sw.sip).await;
    assert_eq!(b.call(NUMBER, port).await.status(), Some(200));
    let mut c = Phone::new(sw.sip).await;
    assert_eq!(c.call(NUMBER, port).await.status(), Some(200));
    let mut queued = Vec::new();
    for _ in 0..300 {
        queued = waiting(&sw).await;
        if queued == [2] {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(queued, [2]);

    // The distributor fails; the switch starts a new one and the live calls tell it what they
    // hold and where they wait.
    let before = sw.running().stats.restarts();
    let old = sw.running().registry.children().unwrap().dist;
    old.do_send(vpbx_actors::dist::StopDist);
    let mut back = false;
    for _ in 0..500 {
        let now = sw.running().registry.children().unwrap().dist;
        if sw.running().stats.restarts() > before && now != old && waiting(&sw).await == [2] {
            back = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(
        back,
        "a new distributor holds both waiting callers: {:?} after {} restarts",
        waiting(&sw).await,
        sw.running().stats.restarts()
    );

    // The talk with A still holds the line: nothing rings until it ends; then B, then C.
    agent_hangs_up(&mut agent, &a).await;
    let _ = agent.answer_next(agent_port).await;
    agent_hangs_up(&mut agent, &b).await;
    let _ = agent.answer_next(agent_port).await;
    agent_hangs_up(&mut agent, &c).await;

    let mut results = Vec::new();
    for _ in 0..600 {
        let r = api.get("/api/v1/calls/recent?limit=10").await;
        let mut calls: Vec<Value> = r.json["items"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .filter(|c| c["numb"] == NUMBER)
            .collect();
        calls.sort_by_key(|c| c["start_unix_ms"].as_u64());
        results = calls.iter().map(|c| c["result"].clone()).collect();
        if results.len() == 3 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(results, ["answered", "answered", "answered"]);
    sw.stop().await;
}
