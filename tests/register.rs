//! REGISTER with digest auth: challenge (SHA-256 and MD5, qop=auth), success with MD5 and with
//! SHA-256, wrong password and unknown user answered identically (403), 423 for too brief an
//! interval, several contacts per line, unregister; and bindings survive a restart of the real
//! binary.
#![allow(clippy::unwrap_used)]

mod common;
use common::*;
use md5::{Digest, Md5};
use sha2::Sha256;

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn h(alg: &str, s: &str) -> String {
    if alg == "SHA-256" {
        hex(&Sha256::digest(s.as_bytes()))
    } else {
        hex(&Md5::digest(s.as_bytes()))
    }
}

fn param<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header.split(',').find_map(|p| {
        let (k, v) = p.trim().trim_start_matches("Digest ").split_once('=')?;
        (k.trim() == name).then(|| v.trim().trim_matches('"'))
    })
}

struct Reg {
    phone: Phone,
    cseq: u32,
    /// The `User-Agent` sent (it decides the digest algorithms offered).
    ua: Option<&'static str>,
}

impl Reg {
    async fn new(server: std::net::SocketAddr) -> Reg {
        Reg {
            phone: Phone::new(server).await,
            cseq: 0,
            ua: Some("vpbx-test"),
        }
    }

    async fn send(
        &mut self,
        user: &str,
        contact: Option<&str>,
        expires: Option<u32>,
        auth: Option<String>,
    ) -> Msg {
        self.cseq += 1;
        let p = &mut self.phone;
        let br = p.branch();
        let mut t = format!(
            "REGISTER sip:{srv} SIP/2.0\r\nVia: SIP/2.0/UDP {l};branch={br};rport\r\nMax-Forwards: 70\r\nFrom: <sip:{user}@{srv}>;tag={ft}\r\nTo: <sip:{user}@{srv}>\r\nCall-ID: {cid}\r\nCSeq: {cseq} REGISTER\r\n",
            srv = p.server,
            l = p.local,
            ft = p.from_tag,
            cid = p.call_id,
            cseq = self.cseq
        );
        if let Some(ua) = self.ua {
            t.push_str(&format!("User-Agent: {ua}\r\n"));
        }
        if let Some(c) = contact {
            t.push_str(&format!("Contact: {c}\r\n"));
        }
        if let Some(e) = expires {
            t.push_str(&format!("Expires: {e}\r\n"));
        }
        if let Some(a) = auth {
            t.push_str(&format!("Authorization: {a}\r\n"));
        }
        t.push_str("Content-Length: 0\r\n\r\n");
        p.send(&t).await;
        p.recv_final(5).await.expect("a response to REGISTER")
    }

    /// REGISTER, answer the challenge with `password` using `alg`; returns the final answer.
    async fn register(
        &mut self,
        user: &str,
        password: &str,
        alg: &str,
        contact: Option<&str>,
        expires: Option<u32>,
    ) -> Msg {
        let challenge = self.send(user, contact, expires, None).await;
        assert_eq!(challenge.status(), Some(401), "{}", challenge.start);
        let www: Vec<&str> = challenge
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("WWW-Authenticate"))
            .map(|(_, v)| v.as_str())
            .collect();
        let chosen = www
            .iter()
            .find(|w| w.contains(&format!("algorithm={alg}")))
            .unwrap();
        let realm = param(chosen, "realm").unwrap();
        let nonce = param(chosen, "nonce").unwrap();
        let uri = format!("sip:{}", self.phone.server);
        let ha1 = h(alg, &format!("{user}:{realm}:{password}"));
        let ha2 = h(alg, &format!("REGISTER:{uri}"));
        let response = h(alg, &format!("{ha1}:{nonce}:00000001:c0ffee:auth:{ha2}"));
        let auth = format!(
            "Digest username=\"{user}\", realm=\"{realm}\", nonce=\"{nonce}\", uri=\"{uri}\", response=\"{response}\", algorithm={alg}, qop=auth, nc=00000001, cnonce=\"c0ffee\""
        );
        self.send(user, contact, expires, Some(auth)).await
    }
}

