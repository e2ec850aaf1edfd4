//! The SIP edge: rsipstack does transport (UDP and TCP), transactions and dialogs; this module
//! validates what arrives, routes new calls and turns each inbound INVITE into a [`Leg`] for a
//! call actor. No rsipstack type leaves this module.
//!
//! Shape (like quinn's `Endpoint::handle`): the router task takes every new server transaction and
//! either answers it statelessly (OPTIONS, 4xx/5xx for faults and unroutable calls), hands it to
//! an existing dialog (BYE, re-INVITE, in-dialog OPTIONS), or starts a call: a leg task owns the
//! dialog and talks to the call actor through `LegCommand`/`LegEvent` channels.

pub mod digest;
pub mod gate;
mod in_dialog;
mod inspector;
pub mod invite;
mod leg;
pub mod nat;
mod outleg;
pub mod overload;
mod qualify;
pub mod refer;
mod register;
pub mod registrar;
pub mod security;
mod states;
pub mod timer;
mod transport;
pub mod trunk;

pub use register::Registrar;

use crate::clock::RealClock;
use invite::{InviteView, Refusal, ReplyHeader};
use rsipstack::dialog::dialog::{Dialog, DialogState};
use rsipstack::dialog::dialog_layer::DialogLayer;
use rsipstack::dialog::invite_dialog::InviteDialog;
use rsipstack::dialog::DialogId;
use rsipstack::sip::prelude::HeadersExt;
use rsipstack::sip::{Header, Method, StatusCode};
use rsipstack::transaction::transaction::Transaction;
use rsipstack::transport::{udp::UdpConnection, TransportLayer};
use rsipstack::EndpointBuilder;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};
use vpbx_actors::call::{CallId, CallSetup};
use vpbx_actors::call_supervisor::{RecordRefusal, StartCall};
use vpbx_actors::clock::Clock;
use vpbx_actors::config_hub::Snapshots;
use vpbx_actors::leg::{Leg, LegInfo};
use vpbx_actors::pii::Pii;
use vpbx_actors::switch::Registry;
use vpbx_store::model::CompanyConfig;

/// Errors starting the SIP edge.
#[derive(Debug, thiserror::Error)]
pub enum SipError {
    /// A listener could not be bound.
    #[error("cannot listen on {addr}: {reason}")]
    Bind {
        /// Address.
        addr: SocketAddr,
        /// Why.
        reason: String,
    },
    /// The stack refused to start.
    #[error("SIP stack: {0}")]
    Stack(String),
}

pub use gate::ALLOW;
use security::Security;

/// Settings of the SIP edge.
#[derive(Debug, Clone)]
pub struct SipConfig {
    /// Listen address for UDP and TCP.
    pub addr: SocketAddr,
    /// `User-Agent`/`Server` value.
    pub user_agent: String,
    /// Flood and auth-failure bans.
    pub security: crate::settings::SecuritySettings,
    /// SIP over TCP: connection caps and timeouts.
    pub tcp: crate::settings::SipTcpSettings,
    /// Smallest session interval accepted (RFC 4028 `Min-SE`).
    pub min_session_expires_s: u32,
    /// Seconds between OPTIONS probes of registered contacts (0: none).
    pub qualify_interval_s: u64,
    /// Calls in setup at once before new INVITEs get 503 (0: no bound; D73).
    pub max_calls_in_setup: usize,
    /// SIP messages over UDP the stack has not taken up yet before new INVITEs get 503 at the
    /// gate (0: no bound; D73).
    pub max_sip_backlog: usize,
}

/// What the edge needs from the rest of the switch.
#[derive(Clone)]
pub struct EdgeContext {
    /// Current configuration.
    pub snapshots: Snapshots,
    /// The actor tree.
    pub registry: Registry,
    /// Wall time for routing.
    pub clock: Arc<RealClock>,
    /// Registrations of the SIP lines.
    pub registrar: Arc<Registrar>,
    /// Trunk channels and registration state.
    pub trunks: Arc<trunk::TrunkState>,
    /// Per-source bans and counts (shared with the admin API, which lists and lifts bans).
    pub security: Arc<Security>,
}

/// The SIP edge's live state as the read model ([`crate::presence`]) shows it to other edges.
pub struct EdgePresence {
    /// Registrations of the SIP lines.
    pub registrar: Arc<Registrar>,
    /// Trunk channels and registration state.
    pub trunks: Arc<trunk::TrunkState>,
}

