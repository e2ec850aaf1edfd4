//! The registrar shell: authenticates REGISTER with digest (401 challenges, 403 for bad
//! credentials — the same for unknown users, so extensions cannot be enumerated), applies it to the
//! pure binding [`Table`](super::registrar::Table), persists the changes and tells the agent lines.

use super::digest::{self, NonceCheck, NonceKey};
use super::invite::PhoneAuth;
use super::registrar::{Change, Contacts, Limits, Outcome, Register, Table};
use super::security::{AccountCheck, Security};
use rsipstack::sip::prelude::HeadersExt;
use rsipstack::sip::{Header, StatusCode};
use rsipstack::transaction::transaction::Transaction;
use rsipstack::transport::connection::SipConnection;
use std::sync::{Arc, Mutex};
use tracing::{info, warn};
use vpbx_actors::clock::Clock;
use vpbx_actors::config_hub::Snapshots;
use vpbx_actors::dist::LineRegistration;
use vpbx_actors::switch::Registry;
use vpbx_store::registrations::Binding;
use vpbx_store::Store;

/// Shared registrar state.
pub struct Registrar {
    table: Mutex<Table>,
    limits: Limits,
    nonces: NonceKey,
    realm: String,
    offer: digest::Offer,
    store: Store,
    /// OPTIONS probes in a row without an answer, per (line, contact).
    misses: Mutex<std::collections::HashMap<(vpbx_store::model::SipLineId, String), u32>>,
}

impl Registrar {
    /// A registrar over the bindings stored in `store` (expired ones are dropped), challenging
    /// as `offer` says.
    pub fn new(store: Store, realm: String, offer: digest::Offer, now_ms: u64) -> Self {
        let stored = store.bindings().unwrap_or_else(|e| {
            warn!(error = %e, "stored registrations unreadable; starting empty");
            Vec::new()
        });
        let (table, removed) = Table::load(stored, now_ms);
        persist(&store, &removed);
        let mut secret = [0u8; 32];
        rand::Rng::fill(&mut rand::thread_rng(), &mut secret);
        Registrar {
            table: Mutex::new(table),
            limits: Limits::default(),
            nonces: NonceKey::new(secret, 300_000),
            realm,
            offer,
            store,
            misses: Mutex::new(Default::default()),
        }
    }