#[actix_rt::test]
async fn register_with_digest_auth() {
    let mut sw = TestSwitch::start().await;
    let mut reg = Reg::new(sw.sip).await;
    let contact = format!("<sip:101@{}>", reg.phone.local);

    // The test switch offers SHA-256 then MD5 (RFC 8760 preference order), both with
    // qop=auth; the default (MD5 only) is checked against the real binary below.
    let ch = reg.send("101", Some(&contact), None, None).await;
    assert_eq!(ch.status(), Some(401));
    let www: Vec<_> = ch
        .headers
        .iter()
        .filter(|(n, _)| n == "WWW-Authenticate")
        .collect();
    assert_eq!(www.len(), 2);
    assert!(www[0].1.contains("SHA-256") && www[1].1.contains("MD5"));
    assert!(www[0].1.contains("qop=\"auth\""));
    // The INVITE challenge (407) follows the same policy.
    for (ua, offered) in [
        ("User-Agent: Linphone/5.2.0\r\n", &["SHA-256", "MD5"][..]),
        (
            "User-Agent: baresip v1.0.0 (x86_64/linux)\r\n",
            &["MD5"][..],
        ),
        ("", &["MD5"][..]),
    ] {
        let mut p = Phone::new(sw.sip).await;
        let inv = p
            .invite_text("999", &Phone::sdp(40000, &[0]))
            .replace("Max-Forwards: 70\r\n", &format!("Max-Forwards: 70\r\n{ua}"));
        p.send(&inv).await;
        let m = p.recv_final(5).await.expect("a final answer to the INVITE");
        p.ack(false).await;
        assert_eq!(m.status(), Some(407), "{}", m.start);
        let algs: Vec<_> = m
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("Proxy-Authenticate"))
            .map(|(_, v)| param(v, "algorithm").unwrap().to_string())
            .collect();
        assert_eq!(algs, offered, "offered to {ua:?}");
    }

    // MD5 works and the 200 lists the binding with its expiry.
    let ok = reg
        .register("101", P101, "MD5", Some(&contact), Some(120))
        .await;
    assert_eq!(ok.status(), Some(200), "{}", ok.start);
    assert!(
        ok.header("Contact").unwrap().contains("expires=12"),
        "{:?}",
        ok.header("Contact")
    );
    assert_eq!(
        sw.running()
            .registrar
            .bindings(vpbx_store::model::SipLineId(101))
            .len(),
        1
    );

    // SHA-256 works; a second contact on the same line.
    let mut reg2 = Reg::new(sw.sip).await;
    let contact2 = format!("<sip:101@{}>", reg2.phone.local);
    let ok = reg2
        .register("101", P101, "SHA-256", Some(&contact2), None)
        .await;
    assert_eq!(ok.status(), Some(200));
    let n_contacts = ok.headers.iter().filter(|(n, _)| n == "Contact").count();
    assert_eq!(n_contacts, 2);

    // Wrong password and unknown user get the same answer.
    let bad = reg
        .register("101", "wrong", "MD5", Some(&contact), None)
        .await;
    let mut stranger = Reg::new(sw.sip).await;
    let unknown = stranger
        .register("555", "whatever", "MD5", Some(&contact), None)
        .await;
    assert_eq!(bad.status(), Some(403));
    assert_eq!(unknown.status(), Some(403));
    assert_eq!(bad.start, unknown.start);
    assert_eq!(bad.header("Warning"), unknown.header("Warning"));

    // Too brief → 423 with Min-Expires.
    let brief = reg
        .register("101", P101, "MD5", Some(&contact), Some(10))
        .await;
    assert_eq!(brief.status(), Some(423));
    assert_eq!(brief.header("Min-Expires"), Some("60"));

    // Unregister everything.
    let gone = reg.register("101", P101, "MD5", Some("*"), Some(0)).await;
    assert_eq!(gone.status(), Some(200));
    assert!(gone.header("Contact").is_none());
    assert!(sw
        .running()
        .registrar
        .bindings(vpbx_store::model::SipLineId(101))
        .is_empty());

    // A line may only register its own address.
    let mut other = Reg::new(sw.sip).await;
    other.phone.from_tag = "x".into();
    let ch = other.send("102", Some(&contact), None, None).await;
    assert_eq!(ch.status(), Some(401));
    sw.stop().await;
}

