//! "Interactive processing (CRM webhook)" (SPEC §3 op 13): optionally collect N digits, call an
//! external HTTP URL (GET or POST) with the chosen call parameters, and act on its JSON reply.
//!
//! Exits: `ok` (a 200 with a valid JSON reply and no phones, its `returned_code` bound to no
//! exit), `no_answer` (timeout, connection error, a status other than 200, a reply that is not
//! the expected JSON: the call is never lost because the CRM failed), `answered` / `not_answered`
//! (the reply named phones: the caller was forwarded to them and someone answered, or nobody
//! did), and one exit per name bound in `codes` (the reply's `returned_code`).

use super::{broken, prompt_ref, Op, RefAt};
use crate::model::{Prompt, RingMode};
use crate::validate::ValidationError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

fn webhook_method() -> String {
    "GET".into()
}

fn webhook_timeout_s() -> u32 {
    3
}

fn webhook_params() -> Vec<String> {
    WEBHOOK_PARAMS.iter().map(|p| (*p).to_owned()).collect()
}

fn webhook_digits_timeout_s() -> u32 {
    5
}

/// The call parameters a webhook can send, in the order they are sent.
pub const WEBHOOK_PARAMS: &[&str] = &["cdr_id", "start_time", "input_result", "numa", "numb"];

/// The exits every webhook has (codes bind more).
const WEBHOOK_EXITS: &[&str] = &["ok", "no_answer", "answered", "not_answered"];

/// The longest URL accepted.
pub const WEBHOOK_MAX_URL: usize = 2000;

/// The most digits a webhook collects before calling.
pub const WEBHOOK_MAX_DIGITS: u32 = 20;

/// The most codes one webhook binds.
pub const WEBHOOK_MAX_CODES: usize = 50;

/// Calls a CRM.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Webhook {
    /// `http://` or `https://` URL (at most 2000 characters); GET adds the parameters to its
    /// query.
    pub url: String,
    /// `GET` (parameters in the query string) or `POST` (parameters as an
    /// `application/x-www-form-urlencoded` body). Default `GET`.
    #[serde(default = "webhook_method")]
    pub method: String,
    /// Seconds to wait for the whole reply (1–30, default 3); then `no_answer`.
    #[serde(default = "webhook_timeout_s")]
    pub timeout_s: u32,
    /// The parameters sent, among [`WEBHOOK_PARAMS`] (default: all of them).
    #[serde(default = "webhook_params")]
    pub params: Vec<String>,
    /// Digits to collect before calling (0–20, default 0: call at once); they are sent as
    /// `input_result`.
    #[serde(default)]
    pub digits: u32,
    /// Seconds to wait for the first digit after the prompt, and between digits (1–60,
    /// default 5); the request is sent with what was typed.
    #[serde(default = "webhook_digits_timeout_s")]
    pub digits_timeout_s: u32,
    /// Played before collecting the digits (only with `digits` > 0).
    #[serde(default)]
    pub prompt: Option<Prompt>,
    /// The reply's `returned_code` → the exit taken (several codes may share an exit).
    #[serde(default)]
    pub codes: BTreeMap<String, String>,
    /// How the reply's phones are rung (default sequential).
    #[serde(default)]
    pub ring_mode: RingMode,
    /// Played to the employee who answers the reply's phones when the reply carries no
    /// `operator_media`/`operator_text` of its own.
    #[serde(default)]
    pub operator_hint: Option<Prompt>,
}

impl Webhook {
    /// The exit bound to a returned code, if any.
    pub fn exit_of(&self, code: &str) -> Option<&str> {
        self.codes.get(code).map(String::as_str)
    }

    /// Whether the request is a POST (else GET).
    pub fn is_post(&self) -> bool {
        self.method == "POST"
    }
}

