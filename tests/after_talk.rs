//! Around the talk (SPEC §3 forward operation, §4.4): the operator hint is played to the
//! employee who answered before the caller is connected; after the employee hangs up, the
//! caller is asked to rate them (the option of the first employee who answered) and the key
//! pressed is in the call's events, credited to that employee; a talk option tags the call.
#![allow(clippy::unwrap_used)]

mod api_support;
mod common;
use api_support::*;
use common::*;

const NUMBER: &str = "74957000310";

fn company() -> String {
    demo_company_with(
        "  - id: 31\n    name: Hinted\n    start: fwd\n    operations:\n      fwd:\n        action:\n          kind: forward\n          targets: [ { kind: employee, id: 1 } ]\n          operator_hint: { kind: text, text: \"A caller from the website\", voice: en }\n        exits: { answered: bye, no_answer: bye, busy: bye }\n      bye:\n        action: { kind: hang_up }\n",
        &format!("  - number: \"{NUMBER}\"\n    rules:\n      - id: 31\n        name: Hinted\n        scenario: 31\n"),
        "talk_options:\n  - id: 1\n    keys: \"*5\"\n    action: { kind: tag }\n",
    )
    // Anna asks her callers for a rating.
    .replacen("extension: \"101\"\n", "extension: \"101\"\n    rating: true\n", 1)
}

#[actix_rt::test]
async fn the_employee_hears_the_hint_then_the_caller_rates_them_after_the_talk() {
    let (mut sw, api) = api(Some(&company())).await;
    let mut agent = LinePhone::new(sw.sip, "101", P101).await;
    agent.register().await;
    let agent_rtp = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let caller_rtp = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();

    let mut caller = Phone::new(sw.sip).await;
    let answer = async {
        let inv = agent.expect_request("INVITE", 10).await.expect("rings");
        agent
            .answer(&inv, agent_rtp.local_addr().unwrap().port())
            .await;
        inv
    };
    let (ok, inv) = tokio::join!(
        caller.call(NUMBER, caller_rtp.local_addr().unwrap().port()),
        answer
    );
    assert_eq!(ok.status(), Some(200));
    // The employee hears the hint (speech) on its leg.
    let heard = count_loud(&agent_rtp, 4000).await;
    assert!(
        heard >= 20,
        "the employee heard {heard} loud packets of the hint"
    );

    // The employee tags the call with the talk option, then hangs up.
    let to_switch = media_addr(&inv.body);
    let (mut seq, mut ts) = (1u16, 0u32);
    for d in ['*', '5'] {
        send_digit(&agent_rtp, to_switch, d, &mut seq, &mut ts).await;
    }
    agent.in_dialog("BYE", "", None).await;

    // The caller hears the question and presses 4.
    let asked = count_loud(&caller_rtp, 4000).await;
    assert!(
        asked >= 20,
        "the caller heard {asked} loud packets of the question"
    );
    let to = ok.sdp_media_addr().unwrap();
    let (mut seq, mut ts) = (1u16, 0u32);
    send_digit(&caller_rtp, to, '4', &mut seq, &mut ts).await;
    caller.bye_from_switch().await;

    let events = api.finished_call_events(NUMBER).await;
    assert_eq!(find(&events, "hint_played").len(), 1, "{events:#?}");
    let rated = find(&events, "rated");
    assert_eq!(rated.len(), 1, "{events:#?}");
    assert_eq!(rated[0]["score"], 4);
    assert_eq!(rated[0]["employee"], 1);
    let tagged = find(&events, "tagged");
    assert_eq!(tagged.len(), 1, "{events:#?}");
    assert_eq!(tagged[0]["employee"], 1);
    sw.stop().await;
}
