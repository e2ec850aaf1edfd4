//! Early shedding of new calls (D73): the edge counts the calls *in setup* — an INVITE admitted
//! whose call actor has not yet sent its first answer (ring, progress, answer, rejection) — and
//! refuses a new INVITE with 503 and `Retry-After` once that count reaches its bound.
//!
//! A call in setup is work the switch accepted but has not caught up with: in normal running it
//! lasts a millisecond or two (a handful at thousands of calls a second); when the call actors
//! fall behind it grows with every INVITE. Refusing at the door costs one response and no call,
//! so the switch keeps finishing what it took on instead of piling up transactions, tasks and
//! retransmissions that it would serve late or not at all. Calls already up, BYEs, CANCELs and
//! in-dialog requests are never shed.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// `Retry-After` of an overload refusal, seconds (RFC 3261 §21.5.4: a peer that honours it
/// stops sending new calls to us for this long; short, so a burst does not black out a trunk).
pub const RETRY_AFTER_S: u32 = 2;

/// The count of calls in setup and its bound.
#[derive(Debug)]
pub struct SetupGauge {
    in_setup: AtomicUsize,
    /// The bound (0: no bound).
    max: usize,
}

impl SetupGauge {
    /// A gauge that admits up to `max` calls in setup at once (0: any number).
    pub fn new(max: usize) -> Arc<SetupGauge> {
        Arc::new(SetupGauge {
            in_setup: AtomicUsize::new(0),
            max,
        })
    }

    /// Takes a place for one more call in setup, or `None` when the bound is reached.
    pub fn try_enter(self: &Arc<Self>) -> Option<SetupSlot> {
        let admitted = self
            .in_setup
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (self.max == 0 || n < self.max).then_some(n + 1)
            })
            .is_ok();
        if !admitted {
            metrics::counter!("vpbx_sip_overload_refusals_total").increment(1);
            return None;
        }
        metrics::gauge!("vpbx_sip_calls_in_setup").increment(1.0);
        Some(SetupSlot(Some(self.clone())))
    }

    /// Calls in setup now.
    pub fn in_setup(&self) -> usize {
        self.in_setup.load(Ordering::Acquire)
    }
}

/// One call's place among the calls in setup; given back on [`SetupSlot::leave`] or drop.
#[derive(Debug)]
pub struct SetupSlot(Option<Arc<SetupGauge>>);

impl SetupSlot {
    /// The call's setup is over (its first answer went out, or it ended): the place is free.
    /// Idempotent.
    pub fn leave(&mut self) {
        if let Some(g) = self.0.take() {
            g.in_setup.fetch_sub(1, Ordering::AcqRel);
            metrics::gauge!("vpbx_sip_calls_in_setup").decrement(1.0);
        }
    }
}

impl Drop for SetupSlot {
    fn drop(&mut self) {
        self.leave();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bound_refuses_and_a_place_left_is_taken_again() {
        let g = SetupGauge::new(2);
        let mut a = g.try_enter().expect("first");
        let b = g.try_enter().expect("second");
        assert!(g.try_enter().is_none(), "the third waits for a place");
        a.leave();
        a.leave();
        assert_eq!(g.in_setup(), 1, "leaving twice frees one place");
        let c = g.try_enter().expect("a place was left");
        drop(b);
        drop(c);
        assert_eq!(g.in_setup(), 0);
    }

    #[test]
    fn zero_means_no_bound() {
        let g = SetupGauge::new(0);
        let slots: Vec<_> = (0..10_000).filter_map(|_| g.try_enter()).collect();
        assert_eq!(slots.len(), 10_000);
    }
}

/// What the backlog check reads of a message that passed the gate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageId<'a> {
    /// The method of a request's start line, the status code of a response's.
    pub start: &'a str,
    /// The message is a request.
    pub request: bool,
    /// Call-ID.
    pub call_id: &'a str,
    /// CSeq.
    pub cseq: &'a str,
    /// The top Via's branch (empty when there is none).
    pub branch: &'a str,
    /// The To header has a tag (the request belongs to a dialog).
    pub in_dialog: bool,
}

