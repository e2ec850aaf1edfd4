//! Trunks to the carrier: outbound registration (one keep-alive task per registration trunk,
//! restarted when its settings change), channel counting, and the live status the API and
//! `/metrics` show.

use dashmap::DashMap;
use rsipstack::dialog::authenticate::Credential;
use rsipstack::dialog::registration::{RefreshOutcome, Registration};
use rsipstack::transaction::endpoint::EndpointInnerRef;
use std::collections::HashMap;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};
use vpbx_actors::config_hub::Snapshots;
use vpbx_store::model::{Trunk, TrunkAuth, TrunkId, TrunkTransport};

pub use crate::presence::TrunkStatus;

/// Calls in progress per trunk, and each trunk's registration state.
#[derive(Debug, Default)]
pub struct TrunkState {
    channels: DashMap<TrunkId, usize>,
    registration: DashMap<TrunkId, (String, String)>,
}

/// Holds one channel of a trunk until dropped.
pub struct ChannelGuard {
    state: Arc<TrunkState>,
    trunk: TrunkId,
}

impl Drop for ChannelGuard {
    fn drop(&mut self) {
        if let Some(mut n) = self.state.channels.get_mut(&self.trunk) {
            *n = n.saturating_sub(1);
        }
    }
}

impl TrunkState {
    /// Calls on `trunk` now.
    pub fn in_use(&self, trunk: TrunkId) -> usize {
        self.channels.get(&trunk).map(|n| *n).unwrap_or(0)
    }

    /// Takes a channel of `trunk` for the guard's lifetime.
    pub fn acquire(self: &Arc<Self>, trunk: TrunkId) -> ChannelGuard {
        *self.channels.entry(trunk).or_insert(0) += 1;
        ChannelGuard {
            state: self.clone(),
            trunk,
        }
    }

    /// The live status of `trunk`.
    pub fn status(&self, trunk: &Trunk) -> TrunkStatus {
        let (registration, last_response) = match &trunk.auth {
            TrunkAuth::Ip { .. } => ("ip".to_string(), String::new()),
            TrunkAuth::Registration { .. } if !trunk.enabled => {
                ("disabled".to_string(), String::new())
            }
            TrunkAuth::Registration { .. } => self
                .registration
                .get(&trunk.id)
                .map(|r| r.clone())
                .unwrap_or_else(|| ("registering".into(), String::new())),
        };
        TrunkStatus {
            registration,
            last_response,
            channels: self.in_use(trunk.id),
        }
    }

    fn set(&self, trunk: TrunkId, state: &str, last: String) {
        self.registration.insert(trunk, (state.into(), last));
    }
}

/// Why a registration to the carrier did not succeed, as the log tells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum RegistrationFailure {
    /// No answer: a 408 (the stack's own, when the transaction timed out, or the carrier's)
    /// or a transaction timeout.
    Timeout,
    /// The carrier answered with this final error status (4xx/5xx/6xx).
    Refused(u16),
    /// Transport or other failure (no route, connection refused, ...), with the status if any.
    Failed(u16),
}

/// Classifies a failed registration from its final status or the stack's error text.
pub(super) fn registration_failure(
    status: Option<u16>,
    error: Option<&str>,
) -> RegistrationFailure {
    match (status, error) {
        (Some(408), _) => RegistrationFailure::Timeout,
        (Some(code), _) => RegistrationFailure::Refused(code),
        (None, Some(e))
            if e.to_ascii_lowercase().contains("timeout")
                || e.to_ascii_lowercase().contains("timed out") =>
        {
            RegistrationFailure::Timeout
        }
        _ => RegistrationFailure::Failed(status.unwrap_or(0)),
    }
}

/// What a registration task was started with; a change restarts it.
#[derive(PartialEq)]
struct RegKey {
    host: String,
    port: u16,
    transport: TrunkTransport,
    username: String,
    password: String,
    expires: u32,
    realm: Option<String>,
}

fn reg_key(t: &Trunk) -> Option<RegKey> {
    match &t.auth {
        TrunkAuth::Registration {
            username,
            password,
            expires_s,
            realm,
        } if t.enabled => Some(RegKey {
            host: t.host.clone(),
            port: t.port,
            transport: t.transport,
            username: username.clone(),
            password: password.clone(),
            expires: *expires_s,
            realm: realm.clone(),
        }),
        _ => None,
    }
}