    fn misses(
        &self,
    ) -> std::sync::MutexGuard<
        '_,
        std::collections::HashMap<(vpbx_store::model::SipLineId, String), u32>,
    > {
        self.misses.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records an OPTIONS probe of a contact.
    pub fn probed(
        &self,
        line: vpbx_store::model::SipLineId,
        contact: &str,
        answered: bool,
        _max: u32,
    ) {
        let mut m = self.misses();
        if answered {
            m.remove(&(line, contact.to_string()));
        } else {
            *m.entry((line, contact.to_string())).or_insert(0) += 1;
        }
    }

    /// Whether a contact answered recently enough (fewer than the allowed misses in a row).
    pub fn contact_reachable(&self, line: vpbx_store::model::SipLineId, contact: &str) -> bool {
        self.misses()
            .get(&(line, contact.to_string()))
            .is_none_or(|n| *n < super::qualify::MISSES)
    }

    /// Whether a line has a registered contact that is reachable.
    pub fn line_reachable(&self, line: vpbx_store::model::SipLineId) -> bool {
        self.bindings(line)
            .iter()
            .any(|b| self.contact_reachable(line, &b.contact))
    }

    /// Live bindings of a line.
    pub fn bindings(&self, line: vpbx_store::model::SipLineId) -> Vec<Binding> {
        match self.table.lock() {
            Ok(t) => t.of(line).to_vec(),
            Err(p) => p.into_inner().of(line).to_vec(),
        }
    }

    /// Lines registered now.
    pub fn registered_lines(&self) -> Vec<vpbx_store::model::SipLineId> {
        match self.table.lock() {
            Ok(t) => t.registered_lines(),
            Err(p) => p.into_inner().registered_lines(),
        }
    }

    /// Drops expired bindings; returns the lines that lost their last binding.
    pub fn expire(&self, now_ms: u64) -> Vec<vpbx_store::model::SipLineId> {
        let changes = match self.table.lock() {
            Ok(mut t) => t.expire(now_ms),
            Err(p) => p.into_inner().expire(now_ms),
        };
        persist(&self.store, &changes);
        let mut lines: Vec<_> = changes
            .iter()
            .filter_map(|c| match c {
                Change::Remove(l, _) => Some(*l),
                Change::Put(_) => None,
            })
            .collect();
        lines.dedup();
        lines.retain(|l| self.bindings(*l).is_empty());
        lines
    }
}

impl Registrar {
    /// Authenticates a request with `Proxy-Authorization` digest credentials against the SIP
    /// lines (RFC 3261 §22.3: a server that is not the registrar challenges with 407). Failures
    /// count towards the source's auth-failure ban.
    pub fn authenticate(
        &self,
        req: &rsipstack::sip::Request,
        method: &str,
        snapshots: &Snapshots,
        security: &Security,
        peer_ip: Option<std::net::IpAddr>,
        now: u64,
    ) -> PhoneAuth {
        let creds = req.headers.iter().find_map(|h| match h {
            Header::ProxyAuthorization(a) => digest::parse_credentials(a.value()),
            _ => None,
        });
        let challenge = |stale: bool| {
            let nonce = self.nonces.issue(now);
            PhoneAuth::Challenge(digest::challenges(
                &self.realm,
                &nonce,
                stale,
                self.offer.for_agent(user_agent(req).as_deref()),
            ))
        };
        let Some(creds) = creds else {
            return challenge(false);
        };
        match self.nonces.check(&creds.nonce, now) {
            NonceCheck::Fresh => {}
            NonceCheck::Stale => return challenge(true),
            _ => return challenge(false),
        }
        if let Some(why) = account_refusal(security, &creds.username, peer_ip) {
            return PhoneAuth::Throttled(why);
        }
        let snapshot = snapshots.current();
        let line = snapshot.sip_line_by_login(&creds.username);
        let password = line.map(|(_, l)| l.password.as_str());
        match (digest::verify(&creds, method, &self.realm, password), line) {
            (Ok(()), Some((_, l))) => {
                if let Some(ip) = peer_ip {
                    security.auth_succeeded(ip);
                }
                PhoneAuth::Line(l.login.clone())
            }
            _ => {
                security.account_failed(&creds.username, peer_ip);
                metrics::counter!("vpbx_sip_auth_failures_total", "method" => method.to_string())
                    .increment(1);
                warn!(
                    security = "auth_failure",
                    method, "request with bad credentials"
                );
                if let Some(ip) = peer_ip {
                    security.auth_failed(ip);
                }
                PhoneAuth::Refused
            }
        }
    }
}

/// Why an attempt on `login` is refused without verifying it (see
/// [`Accounts`](super::security::Accounts)), or None to verify it.
fn account_refusal(
    security: &Security,
    login: &str,
    peer_ip: Option<std::net::IpAddr>,
) -> Option<String> {
    match security.account_check(login, peer_ip) {
        AccountCheck::Verify => None,
        AccountCheck::Wait(ms) => Some(format!(
            "too many failed authentications for this account; retry in {} s",
            ms.div_ceil(1000)
        )),
        AccountCheck::Blocked(ms) => Some(format!(
            "account blocked after too many failed authentications; retry in {} s",
            ms.div_ceil(1000)
        )),
    }
}

fn persist(store: &Store, changes: &[Change]) {
    for c in changes {
        let r = match c {
            Change::Put(b) => store.put_binding(b),
            Change::Remove(line, contact) => store.remove_binding(*line, contact),
        };
        if let Err(e) = r {
            warn!(error = %e, "persisting a registration failed");
        }
    }
}

/// Splits Contact header values into URIs with their `expires` parameter; `*` is `Star`.
fn parse_contacts(values: &[String]) -> Result<Contacts, &'static str> {
    let mut list = Vec::new();
    let mut star = false;
    for v in values {
        for item in split_top(v, ',') {
            let item = item.trim();
            if item.is_empty() {
                continue;
            }
            if item == "*" {
                star = true;
                continue;
            }
            let (uri, params) = match (item.find('<'), item.find('>')) {
                (Some(a), Some(b)) if a < b => (&item[a + 1..b], &item[b + 1..]),
                _ => match item.split_once(';') {
                    Some((u, p)) => (u, p),
                    None => (item, ""),
                },
            };
            let expires = params
                .split(';')
                .filter_map(|p| p.trim().split_once('='))
                .find(|(k, _)| k.trim().eq_ignore_ascii_case("expires"))
                .map(|(_, v)| v.trim().parse::<u32>().map_err(|_| "bad expires parameter"))
                .transpose()?;
            if !uri.trim().to_ascii_lowercase().starts_with("sip") {
                return Err("Contact must be a SIP URI");
            }
            list.push((uri.trim().to_string(), expires));
        }
    }
    match (star, list.is_empty()) {
        (true, true) => Ok(Contacts::Star),
        (true, false) => Err("Contact: * cannot be mixed with other contacts"),
        (false, true) => Ok(Contacts::Query),
        (false, false) => Ok(Contacts::List(list)),
    }
}

