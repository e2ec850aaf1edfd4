//! Per-source defences of the SIP edge: a request-rate limit (like Kamailio's pike: more than
//! `pike_requests` requests in `pike_window_s` → banned for `pike_ban_s`) and an auth-failure ban
//! (like fail2ban's Asterisk jail: more than `auth_fail_max` failed authentications in
//! `auth_fail_window_s` → banned for `auth_ban_s`). Banned sources are dropped silently at the
//! gate. A limit of 0 disables that limit. Sources in `trusted_networks` are never banned (their
//! requests are still authenticated).
//!
//! Verified sources (docs/decisions.md, "A NAT'd office is not an attack"): an address from
//! which a digest authentication verified within `verified_source_s` is held to the much higher
//! `pike_verified_requests` instead of `pike_requests`, so the phones of an office behind one
//! router can all re-register at once. Only a verified digest makes a source verified; a
//! request with credentials that do not verify counts as anonymous (and as an auth failure).
//! An in-dialog request that matches a live dialog is moved out of an anonymous source's count
//! into the verified-size window (so a carrier's ACKs and BYEs do not eat its budget, yet a
//! dialog cannot be used to flood without limit).
//!
//! Bans can be listed and lifted ([`Security::bans`], [`Security::lift`]); every ban and lift
//! is a security event in the log (target `vpbx::security`).
//!
//! Per account ([`Accounts`]): failed digest authentications of one SIP login are counted across
//! every untrusted address, so spreading guesses over many sources does not help; past a few
//! failures each next attempt waits a growing delay, and `account_fail_max` failures block the
//! account from untrusted addresses for `account_block_s`. Attempts refused this way are not
//! verified at all, so they tell a guesser nothing.
//!
//! [`Guard`] and [`Accounts`] are the pure cores (time is an argument, in ms); [`Security`] is
//! the shell with the clock, the log's security events and the `/metrics` counters.

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

/// A ban of one source (times in the guard's ms).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ban {
    /// Why.
    pub reason: BanReason,
    /// When it started.
    pub at_ms: u64,
    /// When it ends.
    pub until_ms: u64,
}

#[derive(Debug, Default)]
struct Source {
    /// Requests counted against the anonymous limit.
    requests: VecDeque<u64>,
    /// Requests counted against the verified limit (a verified source's, and in-dialog ones).
    verified_requests: VecDeque<u64>,
    failures: VecDeque<u64>,
    ban: Option<Ban>,
    /// A digest from this source verified; it is held to the verified limit until then.
    verified_until: u64,
    last_seen: u64,
}

impl Source {
    fn banned_at(&self, now_ms: u64) -> Option<Ban> {
        self.ban.filter(|b| b.until_ms > now_ms)
    }

