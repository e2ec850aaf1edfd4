//! The repeat-call branch on a live switch (SPEC §3 op 11): a number's first call goes on at
//! `first`; once its record is written, the same number calling again goes on at `repeat`.
#![allow(clippy::unwrap_used)]

mod api_support;
mod common;
use api_support::*;
use common::*;
use serde_json::Value;

const NUMBER: &str = "74957000370";

fn company() -> String {
    demo_company_with(
        "  - id: 38\n    name: Welcome back\n    start: again\n    operations:\n      again:\n        action: { kind: repeat_branch, within_h: 24 }\n        exits: { first: bye, repeat: bye }\n      bye:\n        action: { kind: hang_up }\n",
        &format!("  - number: \"{NUMBER}\"\n    rules:\n      - id: 38\n        name: All\n        scenario: 38\n"),
        "",
    )
}

fn exits(call: &Value) -> Vec<String> {
    call["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["what"]["exit_taken"]["exit"].as_str())
        .map(str::to_string)
        .collect()
}

#[actix_rt::test]
async fn a_number_calling_again_within_the_window_is_a_repeat_call() {
    let (mut sw, api) = api(Some(&company())).await;
    let mut calls = Vec::new();
    for n in 1..=2 {
        let mut caller = Phone::new(sw.sip).await;
        caller.invite(NUMBER, &Phone::sdp(40000, &[0, 8])).await;
        let last = caller.recv_final(10).await.expect("a final answer");
        assert!(last.status().is_some_and(|s| s >= 400), "{}", last.start);
        caller.ack(false).await;
        // The record of this call is written before the next call starts.
        for _ in 0..600 {
            let r = api.get("/api/v1/calls/recent?limit=10").await;
            calls = r.json["items"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|c| c["numb"] == NUMBER)
                .cloned()
                .collect();
            if calls.len() == n {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert_eq!(calls.len(), n);
    }
    calls.sort_by_key(|c| c["start_unix_ms"].as_u64());
    assert_eq!(exits(&calls[0])[0], "first", "{:#?}", calls[0]);
    assert_eq!(exits(&calls[1])[0], "repeat", "{:#?}", calls[1]);
    sw.stop().await;
}