impl crate::presence::Presence for EdgePresence {
    fn line_contacts(
        &self,
        line: vpbx_store::model::SipLineId,
    ) -> Vec<crate::presence::LineContact> {
        self.registrar
            .bindings(line)
            .into_iter()
            .map(|b| crate::presence::LineContact {
                reachable: self.registrar.contact_reachable(line, &b.contact),
                contact: b.contact,
                source: b.source,
                transport: b.transport,
                user_agent: b.user_agent,
                expires_unix_ms: b.expires_unix_ms,
            })
            .collect()
    }

    fn trunk_status(&self, trunk: &vpbx_store::model::Trunk) -> crate::presence::TrunkStatus {
        self.trunks.status(trunk)
    }
}

/// A running SIP edge.
pub struct SipEdge {
    cancel: CancellationToken,
    listeners: Vec<String>,
    accepting: Arc<AtomicBool>,
}

impl SipEdge {
    /// Human-readable listeners, e.g. `udp:127.0.0.1:5060`.
    pub fn listeners(&self) -> &[String] {
        &self.listeners
    }

    /// Stop taking new calls (they get 503); calls in progress go on.
    pub fn stop_accepting(&self) {
        self.accepting.store(false, Ordering::SeqCst);
    }

    /// Stop the stack: listeners close, transactions end.
    pub fn shutdown(&self) {
        self.cancel.cancel();
    }
}

/// Binds UDP and TCP on `cfg.addr` and starts serving on the current runtime; outbound legs
/// asked for on `dials` are placed from here.
pub async fn start(
    cfg: SipConfig,
    ctx: EdgeContext,
    dials: tokio::sync::mpsc::UnboundedReceiver<vpbx_actors::leg::Dial>,
) -> Result<SipEdge, SipError> {
    let cancel = CancellationToken::new();
    let transport = TransportLayer::new(cancel.clone());
    let io_err = |e: std::io::Error| SipError::Bind {
        addr: cfg.addr,
        reason: e.to_string(),
    };
    let security = ctx.security.clone();
    let annotations = Arc::new(inspector::Annotations::default());
    // UDP: rsipstack reads through our gate socket (see `transport`).
    let udp_socket = tokio::net::UdpSocket::bind(cfg.addr)
        .await
        .map_err(io_err)?;
    let backlog = overload::Backlog::new(cfg.max_sip_backlog);
    let gate_socket: Arc<dyn rsipstack::platform::net::UdpSocket> =
        Arc::new(transport::GateSocket::new(
            udp_socket,
            security.clone(),
            cfg.user_agent.clone(),
            backlog.clone(),
        ));
    let udp = UdpConnection::from_socket(gate_socket, None, Some(cancel.child_token()))
        .await
        .map_err(|e| SipError::Bind {
            addr: cfg.addr,
            reason: e.to_string(),
        })?;
    transport.add_transport(udp.into());
    // TCP: our own listener frames and gates, then hands messages to the stack over channels.
    let tcp = tokio::net::TcpListener::bind(cfg.addr)
        .await
        .map_err(io_err)?;

    let endpoint = EndpointBuilder::new()
        .with_cancel_token(cancel.clone())
        .with_transport_layer(transport)
        .with_user_agent(&cfg.user_agent)
        .with_inspector(Box::new(inspector::Metrics {
            annotations: annotations.clone(),
        }))
        .with_transport_inspector(Box::new(transport::BacklogTaken(backlog)))
        .build();
    let incoming = endpoint
        .incoming_transactions()
        .map_err(|e| SipError::Stack(e.to_string()))?;
    let dialogs = Arc::new(DialogLayer::new(endpoint.inner.clone()));
    let listeners = vec![format!("udp:{}", cfg.addr), format!("tcp:{}", cfg.addr)];
    let accepting = Arc::new(AtomicBool::new(true));

    let nofile = rlimit::getrlimit(rlimit::Resource::NOFILE)
        .ok()
        .map(|(soft, _)| soft);
    let tcp_limits =
        transport::TcpLimits::resolve(&cfg.tcp, &cfg.security.trusted_networks, nofile);
    if let Some(n) = nofile {
        if tcp_limits.max_total as u64 + u64::from(cfg.tcp.fd_reserve) > n {
            warn!(
                open_files = n,
                max_connections = tcp_limits.max_total,
                fd_reserve = cfg.tcp.fd_reserve,
                "sip_tcp.max_connections leaves fewer descriptors than fd_reserve for the rest"
            );
        }
    }
    info!(
        open_files = ?nofile,
        max_connections = tcp_limits.max_total,
        max_connections_per_ip = tcp_limits.max_per_source,
        "SIP TCP connection caps"
    );
    tokio::spawn(transport::serve_tcp(
        tcp,
        endpoint.inner.clone(),
        security.clone(),
        cfg.user_agent.clone(),
        tcp_limits,
        cancel.child_token(),
    ));
    let inner = endpoint.inner.clone();
    tokio::spawn(async move {
        if let Err(e) = inner.serve().await {
            warn!(error = %e, "SIP endpoint stopped");
        }
    });
    let router_ctx = ctx.clone();
    tokio::spawn(outleg::serve(
        dials,
        Arc::new(outleg::Outbound {
            dialogs: dialogs.clone(),
            ctx: ctx.clone(),
            local: cfg.addr,
            annotations: annotations.clone(),
            states: states::StateRouter::start(states::KeyBy::CallId),
        }),
    ));
    if cfg.qualify_interval_s > 0 {
        tokio::spawn(qualify::run(
            endpoint.inner.clone(),
            ctx.registrar.clone(),
            ctx.registry.clone(),
            std::time::Duration::from_secs(cfg.qualify_interval_s),
            cancel.child_token(),
        ));
    }
    tokio::spawn(trunk::registrations(
        endpoint.inner.clone(),
        ctx.snapshots.clone(),
        ctx.trunks.clone(),
        cancel.child_token(),
    ));
    let router = Router {
        dialogs,
        ctx,
        contact: format!("sip:vpbx@{}", cfg.addr),
        accepting: accepting.clone(),
        security,
        min_se: cfg.min_session_expires_s,
        annotations,
        setup: overload::SetupGauge::new(cfg.max_calls_in_setup),
        states: states::StateRouter::start(states::KeyBy::CallIdAndRemoteTag),
    };
    tokio::spawn(router.run(incoming));
    tokio::spawn(expire_registrations(
        router_ctx.registrar.clone(),
        router_ctx.registry.clone(),
        router_ctx.clock.clone(),
        cancel.clone(),
    ));
    info!(addr = %cfg.addr, "SIP listening on UDP and TCP");
    Ok(SipEdge {
        cancel,
        listeners,
        accepting,
    })
}

