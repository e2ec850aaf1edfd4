//! HTTP digest authentication for SIP (RFC 3261 §22, RFC 7616 hashing, RFC 8760 SHA-256 for SIP).
//!
//! Pure: nonces are stateless (`timestamp.mac`, the MAC keyed by a per-process secret), so any
//! request can be checked without remembering what was issued, and time is an argument.
//! A nonce whose MAC is right but whose age exceeds the lifetime is *stale*: the phone is asked to
//! retry with a fresh one (`stale=true`) without re-prompting for the password.

use md5::{Digest as _, Md5};
use sha2::Sha256;

/// A digest algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    /// MD5 (RFC 3261; what most phones still send).
    Md5,
    /// SHA-256 (RFC 8760).
    Sha256,
}

impl Algorithm {
    /// Token used in headers.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Md5 => "MD5",
            Algorithm::Sha256 => "SHA-256",
        }
    }

    /// Parses a header token (`MD5`, `SHA-256`, any case).
    pub fn parse(s: &str) -> Option<Algorithm> {
        if s.eq_ignore_ascii_case("MD5") {
            Some(Algorithm::Md5)
        } else if s.eq_ignore_ascii_case("SHA-256") {
            Some(Algorithm::Sha256)
        } else {
            None
        }
    }

    fn hex(self, data: &str) -> String {
        match self {
            Algorithm::Md5 => to_hex(&Md5::digest(data.as_bytes())),
            Algorithm::Sha256 => to_hex(&Sha256::digest(data.as_bytes())),
        }
    }
}

fn to_hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// Issues and checks nonces.
#[derive(Clone)]
pub struct NonceKey {
    secret: [u8; 32],
    lifetime_ms: u64,
}

/// What a nonce turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonceCheck {
    /// Ours and fresh.
    Fresh,
    /// Ours but too old: challenge again with `stale=true`.
    Stale,
    /// Not ours (forged, garbled, from another process).
    Invalid,
}

impl NonceKey {
    /// A key with this secret; nonces live `lifetime_ms`.
    pub fn new(secret: [u8; 32], lifetime_ms: u64) -> Self {
        NonceKey {
            secret,
            lifetime_ms,
        }
    }

    fn mac(&self, ts: u64) -> String {
        let mut h = Sha256::new();
        h.update(self.secret);
        h.update(ts.to_be_bytes());
        to_hex(&h.finalize()[..16])
    }

    /// A nonce issued at `now_ms`.
    pub fn issue(&self, now_ms: u64) -> String {
        format!("{now_ms:x}.{}", self.mac(now_ms))
    }

