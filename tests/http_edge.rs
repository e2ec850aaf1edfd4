//! The HTTP edge under attack (issue #10): concurrent guesses counted before the verify and
//! the verifies capped, per-source throttling that never locks the admin out from elsewhere,
//! trusted networks, security headers, body limits, `/health` while API requests are held
//! open, and HTTPS with a generated certificate and `__Host-` cookies.
#![allow(clippy::unwrap_used)]

mod api_support;
mod common;
use actix_web::test::{init_service, TestRequest};
use api_support::*;
use serde_json::json;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// A loopback address whose port the system picks (the switch reports what it bound).
const ANY_PORT: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 0);

fn login_from(ip: &str, user: &str, pw: &str) -> TestRequest {
    TestRequest::post()
        .uri("/api/v1/auth/token")
        .peer_addr(format!("{ip}:40000").parse().unwrap())
        .set_json(json!({"username": user, "password": pw}))
}

fn retry_after(r: &Resp) -> u64 {
    r.headers
        .get("retry-after")
        .expect("Retry-After")
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

/// Finding 1: 100 concurrent wrong passwords from one address. Each attempt is counted before
/// its verify and at most 2 verifies run at once, so at most the free allowance (5) is ever
/// verified from that address; the rest are refused (429 throttled, 503 busy) without one.
#[actix_rt::test]
async fn concurrent_guesses_from_one_address_are_counted_before_the_verify() {
    let mut sw = switch(None).await;
    let st = state(&sw);
    let app = init_service(vpbx::http::app(st.clone())).await;
    let before = st.auth.verifies_started();
    let answers = futures::future::join_all(
        (0..100).map(|_| send(&app, login_from("192.0.2.1", "admin", "wrong guess"))),
    )
    .await;
    let wrong = answers.iter().filter(|r| r.status == 401).count();
    let throttled = answers.iter().filter(|r| r.status == 429).count();
    let busy = answers.iter().filter(|r| r.status == 503).count();
    assert_eq!(wrong + throttled + busy, 100, "other answers");
    let verified = st.auth.verifies_started() - before;
    assert_eq!(verified as usize, wrong, "every 401 is one verify");
    assert!(
        (1..=5).contains(&wrong),
        "{wrong} guesses verified against a policy of 5"
    );
    assert!(st.auth.max_verifies_in_flight() <= 2);
    for r in answers.iter().filter(|r| r.status != 401) {
        assert!(retry_after(r) >= 1, "{}", r.text);
    }
    // Going on one at a time: the guesses verified in all stay within the 5 free ones, then
    // 429 (a refused busy attempt gave its count back, a verified one did not).
    let mut guesses = wrong;
    loop {
        let r = send(&app, login_from("192.0.2.1", "admin", "wrong guess")).await;
        match r.status {
            401 => guesses += 1,
            429 => break,
            other => panic!("{other}: {}", r.text),
        }
        assert!(
            guesses <= 5,
            "{guesses} guesses verified against a policy of 5"
        );
    }
    assert_eq!(guesses, 5);
    assert_eq!(
        (st.auth.verifies_started() - before) as usize,
        5,
        "refused attempts ran no verify"
    );
    // The right password from the same address is refused too while it is throttled.
    let r = send(&app, login_from("192.0.2.1", "admin", PASSWORD)).await;
    assert_eq!(r.status, 429, "{}", r.text);
    assert_eq!(r.json["error"], "locked");
    sw.stop().await;
}

/// Finding 1: 100 concurrent logins from 100 addresses (the throttle does not apply): at most
/// `login_verifies` (2) verifies run at once, the rest get 503 with `Retry-After`.
#[actix_rt::test]
async fn concurrent_logins_from_many_addresses_run_at_most_two_verifies() {
    let mut sw = switch(None).await;
    let st = state(&sw);
    let app = init_service(vpbx::http::app(st.clone())).await;
    let before = st.auth.verifies_started();
    let answers = futures::future::join_all((0..100).map(|i| {
        send(
            &app,
            login_from(&format!("198.51.100.{i}"), "admin", "wrong"),
        )
    }))
    .await;
    let wrong = answers.iter().filter(|r| r.status == 401).count();
    let busy: Vec<_> = answers.iter().filter(|r| r.status == 503).collect();
    assert_eq!(wrong + busy.len(), 100);
    assert!(
        !busy.is_empty(),
        "no login was refused for lack of a verifier"
    );
    for r in &busy {
        assert_eq!(r.json["error"], "busy", "{}", r.text);
        assert_eq!(retry_after(r), 1);
    }
    assert_eq!((st.auth.verifies_started() - before) as usize, wrong);
    let peak = st.auth.max_verifies_in_flight();
    assert!((1..=2).contains(&peak), "{peak} verifies at once");
    // Memory: the argon2 buffers (19 MiB each) are at most one per verifier, reused.
    let buffers = st.auth.verify_buffers();
    assert!((1..=2).contains(&buffers), "{buffers} argon2 buffers");
    // Busy answers gave their count back: those addresses are not throttled.
    sw.stop().await;
}

/// Finding 2: one address throttled never locks the admin out from another; the delays grow;
/// the start of a block is a security event with a metric.
#[actix_rt::test]
async fn one_throttled_address_does_not_lock_the_admin_out() {
    let mut sw = switch(None).await;
    let app = init_service(vpbx::http::app(state(&sw))).await;
    for _ in 0..5 {
        let r = send(&app, login_from("192.0.2.1", "admin", "wrong")).await;
        assert_eq!(r.status, 401, "{}", r.text);
    }
    let r = send(&app, login_from("192.0.2.1", "admin", PASSWORD)).await;
    assert_eq!(r.status, 429, "{}", r.text);
    assert_eq!(retry_after(&r), 1);
    // The admin from elsewhere: logs in.
    let r = send(&app, login_from("192.0.2.2", "admin", PASSWORD)).await;
    assert_eq!(r.status, 200, "the account is not locked: {}", r.text);
    // Other user names from the throttled address count on the address.
    let r = send(&app, login_from("192.0.2.1", "operator", "x")).await;
    assert_eq!(r.status, 429, "{}", r.text);
    let m = send(&app, TestRequest::get().uri("/metrics")).await;
    assert!(
        m.text.contains("vpbx_http_login_throttled_total"),
        "{}",
        m.text
    );
    sw.stop().await;
}

/// Finding 2: trusted networks are never throttled (still authenticated), and keep a password
/// verifier of their own.
#[actix_rt::test]
async fn trusted_networks_are_never_throttled() {
    let mut sw = common::TestSwitch::builder()
        .settings(|s| s.security.trusted_networks = vec!["10.0.0.0/8".parse().unwrap()])
        .start()
        .await;
    vpbx::http::auth::set_admin_password(&sw.running().store, PASSWORD).unwrap();
    let app = init_service(vpbx::http::app(state(&sw))).await;
    for _ in 0..12 {
        let r = send(&app, login_from("10.1.2.3", "admin", "wrong")).await;
        assert_eq!(r.status, 401, "{}", r.text);
    }
    let r = send(&app, login_from("10.1.2.3", "admin", PASSWORD)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    // While outsiders hold every verifier, the trusted network has one of its own.
    let mut logins: Vec<_> = (0..10)
        .map(|i| login_from(&format!("198.51.100.{i}"), "admin", "wrong"))
        .collect();
    logins.push(login_from("10.9.9.9", "admin", PASSWORD));
    let answers = futures::future::join_all(logins.into_iter().map(|r| send(&app, r))).await;
    assert!(
        answers[..10].iter().any(|r| r.status == 503),
        "the outsiders did not fill the verifiers"
    );
    assert_eq!(answers[10].status, 200, "{}", answers[10].text);
    // An untrusted neighbour is throttled as usual.
    for _ in 0..5 {
        send(&app, login_from("11.1.2.3", "admin", "wrong")).await;
    }
    let r = send(&app, login_from("11.1.2.3", "admin", PASSWORD)).await;
    assert_eq!(r.status, 429, "{}", r.text);
    sw.stop().await;
}

#[track_caller]
fn assert_security_headers(what: &str, r: &Resp) {
    let h = |n: &str| {
        r.headers
            .get(n)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_else(|| panic!("{what}: no {n} header"))
    };
    assert_eq!(h("x-content-type-options"), "nosniff", "{what}");
    let csp = h("content-security-policy");
    assert!(csp.contains("frame-ancestors 'none'"), "{what}: {csp}");
    assert!(csp.contains("default-src 'self'"), "{what}: {csp}");
    assert_eq!(h("referrer-policy"), "no-referrer", "{what}");
    assert_eq!(h("cache-control"), "no-store", "{what}");
    assert_eq!(
        h("server"),
        "vpbx",
        "{what}: the version is not shown by default"
    );
}

/// Finding 10: security headers on every answer, errors included; `Server` without version.
#[actix_rt::test]
async fn every_answer_carries_the_security_headers() {
    let mut sw = switch(None).await;
    let app = init_service(vpbx::http::app(state(&sw))).await;
    let t = token(&app).await;
    let r = send(&app, TestRequest::get().uri("/health")).await;
    assert_eq!(r.status, 200);
    assert_security_headers("/health", &r);
    let r = send(&app, req("GET", "/api/v1/employees", &t)).await;
    assert_eq!(r.status, 200);
    assert_security_headers("an API answer", &r);
    let r = send(&app, TestRequest::get().uri("/api/v1/employees")).await;
    assert_eq!(r.status, 401);
    assert_security_headers("a 401", &r);
    let r = send(&app, req("GET", "/api/v1/employees/999999", &t)).await;
    assert_eq!(r.status, 404, "{}", r.text);
    assert_security_headers("a 404", &r);
    let r = send(&app, TestRequest::get().uri("/no-such-page")).await;
    assert_eq!(r.status, 404);
    assert_security_headers("a 404 outside the API", &r);
    sw.stop().await;

    // `[http] server_version = true` shows the version.
    let mut sw = common::TestSwitch::builder()
        .settings(|s| s.http.server_version = true)
        .start()
        .await;
    let app = init_service(vpbx::http::app(state(&sw))).await;
    let r = send(&app, TestRequest::get().uri("/health")).await;
    assert_eq!(
        r.headers.get("server").unwrap().to_str().unwrap(),
        concat!("vpbx/", env!("CARGO_PKG_VERSION"))
    );
    sw.stop().await;
}

/// Finding 7: bodies over the route's limit are refused with 413 JSON naming the limit
/// (1 MiB for JSON, 16 MiB for the configuration document).
#[actix_rt::test]
async fn bodies_over_the_limit_get_413_naming_it() {
    let mut sw = switch(None).await;
    let app = init_service(vpbx::http::app(state(&sw))).await;
    let t = token(&app).await;
    let big = format!("{{\"name\": \"{}\"}}", "x".repeat(1024 * 1024 + 1));
    let r = send(
        &app,
        req("POST", "/api/v1/tags", &t)
            .insert_header(("content-type", "application/json"))
            .set_payload(big),
    )
    .await;
    assert_eq!(r.status, 413, "{}", r.text);
    assert_eq!(r.json["error"], "too_large");
    assert_eq!(r.json["limit_bytes"], 1024 * 1024);
    assert!(r.json["message"].as_str().unwrap().contains("1048576"));
    assert_security_headers("a 413", &r);
    // The configuration document may be larger, up to 16 MiB.
    let doc = format!("# {}\n", "x".repeat(2 * 1024 * 1024));
    let r = send(&app, req("PUT", "/api/v1/config", &t).set_payload(doc)).await;
    assert_ne!(r.status, 413, "{}", r.text);
    let doc = format!("# {}\n", "x".repeat(vpbx::http::DOCUMENT_LIMIT));
    let r = send(&app, req("PUT", "/api/v1/config", &t).set_payload(doc)).await;
    assert_eq!(r.status, 413, "{}", r.text);
    assert_eq!(r.json["limit_bytes"], vpbx::http::DOCUMENT_LIMIT);
    // Without a length (chunked), the extractor's cut gets the same JSON.
    let doc = format!("# {}\n", "x".repeat(vpbx::http::DOCUMENT_LIMIT));
    let mut chunked = req("PUT", "/api/v1/config", &t)
        .set_payload(doc)
        .to_request();
    chunked
        .headers_mut()
        .remove(actix_web::http::header::CONTENT_LENGTH);
    let r = match actix_web::dev::Service::call(&app, chunked).await {
        Ok(res) => (
            res.status().as_u16(),
            actix_web::body::to_bytes(res.into_body()).await.ok(),
        ),
        Err(e) => (e.error_response().status().as_u16(), None),
    };
    assert_eq!(r.0, 413);
    let body: serde_json::Value = serde_json::from_slice(&r.1.unwrap()).unwrap();
    assert_eq!(body["limit_bytes"], vpbx::http::DOCUMENT_LIMIT);
    // A login body too.
    let r = send(
        &app,
        TestRequest::post()
            .uri("/api/v1/auth/login")
            .insert_header(("content-type", "application/json"))
            .set_payload(vec![b' '; 2 * 1024 * 1024]),
    )
    .await;
    assert_eq!(r.status, 413, "{}", r.text);
    sw.stop().await;
}

/// A request over a stream: the status, the head and the body.
async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    mut s: S,
    request: &str,
) -> (u16, String, String) {
    s.write_all(request.as_bytes()).await.unwrap();
    s.flush().await.unwrap();
    let mut buf = Vec::new();
    // A peer closing without TLS close_notify is an error here; what was read still counts.
    let _ = tokio::time::timeout(Duration::from_secs(60), s.read_to_end(&mut buf)).await;
    let text = String::from_utf8_lossy(&buf).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let code = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (code, head.to_owned(), body.to_owned())
}

async fn plain(addr: SocketAddr, request: &str) -> (u16, String, String) {
    exchange(tokio::net::TcpStream::connect(addr).await.unwrap(), request).await
}

/// Finding 7: `/health` and `/metrics` answer while API requests are held open on every
/// worker (bodies announced and never finished, logins in flight), on the API address and on
/// the monitoring address, which serves nothing else.
#[actix_rt::test]
async fn health_answers_while_api_requests_are_held_open() {
    let mut sw = common::TestSwitch::builder()
        .settings(|s| s.http.monitoring_addr = Some(ANY_PORT))
        .start()
        .await;
    let monitoring = sw.running().monitoring_addr.unwrap();
    vpbx::http::auth::set_admin_password(&sw.running().store, PASSWORD).unwrap();
    let app = init_service(vpbx::http::app(state(&sw))).await;
    let t = token(&app).await;
    let mut held = Vec::new();
    for _ in 0..16 {
        let mut s = tokio::net::TcpStream::connect(sw.http).await.unwrap();
        let head = format!(
            "PUT /api/v1/config HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {t}\r\n\
             Content-Length: {}\r\n\r\n",
            4 * 1024 * 1024
        );
        s.write_all(head.as_bytes()).await.unwrap();
        s.write_all(&vec![b'#'; 512 * 1024]).await.unwrap();
        held.push(s);
    }
    for _ in 0..4 {
        // Half a request line: the parser waits for the rest.
        let mut s = tokio::net::TcpStream::connect(sw.http).await.unwrap();
        s.write_all(b"POST /api/v1/auth/lo").await.unwrap();
        held.push(s);
    }
    for addr in [sw.http, monitoring] {
        let (code, _, body) = plain(addr, "GET /health HTTP/1.0\r\nHost: x\r\n\r\n").await;
        assert_eq!(code, 200, "{addr}: {body}");
        let (code, _, body) = plain(addr, "GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n").await;
        assert_eq!(code, 200, "{addr}");
        assert!(body.contains("vpbx_"), "{body}");
    }
    let (code, head, _) = plain(
        monitoring,
        "GET /api/v1/employees HTTP/1.0\r\nHost: x\r\n\r\n",
    )
    .await;
    assert_eq!(code, 404, "the monitoring address serves monitoring only");
    assert!(head
        .to_ascii_lowercase()
        .contains("x-content-type-options: nosniff"));
    drop(held);
    sw.stop().await;
}

fn tls_client(cert: &std::path::Path) -> tokio_rustls::TlsConnector {
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls::pki_types::CertificateDer::pem_file_iter(cert).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    #[allow(deprecated)] // the server's provider (src/http/tls.rs)
    let provider = rustls::crypto::ring::default_provider();
    let config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(provider))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    tokio_rustls::TlsConnector::from(std::sync::Arc::new(config))
}