/// Keeps every enabled registration trunk registered; follows configuration changes (checked
/// every 2 s). Ends with `cancel`, unregistering first (bounded).
pub(super) async fn registrations(
    endpoint: EndpointInnerRef,
    snapshots: Snapshots,
    state: Arc<TrunkState>,
    cancel: CancellationToken,
) {
    let mut running: HashMap<TrunkId, (RegKey, CancellationToken)> = HashMap::new();
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(2));
    loop {
        tokio::select! {
            _ = cancel.cancelled() => break,
            _ = tick.tick() => {}
        }
        let cfg = snapshots.current();
        let wanted: HashMap<TrunkId, (&Trunk, RegKey)> = cfg
            .trunks
            .iter()
            .filter_map(|t| reg_key(t).map(|k| (t.id, (t, k))))
            .collect();
        running.retain(|id, (key, token)| {
            let keep = wanted.get(id).is_some_and(|(_, k)| k == key);
            if !keep {
                token.cancel();
            }
            keep
        });
        for (id, (trunk, key)) in wanted {
            if running.contains_key(&id) {
                continue;
            }
            let token = cancel.child_token();
            let tp = match key.transport {
                TrunkTransport::Udp => "",
                TrunkTransport::Tcp => ";transport=tcp",
            };
            let server = format!("sip:{}:{}{tp}", key.host, key.port);
            let Ok(server) = rsipstack::sip::Uri::try_from(server.as_str()) else {
                state.set(id, "failed", "bad server address".into());
                continue;
            };
            let credential = Credential {
                username: key.username.clone(),
                password: key.password.clone(),
                realm: key.realm.clone(),
                ..Default::default()
            };
            let expires = key.expires;
            let name = trunk.name.clone();
            let st = state.clone();
            let ep = endpoint.clone();
            let t2 = token.clone();
            info!(trunk = %name, "registering to the carrier");
            tokio::spawn(async move {
                let mut reg = Registration::new(ep, Some(credential));
                let st2 = st.clone();
                let name2 = name.clone();
                reg.keep_alive(server.clone(), expires, t2, move |outcome| match outcome {
                    RefreshOutcome::Registered(r) => {
                        st2.set(id, "registered", r.status_code.to_string())
                    }
                    RefreshOutcome::Rejected(r) => {
                        let code = u16::from(r.status_code.clone());
                        match registration_failure(Some(code), None) {
                            RegistrationFailure::Timeout => warn!(
                                trunk = %name2,
                                status = code,
                                "carrier did not answer the registration (timeout)"
                            ),
                            RegistrationFailure::Refused(status)
                            | RegistrationFailure::Failed(status) => warn!(
                                trunk = %name2,
                                status,
                                reason = %r.status_code,
                                "carrier refused registration"
                            ),
                        }
                        st2.set(id, "failed", r.status_code.to_string())
                    }
                    RefreshOutcome::Failed(e) => {
                        let text = e.to_string();
                        match registration_failure(None, Some(&text)) {
                            RegistrationFailure::Timeout => warn!(
                                trunk = %name2,
                                error = %text,
                                "carrier did not answer the registration (timeout)"
                            ),
                            _ => {
                                warn!(trunk = %name2, error = %text, "carrier registration failed")
                            }
                        }
                        st2.set(id, "failed", text)
                    }
                })
                .await;
                // Unregister on the way out (bounded: the carrier may be gone).
                let _ = tokio::time::timeout(
                    std::time::Duration::from_secs(2),
                    reg.register(server, Some(0)),
                )
                .await;
                st.registration.remove(&id);
            });
            running.insert(id, (key, token));
        }
    }
    for (_, (_, token)) in running {
        token.cancel();
    }
}

#[cfg(test)]
mod tests {
    use super::{registration_failure, RegistrationFailure};

    #[test]
    fn a_timeout_is_not_a_refusal() {
        assert_eq!(
            registration_failure(Some(408), None),
            RegistrationFailure::Timeout
        );
        assert_eq!(
            registration_failure(None, Some("transaction timed out")),
            RegistrationFailure::Timeout
        );
        assert_eq!(
            registration_failure(Some(403), None),
            RegistrationFailure::Refused(403)
        );
        assert_eq!(
            registration_failure(Some(503), None),
            RegistrationFailure::Refused(503)
        );
        assert_eq!(
            registration_failure(None, Some("connection refused")),
            RegistrationFailure::Failed(0)
        );
    }
}
