//! Per-source defences of the SIP edge: a request-rate limit (like Kamailio's pike: more than
//! `pike_requests` requests in `pike_window_s` → banned for `pike_ban_s`) and an auth-failure ban
//! (like fail2ban's Asterisk jail: more than `auth_fail_max` failed authentications in
//! `auth_fail_window_s` → banned for `auth_ban_s`). Banned sources are dropped silently at the
//! gate. A limit of 0 disables that limit.
//!
//! [`Guard`] is the pure core (time is an argument, in ms); [`Security`] is the shell with the
//! clock, the log's security events and the `/metrics` counters.

use crate::settings::SecuritySettings;
use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;
use tracing::warn;

/// Why a source was banned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BanReason {
    /// Too many requests in the pike window.
    Flood,
    /// Too many failed authentications.
    AuthFailures,
}

impl BanReason {
    /// Metric label / log value.
    pub fn label(self) -> &'static str {
        match self {
            BanReason::Flood => "flood",
            BanReason::AuthFailures => "auth_failures",
        }
    }
}

/// What to do with a message from a source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    /// Go on.
    Allow,
    /// The source is banned: drop.
    Banned,
    /// This message got the source banned: drop (and log the ban once).
    NewBan(BanReason),
}

#[derive(Debug, Default)]
struct Source {
    requests: VecDeque<u64>,
    failures: VecDeque<u64>,
    banned_until: u64,
    last_seen: u64,
}

/// Most sources tracked at once; beyond this, idle ones are forgotten first and then new
/// sources are not tracked (fail open rather than grow without bound).
const MAX_SOURCES: usize = 100_000;

/// The pure core: counts per source IP.
#[derive(Debug)]
pub struct Guard {
    limits: SecuritySettings,
    sources: HashMap<IpAddr, Source>,
    calls: u64,
}

fn push_window(q: &mut VecDeque<u64>, now: u64, window_ms: u64, max: u32) -> bool {
    q.push_back(now);
    while q
        .front()
        .is_some_and(|t| now.saturating_sub(*t) >= window_ms)
    {
        q.pop_front();
    }
    // Never hold more than max + 1 timestamps.
    while q.len() > max as usize + 1 {
        q.pop_front();
    }
    q.len() > max as usize
}

impl Guard {
    /// A guard with these limits.
    pub fn new(limits: SecuritySettings) -> Self {
        Guard {
            limits,
            sources: HashMap::new(),
            calls: 0,
        }
    }

    /// True if `ip` is banned at `now_ms`.
    pub fn is_banned(&self, ip: IpAddr, now_ms: u64) -> bool {
        self.sources
            .get(&ip)
            .is_some_and(|s| s.banned_until > now_ms)
    }

    fn source(&mut self, ip: IpAddr, now_ms: u64) -> Option<&mut Source> {
        self.calls += 1;
        if self.calls & 4095 == 0 || self.sources.len() >= MAX_SOURCES {
            self.prune(now_ms);
        }
        if self.sources.len() >= MAX_SOURCES && !self.sources.contains_key(&ip) {
            return None;
        }
        let s = self.sources.entry(ip).or_default();
        s.last_seen = now_ms;
        Some(s)
    }

    /// Forgets sources that are not banned and have nothing in their windows.
    fn prune(&mut self, now_ms: u64) {
        let keep_ms = (self
            .limits
            .pike_window_s
            .max(self.limits.auth_fail_window_s))
            * 1000;
        self.sources
            .retain(|_, s| s.banned_until > now_ms || now_ms.saturating_sub(s.last_seen) < keep_ms);
    }

    /// A request arrived from `ip`.
    pub fn on_request(&mut self, ip: IpAddr, now_ms: u64) -> Admit {
        if self.is_banned(ip, now_ms) {
            return Admit::Banned;
        }
        let l = self.limits.clone();
        if l.pike_requests == 0 || l.pike_window_s == 0 {
            return Admit::Allow;
        }
        let Some(s) = self.source(ip, now_ms) else {
            return Admit::Allow;
        };
        if push_window(
            &mut s.requests,
            now_ms,
            l.pike_window_s * 1000,
            l.pike_requests,
        ) {
            s.requests.clear();
            s.banned_until = now_ms + l.pike_ban_s * 1000;
            return Admit::NewBan(BanReason::Flood);
        }
        Admit::Allow
    }

    /// A message that is not a request (a response) arrived from `ip`: only the ban applies.
    pub fn on_other(&self, ip: IpAddr, now_ms: u64) -> Admit {
        if self.is_banned(ip, now_ms) {
            Admit::Banned
        } else {
            Admit::Allow
        }
    }

    /// An authentication from `ip` failed; Some if this bans the source.
    pub fn on_auth_failure(&mut self, ip: IpAddr, now_ms: u64) -> Option<BanReason> {
        let l = self.limits.clone();
        if l.auth_fail_max == 0 || l.auth_fail_window_s == 0 || self.is_banned(ip, now_ms) {
            return None;
        }
        let s = self.source(ip, now_ms)?;
        if push_window(
            &mut s.failures,
            now_ms,
            l.auth_fail_window_s * 1000,
            l.auth_fail_max,
        ) {
            s.failures.clear();
            s.banned_until = now_ms + l.auth_ban_s * 1000;
            return Some(BanReason::AuthFailures);
        }
        None
    }

    /// Sources tracked now (for tests).
    pub fn tracked(&self) -> usize {
        self.sources.len()
    }
}

/// The shell: a [`Guard`] behind a lock, with the clock, security log events and counters.
pub struct Security {
    guard: Mutex<Guard>,
    epoch: std::time::Instant,
    limits: SecuritySettings,
}

