//! End-to-end tests of the leg features over real UDP on localhost: DTMF,
//! counters, bridge + latching, recording, voicemail, mixer (coach and
//! conference), sequences with barge-in. Ports 48000–48999.
// A test may read the clock: its waits are bounded by deadlines.
#![allow(clippy::unwrap_used, clippy::disallowed_methods)]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use rtp_rs::RtpReader;
use tokio::net::UdpSocket;
use tokio::sync::mpsc::{self, UnboundedReceiver};
use tokio::time::timeout;
use vpbx_media::dtmf::{TelephoneEvent, TelephoneEventReceiver};
use vpbx_media::dtmf_detect::DtmfDetector;
use vpbx_media::goertzel::{energy, tone_power};
use vpbx_media::packetizer::RtpSender;
use vpbx_media::{
    tones, Codec, MediaConfig, MediaEngine, MediaEvent, MediaHandle, MixKind, MixRole, PlayOptions,
    Prompt, RecordSpec, VoicemailReason, VoicemailSpec,
};

const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

fn engine(port_min: u16, port_max: u16) -> MediaEngine {
    MediaEngine::new(MediaConfig {
        bind_ip: LOCALHOST,
        port_min,
        port_max,
        inactivity_timeout: Duration::ZERO,
    })
}

type Events = UnboundedReceiver<MediaEvent>;

async fn next_event(rx: &mut Events) -> MediaEvent {
    timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("event timeout")
        .expect("event channel closed")
}

/// Next event that is not a Dtmf/Timeout (returned separately when wanted).
async fn next_non_dtmf(rx: &mut Events) -> MediaEvent {
    loop {
        match next_event(rx).await {
            MediaEvent::Dtmf { .. } | MediaEvent::Timeout => continue,
            e => return e,
        }
    }
}

/// Events that arrive within `d`.
async fn drain_for(rx: &mut Events, d: Duration) -> Vec<MediaEvent> {
    let mut out = Vec::new();
    let end = tokio::time::Instant::now() + d;
    while let Ok(Some(e)) = timeout(end - tokio::time::Instant::now(), rx.recv()).await {
        out.push(e);
    }
    out
}

fn sine(freq: f64, ms: u32, amp: f64) -> Vec<i16> {
    (0..ms as usize * 8)
        .map(|i| (amp * (2.0 * std::f64::consts::PI * freq * i as f64 / 8000.0).sin()) as i16)
        .collect()
}

/// A remote RTP endpoint.
struct Peer {
    sock: Arc<UdpSocket>,
    rtp: RtpSender,
    codec: Codec,
}

impl Peer {
    async fn new(codec: Codec) -> Peer {
        Peer {
            sock: Arc::new(UdpSocket::bind((LOCALHOST, 0)).await.unwrap()),
            rtp: RtpSender::new(rand::random(), rand::random(), rand::random()),
            codec,
        }
    }

    fn addr(&self) -> SocketAddr {
        self.sock.local_addr().unwrap()
    }

    /// Send PCM paced at 20 ms per frame.
    async fn send_pcm(&mut self, to: SocketAddr, pcm: &[i16]) {
        let mut tick = tokio::time::interval(Duration::from_millis(20));
        for chunk in pcm.chunks(160) {
            tick.tick().await;
            let pkt = self
                .rtp
                .next_packet(self.codec.payload_type(), &self.codec.encode(chunk));
            self.sock.send_to(&pkt, to).await.unwrap();
        }
    }

    /// Receive RTP for `d`; returns (payload type, payload) pairs.
    async fn collect(&self, d: Duration) -> Vec<(u8, Vec<u8>, Vec<u8>)> {
        let mut out = Vec::new();
        let mut buf = vec![0u8; 2048];
        let end = tokio::time::Instant::now() + d;
        while let Ok(Ok((n, _))) = timeout(
            end - tokio::time::Instant::now(),
            self.sock.recv_from(&mut buf),
        )
        .await
        {
            let pkt = buf[..n].to_vec();
            if let Ok(r) = RtpReader::new(&pkt) {
                out.push((r.payload_type(), r.payload().to_vec(), pkt.clone()));
            }
        }
        out
    }

    /// The next datagram (bounded wait of 10 s).
    async fn collect_one(&self) -> Vec<u8> {
        let mut buf = vec![0u8; 2048];
        let (n, _) = timeout(Duration::from_secs(10), self.sock.recv_from(&mut buf))
            .await
            .expect("a packet within 10 s")
            .unwrap();
        buf.truncate(n);
        buf
    }
}

/// Spawn a task sending a continuous tone from a peer socket until the returned sender drops.
fn spawn_tone(
    sock: Arc<UdpSocket>,
    to: SocketAddr,
    codec: Codec,
    freq: f64,
) -> tokio::sync::oneshot::Sender<()> {
    let (stop_tx, mut stop_rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let mut rtp = RtpSender::new(rand::random(), rand::random(), rand::random());
        let mut tick = tokio::time::interval(Duration::from_millis(20));
        let mut n: usize = 0;
        loop {
            tokio::select! {
                _ = &mut stop_rx => break,
                _ = tick.tick() => {
                    let frame: Vec<i16> = (n..n + 160)
                        .map(|i| (6000.0 * (2.0 * std::f64::consts::PI * freq * i as f64 / 8000.0).sin()) as i16)
                        .collect();
                    n += 160;
                    let pkt = rtp.next_packet(codec.payload_type(), &codec.encode(&frame));
                    let _ = sock.send_to(&pkt, to).await;
                }
            }
        }
    });
    stop_tx
}

