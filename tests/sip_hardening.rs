//! The SIP edge under attack: a TCP connection flood from one address is capped (others are
//! still served and `/health` answers), at the total cap idle connections make room for
//! newcomers, connections that never send a valid request are closed
//! after a short timeout, RFC 5626 keep-alive pings are answered, new connections count in the
//! flood limit, digest failures against one account from many addresses block that account
//! (a trusted address still registers), an INVITE without Contact gets 400, and the product name
//! goes out without its version.
#![allow(clippy::unwrap_used)]

mod api_support;
mod common;
use common::*;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Generous bound for anything the switch should do "at once" on a busy machine.
const PROMPT: Duration = Duration::from_secs(20);

/// A TCP connection to `server` from loopback address `ip`.
async fn connect_from(ip: &str, server: SocketAddr) -> TcpStream {
    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    sock.bind(SocketAddr::new(ip.parse().unwrap(), 0)).unwrap();
    sock.connect(server).await.unwrap()
}

/// True once the peer closes `s` (EOF or reset) within `bound`; bytes that arrive meanwhile
/// are skipped.
async fn closed_within(s: &mut TcpStream, bound: Duration) -> bool {
    let mut buf = [0u8; 1024];
    let wait = async {
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    tokio::time::timeout(bound, wait).await.is_ok()
}

/// The next SIP message on `s` (leading CRLFs skipped), framed by Content-Length.
async fn read_msg(s: &mut TcpStream, pending: &mut Vec<u8>) -> Option<Msg> {
    let read = async {
        loop {
            while pending.starts_with(b"\r\n") {
                pending.drain(..2);
            }
            if let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&pending[..end]).to_string();
                let len: usize = head
                    .lines()
                    .find_map(|l| {
                        let (n, v) = l.split_once(':')?;
                        let n = n.trim().to_ascii_lowercase();
                        (n == "content-length" || n == "l").then(|| v.trim().parse().ok())?
                    })
                    .unwrap_or(0);
                if pending.len() >= end + 4 + len {
                    let raw: Vec<u8> = pending.drain(..end + 4 + len).collect();
                    return Some(Msg::parse(&String::from_utf8_lossy(&raw)));
                }
            }
            let mut buf = [0u8; 4096];
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return None,
                Ok(n) => pending.extend_from_slice(&buf[..n]),
            }
        }
    };
    tokio::time::timeout(PROMPT, read).await.ok().flatten()
}

fn options(local: SocketAddr, transport: &str, n: u32) -> String {
    format!(
        "OPTIONS sip:100@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/{transport} {local};branch=z9hG4bK-h{n}-{p}\r\nMax-Forwards: 70\r\nFrom: <sip:a@x>;tag=h{n}-{p}\r\nTo: <sip:100@x>\r\nCall-ID: hard-{n}-{p}\r\nCSeq: {n} OPTIONS\r\nContent-Length: 0\r\n\r\n",
        p = local.port()
    )
}

/// OPTIONS on a TCP connection; the answer's status.
async fn options_tcp(s: &mut TcpStream, n: u32) -> Option<u16> {
    let local = s.local_addr().unwrap();
    s.write_all(options(local, "TCP", n).as_bytes())
        .await
        .unwrap();
    let mut pending = Vec::new();
    read_msg(s, &mut pending).await.and_then(|m| m.status())
}

fn register_text(
    local: SocketAddr,
    transport: &str,
    login: &str,
    cseq: u32,
    auth: Option<&str>,
) -> String {
    let auth = auth
        .map(|a| format!("Authorization: {a}\r\n"))
        .unwrap_or_default();
    format!(
        "REGISTER sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/{transport} {local};branch=z9hG4bK-reg{cseq}-{p};rport\r\nMax-Forwards: 70\r\nFrom: <sip:{login}@127.0.0.1>;tag=r{p}\r\nTo: <sip:{login}@127.0.0.1>\r\nCall-ID: hard-reg-{login}-{ip}-{p}\r\nCSeq: {cseq} REGISTER\r\nContact: <sip:{login}@{local};transport={t}>\r\nExpires: 300\r\n{auth}Content-Length: 0\r\n\r\n",
        p = local.port(),
        ip = local.ip(),
        t = transport.to_ascii_lowercase(),
    )
}

