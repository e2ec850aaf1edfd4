//! Per-source defences: a flood of requests bans the source (other addresses still served),
//! repeated failed authentications ban it, known scanners are dropped silently, and unknown users
//! get the same answers as known users with a wrong password. Bans and auth failures show in
//! `/metrics`.
#![allow(clippy::unwrap_used)]

mod common;
use common::*;
use std::net::SocketAddr;
use std::time::Duration;
use vpbx::settings::{SecuritySettings, Settings};

/// A switch with these security thresholds (the shared harness disables them).
async fn start(security: SecuritySettings) -> TestSwitch {
    let data = tempfile::tempdir().unwrap();
    let sip = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let http = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let base = 47000 + (std::process::id() % 20) as u16 * 100;
    let slot = rand::random::<u16>() % 4 * 20;
    // Built-in defaults (no settings file), then this test's own addresses and thresholds.
    let flags = vpbx::settings::Flags {
        config: data.path().join("none.toml"),
        ..Default::default()
    };
    let mut settings = Settings::load(&flags).unwrap();
    settings.data_dir = data.path().join("data");
    settings.sip_addr = sip;
    settings.http_addr = http;
    settings.rtp_ports = (base + slot, base + slot + 18);
    settings.log_level = "warn".into();
    settings.call_threads = Some(1);
    settings.sip_threads = Some(2);
    settings.security = security;
    settings.demo_passwords = vpbx::settings::DemoPasswords::Document;
    let running = vpbx::app::start(&settings).await.unwrap();
    TestSwitch {
        running: Some(running),
        sip,
        http,
        data,
    }
}

fn options(local: SocketAddr, n: u32, ua: Option<&str>) -> String {
    let ua = ua
        .map(|u| format!("User-Agent: {u}\r\n"))
        .unwrap_or_default();
    format!(
        "OPTIONS sip:100@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bK-sec-{n}-{}\r\nMax-Forwards: 70\r\nFrom: <sip:a@x>;tag=s{n}\r\nTo: <sip:100@x>\r\nCall-ID: sec-{n}-{}\r\nCSeq: 1 OPTIONS\r\n{ua}Content-Length: 0\r\n\r\n",
        local.port(),
        local.port()
    )
}

async fn ask(sock: &tokio::net::UdpSocket, server: SocketAddr, text: &str) -> Option<Msg> {
    sock.send_to(text.as_bytes(), server).await.unwrap();
    let mut buf = vec![0u8; 65536];
    match tokio::time::timeout(Duration::from_millis(700), sock.recv_from(&mut buf)).await {
        Ok(Ok((n, _))) => Some(Msg::parse(&String::from_utf8_lossy(&buf[..n]))),
        _ => None,
    }
}

fn metric(text: &str, name_and_labels: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(name_and_labels))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

#[actix_rt::test]
async fn a_flood_bans_the_source_and_only_it() {
    let mut sw = start(SecuritySettings {
        pike_requests: 5,
        pike_window_s: 2,
        pike_ban_s: 60,
        auth_fail_max: 0,
        ..Default::default()
    })
    .await;
    let a = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let la = a.local_addr().unwrap();
    for n in 0..5 {
        let m = ask(&a, sw.sip, &options(la, n, None)).await;
        assert_eq!(m.and_then(|m| m.status()), Some(200), "request {n}");
    }
    assert!(
        ask(&a, sw.sip, &options(la, 5, None)).await.is_none(),
        "6th in 2 s: banned"
    );
    // The ban is per address: another port on 127.0.0.1 is banned too ...
    let a2 = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let la2 = a2.local_addr().unwrap();
    assert!(ask(&a2, sw.sip, &options(la2, 6, None)).await.is_none());
    // ... but 127.0.0.2 is served.
    let b = tokio::net::UdpSocket::bind("127.0.0.2:0").await.unwrap();
    let lb = b.local_addr().unwrap();
    let m = ask(&b, sw.sip, &options(lb, 7, None)).await;
    assert_eq!(m.and_then(|m| m.status()), Some(200));
    // TCP from the banned address is refused too.
    {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut t = tokio::net::TcpStream::connect(sw.sip).await.unwrap();
        let lt = t.local_addr().unwrap();
        let _ = t
            .write_all(options(lt, 8, None).replace("UDP", "TCP").as_bytes())
            .await;
        let mut buf = vec![0u8; 1024];
        let r = tokio::time::timeout(Duration::from_millis(700), t.read(&mut buf)).await;
        assert!(
            matches!(r, Ok(Ok(0)) | Ok(Err(_)) | Err(_)),
            "no answer over TCP"
        );
    }

    let (_, metrics) = sw.get("/metrics").await;
    assert!(
        metric(&metrics, "vpbx_sip_bans_total{reason=\"flood\"}") >= 1.0,
        "{metrics}"
    );
    assert!(metric(&metrics, "vpbx_sip_dropped_total{reason=\"banned\"}") >= 2.0);
    sw.stop().await;
}