impl Security {
    /// A shell over these limits.
    pub fn new(limits: SecuritySettings) -> Self {
        for reason in ["flood", "auth_failures"] {
            metrics::counter!("vpbx_sip_bans_total", "reason" => reason).increment(0);
        }
        for reason in ["banned", "scanner"] {
            metrics::counter!("vpbx_sip_dropped_total", "reason" => reason).increment(0);
        }
        metrics::counter!("vpbx_sip_auth_failures_total", "method" => "REGISTER").increment(0);
        Security {
            guard: Mutex::new(Guard::new(limits.clone())),
            epoch: crate::clock::monotonic_now(),
            limits,
        }
    }

    fn now_ms(&self) -> u64 {
        crate::clock::monotonic_now()
            .saturating_duration_since(self.epoch)
            .as_millis() as u64
    }

    fn with<T>(&self, f: impl FnOnce(&mut Guard) -> T) -> T {
        match self.guard.lock() {
            Ok(mut g) => f(&mut g),
            Err(p) => f(&mut p.into_inner()),
        }
    }

    /// Whether to let a message from `ip` through; `request` is false for responses.
    pub fn admit(&self, ip: IpAddr, request: bool) -> bool {
        let now = self.now_ms();
        let admit = self.with(|g| {
            if request {
                g.on_request(ip, now)
            } else {
                g.on_other(ip, now)
            }
        });
        match admit {
            Admit::Allow => true,
            Admit::Banned => {
                metrics::counter!("vpbx_sip_dropped_total", "reason" => "banned").increment(1);
                false
            }
            Admit::NewBan(reason) => {
                self.banned(ip, reason);
                metrics::counter!("vpbx_sip_dropped_total", "reason" => "banned").increment(1);
                false
            }
        }
    }

    /// An authentication from `ip` failed (already counted and logged by the caller).
    pub fn auth_failed(&self, ip: IpAddr) {
        let now = self.now_ms();
        if let Some(reason) = self.with(|g| g.on_auth_failure(ip, now)) {
            self.banned(ip, reason);
        }
    }

    fn banned(&self, ip: IpAddr, reason: BanReason) {
        let ban_s = match reason {
            BanReason::Flood => self.limits.pike_ban_s,
            BanReason::AuthFailures => self.limits.auth_ban_s,
        };
        metrics::counter!("vpbx_sip_bans_total", "reason" => reason.label()).increment(1);
        warn!(
            security = "ban",
            source = %ip,
            reason = reason.label(),
            ban_s,
            "SIP source banned"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> SecuritySettings {
        SecuritySettings {
            trusted_networks: Vec::new(),
            pike_requests: 3,
            pike_window_s: 2,
            pike_ban_s: 10,
            auth_fail_max: 2,
            auth_fail_window_s: 60,
            auth_ban_s: 30,
        }
    }

    const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1));
    const B: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 2));

    #[test]
    fn defaults_follow_the_anchors() {
        let d = SecuritySettings::default();
        assert_eq!(
            (d.pike_requests, d.pike_window_s, d.pike_ban_s),
            (16, 2, 300)
        );
        assert_eq!(
            (d.auth_fail_max, d.auth_fail_window_s, d.auth_ban_s),
            (10, 600, 600)
        );
    }

    #[test]
    fn flood_bans_for_the_ban_time_only_that_source() {
        let mut g = Guard::new(limits());
        for t in 0..3 {
            assert_eq!(g.on_request(A, t * 100), Admit::Allow);
        }
        assert_eq!(g.on_request(A, 400), Admit::NewBan(BanReason::Flood));
        assert_eq!(g.on_request(A, 500), Admit::Banned);
        assert_eq!(g.on_other(A, 500), Admit::Banned);
        assert_eq!(g.on_request(B, 500), Admit::Allow);
        assert_eq!(g.on_request(A, 10_399), Admit::Banned);
        assert_eq!(g.on_request(A, 10_400), Admit::Allow);
    }

    #[test]
    fn the_window_slides() {
        let mut g = Guard::new(limits());
        // 3 per 2 s, forever: never more than 3 in any 2 s.
        for i in 0..100 {
            assert_eq!(g.on_request(A, i * 700), Admit::Allow, "request {i}");
        }
    }

    #[test]
    fn auth_failures_ban() {
        let mut g = Guard::new(limits());
        assert_eq!(g.on_auth_failure(A, 0), None);
        assert_eq!(g.on_auth_failure(A, 1000), None);
        assert_eq!(g.on_auth_failure(A, 2000), Some(BanReason::AuthFailures));
        assert!(g.is_banned(A, 31_999));
        assert!(!g.is_banned(A, 32_000));
        // Failures spread wider than the window do not ban.
        let mut g = Guard::new(limits());
        for i in 0..10 {
            assert_eq!(g.on_auth_failure(B, i * 31_000), None);
        }
    }

    #[test]
    fn zero_disables() {
        let mut g = Guard::new(SecuritySettings {
            pike_requests: 0,
            auth_fail_max: 0,
            ..limits()
        });
        for i in 0..1000 {
            assert_eq!(g.on_request(A, i), Admit::Allow);
            assert_eq!(g.on_auth_failure(A, i), None);
        }
        assert_eq!(g.tracked(), 0);
    }

    #[test]
    fn idle_sources_are_forgotten() {
        let mut g = Guard::new(limits());
        for i in 0..5000u32 {
            let ip = IpAddr::V4(std::net::Ipv4Addr::from(0x0a00_0000 + i));
            g.on_request(ip, u64::from(i) * 100);
        }
        assert!(g.tracked() < 5000, "{}", g.tracked());
    }
}
