//! The CRM webhook's reply parser (`vpbx_actors::core::webhook::parse_reply`) on arbitrary bytes
//! never panics, and what it accepts keeps the documented limits.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vpbx_actors::core::webhook::{
    parse_reply, MAX_NAME_CHARS, MAX_PHONES, MAX_REPLY_BYTES, MAX_TEXT_CHARS,
};

fuzz_target!(|data: &[u8]| {
    let Ok(r) = parse_reply(data) else {
        return;
    };
    assert!(data.len() <= MAX_REPLY_BYTES);
    assert!(r.phones.len() <= MAX_PHONES);
    for p in &r.phones {
        let digits = p.strip_prefix('+').unwrap_or(p);
        assert!((1..=20).contains(&digits.len()));
        assert!(digits.bytes().all(|b| b.is_ascii_digit()));
    }
    for t in [&r.text, &r.operator_text].into_iter().flatten() {
        assert!(!t.is_empty() && t.chars().count() <= MAX_TEXT_CHARS);
    }
    for n in [&r.message_name, &r.operator_media, &r.returned_code]
        .into_iter()
        .flatten()
    {
        assert!(!n.is_empty() && n.chars().count() <= MAX_NAME_CHARS);
    }
});
