//! The call detail record: one per finished call, with a typed event list from which wait time,
//! talk time, ring attempts and the call's path are computed without parsing text (SPEC §7).
//!
//! Stored with bincode inside the version envelope: every enum here is externally tagged (the
//! serde default; bincode cannot read internally tagged enums). Version 1 records (a flat
//! `steps: Vec<String>` and a result that mixed what happened with who hung up) migrate on read
//! through [`migrate_v1`].

use super::{EmployeeId, RuleId, SipLineId};
use serde::{Deserialize, Serialize};

/// What happened to a call — separately from who hung up ([`HangupSide`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallResult {
    /// The caller was answered (by the scenario or by a person).
    Answered,
    /// Ringing went unanswered, and the caller was never answered.
    NotAnswered,
    /// Everyone rung was busy or unavailable, and the caller was never answered.
    Busy,
    /// Refused before any scenario ran (unknown number, no rule matched, no trunk, not
    /// allowed); the reason is in [`Cdr::reason`].
    Refused,
    /// The caller is on the blacklist: refused before any rule (SPEC §1.4; still reported).
    Blocked,
    /// The call failed inside the switch or on a leg (media, transport, the actor itself).
    Failed,
    /// The caller hung up (or cancelled) before being answered.
    Abandoned,
}

impl CallResult {
    /// Metric and report label.
    pub fn as_str(self) -> &'static str {
        match self {
            CallResult::Answered => "answered",
            CallResult::NotAnswered => "not_answered",
            CallResult::Busy => "busy",
            CallResult::Refused => "refused",
            CallResult::Blocked => "blocked",
            CallResult::Failed => "failed",
            CallResult::Abandoned => "abandoned",
        }
    }
}

/// Who ended the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HangupSide {
    /// The caller (BYE, CANCEL).
    Caller,
    /// The party the caller talked to (employee, external number).
    Callee,
    /// The switch: the scenario's end, a refusal, a failure, a shutdown.
    Switch,
}

/// A side of a call, for events that say who did something.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    /// The caller.
    Caller,
    /// The party in the talk (employee, external number).
    Callee,
}

/// Why an outbound leg did not connect (typed: reports and the ACD count these).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LegCause {
    /// The line has no registered contact.
    Offline,
    /// The line's contacts do not answer OPTIONS, or the destination cannot be reached.
    Unreachable,
    /// Busy (486, 600).
    Busy,
    /// Rang without an answer (the ring timeout, 408, 480).
    NoAnswer,
    /// Declined with this final status (403, 404, 603, ...).
    Declined(u16),
    /// Cancelled by the switch (another phone answered, the caller left, the wait ended).
    Cancelled,
    /// Failed inside the switch or on the transport (no media port, no trunk, 5xx).
    Failed,
    /// Not rung: the line is in wrap-up after a talk.
    WrapUp,
    /// Not rung: callers wait in the queue of this number.
    QueueWaiting,
    /// Not rung: outside the employee's activity schedule.
    NotAllowedBySchedule,
    /// Not rung: the employee switched calls off.
    CallStatusOff,
}

impl LegCause {
    /// The cause a final SIP status of an outbound INVITE stands for (RFC 3261 §21).
    pub fn from_status(code: u16) -> LegCause {
        match code {
            486 | 600 => LegCause::Busy,
            408 | 480 => LegCause::NoAnswer,
            487 => LegCause::Cancelled,
            500..=599 => LegCause::Failed,
            c => LegCause::Declined(c),
        }
    }

    /// Words for logs and the call detail.
    pub fn as_str(self) -> &'static str {
        match self {
            LegCause::Offline => "offline",
            LegCause::Unreachable => "unreachable",
            LegCause::Busy => "busy",
            LegCause::NoAnswer => "no answer",
            LegCause::Declined(_) => "declined",
            LegCause::Cancelled => "cancelled",
            LegCause::Failed => "failed",
            LegCause::WrapUp => "wrap-up",
            LegCause::QueueWaiting => "other callers are waiting in queue",
            LegCause::NotAllowedBySchedule => "not allowed by schedule",
            LegCause::CallStatusOff => "call status off",
        }
    }
}

