//! Minimal SDP (RFC 4566) parsing and building for audio offer/answer (RFC 3264).
//!
//! Pure code: no I/O, no clock. The parser is lenient about things that do not
//! matter for a G.711 audio call (unknown lines, odd origin fields, unparsable
//! attributes) and strict only where the answer would otherwise be wrong
//! (missing `v=`, malformed `m=` lines, no audio stream at all). It never panics
//! on peer input.

use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};

use crate::g711::Codec;

/// Errors from parsing or negotiating an SDP offer.
///
/// The SIP edge maps [`SdpError::NoCommonCodec`] to `488 Not Acceptable Here`
/// and every other variant to `400 Bad Request`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SdpError {
    /// The body has no `v=` line (or is empty / not SDP at all).
    #[error("SDP has no v= line")]
    MissingVersion,
    /// An `m=` line could not be parsed.
    #[error("malformed m= line: {0}")]
    BadMediaLine(String),
    /// There is no usable (`m=audio`, non-zero port) media stream.
    #[error("SDP offers no active audio stream")]
    NoAudio,
    /// Neither the chosen media section nor the session has a usable `c=` address.
    #[error("SDP has no usable connection address for the audio stream")]
    NoConnection,
    /// The offer contains audio, but neither PCMU nor PCMA over RTP/AVP(F).
    #[error("no common codec (need PCMU or PCMA over RTP/AVP)")]
    NoCommonCodec,
}

/// Media direction attribute (`a=sendrecv` etc.).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Direction {
    /// `a=sendrecv` (the default when absent).
    #[default]
    SendRecv,
    /// `a=sendonly`.
    SendOnly,
    /// `a=recvonly`.
    RecvOnly,
    /// `a=inactive`.
    Inactive,
}

impl Direction {
    /// The SDP attribute name (without `a=`).
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }

    /// The direction an answerer must use for an offer with this direction (RFC 3264 §6.1).
    pub fn answer(self) -> Direction {
        match self {
            Direction::SendRecv => Direction::SendRecv,
            Direction::SendOnly => Direction::RecvOnly,
            Direction::RecvOnly => Direction::SendOnly,
            Direction::Inactive => Direction::Inactive,
        }
    }

    fn from_attr(attr: &str) -> Option<Direction> {
        match attr {
            "sendrecv" => Some(Direction::SendRecv),
            "sendonly" => Some(Direction::SendOnly),
            "recvonly" => Some(Direction::RecvOnly),
            "inactive" => Some(Direction::Inactive),
            _ => None,
        }
    }
}

/// One `m=` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaDescription {
    /// Media type: "audio", "video", "application", ...
    pub kind: String,
    /// Transport port (0 = stream rejected/disabled).
    pub port: u16,
    /// Transport protocol, e.g. "RTP/AVP".
    pub proto: String,
    /// Payload type numbers in the offerer's order of preference.
    /// Non-numeric formats (non-RTP protocols) are skipped.
    pub formats: Vec<u8>,
    /// `a=rtpmap` entries: (payload type, encoding name, clock rate).
    pub rtpmaps: Vec<(u8, String, u32)>,
    /// Media-level `c=` address, if any.
    pub connection: Option<IpAddr>,
    /// Effective direction (media-level attribute, else session-level, else sendrecv).
    pub direction: Direction,
}

impl MediaDescription {
    /// The `a=rtpmap` entry for a payload type, if present.
    pub fn rtpmap(&self, pt: u8) -> Option<(&str, u32)> {
        self.rtpmaps
            .iter()
            .find(|(p, _, _)| *p == pt)
            .map(|(_, name, clock)| (name.as_str(), *clock))
    }

    /// The codec a payload type stands for in this section (rtpmap first, then static PTs).
    pub fn codec_for(&self, pt: u8) -> Option<Codec> {
        match self.rtpmap(pt) {
            Some((name, clock)) => Codec::from_rtpmap(name, clock),
            None => Codec::from_static_payload_type(pt),
        }
    }
}

/// A parsed session description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionDescription {
    /// `o=` session id (0 when absent or not a number).
    pub origin_session_id: u64,
    /// Session-level `c=` address, if any.
    pub connection: Option<IpAddr>,
    /// All media sections in order.
    pub media: Vec<MediaDescription>,
}

