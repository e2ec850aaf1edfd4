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
//! Every `/api/v1` route except `auth/login` and `auth/token` requires authentication
//! ([`auth`]); `/health` and `/metrics` stay open (docs/decisions.md D7).

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
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
mod numbers;
pub mod openapi;
mod routing;
mod scenarios;
mod schedules;
mod settings;
mod tags;
mod talk_options;
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
    let tables: [(&'static str, &[RouteDoc]); 20] = [
        ("auth", auth::ROUTES),
        ("employees", employees::ROUTES),
        ("groups", groups::ROUTES),
        ("contacts", contacts::ROUTES),
        ("contact groups", contact_groups::ROUTES),
        ("tags", tags::ROUTES),
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
        ("routing", routing::ROUTES),
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

/// Maximum size of a JSON body.
const JSON_LIMIT: usize = 2 * 1024 * 1024;
/// Maximum size of a configuration document (`PUT /api/v1/config`).
const DOCUMENT_LIMIT: usize = 16 * 1024 * 1024;

/// The `/api/v1` scope: every resource, behind authentication.
fn configure_api(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/api/v1")
            .wrap(actix_web::middleware::from_fn(auth::require_auth))
            .app_data(error::json_config(JSON_LIMIT))
            .app_data(web::PayloadConfig::new(DOCUMENT_LIMIT))
            .configure(auth::configure)
            .configure(employees::configure)
            .configure(groups::configure)
            .configure(contacts::configure)
            .configure(contact_groups::configure)
            .configure(tags::configure)
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
            .configure(routing::configure)
            .configure(config::configure)
            .configure(openapi::configure)
            .default_service(web::to(|| async {
                Err::<actix_web::HttpResponse, _>(ApiError::NoRoute)
            })),
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
        .configure(monitoring::configure)
        .configure(configure_api)
}

/// Starts the HTTP server; returns it so the caller can stop it.
pub fn start(addr: SocketAddr, state: HttpState) -> std::io::Result<actix_web::dev::Server> {
    let server = HttpServer::new(move || app(state.clone()))
        .workers(1)
        .disable_signals()
        .bind(addr)?
        .run();
    Ok(server)
}