fn decode_audio(pkts: &[(u8, Vec<u8>, Vec<u8>)]) -> Vec<i16> {
    pkts.iter()
        .filter_map(|(pt, p, _)| Codec::from_static_payload_type(*pt).map(|c| c.decode(p)))
        .flatten()
        .collect()
}

/// Relative power of each frequency in `pcm` (share of total energy).
fn shares(pcm: &[i16], freqs: &[f64]) -> Vec<f64> {
    let e = energy(pcm).max(1.0);
    freqs.iter().map(|&f| tone_power(pcm, f) / e).collect()
}

async fn start(
    eng: &MediaEngine,
    remote: SocketAddr,
    codec: Codec,
    te: Option<u8>,
) -> (MediaHandle, Events) {
    let leg = eng.open_leg().await.unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    (leg.start(remote, codec, te, tx), rx)
}

fn te_packet(
    rtp: &mut RtpSender,
    ts: u32,
    event: u8,
    end: bool,
    dur: u16,
    marker: bool,
) -> Vec<u8> {
    let payload = TelephoneEvent {
        event,
        end,
        volume: 10,
        duration: dur,
    }
    .to_bytes();
    rtp.next_packet_at(101, &payload, ts, marker)
}

#[tokio::test]
async fn rfc4733_digits_are_reported_once_and_barge_in() {
    let eng = engine(48000, 48019);
    let mut peer = Peer::new(Codec::Pcmu).await;
    let (h, mut ev) = start(&eng, peer.addr(), Codec::Pcmu, Some(101)).await;
    let to = h.local_addr();

    // A looped barge-in prompt is interrupted by the digit.
    h.play_sequence(
        1,
        vec![Arc::new(tones::ringback_eu())],
        PlayOptions {
            looped: true,
            barge_in: true,
        },
    );
    let send = |pkts: Vec<Vec<u8>>| {
        let sock = peer.sock.clone();
        async move {
            for p in pkts {
                sock.send_to(&p, to).await.unwrap();
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    };
    // '5' for 100 ms: start, updates, end ×3.
    let mut pkts = Vec::new();
    for k in 0..5u16 {
        pkts.push(te_packet(
            &mut peer.rtp,
            8000,
            5,
            false,
            (k + 1) * 160,
            k == 0,
        ));
    }
    for _ in 0..3 {
        pkts.push(te_packet(&mut peer.rtp, 8000, 5, true, 800, false));
    }
    // '#' whose end packets are all lost, then '0'.
    pkts.push(te_packet(&mut peer.rtp, 16000, 11, false, 160, true));
    pkts.push(te_packet(&mut peer.rtp, 16000, 11, false, 480, false));
    pkts.push(te_packet(&mut peer.rtp, 24000, 0, false, 160, true));
    for _ in 0..3 {
        pkts.push(te_packet(&mut peer.rtp, 24000, 0, true, 640, false));
    }
    // A late retransmission of the first event is ignored.
    pkts.push(te_packet(&mut peer.rtp, 8000, 5, true, 800, false));
    send(pkts).await;

    let events = drain_for(&mut ev, Duration::from_millis(500)).await;
    let digits: Vec<(char, u32)> = events
        .iter()
        .filter_map(|e| match e {
            MediaEvent::Dtmf { digit, duration_ms } => Some((*digit, *duration_ms)),
            _ => None,
        })
        .collect();
    assert_eq!(digits, vec![('5', 100), ('#', 60), ('0', 80)], "{events:?}");
    let interrupted: Vec<&MediaEvent> = events
        .iter()
        .filter(|e| {
            matches!(
                e,
                MediaEvent::PlayInterrupted { .. } | MediaEvent::PlayDone { .. }
            )
        })
        .collect();
    assert_eq!(
        interrupted,
        vec![&MediaEvent::PlayInterrupted { id: 1, digit: '5' }]
    );
    // Dtmf precedes PlayInterrupted.
    let i_dtmf = events
        .iter()
        .position(|e| matches!(e, MediaEvent::Dtmf { .. }))
        .unwrap();
    let i_int = events
        .iter()
        .position(|e| matches!(e, MediaEvent::PlayInterrupted { .. }))
        .unwrap();
    assert!(i_dtmf < i_int);
    h.close();
    assert_eq!(next_non_dtmf(&mut ev).await, MediaEvent::Closed);
}

#[tokio::test]
async fn send_dtmf_produces_rfc4733_packets() {
    let eng = engine(48020, 48039);
    let peer = Peer::new(Codec::Pcmu).await;
    let (h, mut ev) = start(&eng, peer.addr(), Codec::Pcmu, Some(101)).await;
    h.play(
        1,
        Arc::new(Prompt::from_samples_8k(sine(1000.0, 100, 5000.0))),
    );
    assert_eq!(next_event(&mut ev).await, MediaEvent::PlayDone { id: 1 });
    h.send_dtmf('7', 100);
    h.send_dtmf('x', 100); // ignored
    h.send_dtmf('#', 60);
    let pkts = peer.collect(Duration::from_millis(700)).await;
    let audio: Vec<_> = pkts.iter().filter(|p| p.0 == 0).collect();
    assert_eq!(audio.len(), 5);
    let events: Vec<_> = pkts.iter().filter(|p| p.0 == 101).collect();
    // '7': 5 updates + 3 ends; '#': 3 updates + 3 ends.
    assert_eq!(events.len(), 8 + 6, "{}", events.len());
    let first = RtpReader::new(&events[0].2).unwrap();
    let last_audio = RtpReader::new(&audio[4].2).unwrap();
    assert!(first.timestamp().wrapping_sub(last_audio.timestamp()) >= 160);
    let seq0 = u16::from(first.sequence_number());
    assert_eq!(
        seq0,
        u16::from(last_audio.sequence_number()).wrapping_add(1)
    );
    for (i, p) in events[..8].iter().enumerate() {
        let r = RtpReader::new(&p.2).unwrap();
        assert_eq!(r.timestamp(), first.timestamp(), "same ts for the event");
        assert_eq!(u16::from(r.sequence_number()), seq0.wrapping_add(i as u16));
        assert_eq!(r.mark(), i == 0);
        let ev = TelephoneEvent::parse(r.payload()).unwrap();
        assert_eq!(ev.event, 7);
        assert_eq!(ev.end, i >= 5);
        assert_eq!(ev.duration, if i < 5 { (i as u16 + 1) * 160 } else { 800 });
    }
    let second = RtpReader::new(&events[8].2).unwrap();
    assert!(second.mark());
    assert!(second.timestamp().wrapping_sub(first.timestamp()) >= 800);
    // A receiver turns them into exactly two digits.
    let mut rx = TelephoneEventReceiver::new();
    let digits: Vec<char> = events
        .iter()
        .flat_map(|p| {
            let r = RtpReader::new(&p.2).unwrap();
            rx.on_packet(r.timestamp(), r.payload())
        })
        .map(|d| d.digit)
        .collect();
    assert_eq!(digits, vec!['7', '#']);
    // Audio after DTMF starts a new talkspurt with a later timestamp.
    h.play(2, Arc::new(Prompt::silence(40)));
    assert_eq!(next_event(&mut ev).await, MediaEvent::PlayDone { id: 2 });
    let after = peer.collect(Duration::from_millis(200)).await;
    let r = RtpReader::new(&after[0].2).unwrap();
    assert!(r.mark());
    assert!(r.timestamp().wrapping_sub(second.timestamp()) >= 480);
    assert!(r.timestamp().wrapping_sub(second.timestamp()) < 80_000);
    h.close();
}

#[tokio::test]
async fn inband_dtmf_both_ways_without_telephone_event() {
    let eng = engine(48040, 48059);
    let mut peer = Peer::new(Codec::Pcma).await;
    let (h, mut ev) = start(&eng, peer.addr(), Codec::Pcma, None).await;
    let mut audio = vec![0i16; 400];
    for c in "19#D".chars() {
        audio.extend_from_slice(tones::dtmf_tone(c, 120).unwrap().samples());
        audio.extend(vec![0i16; 800]);
    }
    peer.send_pcm(h.local_addr(), &audio).await;
    let events = drain_for(&mut ev, Duration::from_millis(300)).await;
    let digits: String = events
        .iter()
        .filter_map(|e| match e {
            MediaEvent::Dtmf { digit, .. } => Some(*digit),
            _ => None,
        })
        .collect();
    assert_eq!(digits, "19#D");

    // send_dtmf without telephone-event: the dual tone in-band.
    h.send_dtmf('4', 120);
    let pkts = peer.collect(Duration::from_millis(500)).await;
    assert!(pkts.iter().all(|p| p.0 == 8));
    let pcm = decode_audio(&pkts);
    let mut det = DtmfDetector::new();
    let mut got: Vec<char> = det.push(&pcm).iter().map(|d| d.digit).collect();
    got.extend(det.push(&[0; 800]).iter().map(|d| d.digit));
    assert_eq!(got, vec!['4']);
    h.close();
}

#[tokio::test]
async fn counters_loss_late_and_jitter() {
    let eng = engine(48060, 48079);
    let peer = Peer::new(Codec::Pcmu).await;
    let (h, _ev) = start(&eng, peer.addr(), Codec::Pcmu, Some(101)).await;
    let to = h.local_addr();
    let mut rtp = RtpSender::new(42, 1000, 0);
    let mut pkts: Vec<Vec<u8>> = (0..30).map(|_| rtp.next_packet(0, &[0xFF; 160])).collect();
    // Lose 3 (indices 10..13) and swap 20/21.
    pkts.drain(10..13);
    pkts.swap(17, 18);
    for p in &pkts {
        peer.sock.send_to(p, to).await.unwrap();
        tokio::time::sleep(Duration::from_millis(3)).await;
    }
    let mut ok = false;
    for _ in 0..300 {
        if h.stats().packets_received == 27 {
            ok = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(ok, "{:?}", h.stats());
    let s = h.stats();
    assert_eq!(s.packets_late, 1, "{s:?}");
    assert_eq!(s.packets_lost, 3, "{s:?}");
    // Sent 3 ms apart for 20 ms of audio each: jitter clearly above zero.
    assert!(s.jitter_ms() > 1.0, "{s:?}");
    assert_eq!(s.bytes_received, 27 * 172);
    h.close();
}

#[tokio::test]
async fn bridge_transcodes_latches_and_unbridges() {
    let eng = engine(48080, 48099);
    let pa = Peer::new(Codec::Pcmu).await;
    let pb = Peer::new(Codec::Pcma).await;
    // A is told a wrong address in SDP: it must latch onto pa's real source.
    let wrong: SocketAddr = "127.0.0.1:9".parse().unwrap();
    let (a, mut ea) = start(&eng, wrong, Codec::Pcmu, Some(101)).await;
    let (b, _eb) = start(&eng, pb.addr(), Codec::Pcma, None).await;
    assert!(eng.bridge(&a, &a).is_err());
    let br = eng.bridge(&a, &b).unwrap();

    let stop_a = spawn_tone(pa.sock.clone(), a.local_addr(), Codec::Pcmu, 1000.0);
    let stop_b = spawn_tone(pb.sock.clone(), b.local_addr(), Codec::Pcma, 1500.0);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let at_b = pb.collect(Duration::from_millis(600)).await;
    let at_a = pa.collect(Duration::from_millis(600)).await;
    assert!(
        at_b.len() >= 10 && at_a.len() >= 10,
        "{} {}",
        at_b.len(),
        at_a.len()
    );
    assert!(at_b.iter().all(|p| p.0 == 8), "B speaks PCMA");
    assert!(at_a.iter().all(|p| p.0 == 0), "A speaks PCMU");
    let sb = shares(&decode_audio(&at_b), &[1000.0, 1500.0]);
    let sa = shares(&decode_audio(&at_a), &[1000.0, 1500.0]);
    assert!(sb[0] > 0.8 && sb[1] < 0.01, "B hears A's 1 kHz: {sb:?}");
    assert!(
        sa[1] > 0.8 && sa[0] < 0.01,
        "A (latched) hears B's 1.5 kHz: {sa:?}"
    );
    // Own SSRC on each side.
    let ra = RtpReader::new(&at_a[0].2).unwrap();
    let rb = RtpReader::new(&at_b[0].2).unwrap();
    assert_ne!(ra.ssrc(), rb.ssrc());

    // DTMF on A is an event, never relayed as audio to B.
    let mut rtp = RtpSender::new(77, 1, 1);
    for end in [false, true, true, true] {
        let p = te_packet(&mut rtp, 5000, 3, end, 400, !end);
        pa.sock.send_to(&p, a.local_addr()).await.unwrap();
    }
    let evs = drain_for(&mut ea, Duration::from_millis(300)).await;
    assert!(evs.contains(&MediaEvent::Dtmf {
        digit: '3',
        duration_ms: 50
    }));
    let at_b = pb.collect(Duration::from_millis(200)).await;
    assert!(at_b.iter().all(|p| p.1.len() == 160));

    // Unbridge: the relay stops, legs stay open.
    br.unbridge();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let _ = pb.collect(Duration::from_millis(100)).await;
    let after = pb.collect(Duration::from_millis(300)).await;
    assert!(after.is_empty(), "{} packets after unbridge", after.len());
    assert!(!a.is_closed() && !b.is_closed());

    // Re-bridge, then closing one leg ends it; the other stays alive.
    let _br2 = eng.bridge(&a, &b).unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!pb.collect(Duration::from_millis(200)).await.is_empty());
    a.close();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let _ = pb.collect(Duration::from_millis(100)).await;
    assert!(pb.collect(Duration::from_millis(300)).await.is_empty());
    assert!(eng.bridge(&a, &b).is_err());
    drop((stop_a, stop_b));
    b.close();
}

#[tokio::test]
async fn a_bridged_leg_plays_a_prompt_and_relays_again_on_one_stream() {
    // While B only relays, A's task sends B's frames out of B's socket with B's stream; a
    // prompt on B takes the stream back and the relay resumes after it. What B's phone gets
    // is one RTP stream throughout: one SSRC, sequence numbers with no gap and no repeat.
    let eng = engine(48340, 48359);
    let pa = Peer::new(Codec::Pcmu).await;
    let pb = Peer::new(Codec::Pcma).await;
    let (a, _ea) = start(&eng, pa.addr(), Codec::Pcmu, Some(101)).await;
    let (b, mut eb) = start(&eng, pb.addr(), Codec::Pcma, Some(101)).await;
    let _br = eng.bridge(&a, &b).unwrap();
    let stop_a = spawn_tone(pa.sock.clone(), a.local_addr(), Codec::Pcmu, 1000.0);
    // The relay runs: A's 1 kHz reaches B's phone.
    let first = pb.collect_one().await;
    let mut got = vec![first];
    while got.len() < 10 {
        got.push(pb.collect_one().await);
    }
    b.play(
        1,
        Arc::new(Prompt::from_samples_8k(sine(1500.0, 300, 6000.0))),
    );
    assert_eq!(next_event(&mut eb).await, MediaEvent::PlayDone { id: 1 });
    // After the prompt: 10 more relayed packets.
    let mut after = 0;
    let mut seen_prompt = false;
    while after < 10 {
        let pkt = pb.collect_one().await;
        let r = RtpReader::new(&pkt).unwrap();
        let s = shares(&Codec::Pcma.decode(r.payload()), &[1000.0, 1500.0]);
        if s[1] > 0.8 {
            seen_prompt = true;
        } else if seen_prompt && s[0] > 0.8 {
            after += 1;
        }
        got.push(pkt);
    }
    assert!(seen_prompt, "the prompt was heard");
    let readers: Vec<RtpReader<'_>> = got.iter().map(|p| RtpReader::new(p).unwrap()).collect();
    assert!(readers
        .iter()
        .all(|r| r.ssrc() == readers[0].ssrc() && r.payload_type() == 8));
    for w in readers.windows(2) {
        let (x, y) = (
            u16::from(w[0].sequence_number()),
            u16::from(w[1].sequence_number()),
        );
        assert_eq!(
            y,
            x.wrapping_add(1),
            "one sequence across lending and taking back"
        );
    }
    drop(stop_a);
    a.close();
    b.close();
}

#[tokio::test]
async fn bridge_reframes_30_ms_packets_into_whole_20_ms_frames() {
    let eng = engine(48180, 48199);
    let mut pa = Peer::new(Codec::Pcma).await;
    let pb = Peer::new(Codec::Pcmu).await;
    let (a, _ea) = start(&eng, pa.addr(), Codec::Pcma, None).await;
    let (b, _eb) = start(&eng, pb.addr(), Codec::Pcmu, None).await;
    let _br = eng.bridge(&a, &b).unwrap();
    // A speaks with ptime 30: 240 samples per packet, 33.3 packets per second, for 1.2 s.
    let pcm = sine(800.0, 1200, 6000.0);
    let to = a.local_addr();
    let sender = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(30));
        for chunk in pcm.chunks(240) {
            tick.tick().await;
            let pkt = pa.rtp.next_packet(8, &Codec::Pcma.encode(chunk));
            pa.sock.send_to(&pkt, to).await.unwrap();
        }
    });
    let at_b = pb.collect(Duration::from_millis(1400)).await;
    sender.await.unwrap();
    // 1.2 s of audio is 60 frames of 20 ms: no more packets than that, none padded with
    // silence, and the tone intact.
    assert!(
        (55..=61).contains(&at_b.len()),
        "{} packets for 1.2 s of audio",
        at_b.len()
    );
    for (_, payload, _) in &at_b {
        assert_eq!(payload.len(), 160);
        let pcm = Codec::Pcmu.decode(payload);
        let tail_energy = energy(&pcm[80..]);
        assert!(tail_energy > 1000.0, "a frame ends in silence: padded");
    }
    a.close();
    b.close();
}

