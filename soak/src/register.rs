//! REGISTER with digest authentication (MD5 or SHA-256, qop=auth) over UDP: the bench's queue
//! agent lines register one contact each (the bench used to do it with an inline Python client).

use md5::{Digest as _, Md5};
use sha2::Sha256;
use std::net::{SocketAddr, UdpSocket};
use std::ops::RangeInclusive;
use std::time::{Duration, Instant};

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The digest hash of `alg` (`md5`, `sha-256`; lower case) over `text`.
pub(crate) fn digest_hash(alg: &str, text: &str) -> Option<String> {
    match alg {
        "md5" => Some(hex(&Md5::digest(text.as_bytes()))),
        "sha-256" => Some(hex(&Sha256::digest(text.as_bytes()))),
        _ => None,
    }
}

/// The `key=value` parameters of a challenge (after `Digest`), quotes removed, keys lower case.
pub(crate) fn challenge_params(c: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = c.trim();
    while !rest.is_empty() {
        rest = rest.trim_start_matches([',', ' ', '\t']);
        let Some(eq) = rest.find('=') else { break };
        let key = rest[..eq].trim().to_ascii_lowercase();
        rest = rest[eq + 1..].trim_start();
        let value;
        if let Some(r) = rest.strip_prefix('"') {
            let end = r.find('"').unwrap_or(r.len());
            value = r[..end].to_string();
            rest = r.get(end + 1..).unwrap_or("");
        } else {
            let end = rest.find(',').unwrap_or(rest.len());
            value = rest[..end].trim().to_string();
            rest = &rest[end..];
        }
        out.push((key, value));
    }
    out
}

/// The Authorization header value answering `challenge` (the part after `Digest `).
pub(crate) fn authorization(
    challenge: &str,
    login: &str,
    password: &str,
    method: &str,
    uri: &str,
    cnonce: &str,
) -> Option<String> {
    let p = challenge_params(challenge);
    let get = |k: &str| p.iter().find(|(a, _)| a == k).map(|(_, v)| v.as_str());
    let alg_name = get("algorithm").unwrap_or("MD5");
    let alg = alg_name.to_ascii_lowercase();
    let realm = get("realm")?;
    let nonce = get("nonce")?;
    let ha1 = digest_hash(&alg, &format!("{login}:{realm}:{password}"))?;
    let ha2 = digest_hash(&alg, &format!("{method}:{uri}"))?;
    let nc = "00000001";
    let (resp, qop) = if get("qop").is_some_and(|q| q.split(',').any(|x| x.trim() == "auth")) {
        (
            digest_hash(&alg, &format!("{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}"))?,
            format!(", qop=auth, nc={nc}, cnonce=\"{cnonce}\""),
        )
    } else {
        (
            digest_hash(&alg, &format!("{ha1}:{nonce}:{ha2}"))?,
            String::new(),
        )
    };
    let opaque = get("opaque").map_or(String::new(), |o| format!(", opaque=\"{o}\""));
    Some(format!(
        "Digest username=\"{login}\", realm=\"{realm}\", nonce=\"{nonce}\", uri=\"{uri}\", \
         response=\"{resp}\", algorithm={alg_name}{qop}{opaque}"
    ))
}

fn header<'a>(msg: &'a str, name: &str) -> Vec<&'a str> {
    msg.lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim().eq_ignore_ascii_case(name).then_some(v.trim())
        })
        .collect()
}

