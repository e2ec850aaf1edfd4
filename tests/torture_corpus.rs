//! The RFC 4475 and RFC 5118 torture corpora (vendored byte-exact in `tests/interop/` from `../shared/interop/`) and what the switch must answer
//! to each message. Included by `torture_udp.rs` and `torture_tcp.rs`; as its own test target it
//! checks that every corpus file has an expectation and that the RFC 5118 conversion is right.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::PathBuf;

/// What the switch must do with one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// Exactly this final status.
    Status(u16),
    /// One of these final statuses.
    OneOf(&'static [u16]),
    /// Parsed and processed: some final answer that is not a parse rejection (400, 413, 414, 505).
    Accepted,
    /// Nothing comes back (responses, which are dropped or absorbed).
    NoResponse,
}

impl Expect {
    /// Whether `got` (None: no answer) meets the expectation.
    pub fn met_by(self, got: Option<u16>) -> bool {
        match (self, got) {
            (Expect::NoResponse, None) => true,
            (Expect::Status(s), Some(g)) => s == g,
            (Expect::OneOf(list), Some(g)) => list.contains(&g),
            (Expect::Accepted, Some(g)) => ![400, 413, 414, 505].contains(&g),
            _ => false,
        }
    }
}

/// Expectations over UDP. Over TCP the same, except where `tcp_expect` says otherwise.
pub const EXPECT: &[(&str, Expect)] = &[
    // RFC 4475 §3.1.1: valid, must be accepted.
    ("rfc4475/wsinv.dat", Expect::Status(481)), // a re-INVITE (To tag) for no dialog
    ("rfc4475/intmeth.dat", Expect::Status(501)),
    ("rfc4475/esc01.dat", Expect::Accepted),
    ("rfc4475/escnull.dat", Expect::Status(401)),
    ("rfc4475/esc02.dat", Expect::Status(501)),
    ("rfc4475/lwsdisp.dat", Expect::Status(200)),
    ("rfc4475/longreq.dat", Expect::Accepted),
    ("rfc4475/dblreq.dat", Expect::Status(401)),
    ("rfc4475/semiuri.dat", Expect::Status(200)),
    ("rfc4475/transports.dat", Expect::Status(200)),
    ("rfc4475/mpart01.dat", Expect::Status(501)), // MESSAGE: parsed, not implemented
    ("rfc4475/unreason.dat", Expect::NoResponse),
    ("rfc4475/noreason.dat", Expect::NoResponse),
    // §3.1.2: invalid.
    ("rfc4475/badinv01.dat", Expect::Status(400)),
    ("rfc4475/clerr.dat", Expect::Status(400)),
    ("rfc4475/ncl.dat", Expect::Status(400)),
    ("rfc4475/scalar02.dat", Expect::Status(400)),
    ("rfc4475/scalarlg.dat", Expect::NoResponse),
    ("rfc4475/quotbal.dat", Expect::Status(400)),
    ("rfc4475/ltgtruri.dat", Expect::Status(400)),
    ("rfc4475/lwsruri.dat", Expect::Status(400)),
    ("rfc4475/lwsstart.dat", Expect::Status(400)),
    ("rfc4475/trws.dat", Expect::Status(400)),
    ("rfc4475/escruri.dat", Expect::Status(400)),
    ("rfc4475/baddate.dat", Expect::Accepted),
    ("rfc4475/regbadct.dat", Expect::Status(400)),
    ("rfc4475/badaspec.dat", Expect::Status(400)),
    ("rfc4475/baddn.dat", Expect::Status(400)),
    ("rfc4475/badvers.dat", Expect::Status(505)),
    ("rfc4475/mismatch01.dat", Expect::Status(400)),
    ("rfc4475/mismatch02.dat", Expect::Status(501)),
    ("rfc4475/bigcode.dat", Expect::NoResponse),
    // §3.2
    ("rfc4475/badbranch.dat", Expect::OneOf(&[200, 400])),
    // §3.3
    ("rfc4475/insuf.dat", Expect::Status(400)),
    ("rfc4475/unkscm.dat", Expect::Status(416)),
    ("rfc4475/novelsc.dat", Expect::Status(416)),
    ("rfc4475/unksm2.dat", Expect::Status(400)),
    ("rfc4475/bext01.dat", Expect::Status(420)),
    ("rfc4475/invut.dat", Expect::Status(415)),
    ("rfc4475/regaut01.dat", Expect::Status(401)),
    ("rfc4475/multi01.dat", Expect::Status(400)),
    ("rfc4475/mcl01.dat", Expect::Status(400)),
    ("rfc4475/bcast.dat", Expect::NoResponse),
    ("rfc4475/zeromf.dat", Expect::Status(200)), // OPTIONS: the endpoint answers it
    ("rfc4475/cparam01.dat", Expect::Status(401)), // REGISTER accepted; auth first
    ("rfc4475/cparam02.dat", Expect::Status(401)),
    ("rfc4475/regescrt.dat", Expect::Status(401)),
    ("rfc4475/sdp01.dat", Expect::Status(406)),
    // §3.4
    ("rfc4475/inv2543.dat", Expect::Accepted),
    // not in the RFC text
    // Malformed (no SIP-Version, a line without a colon) and no Via: an answer could not be
    // routed (RFC 3261 §18.2.2), so the rejection is a silent drop.
    ("rfc4475/test.dat", Expect::NoResponse),
    // RFC 5118 §4
    ("rfc5118/ipv6-good", Expect::Status(401)),
    ("rfc5118/ipv6-bad", Expect::Status(400)),
    ("rfc5118/port-ambiguous", Expect::Status(401)),
    ("rfc5118/port-unambiguous", Expect::Accepted),
    ("rfc5118/via-received-param-with-delim", Expect::Status(481)), // BYE, no such dialog
    ("rfc5118/via-received-param-no-delim", Expect::Status(200)),
    ("rfc5118/ipv6-in-sdp", Expect::Accepted),
    ("rfc5118/mult-ip-in-header", Expect::Status(481)), // BYE, no such dialog
    ("rfc5118/mult-ip-in-sdp", Expect::Accepted),
    ("rfc5118/ipv4-mapped-ipv6", Expect::Accepted),
    ("rfc5118/ipv6-bug-abnf-3-colons", Expect::Status(200)),
    ("rfc5118/ipv6-correct-abnf-2-colons", Expect::Status(200)),
];