struct Router {
    dialogs: Arc<DialogLayer>,
    ctx: EdgeContext,
    contact: String,
    accepting: Arc<AtomicBool>,
    security: Arc<Security>,
    min_se: u32,
    annotations: Arc<inspector::Annotations>,
    /// The calls in setup and their bound (early shedding).
    setup: Arc<overload::SetupGauge>,
    /// The states of the dialogs of the calls we receive, routed to their legs.
    states: Arc<states::StateRouter>,
}

/// Answers a transaction with a status and an optional specific reason phrase.
/// How long an in-dialog request waits for the SIP stack's side of its dialog (D55, D64): in
/// steps of [`DIALOG_WAIT_STEP`].
const DIALOG_WAIT_STEPS: u32 = 100;
const DIALOG_WAIT_STEP: std::time::Duration = std::time::Duration::from_millis(20);

/// Requests the SIP stack only takes in a confirmed dialog (it drops the others, unanswered,
/// while it waits for the ACK of its 2xx or handles another in-dialog request).
fn needs_confirmed(m: &Method) -> bool {
    !matches!(
        m,
        Method::Ack | Method::Bye | Method::Cancel | Method::Invite | Method::PRack
    )
}

/// Waits (bounded) until the dialog is confirmed or over: every request reaches its handler in
/// its own task, so an INFO sent right after the ACK can be looked at before the ACK confirmed
/// the dialog, and the stack would drop it without an answer (a lost key press). Answers
/// whether it is confirmed (or over: the stack answers that itself).
async fn confirmed(d: &InviteDialog) -> bool {
    for _ in 0..DIALOG_WAIT_STEPS {
        match d.state() {
            DialogState::Confirmed(..) | DialogState::Terminated(..) => return true,
            _ => tokio::time::sleep(DIALOG_WAIT_STEP).await,
        }
    }
    false
}