impl MessageId<'_> {
    /// The key the gate and the stack's side both compute for one message.
    pub fn key(&self) -> u64 {
        message_key(self.start, self.call_id, self.cseq)
    }
}

/// A message's key from its start token (method or status code), Call-ID and CSeq.
pub fn message_key(start: &str, call_id: &str, cseq: &str) -> u64 {
    use std::hash::{BuildHasher, Hash, Hasher};
    let mut h = FIXED.build_hasher();
    start.hash(&mut h);
    call_id.trim().hash(&mut h);
    for part in cseq.split_whitespace() {
        part.hash(&mut h);
    }
    h.finish()
}

/// Reads what [`Backlog`] needs from a message's head; `None` without a Call-ID or CSeq. A
/// light line scan: the message has passed the gate and been normalised already.
pub fn message_id(msg: &[u8]) -> Option<MessageId<'_>> {
    let end = msg
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(msg.len());
    let head = std::str::from_utf8(&msg[..end]).ok()?;
    let mut lines = head.split("\r\n");
    let first = lines.next()?;
    let (start, request) = match first.strip_prefix("SIP/2.0 ") {
        Some(rest) => (rest.split(' ').next()?, false),
        None => (first.split(' ').next()?, true),
    };
    let (mut call_id, mut cseq, mut branch) = (None, None, None);
    let (mut seen_to, mut in_dialog) = (false, false);
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let name = name.trim();
        let is = |long: &str, short: &str| name.eq_ignore_ascii_case(long) || name == short;
        if branch.is_none() && is("via", "v") {
            let top = value.split(',').next().unwrap_or_default();
            branch = Some(
                top.split(';')
                    .skip(1)
                    .find_map(|p| {
                        let (k, v) = p.split_once('=')?;
                        k.trim().eq_ignore_ascii_case("branch").then(|| v.trim())
                    })
                    .unwrap_or_default(),
            );
        } else if !seen_to && is("to", "t") {
            seen_to = true;
            let params = value.rsplit_once('>').map_or(value, |(_, p)| p);
            in_dialog = params
                .split(';')
                .skip(1)
                .any(|p| p.trim().to_ascii_lowercase().starts_with("tag="));
        } else if call_id.is_none() && is("call-id", "i") {
            call_id = Some(value.trim());
        } else if cseq.is_none() && name.eq_ignore_ascii_case("cseq") {
            cseq = Some(value.trim());
        }
    }
    Some(MessageId {
        start,
        request,
        call_id: call_id?,
        cseq: cseq?,
        branch: branch.unwrap_or_default(),
        in_dialog,
    })
}

/// The requests passed up recently, by branch and method, in two generations of at most
/// `cap` each: a retransmission is recognised for at least `cap` requests after the original.
#[derive(Debug, Default)]
pub struct Seen {
    current: std::collections::HashSet<u64>,
    previous: std::collections::HashSet<u64>,
    cap: usize,
}

impl Seen {
    /// An empty set remembering at least `cap` requests.
    pub fn new(cap: usize) -> Seen {
        Seen {
            cap: cap.max(1),
            ..Default::default()
        }
    }

    /// Notes a request by its branch and method; answers whether it was seen before (a
    /// retransmission).
    pub fn note(&mut self, method: &str, branch: &str) -> bool {
        use std::hash::{BuildHasher, Hash, Hasher};
        let mut h = FIXED.build_hasher();
        branch.hash(&mut h);
        method.hash(&mut h);
        let key = h.finish();
        if self.current.contains(&key) || self.previous.contains(&key) {
            return true;
        }
        if self.current.len() >= self.cap {
            self.previous = std::mem::take(&mut self.current);
        }
        self.current.insert(key);
        false
    }
}

/// A hasher with fixed keys: the same text hashes the same way every time.
static FIXED: std::hash::BuildHasherDefault<std::collections::hash_map::DefaultHasher> =
    std::hash::BuildHasherDefault::new();

/// What the gate does with a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Pass it up to the stack.
    Pass,
    /// Drop it silently: a retransmission of a request the stack has queued or answered.
    DropRetransmission,
    /// Answer it 503 with `Retry-After` at the gate: a new call.
    Refuse,
}

