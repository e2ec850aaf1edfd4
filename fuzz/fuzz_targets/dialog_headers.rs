//! The edge's parsers of in-dialog header values on arbitrary text never panic: Refer-To with
//! Replaces (transfers), Contact rewriting for NAT, Session-Expires (session timers).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = vpbx::sip::refer::parse_refer_to(&text);
    let _ = vpbx::sip::refer::parse_replaces(&text);
    let addr: std::net::SocketAddr = "203.0.113.7:40211".parse().unwrap();
    if let Some(fixed) = vpbx::sip::nat::fix_contact(&text, addr) {
        // Rewriting is idempotent: the fixed value already names the address.
        assert!(vpbx::sip::nat::fix_contact(&fixed, addr).is_none());
    }
    let _ = vpbx::sip::timer::negotiate(Some(&text), true, 90);
});
