//! A NAT'd office is not an attack (issue 13, item 2): with the default flood limits, fifty
//! phones behind one address re-register at once (each an unauthenticated REGISTER drawing a
//! 401, then an authenticated one) and all get 200, because an address whose digests verify is
//! held to the verified limit; an anonymous flood of authenticated-looking garbage from another
//! address is still banned; the ban shows in `GET /api/v1/sip/bans` and in `vpbx bans list`,
//! and lifting it (API or CLI) has the address answered again at once.
#![allow(clippy::unwrap_used)]

mod api_support;
mod common;
use api_support::PASSWORD;
use common::*;
use serde_json::Value;
use std::net::SocketAddr;
use std::time::Duration;

const PHONES: u16 = 50;
/// The flooder: an address of its own on loopback (bans are per address).
const FLOODER: &str = "127.0.13.2";
/// Another address, whose answered request shows the flood has been read.
const MARKER: &str = "127.0.13.3";

fn login(i: u16) -> String {
    format!("{}", 301 + i)
}

fn password(i: u16) -> String {
    format!("office-{}-Qw8z", 301 + i)
}

/// The demo company plus fifty employees, each with one SIP line.
fn office() -> String {
    let mut employees = String::from("employees:\n");
    for i in 0..PHONES {
        employees.push_str(&format!(
            "  - id: {id}\n    last_name: Office{i}\n    extension: \"{ext}\"\n    phones:\n      - kind: sip_line\n        id: {ext}\n        login: \"{ext}\"\n        password: {pw}\n        lines: 1\n        dial_timeout_s: 20\n",
            id = 10 + i,
            ext = login(i),
            pw = password(i),
        ));
    }
    demo_company_with("", "", "").replacen("employees:\n", &employees, 1)
}

/// A switch with the default security settings and a known admin password.
async fn start() -> TestSwitch {
    let sw = TestSwitch::builder()
        .company(&office())
        .settings(|s| s.security = vpbx::settings::SecuritySettings::default())
        .start()
        .await;
    vpbx::http::auth::set_admin_password(&sw.running().store, PASSWORD).unwrap();
    sw
}

/// One REGISTER transaction's final status, waiting up to 60 s (no retransmission: loopback).
async fn exchange(sock: &tokio::net::UdpSocket, server: SocketAddr, text: &str) -> Option<Msg> {
    sock.send_to(text.as_bytes(), server).await.unwrap();
    let deadline = vpbx::clock::monotonic_now() + Duration::from_secs(60);
    let mut buf = vec![0u8; 65536];
    loop {
        let left = deadline.saturating_duration_since(vpbx::clock::monotonic_now());
        let (n, _) = tokio::time::timeout(left, sock.recv_from(&mut buf))
            .await
            .ok()?
            .ok()?;
        let m = Msg::parse(&String::from_utf8_lossy(&buf[..n]));
        if m.status().is_some_and(|s| s >= 200) {
            return Some(m);
        }
    }
}

fn register_text(local: SocketAddr, user: &str, cseq: u32, auth: Option<&str>) -> String {
    let auth = auth
        .map(|a| format!("Authorization: {a}\r\n"))
        .unwrap_or_default();
    format!(
        "REGISTER sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bK-nat-{cseq}-{p};rport\r\nMax-Forwards: 70\r\nFrom: <sip:{user}@127.0.0.1>;tag=nat{p}\r\nTo: <sip:{user}@127.0.0.1>\r\nCall-ID: nat-{user}-{p}\r\nCSeq: {cseq} REGISTER\r\nContact: <sip:{user}@{local}>\r\nExpires: 300\r\nUser-Agent: office-phone\r\n{auth}Content-Length: 0\r\n\r\n",
        p = local.port()
    )
}

/// A phone of the office: fresh credentials each time (as after a reboot), so every
/// registration is an unauthenticated REGISTER (401) and then an authenticated one.
struct OfficePhone {
    sock: tokio::net::UdpSocket,
    local: SocketAddr,
    server: SocketAddr,
    user: String,
    password: String,
    cseq: u32,
}

impl OfficePhone {
    async fn new(server: SocketAddr, i: u16) -> OfficePhone {
        let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let local = sock.local_addr().unwrap();
        OfficePhone {
            sock,
            local,
            server,
            user: login(i),
            password: password(i),
            cseq: 0,
        }
    }