fn register(local: SocketAddr, user: &str, n: u32, auth: Option<&str>) -> String {
    let auth = auth
        .map(|a| format!("Authorization: {a}\r\n"))
        .unwrap_or_default();
    format!(
        "REGISTER sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bK-reg-{n}-{user}\r\nMax-Forwards: 70\r\nFrom: <sip:{user}@127.0.0.1>;tag=r{n}\r\nTo: <sip:{user}@127.0.0.1>\r\nCall-ID: reg-{n}-{user}-{}\r\nCSeq: {n} REGISTER\r\nContact: <sip:{user}@{local}>\r\n{auth}Content-Length: 0\r\n\r\n",
        local.port()
    )
}

fn nonce(m: &Msg) -> String {
    let h = m.header("WWW-Authenticate").unwrap();
    let start = h.find("nonce=\"").unwrap() + 7;
    h[start..].split('"').next().unwrap().to_string()
}

/// The answers to one user's unauthenticated and wrongly authenticated REGISTER, normalised
/// (status, Warning, number of challenges).
async fn probe(
    sock: &tokio::net::UdpSocket,
    server: SocketAddr,
    user: &str,
    n: u32,
) -> Vec<(Option<u16>, Option<String>, usize)> {
    let local = sock.local_addr().unwrap();
    let first = ask(sock, server, &register(local, user, n, None))
        .await
        .unwrap();
    let auth = format!(
        "Digest username=\"{user}\", realm=\"vpbx\", nonce=\"{}\", uri=\"sip:127.0.0.1\", response=\"0123456789abcdef0123456789abcdef\", algorithm=MD5, qop=auth, nc=00000001, cnonce=\"c{n}\"",
        nonce(&first)
    );
    let second = ask(sock, server, &register(local, user, n + 1, Some(&auth)))
        .await
        .unwrap();
    [first, second]
        .iter()
        .map(|m| {
            (
                m.status(),
                m.header("Warning").map(str::to_string),
                m.headers
                    .iter()
                    .filter(|(k, _)| k.eq_ignore_ascii_case("WWW-Authenticate"))
                    .count(),
            )
        })
        .collect()
}

#[actix_rt::test]
async fn unknown_users_look_like_wrong_passwords_and_failures_ban() {
    let mut sw = start(SecuritySettings {
        pike_requests: 0,
        auth_fail_max: 3,
        auth_fail_window_s: 60,
        auth_ban_s: 60,
        ..Default::default()
    })
    .await;
    let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    // 101 exists, 555 does not: the answers are the same (no extension enumeration).
    let known = probe(&sock, sw.sip, "101", 10).await;
    let unknown = probe(&sock, sw.sip, "555", 20).await;
    assert_eq!(known, unknown);
    assert_eq!(known[0].0, Some(401));
    assert_eq!(known[1].0, Some(403));
    // Two failures so far; two more exceed 3 in the window → banned (the 4th still gets its 403).
    let _ = probe(&sock, sw.sip, "102", 30).await;
    let _ = probe(&sock, sw.sip, "103", 40).await;
    let local = sock.local_addr().unwrap();
    // Now banned: nothing at all comes back, not even to OPTIONS.
    assert!(ask(&sock, sw.sip, &options(local, 50, None))
        .await
        .is_none());
    let other = tokio::net::UdpSocket::bind("127.0.0.2:0").await.unwrap();
    let lo = other.local_addr().unwrap();
    let m = ask(&other, sw.sip, &options(lo, 51, None)).await;
    assert_eq!(m.and_then(|m| m.status()), Some(200));

    let (_, metrics) = sw.get("/metrics").await;
    assert!(metric(&metrics, "vpbx_sip_bans_total{reason=\"auth_failures\"}") >= 1.0);
    assert!(
        metric(
            &metrics,
            "vpbx_sip_auth_failures_total{method=\"REGISTER\"}"
        ) >= 4.0
    );
    sw.stop().await;
}

#[actix_rt::test]
async fn scanners_are_dropped_silently() {
    let mut sw = start(SecuritySettings {
        pike_requests: 0,
        auth_fail_max: 0,
        ..Default::default()
    })
    .await;
    let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let local = sock.local_addr().unwrap();
    for (n, ua) in [
        "friendly-scanner",
        "sipvicious",
        "sipcli/v1.8",
        "VaxSIPUserAgent/3.1",
    ]
    .iter()
    .enumerate()
    {
        assert!(
            ask(&sock, sw.sip, &options(local, n as u32, Some(ua)))
                .await
                .is_none(),
            "{ua}"
        );
    }
    let m = ask(&sock, sw.sip, &options(local, 9, Some("Yealink SIP-T46S"))).await;
    assert_eq!(m.and_then(|m| m.status()), Some(200));
    let (_, metrics) = sw.get("/metrics").await;
    assert!(metric(&metrics, "vpbx_sip_dropped_total{reason=\"scanner\"}") >= 4.0);
    sw.stop().await;
}
