//! ITU-T G.711 µ-law and A-law companding (pure code, bit math).

/// µ-law bias added before segment search.
const ULAW_BIAS: i32 = 0x84;
/// Largest magnitude µ-law can represent once the bias is added.
const ULAW_CLIP: i32 = 32635;

/// Encode one linear 16-bit sample to a µ-law byte.
pub fn ulaw_encode(s: i16) -> u8 {
    let mut pcm = i32::from(s);
    let sign: u8 = if pcm < 0 {
        pcm = -pcm;
        0x80
    } else {
        0
    };
    if pcm > ULAW_CLIP {
        pcm = ULAW_CLIP;
    }
    pcm += ULAW_BIAS;
    // Exponent = position of the highest set bit among bits 7..=14, minus 7 (the bias sets
    // bit 7 at least, the clip keeps bit 15 clear): one instruction instead of a loop.
    let highest = 31 - (pcm as u32 | 0x80).leading_zeros();
    let exponent = (highest.clamp(7, 14) - 7) as u8;
    let mantissa = ((pcm >> (exponent + 3)) & 0x0F) as u8;
    !(sign | (exponent << 4) | mantissa)
}

/// Decode one µ-law byte to a linear 16-bit sample.
pub fn ulaw_decode(u: u8) -> i16 {
    let u = !u;
    let exponent = (u >> 4) & 0x07;
    let mantissa = i32::from(u & 0x0F);
    let magnitude = (((mantissa << 3) + ULAW_BIAS) << exponent) - ULAW_BIAS;
    let v = if u & 0x80 != 0 { -magnitude } else { magnitude };
    v as i16
}

/// Upper bounds of the eight A-law segments (13-bit magnitudes).
const ALAW_SEG_END: [i32; 8] = [0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF];

/// Encode one linear 16-bit sample to an A-law byte.
pub fn alaw_encode(s: i16) -> u8 {
    let mut pcm = i32::from(s) >> 3; // A-law works on 13-bit samples.
    let mask: u8 = if pcm >= 0 {
        0xD5
    } else {
        pcm = -pcm - 1;
        0x55
    };
    let seg = ALAW_SEG_END
        .iter()
        .position(|&end| pcm <= end)
        .unwrap_or(ALAW_SEG_END.len());
    if seg >= ALAW_SEG_END.len() {
        return 0x7F ^ mask;
    }
    let mut aval = (seg as u8) << 4;
    if seg < 2 {
        aval |= ((pcm >> 1) & 0x0F) as u8;
    } else {
        aval |= ((pcm >> seg) & 0x0F) as u8;
    }
    aval ^ mask
}

/// Decode one A-law byte to a linear 16-bit sample.
pub fn alaw_decode(a: u8) -> i16 {
    let a = a ^ 0x55;
    let mut t = i32::from(a & 0x0F) << 4;
    let seg = (a & 0x70) >> 4;
    match seg {
        0 => t += 8,
        1 => t += 0x108,
        _ => {
            t += 0x108;
            t <<= seg - 1;
        }
    }
    let v = if a & 0x80 != 0 { t } else { -t };
    v as i16
}

/// The two G.711 codecs this engine speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    /// G.711 µ-law, static RTP payload type 0.
    Pcmu,
    /// G.711 A-law, static RTP payload type 8.
    Pcma,
}

impl Codec {
    /// Static RTP payload type (RFC 3551): 0 for PCMU, 8 for PCMA.
    pub fn payload_type(self) -> u8 {
        match self {
            Codec::Pcmu => 0,
            Codec::Pcma => 8,
        }
    }

