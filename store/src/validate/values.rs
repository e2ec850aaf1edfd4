//! Rules of single values (extension, international number, SIP URI, host, mask, intervals),
//! public so the API can check one field as the admin types.

use super::{v, Violation};
use crate::model::*;

/// A parsed extension: valid under the box settings it was parsed with.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Extension(String);

impl Extension {
    /// Parses `s` under `settings` (SPEC §1.1).
    pub fn parse(s: &str, settings: &BoxSettings) -> Result<Extension, Vec<Violation>> {
        let errs = extension_violations(s, settings);
        if errs.is_empty() {
            Ok(Extension(s.to_owned()))
        } else {
            Err(errs)
        }
    }
    /// The digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Rules of an extension: digits only, ≤ 5 digits, no leading `0`, never `88`, the fixed
/// length N when set, `2XXX`/`2XXXX` in mobile-line mode.
pub fn extension_violations(ext: &str, settings: &BoxSettings) -> Vec<Violation> {
    let mut out = Vec::new();
    if ext.is_empty() || !ext.bytes().all(|b| b.is_ascii_digit()) {
        out.push(v(
            "extension.digits",
            format!("extension '{ext}' must be digits only"),
        ));
        return out;
    }
    if ext.len() > 5 {
        out.push(v(
            "extension.max_5",
            format!("extension {ext} has more than 5 digits"),
        ));
    }
    if ext.starts_with('0') {
        out.push(v(
            "extension.no_leading_0",
            format!("extension {ext} starts with 0"),
        ));
    }
    if ext.contains("88") {
        out.push(v(
            "extension.no_88",
            format!("extension {ext} contains 88 (reserved for call pickup)"),
        ));
    }
    if let Some(n) = settings.extension_length {
        if ext.len() != usize::from(n) {
            out.push(v(
                "extension.fixed_length",
                format!("extension {ext} must have exactly {n} digits (box setting)"),
            ));
        }
    }
    if settings.mobile_line_mode && !(ext.starts_with('2') && (4..=5).contains(&ext.len())) {
        out.push(v(
            "extension.mobile_line",
            format!("in mobile-line mode extension {ext} must be 2XXX or 2XXXX"),
        ));
    }
    out
}

/// Rules of a number in international format: digits only, 10–15 digits, no leading `0` or `+`.
pub fn international_violations(n: &str) -> Vec<Violation> {
    let mut out = Vec::new();
    if n.starts_with('+') {
        out.push(v(
            "international.no_plus",
            format!("number {n}: write it without '+'"),
        ));
    }
    let digits = n.trim_start_matches('+');
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        out.push(v(
            "international.digits",
            format!("number '{n}' must be digits only"),
        ));
        return out;
    }
    if digits.starts_with('0') {
        out.push(v(
            "international.no_leading_0",
            format!("number {n} starts with 0; use the country code"),
        ));
    }
    if !(10..=15).contains(&digits.len()) {
        out.push(v(
            "international.length",
            format!("number {n} must have 10–15 digits including the country code"),
        ));
    }
    out
}

fn valid_host(host: &str) -> bool {
    if host.is_empty() || host.len() > 253 {
        return false;
    }
    host.split('.').all(|label| {
        !label.is_empty()
            && label.len() <= 63
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-')
    })
}

/// Rules of a trunk's proxy host: a DNS host name, an IPv4 literal or an IPv6 literal (without
/// brackets). A name made only of digits and dots must be a valid IPv4 address.
pub fn host_violations(host: &str) -> Vec<Violation> {
    if host.trim().is_empty() {
        return vec![v("trunk.host_required", "the carrier's host is required")];
    }
    if host.parse::<std::net::IpAddr>().is_ok() {
        return Vec::new();
    }
    let numeric = host.bytes().all(|b| b.is_ascii_digit() || b == b'.');
    if numeric || !valid_host(host) {
        return vec![v(
            "trunk.host",
            format!("'{host}' is not a host name or an IP address"),
        )];
    }
    Vec::new()
}