#[actix_rt::test]
async fn registrations_survive_a_restart_of_the_binary() {
    let data = tempfile::tempdir().unwrap();
    let sip = std::net::SocketAddr::from(([127, 0, 0, 1], free_port()));
    let http = std::net::SocketAddr::from(([127, 0, 0, 1], free_port()));
    let spawn = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_vpbx"))
            .args(["--config", "/nonexistent/vpbx.toml"])
            .arg("--data-dir")
            .arg(data.path())
            .args([
                "--sip-addr",
                &sip.to_string(),
                "--http-addr",
                &http.to_string(),
            ])
            .args(["--rtp-port-min", "36000", "--rtp-port-max", "36100"])
            .args(["--demo-passwords", "document"])
            .env("RUST_LOG", "warn")
            .spawn()
            .unwrap()
    };
    let wait_up = || async {
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(http).await.is_ok() {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("switch did not come up");
    };
    let stop = |mut child: std::process::Child| {
        std::process::Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        let status = child.wait().unwrap();
        assert!(status.success(), "clean exit on SIGTERM: {status}");
    };

    let child = spawn();
    wait_up().await;
    // The defaults (D49): SHA-256 then MD5, except for User-Agents known to abort on a SHA-256
    // challenge (baresip 1.0, SIPp) and requests that do not say what they are: MD5 alone.
    for (ua, offered) in [
        (
            Some("Linphone/5.2.0 (belle-sip/5.2.0)"),
            &["SHA-256", "MD5"][..],
        ),
        (Some("baresip v1.0.0 (x86_64/linux)"), &["MD5"][..]),
        (Some("SIPp vpbx-interop"), &["MD5"][..]),
        (None, &["MD5"][..]),
    ] {
        let mut r = Reg::new(sip).await;
        r.ua = ua;
        let contact = format!("<sip:101@{}>", r.phone.local);
        let ch = r.send("101", Some(&contact), None, None).await;
        assert_eq!(ch.status(), Some(401), "{}", ch.start);
        let algs: Vec<_> = ch
            .headers
            .iter()
            .filter(|(n, _)| n == "WWW-Authenticate")
            .map(|(_, v)| param(v, "algorithm").unwrap().to_string())
            .collect();
        assert_eq!(algs, offered, "offered to {ua:?}");
        // Whatever was offered, both algorithms are verified.
        for alg in offered {
            let ok = r.register("101", P101, alg, Some(&contact), Some(0)).await;
            assert_eq!(ok.status(), Some(200), "{ua:?} {alg}: {}", ok.start);
        }
    }
    let mut reg = Reg::new(sip).await;
    let contact = format!("<sip:102@{}>", reg.phone.local);
    let ok = reg
        .register("102", P102, "SHA-256", Some(&contact), Some(600))
        .await;
    assert_eq!(ok.status(), Some(200));
    stop(child);

    let child = spawn();
    wait_up().await;
    // A query (no Contact) lists the binding kept across the restart.
    let mut q = Reg::new(sip).await;
    let ok = q.register("102", P102, "MD5", None, None).await;
    assert_eq!(ok.status(), Some(200));
    assert!(
        ok.header("Contact")
            .unwrap_or("")
            .contains(&reg.phone.local.to_string()),
        "{:?}",
        ok.headers
    );
    stop(child);
}