/// How one ring attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RingOutcome {
    /// This phone answered and won the call.
    Answered,
    /// The phone refused or could not be reached (the cause says why).
    Refused,
    /// Rang until its timeout, or was cancelled when another phone answered or the wait ended.
    Cancelled,
}

/// Kind of transfer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransferKind {
    /// REFER without Replaces: the switch rings the target.
    Blind,
    /// REFER with Replaces: two calls are joined.
    Attended,
}

/// What happened, with the wall time it happened at.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallEvent {
    /// Milliseconds since the Unix epoch.
    pub at_unix_ms: u64,
    /// What.
    pub what: Event,
}

/// One step of a call's path (SPEC §7 call detail).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    /// A routing rule matched.
    RuleMatched {
        /// Rule id (0 for a phone's own call, which no rule routes).
        rule: RuleId,
        /// Rule name.
        name: String,
    },
    /// A rule was tried and did not match.
    RuleSkipped {
        /// Rule id.
        rule: RuleId,
        /// Rule name.
        name: String,
        /// Why.
        why: String,
    },
    /// The call was refused before a scenario ran.
    Refused {
        /// SIP status sent.
        code: u16,
        /// Why.
        reason: String,
    },
    /// A scenario started.
    ScenarioStarted {
        /// Its name.
        name: String,
    },
    /// An operation was entered.
    OperationEntered {
        /// Operation name within the scenario.
        op: String,
        /// Operation kind (`info_message`, `forward`, ...).
        kind: String,
    },
    /// An operation ended through this exit.
    ExitTaken {
        /// Operation name.
        op: String,
        /// Exit name (`next`, `answered`, `busy`, ...).
        exit: String,
    },
    /// A menu decided what the caller's keys mean (before its exit is taken).
    MenuInput {
        /// The menu operation.
        op: String,
        /// The keys it acted on (one key, or an extension).
        digits: String,
        /// `key` (the key's own exit), `invalid` (a key with no exit), `timeout` (nothing
        /// typed), `back` (`#` to the previous menu), `extension` (a known extension, forwarded
        /// to) or `unknown_extension` (played "number entered incorrectly", then the menu again).
        outcome: String,
    },
    /// A PIN operation judged the code typed (never the digits themselves).
    PinInput {
        /// The PIN operation.
        op: String,
        /// Which try, from 1.
        attempt: u32,
        /// How many digits were typed (`#` not counted).
        length: u32,
        /// `correct`, `incorrect` or `timeout` (nothing typed).
        outcome: String,
    },
    /// The switch answered the caller.
    CallerAnswered,
    /// A prompt was played to the end or cut short.
    PromptPlayed {
        /// What it was (file id or text).
        prompt: String,
        /// The key that interrupted it, if one did.
        interrupted_by: Option<char>,
    },
    /// A prompt could not be played and was skipped.
    PromptFailed {
        /// Why.
        why: String,
    },
    /// A DTMF digit.
    Digit {
        /// Who pressed it.
        side: Side,
        /// `0-9`, `*`, `#`, `A-D`.
        digit: char,
        /// Duration as signalled (0 if none).
        duration_ms: u32,
        /// Signalled in SIP INFO (else RFC 4733 or in-band).
        sip_info: bool,
    },
    /// A target of a forward was left out before ringing.
    TargetSkipped {
        /// The target (employee, group).
        target: String,
        /// Why (`call status off`, `has no phones`, ...).
        why: String,
    },
    /// A phone started ringing.
    RingStarted {
        /// The phone, e.g. `Ivanov (101) line 101`.
        target: String,
        /// Its employee.
        employee: Option<EmployeeId>,
        /// Its SIP line.
        line: Option<SipLineId>,
        /// Seconds it may ring.
        timeout_s: u32,
    },
    /// A ring attempt ended.
    RingEnded {
        /// The phone.
        target: String,
        /// Its employee.
        employee: Option<EmployeeId>,
        /// Its SIP line.
        line: Option<SipLineId>,
        /// How it ended.
        outcome: RingOutcome,
        /// Why it did not connect.
        cause: Option<LegCause>,
        /// The final SIP status, when one arrived.
        code: Option<u16>,
    },
    /// The caller hears a ringing phone's early media.
    EarlyMedia {
        /// The phone.
        from: String,
    },
    /// The caller is connected to a party.
    Talk {
        /// The party.
        with: String,
        /// Its employee.
        employee: Option<EmployeeId>,
    },
    /// The talk ended (the scenario goes on, or the call ends).
    TalkEnded {
        /// Who hung up.
        side: Side,
    },
    /// A forward operation ended without a talk.
    ForwardEnded {
        /// `busy` or `no_answer`.
        outcome: String,
    },
    /// A side put the call on hold or resumed it.
    Hold {
        /// Who.
        side: Side,
        /// On hold (else resumed).
        held: bool,
    },
    /// The media of a side moved (re-INVITE).
    MediaMoved {
        /// Who.
        side: Side,
        /// The new address.
        to: String,
    },
    /// A transfer was asked for.
    TransferRequested {
        /// Who asked.
        by: String,
        /// Blind or attended.
        kind: TransferKind,
        /// The target as dialled.
        target: String,
    },
    /// A transfer connected.
    TransferCompleted {
        /// Blind or attended.
        kind: TransferKind,
    },
    /// A transfer failed; for a blind transfer the caller is back with the transferor.
    TransferFailed {
        /// Blind or attended.
        kind: TransferKind,
        /// Why.
        why: String,
    },
    /// A recording started.
    RecordingStarted {
        /// Mono file, relative to the data directory.
        path: String,
    },
    /// A recording stopped.
    RecordingStopped {
        /// Mono file, relative to the data directory.
        path: String,
    },
    /// A voicemail message was recorded (or the caller left none).
    Voicemail {
        /// The file, when a message was left.
        path: Option<String>,
        /// Its length.
        duration_ms: u64,
    },
    /// A talk option (key sequence) was used.
    TalkOption {
        /// The keys.
        keys: String,
        /// What it did.
        action: String,
    },
    /// RTP counters of the caller's media at the end.
    Rtp {
        /// Packets sent.
        sent: u64,
        /// Bytes sent.
        sent_bytes: u64,
        /// Packets received.
        received: u64,
        /// Bytes received.
        received_bytes: u64,
        /// Packets lost.
        lost: u64,
        /// Packets late.
        late: u64,
        /// Interarrival jitter, ms.
        jitter_ms: f64,
    },
    /// The call ended.
    HangUp {
        /// Who ended it.
        side: HangupSide,
        /// Why.
        cause: String,
    },
    /// Free text (records migrated from schema version 1, whose detail was text).
    Note(String),
    /// Nobody could take the call in one full round: the caller joined the queue of these
    /// employees' numbers (SPEC §4.3).
    QueueJoined {
        /// The queue (the employees' extensions).
        queue: String,
        /// 1 = next.
        position: u32,
        /// The callers that were ahead (their numbers), head first.
        ahead: Vec<String>,
        /// Expected wait announced, seconds.
        eta_s: u64,
    },
    /// The position and expected wait were announced to the caller.
    QueueAnnounced {
        /// 1 = next.
        position: u32,
        /// Expected wait, seconds.
        eta_s: u64,
    },
    /// The caller left the queue.
    QueueLeft {
        /// `answered`, `max wait`, ...
        why: String,
        /// How long the caller waited in it, milliseconds.
        waited_ms: u64,
    },
    /// The operator hint was played to the employee before the caller was connected.
    HintPlayed {
        /// The employee's phone.
        to: String,
    },
    /// The caller rated the employee after the talk (SPEC §4.4).
    Rated {
        /// The employee credited: the last one who talked.
        employee: Option<EmployeeId>,
        /// 1-5; `None`: asked, but no valid key came.
        score: Option<u8>,
    },
    /// The call was tagged during the talk (a talk option).
    Tagged {
        /// The tag (`None`: marked without a fixed tag).
        tag: Option<super::TagId>,
        /// The employee who tagged it.
        employee: Option<EmployeeId>,
    },
    /// The waiting caller pressed the callback key: they hang up and keep their place; the
    /// switch calls them back when they reach the head and an employee is free (SPEC §4.3).
    CallbackRequested {
        /// The queue.
        queue: String,
        /// 1 = next.
        position: u32,
        /// A callback for this number was already waiting: it keeps its own (earlier) place.
        already: bool,
    },
    /// This call is a queue callback placed by the switch: the caller answered and rejoins
    /// the queue in the place they kept.
    CallbackStarted {
        /// The queue.
        queue: String,
        /// When the caller asked for it, ms since the Unix epoch.
        requested_unix_ms: u64,
    },
    /// The switch placed this call through the call API (SPEC §6.3): who it rang first and
    /// what it connects them to.
    Originated {
        /// The number or extension rung first.
        to: String,
        /// What follows once they answer (`employee 3`, `number 7916...`, `scenario 2`).
        then: String,
    },
    /// A webhook operation sent its request to the CRM (SPEC §3 op 13).
    WebhookRequest {
        /// The webhook operation.
        op: String,
        /// `GET` or `POST`.
        method: String,
        /// The URL without its query string (which may carry a token).
        url: String,
        /// The names of the parameters sent.
        params: Vec<String>,
    },
    /// The CRM's reply to a webhook, or why there was none.
    WebhookReply {
        /// The webhook operation.
        op: String,
        /// The HTTP status, when a reply came.
        status: Option<u16>,
        /// Milliseconds from the request to the reply (or the failure).
        time_ms: u64,
        /// Bytes of the reply's body.
        body_bytes: u64,
        /// `ok`, `timeout`, `error: ...` (no connection), `status` (not 200) or `bad_reply:
        /// ...` (not the expected JSON); the last four take `no_answer`.
        outcome: String,
        /// The reply's `returned_code`, when it had one.
        returned_code: Option<String>,
    },
    /// A voice assistant heard the caller's answer and had it recognised, or why not
    /// (SPEC §3 op 16).
    SpeechRecognised {
        /// The voice-assistant operation.
        op: String,
        /// `recognised`, `no_match` (no expected phrase), `low_confidence`, `no_speech`
        /// (nothing said in time), `not_configured` (no speech service), `timeout`, `error:
        /// ...`, `status` (not 200) or `bad_reply: ...`; all but the first take
        /// `not_recognised`.
        outcome: String,
        /// What the service heard.
        text: Option<String>,
        /// The phrase it matched (its exit, when recognised).
        phrase: Option<String>,
        /// The service's confidence, 0.0-1.0.
        confidence: Option<f32>,
        /// Milliseconds of the caller's answer sent.
        audio_ms: u64,
        /// Milliseconds from the request to the reply (or the failure); 0 when none was sent.
        time_ms: u64,
    },
    /// Nobody answered a forward operation whose no-answer action creates a call-back task
    /// (SPEC §3 op 4). Until the task store comes (the callbacks issue), the event is the task.
    TaskCreated {
        /// The forward operation.
        op: String,
        /// The number to call back.
        caller: String,
        /// Who the task is for: `employee N`, `group N`, or the operation's employees.
        assignee: String,
        /// The operation's note for whoever calls back.
        note: Option<String>,
        /// Why: `no_answer` or `busy`.
        why: String,
    },
}

