//! Admin authentication: the `admin` account, cookie sessions with CSRF protection, bearer API
//! tokens, and the login rate limit with lockout.
//!
//! - **Password**: argon2id (default parameters: 19 MiB, 2 passes) as a PHC string in the
//!   store (`Store::set_admin_password_hash`). Set on first start from `VPBX_ADMIN_PASSWORD` or
//!   the settings file's `admin_password`; with neither, a random one is generated and printed
//!   once to the log ([`ensure_admin`]). `vpbx admin set-password` and `PUT /auth/password`
//!   change it, which revokes every session and token.
//! - **Sessions**: `POST /auth/login` sets `vpbx_session` (HttpOnly, SameSite=Strict, Path=/;
//!   not `Secure` until the box serves TLS) and `vpbx_csrf` (readable by the panel's script),
//!   and returns the CSRF token. Unsafe methods (POST, PUT, PATCH, DELETE) authenticated by the
//!   cookie must send it back in `X-CSRF-Token`; it is bound to the session (its hash is stored
//!   with the session), so a cookie alone never suffices. Sessions live 12 hours.
//! - **API tokens**: `POST /auth/token` with user name and password returns a bearer token
//!   (`Authorization: Bearer …`), valid 30 days, exempt from CSRF (browsers never attach it on
//!   their own).
//! - Only SHA-256 hashes of session, CSRF and API tokens are stored (they are 256-bit random
//!   values, so a fast hash suffices); a stolen store does not yield usable tokens.
//! - **Lockout**: 5 failed logins within 5 minutes from one source IP, or for the `admin`
//!   account, lock that IP (or the account) for 15 minutes: 429 with `Retry-After`. The source
//!   is the TCP peer (`X-Forwarded-For` is not trusted).
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
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};
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
/// CSRF header.
pub const CSRF_HEADER: &str = "X-CSRF-Token";

/// Lifetimes and limits.
#[derive(Debug, Clone)]
pub struct AuthPolicy {
    /// Failed logins that lock a source IP or the account.
    pub max_failures: usize,
    /// Window in which they count.
    pub window: Duration,
    /// How long a lockout lasts.
    pub lockout: Duration,
    /// Session lifetime.
    pub session_ttl: Duration,
    /// API token lifetime.
    pub token_ttl: Duration,
}

impl Default for AuthPolicy {
    fn default() -> Self {
        AuthPolicy {
            max_failures: 5,
            window: Duration::from_secs(5 * 60),
            lockout: Duration::from_secs(15 * 60),
            session_ttl: Duration::from_secs(12 * 3600),
            token_ttl: Duration::from_secs(30 * 24 * 3600),
        }
    }
}

#[derive(Debug, Default)]
struct Attempts {
    recent: VecDeque<Instant>,
    locked_until: Option<Instant>,
}

/// Login rate limiting (in memory: a restart forgives, which an attacker cannot trigger).
#[derive(Debug, Default)]
pub struct AuthState {
    policy: AuthPolicy,
    attempts: Mutex<HashMap<String, Attempts>>,
}

