//! One agent line (SPEC §4.1) as a state machine: how many calls ring and talk on it, whether
//! its phone is registered, whether its employee may take calls now, and its wrap-up after a
//! talk. Every ring of the line claims it first ([`Line::claim`]) and releases it after
//! ([`Line::release`]); a line never carries more calls than its line count.

use std::time::{Duration, Instant};
use vpbx_store::model::LegCause;

/// State of an agent line, as the panel and `GET /api/v1/agents` show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineState {
    /// Its SIP line has no registered contact (or its contacts stopped answering).
    Offline,
    /// Free.
    Available,
    /// At least one call rings on it and a line is still free.
    Ringing,
    /// At least one talk on it and a line is still free.
    Talking,
    /// After a talk: no calls until the wrap-up time is over.
    WrapUp,
    /// The employee may not take calls now (schedule, call status).
    NotAllowed(Permit),
    /// Every line of the phone is in use.
    Busy,
}

impl LineState {
    /// Name in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            LineState::Offline => "offline",
            LineState::Available => "available",
            LineState::Ringing => "ringing",
            LineState::Talking => "talking",
            LineState::WrapUp => "wrap_up",
            LineState::NotAllowed(Permit::CallStatusOff) => "call_status_off",
            LineState::NotAllowed(Permit::OutsideSchedule) => "not_allowed_by_schedule",
            LineState::NotAllowed(Permit::Allowed) => "available",
            LineState::Busy => "busy",
        }
    }
}

/// Whether the employee may take calls now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Permit {
    /// Yes.
    #[default]
    Allowed,
    /// Calls switched off (vacation).
    CallStatusOff,
    /// Outside the employee's activity schedule.
    OutsideSchedule,
}

/// Why a line (or a distribution) gave a call no phone: typed, and carried to the call's
/// events in the words of SPEC §4.1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The phone cannot take calls at all (not registered, unreachable, removed).
    Unavailable,
    /// Callers wait in the queue of this number: a call from outside the queue may not pass
    /// them.
    QueueWaiting,
    /// Every line of the phone is in use.
    Busy,
    /// It rang without an answer.
    NoAnswer,
    /// The line is in wrap-up after a talk.
    WrapUp,
    /// Outside the employee's activity schedule.
    NotAllowedBySchedule,
    /// The employee switched calls off.
    CallStatusOff,
}