/// Parse the address part of a `c=` value ("IN IP4 1.2.3.4[/ttl[/n]]").
/// Returns `None` for anything unusable (FQDNs, garbage); this is lenient on purpose.
fn parse_connection(value: &str) -> Option<IpAddr> {
    let mut it = value.split_ascii_whitespace();
    let nettype = it.next()?;
    let _addrtype = it.next()?;
    let addr = it.next()?;
    if !nettype.eq_ignore_ascii_case("IN") {
        return None;
    }
    let addr = addr.split('/').next()?;
    addr.parse().ok()
}

/// Parse an `a=rtpmap:` value ("<pt> <name>/<clock>[/<channels>]").
fn parse_rtpmap(value: &str) -> Option<(u8, String, u32)> {
    let (pt, rest) = value.trim().split_once(char::is_whitespace)?;
    let pt: u8 = pt.parse().ok()?;
    let mut parts = rest.trim().split('/');
    let name = parts.next()?.trim();
    if name.is_empty() {
        return None;
    }
    let clock: u32 = parts.next()?.trim().parse().ok()?;
    Some((pt, name.to_string(), clock))
}

/// Parse an `m=` value ("<media> <port>[/<count>] <proto> <fmt> ...").
fn parse_media_line(value: &str) -> Result<MediaDescription, SdpError> {
    let bad = || SdpError::BadMediaLine(value.chars().take(120).collect());
    let mut it = value.split_ascii_whitespace();
    let kind = it.next().ok_or_else(bad)?;
    let port = it.next().ok_or_else(bad)?;
    let proto = it.next().ok_or_else(bad)?;
    let port: u16 = port
        .split('/')
        .next()
        .and_then(|p| p.parse().ok())
        .ok_or_else(bad)?;
    let is_rtp = proto.to_ascii_uppercase().contains("RTP");
    let mut formats = Vec::new();
    let mut any_format = false;
    for f in it {
        any_format = true;
        match f.parse::<u8>() {
            Ok(pt) if pt <= 127 => formats.push(pt),
            _ if is_rtp => return Err(bad()),
            _ => {}
        }
    }
    if !any_format {
        return Err(bad());
    }
    Ok(MediaDescription {
        kind: kind.to_string(),
        port,
        proto: proto.to_string(),
        formats,
        rtpmaps: Vec::new(),
        connection: None,
        direction: Direction::SendRecv,
    })
}

impl SessionDescription {
    /// Parse an SDP body. Accepts CRLF or LF line ends and ignores unknown lines.
    ///
    /// Errors: no `v=` line, a malformed `m=` line, or no `m=audio` section.
    pub fn parse(text: &str) -> Result<Self, SdpError> {
        let mut saw_version = false;
        let mut origin_session_id = 0u64;
        let mut connection = None;
        let mut session_direction: Option<Direction> = None;
        let mut media: Vec<MediaDescription> = Vec::new();
        // Media-level direction attributes seen for each section (None = inherit).
        let mut media_dirs: Vec<Option<Direction>> = Vec::new();

        for raw in text.lines() {
            let line = raw.trim_end_matches('\r').trim();
            let Some((key, value)) = line.split_once('=') else {
                continue;
            };
            let key = key.trim();
            match key {
                "v" => saw_version = true,
                "o" if media.is_empty() => {
                    origin_session_id = value
                        .split_ascii_whitespace()
                        .nth(1)
                        .and_then(|s| s.parse().ok())
                        .unwrap_or(0);
                }
                "c" => {
                    let addr = parse_connection(value);
                    match media.last_mut() {
                        Some(m) => m.connection = addr,
                        None => connection = addr,
                    }
                }
                "m" => {
                    media.push(parse_media_line(value)?);
                    media_dirs.push(None);
                }
                "a" => {
                    let attr = value.trim();
                    let (name, arg) = match attr.split_once(':') {
                        Some((n, a)) => (n.trim(), Some(a)),
                        None => (attr, None),
                    };
                    if let Some(dir) = Direction::from_attr(name) {
                        match media_dirs.last_mut() {
                            Some(d) => *d = Some(dir),
                            None => session_direction = Some(dir),
                        }
                    } else if name == "rtpmap" {
                        if let (Some(m), Some(map)) = (media.last_mut(), arg.and_then(parse_rtpmap))
                        {
                            m.rtpmaps.push(map);
                        }
                    }
                }
                _ => {}
            }
        }

        if !saw_version {
            return Err(SdpError::MissingVersion);
        }
        let default_dir = session_direction.unwrap_or_default();
        for (m, d) in media.iter_mut().zip(media_dirs) {
            m.direction = d.unwrap_or(default_dir);
        }
        if !media.iter().any(|m| m.kind.eq_ignore_ascii_case("audio")) {
            return Err(SdpError::NoAudio);
        }
        Ok(SessionDescription {
            origin_session_id,
            connection,
            media,
        })
    }
}