    fn ban(&mut self, reason: BanReason, now_ms: u64, ban_s: u64) {
        self.requests.clear();
        self.verified_requests.clear();
        self.failures.clear();
        self.ban = Some(Ban {
            reason,
            at_ms: now_ms,
            until_ms: now_ms + ban_s * 1000,
        });
    }
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
            .is_some_and(|s| s.banned_at(now_ms).is_some())
    }

    /// The sources banned at `now_ms`, by address.
    pub fn bans(&self, now_ms: u64) -> Vec<(IpAddr, Ban)> {
        let mut out: Vec<(IpAddr, Ban)> = self
            .sources
            .iter()
            .filter_map(|(ip, s)| Some((*ip, s.banned_at(now_ms)?)))
            .collect();
        out.sort_by_key(|(ip, _)| *ip);
        out
    }

    /// Lifts the ban of `ip`, if it is banned at `now_ms`; its counts start over.
    pub fn lift(&mut self, ip: IpAddr, now_ms: u64) -> Option<Ban> {
        let s = self.sources.get_mut(&ip)?;
        let ban = s.banned_at(now_ms)?;
        s.ban = None;
        s.requests.clear();
        s.verified_requests.clear();
        s.failures.clear();
        Some(ban)
    }

    /// Lifts every ban in force at `now_ms`.
    pub fn lift_all(&mut self, now_ms: u64) -> Vec<(IpAddr, Ban)> {
        let banned: Vec<IpAddr> = self.bans(now_ms).into_iter().map(|(ip, _)| ip).collect();
        banned
            .into_iter()
            .filter_map(|ip| Some((ip, self.lift(ip, now_ms)?)))
            .collect()
    }

    /// True if a digest from `ip` verified recently enough to hold it to the verified limit.
    pub fn is_verified(&self, ip: IpAddr, now_ms: u64) -> bool {
        self.sources
            .get(&ip)
            .is_some_and(|s| s.verified_until > now_ms)
    }

    fn trusted(&self, ip: IpAddr) -> bool {
        crate::cidr::any_contains(&self.limits.trusted_networks, ip)
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
        self.sources.retain(|_, s| {
            s.banned_at(now_ms).is_some()
                || s.verified_until > now_ms
                || now_ms.saturating_sub(s.last_seen) < keep_ms
        });
    }

    /// A request arrived from `ip`.
    pub fn on_request(&mut self, ip: IpAddr, now_ms: u64) -> Admit {
        if self.is_banned(ip, now_ms) {
            return Admit::Banned;
        }
        let l = self.limits.clone();
        if l.pike_requests == 0 || l.pike_window_s == 0 || self.trusted(ip) {
            return Admit::Allow;
        }
        let Some(s) = self.source(ip, now_ms) else {
            return Admit::Allow;
        };
        let (window, max) = if s.verified_until > now_ms {
            if l.pike_verified_requests == 0 {
                return Admit::Allow;
            }
            (&mut s.verified_requests, l.pike_verified_requests)
        } else {
            (&mut s.requests, l.pike_requests)
        };
        if push_window(window, now_ms, l.pike_window_s * 1000, max) {
            s.ban(BanReason::Flood, now_ms, l.pike_ban_s);
            return Admit::NewBan(BanReason::Flood);
        }
        Admit::Allow
    }

    /// A digest authentication from `ip` verified: the source is held to the verified limit
    /// for `verified_source_s` from now.
    pub fn on_auth_success(&mut self, ip: IpAddr, now_ms: u64) {
        let l = &self.limits;
        if l.verified_source_s == 0 || l.pike_requests == 0 || self.trusted(ip) {
            return;
        }
        let until = now_ms + self.limits.verified_source_s * 1000;
        if let Some(s) = self.source(ip, now_ms) {
            s.verified_until = s.verified_until.max(until);
        }
    }

    /// A request from `ip` matched a live dialog: if it was counted against the anonymous
    /// limit it moves to the verified-size window; Some if that window overflows (a flood of
    /// in-dialog requests still bans).
    pub fn on_in_dialog(&mut self, ip: IpAddr, now_ms: u64) -> Option<BanReason> {
        let l = self.limits.clone();
        if l.pike_requests == 0 || l.pike_window_s == 0 || self.trusted(ip) {
            return None;
        }
        let s = self.sources.get_mut(&ip)?;
        if s.verified_until > now_ms || s.banned_at(now_ms).is_some() {
            return None;
        }
        s.requests.pop_back()?;
        if l.pike_verified_requests > 0
            && push_window(
                &mut s.verified_requests,
                now_ms,
                l.pike_window_s * 1000,
                l.pike_verified_requests,
            )
        {
            s.ban(BanReason::Flood, now_ms, l.pike_ban_s);
            return Some(BanReason::Flood);
        }
        None
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
        if l.auth_fail_max == 0
            || l.auth_fail_window_s == 0
            || self.is_banned(ip, now_ms)
            || self.trusted(ip)
        {
            return None;
        }
        let s = self.source(ip, now_ms)?;
        if push_window(
            &mut s.failures,
            now_ms,
            l.auth_fail_window_s * 1000,
            l.auth_fail_max,
        ) {
            s.ban(BanReason::AuthFailures, now_ms, l.auth_ban_s);
            return Some(BanReason::AuthFailures);
        }
        None
    }

    /// Sources tracked now (for tests).
    pub fn tracked(&self) -> usize {
        self.sources.len()
    }
}

/// Longest wait between two verified attempts of one account.
const MAX_ACCOUNT_DELAY_MS: u64 = 60_000;
/// Most accounts (logins, known or not) tracked at once; past this, idle ones are forgotten
/// first and then new logins are not tracked.
const MAX_ACCOUNTS: usize = 50_000;