#[tokio::test]
async fn set_remote_resets_latch_and_single_spoofed_packet_is_ignored() {
    let eng = engine(48100, 48119);
    let real = Peer::new(Codec::Pcmu).await;
    let spoof = Peer::new(Codec::Pcmu).await;
    let (h, _ev) = start(&eng, real.addr(), Codec::Pcmu, None).await;
    h.echo(1, Duration::from_secs(30));
    let mut rtp = RtpSender::new(1, 1, 1);
    real.sock
        .send_to(&rtp.next_packet(0, &[0x11; 160]), h.local_addr())
        .await
        .unwrap();
    assert_eq!(real.collect(Duration::from_millis(200)).await.len(), 1);
    // One spoofed packet: not echoed to anyone, latch unchanged.
    spoof
        .sock
        .send_to(&rtp.next_packet(0, &[0x22; 160]), h.local_addr())
        .await
        .unwrap();
    assert!(spoof.collect(Duration::from_millis(150)).await.is_empty());
    real.sock
        .send_to(&rtp.next_packet(0, &[0x33; 160]), h.local_addr())
        .await
        .unwrap();
    let back = real.collect(Duration::from_millis(150)).await;
    assert_eq!(back.len(), 1);
    assert_eq!(back[0].1, vec![0x33; 160]);
    // Three consecutive packets from a new source move the latch.
    for _ in 0..3 {
        spoof
            .sock
            .send_to(&rtp.next_packet(0, &[0x44; 160]), h.local_addr())
            .await
            .unwrap();
    }
    let moved = spoof.collect(Duration::from_millis(200)).await;
    assert_eq!(
        moved.len(),
        1,
        "the third packet is echoed to the new source"
    );
    // set_remote resets: the next packet latches immediately.
    h.set_remote("127.0.0.1:9".parse().unwrap());
    real.sock
        .send_to(&rtp.next_packet(0, &[0x55; 160]), h.local_addr())
        .await
        .unwrap();
    assert_eq!(real.collect(Duration::from_millis(200)).await.len(), 1);
    h.close();
}

