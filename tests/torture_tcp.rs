//! RFC 4475 / RFC 5118 torture messages over TCP, each sent whole and cut into pieces of 1, 2, 3,
//! 7 and 64 bytes: every expectation met (framing errors answer and close only that connection),
//! the switch never crashes or wedges, and a normal call succeeds after.
#![allow(clippy::unwrap_used)]

mod common;
#[path = "torture_corpus.rs"]
mod corpus;

use common::*;
use corpus::Expect;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The first final status on the connection, if any, and whether the switch closed it.
async fn exchange(
    server: std::net::SocketAddr,
    wire: Vec<u8>,
    piece: usize,
    expect: Expect,
) -> (Option<u16>, bool) {
    let mut s = tokio::net::TcpStream::connect(server).await.unwrap();
    s.set_nodelay(true).unwrap();
    for chunk in wire.chunks(piece.max(1)) {
        if s.write_all(chunk).await.is_err() {
            break;
        }
        if piece < wire.len() {
            s.flush().await.unwrap();
            tokio::task::yield_now().await;
        }
    }
    let wait = match expect {
        Expect::NoResponse => Duration::from_millis(500),
        _ => Duration::from_secs(5),
    };
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 8192];
    loop {
        // Any complete final response in what arrived?
        let text = String::from_utf8_lossy(&buf).into_owned();
        for part in text.split("SIP/2.0 ").skip(1) {
            let code: Option<u16> = part.get(..3).and_then(|c| c.parse().ok());
            if let Some(c) = code {
                if c >= 200 {
                    return (Some(c), false);
                }
            }
        }
        match tokio::time::timeout(wait, s.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return (None, true),
            Ok(Ok(n)) => buf.extend_from_slice(&chunk[..n]),
            Err(_) => return (None, false),
        }
    }
}

#[actix_rt::test]
async fn the_corpus_over_tcp_whole_and_in_pieces() {
    let mut sw = TestSwitch::start().await;
    let mut failures = Vec::new();
    let mut table = String::new();
    for piece in [usize::MAX, 1, 2, 3, 7, 64] {
        // One message at a time, each a transaction of its own (its own Call-ID, also across
        // rounds) on a connection of its own: no message is a retransmission of another, so
        // every answer is the switch's answer to that message, whatever the timing.
        let mut rows = Vec::new();
        for (i, (file, wire, udp_expect)) in corpus::messages().into_iter().enumerate() {
            let expect = corpus::tcp_expect(file, udp_expect);
            let round = if piece == usize::MAX { 0 } else { piece };
            let wire = corpus::own_transaction(&wire, &format!("t{round}-{i}"));
            let (got, _closed) = exchange(sw.sip, wire, piece, expect).await;
            rows.push((file, got, expect));
        }
        for (file, got, expect) in rows {
            let ok = expect.met_by(got);
            let mode = if piece == usize::MAX {
                "whole".to_string()
            } else {
                format!("{piece}-byte")
            };
            table.push_str(&format!(
                "{file:45} {mode:>7} {:>5} {:?}{}\n",
                got.map(|c| c.to_string()).unwrap_or_else(|| "-".into()),
                expect,
                if ok { "" } else { "   <-- FAIL" }
            ));
            if !ok {
                failures.push(format!("{file} ({mode})"));
            }
        }
    }
    println!("{table}");
    assert!(failures.is_empty(), "unmet: {failures:?}\n{table}");

    // Not wedged: a normal call over UDP, and OPTIONS over TCP, right after.
    let mut phone = Phone::new(sw.sip).await;
    let ok = phone.call("74950000000", 40012).await;
    assert_eq!(ok.status(), Some(200));
    phone.bye().await;
    assert_eq!(phone.recv_final(5).await.unwrap().status(), Some(200));
    sw.stop().await;
}

/// Framing errors close only the offending connection: another connection from the same
/// address keeps working, and two messages in one write are both answered.
#[actix_rt::test]
async fn framing_errors_close_only_that_connection() {
    let mut sw = TestSwitch::start().await;
    let mut good = tokio::net::TcpStream::connect(sw.sip).await.unwrap();
    let local = good.local_addr().unwrap();
    let options = |n: u32| {
        format!(
            "OPTIONS sip:x@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP {local};branch=z9hG4bK-tcp{n}\r\nMax-Forwards: 70\r\nFrom: <sip:a@x>;tag=1\r\nTo: <sip:b@x>\r\nCall-ID: tcp-{n}\r\nCSeq: {n} OPTIONS\r\nContent-Length: 0\r\n\r\n"
        )
    };
    let mut bad = tokio::net::TcpStream::connect(sw.sip).await.unwrap();
    let mcl = std::fs::read(corpus::corpus_dir().join("rfc4475/mcl01.dat")).unwrap();
    bad.write_all(&mcl).await.unwrap();
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), bad.read_to_end(&mut buf))
        .await
        .expect("the bad connection is closed")
        .unwrap();
    assert!(String::from_utf8_lossy(&buf).starts_with("SIP/2.0 400 "));

    good.write_all(format!("{}{}", options(1), options(2)).as_bytes())
        .await
        .unwrap();
    let mut got = String::new();
    let mut chunk = vec![0u8; 8192];
    while got.matches("SIP/2.0 200").count() < 2 {
        let n = tokio::time::timeout(Duration::from_secs(5), good.read(&mut chunk))
            .await
            .expect("answers on the good connection")
            .unwrap();
        assert!(n > 0, "good connection closed: {got}");
        got.push_str(&String::from_utf8_lossy(&chunk[..n]));
    }
    assert!(got.contains("CSeq: 1 OPTIONS") && got.contains("CSeq: 2 OPTIONS"));
    sw.stop().await;
}
