//! Parsing of `Refer-To` (RFC 3515) with an embedded `Replaces` (RFC 3891) — pure code.
//!
//! `Refer-To: <sip:103@pbx;user=phone?Replaces=abc%40host%3Bto-tag%3D1%3Bfrom-tag%3D2>`
//! gives target `103` and `Replaces { call_id: "abc@host", to_tag: "1", from_tag: "2" }`.

use vpbx_actors::leg::Replaces;

/// Percent-decoding of a URI header value.
fn unescape(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Some(v) = std::str::from_utf8(&bytes[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `callid;to-tag=x;from-tag=y` (the order of the parameters is free).
pub fn parse_replaces(value: &str) -> Option<Replaces> {
    let mut parts = value.split(';');
    let call_id = parts.next()?.trim().to_string();
    let (mut to_tag, mut from_tag) = (None, None);
    for p in parts {
        let (k, v) = p.split_once('=')?;
        match k.trim().to_ascii_lowercase().as_str() {
            "to-tag" => to_tag = Some(v.trim().to_string()),
            "from-tag" => from_tag = Some(v.trim().to_string()),
            _ => {}
        }
    }
    if call_id.is_empty() {
        return None;
    }
    Some(Replaces {
        call_id,
        to_tag: to_tag?,
        from_tag: from_tag?,
    })
}

/// The transfer target (the user part of the URI, or `user@host` when the host is not ours —
/// the caller decides) and the `Replaces` of an attended transfer.
pub fn parse_refer_to(value: &str) -> Option<(String, Option<Replaces>)> {
    let v = value.trim();
    let inner = match (v.find('<'), v.rfind('>')) {
        (Some(a), Some(b)) if a < b => &v[a + 1..b],
        _ => v,
    };
    let (uri, headers) = match inner.split_once('?') {
        Some((u, h)) => (u, Some(h)),
        None => (inner, None),
    };
    let rest = uri
        .strip_prefix("sip:")
        .or_else(|| uri.strip_prefix("sips:"))
        .or_else(|| uri.strip_prefix("tel:"))?;
    // Drop URI parameters.
    let rest = rest.split(';').next().unwrap_or(rest);
    let user = match rest.split_once('@') {
        Some((u, _)) => u,
        None => rest,
    };
    let target = unescape(user);
    if target.is_empty() {
        return None;
    }
    let replaces = headers.and_then(|h| {
        h.split('&').find_map(|kv| {
            let (k, v) = kv.split_once('=')?;
            if k.eq_ignore_ascii_case("replaces") {
                parse_replaces(&unescape(v))
            } else {
                None
            }
        })
    });
    Some((target, replaces))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blind_refer_to_an_extension() {
        assert_eq!(
            parse_refer_to("<sip:103@127.0.0.1:5060>"),
            Some(("103".into(), None))
        );
        assert_eq!(
            parse_refer_to("sip:74950000001@pbx;user=phone"),
            Some(("74950000001".into(), None))
        );
    }

    #[test]
    fn attended_refer_carries_replaces() {
        let (t, r) =
            parse_refer_to("<sip:103@127.0.0.1?Replaces=abc%40host%3Bto-tag%3Dt1%3Bfrom-tag%3Df2>")
                .unwrap();
        assert_eq!(t, "103");
        assert_eq!(
            r,
            Some(Replaces {
                call_id: "abc@host".into(),
                to_tag: "t1".into(),
                from_tag: "f2".into()
            })
        );
        // Parameters in any order, not escaped.
        let r = parse_replaces("x;from-tag=a;to-tag=b").unwrap();
        assert_eq!((r.to_tag.as_str(), r.from_tag.as_str()), ("b", "a"));
    }

    #[test]
    fn garbage_is_refused() {
        assert_eq!(parse_refer_to("<http://x>"), None);
        assert_eq!(parse_refer_to("<sip:@host>"), None);
        assert_eq!(parse_replaces("only-call-id"), None);
        // A truncated escape stays as it is.
        assert_eq!(parse_refer_to("<sip:1%4@h>"), Some(("1%4".into(), None)));
    }
}
