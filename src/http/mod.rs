//! The HTTP edge: `/health`, `/metrics` and the REST API under `/api/v1` (see `docs/api.md`
//! and the OpenAPI document `src/http/openapi.json`, served at `/api/v1/openapi.json`).
//!
//! One module per resource, each with a `configure` and a `ROUTES` table produced by the same
//! `routes!` invocation, so the router and the OpenAPI coverage test read one list. Handlers
//! are thin: extract the input, call the store (on the blocking pool) or an actor, map the
//! result through [`ApiError`]. After every successful configuration write the handler asks the
//! `ConfigHub` to publish the new snapshot (`HttpState::publish`) before answering, so the
//! next call — and the next API read — sees the change; live calls keep their snapshot.
//!
//! Every `/api/v1` route except `auth/login`, `auth/token` and `openapi.json` requires
//! authentication ([`auth`]); `/health` and `/metrics` stay open (docs/decisions.md D7), and so
//! does the API reference page `/api/docs` ([`mod@reference`]).
//!
//! Every answer carries security headers (`nosniff`, a CSP with `frame-ancestors 'none'`,
//! `no-referrer`, `no-store`, `Server: vpbx`). Bodies are limited per route ([`body_limit`]:
//! 1 MiB of JSON, 16 MiB for the configuration document; 413 JSON past it). The API runs
//! `[http] workers` threads, over HTTPS with `[http] tls` ([`tls`]); an optional monitoring
//! address serves `/health` and `/metrics` alone on a thread of its own ([`start`]).

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{web, App, HttpServer};
use metrics_exporter_prometheus::PrometheusHandle;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use vpbx_actors::config_hub::{ApplyConfig, ConfigError, Refresh, Snapshots};
use vpbx_actors::stats::LiveStats;
use vpbx_actors::switch::Registry;
use vpbx_store::model::CompanyConfig;
use vpbx_store::{Store, WriteResult};

/// Declares a resource's routes once: generates `ROUTES` (for the OpenAPI document and its
/// coverage test) and `configure` (for the router). Paths are relative to `/api/v1`.
macro_rules! routes {
    ($( $method:ident $path:literal => $handler:expr, $summary:literal; )*) => {
        /// This resource's routes under `/api/v1`.
        pub const ROUTES: &[crate::http::RouteDoc] = &[
            $( crate::http::RouteDoc {
                method: stringify!($method),
                path: $path,
                summary: $summary,
            } ),*
        ];
        /// Registers this resource's routes.
        pub fn configure(cfg: &mut actix_web::web::ServiceConfig) {
            $( cfg.route(
                $path,
                actix_web::web::method(actix_web::http::Method::$method).to($handler),
            ); )*
        }
    };
}

mod agents;
pub mod auth;
mod calendars;
mod calls;
mod config;
mod contact_groups;
mod contacts;
mod crud;
mod employees;
pub mod error;
mod files;
mod groups;
mod lines;
mod monitoring;
mod number_lists;
mod numbering;
mod numbers;
pub mod openapi;
pub mod reference;
mod routing;
mod scenarios;
mod schedules;
mod segments;
mod settings;
mod sip_bans;
mod tags;
mod talk_options;
pub mod tls;
mod trunks;

pub use error::ApiError;

/// One documented route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteDoc {
    /// `GET`, `POST`, `PUT`, `DELETE`.
    pub method: &'static str,
    /// Path under `/api/v1`, with `{param}`s.
    pub path: &'static str,
    /// One line for the OpenAPI document.
    pub summary: &'static str,
}