/// What to do with a digest attempt on an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountCheck {
    /// Verify the credentials.
    Verify,
    /// Too soon after the last failure: refuse unverified; the next attempt is verified after
    /// this many ms.
    Wait(u64),
    /// The account is blocked from untrusted addresses for this many more ms.
    Blocked(u64),
}

/// The tracked key of a login: at most 64 bytes (logins are short; this bounds the memory a
/// spray of long made-up names can take).
fn account_key(login: &str) -> &str {
    let mut end = login.len().min(64);
    while !login.is_char_boundary(end) {
        end -= 1;
    }
    &login[..end]
}

#[derive(Debug, Default)]
struct Account {
    failures: VecDeque<u64>,
    next_try: u64,
    blocked_until: u64,
    last_seen: u64,
}

/// The per-account core: failed authentications of each login from untrusted addresses.
#[derive(Debug)]
pub struct Accounts {
    limits: SecuritySettings,
    accounts: HashMap<String, Account>,
}

impl Accounts {
    /// A tracker with these limits.
    pub fn new(limits: SecuritySettings) -> Self {
        Accounts {
            limits,
            accounts: HashMap::new(),
        }
    }

    fn off(&self, trusted: bool) -> bool {
        trusted || self.limits.account_fail_max == 0 || self.limits.account_fail_window_s == 0
    }

    /// Whether an attempt on `login` at `now_ms` is verified; `trusted`: the source is in the
    /// trusted networks (always verified).
    pub fn check(&self, login: &str, trusted: bool, now_ms: u64) -> AccountCheck {
        if self.off(trusted) {
            return AccountCheck::Verify;
        }
        match self.accounts.get(account_key(login)) {
            Some(a) if a.blocked_until > now_ms => AccountCheck::Blocked(a.blocked_until - now_ms),
            Some(a) if a.next_try > now_ms => AccountCheck::Wait(a.next_try - now_ms),
            _ => AccountCheck::Verify,
        }
    }

    /// A verified attempt on `login` failed; Some(block in ms) if this blocks the account.
    pub fn on_failure(&mut self, login: &str, trusted: bool, now_ms: u64) -> Option<u64> {
        if self.off(trusted) {
            return None;
        }
        let l = self.limits.clone();
        let login = account_key(login);
        if self.accounts.len() >= MAX_ACCOUNTS && !self.accounts.contains_key(login) {
            let keep_ms = l.account_fail_window_s * 1000;
            self.accounts.retain(|_, a| {
                a.blocked_until > now_ms || now_ms.saturating_sub(a.last_seen) < keep_ms
            });
            if self.accounts.len() >= MAX_ACCOUNTS {
                return None;
            }
        }
        let a = self.accounts.entry(login.to_string()).or_default();
        a.last_seen = now_ms;
        a.failures.push_back(now_ms);
        let window_ms = l.account_fail_window_s * 1000;
        while a
            .failures
            .front()
            .is_some_and(|t| now_ms.saturating_sub(*t) >= window_ms)
        {
            a.failures.pop_front();
        }
        let n = a.failures.len() as u64;
        if n >= u64::from(l.account_fail_max) {
            a.failures.clear();
            a.next_try = 0;
            let block_ms = l.account_block_s * 1000;
            a.blocked_until = now_ms + block_ms;
            return Some(block_ms);
        }
        let free = u64::from(l.account_fail_free);
        if n > free {
            let doublings = (n - free - 1).min(16) as u32;
            a.next_try = now_ms + (1000u64 << doublings).min(MAX_ACCOUNT_DELAY_MS);
        }
        None
    }

    /// Accounts tracked now (for tests).
    pub fn tracked(&self) -> usize {
        self.accounts.len()
    }
}

/// A ban as the API and the CLI show it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct BanInfo {
    /// The banned source.
    pub address: IpAddr,
    /// `flood` or `auth_failures`.
    pub reason: &'static str,
    /// When the ban started (ms since the Unix epoch).
    pub banned_at_unix_ms: u64,
    /// When it ends unless lifted.
    pub until_unix_ms: u64,
    /// Seconds left (rounded up).
    pub remaining_s: u64,
}

