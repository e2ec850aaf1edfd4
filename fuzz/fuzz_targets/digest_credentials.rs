//! The `Authorization: Digest …` parser and verifier on arbitrary text never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Some(c) = vpbx::sip::digest::parse_credentials(&text) {
        let _ = vpbx::sip::digest::verify(&c, "REGISTER", "vpbx", Some("secret"));
        let _ = vpbx::sip::digest::verify(&c, "REGISTER", "vpbx", None);
    }
});