fn read_wav(path: &std::path::Path) -> (u16, Vec<i16>) {
    let r = hound::WavReader::open(path).unwrap();
    let ch = r.spec().channels;
    assert_eq!(r.spec().sample_rate, 8000);
    (ch, r.into_samples().map(|s| s.unwrap()).collect())
}

#[tokio::test]
async fn recording_puts_caller_left_and_employee_right() {
    let eng = engine(48120, 48139);
    let caller = Peer::new(Codec::Pcmu).await;
    let employee = Peer::new(Codec::Pcma).await;
    let (c, mut ec) = start(&eng, caller.addr(), Codec::Pcmu, Some(101)).await;
    let (e, _ee) = start(&eng, employee.addr(), Codec::Pcma, Some(101)).await;
    let _br = eng.bridge(&c, &e).unwrap();
    let s1 = spawn_tone(caller.sock.clone(), c.local_addr(), Codec::Pcmu, 500.0);
    let s2 = spawn_tone(employee.sock.clone(), e.local_addr(), Codec::Pcma, 1500.0);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let dir = tempfile::tempdir().unwrap();
    let stereo = dir.path().join("call.wav");
    let mono = dir.path().join("call-mono.wav");
    c.start_recording(
        5,
        RecordSpec {
            stereo_path: Some(stereo.clone()),
            mono_path: Some(mono.clone()),
        },
    );
    tokio::time::sleep(Duration::from_millis(1000)).await;
    c.stop_recording(5);
    let ev = next_non_dtmf(&mut ec).await;
    let MediaEvent::RecordingDone {
        id,
        duration_ms,
        paths,
    } = ev
    else {
        panic!("{ev:?}")
    };
    assert_eq!(id, 5);
    assert!((500..=2000).contains(&duration_ms), "{duration_ms}");
    assert_eq!(paths, vec![stereo.clone(), mono.clone()]);
    let (ch, s) = read_wav(&stereo);
    assert_eq!(ch, 2);
    // Skip the first 100 ms (queues filling).
    let left: Vec<i16> = s.iter().step_by(2).skip(800).copied().collect();
    let right: Vec<i16> = s.iter().skip(1).step_by(2).skip(800).copied().collect();
    let l = shares(&left, &[500.0, 1500.0]);
    let r = shares(&right, &[500.0, 1500.0]);
    assert!(l[0] > 0.7 && l[1] < 0.02, "left {l:?}");
    assert!(r[1] > 0.7 && r[0] < 0.02, "right {r:?}");
    let (ch, m) = read_wav(&mono);
    assert_eq!(ch, 1);
    let mm = shares(&m[800..], &[500.0, 1500.0]);
    assert!(mm[0] > 0.2 && mm[1] > 0.2, "mono {mm:?}");
    drop((s1, s2));
    c.close();
    e.close();
}