fn split_top(s: &str, sep: char) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut quoted, mut start) = (0i32, false, 0usize);
    for (i, c) in s.char_indices() {
        match c {
            '"' => quoted = !quoted,
            '<' if !quoted => depth += 1,
            '>' if !quoted => depth -= 1,
            c if c == sep && !quoted && depth <= 0 => {
                out.push(&s[start..i]);
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

async fn send(tx: &mut Transaction, code: u16, headers: Vec<Header>) {
    if let Err(e) = tx.reply_with(StatusCode::from(code), headers, None).await {
        tracing::debug!(error = %e, "REGISTER reply failed");
    }
}

fn warning(text: &str) -> Header {
    Header::Warning(format!("399 vpbx \"{text}\"").into())
}

/// The request's `User-Agent`, which decides the digest algorithms offered.
fn user_agent(req: &rsipstack::sip::Request) -> Option<String> {
    req.headers.iter().find_map(|h| match h {
        Header::UserAgent(u) => Some(u.value().to_string()),
        Header::Other(n, v) if n.eq_ignore_ascii_case("user-agent") => Some(v.clone()),
        _ => None,
    })
}

/// Handles one REGISTER transaction.
pub async fn handle(
    tx: &mut Transaction,
    registrar: &Arc<Registrar>,
    security: &Security,
    snapshots: &Snapshots,
    registry: &Registry,
    clock: &dyn Clock,
) {
    let now = clock.unix_ms();
    let req = &tx.original;
    let source = req
        .via_header()
        .ok()
        .and_then(|v| SipConnection::parse_target_from_via(v).ok())
        .map(|(t, hp)| (t.to_string().to_ascii_lowercase(), hp.to_string()))
        .unwrap_or_else(|| ("udp".into(), String::new()));
    // The address the request really came from (not what its Via claims), for the ban.
    let peer_ip = tx
        .connection
        .as_ref()
        .and_then(|c| c.get_remote_addr())
        .and_then(|a| std::net::SocketAddr::try_from(a.addr.clone()).ok())
        .map(|a| a.ip());
    let auth = req
        .authorization_header()
        .map(|h| h.value().to_string())
        .and_then(|v| digest::parse_credentials(&v));
    let Some(creds) = auth else {
        let nonce = registrar.nonces.issue(now);
        let offer = registrar.offer.for_agent(user_agent(req).as_deref());
        let headers = digest::challenges(&registrar.realm, &nonce, false, offer)
            .into_iter()
            .map(|c| Header::WwwAuthenticate(c.into()))
            .collect();
        return send(tx, 401, headers).await;
    };
    match registrar.nonces.check(&creds.nonce, now) {
        NonceCheck::Fresh => {}
        check => {
            let nonce = registrar.nonces.issue(now);
            let headers = digest::challenges(
                &registrar.realm,
                &nonce,
                check == NonceCheck::Stale,
                registrar.offer.for_agent(user_agent(req).as_deref()),
            )
            .into_iter()
            .map(|c| Header::WwwAuthenticate(c.into()))
            .collect();
            return send(tx, 401, headers).await;
        }
    }
    if let Some(why) = account_refusal(security, &creds.username, peer_ip) {
        return send(tx, 403, vec![warning(&why)]).await;
    }
    let snapshot = snapshots.current();
    let line = snapshot.sip_line_by_login(&creds.username);
    let password = line.map(|(_, l)| l.password.as_str());
    let to_user = req
        .to_header()
        .ok()
        .and_then(|t| t.uri().ok())
        .and_then(|u| u.user().map(str::to_string))
        .unwrap_or_default();
    let verified = digest::verify(&creds, "REGISTER", &registrar.realm, password);
    let (Ok(()), Some((employee, line))) = (verified, line) else {
        metrics::counter!("vpbx_sip_auth_failures_total", "method" => "REGISTER").increment(1);
        warn!(
            security = "auth_failure",
            source = %source.1,
            "REGISTER with bad credentials"
        );
        security.account_failed(&creds.username, peer_ip);
        if let Some(ip) = peer_ip {
            security.auth_failed(ip);
        }
        return send(tx, 403, vec![warning("bad credentials")]).await;
    };
    if to_user != creds.username {
        metrics::counter!("vpbx_sip_auth_failures_total", "method" => "REGISTER").increment(1);
        warn!(
            security = "auth_failure",
            source = %source.1,
            "REGISTER for another line's address"
        );
        if let Some(ip) = peer_ip {
            security.auth_failed(ip);
        }
        return send(
            tx,
            403,
            vec![warning("a line may register only its own address")],
        )
        .await;
    }
    // The digest verified: the source is a verified one (a higher flood limit, see security.rs).
    if let Some(ip) = peer_ip {
        security.auth_succeeded(ip);
    }
    let contact_values: Vec<String> = req
        .contact_headers()
        .into_iter()
        .map(|c| c.value().to_string())
        .collect();
    let contacts = match parse_contacts(&contact_values) {
        Ok(c) => c,
        Err(why) => return send(tx, 400, vec![warning(why)]).await,
    };
    let expires = req
        .expires_header()
        .and_then(|e| e.value().trim().parse::<u32>().ok());
    let register = Register {
        line: line.id,
        contacts,
        expires,
        call_id: req
            .call_id_header()
            .map(|c| c.value().to_string())
            .unwrap_or_default(),
        cseq: req.cseq_header().and_then(|c| c.seq()).unwrap_or(0),
        source: source.1.clone(),
        transport: source.0.clone(),
        user_agent: req
            .user_agent_header()
            .map(|u| u.value().to_string())
            .unwrap_or_default(),
        now_ms: now,
    };
    let line_id = line.id;
    let outcome = match registrar.table.lock() {
        Ok(mut t) => t.apply(&registrar.limits, register),
        Err(p) => p.into_inner().apply(&registrar.limits, register),
    };
    match outcome {
        Outcome::TooBrief(min) => {
            send(tx, 423, vec![Header::MinExpires(min.to_string().into())]).await;
        }
        Outcome::Bad(why) => send(tx, 400, vec![warning(why)]).await,
        Outcome::Ok { bindings, changes } => {
            registrar.misses().retain(|(l, _), _| *l != line_id);
            let store = registrar.store.clone();
            let _ = tokio::task::spawn_blocking(move || persist(&store, &changes)).await;
            let headers: Vec<Header> = bindings
                .iter()
                .map(|b| {
                    let left = b.expires_unix_ms.saturating_sub(now) / 1000;
                    Header::Contact(format!("<{}>;expires={left}", b.contact).into())
                })
                .collect();
            info!(
                line = %line_id,
                employee = %employee.id,
                contacts = bindings.len(),
                source = %source.1,
                "registration updated"
            );
            if let Some(c) = registry.children() {
                c.dist.do_send(LineRegistration {
                    line: line_id,
                    registered: !bindings.is_empty(),
                });
            }
            send(tx, 200, headers).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contacts_parse() {
        let c =
            parse_contacts(&["<sip:101@1.2.3.4:5062;transport=udp>;expires=60, sip:101@h".into()])
                .unwrap();
        assert_eq!(
            c,
            Contacts::List(vec![
                ("sip:101@1.2.3.4:5062;transport=udp".into(), Some(60)),
                ("sip:101@h".into(), None)
            ])
        );
        assert_eq!(parse_contacts(&["*".into()]).unwrap(), Contacts::Star);
        assert_eq!(parse_contacts(&[]).unwrap(), Contacts::Query);
        assert!(parse_contacts(&["*, <sip:a@b>".into()]).is_err());
        assert!(parse_contacts(&["<sip:a@b>;expires=x".into()]).is_err());
        assert!(parse_contacts(&["<mailto:a@b>".into()]).is_err());
    }
}
