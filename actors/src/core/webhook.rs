//! The CRM webhook's pure parts (SPEC §3 op 13): the request's encoding and the reply's parser.
//!
//! The reply is peer input: [`parse_reply`] never panics on any bytes (a fuzz target,
//! `fuzz/fuzz_targets/webhook_reply.rs`, checks it), refuses anything but a JSON object whose
//! known fields have the expected types and sizes, and ignores unknown fields. `null` counts as
//! absent.

use serde_json::Value;

/// A webhook request as the scenario asks for it; the call core adds the values of `params`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookCall {
    /// The operation's URL.
    pub url: String,
    /// POST (else GET).
    pub post: bool,
    /// Upper bound on the whole exchange, milliseconds.
    pub timeout_ms: u32,
    /// The parameters to send, by name (`cdr_id`, `start_time`, `input_result`, `numa`,
    /// `numb`), in order.
    pub params: Vec<String>,
    /// The digits collected first (`input_result`).
    pub input: String,
}

/// A webhook request ready to send: for a GET the parameters are in the URL's query, for a
/// POST they are the form-encoded body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookRequest {
    /// Where.
    pub url: String,
    /// The form-encoded body of a POST (`None`: a GET).
    pub body: Option<String>,
    /// Upper bound on the whole exchange (connect, send, status, body), milliseconds.
    pub timeout_ms: u32,
}

impl WebhookCall {
    /// The request with these parameter values (`value` names each parameter's value).
    pub fn request(&self, value: impl Fn(&str) -> String) -> WebhookRequest {
        let params: Vec<(String, String)> =
            self.params.iter().map(|p| (p.clone(), value(p))).collect();
        let form = form_encode(&params);
        if self.post {
            WebhookRequest {
                url: self.url.split('#').next().unwrap_or(&self.url).to_owned(),
                body: Some(form),
                timeout_ms: self.timeout_ms,
            }
        } else {
            WebhookRequest {
                url: with_query(&self.url, &form),
                body: None,
                timeout_ms: self.timeout_ms,
            }
        }
    }
}

/// How a webhook request ended, as the shell saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebhookResult {
    /// A reply came (any status).
    Replied {
        /// HTTP status.
        status: u16,
        /// The body (at most [`MAX_REPLY_BYTES`] + 1 bytes are read).
        body: Vec<u8>,
        /// Milliseconds from sending to the end of the body.
        time_ms: u64,
    },
    /// The timeout passed first.
    TimedOut {
        /// Milliseconds from sending to giving up.
        time_ms: u64,
    },
    /// No reply: the connection failed, or the body could not be read.
    Failed {
        /// Why.
        why: String,
        /// Milliseconds from sending to the failure.
        time_ms: u64,
    },
}

/// The largest reply body read, in bytes; a longer one is a bad reply.
pub const MAX_REPLY_BYTES: usize = 64 * 1024;

/// The most phones a reply may name.
pub const MAX_PHONES: usize = 20;

/// The longest text a reply may ask to speak, in characters.
pub const MAX_TEXT_CHARS: usize = 2000;

/// The longest file name (`message_name`, `operator_media`) and code, in characters.
pub const MAX_NAME_CHARS: usize = 255;

/// What a 200 reply asks for. Every field is optional.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reply {
    /// Numbers or extensions to forward the caller to (digits, an optional leading `+`).
    pub phones: Vec<String>,
    /// A file of the file base to play to the caller, by name.
    pub message_name: Option<String>,
    /// A text to speak to the caller (when no `message_name` file plays).
    pub text: Option<String>,
    /// A file of the file base for the operator hint, by name (wins over `operator_text`).
    pub operator_media: Option<String>,
    /// A text for the operator hint.
    pub operator_text: Option<String>,
    /// The code that picks the exit (an integer is written in decimal).
    pub returned_code: Option<String>,
}

/// Why a reply body is not a usable reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplyError {
    /// Longer than [`MAX_REPLY_BYTES`].
    TooLarge(usize),
    /// Not JSON (or not UTF-8).
    NotJson(String),
    /// JSON, but not an object.
    NotAnObject,
    /// A known field with the wrong type or size.
    Field {
        /// The field.
        field: &'static str,
        /// What is wrong.
        why: &'static str,
    },
}

impl std::fmt::Display for ReplyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReplyError::TooLarge(n) => write!(f, "body of {n} bytes is too large"),
            ReplyError::NotJson(e) => write!(f, "not JSON ({e})"),
            ReplyError::NotAnObject => f.write_str("not a JSON object"),
            ReplyError::Field { field, why } => write!(f, "{field}: {why}"),
        }
    }
}

fn field_err(field: &'static str, why: &'static str) -> ReplyError {
    ReplyError::Field { field, why }
}