#[tokio::test]
async fn recording_a_prompt_and_finishing_on_close() {
    let eng = engine(48140, 48159);
    let mut caller = Peer::new(Codec::Pcmu).await;
    let (c, mut ec) = start(&eng, caller.addr(), Codec::Pcmu, None).await;
    let dir = tempfile::tempdir().unwrap();
    let stereo = dir.path().join("p.wav");
    c.start_recording(
        9,
        RecordSpec {
            stereo_path: Some(stereo.clone()),
            mono_path: None,
        },
    );
    c.play(
        1,
        Arc::new(Prompt::from_samples_8k(sine(1500.0, 800, 6000.0))),
    );
    caller
        .send_pcm(c.local_addr(), &sine(500.0, 800, 6000.0))
        .await;
    assert_eq!(next_non_dtmf(&mut ec).await, MediaEvent::PlayDone { id: 1 });
    c.close();
    let ev = next_non_dtmf(&mut ec).await;
    assert!(
        matches!(ev, MediaEvent::RecordingDone { id: 9, .. }),
        "{ev:?}"
    );
    assert_eq!(next_non_dtmf(&mut ec).await, MediaEvent::Closed);
    let (_, s) = read_wav(&stereo);
    let left: Vec<i16> = s.iter().step_by(2).copied().collect();
    let right: Vec<i16> = s.iter().skip(1).step_by(2).copied().collect();
    let l = shares(&left, &[500.0, 1500.0]);
    let r = shares(&right, &[500.0, 1500.0]);
    assert!(l[0] > 0.5 && l[1] < 0.02, "left {l:?}");
    assert!(r[1] > 0.5 && r[0] < 0.02, "right {r:?}");
}