async fn reply(tx: &mut Transaction, code: u16, reason: Option<&str>, extra: Vec<Header>) {
    let mut headers = extra;
    if let Some(r) = reason {
        headers.push(Header::Warning(
            format!("399 vpbx \"{}\"", r.replace('"', "'")).into(),
        ));
    }
    if let Err(e) = tx.reply_with(StatusCode::from(code), headers, None).await {
        debug!(error = %e, code, "reply failed");
    }
}

impl Router {
    async fn run(self, mut incoming: rsipstack::transaction::TransactionReceiver) {
        let me = Arc::new(self);
        while let Some(tx) = incoming.recv().await {
            let me = me.clone();
            tokio::spawn(async move { me.handle(tx).await });
        }
    }

    async fn handle(&self, mut tx: Transaction) {
        // Requests reach the router only after the gate (`gate::check`) has validated them.
        let in_dialog = tx
            .original
            .to_header()
            .ok()
            .and_then(|t| t.tag().ok().flatten())
            .is_some();
        if in_dialog {
            return self.in_dialog(tx).await;
        }
        match tx.original.method {
            Method::Invite => self.invite(tx).await,
            Method::Options => {
                let headers = vec![
                    Header::Allow(ALLOW.into()),
                    Header::Accept("application/sdp".into()),
                ];
                reply(&mut tx, 200, None, headers).await;
            }
            Method::Register => {
                register::handle(
                    &mut tx,
                    &self.ctx.registrar,
                    &self.security,
                    &self.ctx.snapshots,
                    &self.ctx.registry,
                    self.ctx.clock.as_ref(),
                )
                .await
            }
            Method::Ack => {}
            Method::Bye => reply(&mut tx, 481, None, vec![]).await,
            Method::Refer | Method::Info | Method::Update => {
                // These work inside a call only (RFC 3515, 6086, 3311): outside one there is
                // no call to act on.
                let why = format!("{} is accepted only within a call", tx.original.method);
                reply(&mut tx, 481, Some(&why), vec![]).await;
            }
            _ => {
                let headers = vec![Header::Allow(ALLOW.into())];
                reply(&mut tx, 501, None, headers).await;
            }
        }
    }

    async fn in_dialog(&self, mut tx: Transaction) {
        let mut matched = self.dialogs.match_dialog(&tx);
        if matched.is_none() && tx.original.method != Method::Ack {
            // rsipstack files an outbound dialog under its confirmed id only after it sent the
            // ACK for the 200: a request the answering phone sends at once (a BYE right after
            // answering) finds no dialog for that moment. While an outbound INVITE of that
            // Call-ID is still unconfirmed, wait a little for it (D55) instead of a 481 that
            // would leave the call up.
            let call_id = tx
                .original
                .call_id_header()
                .map(|c| c.value().to_string())
                .unwrap_or_default();
            for _ in 0..DIALOG_WAIT_STEPS {
                if self
                    .dialogs
                    .get_client_dialog_by_call_id(&call_id)
                    .is_empty()
                {
                    break;
                }
                tokio::time::sleep(DIALOG_WAIT_STEP).await;
                matched = self.dialogs.match_dialog(&tx);
                if matched.is_some() {
                    break;
                }
            }
        }
        if matched.is_some() {
            // A request of a live dialog is not part of an anonymous flood (security.rs).
            if let Some(ip) = peer_ip(&tx) {
                self.security.in_dialog(ip);
            }
        }
        match matched {
            Some(Dialog::Invite(mut d)) => {
                if needs_confirmed(&tx.original.method) && !confirmed(&d).await {
                    // Still not confirmed: the peer retries later (RFC 3261 §14.2 for INVITE;
                    // the same meaning for the other requests).
                    reply(
                        &mut tx,
                        491,
                        Some("the dialog is not confirmed yet"),
                        vec![],
                    )
                    .await;
                    return;
                }
                if let Err(e) = d.handle(&mut tx).await {
                    debug!(error = %e, "in-dialog request failed");
                }
            }
            Some(_) => reply(&mut tx, 501, None, vec![]).await,
            None => {
                if tx.original.method != Method::Ack {
                    reply(&mut tx, 481, None, vec![]).await;
                }
            }
        }
    }