/// The MD5 challenge of a 401.
fn md5_challenge(m: &Msg) -> String {
    m.headers
        .iter()
        .find(|(n, v)| n.eq_ignore_ascii_case("WWW-Authenticate") && v.contains("MD5"))
        .map(|(_, v)| v.clone())
        .expect("an MD5 challenge")
}

/// REGISTER `login` with `password` over UDP from loopback address `ip`: the final answer to
/// the authenticated request.
async fn register_udp(server: SocketAddr, ip: &str, login: &str, password: &str) -> Msg {
    let sock = tokio::net::UdpSocket::bind((ip, 0)).await.unwrap();
    let local = sock.local_addr().unwrap();
    let ask = |text: String| {
        let sock = &sock;
        async move {
            sock.send_to(text.as_bytes(), server).await.unwrap();
            let mut buf = vec![0u8; 65536];
            let (n, _) = tokio::time::timeout(PROMPT, sock.recv_from(&mut buf))
                .await
                .expect("an answer")
                .unwrap();
            Msg::parse(&String::from_utf8_lossy(&buf[..n]))
        }
    };
    let challenge = ask(register_text(local, "UDP", login, 1, None)).await;
    assert_eq!(challenge.status(), Some(401), "{}", challenge.start);
    let auth = digest_answer(
        &md5_challenge(&challenge),
        "REGISTER",
        "sip:127.0.0.1",
        login,
        password,
    );
    ask(register_text(local, "UDP", login, 2, Some(&auth))).await
}

#[actix_rt::test]
async fn a_connection_flood_from_one_address_is_capped_and_others_are_served() {
    let mut sw = TestSwitch::builder()
        .settings(|s| {
            s.sip_tcp.max_connections = 100;
            s.sip_tcp.max_connections_per_ip = 4;
            // Long enough that the held connections stay for the whole test.
            s.sip_tcp.first_request_timeout_s = 600;
        })
        .start()
        .await;
    // Up to the cap: each connection is served.
    let mut held = Vec::new();
    for n in 0..4 {
        let mut c = connect_from("127.0.0.1", sw.sip).await;
        assert_eq!(options_tcp(&mut c, n).await, Some(200), "connection {n}");
        held.push(c);
    }
    // Beyond it: each new connection from that address is closed at once.
    for n in 0..20 {
        let mut c = connect_from("127.0.0.1", sw.sip).await;
        assert!(
            closed_within(&mut c, PROMPT).await,
            "excess connection {n} left open"
        );
    }
    // Another address registers over TCP, and over UDP too.
    let mut other = connect_from("127.0.0.2", sw.sip).await;
    let local = other.local_addr().unwrap();
    let mut pending = Vec::new();
    other
        .write_all(register_text(local, "TCP", "101", 1, None).as_bytes())
        .await
        .unwrap();
    let ch = read_msg(&mut other, &mut pending)
        .await
        .expect("a challenge");
    assert_eq!(ch.status(), Some(401));
    let auth = digest_answer(
        &md5_challenge(&ch),
        "REGISTER",
        "sip:127.0.0.1",
        "101",
        P101,
    );
    other
        .write_all(register_text(local, "TCP", "101", 2, Some(&auth)).as_bytes())
        .await
        .unwrap();
    let ok = read_msg(&mut other, &mut pending).await.expect("an answer");
    assert_eq!(ok.status(), Some(200), "{}", ok.start);
    let udp = register_udp(sw.sip, "127.0.0.3", "102", P102).await;
    assert_eq!(udp.status(), Some(200), "{}", udp.start);
    // HTTP is alive, the held connections are still served, and the refusals are counted.
    let (code, _) = sw.get("/health").await;
    assert_eq!(code, 200);
    assert_eq!(options_tcp(&mut held[0], 100).await, Some(200));
    let refused = sw
        .metric("vpbx_sip_tcp_refused_total{reason=\"per_source\"}")
        .await;
    assert!(refused >= 20.0, "{refused}");
    sw.stop().await;
}