#[tokio::test]
async fn voicemail_stops_on_silence_and_on_max_length() {
    let eng = engine(48160, 48179);
    let mut caller = Peer::new(Codec::Pcmu).await;
    let (c, mut ec) = start(&eng, caller.addr(), Codec::Pcmu, None).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vm.wav");
    c.record_voicemail(
        3,
        path.clone(),
        VoicemailSpec {
            max_ms: 20_000,
            silence_ms: 400,
            silence_threshold: 500,
            no_speech_ms: 0,
        },
    );
    let mut audio = sine(700.0, 600, 6000.0);
    audio.extend(vec![0i16; 8000]);
    let send = caller.send_pcm(c.local_addr(), &audio);
    let wait = next_non_dtmf(&mut ec);
    let (_, ev) = tokio::join!(send, wait);
    let MediaEvent::VoicemailDone {
        id,
        duration_ms,
        reason,
    } = ev
    else {
        panic!("{ev:?}")
    };
    assert_eq!((id, reason), (3, VoicemailReason::Silence));
    assert!((600..=3000).contains(&duration_ms), "{duration_ms}");
    let (ch, s) = read_wav(&path);
    assert_eq!(ch, 1);
    let sh = shares(&s, &[700.0]);
    assert!(sh[0] > 0.5, "{sh:?}");

    // Max length with nothing received at all.
    let path2 = dir.path().join("vm2.wav");
    c.record_voicemail(
        4,
        path2.clone(),
        VoicemailSpec {
            max_ms: 300,
            silence_ms: 100,
            silence_threshold: 500,
            no_speech_ms: 0,
        },
    );
    assert_eq!(
        next_non_dtmf(&mut ec).await,
        MediaEvent::VoicemailDone {
            id: 4,
            duration_ms: 300,
            reason: VoicemailReason::MaxLength
        }
    );
    assert_eq!(read_wav(&path2).1.len(), 2400);

    // stop_recording → Stopped; a bad path → RecordingFailed.
    c.record_voicemail(6, dir.path().join("vm3.wav"), VoicemailSpec::default());
    tokio::time::sleep(Duration::from_millis(100)).await;
    c.stop_recording(6);
    let ev = next_non_dtmf(&mut ec).await;
    assert!(
        matches!(
            ev,
            MediaEvent::VoicemailDone {
                id: 6,
                reason: VoicemailReason::Stopped,
                ..
            }
        ),
        "{ev:?}"
    );
    c.record_voicemail(7, dir.path().join("no/dir/x.wav"), VoicemailSpec::default());
    tokio::time::sleep(Duration::from_millis(60)).await;
    c.stop_recording(7);
    assert!(matches!(
        next_non_dtmf(&mut ec).await,
        MediaEvent::RecordingFailed { id: 7, .. }
    ));
    c.close();
}