/// Result of negotiating an offer: what we will send and where.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Negotiated {
    /// The chosen G.711 codec (first PCMU/PCMA in the offerer's preference order).
    pub codec: Codec,
    /// Payload type of `telephone-event/8000`, if offered.
    pub telephone_event: Option<u8>,
    /// Where to send RTP.
    pub remote: SocketAddr,
    /// Our answer direction (the offer's direction mirrored).
    pub direction: Direction,
}

fn is_avp(proto: &str) -> bool {
    proto.eq_ignore_ascii_case("RTP/AVP") || proto.eq_ignore_ascii_case("RTP/AVPF")
}

/// Negotiate an audio offer: pick the first `m=audio` with a non-zero port and a
/// plain RTP profile, the first G.711 codec in the offerer's order, and the
/// `telephone-event/8000` payload type if any.
///
/// Errors: [`SdpError::NoAudio`] when there is no active audio stream,
/// [`SdpError::NoCommonCodec`] when audio is offered but not G.711 over RTP/AVP(F)
/// (e.g. only G.729, or only RTP/SAVP), [`SdpError::NoConnection`] when no `c=` applies.
pub fn negotiate(offer: &SessionDescription) -> Result<Negotiated, SdpError> {
    let mut saw_active_audio = false;
    for m in &offer.media {
        if !m.kind.eq_ignore_ascii_case("audio") || m.port == 0 {
            continue;
        }
        saw_active_audio = true;
        if !is_avp(&m.proto) {
            continue;
        }
        let Some(codec) = m.formats.iter().find_map(|&pt| m.codec_for(pt)) else {
            continue;
        };
        let telephone_event = m.formats.iter().copied().find(|&pt| {
            m.rtpmap(pt).is_some_and(|(name, clock)| {
                name.eq_ignore_ascii_case("telephone-event") && clock == 8000
            })
        });
        let ip = m
            .connection
            .or(offer.connection)
            .ok_or(SdpError::NoConnection)?;
        return Ok(Negotiated {
            codec,
            telephone_event,
            remote: SocketAddr::new(ip, m.port),
            direction: m.direction.answer(),
        });
    }
    if saw_active_audio {
        Err(SdpError::NoCommonCodec)
    } else {
        Err(SdpError::NoAudio)
    }
}

/// Build a complete SDP answer (CRLF line ends) for a negotiated stream.
pub fn answer(
    local_ip: IpAddr,
    local_port: u16,
    n: &Negotiated,
    session_id: u64,
    session_version: u64,
) -> String {
    let addrtype = match local_ip {
        IpAddr::V4(_) => "IP4",
        IpAddr::V6(_) => "IP6",
    };
    let pt = n.codec.payload_type();
    let mut s = String::with_capacity(256);
    // Writing to a String cannot fail; ignore the fmt::Result.
    let _ = write!(
        s,
        "v=0\r\no=vpbx {session_id} {session_version} IN {addrtype} {local_ip}\r\ns=vpbx\r\n\
         c=IN {addrtype} {local_ip}\r\nt=0 0\r\nm=audio {local_port} RTP/AVP {pt}"
    );
    if let Some(te) = n.telephone_event {
        let _ = write!(s, " {te}");
    }
    let _ = write!(s, "\r\na=rtpmap:{pt} {}/8000\r\n", n.codec.name());
    if let Some(te) = n.telephone_event {
        let _ = write!(
            s,
            "a=rtpmap:{te} telephone-event/8000\r\na=fmtp:{te} 0-16\r\n"
        );
    }
    let _ = write!(s, "a=ptime:20\r\na={}\r\n", n.direction.as_str());
    s
}