/// The shell: a [`Guard`] behind a lock, with the clock, security log events and counters.
pub struct Security {
    guard: Mutex<Guard>,
    accounts: Mutex<Accounts>,
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
        metrics::counter!("vpbx_sip_account_blocks_total").increment(0);
        metrics::counter!("vpbx_sip_bans_lifted_total").increment(0);
        for reason in ["wait", "blocked"] {
            metrics::counter!("vpbx_sip_account_refusals_total", "reason" => reason).increment(0);
        }
        Security {
            guard: Mutex::new(Guard::new(limits.clone())),
            accounts: Mutex::new(Accounts::new(limits.clone())),
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

    /// A digest authentication from `ip` verified: the source is verified (see [`Guard`]).
    pub fn auth_succeeded(&self, ip: IpAddr) {
        let now = self.now_ms();
        self.with(|g| g.on_auth_success(ip, now));
    }

    /// A request from `ip` matched a live dialog (see [`Guard::on_in_dialog`]).
    pub fn in_dialog(&self, ip: IpAddr) {
        let now = self.now_ms();
        if let Some(reason) = self.with(|g| g.on_in_dialog(ip, now)) {
            self.banned(ip, reason);
        }
    }

    /// A ban as the API shows it, with wall times.
    fn info(&self, ip: IpAddr, ban: Ban, now: u64) -> BanInfo {
        let wall = vpbx_actors::clock::Clock::unix_ms(&crate::clock::RealClock);
        BanInfo {
            address: ip,
            reason: ban.reason.label(),
            banned_at_unix_ms: wall.saturating_sub(now.saturating_sub(ban.at_ms)),
            until_unix_ms: wall + ban.until_ms.saturating_sub(now),
            remaining_s: ban.until_ms.saturating_sub(now).div_ceil(1000),
        }
    }

    /// The sources banned now, by address.
    pub fn bans(&self) -> Vec<BanInfo> {
        let now = self.now_ms();
        self.with(|g| g.bans(now))
            .into_iter()
            .map(|(ip, b)| self.info(ip, b, now))
            .collect()
    }

    /// Lifts the ban of `ip` (None if it is not banned); `by` says who, for the security log.
    pub fn lift(&self, ip: IpAddr, by: &str) -> Option<BanInfo> {
        let now = self.now_ms();
        let ban = self.with(|g| g.lift(ip, now))?;
        let info = self.info(ip, ban, now);
        self.lifted(&info, by);
        Some(info)
    }

    /// Lifts every ban; `by` says who, for the security log.
    pub fn lift_all(&self, by: &str) -> Vec<BanInfo> {
        let now = self.now_ms();
        let lifted: Vec<BanInfo> = self
            .with(|g| g.lift_all(now))
            .into_iter()
            .map(|(ip, b)| self.info(ip, b, now))
            .collect();
        for info in &lifted {
            self.lifted(info, by);
        }
        lifted
    }

    fn lifted(&self, info: &BanInfo, by: &str) {
        metrics::counter!("vpbx_sip_bans_lifted_total").increment(1);
        warn!(
            target: "vpbx::security",
            security = "unban",
            source = %info.address,
            reason = info.reason,
            remaining_s = info.remaining_s,
            lifted_by = by,
            "SIP source ban lifted"
        );
    }

    /// An authentication from `ip` failed (already counted and logged by the caller).
    pub fn auth_failed(&self, ip: IpAddr) {
        let now = self.now_ms();
        if let Some(reason) = self.with(|g| g.on_auth_failure(ip, now)) {
            self.banned(ip, reason);
        }
    }

    fn trusted(&self, ip: Option<IpAddr>) -> bool {
        ip.is_some_and(|ip| crate::cidr::any_contains(&self.limits.trusted_networks, ip))
    }

    /// Whether to verify a digest attempt on `login` from `ip` (see [`Accounts`]); a refusal is
    /// counted in `vpbx_sip_account_refusals_total`.
    pub fn account_check(&self, login: &str, ip: Option<IpAddr>) -> AccountCheck {
        let now = self.now_ms();
        let trusted = self.trusted(ip);
        let check = match self.accounts.lock() {
            Ok(a) => a.check(login, trusted, now),
            Err(p) => p.into_inner().check(login, trusted, now),
        };
        let reason = match check {
            AccountCheck::Verify => return check,
            AccountCheck::Wait(_) => "wait",
            AccountCheck::Blocked(_) => "blocked",
        };
        metrics::counter!("vpbx_sip_account_refusals_total", "reason" => reason).increment(1);
        check
    }

    /// A digest authentication of `login` from `ip` failed verification.
    pub fn account_failed(&self, login: &str, ip: Option<IpAddr>) {
        let now = self.now_ms();
        let trusted = self.trusted(ip);
        let blocked = match self.accounts.lock() {
            Ok(mut a) => a.on_failure(login, trusted, now),
            Err(p) => p.into_inner().on_failure(login, trusted, now),
        };
        if let Some(block_ms) = blocked {
            metrics::counter!("vpbx_sip_account_blocks_total").increment(1);
            warn!(
                security = "account_block",
                account = login,
                last_source = ?ip,
                block_s = block_ms / 1000,
                "SIP account blocked from untrusted addresses after repeated failed authentications"
            );
        }
    }

    fn banned(&self, ip: IpAddr, reason: BanReason) {
        let ban_s = match reason {
            BanReason::Flood => self.limits.pike_ban_s,
            BanReason::AuthFailures => self.limits.auth_ban_s,
        };
        metrics::counter!("vpbx_sip_bans_total", "reason" => reason.label()).increment(1);
        warn!(
            target: "vpbx::security",
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
            pike_verified_requests: 6,
            verified_source_s: 100,
            auth_fail_max: 2,
            auth_fail_window_s: 60,
            auth_ban_s: 30,
            account_fail_free: 2,
            account_fail_max: 5,
            account_fail_window_s: 900,
            account_block_s: 600,
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

    #[test]
    fn trusted_sources_are_never_banned() {
        let t = IpAddr::V4(std::net::Ipv4Addr::new(10, 1, 2, 3));
        let mut g = Guard::new(SecuritySettings {
            trusted_networks: vec!["10.0.0.0/8".parse().unwrap()],
            ..limits()
        });
        for i in 0..1000 {
            assert_eq!(g.on_request(t, i), Admit::Allow, "request {i}");
            assert_eq!(g.on_auth_failure(t, i), None, "failure {i}");
        }
        assert!(!g.is_banned(t, 1000));
        // Others are still banned.
        for t in 0..3 {
            g.on_request(A, t);
        }
        assert_eq!(g.on_request(A, 3), Admit::NewBan(BanReason::Flood));
    }

    #[test]
    fn a_verified_source_gets_the_higher_limit_until_it_expires() {
        let mut g = Guard::new(limits());
        // An anonymous source: more than 3 in 2 s bans.
        for t in 0..3 {
            assert_eq!(g.on_request(A, t), Admit::Allow);
        }
        assert_eq!(g.on_request(A, 3), Admit::NewBan(BanReason::Flood));
        // B authenticated once: 6 in 2 s are fine, the 7th bans.
        g.on_request(B, 0);
        g.on_auth_success(B, 1);
        assert!(g.is_verified(B, 1));
        for t in 0..6 {
            assert_eq!(g.on_request(B, 10 + t), Admit::Allow, "request {t}");
        }
        assert_eq!(g.on_request(B, 20), Admit::NewBan(BanReason::Flood));
        // After verified_source_s without a verified digest, B is anonymous again.
        let mut g = Guard::new(limits());
        g.on_auth_success(B, 0);
        assert!(g.is_verified(B, 99_999));
        assert!(!g.is_verified(B, 100_000));
        let mut g = Guard::new(limits());
        g.on_auth_success(B, 0);
        for t in 0..3 {
            assert_eq!(g.on_request(B, 100_000 + t), Admit::Allow);
        }
        assert_eq!(g.on_request(B, 100_003), Admit::NewBan(BanReason::Flood));
    }

    #[test]
    fn fifty_phones_behind_one_router_with_the_default_limits() {
        let mut g = Guard::new(SecuritySettings::default());
        // The office registered before: one phone's digest verified an hour ago at most.
        g.on_request(A, 0);
        g.on_auth_success(A, 1);
        // Power cut: 50 phones, each an unauthenticated REGISTER (401) then an authenticated
        // one, plus a retransmission each, within one second.
        let now = 3_000_000;
        for i in 0..150 {
            assert_eq!(g.on_request(A, now + i * 6), Admit::Allow, "request {i}");
        }
        // Their digests verify: the source stays verified.
        g.on_auth_success(A, now + 900);
        assert!(g.is_verified(A, now + 3_000_000));
        // An anonymous flood from elsewhere is still banned at the 17th request.
        for i in 0..16 {
            assert_eq!(g.on_request(B, now + i), Admit::Allow);
        }
        assert_eq!(g.on_request(B, now + 16), Admit::NewBan(BanReason::Flood));
    }

    #[test]
    fn failed_credentials_do_not_verify_a_source() {
        let mut g = Guard::new(limits());
        for t in 0..2 {
            g.on_request(A, t);
            assert_eq!(g.on_auth_failure(A, t), None);
        }
        assert!(!g.is_verified(A, 2));
        g.on_request(A, 2);
        assert_eq!(g.on_request(A, 3), Admit::NewBan(BanReason::Flood));
    }

    #[test]
    fn in_dialog_requests_leave_the_anonymous_count_but_stay_bounded() {
        let mut g = Guard::new(limits());
        // A carrier (never authenticates): each of its in-dialog requests is given back.
        for t in 0..3 {
            assert_eq!(g.on_request(A, t), Admit::Allow);
            assert_eq!(g.on_in_dialog(A, t), None);
        }
        for t in 3..6 {
            assert_eq!(g.on_request(A, t), Admit::Allow, "request {t}");
        }
        // The moved ones count in the verified-size window: 3 there now, 6 allowed.
        for t in 6..9 {
            assert_eq!(g.on_in_dialog(A, t), None);
            assert_eq!(g.on_request(A, t), Admit::Allow, "request {t}");
        }
        assert_eq!(g.on_in_dialog(A, 9), Some(BanReason::Flood));
        assert!(g.is_banned(A, 10));
        // Unknown sources and nothing counted: nothing to move.
        assert_eq!(g.on_in_dialog(B, 10), None);
        assert_eq!(g.tracked(), 1);
    }

    #[test]
    fn bans_are_listed_and_lifted() {
        let mut g = Guard::new(limits());
        for t in 0..4 {
            g.on_request(A, t);
        }
        for t in 0..3 {
            g.on_auth_failure(B, t);
        }
        let bans = g.bans(10);
        assert_eq!(bans.len(), 2);
        assert_eq!(
            bans[0],
            (
                A,
                Ban {
                    reason: BanReason::Flood,
                    at_ms: 3,
                    until_ms: 10_003
                }
            )
        );
        assert_eq!(bans[1].1.reason, BanReason::AuthFailures);
        // Lifting A answers it again at once, with its counts started over.
        assert_eq!(g.lift(A, 20).map(|b| b.reason), Some(BanReason::Flood));
        assert_eq!(g.lift(A, 20), None);
        for t in 0..3 {
            assert_eq!(g.on_request(A, 21 + t), Admit::Allow);
        }
        // An expired ban is not listed nor liftable.
        assert!(g.bans(40_000).is_empty());
        assert_eq!(g.lift(B, 40_000), None);
        // Lift all.
        let mut g = Guard::new(limits());
        for t in 0..4 {
            g.on_request(A, t);
            g.on_request(B, t);
        }
        assert_eq!(g.lift_all(5).len(), 2);
        assert!(g.bans(5).is_empty());
    }

    /// Log lines written while `f` runs.
    fn logged(f: impl FnOnce()) -> String {
        #[derive(Clone, Default)]
        struct Buf(std::sync::Arc<Mutex<Vec<u8>>>);
        impl std::io::Write for Buf {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let buf = Buf::default();
        let out = buf.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_writer(move || out.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, f);
        let text = String::from_utf8_lossy(&buf.0.lock().unwrap()).into_owned();
        text
    }

    #[test]
    fn bans_and_lifts_are_security_events_in_the_log() {
        // A window of an hour: the test does not depend on how fast it runs.
        let sec = Security::new(SecuritySettings {
            pike_window_s: 3600,
            ..limits()
        });
        let log = logged(|| {
            for _ in 0..4 {
                sec.admit(A, true);
            }
            assert_eq!(sec.bans().len(), 1);
            assert_eq!(sec.bans()[0].reason, "flood");
            assert!(sec.lift(A, "admin (api token, from 127.0.0.1)").is_some());
            assert!(sec.lift(A, "admin").is_none());
            assert!(sec.bans().is_empty());
            assert!(sec.admit(A, true));
        });
        let lines: Vec<&str> = log.lines().collect();
        assert_eq!(lines.len(), 2, "{log}");
        assert!(lines[0].contains("vpbx::security"), "{log}");
        assert!(lines[0].contains("security=\"ban\""), "{log}");
        assert!(lines[0].contains("source=192.0.2.1"), "{log}");
        assert!(lines[0].contains("reason=\"flood\""), "{log}");
        assert!(lines[1].contains("vpbx::security"), "{log}");
        assert!(lines[1].contains("security=\"unban\""), "{log}");
        assert!(lines[1].contains("source=192.0.2.1"), "{log}");
        assert!(
            lines[1].contains("lifted_by=\"admin (api token, from 127.0.0.1)\""),
            "{log}"
        );
    }

    #[test]
    fn account_failures_delay_then_block_across_sources() {
        let mut a = Accounts::new(limits());
        // Two failures are free.
        assert_eq!(a.check("101", false, 0), AccountCheck::Verify);
        assert_eq!(a.on_failure("101", false, 0), None);
        assert_eq!(a.on_failure("101", false, 10), None);
        assert_eq!(a.check("101", false, 20), AccountCheck::Verify);
        // Then 1 s, 2 s, 4 s between verified attempts.
        assert_eq!(a.on_failure("101", false, 20), None);
        assert_eq!(a.check("101", false, 20), AccountCheck::Wait(1000));
        assert_eq!(a.check("101", false, 1019), AccountCheck::Wait(1));
        assert_eq!(a.check("101", false, 1020), AccountCheck::Verify);
        assert_eq!(a.on_failure("101", false, 1020), None);
        assert_eq!(a.check("101", false, 1020), AccountCheck::Wait(2000));
        // Other accounts are not affected.
        assert_eq!(a.check("102", false, 1020), AccountCheck::Verify);
        // The fifth failure blocks for account_block_s.
        assert_eq!(a.on_failure("101", false, 3020), Some(600_000));
        assert_eq!(a.check("101", false, 3020), AccountCheck::Blocked(600_000));
        assert_eq!(a.check("101", false, 603_019), AccountCheck::Blocked(1));
        // Trusted sources are verified meanwhile and their failures not counted.
        assert_eq!(a.check("101", true, 4000), AccountCheck::Verify);
        assert_eq!(a.on_failure("101", true, 4000), None);
        // After the block the count starts over.
        assert_eq!(a.check("101", false, 603_020), AccountCheck::Verify);
        assert_eq!(a.on_failure("101", false, 603_020), None);
        assert_eq!(a.check("101", false, 603_020), AccountCheck::Verify);
    }

    #[test]
    fn account_failures_outside_the_window_are_forgotten() {
        let mut a = Accounts::new(limits());
        // One failure every 300 s never holds more than 3 in the 900 s window.
        for i in 0..50u64 {
            let now = i * 300_000;
            assert_eq!(
                a.check("101", false, now),
                AccountCheck::Verify,
                "attempt {i}"
            );
            assert_eq!(a.on_failure("101", false, now), None, "attempt {i}");
        }
    }

    #[test]
    fn account_limit_zero_disables() {
        let mut a = Accounts::new(SecuritySettings {
            account_fail_max: 0,
            ..limits()
        });
        for i in 0..100 {
            assert_eq!(a.on_failure("101", false, i), None);
            assert_eq!(a.check("101", false, i), AccountCheck::Verify);
        }
        assert_eq!(a.tracked(), 0);
    }
}
