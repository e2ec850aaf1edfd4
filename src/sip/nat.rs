//! NAT handling for phones behind a router (pure code). A phone behind NAT puts its private
//! address in Contact; requests sent there never arrive. Like Kamailio's `fix_nated_contact`,
//! the edge rewrites the Contact of an INVITE to the address the request really came from, so
//! the dialog's remote target (BYE, re-INVITE, NOTIFY) follows the NAT binding the phone opened.
//! Responses already go back symmetrically (RFC 3581 `rport`, handled by the stack), and
//! registered contacts are reached at their REGISTER's source address.

use std::net::SocketAddr;

/// The Contact value with its host and port replaced by `received`, or `None` when it already
/// names `received` or is not a SIP URI we can rewrite.
pub fn fix_contact(value: &str, received: SocketAddr) -> Option<String> {
    let open = value.find('<');
    let close = open.and_then(|a| value[a..].find('>').map(|b| a + b));
    let (prefix, uri, suffix) = match (open, close) {
        (Some(a), Some(b)) => (&value[..=a], &value[a + 1..b], &value[b..]),
        _ => {
            // No angle brackets: header parameters start at the first ';' (RFC 3261 §20.10).
            let (u, rest) = match value.find(';') {
                Some(i) => (&value[..i], &value[i..]),
                None => (value, ""),
            };
            ("", u.trim(), rest)
        }
    };
    if uri
        .chars()
        .any(|c| matches!(c, '<' | '>' | '"') || c.is_whitespace() || c.is_control())
    {
        // Not a URI we understand: leave the header as it is.
        return None;
    }
    let (scheme, rest) = uri.split_once(':')?;
    if !scheme.eq_ignore_ascii_case("sip") {
        return None;
    }
    let (user, hostpart) = match rest.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, rest),
    };
    let (hostport, params) = match hostpart.find(';') {
        Some(i) => (&hostpart[..i], &hostpart[i..]),
        None => (hostpart, ""),
    };
    let current: Option<SocketAddr> = hostport
        .parse()
        .ok()
        .or_else(|| format!("{hostport}:5060").parse().ok());
    if current == Some(received) {
        return None;
    }
    let host = match received {
        SocketAddr::V4(a) => format!("{}:{}", a.ip(), a.port()),
        SocketAddr::V6(a) => format!("[{}]:{}", a.ip(), a.port()),
    };
    let user = user.map(|u| format!("{u}@")).unwrap_or_default();
    let uri = format!("{scheme}:{user}{host}{params}");
    if prefix.is_empty() {
        Some(format!("<{uri}>{suffix}"))
    } else {
        Some(format!("{prefix}{uri}{suffix}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn private_contact_becomes_the_received_address() {
        assert_eq!(
            fix_contact(
                "<sip:101@192.168.1.20:5062;transport=udp>;expires=60",
                addr("203.0.113.7:40211")
            ),
            Some("<sip:101@203.0.113.7:40211;transport=udp>;expires=60".into())
        );
        assert_eq!(
            fix_contact("\"Anna\" <sip:101@10.0.0.5>", addr("198.51.100.1:5060")),
            Some("\"Anna\" <sip:101@198.51.100.1:5060>".into())
        );
        assert_eq!(
            fix_contact(
                "sip:101@10.0.0.5:5070;expires=30",
                addr("198.51.100.1:1024")
            ),
            Some("<sip:101@198.51.100.1:1024>;expires=30".into())
        );
    }

    #[test]
    fn matching_or_foreign_contacts_are_left_alone() {
        assert_eq!(
            fix_contact("<sip:101@127.0.0.1:5070>", addr("127.0.0.1:5070")),
            None
        );
        assert_eq!(
            fix_contact("<sip:101@127.0.0.1>", addr("127.0.0.1:5060")),
            None
        );
        assert_eq!(fix_contact("<tel:+123>", addr("127.0.0.1:5070")), None);
        assert_eq!(fix_contact("garbage", addr("127.0.0.1:5070")), None);
    }

    #[test]
    fn rewriting_is_idempotent_even_on_odd_values() {
        // Found by the fuzzer: a '>' among the header parameters.
        let a = addr("203.0.113.7:40211");
        let odd = "sip:%\u{85}z\u{c2}si:p%ip:%\u{85}z\u{c2}si1;>;1%p\u{19}~:\u{85}";
        assert_eq!(fix_contact(odd, a), None, "not a URI: left alone");
        let odd = "sip:x;>;1";
        let fixed = fix_contact(odd, a).unwrap();
        assert_eq!(fixed, "<sip:203.0.113.7:40211>;>;1");
        assert_eq!(fix_contact(&fixed, a), None);
    }
}