    async fn invite(&self, mut tx: Transaction) {
        let now = self.ctx.clock.unix_ms();
        let snapshot = self.ctx.snapshots.current();
        let slot = self.setup.try_enter();
        let view = self.read_invite(&tx, &snapshot, now, slot.is_none());
        let admitted = match invite::admit(&view, &snapshot, now) {
            Ok(a) => a,
            Err(refusal) => return self.refuse(&mut tx, &view, refusal, now).await,
        };
        let Some(children) = self.ctx.registry.children() else {
            return self.refuse(&mut tx, &view, Refusal::Starting, now).await;
        };
        if !tx
            .original
            .headers
            .iter()
            .any(|h| matches!(h, Header::Contact(_)))
        {
            return self.refuse(&mut tx, &view, Refusal::NoContact, now).await;
        }
        fix_nat_contact(&mut tx);
        let Some((dialog, state_rx)) = self.server_dialog(&tx) else {
            return self.refuse(&mut tx, &view, Refusal::NoDialog, now).await;
        };
        let dialog_id: DialogId = dialog.id();
        let call_id = CallId(new_call_id());
        debug!(call_id = %call_id, numa = %Pii(&admitted.numa), numb = %admitted.numb, "new call");
        let (cmd_tx, cmd_rx) = tokio::sync::mpsc::unbounded_channel();
        let (ev_tx, ev_rx) = tokio::sync::mpsc::unbounded_channel();
        let info = LegInfo {
            sip_call_id: view.sip_call_id,
            numa: admitted.numa,
            numb: admitted.numb,
            offer: admitted.offer,
            local_tag: dialog_id.local_tag.clone(),
            remote_tag: dialog_id.remote_tag.clone(),
        };
        children.calls.do_send(StartCall(CallSetup {
            call_id: call_id.clone(),
            leg: Leg {
                info,
                commands: cmd_tx,
                events: ev_rx,
            },
            routed: Some(admitted.routed),
            scenario: Arc::new(admitted.scenario),
            snapshot,
            outbound_caller_id: admitted.outbound_caller_id,
            caller_line: admitted.caller_line,
            origin: None,
        }));
        leg::run(leg::LegTask {
            call_id,
            dialog,
            tx,
            states: state_rx,
            commands: cmd_rx,
            events: ev_tx,
            session_timer: admitted.session_timer,
            annotations: self.annotations.clone(),
            setup: slot,
        })
        .await;
        self.dialogs.remove_dialog(&dialog_id);
    }

    /// The dialog of an admitted INVITE and the channel of its state changes.
    fn server_dialog(&self, tx: &Transaction) -> Option<(InviteDialog, states::StateStream)> {
        let mut state_rx = self.states.stream();
        match rsipstack::dialog::DialogId::try_from(tx) {
            Ok(id) => state_rx.add(&id.call_id, &id.remote_tag),
            Err(e) => {
                warn!(error = %e, "cannot create dialog");
                return None;
            }
        }
        let contact = rsipstack::sip::Uri::try_from(self.contact.as_str()).ok();
        match self
            .dialogs
            .get_or_create_server_invite(tx, self.states.sender(), None, contact)
        {
            Ok(d) => Some((d, state_rx)),
            Err(e) => {
                warn!(error = %e, "cannot create dialog");
                None
            }
        }
    }

    /// Reads an INVITE into plain data for [`invite::admit`]; a phone's own call is checked
    /// against the lines' credentials here (the registrar's nonces and bans are state).
    fn read_invite(
        &self,
        tx: &Transaction,
        snapshot: &CompanyConfig,
        now: u64,
        overloaded: bool,
    ) -> InviteView {
        let req = &tx.original;
        let user_of = |uri: Option<rsipstack::sip::Uri>| {
            uri.and_then(|u| u.user().map(str::to_string))
                .unwrap_or_default()
        };
        let mut view = InviteView {
            request_user: req.uri.user().unwrap_or_default().to_string(),
            to_user: user_of(req.to_header().ok().and_then(|t| t.uri().ok())),
            from_user: user_of(req.from_header().ok().and_then(|f| f.uri().ok())),
            sip_call_id: req
                .call_id_header()
                .map(|c| c.value().to_string())
                .unwrap_or_default(),
            body: String::from_utf8_lossy(&req.body).into_owned(),
            session_expires: req.headers.iter().find_map(|h| match h {
                Header::SessionExpires(v) => Some(v.value().to_string()),
                Header::Other(n, v) if n.eq_ignore_ascii_case("x") => Some(v.clone()),
                _ => None,
            }),
            supports_timer: req.headers.iter().any(|h| match h {
                Header::Supported(v) => v
                    .value()
                    .split(',')
                    .any(|t| t.trim().eq_ignore_ascii_case("timer")),
                _ => false,
            }),
            phone: None,
            accepting: self.accepting.load(Ordering::SeqCst),
            overloaded,
            started: self.ctx.registry.children().is_some(),
            min_se: self.min_se,
        };
        if invite::needs_phone_auth(&view, snapshot) {
            view.phone = Some(self.ctx.registrar.authenticate(
                req,
                "INVITE",
                &self.ctx.snapshots,
                &self.security,
                peer_ip(tx),
                now,
            ));
        }
        view
    }

