//! Admin authentication: the `admin` account, cookie sessions with CSRF protection, bearer API
//! tokens, and login throttling.
//!
//! - **Password**: argon2id (default parameters: 19 MiB, 2 passes) as a PHC string in the
//!   store (`Store::set_admin_password_hash`). Set on first start from `VPBX_ADMIN_PASSWORD` or
//!   the settings file's `admin_password`; with neither, a random one is generated and printed
//!   once to the log ([`ensure_admin`]). `vpbx admin set-password` and `PUT /auth/password`
//!   change it, which revokes every session and token.
//! - **Sessions**: `POST /auth/login` sets `vpbx_session` (HttpOnly, SameSite=Strict, Path=/;
//!   over TLS `Secure` and named `__Host-vpbx_session`) and `vpbx_csrf` (readable by the
//!   panel's script; `__Host-vpbx_csrf` over TLS),
//!   and returns the CSRF token. Unsafe methods (POST, PUT, PATCH, DELETE) authenticated by the
//!   cookie must send it back in `X-CSRF-Token`; it is bound to the session (its hash is stored
//!   with the session), so a cookie alone never suffices. Sessions live 12 hours.
//! - **API tokens**: `POST /auth/token` with user name and password returns a bearer token
//!   (`Authorization: Bearer …`), valid 30 days, exempt from CSRF (browsers never attach it on
//!   their own).
//! - Only SHA-256 hashes of session, CSRF and API tokens are stored (they are 256-bit random
//!   values, so a fast hash suffices); a stolen store does not yield usable tokens.
//! - **Throttling** ([`Throttle`]): per source (an IPv4 address or an IPv6 /64) and per
//!   (account, source), never per account alone, so no outsider can lock the admin out. An
//!   attempt counts when it starts; after 5, each further one waits 1 s, 2 s, 4 s … up to
//!   15 minutes (429 with `Retry-After`); an hour without attempts, or a right password,
//!   forgives. Sources in `[security] trusted_networks` are never throttled. The start of a
//!   block is a security event (`event = "security"` in the log,
//!   `vpbx_http_login_throttled_total`). The source is the TCP peer (`X-Forwarded-For` is not
//!   trusted).
//! - **Verifies**: argon2 runs on the blocking pool, at most `[http] login_verifies` at once
//!   (one more for trusted networks); past that, 503 with `Retry-After`, so memory stays
//!   bounded (19 MiB per verify) whatever the number of concurrent logins.
//! - Passwords and tokens are never logged.

use super::crud::from_body;
use super::{ApiError, HttpState};
use actix_web::body::MessageBody;
use actix_web::cookie::{time::Duration as CookieDuration, Cookie, SameSite};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage, HttpRequest, HttpResponse};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use rand::RngCore;
use serde::Deserialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;
use vpbx_actors::clock::Clock;
use vpbx_store::admin::{TokenKind, TokenRecord};
use vpbx_store::{Store, StoreError};

/// The one admin account.
pub const ADMIN_USER: &str = "admin";
/// Shortest accepted admin password.
pub const MIN_PASSWORD_LEN: usize = 8;
/// Session cookie.
pub const SESSION_COOKIE: &str = "vpbx_session";
/// CSRF cookie (double submit: its value goes back in [`CSRF_HEADER`]).
pub const CSRF_COOKIE: &str = "vpbx_csrf";
/// Session cookie over TLS (`__Host-`: only ever set by a secure origin, for `/`, no domain).
pub const SECURE_SESSION_COOKIE: &str = "__Host-vpbx_session";
/// CSRF cookie over TLS.
pub const SECURE_CSRF_COOKIE: &str = "__Host-vpbx_csrf";
/// CSRF header.
pub const CSRF_HEADER: &str = "X-CSRF-Token";

/// Lifetimes and limits.
#[derive(Debug, Clone)]
pub struct AuthPolicy {
    /// Failed logins a source (and an account from that source) may make before delays start.
    pub free_failures: u32,
    /// The first delay; each further failure doubles it.
    pub base_delay: Duration,
    /// The longest delay.
    pub max_delay: Duration,
    /// A source's failures are forgotten after this long without one.
    pub forget_after: Duration,
    /// Password verifications (argon2, 19 MiB each) running at once for untrusted sources;
    /// trusted networks have one more of their own.
    pub max_verifies: usize,
    /// Session lifetime.
    pub session_ttl: Duration,
    /// API token lifetime.
    pub token_ttl: Duration,
}

