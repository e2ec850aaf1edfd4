//! The edge's own validation of raw SIP messages, before rsipstack sees them.
//!
//! rsipstack parses leniently and is not a validator: it drops valid messages with unknown methods
//! and accepts bad versions, CSeq/method mismatches and wrong or duplicate Content-Length. Every
//! datagram (UDP) and every framed message (TCP) goes through [`check`] first, which decides to pass
//! it on (possibly trimmed to its Content-Length), to answer it with an error
//! ([`error_response`] builds the answer from the raw request) or to drop it silently.
//!
//! Pure: bytes in, a verdict out; no I/O, no clock. Fuzzed (`fuzz/`) and property-tested below.

use std::ops::Range;

/// Largest message we accept (RFC 3261 leaves it open; 16 KiB like common SBC defaults).
pub const MAX_MESSAGE: usize = 16 * 1024;
/// Longest Request-URI we accept.
pub const MAX_REQUEST_URI: usize = 512;
/// Methods this switch handles, advertised in `Allow` (REFER, INFO and UPDATE inside a call).
pub const ALLOW: &str = "INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER, REFER, INFO, UPDATE";
const IMPLEMENTED: [&str; 9] = [
    "INVITE", "ACK", "CANCEL", "BYE", "OPTIONS", "REGISTER", "REFER", "INFO", "UPDATE",
];
/// Methods the stack parses; in-dialog requests with these go on to the dialog layer.
const STACK_METHODS: [&str; 14] = [
    "INVITE",
    "ACK",
    "CANCEL",
    "BYE",
    "OPTIONS",
    "REGISTER",
    "INFO",
    "MESSAGE",
    "NOTIFY",
    "PRACK",
    "PUBLISH",
    "REFER",
    "SUBSCRIBE",
    "UPDATE",
];
/// User-Agent substrings of well-known SIP scanners (lower case). Their traffic is dropped.
const SCANNERS: [&str; 10] = [
    "friendly-scanner",
    "sipvicious",
    "sipcli",
    "vaxsipuseragent",
    "sundayddr",
    "iwar",
    "sivus",
    "sip-scan",
    "sipscan",
    "pplsip",
];

/// A message's fault, with the response it earns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SipViolation {
    /// Larger than [`MAX_MESSAGE`] (or than the stack's datagram buffer).
    TooLarge(usize),
    /// Request-URI longer than [`MAX_REQUEST_URI`].
    UriTooLong(usize),
    /// The start line is not `Method SP Request-URI SP SIP-Version`.
    MalformedStartLine,
    /// Not SIP/2.0.
    VersionNotSupported(String),
    /// The method is not a token.
    BadMethod,
    /// A header line is malformed (no colon, bad name, not UTF-8, stray CR/LF).
    MalformedHeader(String),
    /// The header section does not end with an empty line.
    NoEndOfHeaders,
    /// A required header is missing.
    MissingHeader(&'static str),
    /// A header that must appear once appears more often.
    DuplicateHeader(&'static str),
    /// Content-Length is not a number, or promises more bytes than arrived.
    BadContentLength(String),
    /// The CSeq is not `number method` with a 32-bit number.
    BadCseq(String),
    /// The CSeq method differs from the request method.
    CseqMethodMismatch {
        /// Request line method.
        method: String,
        /// CSeq method.
        cseq: String,
    },
    /// A method we do not implement.
    UnknownMethod(String),
    /// A Request-URI scheme other than sip, sips, tel.
    UnsupportedScheme(String),
    /// A Request-URI we cannot read.
    BadRequestUri(&'static str),
    /// Max-Forwards 0 on a request we would forward.
    TooManyHops,
    /// `Require`/`Proxy-Require` with option tags we do not support.
    BadExtension(Vec<String>),
    /// An INVITE body that is not SDP.
    UnsupportedMediaType(String),
    /// `Accept` leaves out application/sdp.
    NotAcceptable,
    /// A header value that breaks its grammar.
    BadHeaderValue(&'static str, &'static str),
}

impl SipViolation {
    /// The status code to answer with.
    pub fn status(&self) -> u16 {
        match self {
            SipViolation::TooLarge(_) => 413,
            SipViolation::UriTooLong(_) => 414,
            SipViolation::VersionNotSupported(_) => 505,
            SipViolation::UnknownMethod(_) => 501,
            SipViolation::UnsupportedScheme(_) => 416,
            SipViolation::TooManyHops => 483,
            SipViolation::BadExtension(_) => 420,
            SipViolation::UnsupportedMediaType(_) => 415,
            SipViolation::NotAcceptable => 406,
            _ => 400,
        }
    }

    /// The standard reason phrase of [`status`](Self::status).
    pub fn phrase(&self) -> &'static str {
        match self.status() {
            413 => "Request Entity Too Large",
            414 => "Request-URI Too Long",
            415 => "Unsupported Media Type",
            416 => "Unsupported URI Scheme",
            420 => "Bad Extension",
            406 => "Not Acceptable",
            483 => "Too Many Hops",
            501 => "Not Implemented",
            505 => "Version Not Supported",
            _ => "Bad Request",
        }
    }

    /// The specific problem (goes into a `Warning: 399` header).
    pub fn reason(&self) -> String {
        match self {
            SipViolation::TooLarge(n) => format!("message of {n} bytes is too large"),
            SipViolation::UriTooLong(n) => format!("Request-URI of {n} bytes is too long"),
            SipViolation::MalformedStartLine => "malformed request line".into(),
            SipViolation::VersionNotSupported(v) => format!("version {v} not supported"),
            SipViolation::BadMethod => "method is not a token".into(),
            SipViolation::MalformedHeader(h) => format!("malformed header line: {h}"),
            SipViolation::NoEndOfHeaders => "header section does not end with an empty line".into(),
            SipViolation::MissingHeader(h) => format!("missing {h} header"),
            SipViolation::DuplicateHeader(h) => format!("duplicate {h} header"),
            SipViolation::BadContentLength(v) => format!("bad Content-Length {v}"),
            SipViolation::BadCseq(v) => format!("bad CSeq {v}"),
            SipViolation::CseqMethodMismatch { method, cseq } => {
                format!("CSeq method {cseq} does not match request method {method}")
            }
            SipViolation::UnknownMethod(m) => format!("method {m} not implemented"),
            SipViolation::UnsupportedScheme(s) => format!("URI scheme {s} not supported"),
            SipViolation::BadRequestUri(why) => format!("bad Request-URI: {why}"),
            SipViolation::TooManyHops => "Max-Forwards is 0".into(),
            SipViolation::BadExtension(tags) => {
                format!("unsupported extensions {}", tags.join(", "))
            }
            SipViolation::UnsupportedMediaType(t) => format!("body type {t} not supported"),
            SipViolation::NotAcceptable => "Accept must include application/sdp".into(),
            SipViolation::BadHeaderValue(h, why) => format!("bad {h} header: {why}"),
        }
    }

    /// Every value of [`SipViolation::label`] (the series registered at start).
    pub const LABELS: &'static [&'static str] = &[
        "too_large",
        "uri_too_long",
        "start_line",
        "version",
        "method",
        "header_line",
        "no_end_of_headers",
        "missing_header",
        "duplicate_header",
        "content_length",
        "cseq_number",
        "cseq_method",
        "unknown_method",
        "uri_scheme",
        "request_uri",
        "max_forwards",
        "require",
        "content_type",
        "accept",
        "header_value",
    ];

    /// Metric label (`vpbx_sip_violations_total{kind}`).
    pub fn label(&self) -> &'static str {
        match self {
            SipViolation::TooLarge(_) => "too_large",
            SipViolation::UriTooLong(_) => "uri_too_long",
            SipViolation::MalformedStartLine => "start_line",
            SipViolation::VersionNotSupported(_) => "version",
            SipViolation::BadMethod => "method",
            SipViolation::MalformedHeader(_) => "header_line",
            SipViolation::NoEndOfHeaders => "no_end_of_headers",
            SipViolation::MissingHeader(_) => "missing_header",
            SipViolation::DuplicateHeader(_) => "duplicate_header",
            SipViolation::BadContentLength(_) => "content_length",
            SipViolation::BadCseq(_) => "cseq_number",
            SipViolation::CseqMethodMismatch { .. } => "cseq_method",
            SipViolation::UnknownMethod(_) => "unknown_method",
            SipViolation::UnsupportedScheme(_) => "uri_scheme",
            SipViolation::BadRequestUri(_) => "request_uri",
            SipViolation::TooManyHops => "max_forwards",
            SipViolation::BadExtension(_) => "require",
            SipViolation::UnsupportedMediaType(_) => "content_type",
            SipViolation::NotAcceptable => "accept",
            SipViolation::BadHeaderValue(_, _) => "header_value",
        }
    }

    /// Headers the answer carries besides the copied ones.
    fn extra_headers(&self) -> Vec<String> {
        match self {
            SipViolation::UnknownMethod(_) => vec![format!("Allow: {ALLOW}")],
            SipViolation::BadExtension(tags) => vec![format!("Unsupported: {}", tags.join(", "))],
            SipViolation::UnsupportedMediaType(_) | SipViolation::NotAcceptable => {
                vec!["Accept: application/sdp".into()]
            }
            _ => Vec::new(),
        }
    }
}