/// Legs + peers sending a distinct tone each, joined to one mixer.
async fn mixer_case(base: u16, kind: MixKind, parties: &[(MixRole, f64)]) -> Vec<Vec<f64>> {
    let eng = engine(base, base + 19);
    let mixer = eng.mixer(kind);
    let mut peers = Vec::new();
    let mut legs = Vec::new();
    let mut stops = Vec::new();
    for (i, &(role, freq)) in parties.iter().enumerate() {
        let codec = if i % 2 == 0 { Codec::Pcmu } else { Codec::Pcma };
        let p = Peer::new(codec).await;
        let (h, ev) = start(&eng, p.addr(), codec, Some(101)).await;
        mixer.join(&h, role).unwrap();
        stops.push(spawn_tone(p.sock.clone(), h.local_addr(), codec, freq));
        peers.push(p);
        legs.push((h, ev));
    }
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(mixer.stats().participants, parties.len());
    let freqs: Vec<f64> = parties.iter().map(|p| p.1).collect();
    let collected = futures_join(&peers).await;
    let out: Vec<Vec<f64>> = collected
        .iter()
        .map(|pkts| {
            assert!(pkts.len() >= 15, "only {} packets", pkts.len());
            shares(&decode_audio(pkts), &freqs)
        })
        .collect();
    // Leaving: the leg stops receiving the mix.
    mixer.leave(&legs[0].0);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let _ = peers[0].collect(Duration::from_millis(100)).await;
    assert!(peers[0]
        .collect(Duration::from_millis(200))
        .await
        .is_empty());
    assert_eq!(mixer.stats().participants, parties.len() - 1);
    mixer.close();
    drop(stops);
    for (h, _) in &legs {
        h.close();
    }
    out
}