/// Over a stream, framing errors close the connection after the answer, and a Content-Length
/// larger than what was sent means waiting for more bytes (RFC 4475 §3.1.2.4).
pub fn tcp_expect(file: &str, udp: Expect) -> Expect {
    match file {
        // Waits for the 9999 promised bytes; nothing to answer yet.
        "rfc4475/clerr.dat" => Expect::NoResponse,
        // No blank line: the head never ends on a stream, so the switch waits.
        "rfc4475/baddn.dat" => Expect::NoResponse,
        // On a stream the trailing INVITE is a second message; both are answered (in either
        // order: 401 for the REGISTER, 407 for the INVITE — not to a virtual number, so a line's
        // credentials are asked for), then the leftover octets cannot be framed and the
        // connection closes.
        "rfc4475/dblreq.dat" => Expect::OneOf(&[401, 407]),
        // RFC 2543 style without Content-Length: cannot be framed on a stream.
        "rfc4475/inv2543.dat" => Expect::Status(400),
        _ => udp,
    }
}

/// The corpus directory.
pub fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/interop")
}

/// RFC 5118's README: LF → CRLF, close an unterminated header section, recompute Content-Length.
pub fn convert_5118(raw: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(raw).replace("\r\n", "\n");
    let (head, body) = match text.split_once("\n\n") {
        Some((h, b)) => (h.to_string(), b.to_string()),
        None => (text.trim_end_matches('\n').to_string(), String::new()),
    };
    let body = body.replace('\n', "\r\n");
    let mut out = String::new();
    for line in head.split('\n') {
        let lower = line.to_ascii_lowercase();
        if lower.starts_with("content-length:") || lower.starts_with("l:") {
            out.push_str(&format!("Content-Length: {}\r\n", body.len()));
        } else {
            out.push_str(line);
            out.push_str("\r\n");
        }
    }
    out.push_str("\r\n");
    out.push_str(&body);
    out.into_bytes()
}

