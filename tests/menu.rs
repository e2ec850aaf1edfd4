//! The menu operation on a live switch: a two-level menu built only through the API, a caller
//! sending RFC 4733 digits, and the call's events (call detail API) showing each exit taken and
//! why — a key, `#` back to the previous menu, and a timeout.
#![allow(clippy::unwrap_used)]

mod api_support;
mod common;
use api_support::*;
use common::*;
use serde_json::{json, Value};
use std::time::Duration;

/// `op->exit` of every `exit_taken` and `op:digits:outcome` of every `menu_input`, in order.
fn path(events: &[Value]) -> Vec<String> {
    let s = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    events
        .iter()
        .filter_map(|e| {
            if let Some(x) = e["what"].get("exit_taken") {
                Some(format!("{}->{}", s(&x["op"]), s(&x["exit"])))
            } else {
                e["what"]
                    .get("menu_input")
                    .map(|x| format!("{}:{}:{}", s(&x["op"]), s(&x["digits"]), s(&x["outcome"])))
            }
        })
        .collect()
}

#[actix_rt::test]
async fn a_two_level_menu_takes_keys_goes_back_on_hash_and_times_out() {
    let (mut sw, api) = api(None).await;
    // main: 1 → sub, 9 → last. sub has no `#` exit: `#` goes back to main. last times out after
    // a second into hang-up. Keys are sent well within the 60 s of main and sub.
    let r = api
        .post(
            "/api/v1/scenarios",
            json!({
                "name": "Menu test",
                "start": "main",
                "operations": {
                    "main": {"action": {"kind": "menu", "timeout_s": 60},
                             "exits": {"1": "sub", "9": "last", "timeout": "bye", "invalid": "bye"}},
                    "sub": {"action": {"kind": "menu", "timeout_s": 60},
                            "exits": {"2": "bye", "timeout": "bye", "invalid": "bye"}},
                    "last": {"action": {"kind": "menu", "timeout_s": 1},
                             "exits": {"timeout": "bye", "invalid": "bye"}},
                    "bye": {"action": {"kind": "hang_up"}}
                }
            }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let scenario = r.json["id"].as_u64().unwrap();
    // A bad menu is refused naming the field and the rule.
    let bad = api
        .post(
            "/api/v1/scenarios",
            json!({"name": "Bad", "start": "m", "operations": {
                "m": {"action": {"kind": "menu", "timeout_s": 0}, "exits": {"5x": "m"}}}}),
        )
        .await;
    assert_eq!(bad.status, 422, "{}", bad.text);
    assert!(bad.text.contains("menu.timeout_s"), "{}", bad.text);
    assert!(bad.text.contains("exits.5x"), "{}", bad.text);

    let number = "74957000777";
    let r = api
        .post(
            "/api/v1/numbers",
            json!({"number": number, "rules": [{"name": "menu", "scenario": scenario}]}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);

    let rtp = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut caller = Phone::new(sw.sip).await;
    let ok = caller.call(number, rtp.local_addr().unwrap().port()).await;
    let to = ok.sdp_media_addr().unwrap();
    let (mut seq, mut ts) = (1u16, 0u32);
    for d in ['1', '#', '9'] {
        send_digit(&rtp, to, d, &mut seq, &mut ts).await;
    }
    // `last` times out and the scenario hangs up.
    caller.bye_from_switch().await;
    let events = api.finished_call_events(number).await;
    assert_eq!(
        path(&events),
        [
            "main:1:key",
            "main->1",
            "sub:#:back",
            "sub->#",
            "main:9:key",
            "main->9",
            "last::timeout",
            "last->timeout",
        ],
        "{events:#?}"
    );
    let entered: Vec<&str> = events
        .iter()
        .filter_map(|e| e["what"].get("operation_entered"))
        .filter_map(|x| x["op"].as_str())
        .collect();
    assert_eq!(
        entered,
        ["main", "sub", "main", "last", "bye"],
        "{events:#?}"
    );
    // Each key arrived as an RFC 4733 digit (not SIP INFO).
    let digits: Vec<String> = events
        .iter()
        .filter_map(|e| e["what"].get("digit"))
        .filter(|d| d["sip_info"] == false)
        .filter_map(|d| d["digit"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(digits, ["1", "#", "9"], "{events:#?}");
    sw.stop().await;
}

fn entered(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| e["what"].get("operation_entered"))
        .filter_map(|x| x["op"].as_str().map(str::to_owned))
        .collect()
}

/// Extension entry: keys typed during the prompt cut it short; an unknown extension says so and
/// the menu starts again (then times out); a known one rings the employee, and the `extension`
/// exit is taken when that talk ends.
#[actix_rt::test]
async fn extension_entry_unknown_replays_the_menu_known_rings_the_employee() {
    let (mut sw, api) = api(None).await;
    let r = api
        .post(
            "/api/v1/scenarios",
            json!({
                "name": "Extension menu",
                "start": "m",
                "operations": {
                    "m": {"action": {"kind": "menu", "timeout_s": 5, "extension_entry": true,
                                     "prompt": {"kind": "text", "voice": "en",
                                                "text": "Welcome to the demo company. Press one for the operator, or dial the extension of the person you are calling."}},
                          "exits": {"1": "bye", "extension": "bye", "timeout": "bye", "invalid": "bye"}},
                    "bye": {"action": {"kind": "hang_up"}}
                }
            }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let scenario = r.json["id"].as_u64().unwrap();
    for number in ["74957000778", "74957000779"] {
        let r = api
            .post(
                "/api/v1/numbers",
                json!({"number": number, "rules": [{"name": "menu", "scenario": scenario}]}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
    }

    // Unknown extension 555, typed while the prompt plays.
    let rtp = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut caller = Phone::new(sw.sip).await;
    let ok = caller
        .call("74957000778", rtp.local_addr().unwrap().port())
        .await;
    let to = ok.sdp_media_addr().unwrap();
    let (mut seq, mut ts) = (1u16, 0u32);
    for d in ['5', '5', '5', '#'] {
        send_digit(&rtp, to, d, &mut seq, &mut ts).await;
    }
    caller.bye_from_switch().await;
    let events = api.finished_call_events("74957000778").await;
    assert_eq!(
        path(&events),
        ["m:555:unknown_extension", "m::timeout", "m->timeout"],
        "{events:#?}"
    );
    assert_eq!(entered(&events), ["m", "m", "bye"], "{events:#?}");
    assert!(
        events.iter().any(|e| e["what"]
            .get("prompt_played")
            .is_some_and(|p| p["interrupted_by"] == "5")),
        "barge-in: {events:#?}"
    );

    // Known extension 101: Anna's phone rings; she answers, then hangs up.
    let mut anna = LinePhone::new(sw.sip, "101", P101).await;
    anna.register().await;
    let rtp = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut caller = Phone::new(sw.sip).await;
    let ok = caller
        .call("74957000779", rtp.local_addr().unwrap().port())
        .await;
    let to = ok.sdp_media_addr().unwrap();
    let (mut seq, mut ts) = (1u16, 0u32);
    for d in ['1', '0', '1'] {
        send_digit(&rtp, to, d, &mut seq, &mut ts).await;
    }
    let inv = anna.expect_request("INVITE", 60).await.expect("101 rings");
    let anna_rtp = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    anna.answer(&inv, anna_rtp.local_addr().unwrap().port())
        .await;
    // Anna hangs up once the talk is up: the caller's voice reaches her phone.
    let mut buf = [0u8; 2048];
    let mut bridged = false;
    for _ in 0..150 {
        send_tone(&rtp, to, 600.0, 10).await;
        if let Ok(Ok((n, _))) =
            tokio::time::timeout(Duration::from_millis(200), anna_rtp.recv_from(&mut buf)).await
        {
            if rtp_header(&buf[..n]).is_some() {
                bridged = true;
                break;
            }
        }
    }
    assert!(bridged, "the caller is bridged to 101");

    anna.in_dialog("BYE", "", None).await;
    caller.bye_from_switch().await;
    let events = api.finished_call_events("74957000779").await;
    assert_eq!(
        path(&events),
        ["m:101:extension", "m->extension"],
        "{events:#?}"
    );
    assert_eq!(entered(&events), ["m", "bye"], "{events:#?}");
    sw.stop().await;
}