/// Every route of the API, in registration order (with the resource it belongs to).
pub fn api_routes() -> Vec<(&'static str, RouteDoc)> {
    let tables: [(&'static str, &[RouteDoc]); 24] = [
        ("auth", auth::ROUTES),
        ("employees", employees::ROUTES),
        ("groups", groups::ROUTES),
        ("contacts", contacts::ROUTES),
        ("contact groups", contact_groups::ROUTES),
        ("tags", tags::ROUTES),
        ("segments", segments::ROUTES),
        ("number lists", number_lists::ROUTES),
        ("schedules", schedules::ROUTES),
        ("calendars", calendars::ROUTES),
        ("numbers", numbers::ROUTES),
        ("scenarios", scenarios::ROUTES),
        ("files", files::ROUTES),
        ("talk options", talk_options::ROUTES),
        ("trunks", trunks::ROUTES),
        ("settings", settings::ROUTES),
        ("lines", lines::ROUTES),
        ("calls", calls::ROUTES),
        ("agents and queues", agents::ROUTES),
        ("routing", routing::ROUTES),
        ("sip bans", sip_bans::ROUTES),
        ("numbering plan", numbering::ROUTES),
        ("config", config::ROUTES),
        ("openapi", openapi::ROUTES),
    ];
    tables
        .iter()
        .flat_map(|(tag, routes)| routes.iter().map(move |r| (*tag, *r)))
        .collect()
}

/// What the HTTP handlers read and write.
#[derive(Clone)]
pub struct HttpState {
    /// Live counters.
    pub stats: Arc<LiveStats>,
    /// The store.
    pub store: Store,
    /// Prometheus renderer.
    pub prometheus: PrometheusHandle,
    /// SIP listeners, e.g. `udp:127.0.0.1:5060`.
    pub sip_listeners: Vec<String>,
    /// Process start, for uptime.
    pub started: std::time::Instant,
    /// The configuration snapshot new calls use.
    pub snapshots: Snapshots,
    /// The actor tree (the `ConfigHub` publishes snapshots).
    pub registry: Registry,
    /// Live registration state of the SIP lines and trunks (the SIP edge fills it).
    pub presence: Arc<dyn crate::presence::Presence>,
    /// Login rate limits and session policy.
    pub auth: Arc<auth::AuthState>,
    /// The SIP edge's per-source bans (listed and lifted by `/sip/bans`).
    pub sip_security: Arc<crate::sip::security::Security>,
    /// The numbering-plan registry files new calls read (replaced by `/numbering/registry`).
    pub numbering: vpbx_actors::numbering::NumberingLink,
    /// The `Server` header ([`SERVER_NAME`] or [`SERVER_NAME_VERSION`]).
    pub server_header: &'static str,
}

impl HttpState {
    /// Runs a store operation on the blocking pool (sled reads and flushing writes block).
    pub(crate) async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Store) -> Result<T, vpbx_store::StoreError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let store = self.store.clone();
        web::block(move || f(&store))
            .await
            .map_err(|e| ApiError::Internal(e.to_string()))?
            .map_err(ApiError::from)
    }

    /// Runs a configuration write on the blocking pool, then publishes the new snapshot, so
    /// the answer is sent only once the write is durable and visible to the next call.
    pub(crate) async fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Store) -> WriteResult<T> + Send + 'static,
    ) -> Result<T, ApiError> {
        let out = self.blocking(f).await??;
        self.publish().await?;
        Ok(out)
    }

    /// Asks the `ConfigHub` to publish the store's configuration; while the hub is restarting,
    /// publishes directly (the same serialized reload the hub uses).
    pub(crate) async fn publish(&self) -> Result<Arc<CompanyConfig>, ApiError> {
        if let Some(c) = self.registry.children() {
            match tokio::time::timeout(Duration::from_secs(5), c.config.send(Refresh)).await {
                Ok(Ok(r)) => return r.map_err(ApiError::from),
                _ => tracing::warn!("config hub unreachable; publishing the snapshot directly"),
            }
        }
        let snapshots = self.snapshots.clone();
        self.blocking(move |s| snapshots.reload_from(s)).await
    }

    /// Imports a whole configuration through the `ConfigHub` ([`ApplyConfig`]: validated,
    /// planned, backed up, applied all or nothing, published).
    pub(crate) async fn import(
        &self,
        config: CompanyConfig,
        options: vpbx_store::import::ImportOptions,
    ) -> Result<vpbx_store::import::ImportOutcome, ApiError> {
        let now_unix_ms = vpbx_actors::clock::Clock::unix_ms(&crate::clock::RealClock);
        let msg = ApplyConfig {
            config,
            options,
            now_unix_ms,
        };
        if let Some(c) = self.registry.children() {
            match tokio::time::timeout(Duration::from_secs(30), c.config.send(msg)).await {
                Ok(Ok(r)) => return r.map_err(ApiError::from),
                _ => return Err(ApiError::Unavailable("configuration hub".into())),
            }
        }
        Err(ApiError::Unavailable("configuration hub".into()))
    }
}

