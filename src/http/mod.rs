//! The HTTP edge: `/health`, `/metrics` (and later the admin panel and REST API). Handlers read
//! snapshots and counters; none waits on a call actor.

use actix_web::{web, App, HttpResponse, HttpServer};
use metrics_exporter_prometheus::PrometheusHandle;
use serde::Serialize;
use std::net::SocketAddr;
use std::sync::Arc;
use vpbx_actors::stats::LiveStats;
use vpbx_store::Store;

/// What the HTTP handlers read.
#[derive(Clone)]
pub struct HttpState {
    /// Live counters.
    pub stats: Arc<LiveStats>,
    /// The store (for its health probe).
    pub store: Store,
    /// Prometheus renderer.
    pub prometheus: PrometheusHandle,
    /// SIP listeners, e.g. `udp:127.0.0.1:5060`.
    pub sip_listeners: Vec<String>,
    /// Process start, for uptime.
    pub started: std::time::Instant,
}

#[derive(Serialize)]
struct Health<'a> {
    status: &'a str,
    version: &'a str,
    uptime_s: u64,
    store_ok: bool,
    sip_listeners: &'a [String],
    active_calls: i64,
    finished_calls: u64,
    actor_restarts: u64,
}

async fn health(state: web::Data<HttpState>) -> HttpResponse {
    let store_ok = state.store.health();
    let body = Health {
        status: if store_ok { "ok" } else { "degraded" },
        version: env!("CARGO_PKG_VERSION"),
        uptime_s: crate::clock::monotonic_now()
            .saturating_duration_since(state.started)
            .as_secs(),
        store_ok,
        sip_listeners: &state.sip_listeners,
        active_calls: state.stats.active_calls(),
        finished_calls: state.stats.finished_calls(),
        actor_restarts: state.stats.restarts(),
    };
    if store_ok {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

async fn metrics(state: web::Data<HttpState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(state.prometheus.render())
}

/// Routes of the monitoring endpoints.
pub fn configure_monitoring(cfg: &mut web::ServiceConfig) {
    cfg.route("/health", web::get().to(health))
        .route("/metrics", web::get().to(metrics));
}

/// Starts the HTTP server; returns it so the caller can stop it.
pub fn start(addr: SocketAddr, state: HttpState) -> std::io::Result<actix_web::dev::Server> {
    let data = web::Data::new(state);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .configure(configure_monitoring)
    })
    .workers(1)
    .disable_signals()
    .bind(addr)?
    .run();
    Ok(server)
}