    /// Registers; the final status of the authenticated REGISTER (0: no answer).
    async fn register(&mut self) -> u16 {
        self.cseq += 1;
        let first = register_text(self.local, &self.user, self.cseq, None);
        let Some(challenge) = exchange(&self.sock, self.server, &first).await else {
            return 0;
        };
        if challenge.status() != Some(401) {
            return challenge.status().unwrap_or(0);
        }
        let ch = challenge
            .headers
            .iter()
            .find(|(n, v)| n.eq_ignore_ascii_case("WWW-Authenticate") && v.contains("MD5"))
            .map(|(_, v)| v.clone())
            .unwrap();
        let auth = digest_answer(&ch, "REGISTER", "sip:127.0.0.1", &self.user, &self.password);
        self.cseq += 1;
        let second = register_text(self.local, &self.user, self.cseq, Some(&auth));
        exchange(&self.sock, self.server, &second)
            .await
            .and_then(|m| m.status())
            .unwrap_or(0)
    }
}

/// All phones register at once; their final statuses.
async fn register_all(phones: &mut [OfficePhone]) -> Vec<u16> {
    futures::future::join_all(phones.iter_mut().map(|p| p.register())).await
}

/// Authenticated-looking garbage: a REGISTER with credentials on a nonce the switch never gave.
fn garbage(local: SocketAddr, n: u32) -> String {
    let auth = format!(
        "Digest username=\"301\", realm=\"vpbx\", nonce=\"forged{n}\", uri=\"sip:127.0.0.1\", response=\"{:032x}\", algorithm=MD5",
        n
    );
    register_text(local, "301", n, Some(&auth))
}