/// Registers `logins` (password `bench-<login>-pw`) at `server`, each with the contact
/// `127.0.0.1:<contact_port>` (sent from that port; the port is free again afterwards).
pub(crate) fn register_lines(
    server: SocketAddr,
    contact_port: u16,
    logins: RangeInclusive<u32>,
) -> Result<(), String> {
    let sock = UdpSocket::bind(("127.0.0.1", contact_port))
        .map_err(|e| format!("binding 127.0.0.1:{contact_port}: {e}"))?;
    let host = server.ip();
    let sport = server.port();
    let uri = format!("sip:{host}:{sport}");
    let mut buf = vec![0u8; 65535];
    for login in logins {
        let password = format!("bench-{login}-pw");
        let call_id = format!("bench-reg-{login}-{:08x}@{host}", rand::random::<u32>());
        let mut auth: Option<String> = None;
        let mut done = false;
        for cseq in 1..=3u32 {
            let mut req = format!(
                "REGISTER {uri} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{contact_port};branch=z9hG4bK{:016x};rport\r\n\
                 From: <sip:{login}@{host}:{sport}>;tag=vb{login}\r\nTo: <sip:{login}@{host}:{sport}>\r\n\
                 Call-ID: {call_id}\r\nCSeq: {cseq} REGISTER\r\n\
                 Contact: <sip:{login}@127.0.0.1:{contact_port};transport=udp>\r\nExpires: 7200\r\n\
                 Max-Forwards: 70\r\nUser-Agent: vpbx-soak-bench\r\n",
                rand::random::<u64>()
            );
            if let Some(a) = &auth {
                req += &format!("Authorization: {a}\r\n");
            }
            req += "Content-Length: 0\r\n\r\n";
            // Send, retransmitting every 0.5 s (8 times); the final response to this CSeq.
            let mut resp: Option<(u16, String)> = None;
            'tx: for _ in 0..8 {
                sock.send_to(req.as_bytes(), server)
                    .map_err(|e| e.to_string())?;
                let end = Instant::now() + Duration::from_millis(500);
                while let Some(left) = end.checked_duration_since(Instant::now()) {
                    sock.set_read_timeout(Some(left.max(Duration::from_millis(1))))
                        .map_err(|e| e.to_string())?;
                    let Ok((n, _)) = sock.recv_from(&mut buf) else {
                        break;
                    };
                    let m = String::from_utf8_lossy(&buf[..n]).to_string();
                    let same_call = header(&m, "Call-ID").first() == Some(&call_id.as_str());
                    let same_cseq = header(&m, "CSeq")
                        .first()
                        .is_some_and(|c| c.split_whitespace().next() == Some(&cseq.to_string()));
                    let code: u16 = m
                        .split_whitespace()
                        .nth(1)
                        .and_then(|c| c.parse().ok())
                        .unwrap_or(0);
                    if same_call && same_cseq && code >= 200 {
                        resp = Some((code, m));
                        break 'tx;
                    }
                }
            }
            let Some((code, m)) = resp else {
                return Err(format!("line {login}: no final response to REGISTER"));
            };
            match code {
                200 => {
                    done = true;
                    break;
                }
                401 | 407 if auth.is_none() => {
                    let name = if code == 401 {
                        "WWW-Authenticate"
                    } else {
                        "Proxy-Authenticate"
                    };
                    let cnonce = format!("{:016x}", rand::random::<u64>());
                    auth = header(&m, name).iter().find_map(|c| {
                        let c = c
                            .strip_prefix("Digest")
                            .or_else(|| c.strip_prefix("digest"))?;
                        authorization(c, &login.to_string(), &password, "REGISTER", &uri, &cnonce)
                    });
                    if auth.is_none() {
                        return Err(format!("line {login}: no MD5/SHA-256 challenge in:\n{m}"));
                    }
                }
                _ => return Err(format!("line {login}: REGISTER answered {code}:\n{m}")),
            }
        }
        if !done {
            return Err(format!("line {login}: not registered"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc2617_example() {
        // RFC 2617 section 3.5 (GET /dir/index.html, Mufasa / "Circle Of Life").
        let c = r#"realm="testrealm@host.com", qop="auth,auth-int", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41""#;
        let a = authorization(
            c,
            "Mufasa",
            "Circle Of Life",
            "GET",
            "/dir/index.html",
            "0a4f113b",
        )
        .unwrap();
        assert!(
            a.contains(r#"response="6629fae49393a05397450978507c4ef1""#),
            "{a}"
        );
        assert!(a.contains(r#"opaque="5ccc069c403ebaf9f0171e9517f40e41""#));
        let p = challenge_params(r#"realm="r", nonce="n,1", algorithm=SHA-256"#);
        assert_eq!(p[1], ("nonce".into(), "n,1".into()));
        assert_eq!(p[2], ("algorithm".into(), "SHA-256".into()));
        assert_eq!(digest_hash("sha-256", "").unwrap().len(), 64);
        assert!(digest_hash("sha-512", "").is_none());
    }
}