impl From<ConfigError> for ApiError {
    fn from(e: ConfigError) -> Self {
        match e {
            ConfigError::Invalid(errors) => ApiError::Invalid(errors),
            ConfigError::Store(s) => ApiError::from(s),
        }
    }
}

/// Largest JSON body.
pub const JSON_LIMIT: usize = 1024 * 1024;
/// Largest configuration document (`PUT /api/v1/config`): the store's own bound, so whatever
/// `vpbx config import` takes the API takes too.
pub const DOCUMENT_LIMIT: usize = vpbx_store::import::MAX_DOCUMENT_BYTES;

/// The largest body a route accepts: the per-route hook of the size limits (a route with
/// larger bodies is named here).
pub fn body_limit(method: &actix_web::http::Method, path: &str) -> usize {
    if method == actix_web::http::Method::PUT && path == "/api/v1/config" {
        DOCUMENT_LIMIT
    } else if method == actix_web::http::Method::PUT
        && path.starts_with("/api/v1/numbering/registry/")
    {
        numbering::REGISTRY_LIMIT
    } else {
        JSON_LIMIT
    }
}

/// The 413 answer: JSON naming the limit.
fn too_large(limit: usize) -> actix_web::HttpResponse {
    actix_web::HttpResponse::PayloadTooLarge().json(serde_json::json!({
        "error": "too_large",
        "limit_bytes": limit,
        "message": format!("the request body is larger than the limit of {limit} bytes"),
    }))
}

/// Refuses a body whose declared length is over the route's limit before reading it (413);
/// bodies without a length are cut by the extractors' limits ([`body_configs`]), and their
/// 413 gets the same JSON.
async fn limit_body(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let limit = body_limit(req.method(), req.path());
    let declared = req
        .headers()
        .get(actix_web::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Ok(req.into_response(too_large(limit)).map_into_boxed_body());
    }
    let res = next.call(req).await?;
    // A raw body cut by `PayloadConfig` answers a bare 413: give it the JSON body too.
    let bare = res.status() == actix_web::http::StatusCode::PAYLOAD_TOO_LARGE
        && res.headers().get(actix_web::http::header::CONTENT_TYPE)
            != Some(&actix_web::http::header::HeaderValue::from_static(
                "application/json",
            ));
    if bare {
        let (req, _) = res.into_parts();
        return Ok(ServiceResponse::new(req, too_large(limit)));
    }
    Ok(res.map_into_boxed_body())
}

/// Extractor limits of the `/api/v1` scope: JSON bodies up to [`JSON_LIMIT`], raw bodies (the
/// configuration document) up to [`DOCUMENT_LIMIT`]; over the limit, 413 JSON.
fn body_configs(cfg: &mut web::ServiceConfig) {
    cfg.app_data(
        web::JsonConfig::default()
            .limit(JSON_LIMIT)
            .error_handler(|err, req| {
                use actix_web::error::JsonPayloadError;
                let limit = body_limit(req.method(), req.path());
                match err {
                    JsonPayloadError::Overflow { limit }
                    | JsonPayloadError::OverflowKnownLength { limit, .. } => {
                        actix_web::error::InternalError::from_response(
                            "too large",
                            too_large(limit),
                        )
                        .into()
                    }
                    JsonPayloadError::Payload(actix_web::error::PayloadError::Overflow) => {
                        actix_web::error::InternalError::from_response(
                            "too large",
                            too_large(limit),
                        )
                        .into()
                    }
                    JsonPayloadError::Deserialize(e) => ApiError::BadRequest {
                        field: None,
                        message: format!("malformed JSON: {e}"),
                    }
                    .into(),
                    other => ApiError::BadRequest {
                        field: None,
                        message: other.to_string(),
                    }
                    .into(),
                }
            }),
    )
    .app_data(web::PayloadConfig::new(DOCUMENT_LIMIT));
}