async fn https(
    connector: &tokio_rustls::TlsConnector,
    addr: SocketAddr,
    request: &str,
) -> (u16, String, String) {
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let tls = connector.connect(name, tcp).await.unwrap();
    exchange(tls, request).await
}

fn set_cookie<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        (k.eq_ignore_ascii_case("set-cookie") && v.trim().starts_with(&format!("{name}=")))
            .then(|| v.trim())
    })
}

/// HTTPS: a certificate generated at first start (verified by the client against that very
/// certificate, for `localhost`), a login over TLS setting `__Host-` cookies with `Secure`,
/// the session working over TLS, plain HTTP redirecting, monitoring staying plain.
#[actix_rt::test]
async fn https_login_with_a_generated_certificate_sets_host_cookies() {
    let mut sw = common::TestSwitch::builder()
        .settings(|s| {
            s.http.tls = true;
            s.http.https_addr = ANY_PORT;
            s.http.monitoring_addr = Some(ANY_PORT);
        })
        .start()
        .await;
    let https_addr = sw.running().https_addr.unwrap();
    let monitoring = sw.running().monitoring_addr.unwrap();
    vpbx::http::auth::set_admin_password(&sw.running().store, PASSWORD).unwrap();
    let cert = sw.data.path().join("data/tls/cert.pem");
    assert!(cert.exists(), "no generated certificate");
    let client = tls_client(&cert);
    let body = json!({"username": "admin", "password": PASSWORD}).to_string();
    let (code, head, text) = https(
        &client,
        https_addr,
        &format!(
            "POST /api/v1/auth/login HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ),
    )
    .await;
    assert_eq!(code, 200, "{head}\n{text}");
    let session = set_cookie(&head, "__Host-vpbx_session").expect("__Host- session cookie");
    for attr in ["Secure", "HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(session.contains(attr), "{attr} missing: {session}");
    }
    assert!(!session.contains("Domain"), "{session}");
    let csrf = set_cookie(&head, "__Host-vpbx_csrf").expect("__Host- CSRF cookie");
    assert!(
        csrf.contains("Secure") && !csrf.contains("HttpOnly"),
        "{csrf}"
    );
    assert!(set_cookie(&head, "vpbx_session").is_none(), "{head}");
    let value = session
        .split(';')
        .next()
        .unwrap()
        .trim_start_matches("__Host-vpbx_session=");
    let (code, _, text) = https(
        &client,
        https_addr,
        &format!(
            "GET /api/v1/auth/me HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\
             Cookie: __Host-vpbx_session={value}\r\n\r\n"
        ),
    )
    .await;
    assert_eq!(code, 200, "{text}");
    assert!(text.contains("\"session\""), "{text}");
    // The plain name is not accepted over TLS.
    let (code, _, _) = https(
        &client,
        https_addr,
        &format!(
            "GET /api/v1/auth/me HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\
             Cookie: vpbx_session={value}\r\n\r\n"
        ),
    )
    .await;
    assert_eq!(code, 401);
    // Plain HTTP redirects to HTTPS; monitoring stays plain.
    let (code, head, _) = plain(
        sw.http,
        "GET /api/v1/employees?limit=1 HTTP/1.0\r\nHost: localhost:8080\r\n\r\n",
    )
    .await;
    assert_eq!(code, 308, "{head}");
    let location = format!(
        "location: https://localhost:{}/api/v1/employees?limit=1",
        https_addr.port()
    );
    assert!(head.to_ascii_lowercase().contains(&location), "{head}");
    let (code, _, _) = plain(monitoring, "GET /health HTTP/1.0\r\nHost: x\r\n\r\n").await;
    assert_eq!(code, 200);
    sw.stop().await;
}

/// HTTPS with `plain_http = "off"`: the plain address is not bound at all.
#[actix_rt::test]
async fn plain_http_off_binds_nothing() {
    let mut sw = common::TestSwitch::builder()
        .settings(|s| {
            s.http.tls = true;
            s.http.https_addr = ANY_PORT;
            s.http.plain_http = vpbx::settings::PlainHttp::Off;
        })
        .start()
        .await;
    let https_addr = sw.running().https_addr.unwrap();
    assert!(tokio::net::TcpStream::connect(sw.http).await.is_err());
    let client = tls_client(&sw.data.path().join("data/tls/cert.pem"));
    let (code, _, _) = https(
        &client,
        https_addr,
        "GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(code, 200);
    sw.stop().await;
}