/// A string field of at most `max` characters, trimmed; empty counts as absent.
fn text_field(
    obj: &serde_json::Map<String, Value>,
    field: &'static str,
    max: usize,
) -> Result<Option<String>, ReplyError> {
    match obj.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => {
            let s = s.trim();
            if s.chars().count() > max {
                return Err(field_err(field, "too long"));
            }
            Ok(Some(s.to_owned()).filter(|s| !s.is_empty()))
        }
        Some(_) => Err(field_err(field, "must be a string")),
    }
}

/// Whether `p` is a phone number or an extension: 1-20 digits after an optional `+`.
fn phone_ok(p: &str) -> bool {
    let digits = p.strip_prefix('+').unwrap_or(p);
    (1..=20).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit())
}

/// Parses a 200 reply's body.
pub fn parse_reply(body: &[u8]) -> Result<Reply, ReplyError> {
    if body.len() > MAX_REPLY_BYTES {
        return Err(ReplyError::TooLarge(body.len()));
    }
    let value: Value =
        serde_json::from_slice(body).map_err(|e| ReplyError::NotJson(e.to_string()))?;
    let Value::Object(obj) = value else {
        return Err(ReplyError::NotAnObject);
    };
    let phones = match obj.get("phones") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => {
            if items.len() > MAX_PHONES {
                return Err(field_err("phones", "at most 20 phones"));
            }
            let mut phones = Vec::with_capacity(items.len());
            for item in items {
                let p = match item {
                    Value::String(s) => s.trim().to_owned(),
                    Value::Number(n) if n.is_u64() => n.to_string(),
                    _ => return Err(field_err("phones", "each phone must be a string")),
                };
                if !phone_ok(&p) {
                    return Err(field_err(
                        "phones",
                        "each phone must be 1-20 digits, optionally after +",
                    ));
                }
                phones.push(p);
            }
            phones
        }
        Some(_) => return Err(field_err("phones", "must be an array")),
    };
    let returned_code = match obj.get("returned_code") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) if n.is_i64() || n.is_u64() => Some(n.to_string()),
        Some(Value::String(s)) if s.chars().count() <= MAX_NAME_CHARS => {
            Some(s.trim().to_owned()).filter(|s| !s.is_empty())
        }
        Some(_) => {
            return Err(field_err(
                "returned_code",
                "must be an integer or a short string",
            ))
        }
    };
    Ok(Reply {
        phones,
        message_name: text_field(&obj, "message_name", MAX_NAME_CHARS)?,
        text: text_field(&obj, "text", MAX_TEXT_CHARS)?,
        operator_media: text_field(&obj, "operator_media", MAX_NAME_CHARS)?,
        operator_text: text_field(&obj, "operator_text", MAX_TEXT_CHARS)?,
        returned_code,
    })
}

/// `application/x-www-form-urlencoded` of `params` (the query string of a GET, the body of a
/// POST): unreserved characters as they are, space as `+`, everything else `%XX` of its UTF-8.
pub fn form_encode(params: &[(String, String)]) -> String {
    fn enc(s: &str, out: &mut String) {
        for b in s.bytes() {
            match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => {
                    out.push(char::from(b))
                }
                b' ' => out.push('+'),
                _ => {
                    const HEX: &[u8; 16] = b"0123456789ABCDEF";
                    out.push('%');
                    out.push(char::from(HEX[usize::from(b >> 4)]));
                    out.push(char::from(HEX[usize::from(b & 15)]));
                }
            }
        }
    }
    let mut out = String::new();
    for (i, (k, v)) in params.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        enc(k, &mut out);
        out.push('=');
        enc(v, &mut out);
    }
    out
}

/// The URL of a GET: `url` with `query` appended (after `&` when it has a query already); the
/// fragment, if any, is dropped.
pub fn with_query(url: &str, query: &str) -> String {
    let url = url.split('#').next().unwrap_or(url);
    if query.is_empty() {
        return url.to_owned();
    }
    let sep = if !url.contains('?') {
        "?"
    } else if url.ends_with('?') || url.ends_with('&') {
        ""
    } else {
        "&"
    };
    format!("{url}{sep}{query}")
}