/// Whether `name` is a valid exit name for a code: 1-32 of `a-z`, `0-9`, `_`.
fn exit_name_ok(name: &str) -> bool {
    (1..=32).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// Whether `code` is a valid code: 1-64 printable ASCII characters, no spaces.
fn code_ok(code: &str) -> bool {
    (1..=64).contains(&code.len()) && code.bytes().all(|b| b.is_ascii_graphic())
}

/// Whether `url` is an `http(s)://host...` URL without spaces or control characters.
fn url_ok(url: &str) -> bool {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"));
    let Some(rest) = rest else {
        return false;
    };
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    url.len() <= WEBHOOK_MAX_URL
        && !host.is_empty()
        && !host.contains('@')
        && url.bytes().all(|b| b.is_ascii_graphic())
}

impl Op for Webhook {
    fn exits(&self) -> &'static [&'static str] {
        WEBHOOK_EXITS
    }
    fn bound_exits(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for exit in self.codes.values() {
            if !WEBHOOK_EXITS.contains(&exit.as_str()) && !out.contains(&exit.as_str()) {
                out.push(exit);
            }
        }
        out
    }
    fn expected_exits(&self) -> &'static [&'static str] {
        &["ok", "no_answer"]
    }
    fn refs(&self) -> Vec<RefAt> {
        prompt_ref("prompt", self.prompt.as_ref())
            .into_iter()
            .chain(prompt_ref("operator_hint", self.operator_hint.as_ref()))
            .collect()
    }
    fn violations(&self) -> Vec<ValidationError> {
        let mut out = Vec::new();
        if !url_ok(&self.url) {
            // The message never repeats the URL (it may carry a token).
            out.push(broken(
                "url",
                "webhook.url",
                "url must be an http:// or https:// URL with a host, without spaces, at most 2000 characters",
            ));
        }
        if self.method != "GET" && self.method != "POST" {
            out.push(broken(
                "method",
                "webhook.method",
                "method must be GET or POST",
            ));
        }
        if !(1..=30).contains(&self.timeout_s) {
            out.push(broken(
                "timeout_s",
                "webhook.timeout_s",
                "timeout_s must be 1-30 seconds",
            ));
        }
        for (i, p) in self.params.iter().enumerate() {
            if !WEBHOOK_PARAMS.contains(&p.as_str()) {
                out.push(broken(
                    &format!("params[{i}]"),
                    "webhook.params",
                    format!("unknown parameter (one of: {})", WEBHOOK_PARAMS.join(", ")),
                ));
            } else if self.params[..i].contains(p) {
                out.push(broken(
                    &format!("params[{i}]"),
                    "webhook.params",
                    format!("parameter {p} is named twice"),
                ));
            }
        }
        if self.digits > WEBHOOK_MAX_DIGITS {
            out.push(broken("digits", "webhook.digits", "digits must be 0-20"));
        }
        if !(1..=60).contains(&self.digits_timeout_s) {
            out.push(broken(
                "digits_timeout_s",
                "webhook.digits_timeout_s",
                "digits_timeout_s must be 1-60 seconds",
            ));
        }
        if self.codes.len() > WEBHOOK_MAX_CODES {
            out.push(broken(
                "codes",
                "webhook.codes",
                "at most 50 codes can be bound",
            ));
        }
        for (code, exit) in &self.codes {
            if !code_ok(code) {
                out.push(broken(
                    &format!("codes.{code}"),
                    "webhook.code",
                    "a code must be 1-64 printable characters without spaces",
                ));
            }
            if !exit_name_ok(exit) {
                out.push(broken(
                    &format!("codes.{code}"),
                    "webhook.code_exit",
                    "the exit of a code must be 1-32 characters a-z, 0-9, _",
                ));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(w: &Webhook) -> Vec<(String, &'static str)> {
        w.violations()
            .into_iter()
            .map(|v| (v.field, v.rule))
            .collect()
    }

    #[test]
    fn defaults_rules_and_exits() {
        let w: Webhook = serde_json::from_str(r#"{"url": "http://crm.example/hook"}"#).unwrap();
        assert_eq!((w.method.as_str(), w.timeout_s, w.digits), ("GET", 3, 0));
        assert_eq!(w.params, WEBHOOK_PARAMS);
        assert_eq!(w.digits_timeout_s, 5);
        assert!(w.violations().is_empty(), "{:?}", w.violations());
        assert_eq!(w.exits(), ["ok", "no_answer", "answered", "not_answered"]);
        assert!(w.bound_exits().is_empty());
        assert!(!w.is_post());
        // The URL is required; unknown fields are refused.
        assert!(serde_json::from_str::<Webhook>("{}").is_err());
        assert!(serde_json::from_str::<Webhook>(r#"{"url": "http://a", "uri": "x"}"#).is_err());

        let with = |f: &dyn Fn(&mut Webhook)| {
            let mut v = w.clone();
            f(&mut v);
            v
        };
        for bad in [
            "ftp://a/b",
            "http://",
            "http:///x",
            "http://a b/",
            "crm.example",
            "http://user@host/",
        ] {
            let v = with(&|v| v.url = bad.into());
            assert_eq!(rules(&v), [("url".to_string(), "webhook.url")], "{bad}");
            assert!(!v.violations()[0].message.contains("user@"));
        }
        let long = format!("https://a/{}", "x".repeat(WEBHOOK_MAX_URL));
        assert_eq!(rules(&with(&|v| v.url = long.clone())).len(), 1);
        assert!(with(&|v| v.url = "https://crm.example:8443/a?b=c".into())
            .violations()
            .is_empty());
        for bad in ["get", "PUT", ""] {
            let v = with(&|v| v.method = bad.into());
            assert_eq!(rules(&v), [("method".to_string(), "webhook.method")]);
        }
        assert!(with(&|v| v.method = "POST".into()).is_post());
        for bad in [0, 31] {
            let v = with(&|v| v.timeout_s = bad);
            assert_eq!(rules(&v), [("timeout_s".to_string(), "webhook.timeout_s")]);
        }
        let v = with(&|v| v.params = vec!["numa".into(), "caller".into(), "numa".into()]);
        assert_eq!(
            rules(&v),
            [
                ("params[1]".to_string(), "webhook.params"),
                ("params[2]".to_string(), "webhook.params")
            ]
        );
        assert_eq!(
            rules(&with(&|v| v.digits = 21)),
            [("digits".to_string(), "webhook.digits")]
        );
        assert_eq!(
            rules(&with(&|v| v.digits_timeout_s = 0)),
            [("digits_timeout_s".to_string(), "webhook.digits_timeout_s")]
        );
        let v = with(&|v| {
            v.codes = BTreeMap::from([
                ("1".into(), "vip".into()),
                ("2".into(), "vip".into()),
                ("404".into(), "no_answer".into()),
                ("a b".into(), "x".into()),
                ("3".into(), "Bad-Exit".into()),
            ])
        });
        assert_eq!(
            rules(&v),
            [
                ("codes.3".to_string(), "webhook.code_exit"),
                ("codes.a b".to_string(), "webhook.code"),
            ]
        );
        // Bound exits are named once; fixed ones are not repeated.
        assert_eq!(v.bound_exits(), ["vip", "Bad-Exit", "x"]);
        assert_eq!(v.exit_of("2"), Some("vip"));
        assert_eq!(v.exit_of("5"), None);
        let many = with(&|v| v.codes = (0..51).map(|i| (i.to_string(), "x".into())).collect());
        assert_eq!(rules(&many), [("codes".to_string(), "webhook.codes")]);
    }
}