/// Security headers on every answer, errors included: no MIME sniffing, no framing, no
/// referrer, no caching, and a `Server` header naming the product (its version only when
/// `[http] server_version` says so). A route that needs another content security policy or
/// caching (the API reference page and its script, [`reference`]) sets its own header, which
/// is kept; every other answer gets [`CSP`] and `no-store`.
async fn security_headers(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    use actix_web::http::header::{self, HeaderValue};
    let server = req
        .app_data::<web::Data<HttpState>>()
        .map_or(SERVER_NAME, |s| s.server_header);
    let add = |h: &mut actix_web::http::header::HeaderMap| {
        h.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        if !h.contains_key(header::CONTENT_SECURITY_POLICY) {
            h.insert(
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(CSP),
            );
        }
        h.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        );
        h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        if !h.contains_key(header::CACHE_CONTROL) {
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        }
        h.insert(header::SERVER, HeaderValue::from_static(server));
    };
    match next.call(req).await {
        Ok(mut res) => {
            add(res.headers_mut());
            Ok(res.map_into_boxed_body())
        }
        // A middleware's error (a 401 of the auth check) becomes its answer here, with the
        // headers, since the request is gone.
        Err(e) => {
            let mut answer = e.error_response();
            add(answer.headers_mut());
            Err(actix_web::error::InternalError::from_response(e.to_string(), answer).into())
        }
    }
}

/// The content security policy: only this origin's scripts, styles and data; never framed.
pub const CSP: &str = "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; \
                       form-action 'self'; object-src 'none'";
/// The `Server` header by default.
pub const SERVER_NAME: &str = "vpbx";
/// The `Server` header with the version (`[http] server_version = true`).
pub const SERVER_NAME_VERSION: &str = concat!("vpbx/", env!("CARGO_PKG_VERSION"));

/// The `/api/v1` scope: every resource, behind authentication.
fn configure_api(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/api/v1")
            .wrap(actix_web::middleware::from_fn(auth::require_auth))
            .wrap(actix_web::middleware::from_fn(limit_body))
            .configure(body_configs)
            .configure(auth::configure)
            .configure(employees::configure)
            .configure(groups::configure)
            .configure(contacts::configure)
            .configure(contact_groups::configure)
            .configure(tags::configure)
            .configure(segments::configure)
            .configure(number_lists::configure)
            .configure(schedules::configure)
            .configure(calendars::configure)
            .configure(numbers::configure)
            .configure(scenarios::configure)
            .configure(files::configure)
            .configure(talk_options::configure)
            .configure(trunks::configure)
            .configure(settings::configure)
            .configure(lines::configure)
            .configure(calls::configure)
            .configure(agents::configure)
            .configure(routing::configure)
            .configure(sip_bans::configure)
            .configure(numbering::configure)
            .configure(config::configure)
            .configure(openapi::configure)
            .default_service(web::to(error::unrouted)),
    );
}

/// The application: the one factory the server and the tests (`test::init_service`) use.
pub fn app(
    state: HttpState,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    App::new()
        .app_data(web::Data::new(state))
        .wrap(actix_web::middleware::from_fn(security_headers))
        .configure(monitoring::configure)
        .configure(reference::configure)
        .configure(configure_api)
}

/// The monitoring application: `/health` and `/metrics` only.
pub fn monitoring_app(
    state: HttpState,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    App::new()
        .app_data(web::Data::new(state))
        .wrap(actix_web::middleware::from_fn(security_headers))
        .configure(monitoring::configure)
        .default_service(web::to(|| async {
            Err::<actix_web::HttpResponse, _>(ApiError::NoRoute)
        }))
}