/// Floods from [`FLOODER`] until the API lists it as banned (60 s at most).
async fn flood_until_banned<S, B>(sw: &TestSwitch, api: &api_support::Api<S>) -> Value
where
    S: actix_web::dev::Service<
        actix_http::Request,
        Response = actix_web::dev::ServiceResponse<B>,
        Error = actix_web::Error,
    >,
    B: actix_web::body::MessageBody,
{
    let sock = tokio::net::UdpSocket::bind((FLOODER, 0)).await.unwrap();
    let local = sock.local_addr().unwrap();
    let deadline = vpbx::clock::monotonic_now() + Duration::from_secs(60);
    let mut n = 0;
    loop {
        for _ in 0..40 {
            n += 1;
            sock.send_to(garbage(local, n).as_bytes(), sw.sip)
                .await
                .unwrap();
        }
        let r = api.get("/api/v1/sip/bans").await;
        assert_eq!(r.status, 200, "{}", r.text);
        if let Some(b) = r.json["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["address"] == FLOODER)
        {
            // The switch reads its UDP socket in arrival order: once a request sent after the
            // flood is answered, every flood packet has passed the gate (none is left to count
            // again after a lift).
            let marker = tokio::net::UdpSocket::bind((MARKER, 0)).await.unwrap();
            assert!(
                answered(&marker, sw.sip, 1000 + n).await,
                "the marker is answered"
            );
            return b.clone();
        }
        assert!(
            vpbx::clock::monotonic_now() < deadline,
            "the flood was never banned"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// An OPTIONS from `sock` answered within 60 s (a banned source gets nothing).
async fn answered(sock: &tokio::net::UdpSocket, server: SocketAddr, n: u32) -> bool {
    let local = sock.local_addr().unwrap();
    let text = format!(
        "OPTIONS sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bK-opt-{n}\r\nMax-Forwards: 70\r\nFrom: <sip:probe@x>;tag=o{n}\r\nTo: <sip:127.0.0.1>\r\nCall-ID: opt-{n}-{}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
        local.port()
    );
    exchange(sock, server, &text)
        .await
        .is_some_and(|m| m.status() == Some(200))
}

#[actix_rt::test]
async fn fifty_phones_behind_one_address_re_register_at_once_and_a_flood_is_still_banned() {
    let mut sw = start().await;
    let app = actix_web::test::init_service(vpbx::http::app(sw.running().http_state.clone())).await;
    let api = api_support::Api::login(app).await;

    // The office's phones registered one after another over the day.
    let mut phones = Vec::new();
    for i in 0..PHONES {
        let mut p = OfficePhone::new(sw.sip, i).await;
        assert_eq!(p.register().await, 200, "phone {i}: first registration");
        phones.push(p);
    }
    // Power cut: the router comes back and every phone re-registers at the same moment
    // (100 requests from one address, twice as many as the anonymous limit allows in 2 s).
    let statuses = register_all(&mut phones).await;
    let ok = statuses.iter().filter(|s| **s == 200).count();
    assert_eq!(ok, PHONES as usize, "statuses: {statuses:?}");
    // And once more, so the burst is not a matter of luck with the window.
    let statuses = register_all(&mut phones).await;
    assert!(statuses.iter().all(|s| *s == 200), "statuses: {statuses:?}");
    let r = api.get("/api/v1/sip/bans").await;
    assert_eq!(r.json["items"], serde_json::json!([]), "{}", r.text);

    // An anonymous flood of authenticated-looking garbage from another address is banned.
    let ban = flood_until_banned(&sw, &api).await;
    assert_eq!(ban["reason"], "flood", "{ban}");
    let remaining = ban["remaining_s"].as_u64().unwrap();
    assert!(remaining > 0 && remaining <= 300, "{ban}");
    let (at, until) = (
        ban["banned_at_unix_ms"].as_u64().unwrap(),
        ban["until_unix_ms"].as_u64().unwrap(),
    );
    assert!(until > at && until - at <= 300_000 + 1000, "{ban}");
    let flooder = tokio::net::UdpSocket::bind((FLOODER, 0)).await.unwrap();
    // The office is not banned, and its phones still register.
    let r = api.get("/api/v1/sip/bans").await;
    assert_eq!(r.json["items"].as_array().unwrap().len(), 1, "{}", r.text);
    assert_eq!(phones[0].register().await, 200);

    // Lifting: a bad address names the field; the flooder's ban goes; a second lift is 404.
    let r = api.delete("/api/v1/sip/bans/not-an-address").await;
    assert_eq!(
        (r.status, r.json["field"].as_str()),
        (400, Some("address")),
        "{}",
        r.text
    );
    let r = api.delete(&format!("/api/v1/sip/bans/{FLOODER}")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["lifted"]["address"], FLOODER);
    assert_eq!(r.json["lifted"]["reason"], "flood");
    let r = api.get("/api/v1/sip/bans").await;
    assert_eq!(r.json["items"], serde_json::json!([]), "{}", r.text);
    let r = api.delete(&format!("/api/v1/sip/bans/{FLOODER}")).await;
    assert_eq!(
        (r.status, r.json["error"].as_str()),
        (404, Some("not_found")),
        "{}",
        r.text
    );
    // The address is answered again.
    assert!(
        answered(&flooder, sw.sip, 1).await,
        "answered after the lift"
    );

    // Banned again; DELETE /sip/bans lifts every ban.
    flood_until_banned(&sw, &api).await;
    let r = api.delete("/api/v1/sip/bans").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["items"][0]["address"], FLOODER, "{}", r.text);
    assert!(
        answered(&flooder, sw.sip, 2).await,
        "answered after lifting all"
    );

    // Bans and lifts are counted.
    let (_, metrics) = sw.get("/metrics").await;
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("vpbx_sip_bans_lifted_total") && !l.ends_with(" 0")),
        "{metrics}"
    );
    sw.stop().await;
}

/// Runs the built binary with `args` against nothing but the environment given.
fn cli(args: &[&str], env: &[(&str, &str)], dir: &std::path::Path) -> (bool, String, String) {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_vpbx"));
    cmd.args(args).current_dir(dir);
    for var in [
        "VPBX_ADMIN_TOKEN",
        "VPBX_ADMIN_PASSWORD",
        "VPBX_API",
        "VPBX_HTTP_ADDR",
        "VPBX_DATA_DIR",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("VPBX_CONFIG", dir.join("absent.toml"));
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// [`cli`] off the switch's thread (the CLI blocks on the switch's answer).
async fn run_cli(
    dir: std::path::PathBuf,
    args: &[&str],
    env: &[(&str, &str)],
) -> (bool, String, String) {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    tokio::task::spawn_blocking(move || {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        let e: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        cli(&a, &e, &dir)
    })
    .await
    .unwrap()
}

#[actix_rt::test]
async fn the_cli_lists_and_lifts_bans_of_the_running_switch() {
    let mut sw = start().await;
    let app = actix_web::test::init_service(vpbx::http::app(sw.running().http_state.clone())).await;
    let api = api_support::Api::login(app).await;
    let token = api.token().to_owned();
    let url = format!("http://{}", sw.http);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_owned();

    // Nothing banned yet.
    let (ok, out, err) = run_cli(
        d.clone(),
        &["bans", "list", "--api", &url, "--token", &token],
        &[],
    )
    .await;
    assert!(ok, "{out}{err}");
    assert!(err.contains("no SIP source is banned"), "{out}{err}");

    flood_until_banned(&sw, &api).await;

    // Listed, with a token from the environment.
    let (ok, out, err) = run_cli(
        d.clone(),
        &["bans", "list", "--api", &url],
        &[("VPBX_ADMIN_TOKEN", &token)],
    )
    .await;
    assert!(ok, "{out}{err}");
    assert!(
        out.contains("ADDRESS") && out.contains(FLOODER),
        "{out}{err}"
    );
    assert!(out.contains("flood"), "{out}");
    let (ok, out, err) = run_cli(
        d.clone(),
        &["bans", "list", "--json", "--api", &url, "--token", &token],
        &[],
    )
    .await;
    assert!(ok, "{err}");
    let listed: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(listed["items"][0]["address"], FLOODER, "{out}");

    // A wrong token, no credentials, a switch that is not there: clear errors.
    let (ok, _, err) = run_cli(
        d.clone(),
        &["bans", "list", "--api", &url, "--token", "wrong"],
        &[],
    )
    .await;
    assert!(!ok);
    assert!(err.contains("refused the credentials (401"), "{err}");
    let (ok, _, err) = run_cli(d.clone(), &["bans", "list", "--api", &url], &[]).await;
    assert!(!ok);
    assert!(err.contains("no credentials for the admin API"), "{err}");
    let closed = format!("http://127.0.0.1:{}", free_port());
    let (ok, _, err) = run_cli(
        d.clone(),
        &["bans", "list", "--api", &closed, "--token", &token],
        &[],
    )
    .await;
    assert!(!ok);
    assert!(
        err.contains("cannot reach the switch's admin API")
            && err.contains("is the switch running?"),
        "{err}"
    );

    // Lifted with the admin password (a token is issued for the command and revoked after).
    let (ok, out, err) = run_cli(
        d.clone(),
        &["bans", "lift", FLOODER, "--api", &url],
        &[("VPBX_ADMIN_PASSWORD", PASSWORD)],
    )
    .await;
    assert!(ok, "{out}{err}");
    assert!(err.contains(&format!("ban of {FLOODER} lifted")), "{err}");
    let r = api.get("/api/v1/sip/bans").await;
    assert_eq!(r.json["items"], serde_json::json!([]), "{}", r.text);
    let flooder = tokio::net::UdpSocket::bind((FLOODER, 0)).await.unwrap();
    assert!(
        answered(&flooder, sw.sip, 3).await,
        "answered after the lift"
    );
    // Lifting again: not banned; a bad address: the rule.
    let (ok, _, err) = run_cli(
        d.clone(),
        &["bans", "lift", FLOODER, "--api", &url, "--token", &token],
        &[],
    )
    .await;
    assert!(!ok);
    assert!(err.contains("is not banned"), "{err}");
    let (ok, _, err) = run_cli(
        d.clone(),
        &["bans", "lift", "nonsense", "--api", &url, "--token", &token],
        &[],
    )
    .await;
    assert!(!ok);
    assert!(err.contains("IPv4 or IPv6"), "{err}");
    // The wrong password.
    let (ok, _, err) = run_cli(
        d.clone(),
        &["bans", "list", "--api", &url],
        &[("VPBX_ADMIN_PASSWORD", "not the password")],
    )
    .await;
    assert!(!ok);
    assert!(err.contains("refused the admin password"), "{err}");
    sw.stop().await;
}

/// With `[http] tls` the CLI finds the HTTPS address and the switch's generated certificate
/// from the same settings the switch runs with.
#[actix_rt::test]
async fn the_cli_reaches_the_api_over_https() {
    let mut sw = TestSwitch::builder()
        .company(&office())
        .settings(|s| {
            s.security = vpbx::settings::SecuritySettings::default();
            s.http.tls = true;
            s.http.https_addr = SocketAddr::from(([127, 0, 0, 1], 0));
        })
        .start()
        .await;
    vpbx::http::auth::set_admin_password(&sw.running().store, PASSWORD).unwrap();
    let app = actix_web::test::init_service(vpbx::http::app(sw.running().http_state.clone())).await;
    let api = api_support::Api::login(app).await;
    let token = api.token().to_owned();
    let https = sw.running().https_addr.unwrap().to_string();
    let data = sw.data.path().join("data");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_owned();
    flood_until_banned(&sw, &api).await;
    let settings = [
        ("VPBX_TLS", "true"),
        ("VPBX_HTTPS_ADDR", https.as_str()),
        ("VPBX_DATA_DIR", data.to_str().unwrap()),
        ("VPBX_ADMIN_TOKEN", token.as_str()),
    ];
    let (ok, out, err) = run_cli(d.clone(), &["bans", "list"], &settings).await;
    assert!(ok, "{out}{err}");
    assert!(out.contains(FLOODER), "{out}{err}");
    // A certificate that is not the switch's is refused, saying so.
    let other = d.join("other.pem");
    std::fs::write(
        &other,
        rcgen::generate_simple_self_signed(vec!["localhost".into()])
            .unwrap()
            .cert
            .pem(),
    )
    .unwrap();
    let (ok, _, err) = run_cli(
        d.clone(),
        &["bans", "list", "--cacert", other.to_str().unwrap()],
        &settings,
    )
    .await;
    assert!(!ok);
    assert!(err.contains("TLS"), "{err}");
    let (ok, _, err) = run_cli(d.clone(), &["bans", "lift", FLOODER], &settings).await;
    assert!(ok, "{err}");
    assert!(err.contains("lifted"), "{err}");
    sw.stop().await;
}

/// An INFO inside the caller's call (answered 469: no Info-Package).
fn info(caller: &mut Phone) -> String {
    caller.cseq += 1;
    let br = caller.branch();
    format!(
        "INFO {target} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch={br};rport\r\nMax-Forwards: 70\r\nFrom: \"Tester\" <sip:79161234567@127.0.0.1>;tag={ft}\r\nTo: <{target}>;tag={tt}\r\nCall-ID: {cid}\r\nCSeq: {cseq} INFO\r\nContent-Length: 0\r\n\r\n",
        target = caller.target,
        local = caller.local,
        ft = caller.from_tag,
        tt = caller.to_tag.clone().unwrap_or_default(),
        cid = caller.call_id,
        cseq = caller.cseq,
    )
}

/// A caller that never authenticates (a carrier trusted by its address, or anyone calling a
/// public number): the requests of its established call do not spend the anonymous budget.
#[actix_rt::test]
async fn in_dialog_requests_of_a_live_call_do_not_count_as_anonymous() {
    let mut sw = TestSwitch::builder()
        .settings(|s| s.security = vpbx::settings::SecuritySettings::default())
        .rtp_timeout_s(600)
        .start()
        .await;
    let mut caller = Phone::new(sw.sip).await;
    let media = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    // The demo's echo test: the call stays up.
    caller
        .call("74950000001", media.local_addr().unwrap().port())
        .await;
    // The dialog ignores requests until the ACK is processed: retry the first one until the
    // dialog answers (deadline 60 s), as a phone retransmits.
    let deadline = vpbx::clock::monotonic_now() + Duration::from_secs(60);
    loop {
        let text = info(&mut caller);
        caller.send(&text).await;
        if caller
            .recv_final(2)
            .await
            .is_some_and(|m| m.status().is_some())
        {
            break;
        }
        assert!(
            vpbx::clock::monotonic_now() < deadline,
            "the dialog never answered"
        );
    }
    // Sixty more in-dialog requests, each answered, far past the anonymous limit of 16.
    for i in 0..60 {
        let text = info(&mut caller);
        caller.send(&text).await;
        let answer = caller.recv_final(60).await;
        assert!(
            answer.as_ref().and_then(|m| m.status()).is_some(),
            "in-dialog request {i} not answered: {answer:?}"
        );
    }
    caller.bye().await;
    let ok = caller.recv_final(60).await.map(|m| m.status());
    assert_eq!(ok, Some(Some(200)));
    // (The metrics are per process, shared with the other tests here: ask this switch.)
    assert!(sw.running().http_state.sip_security.bans().is_empty());
    sw.stop().await;
}