/// The URL as the call's events show it: without its query string and fragment.
pub fn url_for_events(url: &str) -> &str {
    url.split(['?', '#']).next().unwrap_or(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_parse_with_every_field_optional() {
        assert_eq!(parse_reply(b"{}"), Ok(Reply::default()));
        let r = parse_reply(
            br#"{"phones": ["101", "+79161234567", 79160000000], "message_name": " hello.wav ",
                "text": "Hi", "operator_media": "vip", "operator_text": "VIP client",
                "returned_code": 7, "extra": {"ignored": true}}"#,
        )
        .unwrap();
        assert_eq!(r.phones, ["101", "+79161234567", "79160000000"]);
        assert_eq!(r.message_name.as_deref(), Some("hello.wav"));
        assert_eq!(r.text.as_deref(), Some("Hi"));
        assert_eq!(r.operator_media.as_deref(), Some("vip"));
        assert_eq!(r.operator_text.as_deref(), Some("VIP client"));
        assert_eq!(r.returned_code.as_deref(), Some("7"));
        let r = parse_reply(br#"{"returned_code": "A1", "text": "", "phones": null}"#).unwrap();
        assert_eq!(r.returned_code.as_deref(), Some("A1"));
        assert_eq!((r.text, r.phones.len()), (None, 0));
        assert_eq!(
            parse_reply(br#"{"returned_code": -3}"#)
                .unwrap()
                .returned_code
                .as_deref(),
            Some("-3")
        );
    }

    #[test]
    fn bad_replies_say_why() {
        assert!(matches!(parse_reply(b""), Err(ReplyError::NotJson(_))));
        assert!(matches!(parse_reply(b"{"), Err(ReplyError::NotJson(_))));
        assert!(matches!(
            parse_reply(b"<html>oops</html>"),
            Err(ReplyError::NotJson(_))
        ));
        assert_eq!(parse_reply(b"[1]"), Err(ReplyError::NotAnObject));
        assert_eq!(parse_reply(b"\"x\""), Err(ReplyError::NotAnObject));
        for (body, field) in [
            (&br#"{"phones": "101"}"#[..], "phones"),
            (br#"{"phones": ["10 1"]}"#, "phones"),
            (br#"{"phones": [true]}"#, "phones"),
            (br#"{"phones": [""]}"#, "phones"),
            (br#"{"text": 5}"#, "text"),
            (br#"{"message_name": ["a"]}"#, "message_name"),
            (br#"{"operator_media": {}}"#, "operator_media"),
            (br#"{"operator_text": false}"#, "operator_text"),
            (br#"{"returned_code": 1.5}"#, "returned_code"),
            (br#"{"returned_code": true}"#, "returned_code"),
        ] {
            assert!(
                matches!(parse_reply(body), Err(ReplyError::Field { field: f, .. }) if f == field),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
        let many = format!("{{\"phones\": [{}]}}", vec!["\"1\""; 21].join(","));
        assert!(parse_reply(many.as_bytes()).is_err());
        let long = format!("{{\"text\": \"{}\"}}", "a".repeat(MAX_TEXT_CHARS + 1));
        assert!(parse_reply(long.as_bytes()).is_err());
        let huge = vec![b' '; MAX_REPLY_BYTES + 1];
        assert_eq!(
            parse_reply(&huge),
            Err(ReplyError::TooLarge(MAX_REPLY_BYTES + 1))
        );
        // Deep nesting is refused, not a stack overflow.
        let deep = "[".repeat(100_000);
        assert!(parse_reply(deep.as_bytes()).is_err());
        assert!(!ReplyError::NotAnObject.to_string().is_empty());
    }

    /// Seeded random and mutated replies never panic the parser (CI without nightly; the fuzz
    /// target `webhook_reply` does the same with coverage).
    #[test]
    fn random_replies_never_panic() {
        let seeds: &[&[u8]] = &[
            br#"{"phones": ["101", "+79161234567"], "text": "Hi", "returned_code": 7}"#,
            br#"{"message_name": "a", "operator_media": "b", "operator_text": "c"}"#,
            br#"{"returned_code": "x", "phones": [1, 2, 3]}"#,
            b"[]",
        ];
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for i in 0..20_000usize {
            let mut data = seeds[i % seeds.len()].to_vec();
            for _ in 0..(next() % 6) {
                let at = usize::try_from(next()).unwrap_or(0) % (data.len() + 1);
                let byte = u8::try_from(next() % 256).unwrap_or(0);
                match next() % 3 {
                    0 if at < data.len() => data[at] = byte,
                    1 => data.insert(at, byte),
                    _ if at < data.len() => {
                        data.remove(at);
                    }
                    _ => {}
                }
            }
            if let Ok(r) = parse_reply(&data) {
                assert!(r.phones.len() <= MAX_PHONES);
                assert!(r.phones.iter().all(|p| phone_ok(p)));
            }
        }
    }

    #[test]
    fn parameters_are_form_encoded() {
        let p = |k: &str, v: &str| (k.to_owned(), v.to_owned());
        assert_eq!(
            form_encode(&[p("numa", "+7 916"), p("input_result", ""), p("x", "a&b=ç")]),
            "numa=%2B7+916&input_result=&x=a%26b%3D%C3%A7"
        );
        assert_eq!(form_encode(&[]), "");
        assert_eq!(with_query("http://a/b", "x=1"), "http://a/b?x=1");
        assert_eq!(with_query("http://a/b?t=2", "x=1"), "http://a/b?t=2&x=1");
        assert_eq!(with_query("http://a/b?", "x=1"), "http://a/b?x=1");
        assert_eq!(with_query("http://a/b#f", "x=1"), "http://a/b?x=1");
        assert_eq!(with_query("http://a/b", ""), "http://a/b");
        assert_eq!(url_for_events("https://a/b?token=s#f"), "https://a/b");
    }
}
