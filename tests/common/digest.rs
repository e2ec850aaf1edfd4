//! Digest authentication as a phone answers it (RFC 7616 with MD5, RFC 2617's qop=auth).

/// Lower-case hex MD5.
pub fn md5_hex(s: &str) -> String {
    use md5::{Digest, Md5};
    Md5::digest(s.as_bytes())
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect()
}

/// A parameter of a digest challenge (`realm`, `nonce`, ...).
pub fn digest_param<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header.split(',').find_map(|p| {
        let (k, v) = p.trim().trim_start_matches("Digest ").split_once('=')?;
        (k.trim() == name).then(|| v.trim().trim_matches('"'))
    })
}

/// An MD5 `Digest ...` credentials value answering `challenge` (qop=auth when offered).
pub fn digest_answer(challenge: &str, method: &str, uri: &str, user: &str, pass: &str) -> String {
    let realm = digest_param(challenge, "realm").unwrap_or("");
    let nonce = digest_param(challenge, "nonce").unwrap_or("");
    let ha1 = md5_hex(&format!("{user}:{realm}:{pass}"));
    let ha2 = md5_hex(&format!("{method}:{uri}"));
    if challenge.contains("qop") {
        let response = md5_hex(&format!("{ha1}:{nonce}:00000001:c0ffee:auth:{ha2}"));
        format!("Digest username=\"{user}\", realm=\"{realm}\", nonce=\"{nonce}\", uri=\"{uri}\", response=\"{response}\", algorithm=MD5, qop=auth, nc=00000001, cnonce=\"c0ffee\"")
    } else {
        let response = md5_hex(&format!("{ha1}:{nonce}:{ha2}"));
        format!("Digest username=\"{user}\", realm=\"{realm}\", nonce=\"{nonce}\", uri=\"{uri}\", response=\"{response}\", algorithm=MD5")
    }
}