impl Refusal {
    /// The words of the call detail.
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::Unavailable => "number unavailable in group",
            Refusal::QueueWaiting => "other callers are waiting in queue",
            Refusal::Busy => "busy",
            Refusal::NoAnswer => "no answer",
            Refusal::WrapUp => "wrap-up",
            Refusal::NotAllowedBySchedule => "not allowed by schedule",
            Refusal::CallStatusOff => "call status off",
        }
    }

    /// The leg cause the ringing records for a phone refused this way.
    pub fn cause(self) -> LegCause {
        match self {
            Refusal::Unavailable => LegCause::Offline,
            Refusal::QueueWaiting => LegCause::QueueWaiting,
            Refusal::Busy => LegCause::Busy,
            Refusal::NoAnswer => LegCause::NoAnswer,
            Refusal::WrapUp => LegCause::WrapUp,
            Refusal::NotAllowedBySchedule => LegCause::NotAllowedBySchedule,
            Refusal::CallStatusOff => LegCause::CallStatusOff,
        }
    }

    /// The SIP status that stands for it when the refusal ends a ring attempt (486 for a busy
    /// phone, 480 for every other "cannot take it now").
    pub fn status(self) -> u16 {
        match self {
            Refusal::Busy => 486,
            _ => 480,
        }
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One agent line.
#[derive(Debug, Clone)]
pub struct Line {
    capacity: u8,
    ringing: u8,
    talking: u8,
    registered: bool,
    permit: Permit,
    wrap_up_until: Option<Instant>,
    idle_since: Instant,
}

impl Line {
    /// A line of `capacity` simultaneous calls (at least 1), idle since `now`. `registered`:
    /// whether its phone can be reached (a SIP line with a contact; external numbers and SIP
    /// URIs always can).
    pub fn new(capacity: u8, registered: bool, now: Instant) -> Self {
        Line {
            capacity: capacity.max(1),
            ringing: 0,
            talking: 0,
            registered,
            permit: Permit::Allowed,
            wrap_up_until: None,
            idle_since: now,
        }
    }

    /// Its line count.
    pub fn capacity(&self) -> u8 {
        self.capacity
    }

    /// Calls ringing on it now.
    pub fn ringing(&self) -> u8 {
        self.ringing
    }

    /// Talks on it now.
    pub fn talking(&self) -> u8 {
        self.talking
    }

    /// Whether its phone can be reached.
    pub fn registered(&self) -> bool {
        self.registered
    }

    /// When its wrap-up ends, if it is in one at `now`.
    pub fn wrap_up_until(&self, now: Instant) -> Option<Instant> {
        self.wrap_up_until.filter(|t| *t > now)
    }

    /// Since when it has carried no call (for "longest idle").
    pub fn idle_since(&self) -> Instant {
        self.idle_since
    }

    /// Milliseconds it has been idle at `now` (0 while in use).
    pub fn idle_ms(&self, now: Instant) -> u64 {
        if self.in_use() > 0 {
            return 0;
        }
        u64::try_from(now.saturating_duration_since(self.idle_since).as_millis())
            .unwrap_or(u64::MAX)
    }

    fn in_use(&self) -> u8 {
        self.ringing.saturating_add(self.talking)
    }

    /// Its state at `now`.
    pub fn state(&self, now: Instant) -> LineState {
        if self.permit != Permit::Allowed {
            return LineState::NotAllowed(self.permit);
        }
        if !self.registered {
            return LineState::Offline;
        }
        if self.in_use() >= self.capacity {
            return LineState::Busy;
        }
        if self.talking > 0 {
            return LineState::Talking;
        }
        if self.ringing > 0 {
            return LineState::Ringing;
        }
        if self.wrap_up_until(now).is_some() {
            return LineState::WrapUp;
        }
        LineState::Available
    }

    /// Whether a claim at `now` would succeed, and why not.
    pub fn can_take(&self, now: Instant) -> Result<(), Refusal> {
        match self.permit {
            Permit::CallStatusOff => return Err(Refusal::CallStatusOff),
            Permit::OutsideSchedule => return Err(Refusal::NotAllowedBySchedule),
            Permit::Allowed => {}
        }
        if !self.registered {
            return Err(Refusal::Unavailable);
        }
        if self.wrap_up_until(now).is_some() {
            return Err(Refusal::WrapUp);
        }
        if self.in_use() >= self.capacity {
            return Err(Refusal::Busy);
        }
        Ok(())
    }

    /// Claims one of its lines for a ring.
    pub fn claim(&mut self, now: Instant) -> Result<(), Refusal> {
        self.can_take(now)?;
        self.ringing += 1;
        Ok(())
    }

    /// Counts a call the line carried before a restart, whatever its state now (the call
    /// exists; refusing to count it would over-commit the line later).
    pub fn force_claim(&mut self) {
        self.ringing = self.ringing.saturating_add(1);
    }

    /// A ring on it was answered: the claimed line now talks.
    pub fn answered(&mut self) {
        if self.ringing > 0 {
            self.ringing -= 1;
            self.talking = self.talking.saturating_add(1);
        }
    }

    /// A claimed line is free again: a ring that ended unanswered (`talked` false), or a talk
    /// that ended, after which the line is in wrap-up for `wrap_up`.
    pub fn release(&mut self, now: Instant, talked: bool, wrap_up: Duration) {
        if talked {
            if self.talking == 0 {
                return;
            }
            self.talking -= 1;
            if !wrap_up.is_zero() {
                let until = now + wrap_up;
                self.wrap_up_until = Some(self.wrap_up_until.map_or(until, |t| t.max(until)));
            }
        } else {
            if self.ringing == 0 {
                return;
            }
            self.ringing -= 1;
        }
        if self.in_use() == 0 {
            self.idle_since = now;
        }
    }

    /// Its phone became reachable or not.
    pub fn set_registered(&mut self, registered: bool) {
        self.registered = registered;
    }

    /// The employee's permission changed (call status, schedule).
    pub fn set_permit(&mut self, permit: Permit) {
        self.permit = permit;
    }

    /// A new line count (configuration changed); calls in progress stay.
    pub fn set_capacity(&mut self, capacity: u8) {
        self.capacity = capacity.max(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(t0: Instant, s: u64) -> Instant {
        t0 + Duration::from_secs(s)
    }

    #[test]
    fn a_line_never_carries_more_calls_than_its_count() {
        let t0 = crate::clock::test_origin();
        let mut l = Line::new(2, true, t0);
        assert_eq!(l.claim(t0), Ok(()));
        assert_eq!(l.state(t0), LineState::Ringing);
        assert_eq!(l.claim(t0), Ok(()));
        assert_eq!(l.state(t0), LineState::Busy);
        assert_eq!(l.claim(t0), Err(Refusal::Busy));
        l.answered();
        assert_eq!(l.state(t0), LineState::Busy);
        l.release(t0, false, Duration::ZERO);
        assert_eq!(l.state(t0), LineState::Talking);
        assert_eq!(l.claim(t0), Ok(()));
        assert_eq!(l.claim(t0), Err(Refusal::Busy));
    }

    #[test]
    fn wrap_up_keeps_the_line_out_until_it_ends() {
        let t0 = crate::clock::test_origin();
        let mut l = Line::new(1, true, t0);
        l.claim(t0).unwrap();
        l.answered();
        l.release(at(t0, 60), true, Duration::from_secs(30));
        assert_eq!(l.state(at(t0, 61)), LineState::WrapUp);
        assert_eq!(l.claim(at(t0, 89)), Err(Refusal::WrapUp));
        assert_eq!(l.state(at(t0, 90)), LineState::Available);
        assert_eq!(l.claim(at(t0, 90)), Ok(()));
        // Idle counts from the end of the talk.
        l.release(at(t0, 95), false, Duration::ZERO);
        assert_eq!(l.idle_ms(at(t0, 100)), 5_000);
    }

    #[test]
    fn refusals_say_why_in_order_of_precedence() {
        let t0 = crate::clock::test_origin();
        let mut l = Line::new(1, false, t0);
        assert_eq!(l.claim(t0), Err(Refusal::Unavailable));
        assert_eq!(l.state(t0), LineState::Offline);
        l.set_permit(Permit::OutsideSchedule);
        assert_eq!(l.claim(t0), Err(Refusal::NotAllowedBySchedule));
        l.set_permit(Permit::CallStatusOff);
        assert_eq!(l.claim(t0), Err(Refusal::CallStatusOff));
        assert_eq!(l.state(t0).as_str(), "call_status_off");
        l.set_permit(Permit::Allowed);
        l.set_registered(true);
        assert_eq!(l.claim(t0), Ok(()));
        assert_eq!(
            Refusal::QueueWaiting.to_string(),
            "other callers are waiting in queue"
        );
    }

    #[test]
    fn releases_without_a_claim_change_nothing() {
        let t0 = crate::clock::test_origin();
        let mut l = Line::new(1, true, t0);
        l.release(t0, true, Duration::from_secs(10));
        l.release(t0, false, Duration::ZERO);
        assert_eq!(l.state(t0), LineState::Available);
        assert_eq!((l.ringing(), l.talking()), (0, 0));
    }
}
