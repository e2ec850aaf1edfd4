//! The edge's own request validation. rsipstack parses leniently and is not a validator; before a
//! request reaches call logic we check what RFC 3261 requires of it and answer faults with a 4xx
//! (or 505) that names the problem.
//!
//! Pure: works on a plain view of the request, so it is testable and fuzzable without a stack.

/// A request's fault, with the response it earns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SipViolation {
    /// Not SIP/2.0.
    VersionNotSupported(String),
    /// A required header is missing.
    MissingHeader(&'static str),
    /// A header that must appear once appears more often.
    DuplicateHeader(&'static str),
    /// The CSeq method differs from the request method.
    CseqMethodMismatch {
        /// Request line method.
        method: String,
        /// CSeq method.
        cseq: String,
    },
    /// The CSeq number is not a 32-bit unsigned integer.
    BadCseq(String),
    /// Max-Forwards is not a number.
    BadMaxForwards(String),
}

impl SipViolation {
    /// The status code to answer with.
    pub fn status(&self) -> u16 {
        match self {
            SipViolation::VersionNotSupported(_) => 505,
            _ => 400,
        }
    }

    /// The reason phrase (specific, so the sender learns what is wrong).
    pub fn reason(&self) -> String {
        match self {
            SipViolation::VersionNotSupported(v) => format!("Version Not Supported ({v})"),
            SipViolation::MissingHeader(h) => format!("Missing {h} header"),
            SipViolation::DuplicateHeader(h) => format!("Duplicate {h} header"),
            SipViolation::CseqMethodMismatch { method, cseq } => {
                format!("CSeq method {cseq} does not match request method {method}")
            }
            SipViolation::BadCseq(v) => format!("Bad CSeq number {v}"),
            SipViolation::BadMaxForwards(v) => format!("Bad Max-Forwards {v}"),
        }
    }

    /// Metric label.
    pub fn label(&self) -> &'static str {
        match self {
            SipViolation::VersionNotSupported(_) => "version",
            SipViolation::MissingHeader(_) => "missing_header",
            SipViolation::DuplicateHeader(_) => "duplicate_header",
            SipViolation::CseqMethodMismatch { .. } => "cseq_method",
            SipViolation::BadCseq(_) => "cseq_number",
            SipViolation::BadMaxForwards(_) => "max_forwards",
        }
    }
}

/// A plain view of a request: method, version and headers as (name, value) text.
pub struct RequestView<'a> {
    /// Request-line method.
    pub method: &'a str,
    /// Request-line version, e.g. `SIP/2.0`.
    pub version: &'a str,
    /// Headers in order, names as received (long or compact form).
    pub headers: Vec<(String, String)>,
}

/// Long names of the compact header forms we check (RFC 3261 §7.3.3).
fn canonical(name: &str) -> String {
    let lower = name.trim().to_ascii_lowercase();
    match lower.as_str() {
        "i" => "call-id".into(),
        "f" => "from".into(),
        "t" => "to".into(),
        "v" => "via".into(),
        "l" => "content-length".into(),
        "c" => "content-type".into(),
        "m" => "contact".into(),
        _ => lower,
    }
}

/// Checks one request.
pub fn validate(req: &RequestView<'_>) -> Result<(), SipViolation> {
    if !req.version.eq_ignore_ascii_case("SIP/2.0") {
        return Err(SipViolation::VersionNotSupported(req.version.to_string()));
    }
    let count = |name: &str| {
        req.headers
            .iter()
            .filter(|(n, _)| canonical(n) == name)
            .count()
    };
    for (name, label) in [
        ("via", "Via"),
        ("from", "From"),
        ("to", "To"),
        ("call-id", "Call-ID"),
        ("cseq", "CSeq"),
    ] {
        if count(name) == 0 {
            return Err(SipViolation::MissingHeader(label));
        }
    }
    for (name, label) in [
        ("from", "From"),
        ("to", "To"),
        ("call-id", "Call-ID"),
        ("cseq", "CSeq"),
        ("max-forwards", "Max-Forwards"),
    ] {
        if count(name) > 1 {
            return Err(SipViolation::DuplicateHeader(label));
        }
    }
    if let Some((_, v)) = req.headers.iter().find(|(n, _)| canonical(n) == "cseq") {
        let mut parts = v.split_whitespace();
        let num = parts.next().unwrap_or_default();
        let method = parts.next().unwrap_or_default();
        if num.parse::<u32>().is_err() {
            return Err(SipViolation::BadCseq(num.to_string()));
        }
        if method != req.method {
            return Err(SipViolation::CseqMethodMismatch {
                method: req.method.to_string(),
                cseq: method.to_string(),
            });
        }
    }
    if let Some((_, v)) = req
        .headers
        .iter()
        .find(|(n, _)| canonical(n) == "max-forwards")
    {
        if v.trim().parse::<u8>().is_err() {
            return Err(SipViolation::BadMaxForwards(v.trim().to_string()));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(method: &'static str, headers: &[(&str, &str)]) -> RequestView<'static> {
        RequestView {
            method,
            version: "SIP/2.0",
            headers: headers
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
        }
    }

    const BASE: [(&str, &str); 5] = [
        ("Via", "SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK1"),
        ("From", "<sip:1@x>;tag=1"),
        ("To", "<sip:2@x>"),
        ("Call-ID", "abc"),
        ("CSeq", "1 INVITE"),
    ];

    #[test]
    fn a_good_request_passes() {
        assert_eq!(validate(&view("INVITE", &BASE)), Ok(()));
    }

    #[test]
    fn cseq_method_mismatch_is_400() {
        let e = validate(&view("OPTIONS", &BASE)).unwrap_err();
        assert_eq!(e.status(), 400);
        assert!(e.reason().contains("CSeq method INVITE"));
    }

    #[test]
    fn missing_and_duplicate_headers() {
        let e = validate(&view("INVITE", &BASE[..4])).unwrap_err();
        assert_eq!(e, SipViolation::MissingHeader("CSeq"));
        let mut dup = BASE.to_vec();
        dup.push(("i", "other"));
        assert_eq!(
            validate(&view("INVITE", &dup)).unwrap_err(),
            SipViolation::DuplicateHeader("Call-ID")
        );
    }

    #[test]
    fn version_is_505() {
        let mut v = view("INVITE", &BASE);
        v.version = "SIP/7.0";
        assert_eq!(validate(&v).unwrap_err().status(), 505);
    }

    #[test]
    fn bad_numbers_are_400() {
        let mut h = BASE.to_vec();
        h[4] = ("CSeq", "99999999999 INVITE");
        assert!(matches!(
            validate(&view("INVITE", &h)),
            Err(SipViolation::BadCseq(_))
        ));
        let mut h = BASE.to_vec();
        h.push(("Max-Forwards", "many"));
        assert!(matches!(
            validate(&view("INVITE", &h)),
            Err(SipViolation::BadMaxForwards(_))
        ));
    }
}