#[actix_rt::test]
async fn at_the_total_cap_idle_connections_make_room_for_phones() {
    let mut sw = TestSwitch::builder()
        .settings(|s| {
            s.sip_tcp.max_connections = 3;
            s.sip_tcp.max_connections_per_ip = 3;
            s.sip_tcp.first_request_timeout_s = 600;
        })
        .start()
        .await;
    let mut phone = connect_from("127.0.0.2", sw.sip).await;
    assert_eq!(options_tcp(&mut phone, 1).await, Some(200));
    let mut idle1 = connect_from("127.0.0.1", sw.sip).await;
    let mut idle2 = connect_from("127.0.0.1", sw.sip).await;
    // Full: a newcomer pushes out the oldest connection that never sent a request.
    let mut second = connect_from("127.0.0.3", sw.sip).await;
    assert_eq!(options_tcp(&mut second, 1).await, Some(200));
    assert!(closed_within(&mut idle1, PROMPT).await, "idle1 kept");
    let mut third = connect_from("127.0.0.4", sw.sip).await;
    assert_eq!(options_tcp(&mut third, 1).await, Some(200));
    assert!(closed_within(&mut idle2, PROMPT).await, "idle2 kept");
    // Full of phones that sent requests: a newcomer is refused, the phones stay.
    let mut refused = connect_from("127.0.0.5", sw.sip).await;
    assert!(closed_within(&mut refused, PROMPT).await, "over the cap");
    assert_eq!(options_tcp(&mut phone, 2).await, Some(200));
    assert_eq!(options_tcp(&mut second, 2).await, Some(200));
    sw.stop().await;
}

#[actix_rt::test]
async fn connections_that_send_nothing_valid_are_closed_and_pings_answered() {
    let mut sw = TestSwitch::builder()
        .settings(|s| {
            s.sip_tcp.first_request_timeout_s = 1;
            s.sip_tcp.idle_timeout_s = 600;
        })
        .start()
        .await;
    // A phone that sent a valid request, one that sent nothing, one that only pings.
    let mut phone = connect_from("127.0.0.1", sw.sip).await;
    assert_eq!(options_tcp(&mut phone, 1).await, Some(200));
    let mut silent = connect_from("127.0.0.1", sw.sip).await;
    let mut pinger = connect_from("127.0.0.1", sw.sip).await;
    pinger.write_all(b"\r\n\r\n").await.unwrap();
    let mut pong = [0u8; 2];
    tokio::time::timeout(PROMPT, pinger.read_exact(&mut pong))
        .await
        .expect("a pong")
        .unwrap();
    assert_eq!(&pong, b"\r\n");
    // Pings do not keep a connection that never sent a request.
    assert!(closed_within(&mut silent, PROMPT).await, "silent kept");
    assert!(closed_within(&mut pinger, PROMPT).await, "pinger kept");
    // The phone's connection outlived them: it answers a ping, then a request.
    phone.write_all(b"\r\n\r\n").await.unwrap();
    let mut pong = [0u8; 2];
    tokio::time::timeout(PROMPT, phone.read_exact(&mut pong))
        .await
        .expect("a pong")
        .unwrap();
    assert_eq!(&pong, b"\r\n");
    assert_eq!(options_tcp(&mut phone, 2).await, Some(200));
    sw.stop().await;
}

