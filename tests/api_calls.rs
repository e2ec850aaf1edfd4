//! `GET /api/v1/calls`: call records filtered by time, caller, number, employee and result,
//! paged by offset or cursor, with the total; `recent` stays as the plain list.
#![allow(clippy::unwrap_used)]

mod api_support;
mod common;
use api_support::*;
use vpbx_store::model::{CallEvent, CallResult, Cdr, EmployeeId, Event, HangupSide};

fn cdr(i: u64) -> Cdr {
    Cdr {
        call_id: format!("call-{i}"),
        sip_call_id: format!("sip-{i}"),
        numa: format!("7916000000{}", i % 2),
        numb: "74951234567".into(),
        start_unix_ms: 1_790_000_000_000 + i * 1000,
        answer_unix_ms: None,
        end_unix_ms: 1_790_000_000_500 + i * 1000,
        result: if i.is_multiple_of(3) {
            CallResult::Abandoned
        } else {
            CallResult::Answered
        },
        hangup: HangupSide::Caller,
        reason: String::new(),
        events: vec![CallEvent {
            at_unix_ms: 1_790_000_000_100 + i * 1000,
            what: Event::RingStarted {
                target: "x".into(),
                employee: Some(EmployeeId(1 + i % 2)),
                line: None,
                timeout_s: 20,
            },
        }],
    }
}

fn ids(r: &Resp) -> Vec<String> {
    r.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["call_id"].as_str().unwrap().to_owned())
        .collect()
}

#[actix_rt::test]
async fn the_call_list_filters_and_pages() {
    let (mut sw, api) = api(None).await;
    let cdrs: Vec<Cdr> = (1..=9).map(cdr).collect();
    sw.running().store.put_cdrs(&cdrs).unwrap();

    let r = api.get("/api/v1/calls").await;
    assert_eq!(
        (r.status, r.json["total"].as_u64()),
        (200, Some(9)),
        "{}",
        r.text
    );
    assert_eq!(ids(&r)[0], "call-9");
    let r = api.get("/api/v1/calls?result=abandoned").await;
    assert_eq!(ids(&r), ["call-9", "call-6", "call-3"]);
    let r = api.get("/api/v1/calls?employee=1&caller=0000").await;
    assert_eq!(ids(&r), ["call-8", "call-6", "call-4", "call-2"]);
    // Times as ms or RFC 3339 (1_790_000_005_600 ms is 2026-09-21T14:13:25.600Z).
    let r = api
        .get("/api/v1/calls?from=1790000003000&to=2026-09-21T14:13:25.600Z")
        .await;
    assert_eq!(ids(&r), ["call-5", "call-4", "call-3"], "{}", r.text);
    // Pages by cursor.
    let r = api.get("/api/v1/calls?limit=4").await;
    assert_eq!(ids(&r), ["call-9", "call-8", "call-7", "call-6"]);
    let next = r.json["next"].as_str().unwrap().to_owned();
    let r = api
        .get(&format!("/api/v1/calls?limit=4&cursor={next}"))
        .await;
    assert_eq!(ids(&r), ["call-5", "call-4", "call-3", "call-2"]);
    let r = api.get("/api/v1/calls?limit=2&offset=7").await;
    assert_eq!(ids(&r), ["call-2", "call-1"]);
    assert!(r.json["next"].is_null());
    // Bad parameters name themselves.
    for (q, field) in [
        ("result=maybe", "result"),
        ("from=yesterday", "from"),
        ("employee=x", "employee"),
        ("cursor=zz", "cursor"),
        ("limit=5000", "limit"),
        ("colour=red", "colour"),
    ] {
        let r = api.get(&format!("/api/v1/calls?{q}")).await;
        assert_eq!(
            (r.status, r.json["field"].as_str()),
            (400, Some(field)),
            "{q}: {}",
            r.text
        );
    }
    // The old list stays.
    let r = api.get("/api/v1/calls/recent?limit=2").await;
    assert_eq!(ids(&r), ["call-9", "call-8"]);
    sw.stop().await;
}