/// Call detail record: one per finished call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cdr {
    /// The call's id (our own, unique per box).
    pub call_id: String,
    /// SIP Call-ID of the inbound leg.
    pub sip_call_id: String,
    /// Caller number (A).
    pub numa: String,
    /// Dialled number (B).
    pub numb: String,
    /// Start, milliseconds since the Unix epoch.
    pub start_unix_ms: u64,
    /// Answer time of the caller, if answered.
    pub answer_unix_ms: Option<u64>,
    /// End.
    pub end_unix_ms: u64,
    /// What happened.
    pub result: CallResult,
    /// Who hung up.
    pub hangup: HangupSide,
    /// Human-readable reason of the end.
    pub reason: String,
    /// The path, in order.
    pub events: Vec<CallEvent>,
}

impl Cdr {
    /// The events' kinds, in order (for reports and tests).
    pub fn what(&self) -> impl Iterator<Item = &Event> {
        self.events.iter().map(|e| &e.what)
    }

    /// Milliseconds from the call's start until a person answered (the first talk), if one did.
    pub fn wait_ms(&self) -> Option<u64> {
        self.events
            .iter()
            .find(|e| matches!(e.what, Event::Talk { .. }))
            .map(|e| e.at_unix_ms.saturating_sub(self.start_unix_ms))
    }