impl AuthState {
    /// With `policy`.
    pub fn new(policy: AuthPolicy) -> Self {
        AuthState {
            policy,
            attempts: Mutex::new(HashMap::new()),
        }
    }

    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, Attempts>> {
        match self.attempts.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// Seconds until the longest lockout among `keys` ends, if any is locked.
    fn locked(&self, keys: &[String], now: Instant) -> Option<u64> {
        let map = self.map();
        keys.iter()
            .filter_map(|k| map.get(k)?.locked_until)
            .filter(|until| *until > now)
            .map(|until| until.duration_since(now).as_secs().max(1))
            .max()
    }

    fn failed(&self, keys: &[String], now: Instant) {
        let mut map = self.map();
        if map.len() > 10_000 {
            let window = self.policy.window;
            map.retain(|_, a| {
                a.locked_until.is_some_and(|u| u > now)
                    || a.recent
                        .back()
                        .is_some_and(|t| now.duration_since(*t) < window)
            });
        }
        for k in keys {
            let a = map.entry(k.clone()).or_default();
            while a
                .recent
                .front()
                .is_some_and(|t| now.duration_since(*t) >= self.policy.window)
            {
                a.recent.pop_front();
            }
            a.recent.push_back(now);
            if a.recent.len() >= self.policy.max_failures {
                a.locked_until = Some(now + self.policy.lockout);
                a.recent.clear();
                tracing::warn!(key = %k, "admin login locked after repeated failures");
            }
        }
    }

    fn succeeded(&self, keys: &[String]) {
        let mut map = self.map();
        for k in keys {
            map.remove(k);
        }
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
    if store.admin_password_hash()?.is_some() {
        if configured.is_some() {
            tracing::debug!(
                "admin password already set; the configured one applies only on first start"
            );
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
fn authenticate(store: &Store, req: &HttpRequest) -> Result<Principal, ApiError> {
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
    let Some(cookie) = req.cookie(SESSION_COOKIE) else {
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

/// Paths under `/api/v1` that need no authentication.
const OPEN: [&str; 2] = ["/api/v1/auth/login", "/api/v1/auth/token"];

/// Middleware of the `/api/v1` scope: every route except login and token needs a session or
/// a bearer token.
pub async fn require_auth(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    if !OPEN.contains(&req.path()) {
        let state = req
            .app_data::<web::Data<HttpState>>()
            .cloned()
            .ok_or_else(|| ApiError::Internal("no HTTP state".into()))?;
        let principal = authenticate(&state.store, req.request())?;
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

fn source_ip(req: &HttpRequest) -> String {
    req.peer_addr()
        .map_or_else(|| "unknown".to_owned(), |a| a.ip().to_string())
}

/// Checks credentials under the rate limit; `Ok(())` when they are right.
async fn check_credentials(
    state: &HttpState,
    req: &HttpRequest,
    creds: Credentials,
) -> Result<(), ApiError> {
    let mut keys = vec![format!("ip:{}", source_ip(req))];
    if creds.username == ADMIN_USER {
        keys.push(format!("user:{ADMIN_USER}"));
    }
    let now = crate::clock::monotonic_now();
    if let Some(retry_after_s) = state.auth.locked(&keys, now) {
        return Err(ApiError::Locked { retry_after_s });
    }
    let phc = state.blocking(|s| s.admin_password_hash()).await?;
    // Verify even for a wrong user name, so timing does not tell which names exist.
    let ok = web::block(move || {
        let phc_ok = phc
            .as_deref()
            .is_some_and(|p| verify_password(p, &creds.password));
        phc_ok && creds.username == ADMIN_USER
    })
    .await
    .map_err(|e| ApiError::Internal(e.to_string()))?;
    if ok {
        state.auth.succeeded(&keys);
        Ok(())
    } else {
        state.auth.failed(&keys, crate::clock::monotonic_now());
        Err(ApiError::Unauthorized("wrong user name or password"))
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

fn cookie(name: &'static str, value: String, max_age_s: i64, http_only: bool) -> Cookie<'static> {
    Cookie::build(name, value)
        .path("/")
        .http_only(http_only)
        .same_site(SameSite::Strict)
        .max_age(CookieDuration::seconds(max_age_s))
        .finish()
}

async fn login(
    state: web::Data<HttpState>,
    req: HttpRequest,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let creds: Credentials = from_body(body.into_inner())?;
    check_credentials(&state, &req, creds).await?;
    let csrf = random_token(32);
    let ttl = state.auth.policy.session_ttl;
    let (token, expires) = issue(&state, TokenKind::Session, ttl, Some(&csrf)).await?;
    let age = i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX);
    Ok(HttpResponse::Ok()
        .cookie(cookie(SESSION_COOKIE, token, age, true))
        .cookie(cookie(CSRF_COOKIE, csrf.clone(), age, false))
        .json(json!({"user": ADMIN_USER, "csrf_token": csrf, "expires_unix_ms": expires})))
}

async fn token(
    state: web::Data<HttpState>,
    req: HttpRequest,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let creds: Credentials = from_body(body.into_inner())?;
    check_credentials(&state, &req, creds).await?;
    let (token, expires) = issue(&state, TokenKind::Api, state.auth.policy.token_ttl, None).await?;
    Ok(HttpResponse::Ok().json(json!({
        "token": token,
        "token_type": "Bearer",
        "expires_unix_ms": expires,
    })))
}

fn principal(req: &HttpRequest) -> Result<Principal, ApiError> {
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
    Ok(HttpResponse::Ok()
        .cookie(cookie(SESSION_COOKIE, String::new(), 0, true))
        .cookie(cookie(CSRF_COOKIE, String::new(), 0, false))
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
) -> Result<HttpResponse, ApiError> {
    let c: PasswordChange = from_body(body.into_inner())?;
    if c.new.chars().count() < MIN_PASSWORD_LEN {
        return Err(ApiError::Invalid(vec![vpbx_store::ValidationError {
            field: "new".into(),
            rule: "password.min_length",
            message: AdminError::Weak.to_string(),
        }]));
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

    #[test]
    fn failures_lock_after_five_in_the_window_and_the_lock_expires() {
        let auth = AuthState::default();
        let keys = vec!["ip:192.0.2.1".to_owned()];
        let t0 = crate::clock::monotonic_now();
        // Four failures, then the window passes: they no longer count.
        for i in 0..4 {
            auth.failed(&keys, t0 + Duration::from_secs(i));
        }
        let later = t0 + Duration::from_secs(301);
        auth.failed(&keys, later);
        assert_eq!(auth.locked(&keys, later), None);
        for i in 1..5 {
            auth.failed(&keys, later + Duration::from_secs(i));
        }
        let at = later + Duration::from_secs(5);
        assert_eq!(auth.locked(&keys, at), Some(899));
        assert_eq!(auth.locked(&keys, at + Duration::from_secs(900)), None);
        auth.succeeded(&keys);
        assert_eq!(auth.locked(&keys, at), None);
    }

    #[test]
    fn passwords_hash_with_argon2id_and_tokens_hash_with_sha256() {
        let phc = hash_password("correct horse").unwrap();
        assert!(phc.starts_with("$argon2id$"));
        assert!(verify_password(&phc, "correct horse"));
        assert!(!verify_password(&phc, "wrong horse"));
        assert!(!verify_password("not a hash", "correct horse"));
        assert_eq!(token_hash("abc").len(), 64);
        assert!(constant_time_eq("abc", "abc"));
        assert!(!constant_time_eq("abc", "abd"));
        assert!(!constant_time_eq("abc", "ab"));
    }
}
