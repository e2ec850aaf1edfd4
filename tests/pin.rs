//! The PIN operation on a live switch: a scenario built only through the API, three calls from a
//! test phone sending RFC 4733 digits (the right code, a wrong code twice, nothing), and the
//! call's events (call detail API) showing the exit taken, the number of digits, and never the
//! digits themselves.
#![allow(clippy::unwrap_used)]

mod api_support;
mod common;
use api_support::*;
use common::*;
use serde_json::{json, Value};

/// `op#attempt:length:outcome` of every `pin_input` and `op->exit` of every `exit_taken`.
fn path(events: &[Value]) -> Vec<String> {
    let s = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    events
        .iter()
        .filter_map(|e| {
            if let Some(x) = e["what"].get("exit_taken") {
                Some(format!("{}->{}", s(&x["op"]), s(&x["exit"])))
            } else {
                e["what"].get("pin_input").map(|x| {
                    format!(
                        "{}#{}:{}:{}",
                        s(&x["op"]),
                        x["attempt"],
                        x["length"],
                        s(&x["outcome"])
                    )
                })
            }
        })
        .collect()
}

#[actix_rt::test]
async fn a_pin_takes_correct_incorrect_and_timeout_and_never_shows_the_digits() {
    let (mut sw, api) = api(None).await;
    let r = api
        .post(
            "/api/v1/scenarios",
            json!({
                "name": "PIN test",
                "start": "pin",
                "operations": {
                    "pin": {"action": {"kind": "pin", "codes": ["2468", "13579"], "timeout_s": 5, "attempts": 2},
                            "exits": {"correct": "bye", "incorrect": "bye", "timeout": "bye"}},
                    "bye": {"action": {"kind": "hang_up"}}
                }
            }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let scenario = r.json["id"].as_u64().unwrap();
    // A bad PIN is refused naming the field and the rule, without repeating the code.
    let bad = api
        .post(
            "/api/v1/scenarios",
            json!({"name": "Bad", "start": "p", "operations": {
                "p": {"action": {"kind": "pin", "codes": ["12x4"], "attempts": 9}}}}),
        )
        .await;
    assert_eq!(bad.status, 422, "{}", bad.text);
    for needle in ["pin.code", "codes[0]", "pin.attempts"] {
        assert!(bad.text.contains(needle), "{needle}: {}", bad.text);
    }
    assert!(!bad.text.contains("12x4"), "{}", bad.text);

    // Right code; two wrong codes (the second attempt is the last); nothing typed.
    let calls: [(&str, &[char], &[&str]); 3] = [
        (
            "74957000881",
            &['2', '4', '6', '8'],
            &["pin#1:4:correct", "pin->correct"],
        ),
        (
            "74957000882",
            &['1', '1', '1', '#', '9', '9', '9', '9'],
            &["pin#1:3:incorrect", "pin#2:4:incorrect", "pin->incorrect"],
        ),
        ("74957000883", &[], &["pin#1:0:timeout", "pin->timeout"]),
    ];
    for (number, _, _) in &calls {
        let r = api
            .post(
                "/api/v1/numbers",
                json!({"number": number, "rules": [{"name": "pin", "scenario": scenario}]}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
    }
    for (number, digits, expected) in calls {
        let rtp = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let mut caller = Phone::new(sw.sip).await;
        let ok = caller.call(number, rtp.local_addr().unwrap().port()).await;
        let to = ok.sdp_media_addr().unwrap();
        let (mut seq, mut ts) = (1u16, 0u32);
        for d in digits {
            send_digit(&rtp, to, *d, &mut seq, &mut ts).await;
        }
        caller.bye_from_switch().await;
        let events = api.finished_call_events(number).await;
        assert_eq!(path(&events), expected, "{number}: {events:#?}");
        // No event carries a digit of the code.
        assert!(
            !events.iter().any(|e| e["what"].get("digit").is_some()),
            "{number}: {events:#?}"
        );
    }
    sw.stop().await;
}