impl Default for AuthPolicy {
    fn default() -> Self {
        AuthPolicy {
            free_failures: 5,
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(15 * 60),
            forget_after: Duration::from_secs(3600),
            max_verifies: 2,
            session_ttl: Duration::from_secs(12 * 3600),
            token_ttl: Duration::from_secs(30 * 24 * 3600),
        }
    }
}

/// Failures of one throttle key.
#[derive(Debug, Clone, Copy)]
struct Failures {
    /// Failed or in-progress attempts counted.
    count: u32,
    /// When the last one was counted.
    last: Instant,
    /// No attempt before this instant.
    blocked_until: Option<Instant>,
}

/// The most keys held; past it, keys that are not blocked are dropped first.
const MAX_KEYS: usize = 100_000;

/// Login throttling by source: a pure structure (time is passed in).
///
/// Every attempt is counted when it starts (a verify in progress counts as a failure), under
/// the same lock as the check, so concurrent guesses cannot all pass the check before any is
/// counted. After `free_failures` counted attempts of a key, the next one must wait
/// `base_delay`, then twice that, up to `max_delay`; a success clears the keys it used. Keys
/// are per source and per (account, source), never per account alone, so no one can lock the
/// admin out from elsewhere.
#[derive(Debug)]
pub struct Throttle {
    policy: AuthPolicy,
    keys: HashMap<String, Failures>,
}

/// A throttle decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Go ahead: the attempt is counted already.
    Go {
        /// Seconds of the block this attempt started (its count used up the free allowance of
        /// a key): a security event.
        started_block_s: Option<u64>,
    },
    /// Refused: retry after this many seconds (at least 1).
    Wait {
        /// Seconds to wait.
        retry_after_s: u64,
    },
}

impl Throttle {
    /// Empty, with `policy`.
    pub fn new(policy: AuthPolicy) -> Throttle {
        Throttle {
            policy,
            keys: HashMap::new(),
        }
    }

    /// The block after `count` counted attempts.
    fn delay(&self, count: u32) -> Option<Duration> {
        let over = count.checked_sub(self.policy.free_failures)?;
        let factor = 1u32.checked_shl(over.min(31)).unwrap_or(u32::MAX);
        Some(
            self.policy
                .base_delay
                .saturating_mul(factor)
                .min(self.policy.max_delay),
        )
    }

    /// Checks `keys` and, when none is blocked, counts the attempt on each of them.
    pub fn admit(&mut self, keys: &[String], now: Instant) -> Admission {
        let mut wait: Option<Instant> = None;
        for k in keys {
            if let Some(f) = self.keys.get_mut(k) {
                if now.saturating_duration_since(f.last) >= self.policy.forget_after {
                    f.count = 0;
                    f.blocked_until = None;
                }
                if let Some(until) = f.blocked_until.filter(|u| *u > now) {
                    wait = Some(wait.map_or(until, |w| w.max(until)));
                }
            }
        }
        if let Some(until) = wait {
            return Admission::Wait {
                retry_after_s: secs_until(until, now),
            };
        }
        self.make_room(now);
        let mut started_block_s = None;
        for k in keys {
            let f = self.keys.entry(k.clone()).or_insert(Failures {
                count: 0,
                last: now,
                blocked_until: None,
            });
            f.count = f.count.saturating_add(1);
            f.last = now;
            let count = f.count;
            if let Some(d) = self.delay(count) {
                if let Some(f) = self.keys.get_mut(k) {
                    f.blocked_until = Some(now + d);
                }
                if count == self.policy.free_failures {
                    let s = secs_until(now + d, now);
                    started_block_s = Some(started_block_s.map_or(s, |x: u64| x.max(s)));
                }
            }
        }
        Admission::Go { started_block_s }
    }

    /// Undoes the count of an attempt that did not happen (the verifier was busy).
    pub fn cancel(&mut self, keys: &[String]) {
        for k in keys {
            if let Some(f) = self.keys.get_mut(k) {
                f.count = f.count.saturating_sub(1);
                if self.policy.free_failures > f.count {
                    f.blocked_until = None;
                }
            }
        }
    }

    /// A right password: the keys used are cleared.
    pub fn succeeded(&mut self, keys: &[String]) {
        for k in keys {
            self.keys.remove(k);
        }
    }

