//! A media engine without sockets, for tests of the layers above (call actors): legs get a
//! made-up loopback port, and each started leg is a small task that answers commands the way a
//! session would — a prompt or echo is "done" at once (a looped one never), a recording stopped
//! is done, a voicemail ends as stopped — and writes every command into a [`MediaLog`] a test
//! can read. No RTP, no port pool, no clock.

use crate::link::AudioLink;
use crate::session::{Command, MediaEvent};
use crate::voicemail::VoicemailReason;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};

/// What a detached leg was asked to do, by its local port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Logged {
    /// A prompt (sequence) started.
    Play {
        /// Correlation id.
        id: u64,
        /// Played in a loop (ringback, music on hold).
        looped: bool,
    },
    /// Echo started.
    Echo {
        /// Correlation id.
        id: u64,
    },
    /// The output stopped (a bridge resumes).
    StopOutput,
    /// The peer's address moved.
    SetRemote(SocketAddr),
    /// Our media direction toward the peer changed (hold, resume).
    SetDirection(crate::sdp::Direction),
    /// An audio link to another leg was connected.
    Connect {
        /// The link.
        link: u64,
    },
    /// A link was disconnected.
    Disconnect {
        /// The link.
        link: u64,
    },
    /// Recording started or stopped.
    Recording {
        /// Started (else stopped).
        started: bool,
    },
    /// Voicemail recording started.
    Voicemail,
    /// A DTMF digit was sent.
    SendDtmf(char),
    /// The leg closed.
    Close,
}

/// Every command detached legs received, in order, with the leg's local port.
#[derive(Debug, Clone, Default)]
pub struct MediaLog(Arc<Mutex<Vec<(u16, Logged)>>>);

impl MediaLog {
    fn push(&self, port: u16, what: Logged) {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((port, what));
    }

    /// What the leg on `port` was asked, in order.
    pub fn of(&self, port: u16) -> Vec<Logged> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|(p, _)| *p == port)
            .map(|(_, w)| w.clone())
            .collect()
    }
}

/// The task behind a detached leg.
pub(crate) async fn run(
    port: u16,
    log: MediaLog,
    mut rx: UnboundedReceiver<Command>,
    events: UnboundedSender<MediaEvent>,
) {
    // Links are held like a session holds them: dropping one ends it for the peer.
    let mut link: Option<AudioLink> = None;
    while let Some(cmd) = rx.recv().await {
        let (what, reply) = match cmd {
            Command::Play { id, opts, .. } => (
                Logged::Play {
                    id,
                    looped: opts.looped,
                },
                (!opts.looped).then_some(MediaEvent::PlayDone { id }),
            ),
            Command::Echo { id, .. } => (Logged::Echo { id }, Some(MediaEvent::EchoDone { id })),
            Command::StopOutput => (Logged::StopOutput, None),
            Command::SetRemote(a) => (Logged::SetRemote(a), None),
            Command::SetDirection(d) => (Logged::SetDirection(d), None),
            Command::SendDtmf { digit, .. } => (Logged::SendDtmf(digit), None),
            Command::Connect(l) => {
                let id = l.id;
                link = Some(*l);
                (Logged::Connect { link: id }, None)
            }
            Command::Disconnect { link_id } => {
                if link.as_ref().is_some_and(|l| l.id == link_id) {
                    link = None;
                }
                (Logged::Disconnect { link: link_id }, None)
            }
            Command::StartRecording { .. } => (Logged::Recording { started: true }, None),
            Command::StopRecording { id } => (
                Logged::Recording { started: false },
                Some(MediaEvent::RecordingDone {
                    id,
                    duration_ms: 0,
                    paths: Vec::new(),
                }),
            ),
            Command::RecordVoicemail { id, .. } => (
                Logged::Voicemail,
                Some(MediaEvent::VoicemailDone {
                    id,
                    duration_ms: 0,
                    reason: VoicemailReason::Stopped,
                }),
            ),
            Command::Close => {
                log.push(port, Logged::Close);
                break;
            }
        };
        log.push(port, what);
        if let Some(ev) = reply {
            let _ = events.send(ev);
        }
    }
    drop(link);
    let _ = events.send(MediaEvent::Closed);
}