    /// Milliseconds spent talking to parties (each talk lasts until it ends, the next talk
    /// starts, or the call ends).
    pub fn talk_ms(&self) -> u64 {
        let mut total = 0;
        let mut since: Option<u64> = None;
        for e in &self.events {
            match e.what {
                Event::Talk { .. } => {
                    if let Some(s) = since.replace(e.at_unix_ms) {
                        total += e.at_unix_ms.saturating_sub(s);
                    }
                }
                Event::TalkEnded { .. } => {
                    if let Some(s) = since.take() {
                        total += e.at_unix_ms.saturating_sub(s);
                    }
                }
                _ => {}
            }
        }
        if let Some(s) = since {
            total += self.end_unix_ms.saturating_sub(s);
        }
        total
    }

    /// Ring attempts made.
    pub fn ring_attempts(&self) -> usize {
        self.what()
            .filter(|e| matches!(e, Event::RingStarted { .. }))
            .count()
    }
}

/// Schema version 1 of the CDR.
#[derive(Deserialize)]
struct CdrV1 {
    call_id: String,
    sip_call_id: String,
    numa: String,
    numb: String,
    start_unix_ms: u64,
    answer_unix_ms: Option<u64>,
    end_unix_ms: u64,
    result: ResultV1,
    reason: String,
    steps: Vec<String>,
}