/// Our SDP offer for an outbound leg: PCMU and PCMA at `local_ip:local_port`, RFC 4733
/// telephone-events on payload type 101, sendrecv.
pub fn offer(local_ip: IpAddr, local_port: u16, session_id: u64, session_version: u64) -> String {
    let addrtype = match local_ip {
        IpAddr::V4(_) => "IP4",
        IpAddr::V6(_) => "IP6",
    };
    format!(
        "v=0\r\no=vpbx {session_id} {session_version} IN {addrtype} {local_ip}\r\ns=vpbx\r\n\
         c=IN {addrtype} {local_ip}\r\nt=0 0\r\nm=audio {local_port} RTP/AVP 0 8 101\r\n\
         a=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\n\
         a=fmtp:101 0-16\r\na=ptime:20\r\na=sendrecv\r\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    const SIPP_OFFER: &str = "v=0\r\n\
o=user1 53655765 2353687637 IN IP4 127.0.1.1\r\n\
s=-\r\n\
c=IN IP4 127.0.1.1\r\n\
t=0 0\r\n\
m=audio 6000 RTP/AVP 0\r\n\
a=rtpmap:0 PCMU/8000\r\n";

    const BARESIP_OFFER: &str = "v=0\r\n\
o=- 1418412512 3891374612 IN IP4 192.168.1.50\r\n\
s=-\r\n\
c=IN IP4 192.168.1.50\r\n\
t=0 0\r\n\
m=audio 10028 RTP/AVP 96 97 98 9 0 8 101\r\n\
b=AS:2\r\n\
a=rtpmap:96 opus/48000/2\r\n\
a=fmtp:96 stereo=1;sprop-stereo=1\r\n\
a=rtpmap:97 G7221/32000\r\n\
a=fmtp:97 bitrate=48000\r\n\
a=rtpmap:98 L16/16000\r\n\
a=rtpmap:9 G722/8000\r\n\
a=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:8 PCMA/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=fmtp:101 0-15\r\n\
a=sendrecv\r\n\
a=label:1\r\n\
a=rtcp-rsize\r\n\
a=ssrc:1853187356 cname:sip:alice@example.com\r\n";

    #[test]
    fn our_offer_parses_and_negotiates_pcmu_with_events() {
        let o = offer("127.0.0.1".parse().unwrap(), 7000, 1, 1);
        let n = negotiate(&SessionDescription::parse(&o).unwrap()).unwrap();
        assert_eq!(n.codec, crate::Codec::Pcmu);
        assert_eq!(n.telephone_event, Some(101));
        assert_eq!(n.remote.port(), 7000);
    }

    #[test]
    fn sipp_default_offer() {
        let sd = SessionDescription::parse(SIPP_OFFER).unwrap();
        assert_eq!(sd.origin_session_id, 53655765);
        assert_eq!(sd.connection, Some(IpAddr::V4(Ipv4Addr::new(127, 0, 1, 1))));
        assert_eq!(sd.media.len(), 1);
        let m = &sd.media[0];
        assert_eq!(m.kind, "audio");
        assert_eq!(m.port, 6000);
        assert_eq!(m.proto, "RTP/AVP");
        assert_eq!(m.formats, vec![0]);
        assert_eq!(m.rtpmaps, vec![(0, "PCMU".to_string(), 8000)]);
        assert_eq!(m.direction, Direction::SendRecv);
        let n = negotiate(&sd).unwrap();
        assert_eq!(n.codec, Codec::Pcmu);
        assert_eq!(n.telephone_event, None);
        assert_eq!(n.remote, "127.0.1.1:6000".parse().unwrap());
        assert_eq!(n.direction, Direction::SendRecv);
    }

    #[test]
    fn baresip_offer_many_codecs() {
        // LF-only line ends must work too.
        let lf = BARESIP_OFFER.replace("\r\n", "\n");
        for text in [BARESIP_OFFER, lf.as_str()] {
            let sd = SessionDescription::parse(text).unwrap();
            let m = &sd.media[0];
            assert_eq!(m.formats, vec![96, 97, 98, 9, 0, 8, 101]);
            assert_eq!(m.rtpmaps.len(), 7);
            assert_eq!(m.rtpmaps[0], (96, "opus".to_string(), 48000));
            let n = negotiate(&sd).unwrap();
            assert_eq!(n.codec, Codec::Pcmu);
            assert_eq!(n.telephone_event, Some(101));
            assert_eq!(n.remote, "192.168.1.50:10028".parse().unwrap());
        }
    }

    #[test]
    fn pcma_preferred_when_first() {
        let offer = "v=0\no=- x y IN IP4 10.0.0.1\ns=-\nc=IN IP4 10.0.0.1\nt=0 0\n\
m=audio 4000 RTP/AVP 18 8 0\na=sendonly\n";
        let sd = SessionDescription::parse(offer).unwrap();
        // Non-numeric origin id is accepted leniently.
        assert_eq!(sd.origin_session_id, 0);
        let n = negotiate(&sd).unwrap();
        assert_eq!(n.codec, Codec::Pcma);
        assert_eq!(n.direction, Direction::RecvOnly);
    }

    #[test]
    fn only_g729_is_no_common_codec() {
        let offer = "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n\
m=audio 4000 RTP/AVP 18 101\r\na=rtpmap:18 G729/8000\r\na=rtpmap:101 telephone-event/8000\r\n";
        let sd = SessionDescription::parse(offer).unwrap();
        assert_eq!(negotiate(&sd), Err(SdpError::NoCommonCodec));
    }

    #[test]
    fn srtp_only_is_no_common_codec() {
        let offer = "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n\
m=audio 4000 RTP/SAVP 0\r\n";
        let sd = SessionDescription::parse(offer).unwrap();
        assert_eq!(negotiate(&sd), Err(SdpError::NoCommonCodec));
    }

    #[test]
    fn garbage_is_error() {
        assert_eq!(
            SessionDescription::parse("hello world"),
            Err(SdpError::MissingVersion)
        );
        assert_eq!(SessionDescription::parse(""), Err(SdpError::MissingVersion));
        assert!(matches!(
            SessionDescription::parse("v=0\r\nm=audio\r\n"),
            Err(SdpError::BadMediaLine(_))
        ));
        assert!(matches!(
            SessionDescription::parse("v=0\r\nm=audio 99999 RTP/AVP 0\r\n"),
            Err(SdpError::BadMediaLine(_))
        ));
        assert!(matches!(
            SessionDescription::parse("v=0\r\nm=audio 4000 RTP/AVP abc\r\n"),
            Err(SdpError::BadMediaLine(_))
        ));
        assert_eq!(
            SessionDescription::parse("v=0\r\nm=video 4000 RTP/AVP 96\r\n"),
            Err(SdpError::NoAudio)
        );
        // Binary junk and odd unicode must not panic.
        let junk =
            "v=0\n\u{0}\u{ffff}=\n=\n==\na=rtpmap:\na=rtpmap:0\na=rtpmap:300 X/1\nc=\nc=IN\no=\n";
        assert_eq!(SessionDescription::parse(junk), Err(SdpError::NoAudio));
    }

    #[test]
    fn random_input_never_panics() {
        use rand::{Rng, SeedableRng};
        let pieces = [
            "v=0",
            "m=audio",
            " 0",
            " 8",
            " 101",
            " 65535",
            " RTP/AVP",
            " RTP/SAVP",
            " x",
            "c=IN IP4 1.2.3.4",
            "c=IN IP6 ::1",
            "c=IN",
            "a=rtpmap:",
            "0 PCMU/8000",
            "101 telephone-event/8000",
            "a=sendonly",
            "a=",
            "=",
            "/",
            "\r\n",
            "\n",
            " ",
            "\u{0}",
            "é",
            "o=- 1 2 IN IP4 x",
            "m=",
            "4000",
        ];
        let mut rng = rand::rngs::StdRng::seed_from_u64(42);
        for _ in 0..5000 {
            let n = rng.gen_range(0..30);
            let mut text = String::new();
            for _ in 0..n {
                text.push_str(pieces[rng.gen_range(0..pieces.len())]);
                if rng.gen_bool(0.4) {
                    text.push('\n');
                }
            }
            if let Ok(sd) = SessionDescription::parse(&text) {
                let _ = negotiate(&sd);
            }
            let bytes: Vec<u8> = (0..rng.gen_range(0..200)).map(|_| rng.gen()).collect();
            let _ = SessionDescription::parse(&String::from_utf8_lossy(&bytes));
        }
    }

    #[test]
    fn missing_connection_is_error() {
        let sd = SessionDescription::parse("v=0\r\nm=audio 4000 RTP/AVP 0\r\n").unwrap();
        assert_eq!(negotiate(&sd), Err(SdpError::NoConnection));
    }

    #[test]
    fn port_zero_audio_is_skipped() {
        let offer = "v=0\r\nc=IN IP4 10.0.0.1\r\nm=audio 0 RTP/AVP 0\r\nm=audio 5000 RTP/AVP 8\r\n";
        let n = negotiate(&SessionDescription::parse(offer).unwrap()).unwrap();
        assert_eq!(n.codec, Codec::Pcma);
        assert_eq!(n.remote.port(), 5000);
        let only_zero = "v=0\r\nc=IN IP4 10.0.0.1\r\nm=audio 0 RTP/AVP 0\r\n";
        assert_eq!(
            negotiate(&SessionDescription::parse(only_zero).unwrap()),
            Err(SdpError::NoAudio)
        );
    }

    #[test]
    fn ipv6_media_level_connection() {
        let offer = "v=0\r\no=- 7 7 IN IP6 2001:db8::1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n\
m=audio 7078 RTP/AVP 8 0 101\r\nc=IN IP6 2001:db8::2\r\na=rtpmap:101 telephone-event/8000\r\n\
a=inactive\r\n";
        let sd = SessionDescription::parse(offer).unwrap();
        let v6: Ipv6Addr = "2001:db8::2".parse().unwrap();
        assert_eq!(sd.media[0].connection, Some(IpAddr::V6(v6)));
        let n = negotiate(&sd).unwrap();
        assert_eq!(n.codec, Codec::Pcma);
        assert_eq!(n.telephone_event, Some(101));
        assert_eq!(n.remote, SocketAddr::new(IpAddr::V6(v6), 7078));
        assert_eq!(n.direction, Direction::Inactive);
    }

    #[test]
    fn session_level_direction_inherited() {
        let offer = "v=0\r\nc=IN IP4 10.0.0.1/127\r\na=recvonly\r\nm=audio 5000 RTP/AVP 0\r\n";
        let sd = SessionDescription::parse(offer).unwrap();
        assert_eq!(sd.connection, Some("10.0.0.1".parse().unwrap()));
        assert_eq!(sd.media[0].direction, Direction::RecvOnly);
        assert_eq!(negotiate(&sd).unwrap().direction, Direction::SendOnly);
    }

    #[test]
    fn answer_is_well_formed_and_reparses() {
        let sd = SessionDescription::parse(BARESIP_OFFER).unwrap();
        let n = negotiate(&sd).unwrap();
        let text = answer("10.1.2.3".parse().unwrap(), 20000, &n, 42, 1);
        assert_eq!(
            text,
            "v=0\r\no=vpbx 42 1 IN IP4 10.1.2.3\r\ns=vpbx\r\nc=IN IP4 10.1.2.3\r\nt=0 0\r\n\
m=audio 20000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n\
a=fmtp:101 0-16\r\na=ptime:20\r\na=sendrecv\r\n"
        );
        let back = SessionDescription::parse(&text).unwrap();
        assert_eq!(back.origin_session_id, 42);
        let n2 = negotiate(&back).unwrap();
        assert_eq!(n2.codec, Codec::Pcmu);
        assert_eq!(n2.telephone_event, Some(101));
        assert_eq!(n2.remote, "10.1.2.3:20000".parse().unwrap());

        let n3 = Negotiated {
            codec: Codec::Pcma,
            telephone_event: None,
            remote: "[::1]:4000".parse().unwrap(),
            direction: Direction::RecvOnly,
        };
        let text = answer("::1".parse().unwrap(), 30000, &n3, 1, 2);
        assert!(text.contains("c=IN IP6 ::1\r\n"));
        assert!(text.contains("m=audio 30000 RTP/AVP 8\r\n"));
        assert!(text.contains("a=rtpmap:8 PCMA/8000\r\n"));
        assert!(!text.contains("telephone-event"));
        assert!(text.ends_with("a=recvonly\r\n"));
    }
}