    /// Checks a nonce at `now_ms`.
    pub fn check(&self, nonce: &str, now_ms: u64) -> NonceCheck {
        let Some((ts, mac)) = nonce.split_once('.') else {
            return NonceCheck::Invalid;
        };
        let Ok(ts) = u64::from_str_radix(ts, 16) else {
            return NonceCheck::Invalid;
        };
        if !constant_time_eq(mac.as_bytes(), self.mac(ts).as_bytes()) {
            return NonceCheck::Invalid;
        }
        if ts > now_ms.saturating_add(5_000) || now_ms.saturating_sub(ts) > self.lifetime_ms {
            return NonceCheck::Stale;
        }
        NonceCheck::Fresh
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// What the switch offers a requester: the configured algorithms in order of preference
/// (RFC 8760 §2.4), except that a `User-Agent` known to fail on any challenge whose algorithm it
/// does not know (baresip 1.0 / libre aborts with ENOSYS whatever the order; SIPp refuses a first
/// challenge that is not MD5), or a request without `User-Agent`, is offered MD5 alone — when MD5
/// is configured at all. See docs/decisions.md (D11, D49).
#[derive(Debug, Clone)]
pub struct Offer {
    algorithms: Vec<Algorithm>,
    /// Lower-cased `User-Agent` substrings.
    md5_only: Vec<String>,
}

const MD5_ONLY: &[Algorithm] = &[Algorithm::Md5];

impl Offer {
    /// `algorithms` in order of preference (MD5 when empty); `md5_only_agents` are matched as
    /// case-insensitive substrings of the `User-Agent` header.
    pub fn new(algorithms: Vec<Algorithm>, md5_only_agents: &[String]) -> Offer {
        let mut algs: Vec<Algorithm> = Vec::new();
        for a in algorithms {
            if !algs.contains(&a) {
                algs.push(a);
            }
        }
        if algs.is_empty() {
            algs.push(Algorithm::Md5);
        }
        Offer {
            algorithms: algs,
            md5_only: md5_only_agents
                .iter()
                .map(|a| a.trim().to_ascii_lowercase())
                .filter(|a| !a.is_empty())
                .collect(),
        }
    }

    /// The algorithms to challenge a request carrying this `User-Agent` with, in order.
    pub fn for_agent(&self, user_agent: Option<&str>) -> &[Algorithm] {
        let legacy = match user_agent.map(str::trim) {
            None | Some("") => true,
            Some(ua) => {
                let ua = ua.to_ascii_lowercase();
                self.md5_only.iter().any(|a| ua.contains(a.as_str()))
            }
        };
        if legacy && self.algorithms.contains(&Algorithm::Md5) {
            MD5_ONLY
        } else {
            &self.algorithms
        }
    }
}

/// `WWW-Authenticate` / `Proxy-Authenticate` values, one per offered algorithm, in the order
/// given (RFC 8760 §2.4: order of preference); see [`Offer`] for who is offered what.
pub fn challenges(realm: &str, nonce: &str, stale: bool, algorithms: &[Algorithm]) -> Vec<String> {
    algorithms
        .iter()
        .map(|a| {
            format!(
                "Digest realm=\"{realm}\", nonce=\"{nonce}\", algorithm={}, qop=\"auth\"{}",
                a.name(),
                if stale { ", stale=true" } else { "" }
            )
        })
        .collect()
}

/// Parsed `Authorization` / `Proxy-Authorization` digest credentials.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Credentials {
    /// `username`.
    pub username: String,
    /// `realm`.
    pub realm: String,
    /// `nonce`.
    pub nonce: String,
    /// `uri`.
    pub uri: String,
    /// `response`.
    pub response: String,
    /// `algorithm` (MD5 when absent).
    pub algorithm: Option<String>,
    /// `qop`.
    pub qop: Option<String>,
    /// `nc`.
    pub nc: Option<String>,
    /// `cnonce`.
    pub cnonce: Option<String>,
}

/// Parses a header value `Digest k=v, k="v", …`. None when it is not a digest or lacks a
/// required field.
pub fn parse_credentials(value: &str) -> Option<Credentials> {
    let rest = value.trim();
    let (scheme, params) = rest.split_once(char::is_whitespace)?;
    if !scheme.eq_ignore_ascii_case("Digest") {
        return None;
    }
    let mut c = Credentials::default();
    for (k, v) in split_params(params) {
        match k.to_ascii_lowercase().as_str() {
            "username" => c.username = v,
            "realm" => c.realm = v,
            "nonce" => c.nonce = v,
            "uri" => c.uri = v,
            "response" => c.response = v,
            "algorithm" => c.algorithm = Some(v),
            "qop" => c.qop = Some(v),
            "nc" => c.nc = Some(v),
            "cnonce" => c.cnonce = Some(v),
            _ => {}
        }
    }
    if c.username.is_empty() || c.nonce.is_empty() || c.response.is_empty() || c.uri.is_empty() {
        return None;
    }
    Some(c)
}

/// Splits `a=1, b="x, y", c=z` respecting quotes; unquotes values.
fn split_params(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut key = String::new();
    let mut val = String::new();
    let mut in_key = true;
    let mut quoted = false;
    let mut escaped = false;
    let mut push = |k: &mut String, v: &mut String| {
        if !k.trim().is_empty() {
            out.push((k.trim().to_string(), v.trim().to_string()));
        }
        k.clear();
        v.clear();
    };
    for ch in s.chars() {
        if in_key {
            match ch {
                '=' => in_key = false,
                ',' => push(&mut key, &mut val),
                _ => key.push(ch),
            }
            continue;
        }
        if quoted {
            match (escaped, ch) {
                (true, _) => {
                    val.push(ch);
                    escaped = false;
                }
                (false, '\\') => escaped = true,
                (false, '"') => quoted = false,
                (false, _) => val.push(ch),
            }
            continue;
        }
        match ch {
            '"' => quoted = true,
            ',' => {
                push(&mut key, &mut val);
                in_key = true;
            }
            _ => val.push(ch),
        }
    }
    push(&mut key, &mut val);
    out
}

/// Why credentials were refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The algorithm is not one we offer.
    UnknownAlgorithm,
    /// `qop` other than `auth`, or `auth` without `nc`/`cnonce`.
    BadQop,
    /// The response does not match (wrong password, unknown user, wrong realm).
    Mismatch,
}

