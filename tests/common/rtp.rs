//! RTP on the test side: packets built and read, tones sent, audio counted.

use super::phone::Msg;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// A validated RTP packet header.
#[derive(Debug, Clone, Copy)]
pub struct RtpHeader {
    pub pt: u8,
    pub marker: bool,
    pub seq: u16,
    pub ts: u32,
    pub ssrc: u32,
}

pub fn rtp_header(b: &[u8]) -> Option<RtpHeader> {
    let r = rtp_rs::RtpReader::new(b).ok()?;
    Some(RtpHeader {
        pt: r.payload_type(),
        marker: r.mark(),
        seq: u16::from(r.sequence_number()),
        ts: r.timestamp(),
        ssrc: r.ssrc(),
    })
}

/// Receives RTP on `sock` until `idle` passes with nothing; returns every packet.
pub async fn collect_rtp(
    sock: &tokio::net::UdpSocket,
    idle: Duration,
    max: Duration,
) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let start = Instant::now();
    let mut buf = vec![0u8; 2048];
    while start.elapsed() < max {
        match tokio::time::timeout(idle, sock.recv_from(&mut buf)).await {
            Ok(Ok((n, _))) => out.push(buf[..n].to_vec()),
            _ => break,
        }
    }
    out
}

/// An RTP packet with our own header.
pub fn rtp_packet(seq: u16, ts: u32, ssrc: u32, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0x80, 0x00];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&ts.to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend_from_slice(payload);
    p
}

/// Sends `packets` RTP packets (PCMU, 20 ms apart) of a sine at `freq` from `sock` to `to`.
pub async fn send_tone(sock: &tokio::net::UdpSocket, to: SocketAddr, freq: f64, packets: u16) {
    let ssrc: u32 = rand::random();
    for i in 0..packets {
        let pcm: Vec<i16> = (0..160)
            .map(|n| {
                let t = f64::from(u32::from(i) * 160 + n) / 8000.0;
                ((2.0 * std::f64::consts::PI * freq * t).sin() * 8000.0) as i16
            })
            .collect();
        let payload = vpbx_media::Codec::Pcmu.encode(&pcm);
        let pkt = rtp_packet(i, u32::from(i) * 160, ssrc, &payload);
        sock.send_to(&pkt, to).await.unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Counts RTP packets (PCMU or PCMA) with audible payload arriving on `sock` within `ms`.
pub async fn count_loud(sock: &tokio::net::UdpSocket, ms: u64) -> usize {
    let mut n = 0;
    let mut buf = [0u8; 2048];
    let deadline = tokio::time::Instant::now() + Duration::from_millis(ms);
    while let Ok(Ok((len, _))) = tokio::time::timeout_at(deadline, sock.recv_from(&mut buf)).await {
        if len <= 12 || buf[1] & 0x7f > 8 {
            continue;
        }
        let codec = if buf[1] & 0x7f == 8 {
            vpbx_media::Codec::Pcma
        } else {
            vpbx_media::Codec::Pcmu
        };
        let pcm = codec.decode(&buf[12..len]);
        let energy: f64 = pcm.iter().map(|s| f64::from(*s).powi(2)).sum::<f64>() / pcm.len() as f64;
        if energy.sqrt() > 500.0 {
            n += 1;
        }
    }
    n
}

/// The RTP address of an SDP body.
pub fn media_addr(sdp: &str) -> SocketAddr {
    Msg {
        start: String::new(),
        headers: vec![],
        body: sdp.to_string(),
    }
    .sdp_media_addr()
    .unwrap()
}

/// Sends `digit` as an RFC 4733 telephone-event (payload type 101, as the test phone offers):
/// five updates of 20 ms and three end packets, all with one timestamp.
pub async fn send_digit(
    sock: &tokio::net::UdpSocket,
    to: SocketAddr,
    digit: char,
    seq: &mut u16,
    ts: &mut u32,
) {
    let event = match digit {
        '0'..='9' => digit as u8 - b'0',
        '*' => 10,
        '#' => 11,
        _ => panic!("digit {digit}"),
    };
    *ts = ts.wrapping_add(8000);
    for i in 0..8u16 {
        let end = i >= 5;
        let duration = 160 * (i.min(4) + 1);
        let mut payload = vec![event, if end { 0x80 | 10 } else { 10 }];
        payload.extend_from_slice(&duration.to_be_bytes());
        let mut p = rtp_packet(*seq, *ts, 0x4733_0001, &payload);
        p[1] = 101 | if i == 0 { 0x80 } else { 0 };
        *seq = seq.wrapping_add(1);
        sock.send_to(&p, to).await.unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `secs` of a loud 440 Hz + 1 kHz mix, 8 kHz (a stand-in for speech as the switch's level
/// detector hears it).
pub fn loud_pcm(secs: f64) -> Vec<i16> {
    (0..(secs * 8000.0) as usize)
        .map(|n| {
            let t = n as f64 / 8000.0;
            let pi2 = 2.0 * std::f64::consts::PI;
            (((pi2 * 440.0 * t).sin() + (pi2 * 1000.0 * t).sin()) * 5000.0) as i16
        })
        .collect()
}

/// A caller who speaks, then listens: sends `pcm` from `sock` to `to` as PCMU RTP at real-time
/// pace (20 ms a packet), then silence packets for ever. Race it against what ends the call.
pub async fn say_then_keep_quiet(sock: &tokio::net::UdpSocket, to: SocketAddr, pcm: &[i16]) {
    const SILENT: [i16; 160] = [0; 160];
    let ssrc: u32 = rand::random();
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    let frames = pcm.chunks(160).chain(std::iter::repeat(&SILENT[..]));
    for (i, frame) in frames.enumerate() {
        tick.tick().await;
        let mut f = frame.to_vec();
        f.resize(160, 0);
        let payload = vpbx_media::Codec::Pcmu.encode(&f);
        let pkt = rtp_packet(i as u16, (i as u32).wrapping_mul(160), ssrc, &payload);
        sock.send_to(&pkt, to).await.unwrap();
    }
}