    /// Encoding name as used in SDP `a=rtpmap` ("PCMU" / "PCMA").
    pub fn name(self) -> &'static str {
        match self {
            Codec::Pcmu => "PCMU",
            Codec::Pcma => "PCMA",
        }
    }

    /// Encode 8 kHz linear samples; one byte per sample.
    pub fn encode(self, samples: &[i16]) -> Vec<u8> {
        match self {
            Codec::Pcmu => samples.iter().map(|&s| ulaw_encode(s)).collect(),
            Codec::Pcma => samples.iter().map(|&s| alaw_encode(s)).collect(),
        }
    }

    /// Decode G.711 bytes to linear samples; one sample per byte.
    pub fn decode(self, bytes: &[u8]) -> Vec<i16> {
        match self {
            Codec::Pcmu => bytes.iter().map(|&b| ulaw_decode(b)).collect(),
            Codec::Pcma => bytes.iter().map(|&b| alaw_decode(b)).collect(),
        }
    }

    /// The byte that encodes digital silence (0xFF for PCMU, 0xD5 for PCMA).
    pub fn silence_byte(self) -> u8 {
        match self {
            Codec::Pcmu => 0xFF,
            Codec::Pcma => 0xD5,
        }
    }

    /// Map a static payload type (0 or 8) to a codec.
    pub fn from_static_payload_type(pt: u8) -> Option<Codec> {
        match pt {
            0 => Some(Codec::Pcmu),
            8 => Some(Codec::Pcma),
            _ => None,
        }
    }

    /// Map an SDP encoding name (case-insensitive) at 8000 Hz to a codec.
    pub fn from_rtpmap(name: &str, clock: u32) -> Option<Codec> {
        if clock != 8000 {
            return None;
        }
        if name.eq_ignore_ascii_case("PCMU") {
            Some(Codec::Pcmu)
        } else if name.eq_ignore_ascii_case("PCMA") {
            Some(Codec::Pcma)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    /// The encoder's former loop, kept as the reference for the exhaustive test below.
    fn ulaw_encode_by_loop(s: i16) -> u8 {
        let mut pcm = i32::from(s);
        let sign: u8 = if pcm < 0 {
            pcm = -pcm;
            0x80
        } else {
            0
        };
        pcm = pcm.min(ULAW_CLIP) + ULAW_BIAS;
        let mut exponent: u8 = 7;
        let mut mask: i32 = 0x4000;
        while exponent > 0 && (pcm & mask) == 0 {
            exponent -= 1;
            mask >>= 1;
        }
        let mantissa = ((pcm >> (exponent + 3)) & 0x0F) as u8;
        !(sign | (exponent << 4) | mantissa)
    }

    #[test]
    fn ulaw_encoder_matches_the_segment_search_on_every_sample() {
        for s in i16::MIN..=i16::MAX {
            assert_eq!(ulaw_encode(s), ulaw_encode_by_loop(s), "sample {s}");
        }
    }

    use super::*;

    #[test]
    fn ulaw_known_values() {
        assert_eq!(ulaw_encode(0), 0xFF);
        assert_eq!(ulaw_decode(0xFF), 0);
        assert_eq!(ulaw_decode(0x7F), 0);
        assert_eq!(ulaw_decode(0x00), -32124);
        assert_eq!(ulaw_decode(0x80), 32124);
        assert_eq!(ulaw_encode(i16::MAX), 0x80);
        assert_eq!(ulaw_encode(i16::MIN), 0x00);
        assert_eq!(ulaw_encode(-1), 0x7F);
        assert_eq!(ulaw_encode(1000), 0xCE);
        assert_eq!(ulaw_decode(0xCE), 988);
    }

    #[test]
    fn alaw_known_values() {
        assert_eq!(alaw_encode(0), 0xD5);
        assert_eq!(alaw_decode(0xD5), 8);
        assert_eq!(alaw_decode(0x55), -8);
        assert_eq!(alaw_decode(0xAA), 32256);
        assert_eq!(alaw_decode(0x2A), -32256);
        assert_eq!(alaw_encode(i16::MAX), 0xAA);
        assert_eq!(alaw_encode(i16::MIN), 0x2A);
        assert_eq!(alaw_encode(1000), 0xFA);
        assert_eq!(alaw_decode(0xFA), 1008);
    }

    #[test]
    fn ulaw_roundtrip_error_bound() {
        for s in i16::MIN..=i16::MAX {
            let d = ulaw_decode(ulaw_encode(s));
            let err = (i32::from(s) - i32::from(d)).abs();
            // Quantisation step doubles per segment; half a step (plus clipping) bounds the error.
            let bound = (i32::from(s).abs() / 16).max(8) + 1;
            let clip = (i32::from(s).abs() - 32124).max(0);
            assert!(err <= bound + clip, "s={s} d={d} err={err}");
        }
    }

    #[test]
    fn alaw_roundtrip_error_bound() {
        for s in i16::MIN..=i16::MAX {
            let d = alaw_decode(alaw_encode(s));
            let err = (i32::from(s) - i32::from(d)).abs();
            let bound = (i32::from(s).abs() / 32).max(16) + 1;
            assert!(err <= bound, "s={s} d={d} err={err}");
        }
    }

    #[test]
    fn decode_encode_is_identity_on_codes() {
        for b in 0..=255u8 {
            let u = ulaw_encode(ulaw_decode(b));
            // 0x7F and 0xFF both decode to 0 (negative and positive zero).
            if b == 0x7F {
                assert_eq!(u, 0xFF);
            } else {
                assert_eq!(u, b, "ulaw code {b:#x}");
            }
            assert_eq!(alaw_encode(alaw_decode(b)), b, "alaw code {b:#x}");
        }
    }

    #[test]
    fn codec_helpers() {
        assert_eq!(Codec::Pcmu.payload_type(), 0);
        assert_eq!(Codec::Pcma.payload_type(), 8);
        assert_eq!(Codec::Pcmu.name(), "PCMU");
        assert_eq!(Codec::Pcma.name(), "PCMA");
        assert_eq!(Codec::Pcmu.encode(&[0; 4]), vec![0xFF; 4]);
        assert_eq!(Codec::Pcma.encode(&[0; 4]), vec![0xD5; 4]);
        assert_eq!(Codec::Pcmu.silence_byte(), 0xFF);
        assert_eq!(Codec::Pcma.silence_byte(), 0xD5);
        let pcm: Vec<i16> = (0..160).map(|i| (i * 100 - 8000) as i16).collect();
        for c in [Codec::Pcmu, Codec::Pcma] {
            let enc = c.encode(&pcm);
            assert_eq!(enc.len(), 160);
            let dec = c.decode(&enc);
            assert_eq!(dec.len(), 160);
            for (a, b) in pcm.iter().zip(dec.iter()) {
                assert!((i32::from(*a) - i32::from(*b)).abs() <= 256);
            }
        }
        assert_eq!(Codec::from_rtpmap("pcmu", 8000), Some(Codec::Pcmu));
        assert_eq!(Codec::from_rtpmap("PCMA", 16000), None);
    }
}
