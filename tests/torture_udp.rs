//! RFC 4475 / RFC 5118 torture messages, each as one UDP datagram: every expectation of the
//! corpus READMEs is met, the switch never crashes or wedges, and a normal call succeeds after.
#![allow(clippy::unwrap_used)]

mod common;
#[path = "torture_corpus.rs"]
mod corpus;

use common::*;
use corpus::Expect;
use std::time::Duration;

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
    // Every message is a transaction of its own (its own Call-ID) sent from a socket of its
    // own: what comes back on that socket is the switch's answer to that message and nothing
    // else, however late it comes and however busy the machine is. (Two files with one
    // transaction key would make the second a retransmission of the first, whose answer
    // depends on when it arrives: replayed by the transaction layer, or absorbed while the
    // first transaction is still winding down.)
    for (i, (file, wire, expect)) in corpus::messages().into_iter().enumerate() {
        let wire = corpus::own_transaction(&wire, &format!("u{i}"));
        let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
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
