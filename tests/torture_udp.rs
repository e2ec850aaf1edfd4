//! RFC 4475 / RFC 5118 torture messages, each as one UDP datagram: every expectation of the
//! corpus READMEs is met, the switch never crashes or wedges, and a normal call succeeds after.
#![allow(clippy::unwrap_used)]

mod common;
#[path = "torture_corpus.rs"]
mod corpus;

use common::*;
use corpus::Expect;
use std::time::Duration;

/// The server-transaction key of a request as RFC 3261 §17.2.3 matches it (top Via branch and
/// method; the Call-ID is added for safety): two corpus files with the same key are, to the
/// switch, a request and its retransmission.
fn transaction_key(wire: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(wire);
    let method = text.split_whitespace().next()?.to_string();
    let branch = text
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("via:") || l.starts_with("v:"))
        .and_then(|l| l.split("branch=").nth(1))
        .map(|b| {
            b.split(|c: char| c == ';' || c == ',' || c.is_whitespace())
                .next()
                .unwrap_or("")
        })?
        .to_string();
    let call_id = text
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("call-id:") || l.starts_with("i:"))?
        .split_once(':')?
        .1
        .trim()
        .to_string();
    Some(format!("{method}|{branch}|{call_id}"))
}

/// Sends `wire` from `sock`; the first final status that comes back, if any.
async fn exchange(
    sock: &tokio::net::UdpSocket,
    server: std::net::SocketAddr,
    wire: &[u8],
    expect: Expect,
) -> Option<u16> {
    sock.send_to(wire, server).await.unwrap();
    let wait = match expect {
        Expect::NoResponse => Duration::from_millis(800),
        _ => Duration::from_secs(3),
    };
    let mut buf = vec![0u8; 65536];
    loop {
        match tokio::time::timeout(wait, sock.recv_from(&mut buf)).await {
            Ok(Ok((n, _))) => {
                let m = Msg::parse(&String::from_utf8_lossy(&buf[..n]));
                match m.status() {
                    Some(c) if c < 200 => continue,
                    Some(c) => return Some(c),
                    None => continue,
                }
            }
            _ => return None,
        }
    }
}

#[actix_rt::test]
async fn the_corpus_over_udp() {
    let mut sw = TestSwitch::start().await;
    let mut failures = Vec::new();
    let mut table = String::new();
    // A file that repeats an earlier file's transaction key (RFC 5118's two ABNF variants share
    // branch, Call-ID and CSeq) is a retransmission to the switch, which may answer it by
    // replaying its response to where the transaction answers: send it from the same socket.
    let mut sockets: std::collections::HashMap<String, std::sync::Arc<tokio::net::UdpSocket>> =
        Default::default();
    for (file, wire, expect) in corpus::messages() {
        let fresh = || async {
            std::sync::Arc::new(tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap())
        };
        let sock = match transaction_key(&wire) {
            Some(key) => match sockets.get(&key) {
                Some(s) => s.clone(),
                None => {
                    let s = fresh().await;
                    sockets.insert(key, s.clone());
                    s
                }
            },
            None => fresh().await,
        };
        let got = exchange(&sock, sw.sip, &wire, expect).await;
        let ok = expect.met_by(got);
        table.push_str(&format!(
            "{file:45} {:>8} {:?}{}\n",
            got.map(|c| c.to_string()).unwrap_or_else(|| "-".into()),
            expect,
            if ok { "" } else { "   <-- FAIL" }
        ));
        if !ok {
            failures.push(file);
        }
    }
    println!("{table}");
    assert!(failures.is_empty(), "unmet: {failures:?}\n{table}");

    // Not wedged: OPTIONS and a normal call work right after.
    let mut phone = Phone::new(sw.sip).await;
    let ok = phone.call("74950000000", 40010).await;
    assert_eq!(ok.status(), Some(200));
    phone.bye().await;
    assert_eq!(phone.recv_final(5).await.unwrap().status(), Some(200));
    sw.stop().await;
}