    /// The one place an INVITE is refused: a refused call is recorded by the call supervisor
    /// (the only CDR writer besides the calls), then the final response goes out.
    async fn refuse(&self, tx: &mut Transaction, view: &InviteView, refusal: Refusal, now: u64) {
        let answer = refusal.reply();
        if let Refusal::Call {
            numa,
            numb,
            refused,
        } = refusal
        {
            if answer.code >= 500 {
                warn!(numb = %numb, reason = %refused, "broken routing");
            } else {
                debug!(numa = %Pii(&numa), numb = %numb, code = answer.code, reason = %refused, "call refused");
            }
            match self.ctx.registry.children() {
                Some(c) => c.calls.do_send(RecordRefusal {
                    call_id: CallId(new_call_id()),
                    sip_call_id: view.sip_call_id.clone(),
                    numa,
                    numb,
                    at_unix_ms: now,
                    code: answer.code,
                    refused,
                }),
                None => warn!("call supervisor not up: a refused call is not recorded"),
            }
        } else {
            debug!(code = answer.code, reason = ?answer.warning, "INVITE refused");
        }
        let headers = answer
            .headers
            .into_iter()
            .map(|h| match h {
                ReplyHeader::ProxyAuthenticate(v) => Header::ProxyAuthenticate(v.into()),
                ReplyHeader::MinSe(s) => Header::Other("Min-SE".into(), s.to_string()),
                ReplyHeader::RetryAfter(s) => Header::RetryAfter(s.to_string().into()),
            })
            .collect();
        reply(tx, answer.code, answer.warning.as_deref(), headers).await;
    }
}

/// NAT: the dialog's remote target is where the INVITE came from (UDP).
fn fix_nat_contact(tx: &mut Transaction) {
    let Some(received) = udp_source(tx) else {
        return;
    };
    for h in tx.original.headers.iter_mut() {
        if let Header::Contact(c) = h {
            if let Some(fixed) = nat::fix_contact(c.value(), received) {
                debug!(contact = %c.value(), %fixed, "Contact rewritten for NAT");
                *h = Header::Contact(fixed.into());
            }
            break;
        }
    }
}

/// The UDP address a request came from (`None` over TCP: the connection is the path back).
fn udp_source(tx: &Transaction) -> Option<SocketAddr> {
    let remote = tx.connection.as_ref()?.get_remote_addr()?;
    if matches!(remote.r#type, Some(rsipstack::sip::Transport::Tcp)) {
        return None;
    }
    SocketAddr::try_from(remote.addr.clone()).ok()
}

/// The address a request really came from.
fn peer_ip(tx: &Transaction) -> Option<std::net::IpAddr> {
    tx.connection
        .as_ref()
        .and_then(|c| c.get_remote_addr())
        .and_then(|a| std::net::SocketAddr::try_from(a.addr.clone()).ok())
        .map(|a| a.ip())
}

/// Every 5 s, drop expired registrations and tell the agent lines that lost their last contact.
async fn expire_registrations(
    registrar: Arc<Registrar>,
    registry: Registry,
    clock: Arc<RealClock>,
    cancel: CancellationToken,
) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(5));
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tick.tick() => {}
        }
        let gone = registrar.expire(clock.unix_ms());
        if let Some(c) = registry.children() {
            for line in gone {
                c.dist.do_send(vpbx_actors::dist::LineRegistration {
                    line,
                    registered: false,
                });
            }
        }
    }
}

fn new_call_id() -> String {
    use rand::Rng;
    let n: u64 = rand::thread_rng().gen();
    format!("{n:016x}")
}