/// The pure rule: under the bound everything passes; over it a retransmission is dropped, a new
/// INVITE outside a dialog refused, and everything else (responses, ACK, BYE, CANCEL,
/// in-dialog requests: they finish calls) passes.
pub fn decide(over: bool, retransmission: bool, id: &MessageId<'_>) -> Admission {
    if !over || !id.request {
        return Admission::Pass;
    }
    if retransmission {
        return Admission::DropRetransmission;
    }
    if id.start == "INVITE" && !id.in_dialog {
        return Admission::Refuse;
    }
    Admission::Pass
}

/// The messages the gate passed up over UDP that the SIP stack has not taken yet (D73), in
/// order, by key. The stack's side takes them in the same order (one reader, one queue); one
/// the stack dropped without taking it (a parse failure of its own) is discarded when a later
/// one is taken, so the count never drifts.
#[derive(Debug)]
pub struct Backlog {
    inner: std::sync::Mutex<BacklogInner>,
    /// The bound (0: no bound).
    max: usize,
}

#[derive(Debug)]
struct BacklogInner {
    fifo: std::collections::VecDeque<u64>,
    seen: Seen,
}

impl Backlog {
    /// A backlog bounded at `max` messages (0: no bound).
    pub fn new(max: usize) -> Arc<Backlog> {
        Arc::new(Backlog {
            inner: std::sync::Mutex::new(BacklogInner {
                fifo: std::collections::VecDeque::new(),
                seen: Seen::new(65_536),
            }),
            max,
        })
    }

    fn with<T>(&self, f: impl FnOnce(&mut BacklogInner) -> T) -> T {
        match self.inner.lock() {
            Ok(mut g) => f(&mut g),
            Err(p) => f(&mut p.into_inner()),
        }
    }

    /// Decides on a message that passed the gate; one that passes is queued.
    pub fn admit(&self, msg: &[u8]) -> Admission {
        let Some(id) = message_id(msg) else {
            // Nothing to match it by on the stack's side: not counted.
            return Admission::Pass;
        };
        let (a, n) = self.with(|b| {
            let again = id.request && b.seen.note(id.start, id.branch);
            let over = self.max > 0 && b.fifo.len() >= self.max;
            let a = decide(over, again, &id);
            if a == Admission::Pass {
                b.fifo.push_back(id.key());
            }
            (a, b.fifo.len())
        });
        match a {
            Admission::Pass if n.is_multiple_of(64) => {
                metrics::gauge!("vpbx_sip_backlog").set(n as f64);
            }
            Admission::Pass => {}
            Admission::DropRetransmission => {
                metrics::counter!("vpbx_sip_dropped_total", "reason" => "backlog").increment(1);
            }
            Admission::Refuse => {
                metrics::counter!("vpbx_sip_backlog_refusals_total").increment(1);
            }
        }
        a
    }

    /// The stack took the message with `key` up: it and anything queued before it leave.
    pub fn taken(&self, key: u64) {
        let n = self.with(|b| {
            if let Some(i) = b.fifo.iter().position(|k| *k == key) {
                b.fifo.drain(..=i);
            }
            b.fifo.len()
        });
        if n.is_multiple_of(64) {
            metrics::gauge!("vpbx_sip_backlog").set(n as f64);
        }
    }

    /// Messages queued now.
    pub fn queued(&self) -> usize {
        self.with(|b| b.fifo.len())
    }
}

#[cfg(test)]
mod backlog_tests {
    use super::*;

    const INVITE: &[u8] = b"INVITE sip:74950000000@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5071;branch=z9hG4bK-1;rport\r\nFrom: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:74950000000@127.0.0.1>\r\nCall-ID: c1\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n";
    const BYE: &[u8] = b"BYE sip:x@127.0.0.1 SIP/2.0\r\nv: SIP/2.0/UDP 127.0.0.1:5071;branch=z9hG4bK-2\r\nf: <sip:a@127.0.0.1>;tag=1\r\nt: <sip:74950000000@127.0.0.1>;tag=us\r\ni: c1\r\nCSeq: 2 BYE\r\n\r\n";
    const OK: &[u8] = b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:5090;branch=z9hG4bK-3\r\nTo: <sip:b@x>;tag=2\r\nCall-ID: c2\r\nCSeq: 7 INVITE\r\n\r\n";

