//! The SIP edge's gate on arbitrary bytes: the datagram and stream verdicts, the error response
//! built from a rejected request, stream framing and the normalisation of passed messages must
//! never panic; a passed range lies inside the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vpbx::sip::gate::{self, Framing, Verdict};

fuzz_target!(|data: &[u8]| {
    for framing in [Framing::Datagram { limit: 8192 }, Framing::Stream] {
        match gate::check(data, framing) {
            Verdict::Pass(r) => {
                assert!(r.start <= r.end && r.end <= data.len());
                let _ = gate::normalize(&data[r]);
            }
            Verdict::Reject(v) => {
                assert!((400..700).contains(&v.status()));
                let _ = gate::error_response(data, &v, "tag", "vpbx");
            }
            Verdict::Drop(_) => {}
        }
    }
    if let Ok(Some((r, used))) = gate::frame(data) {
        assert!(r.end <= used && used <= data.len());
    }
});