/// Why a message is dropped without an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Drop {
    /// Only whitespace.
    Empty,
    /// A known scanner's User-Agent.
    Scanner,
    /// A response that breaks the grammar (bad status code, overlarge numbers, missing headers).
    BadResponse(String),
    /// A request we cannot answer (no Via, or an ACK) with this fault.
    Unanswerable(SipViolation),
}

impl Drop {
    /// Metric label (`vpbx_sip_dropped_total{reason}`).
    pub fn label(&self) -> &'static str {
        match self {
            Drop::Empty => "empty",
            Drop::Scanner => "scanner",
            Drop::BadResponse(_) => "bad_response",
            Drop::Unanswerable(_) => "unanswerable",
        }
    }
}

/// What to do with a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Hand these bytes to the stack (trailing octets after the body are cut off, RFC 3261 §18.3).
    Pass(Range<usize>),
    /// Answer with this fault ([`error_response`]).
    Reject(SipViolation),
    /// Say nothing.
    Drop(Drop),
}

/// How the message arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// One UDP datagram: the body is the rest of the datagram (Content-Length optional); `limit`
    /// is the largest message the stack can take.
    Datagram {
        /// Largest accepted message in bytes.
        limit: usize,
    },
    /// One message framed by Content-Length on a stream (already cut to its length).
    Stream,
}

/// One header: long lower-case name, value unfolded and trimmed.
#[derive(Debug, Clone)]
struct Header {
    name: String,
    raw_name: String,
    value: String,
}

/// A message's head, parsed leniently: every well-formed header line is kept and the first
/// malformed one is remembered.
struct Head {
    start: String,
    headers: Vec<Header>,
    error: Option<SipViolation>,
    /// Offset of the body, None if the header section never ended.
    body_at: Option<usize>,
}

impl Head {
    fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |h| h.name == name)
            .map(|h| h.value.as_str())
    }
    fn first<'a>(&'a self, name: &'a str) -> Option<&'a str> {
        self.all(name).next()
    }
    fn count(&self, name: &str) -> usize {
        self.all(name).count()
    }
}

/// Long lower-case name of a header (RFC 3261 §7.3.3 compact forms expanded).
pub fn canonical(name: &str) -> String {
    let lower = name.trim().to_ascii_lowercase();
    let long = match lower.as_str() {
        "i" => "call-id",
        "f" => "from",
        "t" => "to",
        "v" => "via",
        "l" => "content-length",
        "c" => "content-type",
        "m" => "contact",
        "k" => "supported",
        "s" => "subject",
        "e" => "content-encoding",
        "o" => "event",
        "r" => "refer-to",
        "u" => "allow-events",
        _ => return lower,
    };
    long.into()
}