    #[test]
    fn a_message_is_read_by_start_call_id_cseq_branch_and_to_tag() {
        let i = message_id(INVITE).unwrap();
        assert_eq!(
            (i.start, i.request, i.call_id, i.cseq, i.branch, i.in_dialog),
            ("INVITE", true, "c1", "1 INVITE", "z9hG4bK-1", false)
        );
        let b = message_id(BYE).unwrap();
        assert_eq!(
            (b.start, b.call_id, b.branch, b.in_dialog),
            ("BYE", "c1", "z9hG4bK-2", true)
        );
        let r = message_id(OK).unwrap();
        assert_eq!((r.start, r.request, r.cseq), ("200", false, "7 INVITE"));
        assert_eq!(
            message_id(b"OPTIONS sip:x SIP/2.0\r\nTo: <sip:x>\r\n\r\n"),
            None
        );
        // The stack's side computes the same key from its own parse.
        assert_eq!(i.key(), message_key("INVITE", " c1", "1  INVITE"));
    }

    #[test]
    fn over_the_bound_new_invites_are_refused_and_retransmissions_dropped() {
        let inv = message_id(INVITE).unwrap();
        let bye = message_id(BYE).unwrap();
        let ok = message_id(OK).unwrap();
        assert_eq!(decide(false, true, &inv), Admission::Pass);
        assert_eq!(decide(true, false, &inv), Admission::Refuse);
        assert_eq!(decide(true, true, &inv), Admission::DropRetransmission);
        assert_eq!(decide(true, false, &bye), Admission::Pass);
        assert_eq!(decide(true, false, &ok), Admission::Pass);
        let cancel = MessageId {
            start: "CANCEL",
            ..inv.clone()
        };
        assert_eq!(decide(true, false, &cancel), Admission::Pass);
    }

    #[test]
    fn a_retransmission_is_known_for_two_generations_and_a_cancel_is_not_one() {
        let mut seen = Seen::new(2);
        assert!(!seen.note("INVITE", "a"));
        assert!(seen.note("INVITE", "a"));
        assert!(
            !seen.note("CANCEL", "a"),
            "a CANCEL shares the INVITE's branch"
        );
        assert!(!seen.note("INVITE", "b"));
        assert!(!seen.note("INVITE", "c"));
        assert!(seen.note("INVITE", "a"), "still in the previous generation");
        assert!(!seen.note("INVITE", "d"));
        assert!(!seen.note("INVITE", "e"));
        assert!(
            !seen.note("INVITE", "a"),
            "two generations later it is forgotten"
        );
    }

    #[test]
    fn the_backlog_counts_what_passed_until_the_stack_takes_it() {
        let b = Backlog::new(2);
        assert_eq!(b.admit(INVITE), Admission::Pass);
        assert_eq!(b.admit(OK), Admission::Pass);
        assert_eq!(b.queued(), 2);
        assert_eq!(b.admit(INVITE), Admission::DropRetransmission);
        let fresh = String::from_utf8_lossy(INVITE)
            .replace("z9hG4bK-1", "z9hG4bK-9")
            .replace("c1", "c9");
        assert_eq!(b.admit(fresh.as_bytes()), Admission::Refuse);
        assert_eq!(b.admit(BYE), Admission::Pass);
        // The stack never took the INVITE (say it failed to parse it): taking the 200 after it
        // clears both.
        b.taken(message_id(OK).unwrap().key());
        assert_eq!(b.queued(), 1);
        b.taken(message_id(BYE).unwrap().key());
        assert_eq!(b.queued(), 0);
        // A message the gate never counted (over TCP) changes nothing.
        b.taken(12345);
        assert_eq!(b.queued(), 0);
        assert_eq!(b.admit(fresh.as_bytes()), Admission::Pass);
    }
}