#[actix_rt::test]
async fn new_connections_count_in_the_flood_limit() {
    let mut sw = TestSwitch::builder()
        .settings(|s| {
            s.security.pike_requests = 3;
            // A window longer than the test: the count never slides.
            s.security.pike_window_s = 600;
            s.security.pike_ban_s = 600;
            s.sip_tcp.first_request_timeout_s = 600;
        })
        .start()
        .await;
    let mut first = Vec::new();
    for _ in 0..3 {
        first.push(connect_from("127.0.0.4", sw.sip).await);
    }
    // The fourth connection in the window bans the source; it and later ones are closed.
    for n in 0..3 {
        let mut c = connect_from("127.0.0.4", sw.sip).await;
        assert!(closed_within(&mut c, PROMPT).await, "connection {n} kept");
    }
    let bans = sw.metric("vpbx_sip_bans_total{reason=\"flood\"}").await;
    assert_eq!(bans, 1.0);
    // Another address is served.
    let mut other = connect_from("127.0.0.5", sw.sip).await;
    assert_eq!(options_tcp(&mut other, 1).await, Some(200));
    sw.stop().await;
}

#[actix_rt::test]
async fn failed_guesses_from_many_addresses_block_the_account_but_not_trusted_ones() {
    let mut sw = TestSwitch::builder()
        .settings(|s| {
            s.security.trusted_networks = vec!["127.0.0.9/32".parse().unwrap()];
            s.security.account_fail_free = 2;
            s.security.account_fail_max = 3;
            s.security.account_block_s = 600;
        })
        .start()
        .await;
    for ip in ["127.0.0.2", "127.0.0.3", "127.0.0.4"] {
        let r = register_udp(sw.sip, ip, "102", "guess").await;
        assert_eq!(r.status(), Some(403), "{ip}: {}", r.start);
    }
    // Blocked: even the right password from an untrusted address is refused, unverified.
    let r = register_udp(sw.sip, "127.0.0.5", "102", P102).await;
    assert_eq!(r.status(), Some(403), "{}", r.start);
    let warning = r.header("Warning").unwrap_or_default().to_string();
    assert!(warning.contains("blocked"), "{warning}");
    // Another account is not affected; a trusted address still registers the blocked one.
    let r = register_udp(sw.sip, "127.0.0.5", "101", P101).await;
    assert_eq!(r.status(), Some(200), "{}", r.start);
    let r = register_udp(sw.sip, "127.0.0.9", "102", P102).await;
    assert_eq!(r.status(), Some(200), "{}", r.start);
    // Calls of the blocked line from an untrusted address are refused too.
    let mut line = LinePhone::new(sw.sip, "102", P102).await;
    let r = line.dial("101", 40010).await;
    assert_eq!(r.status(), Some(403), "{}", r.start);
    let warning = r.header("Warning").unwrap_or_default().to_string();
    assert!(warning.contains("blocked"), "{warning}");
    assert_eq!(sw.metric("vpbx_sip_account_blocks_total").await, 1.0);
    sw.stop().await;
}

#[actix_rt::test]
async fn an_invite_without_contact_is_a_bad_request() {
    let mut sw = TestSwitch::start().await;
    let mut phone = Phone::new(sw.sip).await;
    let sdp = Phone::sdp(40000, &[0, 8]);
    let with_contact = phone.invite_text("74951234567", &sdp);
    let at = with_contact.find("Contact:").unwrap();
    let end = at + with_contact[at..].find("\r\n").unwrap() + 2;
    let text = format!("{}{}", &with_contact[..at], &with_contact[end..]);
    phone.send(&text).await;
    let r = phone.recv_final(10).await.expect("an answer");
    assert_eq!(r.status(), Some(400), "{}", r.start);
    let warning = r.header("Warning").unwrap_or_default();
    assert!(warning.contains("missing Contact header"), "{warning}");
    sw.stop().await;
}

/// Every `User-Agent`/`Server` header of the answers to an OPTIONS and to a request the gate
/// rejects.
async fn product_headers(sip: SocketAddr) -> Vec<String> {
    let phone = Phone::new(sip).await;
    let mut out = Vec::new();
    phone.send(&options(phone.local, "UDP", 1)).await;
    let ok = phone.recv(10).await.expect("an answer to OPTIONS");
    let bad = options(phone.local, "UDP", 2).replace("2 OPTIONS", "2 INVITE");
    phone.send(&bad).await;
    let rejected = phone.recv(10).await.expect("an answer to a bad request");
    assert_eq!(rejected.status(), Some(400));
    for m in [ok, rejected] {
        for (n, v) in &m.headers {
            if n.eq_ignore_ascii_case("User-Agent") || n.eq_ignore_ascii_case("Server") {
                out.push(v.clone());
            }
        }
    }
    out
}