async fn futures_join(peers: &[Peer]) -> Vec<Vec<(u8, Vec<u8>, Vec<u8>)>> {
    let mut handles = Vec::new();
    for p in peers {
        let sock = p.sock.clone();
        handles.push(tokio::spawn(async move {
            let p = Peer {
                sock,
                rtp: RtpSender::new(0, 0, 0),
                codec: Codec::Pcmu,
            };
            p.collect(Duration::from_millis(600)).await
        }));
    }
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

#[tokio::test]
async fn coach_matrix_each_party_hears_the_right_tones() {
    let (c, e, t) = (400.0, 1100.0, 1800.0);
    let out = mixer_case(
        48200,
        MixKind::Coach,
        &[
            (MixRole::Caller, c),
            (MixRole::Employee, e),
            (MixRole::Trainer, t),
        ],
    )
    .await;
    let (heard, silent) = (0.2, 0.01);
    // Caller hears only the employee.
    assert!(
        out[0][1] > heard && out[0][0] < silent && out[0][2] < silent,
        "C {:?}",
        out[0]
    );
    // Employee hears caller and trainer.
    assert!(
        out[1][0] > heard && out[1][2] > heard && out[1][1] < silent,
        "E {:?}",
        out[1]
    );
    // Trainer hears caller and employee.
    assert!(
        out[2][0] > heard && out[2][1] > heard && out[2][2] < silent,
        "T {:?}",
        out[2]
    );
}

#[tokio::test]
async fn conference_of_three_hears_all_others() {
    let f = [500.0, 1200.0, 2000.0];
    let out = mixer_case(
        48240,
        MixKind::Conference,
        &[
            (MixRole::Member, f[0]),
            (MixRole::Member, f[1]),
            (MixRole::Member, f[2]),
        ],
    )
    .await;
    for (i, shares) in out.iter().enumerate() {
        for (j, &s) in shares.iter().enumerate() {
            if i == j {
                assert!(s < 0.01, "{i} hears itself: {shares:?}");
            } else {
                assert!(s > 0.2, "{i} does not hear {j}: {shares:?}");
            }
        }
    }
}

#[tokio::test]
async fn sequences_play_in_order_and_loop_until_stopped() {
    let eng = engine(48280, 48299);
    let peer = Peer::new(Codec::Pcmu).await;
    let (h, mut ev) = start(&eng, peer.addr(), Codec::Pcmu, Some(101)).await;
    let a = Arc::new(Prompt::from_samples_8k(sine(600.0, 200, 6000.0)));
    let b = Arc::new(Prompt::from_samples_8k(sine(1400.0, 200, 6000.0)));
    h.play_sequence(1, vec![a.clone(), b.clone()], PlayOptions::default());
    assert_eq!(next_event(&mut ev).await, MediaEvent::PlayDone { id: 1 });
    let pkts = peer.collect(Duration::from_millis(200)).await;
    assert_eq!(pkts.len(), 20);
    let pcm = decode_audio(&pkts);
    let first = shares(&pcm[..1600], &[600.0, 1400.0]);
    let second = shares(&pcm[1600..], &[600.0, 1400.0]);
    assert!(first[0] > 0.8 && second[1] > 0.8, "{first:?} {second:?}");

    // Looped: keeps going past the total length, no PlayDone; stop_output ends it.
    h.play_sequence(
        2,
        vec![a, b],
        PlayOptions {
            looped: true,
            barge_in: false,
        },
    );
    let pkts = peer.collect(Duration::from_millis(900)).await;
    assert!(pkts.len() >= 30, "{}", pkts.len());
    h.stop_output();
    assert!(drain_for(&mut ev, Duration::from_millis(100))
        .await
        .is_empty());
    // Without barge-in a digit does not stop the playback.
    h.play_sequence(
        3,
        vec![Arc::new(Prompt::silence(300))],
        PlayOptions {
            looped: false,
            barge_in: false,
        },
    );
    let mut rtp = RtpSender::new(3, 3, 3);
    for end in [false, true] {
        let p = te_packet(&mut rtp, 100, 1, end, 160, !end);
        peer.sock.send_to(&p, h.local_addr()).await.unwrap();
    }
    assert_eq!(
        next_event(&mut ev).await,
        MediaEvent::Dtmf {
            digit: '1',
            duration_ms: 20
        }
    );
    assert_eq!(next_event(&mut ev).await, MediaEvent::PlayDone { id: 3 });
    h.close();
}

#[tokio::test]
async fn the_switchs_silence_goes_out_as_dtx() {
    let eng = engine(48300, 48319);
    let peer = Peer::new(Codec::Pcmu).await;
    let (h, mut ev) = start(&eng, peer.addr(), Codec::Pcmu, None).await;
    // 2.5 s of the switch's own silence (a pause), then 100 ms of sound.
    h.play(1, Arc::new(Prompt::silence(2500)));
    assert_eq!(next_event(&mut ev).await, MediaEvent::PlayDone { id: 1 });
    h.play(
        2,
        Arc::new(Prompt::from_samples_8k(sine(440.0, 100, 8000.0))),
    );
    assert_eq!(next_event(&mut ev).await, MediaEvent::PlayDone { id: 2 });
    let pkts = peer.collect(Duration::from_millis(300)).await;
    let rtp: Vec<RtpReader> = pkts.iter().map(|p| RtpReader::new(&p.2).unwrap()).collect();
    // The silence: its first frame, then about one a second (not 125 packets).
    let quiet = rtp
        .iter()
        .take_while(|r| r.payload().iter().all(|&b| b == 0xFF))
        .count();
    assert!((1..=5).contains(&quiet), "{quiet} silence packets");
    // The sound: all five frames, the first one starting a talkspurt whose timestamp counts
    // the time the silence took: beyond what the packets sent would add up to (how much beyond
    // depends on the machine's timing, so only the jump is asserted).
    let sound = &rtp[quiet..];
    assert_eq!(sound.len(), 5, "{} packets of sound", sound.len());
    assert!(sound[0].mark());
    assert!(sound[1..].iter().all(|r| !r.mark()));
    let first = &rtp[0];
    let ts_gap = sound[0].timestamp().wrapping_sub(first.timestamp());
    assert!(
        (160 * (quiet as u32 + 1)..60 * 8000).contains(&ts_gap),
        "timestamp gap {ts_gap}"
    );
    let seqs: Vec<u16> = rtp.iter().map(|r| u16::from(r.sequence_number())).collect();
    assert!(
        seqs.windows(2).all(|w| w[1] == w[0].wrapping_add(1)),
        "{seqs:?}"
    );
    h.close();
}

/// A pause inside a playlist is waited out without a tick per frame (DTX), and still lasts what
/// it says, also when commands arrive during it. Only lower bounds are asserted: a busy machine
/// makes the pause longer, never shorter.
#[tokio::test]
async fn a_pause_lasts_its_length_while_its_silence_is_not_sent() {
    let eng = engine(48320, 48339);
    let peer = Peer::new(Codec::Pcmu).await;
    let (h, mut ev) = start(&eng, peer.addr(), Codec::Pcmu, None).await;
    let started = tokio::time::Instant::now();
    h.play_sequence(
        1,
        vec![
            Arc::new(Prompt::silence(1500)),
            Arc::new(Prompt::from_samples_8k(sine(440.0, 100, 8000.0))),
        ],
        PlayOptions::default(),
    );
    // The pause's first frame goes out; commands in the middle of the pause wake the session.
    let first = peer.collect_one().await;
    assert!(RtpReader::new(&first)
        .unwrap()
        .payload()
        .iter()
        .all(|&b| b == 0xFF));
    tokio::time::sleep(Duration::from_millis(300)).await;
    h.set_remote(peer.addr());
    h.set_direction(vpbx_media::Direction::SendRecv);
    assert_eq!(next_event(&mut ev).await, MediaEvent::PlayDone { id: 1 });
    let done = started.elapsed();
    assert!(done >= Duration::from_millis(1570), "played in {done:?}");
    let pkts = peer.collect(Duration::from_millis(300)).await;
    let rtp: Vec<RtpReader> = pkts.iter().map(|p| RtpReader::new(&p.2).unwrap()).collect();
    let sound: Vec<_> = rtp
        .iter()
        .filter(|r| !r.payload().iter().all(|&b| b == 0xFF))
        .collect();
    assert_eq!(sound.len(), 5, "{} packets of sound", sound.len());
    assert!(sound[0].mark());
    h.close();
}