/// Every corpus message as sent on the wire, with its expectation.
pub fn messages() -> Vec<(&'static str, Vec<u8>, Expect)> {
    EXPECT
        .iter()
        .map(|(file, expect)| {
            let raw =
                std::fs::read(corpus_dir().join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
            let wire = if file.starts_with("rfc5118/") {
                convert_5118(&raw)
            } else {
                raw
            };
            (*file, wire, *expect)
        })
        .collect()
}

/// `wire` with `-{tag}` appended to every Call-ID (`Call-ID:` or compact `i:` header line), so
/// that the message is a transaction of its own.
///
/// Several corpus files share a transaction key (RFC 5118's two §4.10 files are identical but for
/// the address: same branch, Call-ID, CSeq and From tag), and a repeated key is a retransmission
/// to the switch, answered or absorbed by the transaction layer depending on when it arrives.
/// Each message sent with its own tag is processed on its own, whatever the timing; the Call-ID
/// is the one field no corpus file tests (a Via branch is: `badbranch.dat`). A file without a
/// Call-ID (`insuf.dat`) is sent as it is.
pub fn own_transaction(wire: &[u8], tag: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(wire.len() + 2 * (tag.len() + 1));
    for line in wire.split_inclusive(|&b| b == b'\n') {
        let name = line
            .split(|&b| b == b':')
            .next()
            .unwrap_or_default()
            .trim_ascii_end();
        let is_call_id = line.contains(&b':')
            && (name.eq_ignore_ascii_case(b"call-id") || name.eq_ignore_ascii_case(b"i"));
        if !is_call_id {
            out.extend_from_slice(line);
            continue;
        }
        let end = line
            .iter()
            .rposition(|b| !b.is_ascii_whitespace())
            .map_or(0, |i| i + 1);
        out.extend_from_slice(&line[..end]);
        out.push(b'-');
        out.extend_from_slice(tag.as_bytes());
        out.extend_from_slice(&line[end..]);
    }
    out
}

#[test]
fn every_corpus_file_has_an_expectation() {
    for dir in ["rfc4475", "rfc5118"] {
        for entry in std::fs::read_dir(corpus_dir().join(dir)).unwrap() {
            let name = entry.unwrap().file_name().to_string_lossy().into_owned();
            if name == "README.md" || name == "SHA256SUMS" || name.starts_with('.') {
                continue;
            }
            let key = format!("{dir}/{name}");
            assert!(
                EXPECT.iter().any(|(f, _)| *f == key),
                "{key} has no expectation"
            );
        }
    }
    assert_eq!(EXPECT.len(), 50 + 12);
}

#[test]
fn rfc5118_conversion() {
    for (file, wire, _) in messages() {
        if !file.starts_with("rfc5118/") {
            continue;
        }
        let text = String::from_utf8(wire).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(!head.contains("\n\n") && !text.replace("\r\n", "").contains('\n'));
        if let Some(cl) = head
            .split("\r\n")
            .find_map(|l| l.strip_prefix("Content-Length: "))
        {
            assert_eq!(cl.parse::<usize>().unwrap(), body.len(), "{file}");
        }
    }
}

#[test]
fn every_message_sent_is_its_own_transaction() {
    let call_ids = |wire: &[u8]| -> Vec<String> {
        String::from_utf8_lossy(wire)
            .lines()
            .filter(|l| {
                let name = l.split(':').next().unwrap_or_default().trim_end();
                l.contains(':')
                    && (name.eq_ignore_ascii_case("call-id") || name.eq_ignore_ascii_case("i"))
            })
            .map(|l| l.split_once(':').unwrap().1.trim().to_string())
            .collect()
    };
    let mut seen = std::collections::HashSet::new();
    for (i, (file, wire, _)) in messages().into_iter().enumerate() {
        let sent = own_transaction(&wire, &format!("u{i}"));
        assert_eq!(
            sent.len(),
            wire.len() + call_ids(&wire).len() * format!("-u{i}").len()
        );
        for (before, after) in call_ids(&wire).iter().zip(call_ids(&sent)) {
            assert_eq!(after, format!("{before}-u{i}"), "{file}");
            assert!(seen.insert(after), "{file}: a Call-ID sent twice");
        }
    }
}
