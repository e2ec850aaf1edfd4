//! `/health` and `/metrics`: open (no authentication, docs/decisions.md D7); they read
//! snapshots and counters and never wait on a call actor.

use super::HttpState;
use actix_web::{web, HttpResponse};
use serde::Serialize;

#[derive(Serialize)]
struct Health<'a> {
    status: &'a str,
    version: &'a str,
    uptime_s: u64,
    store_ok: bool,
    /// Why store writes fail (a full disk), until one succeeds.
    #[serde(skip_serializing_if = "Option::is_none")]
    store_fault: Option<String>,
    sip_listeners: &'a [String],
    active_calls: i64,
    finished_calls: u64,
    actor_restarts: u64,
}

async fn health(state: web::Data<HttpState>) -> HttpResponse {
    // A store that reads but cannot write (a full disk) is not ok: say why.
    let store_fault = state.store.fault();
    let store_ok = state.store.health() && store_fault.is_none();
    let body = Health {
        status: if store_ok { "ok" } else { "degraded" },
        version: env!("CARGO_PKG_VERSION"),
        uptime_s: crate::clock::monotonic_now()
            .saturating_duration_since(state.started)
            .as_secs(),
        store_ok,
        store_fault,
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
    let mut body = state.prometheus.render();
    trunk_series(&state, &mut body);
    allocator_series(&mut body);
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(body)
}

/// The allocator's own view of the switch's memory (jemalloc, D74), read at each scrape:
/// `allocated` is what the switch's live objects hold, `active` the pages they occupy,
/// `resident` what jemalloc keeps in RAM (its metadata and not yet purged pages included), and
/// `retained` address space it keeps mapped but has given back. RSS far above `allocated` means
/// memory kept by the allocator, not by the switch. On a build without jemalloc as the global
/// allocator these read jemalloc's idle arenas (near 0).
fn allocator_series(out: &mut String) {
    use std::fmt::Write as _;
    use tikv_jemalloc_ctl::{epoch, stats};
    // The statistics are a snapshot refreshed by advancing the epoch.
    if epoch::advance().is_err() {
        return;
    }
    let figures = [
        ("allocated", stats::allocated::read()),
        ("active", stats::active::read()),
        ("resident", stats::resident::read()),
        ("retained", stats::retained::read()),
    ];
    let _ = writeln!(
        out,
        "# HELP vpbx_allocator_bytes The memory allocator's figures (jemalloc stats), by kind."
    );
    let _ = writeln!(out, "# TYPE vpbx_allocator_bytes gauge");
    for (kind, value) in figures {
        if let Ok(bytes) = value {
            let _ = writeln!(out, "vpbx_allocator_bytes{{kind=\"{kind}\"}} {bytes}");
        }
    }
}

/// The per-trunk families, rendered from the configuration in force and the trunks' live state
/// at each scrape: a trunk has its series exactly while it is configured (a deleted or renamed
/// trunk's series goes with it), and the families are there, empty, on a switch without trunks.
fn trunk_series(state: &HttpState, out: &mut String) {
    use std::fmt::Write as _;
    let cfg = state.snapshots.current();
    let statuses: Vec<_> = cfg
        .trunks
        .iter()
        .map(|t| (label_value(&t.name), state.presence.trunk_status(t)))
        .collect();
    out.push_str(
        "# HELP vpbx_trunk_registered 1 while the trunk's registration with the carrier is \
         current; 0 while registering, failed or disabled (IP trunks have no registration)\n\
         # TYPE vpbx_trunk_registered gauge\n",
    );
    for (name, status) in &statuses {
        if status.registration != "ip" {
            let up = u8::from(status.registration == "registered");
            let _ = writeln!(out, "vpbx_trunk_registered{{trunk=\"{name}\"}} {up}");
        }
    }
    out.push_str(
        "# HELP vpbx_trunk_channels Calls in progress on the trunk\n\
         # TYPE vpbx_trunk_channels gauge\n",
    );
    for (name, status) in &statuses {
        let _ = writeln!(
            out,
            "vpbx_trunk_channels{{trunk=\"{name}\"}} {}",
            status.channels
        );
    }
}

/// A Prometheus label value: backslash, double quote and line feed escaped.
fn label_value(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Routes of the monitoring endpoints.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/health", web::get().to(health))
        .route("/metrics", web::get().to(metrics));
}