/// Answers everything on the plain address with a permanent redirect to HTTPS (same host,
/// the HTTPS port, same path and query).
async fn redirect_to_https(
    req: actix_web::HttpRequest,
    port: web::Data<u16>,
) -> actix_web::HttpResponse {
    let host = req.connection_info().host().to_owned();
    let name = match host.rsplit_once(':') {
        // `[::1]:8080` or `example.org:8080`: drop the port; a bare IPv6 in brackets stays.
        Some((name, p)) if p.chars().all(|c| c.is_ascii_digit()) => name.to_owned(),
        _ => host,
    };
    let path = req
        .uri()
        .path_and_query()
        .map_or("/", actix_web::http::uri::PathAndQuery::as_str);
    let target = if **port == 443 {
        format!("https://{name}{path}")
    } else {
        format!("https://{name}:{}{path}", **port)
    };
    actix_web::HttpResponse::PermanentRedirect()
        .insert_header((actix_web::http::header::LOCATION, target))
        .finish()
}

/// Where and how the HTTP edge listens.
#[derive(Debug, Clone)]
pub struct Listen {
    /// The plain-HTTP address.
    pub http_addr: SocketAddr,
    /// The HTTP settings.
    pub http: crate::settings::HttpSettings,
    /// The data directory (generated certificate).
    pub data_dir: std::path::PathBuf,
}

/// Why the HTTP edge could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A socket could not be bound.
    #[error("HTTP {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// TLS could not be set up.
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
}

/// The HTTP servers started, to run and stop, and the addresses they bound (a port 0 in the
/// settings becomes the port the system chose).
pub struct Started {
    /// Every server.
    pub servers: Vec<actix_web::dev::Server>,
    /// The HTTPS address, with TLS.
    pub https_addr: Option<SocketAddr>,
    /// The monitoring address, when set.
    pub monitoring_addr: Option<SocketAddr>,
}

/// Starts the HTTP servers (the API on plain HTTP or HTTPS, the redirect, the monitoring
/// address).
///
/// The API server runs `[http] workers` threads; password verifies and store access go to the
/// blocking pool, not the workers. The monitoring server has a thread of its own.
pub fn start(listen: &Listen, state: HttpState) -> Result<Started, StartError> {
    let h = &listen.http;
    let bind = |addr: SocketAddr| move |source| StartError::Bind { addr, source };
    let mut started = Started {
        servers: Vec::new(),
        https_addr: None,
        monitoring_addr: None,
    };
    let api = {
        let state = state.clone();
        HttpServer::new(move || app(state.clone()))
            .workers(h.workers.max(1))
            .disable_signals()
    };
    if h.tls {
        let (cert, key) = tls::cert_and_key(
            h.cert.as_deref(),
            h.key.as_deref(),
            &listen.data_dir,
            h.https_addr,
        )?;
        let config = tls::server_config(&cert, &key)?;
        let api = api
            .bind_rustls_0_23(h.https_addr, config)
            .map_err(bind(h.https_addr))?;
        let bound = api.addrs().first().copied().unwrap_or(h.https_addr);
        started.https_addr = Some(bound);
        started.servers.push(api.run());
        if h.plain_http == crate::settings::PlainHttp::Redirect {
            let port = bound.port();
            started.servers.push(
                HttpServer::new(move || {
                    App::new()
                        .app_data(web::Data::new(port))
                        .default_service(web::to(redirect_to_https))
                })
                .workers(1)
                .disable_signals()
                .bind(listen.http_addr)
                .map_err(bind(listen.http_addr))?
                .run(),
            );
        }
    } else {
        if !listen.http_addr.ip().is_loopback() {
            tracing::warn!(
                event = "security",
                addr = %listen.http_addr,
                "the admin API is served over plain HTTP on a non-loopback address; \
                 passwords and sessions cross the network in clear (set [http] tls = true)"
            );
        }
        started.servers.push(
            api.bind(listen.http_addr)
                .map_err(bind(listen.http_addr))?
                .run(),
        );
    }
    if let Some(addr) = h.monitoring_addr {
        let server = HttpServer::new(move || monitoring_app(state.clone()))
            .workers(1)
            .disable_signals()
            .bind(addr)
            .map_err(bind(addr))?;
        started.monitoring_addr = Some(server.addrs().first().copied().unwrap_or(addr));
        started.servers.push(server.run());
    }
    Ok(started)
}