    /// Keys held (for tests and the cap).
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether no key is held.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    fn make_room(&mut self, now: Instant) {
        if self.keys.len() < MAX_KEYS {
            return;
        }
        let forget = self.policy.forget_after;
        self.keys
            .retain(|_, f| now.saturating_duration_since(f.last) < forget);
        if self.keys.len() >= MAX_KEYS {
            self.keys
                .retain(|_, f| f.blocked_until.is_some_and(|u| u > now));
        }
    }
}

fn secs_until(until: Instant, now: Instant) -> u64 {
    let d = until.saturating_duration_since(now);
    (d.as_secs() + u64::from(d.subsec_nanos() > 0)).max(1)
}

/// The throttle key of a source: the address, or its /64 for IPv6 (one subscriber's prefix).
pub fn source_key(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                format!("{}/64", std::net::Ipv6Addr::from(prefix))
            }
        },
    }
}

/// Login state shared by the workers: the throttle, the verify limits and their counters.
#[derive(Debug)]
pub struct AuthState {
    policy: AuthPolicy,
    throttle: Mutex<Throttle>,
    trusted: Vec<crate::cidr::Cidr>,
    /// Cookies with `Secure` and the `__Host-` prefix (the API is served over TLS).
    secure_cookies: bool,
    verifies: Arc<Semaphore>,
    trusted_verifies: Arc<Semaphore>,
    verifies_started: AtomicU64,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    /// Argon2 working memory of idle verifiers (at most one per verifier, 19 MiB each).
    scratch: Mutex<Vec<Vec<argon2::Block>>>,
}

impl Default for AuthState {
    fn default() -> Self {
        AuthState::new(AuthPolicy::default())
    }
}

impl AuthState {
    /// With `policy`, no trusted networks, plain-HTTP cookies.
    pub fn new(policy: AuthPolicy) -> Self {
        AuthState::with(policy, Vec::new(), false)
    }

    /// With `policy`, sources in `trusted` never throttled, and `Secure` `__Host-` cookies
    /// when `tls`.
    pub fn with(policy: AuthPolicy, trusted: Vec<crate::cidr::Cidr>, tls: bool) -> Self {
        AuthState {
            verifies: Arc::new(Semaphore::new(policy.max_verifies.max(1))),
            trusted_verifies: Arc::new(Semaphore::new(1)),
            throttle: Mutex::new(Throttle::new(policy.clone())),
            policy,
            trusted,
            secure_cookies: tls,
            verifies_started: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
            scratch: Mutex::new(Vec::new()),
        }
    }

    fn throttle(&self) -> std::sync::MutexGuard<'_, Throttle> {
        match self.throttle.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// Password verifications started so far.
    pub fn verifies_started(&self) -> u64 {
        self.verifies_started.load(Ordering::SeqCst)
    }

    /// Argon2 buffers allocated so far (never more than the verifiers: memory stays bounded).
    pub fn verify_buffers(&self) -> usize {
        self.scratch_pool().len()
    }

    fn scratch_pool(&self) -> std::sync::MutexGuard<'_, Vec<Vec<argon2::Block>>> {
        match self.scratch.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// Verifies with a kept buffer (the caller holds a verifier permit, so the pool never
    /// holds more buffers than there are permits).
    fn verify(&self, phc: &str, password: &str) -> bool {
        let mut memory = self.scratch_pool().pop().unwrap_or_default();
        let ok = verify_password_in(phc, password, &mut memory);
        self.scratch_pool().push(memory);
        ok
    }

    /// The most verifications that ran at once.
    pub fn max_verifies_in_flight(&self) -> usize {
        self.max_in_flight.load(Ordering::SeqCst)
    }

    /// The session cookie's name: `__Host-vpbx_session` over TLS, else `vpbx_session`.
    pub fn session_cookie(&self) -> &'static str {
        if self.secure_cookies {
            SECURE_SESSION_COOKIE
        } else {
            SESSION_COOKIE
        }
    }

    /// The CSRF cookie's name: `__Host-vpbx_csrf` over TLS, else `vpbx_csrf`.
    pub fn csrf_cookie(&self) -> &'static str {
        if self.secure_cookies {
            SECURE_CSRF_COOKIE
        } else {
            CSRF_COOKIE
        }
    }

    fn cookie(
        &self,
        name: &'static str,
        value: String,
        max_age_s: i64,
        http_only: bool,
    ) -> Cookie<'static> {
        Cookie::build(name, value)
            .path("/")
            .http_only(http_only)
            .secure(self.secure_cookies)
            .same_site(SameSite::Strict)
            .max_age(CookieDuration::seconds(max_age_s))
            .finish()
    }
}