#[actix_rt::test]
async fn the_product_name_goes_out_without_its_version() {
    let mut sw = TestSwitch::start().await;
    let seen = product_headers(sw.sip).await;
    assert!(!seen.is_empty());
    assert!(seen.iter().all(|v| v == "vpbx"), "{seen:?}");
    sw.stop().await;
    let mut sw = TestSwitch::builder()
        .settings(|s| s.sip_user_agent = "Acme PBX".into())
        .start()
        .await;
    let seen = product_headers(sw.sip).await;
    assert!(!seen.is_empty());
    assert!(seen.iter().all(|v| v == "Acme PBX"), "{seen:?}");
    sw.stop().await;
}

#[actix_rt::test]
async fn a_fresh_box_generates_the_demo_passwords_and_the_api_shows_them() {
    let mut sw = TestSwitch::builder()
        .settings(|s| s.demo_passwords = vpbx::settings::DemoPasswords::Random)
        .start()
        .await;
    vpbx::http::auth::set_admin_password(&sw.running().store, api_support::PASSWORD).unwrap();
    let app = actix_web::test::init_service(vpbx::http::app(api_support::state(&sw))).await;
    let api = api_support::Api::login(app).await;
    let r = api.get("/api/v1/employees/2").await;
    assert_eq!(r.status, 200, "{}", r.text);
    let line = &r.json["phones"][0];
    assert_eq!(line["login"], "102");
    let password = line["password"].as_str().unwrap().to_string();
    assert_ne!(password, P102, "the published password");
    assert!(password.len() >= 16, "{password}");
    // The published password is refused, the generated one registers.
    let r = register_udp(sw.sip, "127.0.0.2", "102", P102).await;
    assert_eq!(r.status(), Some(403), "{}", r.start);
    let r = register_udp(sw.sip, "127.0.0.2", "102", &password).await;
    assert_eq!(r.status(), Some(200), "{}", r.start);
    sw.stop().await;
}

/// The binary raises its soft open-file limit to the hard one at start (the SIP TCP caps are
/// derived from it).
#[cfg(target_os = "linux")]
#[actix_rt::test]
async fn the_binary_raises_its_open_file_limit() {
    let data = tempfile::tempdir().unwrap();
    let sip = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let http = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let hard = std::process::Command::new("sh")
        .args(["-c", "ulimit -H -n"])
        .output()
        .unwrap();
    let hard = String::from_utf8_lossy(&hard.stdout).trim().to_string();
    if hard.parse::<u64>().is_ok_and(|h| h <= 256) {
        return; // Nothing to raise to.
    }
    // Start it with a soft limit below the hard one.
    let script = format!(
        "ulimit -S -n 256 && exec \"$0\" --config /nonexistent/vpbx.toml --data-dir {} \
         --sip-addr {sip} --http-addr {http} --rtp-port-min 36200 --rtp-port-max 36298",
        data.path().display()
    );
    let mut child = std::process::Command::new("sh")
        .args(["-c", &script, env!("CARGO_BIN_EXE_vpbx")])
        .env("RUST_LOG", "warn")
        .spawn()
        .unwrap();
    let mut up = false;
    for _ in 0..400 {
        if TcpStream::connect(http).await.is_ok() {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", child.id())).unwrap();
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
    assert!(up, "switch did not come up");
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap()
        .to_string();
    let fields: Vec<&str> = line.split_whitespace().collect();
    // "Max open files  <soft>  <hard>  files"
    assert_eq!(fields[3], fields[4], "{line}");
    assert_eq!(fields[4], hard, "{line}");
    assert_ne!(fields[3], "256", "{line}");
}