/// Version 1 results mixed what happened with who hung up.
#[derive(Deserialize)]
enum ResultV1 {
    Completed,
    CallerHangup,
    Cancelled,
    NotRouted,
    Failed,
    Shutdown,
    Blocked,
}

/// Reads a version 1 record: steps become [`Event::Note`]s at the call's start; the old result
/// is split into what happened and who hung up.
pub(crate) fn migrate_v1(v1: &crate::envelope::Body<'_>) -> Result<Cdr, String> {
    let old: CdrV1 = v1.decode()?;
    let answered = old.answer_unix_ms.is_some();
    let (result, hangup) = match old.result {
        ResultV1::Completed if answered => (CallResult::Answered, HangupSide::Switch),
        ResultV1::Completed => (CallResult::NotAnswered, HangupSide::Switch),
        ResultV1::CallerHangup if answered => (CallResult::Answered, HangupSide::Caller),
        ResultV1::CallerHangup | ResultV1::Cancelled => (CallResult::Abandoned, HangupSide::Caller),
        ResultV1::NotRouted => (CallResult::Refused, HangupSide::Switch),
        ResultV1::Failed => (CallResult::Failed, HangupSide::Switch),
        ResultV1::Shutdown if answered => (CallResult::Answered, HangupSide::Switch),
        ResultV1::Shutdown => (CallResult::Failed, HangupSide::Switch),
        ResultV1::Blocked => (CallResult::Blocked, HangupSide::Switch),
    };
    let at = old.start_unix_ms;
    Ok(Cdr {
        call_id: old.call_id,
        sip_call_id: old.sip_call_id,
        numa: old.numa,
        numb: old.numb,
        start_unix_ms: old.start_unix_ms,
        answer_unix_ms: old.answer_unix_ms,
        end_unix_ms: old.end_unix_ms,
        result,
        hangup,
        reason: old.reason,
        events: old
            .steps
            .into_iter()
            .map(|s| CallEvent {
                at_unix_ms: at,
                what: Event::Note(s),
            })
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Version 1 as it was written (field order matters to bincode).
    #[derive(Serialize)]
    struct WriteV1 {
        call_id: String,
        sip_call_id: String,
        numa: String,
        numb: String,
        start_unix_ms: u64,
        answer_unix_ms: Option<u64>,
        end_unix_ms: u64,
        result: WriteResultV1,
        reason: String,
        steps: Vec<String>,
    }
    #[derive(Serialize)]
    #[allow(dead_code)]
    enum WriteResultV1 {
        Completed,
        CallerHangup,
        Cancelled,
        NotRouted,
        Failed,
        Shutdown,
        Blocked,
    }

    fn v1(result: WriteResultV1, answer: Option<u64>) -> Vec<u8> {
        crate::envelope::encode(
            1,
            &WriteV1 {
                call_id: "c1".into(),
                sip_call_id: "s1".into(),
                numa: "79001234567".into(),
                numb: "74951234567".into(),
                start_unix_ms: 1_000,
                answer_unix_ms: answer,
                end_unix_ms: 9_000,
                result,
                reason: "caller hung up".into(),
                steps: vec!["rule 1 'all'".into(), "operation 'greet'".into()],
            },
        )
        .unwrap()
    }

    #[test]
    fn version_1_records_migrate_on_read() {
        let cdr: Cdr =
            crate::envelope::decode(&v1(WriteResultV1::CallerHangup, Some(2_000))).unwrap();
        assert_eq!(cdr.result, CallResult::Answered);
        assert_eq!(cdr.hangup, HangupSide::Caller);
        assert_eq!(cdr.reason, "caller hung up");
        assert_eq!(
            cdr.what().collect::<Vec<_>>(),
            vec![
                &Event::Note("rule 1 'all'".into()),
                &Event::Note("operation 'greet'".into())
            ]
        );
        // What the old result could not say: a call "completed" that nobody answered.
        let cdr: Cdr = crate::envelope::decode(&v1(WriteResultV1::Completed, None)).unwrap();
        assert_eq!(cdr.result, CallResult::NotAnswered);
        assert_eq!(cdr.hangup, HangupSide::Switch);
        let cdr: Cdr = crate::envelope::decode(&v1(WriteResultV1::Cancelled, None)).unwrap();
        assert_eq!(
            (cdr.result, cdr.hangup),
            (CallResult::Abandoned, HangupSide::Caller)
        );
    }

    #[test]
    fn wait_and_talk_time_come_from_events() {
        let ev = |at, what| CallEvent {
            at_unix_ms: at,
            what,
        };
        let cdr = Cdr {
            call_id: "c".into(),
            sip_call_id: "s".into(),
            numa: "1".into(),
            numb: "2".into(),
            start_unix_ms: 1_000,
            answer_unix_ms: Some(4_000),
            end_unix_ms: 10_000,
            result: CallResult::Answered,
            hangup: HangupSide::Caller,
            reason: "caller hung up".into(),
            events: vec![
                ev(
                    1_500,
                    Event::RingStarted {
                        target: "a".into(),
                        employee: Some(EmployeeId(1)),
                        line: Some(SipLineId(1)),
                        timeout_s: 20,
                    },
                ),
                ev(
                    4_000,
                    Event::Talk {
                        with: "a".into(),
                        employee: Some(EmployeeId(1)),
                    },
                ),
            ],
        };
        assert_eq!(cdr.wait_ms(), Some(3_000));
        assert_eq!(cdr.talk_ms(), 6_000);
        assert_eq!(cdr.ring_attempts(), 1);
        let bytes = crate::envelope::encode(crate::envelope::CDR_VERSION, &cdr).unwrap();
        assert_eq!(crate::envelope::decode::<Cdr>(&bytes).unwrap(), cdr);
    }
}