/// Counts a verification in flight while alive (it lives inside the blocking task, so a
/// client that hangs up does not end the count before the verify ends).
struct InFlight(Arc<AuthState>);

impl InFlight {
    fn start(auth: Arc<AuthState>) -> Self {
        auth.verifies_started.fetch_add(1, Ordering::SeqCst);
        let now = auth.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        auth.max_in_flight.fetch_max(now, Ordering::SeqCst);
        metrics::counter!("vpbx_http_login_verifies_total").increment(1);
        InFlight(auth)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Why the admin password could not be set.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// Too short.
    #[error("the admin password must have at least {MIN_PASSWORD_LEN} characters")]
    Weak,
    /// Hashing failed.
    #[error("hashing the password: {0}")]
    Hash(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Hashes a password with argon2id (PHC string).
pub fn hash_password(password: &str) -> Result<String, AdminError> {
    let mut salt = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|e| AdminError::Hash(e.to_string()))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AdminError::Hash(e.to_string()))
}

/// Whether `password` matches the PHC string.
pub fn verify_password(phc: &str, password: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|h| {
        Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

/// Largest argon2 memory a stored hash may ask of a verify (64 MiB): a damaged hash cannot make
/// a login allocate more.
const MAX_VERIFY_KIB: u32 = 64 * 1024;

/// Whether `password` matches the PHC string, computing in `memory` (resized to the hash's
/// memory cost and kept by the caller for the next verify, so verifies do not churn 19 MiB
/// allocations that the allocator then keeps per thread).
pub fn verify_password_in(phc: &str, password: &str, memory: &mut Vec<argon2::Block>) -> bool {
    let Ok(h) = PasswordHash::new(phc) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (h.salt, h.hash) else {
        return false;
    };
    let Ok(algorithm) = argon2::Algorithm::try_from(h.algorithm) else {
        return false;
    };
    let version = match h.version.map(argon2::Version::try_from) {
        None => argon2::Version::default(),
        Some(Ok(v)) => v,
        Some(Err(_)) => return false,
    };
    let Ok(params) = argon2::Params::try_from(&h) else {
        return false;
    };
    if params.m_cost() > MAX_VERIFY_KIB {
        return false;
    }
    let mut salt_buf = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_buf) else {
        return false;
    };
    let mut out = vec![0u8; expected.len()];
    memory.resize(params.block_count(), argon2::Block::new());
    Argon2::new(algorithm, version, params)
        .hash_password_into_with_memory(password.as_bytes(), salt, &mut out, &mut memory[..])
        .is_ok()
        // `Output` compares in constant time.
        && argon2::password_hash::Output::new(&out).is_ok_and(|o| o == expected)
}

/// Sets the admin password (revoking every session and token); durable when it returns.
pub fn set_admin_password(store: &Store, password: &str) -> Result<(), AdminError> {
    if password.chars().count() < MIN_PASSWORD_LEN {
        return Err(AdminError::Weak);
    }
    store.set_admin_password_hash(&hash_password(password)?)?;
    Ok(())
}

/// First start: sets the admin password from `configured` (environment or settings file) or,
/// with none, generates one and prints it once to the log. Later starts change nothing (use
/// `vpbx admin set-password`).
pub fn ensure_admin(store: &Store, configured: Option<&str>) -> Result<(), AdminError> {
    if let Some(phc) = store.admin_password_hash()? {
        match configured {
            Some(pw) if !verify_password(&phc, pw) => tracing::warn!(
                "VPBX_ADMIN_PASSWORD / admin_password is ignored: the admin password was set on \
                 the first start and is kept; change it with `vpbx admin set-password` (switch \
                 stopped) or PUT /api/v1/auth/password"
            ),
            Some(_) => tracing::debug!("the configured admin password is the stored one"),
            None => {}
        }
        return Ok(());
    }
    match configured {
        Some(pw) => {
            set_admin_password(store, pw)?;
            tracing::info!("admin password set from the configuration");
        }
        None => {
            let pw = random_token(12);
            set_admin_password(store, &pw)?;
            tracing::warn!(
                "first start: generated admin password for user 'admin': {pw} \
                 (shown once; change it with `vpbx admin set-password`)"
            );
        }
    }
    Ok(())
}

/// `n` random bytes as lowercase hex.
fn random_token(n: usize) -> String {
    let mut b = vec![0u8; n];
    rand::thread_rng().fill_bytes(&mut b);
    hex(&b)
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// SHA-256 of a token, hex: the key it is stored under.
fn token_hash(token: &str) -> String {
    hex(Sha256::digest(token.as_bytes()).as_slice())
}

fn constant_time_eq(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

fn now_ms() -> u64 {
    crate::clock::RealClock.unix_ms()
}

/// How a request was authenticated.
#[derive(Debug, Clone)]
pub struct Principal {
    /// The account.
    pub user: String,
    /// Session or API token.
    pub via: TokenKind,
    /// Hash of the token (for logout).
    pub token_hash: String,
    /// Expiry.
    pub expires_unix_ms: u64,
}

fn is_safe(method: &actix_web::http::Method) -> bool {
    use actix_web::http::Method;
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

fn lookup(
    store: &Store,
    token: &str,
    kind: TokenKind,
) -> Result<Option<(String, TokenRecord)>, ApiError> {
    let hash = token_hash(token);
    let Some(rec) = store.token(&hash)? else {
        return Ok(None);
    };
    if rec.kind != kind {
        return Ok(None);
    }
    if rec.expires_unix_ms <= now_ms() {
        store.delete_token(&hash)?;
        return Ok(None);
    }
    Ok(Some((hash, rec)))
}

/// Authenticates a request: a bearer token first, else the session cookie (with the CSRF
/// check on unsafe methods).
fn authenticate(store: &Store, auth: &AuthState, req: &HttpRequest) -> Result<Principal, ApiError> {
    if let Some(h) = req.headers().get(actix_web::http::header::AUTHORIZATION) {
        let token = h
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .ok_or(ApiError::Unauthorized(
                "Authorization must be 'Bearer <token>'",
            ))?;
        let (hash, rec) = lookup(store, token, TokenKind::Api)?
            .ok_or(ApiError::Unauthorized("invalid or expired token"))?;
        return Ok(Principal {
            user: rec.user,
            via: TokenKind::Api,
            token_hash: hash,
            expires_unix_ms: rec.expires_unix_ms,
        });
    }
    let Some(cookie) = req.cookie(auth.session_cookie()) else {
        return Err(ApiError::Unauthorized("authentication required"));
    };
    let (hash, rec) = lookup(store, cookie.value(), TokenKind::Session)?
        .ok_or(ApiError::Unauthorized("session expired; log in again"))?;
    if !is_safe(req.method()) {
        let sent = req
            .headers()
            .get(CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(token_hash);
        let ok = match (sent, &rec.csrf_hash) {
            (Some(s), Some(want)) => constant_time_eq(&s, want),
            _ => false,
        };
        if !ok {
            return Err(ApiError::Csrf);
        }
    }
    Ok(Principal {
        user: rec.user,
        via: TokenKind::Session,
        token_hash: hash,
        expires_unix_ms: rec.expires_unix_ms,
    })
}

/// Routes of `/api/v1` that need no authentication: logging in, and the OpenAPI document (it
/// holds no secrets; the reference page `/api/docs` reads it).
const OPEN: [&str; 3] = [
    "/api/v1/auth/login",
    "/api/v1/auth/token",
    "/api/v1/openapi.json",
];

/// Middleware of the `/api/v1` scope: every route except the open ones (logging in, the OpenAPI
/// document) needs a session or a bearer token.
pub async fn require_auth(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    if !OPEN.contains(&req.path()) {
        let state = req
            .app_data::<web::Data<HttpState>>()
            .cloned()
            .ok_or_else(|| ApiError::Internal("no HTTP state".into()))?;
        let principal = authenticate(&state.store, &state.auth, req.request())?;
        req.extensions_mut().insert(principal);
    }
    next.call(req).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Credentials {
    username: String,
    password: String,
}

/// Checks credentials under the throttle and the verify limit; `Ok(())` when they are right.
///
/// The attempt is counted before the password is verified (a verify in progress is a
/// failure until it succeeds), so concurrent guesses cannot outrun the throttle. The argon2
/// verify runs on the blocking pool, at most `max_verifies` at once; when all are busy the
/// answer is 503 with `Retry-After` rather than a queue that grows with the attack.
async fn check_credentials(
    state: &HttpState,
    req: &HttpRequest,
    creds: Credentials,
) -> Result<(), LoginError> {
    let auth = &state.auth;
    let ip = req.peer_addr().map(|a| a.ip());
    let trusted = ip.is_some_and(|ip| crate::cidr::any_contains(&auth.trusted, ip));
    let source = ip.map_or_else(|| "unknown".to_owned(), source_key);
    let mut keys = vec![format!("ip:{source}")];
    if creds.username == ADMIN_USER {
        keys.push(format!("user:{ADMIN_USER}@{source}"));
    }
    if trusted {
        keys.clear();
    }
    let now = crate::clock::monotonic_now();
    let started_block_s = match auth.throttle().admit(&keys, now) {
        Admission::Wait { retry_after_s } => {
            metrics::counter!("vpbx_http_login_refused_total").increment(1);
            return Err(ApiError::Locked { retry_after_s }.into());
        }
        Admission::Go { started_block_s } => started_block_s,
    };
    let pool = if trusted {
        &auth.trusted_verifies
    } else {
        &auth.verifies
    };
    let Ok(permit) = pool.clone().try_acquire_owned() else {
        auth.throttle().cancel(&keys);
        metrics::counter!("vpbx_http_login_busy_total").increment(1);
        return Err(LoginError::Busy);
    };
    // Logged once the attempt is sure to be verified (a busy one gave its count back).
    if let Some(block_s) = started_block_s {
        metrics::counter!("vpbx_http_login_throttled_total").increment(1);
        tracing::warn!(
            event = "security",
            kind = "login_throttled",
            source = %source,
            user = %creds.username,
            block_s,
            "admin login: repeated failures from one source; further attempts from it are delayed"
        );
    }
    let phc = match state.blocking(|s| s.admin_password_hash()).await {
        Ok(p) => p,
        Err(e) => {
            auth.throttle().cancel(&keys);
            return Err(e.into());
        }
    };
    // Verify even for a wrong user name, so timing does not tell which names exist.
    let in_flight = InFlight::start(auth.clone());
    let ok = web::block(move || {
        let _permit = permit;
        let phc_ok = phc
            .as_deref()
            .is_some_and(|p| in_flight.0.verify(p, &creds.password));
        drop(in_flight);
        phc_ok && creds.username == ADMIN_USER
    })
    .await
    .map_err(|e| ApiError::Internal(e.to_string()))?;
    if ok {
        auth.throttle().succeeded(&keys);
        Ok(())
    } else {
        Err(ApiError::Unauthorized("wrong user name or password").into())
    }
}

/// What a login can answer: an [`ApiError`], or 503 when every verifier is busy.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    /// Any API error.
    #[error(transparent)]
    Api(#[from] ApiError),
    /// Every password verifier is busy (503 with `Retry-After: 1`).
    #[error("every password verifier is busy; retry in 1 s")]
    Busy,
}

impl actix_web::ResponseError for LoginError {
    fn status_code(&self) -> actix_web::http::StatusCode {
        match self {
            LoginError::Api(e) => e.status_code(),
            LoginError::Busy => actix_web::http::StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            LoginError::Api(e) => e.error_response(),
            LoginError::Busy => HttpResponse::ServiceUnavailable()
                .insert_header(("Retry-After", "1"))
                .json(json!({"error": "busy", "retry_after_s": 1, "message": self.to_string()})),
        }
    }
}

async fn issue(
    state: &HttpState,
    kind: TokenKind,
    ttl: Duration,
    csrf: Option<&str>,
) -> Result<(String, u64), ApiError> {
    let token = random_token(32);
    let now = now_ms();
    let expires = now.saturating_add(u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX));
    let rec = TokenRecord {
        kind,
        user: ADMIN_USER.into(),
        created_unix_ms: now,
        expires_unix_ms: expires,
        csrf_hash: csrf.map(token_hash),
    };
    let hash = token_hash(&token);
    state
        .blocking(move |s| {
            s.purge_expired_tokens(now)?;
            s.put_token(&hash, &rec)
        })
        .await?;
    Ok((token, expires))
}

async fn login(
    state: web::Data<HttpState>,
    req: HttpRequest,
    body: web::Json<Value>,
) -> Result<HttpResponse, LoginError> {
    let creds: Credentials = from_body(body.into_inner())?;
    check_credentials(&state, &req, creds).await?;
    let csrf = random_token(32);
    let ttl = state.auth.policy.session_ttl;
    let (token, expires) = issue(&state, TokenKind::Session, ttl, Some(&csrf)).await?;
    let age = i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX);
    let auth = &state.auth;
    Ok(HttpResponse::Ok()
        .cookie(auth.cookie(auth.session_cookie(), token, age, true))
        .cookie(auth.cookie(auth.csrf_cookie(), csrf.clone(), age, false))
        .json(json!({"user": ADMIN_USER, "csrf_token": csrf, "expires_unix_ms": expires})))
}

async fn token(
    state: web::Data<HttpState>,
    req: HttpRequest,
    body: web::Json<Value>,
) -> Result<HttpResponse, LoginError> {
    let creds: Credentials = from_body(body.into_inner())?;
    check_credentials(&state, &req, creds).await?;
    let (token, expires) = issue(&state, TokenKind::Api, state.auth.policy.token_ttl, None).await?;
    Ok(HttpResponse::Ok().json(json!({
        "token": token,
        "token_type": "Bearer",
        "expires_unix_ms": expires,
    })))
}

pub(crate) fn principal(req: &HttpRequest) -> Result<Principal, ApiError> {
    req.extensions()
        .get::<Principal>()
        .cloned()
        .ok_or(ApiError::Unauthorized("authentication required"))
}

/// Ends the session (or revokes the bearer token used).
async fn logout(state: web::Data<HttpState>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let p = principal(&req)?;
    state
        .blocking(move |s| s.delete_token(&p.token_hash))
        .await?;
    let auth = &state.auth;
    Ok(HttpResponse::Ok()
        .cookie(auth.cookie(auth.session_cookie(), String::new(), 0, true))
        .cookie(auth.cookie(auth.csrf_cookie(), String::new(), 0, false))
        .json(json!({"result": "logged_out"})))
}

async fn me(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let p = principal(&req)?;
    Ok(HttpResponse::Ok().json(json!({
        "user": p.user,
        "via": p.via,
        "expires_unix_ms": p.expires_unix_ms,
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PasswordChange {
    current: String,
    new: String,
}

/// Changes the admin password (the current one is required); revokes every session and token.
async fn change_password(
    state: web::Data<HttpState>,
    req: HttpRequest,
    body: web::Json<Value>,
) -> Result<HttpResponse, LoginError> {
    let c: PasswordChange = from_body(body.into_inner())?;
    if c.new.chars().count() < MIN_PASSWORD_LEN {
        return Err(ApiError::Invalid(vec![vpbx_store::ValidationError::new(
            "new",
            "password.min_length",
            AdminError::Weak.to_string(),
        )])
        .into());
    }
    check_credentials(
        &state,
        &req,
        Credentials {
            username: ADMIN_USER.into(),
            password: c.current,
        },
    )
    .await?;
    let store = state.store.clone();
    web::block(move || set_admin_password(&store, &c.new))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?
        .map_err(|e| match e {
            AdminError::Store(s) => ApiError::Store(s),
            other => ApiError::Internal(other.to_string()),
        })?;
    Ok(HttpResponse::Ok().json(json!({"result": "changed"})))
}

routes! {
    POST "/auth/login" => login, "Log in (username, password): session cookie + CSRF token";
    POST "/auth/logout" => logout, "End the session (or revoke the bearer token used)";
    POST "/auth/token" => token, "Issue an API token (username, password) for Authorization: Bearer";
    GET "/auth/me" => me, "Who is authenticated, and how";
    PUT "/auth/password" => change_password, "Change the admin password (current, new); revokes every session and token";
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(ip: &str) -> Vec<String> {
        vec![format!("ip:{ip}"), format!("user:admin@{ip}")]
    }

    #[test]
    fn attempts_are_counted_when_admitted_and_delays_double_up_to_the_cap() {
        let mut t = Throttle::new(AuthPolicy::default());
        let k = keys("192.0.2.1");
        let t0 = crate::clock::monotonic_now();
        // Five attempts admitted at once (none finished yet): each is counted on admission,
        // the fifth starts a block, the sixth must wait.
        for i in 0..4 {
            assert_eq!(
                t.admit(&k, t0),
                Admission::Go {
                    started_block_s: None
                },
                "{i}"
            );
        }
        assert_eq!(
            t.admit(&k, t0),
            Admission::Go {
                started_block_s: Some(1)
            }
        );
        assert_eq!(t.admit(&k, t0), Admission::Wait { retry_after_s: 1 });
        // Then 2 s, 4 s, 8 s … between attempts.
        let mut at = t0 + Duration::from_secs(1);
        for expect in [2, 4, 8, 16] {
            assert!(matches!(t.admit(&k, at), Admission::Go { .. }));
            assert_eq!(
                t.admit(&k, at),
                Admission::Wait {
                    retry_after_s: expect
                }
            );
            at += Duration::from_secs(expect);
        }
        // Capped at 15 minutes.
        for _ in 0..20 {
            assert!(matches!(t.admit(&k, at), Admission::Go { .. }));
            match t.admit(&k, at) {
                Admission::Wait { retry_after_s } => {
                    assert!(retry_after_s <= 900, "{retry_after_s}");
                    at += Duration::from_secs(retry_after_s);
                }
                other => panic!("{other:?}"),
            }
        }
        // An hour without attempts forgives.
        at += Duration::from_secs(3600);
        for _ in 0..5 {
            assert!(matches!(t.admit(&k, at), Admission::Go { .. }));
        }
    }

    #[test]
    fn guesses_per_fifteen_minutes_from_one_source_are_bounded() {
        // An attacker who retries the moment each block ends.
        let mut t = Throttle::new(AuthPolicy::default());
        let k = keys("192.0.2.9");
        let t0 = crate::clock::monotonic_now();
        let mut at = t0;
        let mut guesses = 0;
        let mut first_window = 0;
        while at < t0 + Duration::from_secs(4 * 3600) {
            match t.admit(&k, at) {
                Admission::Go { .. } => {
                    guesses += 1;
                    if at < t0 + Duration::from_secs(900) {
                        first_window += 1;
                    }
                }
                Admission::Wait { retry_after_s } => at += Duration::from_secs(retry_after_s),
            }
        }
        // 5 free, then 9 more after waits of 1+2+…+256 s in the first 15 minutes; afterwards one per
        // 15 minutes.
        assert_eq!(first_window, 14);
        assert!(guesses <= 15 + 4 * 4, "{guesses} guesses in 4 hours");
    }

    #[test]
    fn one_source_blocked_never_blocks_another_and_success_clears() {
        let mut t = Throttle::new(AuthPolicy::default());
        let now = crate::clock::monotonic_now();
        let bad = keys("192.0.2.1");
        for _ in 0..5 {
            assert!(matches!(t.admit(&bad, now), Admission::Go { .. }));
        }
        assert!(matches!(t.admit(&bad, now), Admission::Wait { .. }));
        // The admin elsewhere is not affected.
        let good = keys("198.51.100.7");
        assert!(matches!(t.admit(&good, now), Admission::Go { .. }));
        t.succeeded(&good);
        // A cancelled attempt (verifier busy) gives its count back.
        let other = keys("203.0.113.5");
        for _ in 0..4 {
            assert!(matches!(t.admit(&other, now), Admission::Go { .. }));
        }
        t.cancel(&other);
        assert_eq!(
            t.admit(&other, now),
            Admission::Go {
                started_block_s: None
            }
        );
        // A success clears its source.
        t.succeeded(&other);
        assert_eq!(t.len(), 2);
    }

    #[test]
    fn ipv6_sources_are_keyed_by_their_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::2".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(source_key(a), source_key(b));
        assert_ne!(source_key(a), source_key(c));
        assert_eq!(source_key("::ffff:192.0.2.1".parse().unwrap()), "192.0.2.1");
        assert_eq!(source_key("192.0.2.1".parse().unwrap()), "192.0.2.1");
    }

    #[test]
    fn passwords_hash_with_argon2id_and_tokens_hash_with_sha256() {
        let phc = hash_password("correct horse").unwrap();
        assert!(phc.starts_with("$argon2id$"));
        assert!(verify_password(&phc, "correct horse"));
        assert!(!verify_password(&phc, "wrong horse"));
        assert!(!verify_password("not a hash", "correct horse"));
        // The pooled verify agrees, and keeps its buffer at the hash's 19 MiB.
        let mut memory = Vec::new();
        assert!(verify_password_in(&phc, "correct horse", &mut memory));
        assert!(!verify_password_in(&phc, "wrong horse", &mut memory));
        assert!(!verify_password_in(
            "not a hash",
            "correct horse",
            &mut memory
        ));
        assert_eq!(memory.len(), 19 * 1024);
        let greedy = phc.replace("m=19456", "m=1048576");
        assert!(!verify_password_in(&greedy, "correct horse", &mut memory));
        assert_eq!(token_hash("abc").len(), 64);
        assert!(constant_time_eq("abc", "abc"));
        assert!(!constant_time_eq("abc", "abd"));
        assert!(!constant_time_eq("abc", "ab"));
    }
}