/// Rules of an address of IP authentication: an IPv4/IPv6 address or a CIDR block with its
/// host bits zero (`10.0.0.0/24`).
pub fn ip_or_cidr_violations(entry: &str) -> Vec<Violation> {
    match IpNet::parse(entry) {
        Ok(_) => Vec::new(),
        Err(message) => vec![v("trunk.address", message)],
    }
}

pub(super) fn all_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// Rules of a SIP URI phone: `number@host`, `number@host:port`, `letters@host`,
/// `letters@host:port`; the user part never contains `user` or `_`.
pub fn sip_uri_violations(uri: &str) -> Vec<Violation> {
    let mut out = Vec::new();
    let body = uri.strip_prefix("sip:").unwrap_or(uri);
    let Some((user, hostport)) = body.split_once('@') else {
        out.push(v(
            "sip_uri.format",
            format!("SIP URI '{uri}' must look like user@host or user@host:port"),
        ));
        return out;
    };
    if user.is_empty() || hostport.contains('@') {
        out.push(v(
            "sip_uri.format",
            format!("SIP URI '{uri}' must look like user@host or user@host:port"),
        ));
        return out;
    }
    if user.to_ascii_lowercase().contains("user") {
        out.push(v(
            "sip_uri.user_word",
            format!("SIP URI '{uri}': the user part must not contain the word 'user'"),
        ));
    }
    if user.contains('_') {
        out.push(v(
            "sip_uri.underscore",
            format!("SIP URI '{uri}': the user part must not contain '_'"),
        ));
    }
    if !user
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'+' | b'_'))
    {
        out.push(v(
            "sip_uri.user_chars",
            format!("SIP URI '{uri}': the user part must be a number or letters"),
        ));
    }
    let (host, port) = match hostport.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (hostport, None),
    };
    if !valid_host(host) {
        out.push(v(
            "sip_uri.host",
            format!("SIP URI '{uri}': '{host}' is not a host name or IPv4 address"),
        ));
    }
    if let Some(p) = port {
        let ok = !p.is_empty()
            && p.len() <= 5
            && p.bytes().all(|b| b.is_ascii_digit())
            && p.parse::<u32>().is_ok_and(|n| (1..=65535).contains(&n));
        if !ok {
            out.push(v(
                "sip_uri.port",
                format!("SIP URI '{uri}': port '{p}' must be 1–65535"),
            ));
        }
    }
    out
}

/// Rules of a number mask: digits, `*` (any run of digits) and `?` (one digit), not empty.
pub fn mask_violations(mask: &str) -> Vec<Violation> {
    let body = mask.strip_prefix('+').unwrap_or(mask);
    if body.is_empty()
        || !body
            .bytes()
            .all(|b| b.is_ascii_digit() || b == b'*' || b == b'?')
    {
        vec![v(
            "mask.format",
            format!("'{mask}' is not a number mask (digits, '*' and '?')"),
        )]
    } else {
        Vec::new()
    }
}

/// Rules of one day's intervals: each within 00:00–24:00 with start < end, no two overlapping.
/// Returns `(index, violation)` pairs.
pub fn intervals_violations(intervals: &[Interval]) -> Vec<(usize, Violation)> {
    let mut out = Vec::new();
    for (i, iv) in intervals.iter().enumerate() {
        if iv.start > TimeOfDay::END_OF_DAY || iv.end > TimeOfDay::END_OF_DAY {
            out.push((
                i,
                v("interval.range", "interval must lie within 00:00–24:00"),
            ));
        } else if iv.start >= iv.end {
            out.push((
                i,
                v(
                    "interval.order",
                    format!("interval {iv}: start must be before end"),
                ),
            ));
        }
    }
    let mut sorted: Vec<(usize, &Interval)> = intervals
        .iter()
        .enumerate()
        .filter(|(_, iv)| iv.start < iv.end)
        .collect();
    sorted.sort_by_key(|(_, iv)| (iv.start, iv.end));
    for w in sorted.windows(2) {
        let ((_, a), (j, b)) = (w[0], w[1]);
        if b.start < a.end {
            out.push((
                j,
                v(
                    "interval.overlap",
                    format!("interval {b} overlaps {a} on the same day"),
                ),
            ));
        }
    }
    out
}
