//! `ConfigHub`: the one writer of the company configuration. It validates a new configuration,
//! makes it durable in the store, then publishes it as an immutable snapshot. Readers (the SIP
//! edge routing a new call, the HTTP API) take the current snapshot from [`Snapshots`] without a
//! message round trip; live calls keep the snapshot they started with.

use crate::core::scenario::{validate, Severity};
use crate::switch::{ChildExited, ChildKind};
use actix::prelude::*;
use std::sync::{Arc, RwLock};
use vpbx_store::{model::CompanyConfig, Store, StoreError};

/// The current configuration snapshot, shared by readers.
#[derive(Clone, Debug, Default)]
pub struct Snapshots {
    current: Arc<RwLock<Arc<CompanyConfig>>>,
}

impl Snapshots {
    /// Starts with `cfg`.
    pub fn new(cfg: CompanyConfig) -> Self {
        Snapshots {
            current: Arc::new(RwLock::new(Arc::new(cfg))),
        }
    }

    /// The snapshot new calls use now.
    pub fn current(&self) -> Arc<CompanyConfig> {
        match self.current.read() {
            Ok(g) => g.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn publish(&self, cfg: Arc<CompanyConfig>) {
        match self.current.write() {
            Ok(mut g) => *g = cfg,
            Err(poisoned) => *poisoned.into_inner() = cfg,
        }
    }
}

/// Why a configuration was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The configuration breaks a rule; nothing was changed.
    #[error("invalid configuration: {}", .0.join("; "))]
    Invalid(Vec<String>),
    /// The store failed; nothing was changed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Checks a whole configuration (today: the scenario graphs and what rules point at).
pub fn check(cfg: &CompanyConfig) -> Result<(), ConfigError> {
    let mut errors = Vec::new();
    for s in &cfg.scenarios {
        for f in validate(cfg, s) {
            if f.severity == Severity::Error {
                errors.push(format!("scenario {} '{}': {}", s.id, s.name, f.message));
            }
        }
    }
    for n in &cfg.numbers {
        for r in &n.rules {
            if cfg.scenario(r.scenario).is_none() {
                errors.push(format!(
                    "number {} rule {}: scenario {} does not exist",
                    n.number, r.id, r.scenario
                ));
            }
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ConfigError::Invalid(errors))
    }
}

/// Replace the whole configuration.
#[derive(Message)]
#[rtype(result = "Result<(), ConfigError>")]
pub struct ApplyConfig(pub CompanyConfig);

/// Sent to subscribers after a new snapshot is published.
#[derive(Message, Clone)]
#[rtype(result = "()")]
pub struct ConfigChanged(pub Arc<CompanyConfig>);

/// The configuration writer.
pub struct ConfigHub {
    store: Store,
    snapshots: Snapshots,
    subscribers: Vec<Recipient<ConfigChanged>>,
    parent: Option<Recipient<ChildExited>>,
}

impl ConfigHub {
    /// A hub over `store`, publishing into `snapshots`.
    pub fn new(store: Store, snapshots: Snapshots) -> Self {
        ConfigHub {
            store,
            snapshots,
            subscribers: Vec::new(),
            parent: None,
        }
    }
}

impl Actor for ConfigHub {
    type Context = Context<Self>;
    fn stopped(&mut self, _: &mut Context<Self>) {
        if let Some(p) = &self.parent {
            p.do_send(ChildExited(ChildKind::Config));
        }
    }
}

/// Subscribe to configuration changes.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Subscribe(pub Recipient<ConfigChanged>);

impl Handler<Subscribe> for ConfigHub {
    type Result = ();
    fn handle(&mut self, msg: Subscribe, _: &mut Context<Self>) {
        self.subscribers.push(msg.0);
    }
}

impl Handler<ApplyConfig> for ConfigHub {
    type Result = Result<(), ConfigError>;
    fn handle(&mut self, msg: ApplyConfig, _: &mut Context<Self>) -> Self::Result {
        check(&msg.0)?;
        self.store.save_config(&msg.0)?;
        let snap = Arc::new(msg.0);
        self.snapshots.publish(snap.clone());
        self.subscribers.retain(|s| s.connected());
        for s in &self.subscribers {
            s.do_send(ConfigChanged(snap.clone()));
        }
        Ok(())
    }
}

impl ConfigHub {
    /// Reports this actor's exit to `parent` (the switch), which owns the restart policy.
    pub fn with_parent(mut self, parent: Recipient<ChildExited>) -> Self {
        self.parent = Some(parent);
        self
    }
}