fn is_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-.!%*_+`'~".contains(c)
}

fn is_token(s: &str) -> bool {
    !s.is_empty() && s.chars().all(is_token_char)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Skips CRLFs before the start line (RFC 3261 §7.5).
fn leading_crlf(raw: &[u8]) -> usize {
    let mut i = 0;
    while raw.len() >= i + 2 && &raw[i..i + 2] == b"\r\n" {
        i += 2;
    }
    i
}

fn parse_head(raw: &[u8]) -> Head {
    let (head_bytes, body_at) = match find(raw, b"\r\n\r\n") {
        Some(i) => (&raw[..i], Some(i + 4)),
        None => {
            let mut end = raw.len();
            while end >= 2 && &raw[end - 2..end] == b"\r\n" {
                end -= 2;
            }
            (&raw[..end], None)
        }
    };
    let mut error = None;
    let text = match std::str::from_utf8(head_bytes) {
        Ok(t) => std::borrow::Cow::Borrowed(t),
        Err(_) => {
            error = Some(SipViolation::MalformedHeader("not UTF-8".into()));
            String::from_utf8_lossy(head_bytes)
        }
    };
    let mut lines = text.split("\r\n");
    let start = lines.next().unwrap_or_default().to_string();
    let mut headers: Vec<Header> = Vec::new();
    let note = |e: SipViolation, error: &mut Option<SipViolation>| {
        if error.is_none() {
            *error = Some(e);
        }
    };
    let mut last_ok = false;
    for line in lines {
        if line.contains(['\r', '\n']) {
            note(
                SipViolation::MalformedHeader("stray CR or LF".into()),
                &mut error,
            );
            last_ok = false;
            continue;
        }
        if line.starts_with([' ', '\t']) {
            match headers.last_mut() {
                Some(h) if last_ok => {
                    let more = line.trim();
                    if !more.is_empty() {
                        if !h.value.is_empty() {
                            h.value.push(' ');
                        }
                        h.value.push_str(more);
                    }
                }
                _ => note(
                    SipViolation::MalformedHeader("continuation without a header".into()),
                    &mut error,
                ),
            }
            continue;
        }
        let Some((name, value)) = line.split_once(':') else {
            note(SipViolation::MalformedHeader(clip(line)), &mut error);
            last_ok = false;
            continue;
        };
        let name = name.trim_end_matches([' ', '\t']);
        if !is_token(name) {
            note(SipViolation::MalformedHeader(clip(line)), &mut error);
            last_ok = false;
            continue;
        }
        headers.push(Header {
            name: canonical(name),
            raw_name: name.to_string(),
            value: value.trim().to_string(),
        });
        last_ok = true;
    }
    Head {
        start,
        headers,
        error,
        body_at,
    }
}

fn clip(s: &str) -> String {
    s.chars().take(40).collect()
}

/// Splits at `sep` outside quoted strings and `<...>`.
fn split_top(s: &str, sep: char) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut quoted, mut escaped, mut start) = (0i32, false, false, 0usize);
    for (i, c) in s.char_indices() {
        if quoted {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                quoted = false;
            }
            continue;
        }
        match c {
            '"' => quoted = true,
            '<' => depth += 1,
            '>' => depth -= 1,
            c if c == sep && depth <= 0 => {
                out.push(&s[start..i]);
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

/// Byte offset of the first `c` outside quoted strings.
fn find_unquoted(s: &str, target: char) -> Option<usize> {
    let (mut quoted, mut escaped) = (false, false);
    for (i, c) in s.char_indices() {
        if quoted {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                quoted = false;
            }
        } else if c == '"' {
            quoted = true;
        } else if c == target {
            return Some(i);
        }
    }
    None
}

/// True if every quoted string in `s` is closed.
fn quotes_balanced(s: &str) -> bool {
    let (mut quoted, mut escaped) = (false, false);
    for c in s.chars() {
        if quoted {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                quoted = false;
            }
        } else if c == '"' {
            quoted = true;
        }
    }
    !quoted
}

/// Header parameters of a name-addr / addr-spec value (`tag`, `expires`...), or an error.
fn addr_params(value: &str) -> Result<Vec<(String, String)>, &'static str> {
    if !quotes_balanced(value) {
        return Err("unbalanced quotes");
    }
    let rest = match (find_unquoted(value, '<'), value.rfind('>')) {
        (Some(a), Some(b)) if a < b => {
            let uri = &value[a + 1..b];
            if uri.trim() != uri || uri.is_empty() {
                return Err("whitespace inside <>");
            }
            &value[b + 1..]
        }
        (Some(_), _) | (None, Some(_)) => return Err("unbalanced angle brackets"),
        (None, None) => {
            // RFC 3261 §20: a URI with a comma, semicolon or question mark needs <>; the
            // semicolon starts header parameters, so only `?` and `,` are errors here.
            let uri = value.split(';').next().unwrap_or_default();
            if uri.contains(['?', ',']) {
                return Err("a URI with headers needs <>");
            }
            value
        }
    };
    let parts = split_top(rest, ';');
    let mut out = Vec::new();
    for p in parts.iter().skip(1) {
        let p = p.trim();
        if p.is_empty() {
            return Err("empty parameter");
        }
        let (k, v) = p.split_once('=').unwrap_or((p, ""));
        out.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
    }
    Ok(out)
}

/// The URI of a name-addr / addr-spec value.
fn addr_uri(value: &str) -> &str {
    match (find_unquoted(value, '<'), value.rfind('>')) {
        (Some(a), Some(b)) if a < b => value[a + 1..b].trim(),
        _ => value.split(';').next().unwrap_or_default().trim(),
    }
}

fn check_via(value: &str) -> Result<(), &'static str> {
    for item in split_top(value, ',') {
        let item = item.trim();
        if item.is_empty() {
            return Err("empty value");
        }
        let mut parts = split_top(item, ';').into_iter();
        let proto = parts.next().unwrap_or_default();
        let words: Vec<&str> = proto.split_whitespace().collect();
        let Some((sent_by, protocol)) = words.split_last() else {
            return Err("no sent-by");
        };
        let protocol: String = protocol.concat();
        let mut fields = protocol.split('/');
        let (name, version, transport) = (fields.next(), fields.next(), fields.next());
        if !name.is_some_and(|n| n.eq_ignore_ascii_case("SIP"))
            || version != Some("2.0")
            || !transport.is_some_and(is_token)
            || fields.next().is_some()
        {
            return Err("bad sent-protocol");
        }
        if sent_by.is_empty() || sent_by.contains(['<', '>', '"']) {
            return Err("bad sent-by");
        }
        for p in parts {
            if p.trim().is_empty() {
                return Err("empty parameter");
            }
        }
    }
    Ok(())
}

/// Checks the Request-URI's scheme and shape.
fn check_request_uri(uri: &str) -> Result<(), SipViolation> {
    let Some((scheme, rest)) = uri.split_once(':') else {
        return Err(SipViolation::BadRequestUri("no scheme"));
    };
    let valid_scheme = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
    if !valid_scheme {
        return Err(SipViolation::BadRequestUri("bad scheme"));
    }
    let scheme = scheme.to_ascii_lowercase();
    if scheme == "tel" {
        return if rest.is_empty() {
            Err(SipViolation::BadRequestUri("empty tel URI"))
        } else {
            Ok(())
        };
    }
    if scheme != "sip" && scheme != "sips" {
        return Err(SipViolation::UnsupportedScheme(scheme));
    }
    if uri.contains(['<', '>', '"']) {
        return Err(SipViolation::BadRequestUri("illegal character"));
    }
    let hostport = match rest.rfind('@') {
        Some(i) => &rest[i + 1..],
        None => rest,
    };
    if hostport.contains('?') {
        return Err(SipViolation::BadRequestUri(
            "headers are not allowed in a Request-URI",
        ));
    }
    let host = hostport.split(';').next().unwrap_or_default();
    if host.is_empty() {
        return Err(SipViolation::BadRequestUri("no host"));
    }
    if let Some(v6) = host.strip_prefix('[') {
        let Some((addr, after)) = v6.split_once(']') else {
            return Err(SipViolation::BadRequestUri("unclosed IPv6 reference"));
        };
        if addr.is_empty()
            || !addr
                .chars()
                .all(|c| c.is_ascii_hexdigit() || ":.".contains(c))
        {
            return Err(SipViolation::BadRequestUri("bad IPv6 reference"));
        }
        if !(after.is_empty() || after.strip_prefix(':').is_some_and(is_port)) {
            return Err(SipViolation::BadRequestUri("bad port"));
        }
    } else {
        let (name, port) = match host.split_once(':') {
            Some((n, p)) => (n, Some(p)),
            None => (host, None),
        };
        if port.is_some_and(|p| !is_port(p)) {
            return Err(SipViolation::BadRequestUri(
                "bad port (an IPv6 address needs [])",
            ));
        }
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-._".contains(c))
        {
            return Err(SipViolation::BadRequestUri("bad host"));
        }
    }
    Ok(())
}

fn is_port(p: &str) -> bool {
    !p.is_empty() && p.len() <= 5 && p.chars().all(|c| c.is_ascii_digit())
}

/// Parses a Content-Length value: digits only.
fn content_length(v: &str) -> Result<usize, SipViolation> {
    let v = v.trim();
    if v.is_empty() || !v.chars().all(|c| c.is_ascii_digit()) {
        return Err(SipViolation::BadContentLength(clip(v)));
    }
    v.parse::<usize>()
        .map_err(|_| SipViolation::BadContentLength(clip(v)))
}

/// The part of a CSeq value: `(number, method)`.
fn cseq(v: &str) -> Result<(u32, &str), SipViolation> {
    let mut parts = v.split_whitespace();
    let (Some(num), Some(method), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err(SipViolation::BadCseq(clip(v)));
    };
    if !num.chars().all(|c| c.is_ascii_digit()) {
        return Err(SipViolation::BadCseq(clip(num)));
    }
    let n = num
        .parse::<u32>()
        .map_err(|_| SipViolation::BadCseq(clip(num)))?;
    Ok((n, method))
}

fn is_scanner(head: &Head) -> bool {
    head.all("user-agent").any(|ua| {
        let ua = ua.to_ascii_lowercase();
        SCANNERS.iter().any(|s| ua.contains(s)) || ua.starts_with("smap")
    })
}

const REQUIRED: [(&str, &str); 5] = [
    ("via", "Via"),
    ("from", "From"),
    ("to", "To"),
    ("call-id", "Call-ID"),
    ("cseq", "CSeq"),
];
const SINGLE: [(&str, &str); 7] = [
    ("from", "From"),
    ("to", "To"),
    ("call-id", "Call-ID"),
    ("cseq", "CSeq"),
    ("max-forwards", "Max-Forwards"),
    ("content-length", "Content-Length"),
    ("content-type", "Content-Type"),
];

/// The body's range: from the header end to Content-Length (checked against what arrived).
fn body_range(
    raw_len: usize,
    head: &Head,
    framing: Framing,
) -> Result<Option<Range<usize>>, SipViolation> {
    let Some(body_at) = head.body_at else {
        return Ok(None);
    };
    let present = raw_len.saturating_sub(body_at);
    let len = match head.first("content-length") {
        Some(v) => content_length(v)?,
        None => match framing {
            Framing::Datagram { .. } => present,
            Framing::Stream => return Err(SipViolation::MissingHeader("Content-Length")),
        },
    };
    if len > present {
        return Err(SipViolation::BadContentLength(format!(
            "{len} but only {present} bytes arrived"
        )));
    }
    Ok(Some(body_at..body_at + len))
}

/// Decides what to do with one message (`raw` is one datagram, or one framed stream message).
pub fn check(raw: &[u8], framing: Framing) -> Verdict {
    check_head(raw, framing).0
}

/// [`check`], and for a message that passes, its [`normalize`]d form (the part of `raw` in the
/// verdict's range) built from the same parse of its head: the receive path's one call per
/// message, where `check` then `normalize` parsed each head twice.
pub fn screen(raw: &[u8], framing: Framing) -> (Verdict, Option<Vec<u8>>) {
    let (verdict, head) = check_head(raw, framing);
    let Verdict::Pass(range) = &verdict else {
        return (verdict, None);
    };
    let msg = &raw[range.clone()];
    let clean = match head {
        // The head parsed by `check` ends inside the range, so it is the range's own head.
        Some(head) if head.body_at.is_some_and(|b| b <= msg.len()) => normalize_head(msg, &head),
        _ => normalize(msg),
    };
    (verdict, Some(clean))
}

/// [`check`], with the head it parsed (none for a blank message). The head is that of
/// `raw` after its leading CRLFs, which a passing message's range also starts after.
fn check_head(raw: &[u8], framing: Framing) -> (Verdict, Option<Head>) {
    let skip = leading_crlf(raw);
    let msg = &raw[skip..];
    if msg.iter().all(|b| b.is_ascii_whitespace()) {
        // `\r\n\r\n` is a keepalive the stack answers; anything else blank is noise.
        let verdict = if raw == b"\r\n\r\n" {
            Verdict::Pass(0..raw.len())
        } else {
            Verdict::Drop(Drop::Empty)
        };
        return (verdict, None);
    }
    let head = parse_head(msg);
    if is_scanner(&head) {
        return (Verdict::Drop(Drop::Scanner), Some(head));
    }
    if head.start.starts_with("SIP/") {
        let verdict = match check_response(msg, &head, framing) {
            Ok(end) => Verdict::Pass(skip..skip + end),
            Err(why) => Verdict::Drop(Drop::BadResponse(why)),
        };
        return (verdict, Some(head));
    }
    let method = head.start.split(' ').next().unwrap_or_default();
    let answerable = head.count("via") > 0 && method != "ACK";
    let verdict = match check_request(msg, &head, framing) {
        Ok(end) => Verdict::Pass(skip..skip + end),
        Err(v) if answerable => Verdict::Reject(v),
        Err(v) => Verdict::Drop(Drop::Unanswerable(v)),
    };
    (verdict, Some(head))
}

fn check_response(msg: &[u8], head: &Head, framing: Framing) -> Result<usize, String> {
    let mut parts = head.start.splitn(3, ' ');
    let (version, code) = (parts.next(), parts.next());
    if version != Some("SIP/2.0") {
        return Err("version".into());
    }
    let code = code.unwrap_or_default();
    if code.len() != 3 || !code.chars().all(|c| c.is_ascii_digit()) {
        return Err(format!("status code {}", clip(code)));
    }
    match code.parse::<u16>() {
        Ok(100..=699) => {}
        _ => return Err(format!("status code {code}")),
    }
    if let Some(e) = &head.error {
        return Err(e.reason());
    }
    for (name, label) in REQUIRED {
        if head.count(name) == 0 {
            return Err(format!("missing {label}"));
        }
    }
    for (name, label) in SINGLE {
        if head.count(name) > 1 {
            return Err(format!("duplicate {label}"));
        }
    }
    if let Some(v) = head.first("cseq") {
        cseq(v).map_err(|e| e.reason())?;
    }
    if let Some(limit) = datagram_limit(framing) {
        if msg.len() > limit {
            return Err("too large".into());
        }
    }
    match body_range(msg.len(), head, framing) {
        Ok(Some(r)) => Ok(r.end),
        Ok(None) => Err("no end of headers".into()),
        Err(e) => Err(e.reason()),
    }
}

fn datagram_limit(framing: Framing) -> Option<usize> {
    match framing {
        Framing::Datagram { limit } => Some(limit.min(MAX_MESSAGE)),
        Framing::Stream => None,
    }
}

fn check_request(msg: &[u8], head: &Head, framing: Framing) -> Result<usize, SipViolation> {
    let parts: Vec<&str> = head.start.split(' ').collect();
    let [method, uri, version] = parts[..] else {
        return Err(SipViolation::MalformedStartLine);
    };
    let limit = datagram_limit(framing).unwrap_or(MAX_MESSAGE);
    if msg.len() > limit {
        return Err(SipViolation::TooLarge(msg.len()));
    }
    if version != "SIP/2.0" {
        let looks_sip = version
            .strip_prefix("SIP/")
            .is_some_and(|v| !v.is_empty() && v.chars().all(|c| c.is_ascii_digit() || c == '.'));
        return Err(if looks_sip {
            SipViolation::VersionNotSupported(clip(version))
        } else {
            SipViolation::MalformedStartLine
        });
    }
    if uri.len() > MAX_REQUEST_URI {
        return Err(SipViolation::UriTooLong(uri.len()));
    }
    if !is_token(method) {
        return Err(SipViolation::BadMethod);
    }
    if let Some(e) = &head.error {
        return Err(e.clone());
    }
    if head.body_at.is_none() {
        return Err(SipViolation::NoEndOfHeaders);
    }
    for (name, label) in REQUIRED {
        if head.count(name) == 0 {
            return Err(SipViolation::MissingHeader(label));
        }
    }
    for (name, label) in SINGLE {
        if head.count(name) > 1 {
            return Err(SipViolation::DuplicateHeader(label));
        }
    }
    let body = body_range(msg.len(), head, framing)?.unwrap_or(msg.len()..msg.len());
    let (_, cseq_method) = cseq(head.first("cseq").unwrap_or_default())?;

    let to = head.first("to").unwrap_or_default();
    let to_params = addr_params(to).map_err(|why| SipViolation::BadHeaderValue("To", why))?;
    let in_dialog = to_params.iter().any(|(k, _)| k == "tag");
    let implemented = IMPLEMENTED.contains(&method);
    if !implemented && (!in_dialog || !STACK_METHODS.contains(&method)) {
        return Err(SipViolation::UnknownMethod(clip(method)));
    }
    if cseq_method != method {
        return Err(SipViolation::CseqMethodMismatch {
            method: clip(method),
            cseq: clip(cseq_method),
        });
    }
    check_request_uri(uri)?;

    for v in head.all("via") {
        check_via(v).map_err(|why| SipViolation::BadHeaderValue("Via", why))?;
    }
    addr_params(head.first("from").unwrap_or_default())
        .map_err(|why| SipViolation::BadHeaderValue("From", why))?;
    for v in head.all("contact") {
        if v == "*" {
            continue;
        }
        for c in split_top(v, ',') {
            if c.trim().is_empty() {
                return Err(SipViolation::BadHeaderValue("Contact", "empty value"));
            }
            addr_params(c).map_err(|why| SipViolation::BadHeaderValue("Contact", why))?;
        }
    }
    if method == "REGISTER" {
        let scheme = addr_uri(to)
            .split(':')
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase();
        if scheme != "sip" && scheme != "sips" {
            return Err(SipViolation::BadHeaderValue(
                "To",
                "a registration needs a SIP or SIPS address",
            ));
        }
    }
    if let Some(mf) = head.first("max-forwards") {
        // A malformed Max-Forwards is treated as absent (RFC 4475 §3.1.2.5).
        let zero = !mf.is_empty() && mf.chars().all(|c| c == '0');
        // We answer OPTIONS, REGISTER and in-dialog requests ourselves; a new INVITE may be
        // bridged onward (B2BUA), so it gets loop protection.
        if zero && method == "INVITE" && !in_dialog {
            return Err(SipViolation::TooManyHops);
        }
    }
    if method != "ACK" && method != "CANCEL" {
        let tags: Vec<String> = head
            .all("require")
            .chain(head.all("proxy-require"))
            .flat_map(|v| v.split(','))
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty())
            .collect();
        if !tags.is_empty() {
            return Err(SipViolation::BadExtension(tags));
        }
    }
    if method == "INVITE" {
        if !body.is_empty() {
            let ctype = head.first("content-type").unwrap_or_default();
            let media = ctype
                .split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase();
            if media != "application/sdp" {
                return Err(SipViolation::UnsupportedMediaType(clip(&media)));
            }
        }
        let accepts: Vec<String> = head
            .all("accept")
            .flat_map(|v| v.split(','))
            .map(|t| {
                t.split(';')
                    .next()
                    .unwrap_or_default()
                    .trim()
                    .to_ascii_lowercase()
            })
            .filter(|t| !t.is_empty())
            .collect();
        let sdp_ok = accepts.is_empty()
            || accepts
                .iter()
                .any(|t| t == "application/sdp" || t == "application/*" || t == "*/*");
        if !sdp_ok {
            return Err(SipViolation::NotAcceptable);
        }
    }
    Ok(body.end)
}

/// The error response to a rejected request, built from its raw bytes: every Via, From, To
/// (with `to_tag` added if it has none), Call-ID, CSeq, then the fault's own headers, a
/// `Warning: 399` naming the problem, `Server` and `Content-Length: 0`. None if the request has
/// no Via (nothing can route an answer).
pub fn error_response(raw: &[u8], v: &SipViolation, to_tag: &str, server: &str) -> Option<Vec<u8>> {
    let answer = Stateless {
        status: v.status(),
        phrase: v.phrase(),
        extra: v.extra_headers(),
        warning: v.reason(),
    };
    answer.to(raw, to_tag, server)
}

/// A final response the gate sends without a transaction.
pub struct Stateless<'a> {
    /// Status code.
    pub status: u16,
    /// Reason phrase.
    pub phrase: &'a str,
    /// Extra header lines, without CRLF.
    pub extra: Vec<String>,
    /// Text of the `Warning: 399 vpbx "…"` header.
    pub warning: String,
}

impl Stateless<'_> {
    /// The response to the request `raw` (its Via, From, To with our tag, Call-ID and CSeq);
    /// `None` when it has no Via to send it along.
    pub fn to(&self, raw: &[u8], to_tag: &str, server: &str) -> Option<Vec<u8>> {
        let skip = leading_crlf(raw);
        let head = parse_head(&raw[skip..]);
        if head.count("via") == 0 {
            return None;
        }
        let mut out = format!("SIP/2.0 {} {}\r\n", self.status, self.phrase);
        for via in head.all("via") {
            out.push_str(&format!("Via: {via}\r\n"));
        }
        if let Some(f) = head.first("from") {
            out.push_str(&format!("From: {f}\r\n"));
        }
        if let Some(t) = head.first("to") {
            let tagged = addr_params(t)
                .map(|ps| ps.iter().any(|(k, _)| k == "tag"))
                .unwrap_or(true);
            if tagged {
                out.push_str(&format!("To: {t}\r\n"));
            } else {
                out.push_str(&format!("To: {t};tag={to_tag}\r\n"));
            }
        }
        if let Some(c) = head.first("call-id") {
            out.push_str(&format!("Call-ID: {c}\r\n"));
        }
        if let Some(c) = head.first("cseq") {
            out.push_str(&format!("CSeq: {c}\r\n"));
        }
        for h in &self.extra {
            out.push_str(h);
            out.push_str("\r\n");
        }
        let warning: String = self
            .warning
            .chars()
            .map(|c| if c == '"' || c.is_control() { '\'' } else { c })
            .collect();
        out.push_str(&format!("Warning: 399 vpbx \"{warning}\"\r\n"));
        out.push_str(&format!("Server: {server}\r\nContent-Length: 0\r\n\r\n"));
        Some(out.into_bytes())
    }
}

/// Rewrites a message that passed [`check`] into the plain form the stack parses reliably:
/// folded lines joined, no whitespace around `;`, `=`, `,` and `/` in Via, From, To, Contact,
/// Route, Record-Route and CSeq, the RFC 5118 §4.10 three-colon IPv6 form read as two colons,
/// and RFC 2543 requests (no From tag, no Via branch) given deterministic ones derived from the
/// request, so retransmissions map to the same transaction (RFC 3261 §17.2.3's fallback).
pub fn normalize(msg: &[u8]) -> Vec<u8> {
    if msg.iter().all(|b| b.is_ascii_whitespace()) {
        return msg.to_vec();
    }
    let skip = leading_crlf(msg);
    let msg = &msg[skip..];
    normalize_head(msg, &parse_head(msg))
}

/// [`normalize`] of `msg` (no leading CRLFs) whose head is `head`.
fn normalize_head(msg: &[u8], head: &Head) -> Vec<u8> {
    let body = head
        .body_at
        .map(|b| &msg[b.min(msg.len())..])
        .unwrap_or(&[]);
    let mut out = fix_ipv6(&head.start);
    out.push_str("\r\n");
    let call_id = head.first("call-id").unwrap_or_default();
    let mut first_via = true;
    for h in &head.headers {
        let mut value = match h.name.as_str() {
            "via" | "from" | "to" | "contact" | "route" | "record-route" => {
                fix_ipv6(&tighten(&h.value))
            }
            "cseq" => h.value.split_whitespace().collect::<Vec<_>>().join(" "),
            _ => h.value.clone(),
        };
        if h.name == "from"
            && !addr_params(&value).is_ok_and(|ps| ps.iter().any(|(k, _)| k == "tag"))
        {
            value = format!("{value};tag=2543-{:016x}", fnv(&[call_id, &h.value]));
        }
        if h.name == "via" && first_via {
            first_via = false;
            let top = split_top(&value, ',');
            let first = top.first().copied().unwrap_or_default();
            let has_branch = split_top(first, ';')
                .iter()
                .skip(1)
                .any(|p| p.trim().to_ascii_lowercase().starts_with("branch="));
            if !has_branch {
                let cseq_num = head
                    .first("cseq")
                    .and_then(|c| c.split_whitespace().next())
                    .unwrap_or_default();
                let from = head.first("from").unwrap_or_default();
                let branch = format!("z9hG4bK2543{:016x}", fnv(&[call_id, cseq_num, from, first]));
                let rest = &value[first.len()..];
                value = format!("{first};branch={branch}{rest}");
            }
        }
        out.push_str(&h.raw_name);
        out.push_str(": ");
        out.push_str(&value);
        out.push_str("\r\n");
    }
    out.push_str("\r\n");
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

/// FNV-1a over the parts (with separators): stable across runs and builds.
fn fnv(parts: &[&str]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for p in parts {
        for b in p.bytes().chain(std::iter::once(0u8)) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

/// Drops whitespace next to `;`, `=`, `,`, `/` and collapses other runs, outside quoted strings
/// and `<...>`.
fn tighten(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    let (mut quoted, mut escaped, mut depth) = (false, false, 0i32);
    let mut pending_space = false;
    for c in v.chars() {
        if quoted {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                quoted = false;
            }
            continue;
        }
        if depth > 0 {
            if c == '>' {
                depth -= 1;
            }
            out.push(c);
            continue;
        }
        if c == ' ' || c == '\t' {
            pending_space = true;
            continue;
        }
        let sticky = matches!(c, ';' | '=' | ',' | '/');
        if pending_space && !sticky && !out.is_empty() && !out.ends_with([';', '=', ',', '/']) {
            out.push(' ');
        }
        pending_space = false;
        match c {
            '"' => quoted = true,
            '<' => depth += 1,
            _ => {}
        }
        out.push(c);
    }
    out
}

/// RFC 5118 §4.10: `[2001:db8:::192.0.2.1]` is read as `[2001:db8::192.0.2.1]`.
fn fix_ipv6(s: &str) -> String {
    if !s.contains(":::") {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(open) = rest.find('[') {
        out.push_str(&rest[..open]);
        let after = &rest[open..];
        match after.find(']') {
            Some(close) => {
                out.push_str(&after[..=close].replace(":::", "::"));
                rest = &after[close + 1..];
            }
            None => {
                out.push_str(after);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

/// Stream framing: the length of the first complete message in `buf`, after any leading CRLFs
/// (keepalives). `Ok(None)`: need more bytes. `Err`: the stream cannot be framed (no or bad
/// Content-Length, or a head larger than [`MAX_MESSAGE`]); close the connection.
pub fn frame(buf: &[u8]) -> Result<Option<(Range<usize>, usize)>, SipViolation> {
    let skip = leading_crlf(buf);
    let rest = &buf[skip..];
    let Some(end) = find(rest, b"\r\n\r\n") else {
        if rest.len() > MAX_MESSAGE {
            return Err(SipViolation::TooLarge(rest.len()));
        }
        return Ok(None);
    };
    let head = parse_head(&rest[..end + 4]);
    let lengths: Vec<&str> = head.all("content-length").collect();
    let len = match lengths[..] {
        [] => return Err(SipViolation::MissingHeader("Content-Length")),
        [one] => content_length(one)?,
        _ => return Err(SipViolation::DuplicateHeader("Content-Length")),
    };
    let total = end + 4 + len;
    if total > MAX_MESSAGE {
        return Err(SipViolation::TooLarge(total));
    }
    if rest.len() < total {
        return Ok(None);
    }
    Ok(Some((skip..skip + total, skip + total)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const UDP: Framing = Framing::Datagram { limit: 65535 };

    fn req(method: &str, extra: &str, body: &str) -> Vec<u8> {
        format!(
            "{method} sip:101@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1\r\n\
             From: <sip:a@x>;tag=1\r\nTo: <sip:101@x>\r\nCall-ID: c1\r\nCSeq: 1 {method}\r\n\
             Max-Forwards: 70\r\n{extra}Content-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .into_bytes()
    }

    fn verdict(raw: &[u8]) -> Verdict {
        check(raw, UDP)
    }

    fn status(raw: &[u8]) -> u16 {
        match verdict(raw) {
            Verdict::Reject(v) => v.status(),
            other => panic!("expected a rejection, got {other:?}"),
        }
    }

    #[test]
    fn good_requests_pass_whole() {
        for m in IMPLEMENTED {
            let r = req(m, "", "");
            assert_eq!(verdict(&r), Verdict::Pass(0..r.len()), "{m}");
        }
        let sdp = "v=0\r\n";
        let r = req("INVITE", "Content-Type: application/sdp\r\n", sdp);
        assert_eq!(verdict(&r), Verdict::Pass(0..r.len()));
    }

    #[test]
    fn trailing_octets_are_cut_off() {
        let mut r = req("OPTIONS", "", "");
        let n = r.len();
        r.extend_from_slice(b"INVITE sip:x SIP/2.0\r\n\r\n");
        assert_eq!(verdict(&r), Verdict::Pass(0..n));
    }

    #[test]
    fn faults_get_their_status() {
        assert_eq!(status(&req("FOO", "", "")), 501);
        let r = String::from_utf8(req("OPTIONS", "", "")).unwrap();
        assert_eq!(
            status(r.replace("SIP/2.0\r\n", "SIP/7.0\r\n").as_bytes()),
            505
        );
        assert_eq!(status(r.replace("1 OPTIONS", "1 INVITE").as_bytes()), 400);
        assert_eq!(status(r.replace("sip:101", "mailto:101").as_bytes()), 416);
        assert_eq!(status(r.replace("Length: 0", "Length: 10").as_bytes()), 400);
        assert_eq!(status(r.replace("Length: 0", "Length: -1").as_bytes()), 400);
        let long = format!("sip:{}@example.com", "1".repeat(600));
        assert_eq!(
            status(r.replace("sip:101@example.com", &long).as_bytes()),
            414
        );
        let big = req("OPTIONS", &format!("X-Pad: {}\r\n", "a".repeat(17000)), "");
        assert_eq!(status(&big), 413);
        assert_eq!(status(&req("OPTIONS", "Require: foo\r\n", "")), 420);
        assert_eq!(
            status(&req("INVITE", "Content-Type: text/plain\r\n", "hello")),
            415
        );
        assert_eq!(status(&req("INVITE", "Accept: text/plain\r\n", "")), 406);
        let mf0 = String::from_utf8(req("INVITE", "", "")).unwrap();
        assert_eq!(
            status(mf0.replace("Forwards: 70", "Forwards: 0").as_bytes()),
            483
        );
        assert_eq!(status(&req("OPTIONS", "Call-ID: again\r\n", "")), 400);
    }

    #[test]
    fn zero_max_forwards_options_is_answered_by_us() {
        let r = String::from_utf8(req("OPTIONS", "", "")).unwrap();
        let r = r.replace("Forwards: 70", "Forwards: 0");
        assert!(matches!(verdict(r.as_bytes()), Verdict::Pass(_)));
    }

    #[test]
    fn responses_with_bad_codes_are_dropped() {
        let r = b"SIP/2.0 4294967301 x\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: 1\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n";
        assert!(matches!(verdict(r), Verdict::Drop(Drop::BadResponse(_))));
    }

    #[test]
    fn scanners_are_dropped() {
        let r = req("OPTIONS", "User-Agent: friendly-scanner\r\n", "");
        assert_eq!(verdict(&r), Verdict::Drop(Drop::Scanner));
    }

    #[test]
    fn error_responses_copy_the_transaction_headers() {
        let r = req("FOO", "", "");
        let v = SipViolation::UnknownMethod("FOO".into());
        let out = String::from_utf8(error_response(&r, &v, "xyz", "vpbx").unwrap()).unwrap();
        assert!(out.starts_with("SIP/2.0 501 Not Implemented\r\n"), "{out}");
        assert!(out.contains("To: <sip:101@x>;tag=xyz\r\n"), "{out}");
        assert!(out.contains(&format!("Allow: {ALLOW}\r\n")));
        assert!(out.contains("CSeq: 1 FOO\r\n"));
        assert!(out.ends_with("Content-Length: 0\r\n\r\n"));
    }

    #[test]
    fn normalize_tightens_and_fills_in_rfc2543_fields() {
        let raw =
            b"INVITE sip:a@[2001:db8:::1] SIP/2.0\r\nVia: SIP / 2.0 /UDP\r\n  h.example.com\r\n\
            From: \"J \\\"x\\\" \" <sip:a@b> ; tag = 9\r\nTo: sip:c@d\r\nCall-ID: 1\r\n\
            cseq: 0009\r\n  INVITE\r\nl: 3\r\n\r\nabc";
        let out = String::from_utf8(normalize(raw)).unwrap();
        assert!(
            out.starts_with("INVITE sip:a@[2001:db8::1] SIP/2.0\r\n"),
            "{out}"
        );
        assert!(
            out.contains("Via: SIP/2.0/UDP h.example.com;branch=z9hG4bK2543"),
            "{out}"
        );
        assert!(
            out.contains("From: \"J \\\"x\\\" \" <sip:a@b>;tag=9\r\n"),
            "{out}"
        );
        assert!(out.contains("cseq: 0009 INVITE\r\n"), "{out}");
        assert!(out.ends_with("\r\n\r\nabc"), "{out}");
        let again = normalize(raw);
        assert_eq!(out.as_bytes(), &again[..], "deterministic");
        let no_tag = b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@b>\r\nTo: <sip:a@b>\r\nCall-ID: x\r\nCSeq: 1 OPTIONS\r\n\r\n";
        let out = String::from_utf8(normalize(no_tag)).unwrap();
        assert!(out.contains("From: <sip:a@b>;tag=2543-"), "{out}");
    }

    #[test]
    fn stream_framing() {
        let r = req("OPTIONS", "", "");
        assert_eq!(frame(&r[..10]), Ok(None));
        let mut two = b"\r\n\r\n".to_vec();
        two.extend_from_slice(&r);
        two.extend_from_slice(&r);
        assert_eq!(frame(&two), Ok(Some((4..4 + r.len(), 4 + r.len()))));
        let bad = String::from_utf8(r.clone())
            .unwrap()
            .replace("Length: 0", "Length: x");
        assert!(frame(bad.as_bytes()).is_err());
    }

    /// Seeded random and mutated inputs never panic the gate or the framer.
    #[test]
    fn random_inputs_never_panic() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(4475);
        let seeds: Vec<Vec<u8>> = vec![
            req("INVITE", "Content-Type: application/sdp\r\n", "v=0\r\n"),
            req("REGISTER", "Contact: <sip:a@b>;expires=60\r\n", ""),
            b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h\r\n\r\n".to_vec(),
        ];
        let alphabet = b" \r\n:;,<>\"\\@[]=0123456789SIPVIAsipINVITE/%\t\x00\xff";
        for i in 0..10_000 {
            let mut m = seeds[i % seeds.len()].clone();
            let edits = rng.gen_range(1..8);
            for _ in 0..edits {
                match rng.gen_range(0..4) {
                    0 if !m.is_empty() => {
                        let at = rng.gen_range(0..m.len());
                        m[at] = alphabet[rng.gen_range(0..alphabet.len())];
                    }
                    1 => {
                        let at = rng.gen_range(0..=m.len());
                        m.insert(at, alphabet[rng.gen_range(0..alphabet.len())]);
                    }
                    2 if !m.is_empty() => {
                        let at = rng.gen_range(0..m.len());
                        m.remove(at);
                    }
                    _ => {
                        let n = rng.gen_range(0..64);
                        m = (0..n).map(|_| rng.gen()).collect();
                    }
                }
            }
            match check(&m, UDP) {
                Verdict::Reject(v) => {
                    let _ = error_response(&m, &v, "t", "s");
                }
                Verdict::Pass(r) => {
                    let _ = normalize(&m[r]);
                }
                Verdict::Drop(_) => {}
            }
            assert_screen_is_check_then_normalize(&m, UDP);
            assert_screen_is_check_then_normalize(&m, Framing::Stream);
            let _ = frame(&m);
        }
    }

    /// `screen` reuses `check`'s parse of the head: it must give what `check` then
    /// `normalize` give.
    fn assert_screen_is_check_then_normalize(m: &[u8], framing: Framing) {
        let verdict = check(m, framing);
        let clean = match &verdict {
            Verdict::Pass(r) => Some(normalize(&m[r.clone()])),
            _ => None,
        };
        assert_eq!(
            screen(m, framing),
            (verdict, clean),
            "{}",
            String::from_utf8_lossy(m)
        );
    }

    #[test]
    fn screen_is_check_then_normalize_on_the_torture_messages() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop");
        let mut n = 0;
        for sub in ["rfc4475", "rfc5118"] {
            for entry in std::fs::read_dir(dir.join(sub)).unwrap() {
                let path = entry.unwrap().path();
                let name = path.file_name().unwrap().to_string_lossy().into_owned();
                if name != "README.md" && name != "SHA256SUMS" {
                    let m = std::fs::read(&path).unwrap();
                    assert_screen_is_check_then_normalize(&m, UDP);
                    assert_screen_is_check_then_normalize(&m, Framing::Stream);
                    n += 1;
                }
            }
        }
        assert!(n > 55, "only {n} torture messages found");
    }
}
