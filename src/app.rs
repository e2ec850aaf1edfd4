//! Starting and stopping the whole switch.
//!
//! Order on start: store → configuration snapshot (demo on first start) → media engine → CDR
//! writer → call arbiters (one per core) → `Switch` (actor tree) → SIP edge → HTTP.
//! Order on stop: refuse new calls → every live call gets a BYE → wait (bounded) for the calls to
//! finish → stop SIP and HTTP → flush the store.

use crate::clock::RealClock;
use crate::settings::Settings;
use crate::sip::{self, EdgeContext, SipConfig, SipEdge};
use actix::prelude::*;
use metrics_exporter_prometheus::PrometheusHandle;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use vpbx_actors::call::CallDeps;
use vpbx_actors::call_supervisor::EndAllCalls;
use vpbx_actors::cdr::CdrSink;
use vpbx_actors::config_hub::Snapshots;
use vpbx_actors::stats::LiveStats;
use vpbx_actors::switch::{Registry, Switch};
use vpbx_media::{MediaConfig, MediaEngine};
use vpbx_store::Store;

/// Errors while starting.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The store.
    #[error("store: {0}")]
    Store(#[from] vpbx_store::StoreError),
    /// The demo company.
    #[error("demo: {0}")]
    Demo(#[from] crate::demo::DemoError),
    /// SIP.
    #[error("sip: {0}")]
    Sip(#[from] sip::SipError),
    /// I/O (HTTP bind, threads).
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    /// The admin account.
    #[error("admin account: {0}")]
    Admin(#[from] crate::http::auth::AdminError),
    /// The HTTP edge (bind, TLS).
    #[error(transparent)]
    Http(#[from] crate::http::StartError),
    /// The voicemail mailer (`[smtp]`).
    #[error(transparent)]
    Mail(#[from] vpbx_actors::mailer::MailError),
}

/// How often the recorder folds histogram samples into their summaries.
const METRICS_UPKEEP: Duration = Duration::from_secs(5);

/// The process-wide Prometheus recorder (installed once; tests start several switches).
pub fn prometheus() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
            let handle = recorder.handle();
            // The recorder keeps a histogram's samples until they are folded into its summary:
            // at a scrape, or here every few seconds, so a switch nobody scrapes does not keep
            // one sample per call ever made.
            let upkeep = handle.clone();
            let _ = std::thread::Builder::new()
                .name("metrics-upkeep".into())
                .spawn(move || loop {
                    std::thread::sleep(METRICS_UPKEEP);
                    upkeep.run_upkeep();
                });
            // Another recorder may already be installed (tests); then ours just renders nothing.
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

/// Puts every metric family on `/metrics` at zero from the start (families with a label get a
/// series per value the switch knows in advance), so dashboards and alerts see them before the
/// first event. `tests/metrics_at_start.rs` reads the families from the source and checks.
/// Families with one series per configured entity (`vpbx_trunk_registered{trunk}`) appear with
/// the entity.
fn register_metric_families() {
    use vpbx_store::model::CallResult;
    for actor in ["call_supervisor", "distributor", "config_hub"] {
        metrics::counter!("vpbx_actor_restarts_total", "actor" => actor).increment(0);
    }
    for counter in [
        "vpbx_rtp_packets_sent_total",
        "vpbx_rtp_packets_received_total",
        "vpbx_rtp_packets_lost_total",
        "vpbx_rtp_packets_late_total",
        "vpbx_rtp_packets_invalid_total",
        "vpbx_mixer_frames_late_total",
        "vpbx_calls_started_total",
        "vpbx_cdr_dropped_total",
        "vpbx_http_login_verifies_total",
        "vpbx_http_login_refused_total",
        "vpbx_http_login_busy_total",
        "vpbx_http_login_throttled_total",
    ] {
        metrics::counter!(counter).increment(0);
    }
    for result in [
        CallResult::Answered,
        CallResult::NotAnswered,
        CallResult::Busy,
        CallResult::Refused,
        CallResult::Blocked,
        CallResult::Failed,
        CallResult::Abandoned,
    ] {
        metrics::counter!("vpbx_calls_finished_total", "result" => result.as_str()).increment(0);
    }
    for direction in ["in", "out"] {
        for method in [
            "INVITE", "ACK", "BYE", "CANCEL", "REGISTER", "OPTIONS", "REFER", "NOTIFY",
        ] {
            metrics::counter!("vpbx_sip_requests_total", "direction" => direction, "method" => method)
                .increment(0);
        }
    }
    metrics::counter!("vpbx_sip_responses_total", "direction" => "out", "method" => "INVITE", "code" => "200")
        .increment(0);
    for valid in ["yes", "no"] {
        metrics::counter!("vpbx_sip_tcp_timeouts_total", "valid" => valid).increment(0);
    }
    for kind in sip::gate::SipViolation::LABELS {
        metrics::counter!("vpbx_sip_violations_total", "kind" => *kind).increment(0);
    }
    for reason in [
        vpbx_media::session::DROPPED_SEND_FAILED,
        vpbx_media::session::DROPPED_LINK_FULL,
    ] {
        metrics::counter!("vpbx_rtp_packets_dropped_total", "reason" => reason).increment(0);
    }
    metrics::counter!("vpbx_sip_overload_refusals_total").increment(0);
    metrics::counter!("vpbx_sip_backlog_refusals_total").increment(0);
    metrics::counter!("vpbx_sip_dropped_total", "reason" => "backlog").increment(0);
    for result in ["sent", "failed", "dropped", "disabled"] {
        metrics::counter!("vpbx_voicemail_emails_total", "result" => result).increment(0);
    }
    for gauge in [
        "vpbx_voicemail_email_queue",
        "vpbx_active_calls",
        "vpbx_media_sessions_active",
        "vpbx_cdr_pending",
        "vpbx_queued_callers",
        "vpbx_sip_calls_in_setup",
        "vpbx_sip_backlog",
    ] {
        metrics::gauge!(gauge).increment(0.0);
    }
    // A histogram is rendered once it has a sample; its handle registers the family's help.
    metrics::describe_histogram!(
        "vpbx_rtp_jitter_ms",
        "RTP interarrival jitter of each media leg at its close (RFC 3550), ms"
    );
}

/// Converts every prompt file of the configuration once, off the actor threads, so calls find
/// them in the cache. A file that fails is logged; calls skip it with a reason in their detail.
async fn warm_prompts(media: &MediaEngine, snapshots: &Snapshots, data_dir: &std::path::Path) {
    let cfg = snapshots.current();
    let paths: Vec<_> = cfg
        .files
        .iter()
        .filter_map(|f| match vpbx_store::files::confine(data_dir, &f.path) {
            Ok(p) => Some(p),
            Err(e) => {
                tracing::warn!(file = f.id.0, error = %e, "prompt refused");
                None
            }
        })
        .collect();
    let cache = media.prompts().clone();
    let res = tokio::task::spawn_blocking(move || {
        for p in paths {
            if let Err(e) = cache.get_or_load(&p) {
                tracing::warn!(file = %p.display(), error = %e, "prompt not loadable");
            }
        }
    })
    .await;
    if let Err(e) = res {
        tracing::warn!(error = %e, "prompt warm-up failed");
    }
}

/// The SIP edge's tokio runtime. Shut down in the background on drop, so dropping it from an
/// async context (or while a test unwinds) never blocks or panics.
struct SipRuntime(Option<tokio::runtime::Runtime>);

impl SipRuntime {
    fn new(threads: Option<usize>) -> std::io::Result<Self> {
        let threads = threads.unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
        });
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads.max(1))
            .thread_name("sip")
            .on_thread_park(crate::alloc::give_back_cache)
            .enable_all()
            .build()?;
        Ok(SipRuntime(Some(rt)))
    }

    fn handle(&self) -> tokio::runtime::Handle {
        match &self.0 {
            Some(rt) => rt.handle().clone(),
            // Only after drop; not reachable through `Running`.
            None => tokio::runtime::Handle::current(),
        }
    }
}

impl Drop for SipRuntime {
    fn drop(&mut self) {
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

/// A running switch.
pub struct Running {
    /// The actor tree's live children.
    pub registry: Registry,
    /// Live counters.
    pub stats: Arc<LiveStats>,
    /// The store.
    pub store: Store,
    /// Current configuration.
    pub snapshots: Snapshots,
    /// The media engine (ports in use, prompts).
    pub media: MediaEngine,
    /// The registrar.
    pub registrar: Arc<sip::Registrar>,
    /// What the HTTP edge serves from (tests build the same app with `http::app`).
    pub http_state: crate::http::HttpState,
    /// The HTTPS address bound (with `[http] tls`).
    pub https_addr: Option<std::net::SocketAddr>,
    /// The monitoring address bound (with `[http] monitoring_addr`).
    pub monitoring_addr: Option<std::net::SocketAddr>,
    cdrs: CdrSink,
    mail: vpbx_actors::mailer::MailLink,
    sip: SipEdge,
    sip_runtime: SipRuntime,
    http: Vec<actix_web::dev::ServerHandle>,
    arbiters: Vec<Arbiter>,
}

/// Starts the switch inside the current actix system.
pub async fn start(settings: &Settings) -> Result<Running, StartError> {
    let started = crate::clock::monotonic_now();
    let prometheus = prometheus();
    let store = Store::open(&settings.data_dir)?;
    let cfg = crate::demo::ensure_loaded(
        &store,
        &settings.data_dir,
        settings.demo.as_deref(),
        settings.demo_passwords,
    )?;
    let snapshots = Snapshots::new(cfg);
    let media = MediaEngine::new(MediaConfig {
        bind_ip: settings.rtp_ip,
        port_min: settings.rtp_ports.0,
        port_max: settings.rtp_ports.1,
        inactivity_timeout: Duration::from_secs(settings.rtp_timeout_s),
    });
    warm_prompts(&media, &snapshots, &settings.data_dir).await;
    let (cdrs, _writer) = CdrSink::start(store.clone(), crate::alloc::give_back_cache)?;
    register_metric_families();
    let clock = Arc::new(RealClock);
    let (dialer, dials) = vpbx_actors::leg::Dialer::new();
    let mail = match settings.smtp.mailer() {
        Some(config) => {
            vpbx_actors::mailer::MailLink::start(config, settings.data_dir.clone(), clock.clone())?
        }
        None => {
            tracing::info!("voicemail e-mail off: no SMTP relay configured ([smtp] host)");
            vpbx_actors::mailer::MailLink::default()
        }
    };
    let trunks = Arc::new(sip::trunk::TrunkState::default());
    let numbering =
        vpbx_actors::numbering::NumberingLink::new(vpbx_actors::core::numbering::Registries::new(
            store
                .numbering_files()?
                .into_iter()
                .map(|(name, f)| (name, f.table))
                .collect(),
        ));
    let deps = CallDeps {
        media: media.clone(),
        cdrs: cdrs.clone(),
        data_dir: settings.data_dir.clone(),
        clock: clock.clone(),
        step_budget: 1000,
        tts: vpbx_media::Tts::new(settings.data_dir.join("tts")),
        default_voice: "en".into(),
        dialer,
        dialogs: Default::default(),
        dist: Default::default(),
        mail: mail.clone(),
        store: Some(store.clone()),
        speech_url: settings.speech_url.clone(),
        numbering: numbering.clone(),
    };
    let cores = settings.call_threads.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    });
    let arbiters: Vec<Arbiter> = (0..cores)
        .map(|_| Arbiter::with_tokio_rt(crate::alloc::actor_runtime))
        .collect();
    let handles = arbiters.iter().map(|a| a.handle()).collect();
    let stats = Arc::new(LiveStats::default());
    let registry = Registry::default();
    Switch::new(
        store.clone(),
        snapshots.clone(),
        stats.clone(),
        registry.clone(),
        deps,
        handles,
    )
    .start();
    // The switch publishes its children from `started()`; wait for that before taking calls.
    for _ in 0..100 {
        if registry.children().is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    let registrar = Arc::new(sip::Registrar::new(
        store.clone(),
        "vpbx".to_string(),
        sip::digest::Offer::new(
            settings
                .digest_algorithms
                .iter()
                .filter_map(|a| sip::digest::Algorithm::parse(a))
                .collect(),
            &settings.digest_md5_only_user_agents,
        ),
        vpbx_actors::clock::Clock::unix_ms(clock.as_ref()),
    ));
    for line in registrar.registered_lines() {
        if let Some(c) = registry.children() {
            c.dist.do_send(vpbx_actors::dist::LineRegistration {
                line,
                registered: true,
            });
        }
    }
    // The SIP edge gets its own multi-threaded runtime: SIP parsing, transactions and leg tasks
    // spread over every core instead of sharing the actix system thread.
    let sip_runtime = SipRuntime::new(settings.sip_threads)?;
    let sip_config = SipConfig {
        addr: settings.sip_addr,
        user_agent: settings.sip_user_agent.clone(),
        tcp: settings.sip_tcp.clone(),
        security: settings.security.clone(),
        min_session_expires_s: settings.min_session_expires_s,
        max_calls_in_setup: settings.max_calls_in_setup,
        max_sip_backlog: settings.max_sip_backlog,
        qualify_interval_s: settings.qualify_interval_s,
    };
    let sip_security = Arc::new(sip::security::Security::new(settings.security.clone()));
    let edge_ctx = EdgeContext {
        snapshots: snapshots.clone(),
        registry: registry.clone(),
        registrar: registrar.clone(),
        clock,
        trunks: trunks.clone(),
        security: sip_security.clone(),
    };
    let sip = sip_runtime
        .handle()
        .spawn(sip::start(sip_config, edge_ctx, dials))
        .await
        .map_err(|e| StartError::Io(std::io::Error::other(e.to_string())))??;
    crate::http::auth::ensure_admin(&store, settings.admin_password.as_ref().map(|p| p.expose()))?;
    let http_state = crate::http::HttpState {
        stats: stats.clone(),
        store: store.clone(),
        prometheus,
        sip_listeners: sip.listeners().to_vec(),
        started,
        snapshots: snapshots.clone(),
        registry: registry.clone(),
        presence: Arc::new(sip::EdgePresence {
            registrar: registrar.clone(),
            trunks,
        }),
        auth: Arc::new(crate::http::auth::AuthState::with(
            crate::http::auth::AuthPolicy {
                max_verifies: settings.http.login_verifies,
                ..Default::default()
            },
            settings.security.trusted_networks.clone(),
            settings.http.tls,
        )),
        sip_security,
        numbering,
        server_header: if settings.http.server_version {
            crate::http::SERVER_NAME_VERSION
        } else {
            crate::http::SERVER_NAME
        },
    };
    let listen = crate::http::Listen {
        http_addr: settings.http_addr,
        http: settings.http.clone(),
        data_dir: settings.data_dir.clone(),
    };
    let started_http = crate::http::start(&listen, http_state.clone())?;
    let (https_addr, monitoring_addr) = (started_http.https_addr, started_http.monitoring_addr);
    let mut http = Vec::new();
    for server in started_http.servers {
        http.push(server.handle());
        actix_rt::spawn(server);
    }
    // Where a newcomer finds the API reference (the page needs no login).
    let api_docs = match https_addr {
        Some(a) => format!("https://{a}{}", crate::http::reference::PAGE_PATH),
        None => format!(
            "http://{}{}",
            settings.http_addr,
            crate::http::reference::PAGE_PATH
        ),
    };
    tracing::info!(
        sip = %settings.sip_addr,
        http = %settings.http_addr,
        https = %https_addr.map_or_else(|| "off".to_string(), |a| a.to_string()),
        monitoring = %monitoring_addr.map_or_else(|| "on http".to_string(), |a| a.to_string()),
        data = %settings.data_dir.display(),
        api_docs = %api_docs,
        "vpbx is up"
    );
    Ok(Running {
        registry,
        stats,
        store,
        snapshots,
        media,
        registrar,
        http_state,
        https_addr,
        monitoring_addr,
        cdrs,
        mail,
        sip,
        sip_runtime,
        http,
        arbiters,
    })
}

impl Running {
    /// Clean shutdown: live calls get a BYE, the store is flushed.
    pub async fn shutdown(self) {
        self.sip.stop_accepting();
        if let Some(children) = self.registry.children() {
            let n = children.calls.send(EndAllCalls).await.unwrap_or(0);
            tracing::info!(calls = n, "shutdown: ending live calls");
        }
        // Bounded wait for the calls' BYEs to go out and their CDRs to be queued.
        for _ in 0..100 {
            if self.stats.active_calls() <= 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // Give the leg tasks a moment to put their BYEs on the wire.
        tokio::time::sleep(Duration::from_millis(200)).await;
        // Voicemail e-mail in flight or due gets a bounded moment; retries waiting are lost.
        match tokio::time::timeout(Duration::from_secs(5), self.mail.flush()).await {
            Ok(0) => {}
            Ok(n) => tracing::warn!(messages = n, "shutdown: voicemail e-mails left unsent"),
            Err(_) => tracing::warn!("shutdown: the mail relay did not answer in time"),
        }
        for h in &self.http {
            h.stop(true).await;
        }
        self.sip.shutdown();
        drop(self.sip_runtime);
        for a in &self.arbiters {
            a.stop();
        }
        let cdrs = self.cdrs.clone();
        let synced = tokio::task::spawn_blocking(move || cdrs.sync(Duration::from_secs(5)))
            .await
            .unwrap_or(false);
        if !synced {
            tracing::error!("CDR writer did not confirm before shutdown");
        }
        if let Err(e) = self.store.flush() {
            tracing::error!(error = %e, "final store flush failed");
        }
        tracing::info!("vpbx stopped");
    }
}