/// Checks `c` for a request with `method`, against `password` (None for an unknown user: the
/// same work is done against a dummy secret so timing and answers do not tell users apart).
pub fn verify(
    c: &Credentials,
    method: &str,
    realm: &str,
    password: Option<&str>,
) -> Result<(), Refusal> {
    let alg = match &c.algorithm {
        None => Algorithm::Md5,
        Some(a) => Algorithm::parse(a).ok_or(Refusal::UnknownAlgorithm)?,
    };
    let qop_auth = match c.qop.as_deref() {
        None => false,
        Some(q) if q.eq_ignore_ascii_case("auth") => true,
        Some(_) => return Err(Refusal::BadQop),
    };
    let secret = password.unwrap_or("\u{0}unknown-user\u{0}");
    let ha1 = alg.hex(&format!("{}:{}:{}", c.username, realm, secret));
    let ha2 = alg.hex(&format!("{method}:{}", c.uri));
    let expected = if qop_auth {
        let (Some(nc), Some(cnonce)) = (&c.nc, &c.cnonce) else {
            return Err(Refusal::BadQop);
        };
        alg.hex(&format!("{ha1}:{}:{nc}:{cnonce}:auth:{ha2}", c.nonce))
    } else {
        alg.hex(&format!("{ha1}:{}:{ha2}", c.nonce))
    };
    let ok = constant_time_eq(
        expected.as_bytes(),
        c.response.to_ascii_lowercase().as_bytes(),
    );
    if ok && password.is_some() && c.realm == realm {
        Ok(())
    } else {
        Err(Refusal::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn offer_depends_on_the_user_agent() {
        use Algorithm::*;
        let agents = vec!["baresip".to_string(), "SIPp".to_string()];
        let offer = Offer::new(vec![Sha256, Md5], &agents);
        assert_eq!(
            offer.for_agent(Some("Linphone/5.2 (belle-sip/5.2)")),
            &[Sha256, Md5]
        );
        assert_eq!(
            offer.for_agent(Some("baresip v1.0.0 (x86_64/linux)")),
            &[Md5]
        );
        assert_eq!(offer.for_agent(Some("SIPP vpbx-interop")), &[Md5]);
        assert_eq!(offer.for_agent(None), &[Md5]);
        assert_eq!(offer.for_agent(Some("  ")), &[Md5]);
        // SHA-256 alone is the admin's explicit choice: offered to everyone.
        let strict = Offer::new(vec![Sha256], &agents);
        assert_eq!(strict.for_agent(Some("baresip v1.0.0")), &[Sha256]);
        // Empty: MD5; duplicates collapse.
        assert_eq!(Offer::new(vec![], &[]).for_agent(Some("x")), &[Md5]);
        assert_eq!(Offer::new(vec![Md5, Md5], &[]).for_agent(Some("x")), &[Md5]);
    }

    use super::*;

    /// RFC 2617 §3.5's worked example (MD5, qop=auth), adapted to the values it lists.
    #[test]
    fn rfc2617_example_response() {
        let c = Credentials {
            username: "Mufasa".into(),
            realm: "testrealm@host.com".into(),
            nonce: "dcd98b7102dd2f0e8b11d0f600bfb0c093".into(),
            uri: "/dir/index.html".into(),
            response: "6629fae49393a05397450978507c4ef1".into(),
            algorithm: None,
            qop: Some("auth".into()),
            nc: Some("00000001".into()),
            cnonce: Some("0a4f113b".into()),
        };
        assert_eq!(
            verify(&c, "GET", "testrealm@host.com", Some("Circle Of Life")),
            Ok(())
        );
        assert_eq!(
            verify(&c, "GET", "testrealm@host.com", Some("wrong")),
            Err(Refusal::Mismatch)
        );
        assert_eq!(
            verify(&c, "GET", "testrealm@host.com", None),
            Err(Refusal::Mismatch)
        );
    }

    #[test]
    fn sha256_round_trip_and_parse() {
        let alg = Algorithm::Sha256;
        let ha1 = alg.hex("101:vpbx:pw");
        let ha2 = alg.hex("REGISTER:sip:127.0.0.1");
        let resp = alg.hex(&format!("{ha1}:n.1:00000001:abc:auth:{ha2}"));
        let header = format!(
            "Digest username=\"101\", realm=\"vpbx\", nonce=\"n.1\", uri=\"sip:127.0.0.1\", response=\"{resp}\", algorithm=SHA-256, qop=auth, nc=00000001, cnonce=\"abc\""
        );
        let c = parse_credentials(&header).unwrap();
        assert_eq!(c.username, "101");
        assert_eq!(verify(&c, "REGISTER", "vpbx", Some("pw")), Ok(()));
        assert_eq!(
            verify(&c, "REGISTER", "other", Some("pw")),
            Err(Refusal::Mismatch)
        );
    }

    #[test]
    fn nonces_are_fresh_stale_or_invalid() {
        let k = NonceKey::new([7; 32], 60_000);
        let n = k.issue(1_000_000);
        assert_eq!(k.check(&n, 1_000_500), NonceCheck::Fresh);
        assert_eq!(k.check(&n, 1_070_000), NonceCheck::Stale);
        assert_eq!(k.check("f4240.00", 1_000_500), NonceCheck::Invalid);
        assert_eq!(k.check("garbage", 1), NonceCheck::Invalid);
        let other = NonceKey::new([8; 32], 60_000);
        assert_eq!(other.check(&n, 1_000_500), NonceCheck::Invalid);
    }

    #[test]
    fn parsing_is_strict_about_scheme_and_fields_and_lenient_about_spacing() {
        assert!(parse_credentials("Basic abc").is_none());
        assert!(parse_credentials("Digest username=\"a\"").is_none());
        let c = parse_credentials(
            "Digest  username = \"a,b\" ,realm=\"r\",nonce=\"n\",uri=\"sip:x\",response=\"00\"",
        )
        .unwrap();
        assert_eq!(c.username, "a,b");
        assert_eq!(c.realm, "r");
    }

    #[test]
    fn challenges_follow_the_configured_order() {
        let c = challenges("vpbx", "n", true, &[Algorithm::Sha256, Algorithm::Md5]);
        assert!(c[0].contains("SHA-256") && c[0].contains("stale=true"));
        assert!(c[1].contains("MD5"));
        assert_eq!(challenges("vpbx", "n", false, &[Algorithm::Md5]).len(), 1);
    }
}
