//! `ConfigHub`: the one publisher of the company configuration. Every configuration change —
//! an API write through the store's repositories, a whole document applied with
//! [`ApplyConfig`] — becomes visible to new calls when the hub publishes the store's new
//! snapshot into [`Snapshots`] ([`Refresh`] after a repository write; [`ApplyConfig`] validates,
//! writes and publishes in one step). Readers (the SIP edge routing a new call, the HTTP API)
//! take the current snapshot from [`Snapshots`] without a message round trip; live calls keep
//! the `Arc` of the snapshot they started with, so a change never disturbs them.
//!
//! Publishing always re-reads the store ([`Snapshots::reload_from`]) under one lock, so
//! concurrent writers can never publish an older snapshot over a newer one.

use crate::supervision::{ChildExited, ChildKind};
use actix::prelude::*;
use std::sync::{Arc, Mutex, RwLock};
use vpbx_store::import::{ImportOptions, ImportOutcome};
use vpbx_store::{model::CompanyConfig, Store, StoreError, ValidationError};

/// The current configuration snapshot, shared by readers.
#[derive(Clone, Debug, Default)]
pub struct Snapshots {
    current: Arc<RwLock<Arc<CompanyConfig>>>,
    /// Serializes [`Snapshots::reload_from`] (read the store, then publish).
    reload: Arc<Mutex<()>>,
}

impl Snapshots {
    /// Starts with `cfg`.
    pub fn new(cfg: CompanyConfig) -> Self {
        Snapshots {
            current: Arc::new(RwLock::new(Arc::new(cfg))),
            reload: Arc::new(Mutex::new(())),
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

    /// Reads the store's configuration and publishes it; returns what was published. Used by
    /// the [`ConfigHub`] (and, only while the hub is restarting, by the HTTP edge directly).
    /// Serialized, so the last call always publishes the newest stored configuration.
    pub fn reload_from(&self, store: &Store) -> Result<Arc<CompanyConfig>, StoreError> {
        let _guard = match self.reload.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        let snap = Arc::new(store.snapshot()?);
        self.publish(snap.clone());
        Ok(snap)
    }
}

/// Why a configuration was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The configuration breaks a rule; nothing was changed.
    #[error("invalid configuration: {}", .0.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<ValidationError>),
    /// The store failed; nothing was changed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Import a whole configuration ([`Store::import`]): validated (every rule, the scenario graphs
/// included), planned, refused while it deletes entities without `options.confirm_delete`,
/// otherwise backed up, written in one transaction and published. A dry run writes nothing.
#[derive(Message)]
#[rtype(result = "Result<ImportOutcome, StoreError>")]
pub struct ApplyConfig {
    /// The new configuration.
    pub config: CompanyConfig,
    /// Dry run, confirmation of deletions.
    pub options: ImportOptions,
    /// Now (names the backup).
    pub now_unix_ms: u64,
}

/// Publish the store's current configuration (after a repository write). Answers with the
/// published snapshot.
#[derive(Message)]
#[rtype(result = "Result<Arc<CompanyConfig>, StoreError>")]
pub struct Refresh;

/// Sent to subscribers after a new snapshot is published.
#[derive(Message, Clone)]
#[rtype(result = "()")]
pub struct ConfigChanged(pub Arc<CompanyConfig>);

/// The configuration publisher.
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

    fn publish(&mut self) -> Result<Arc<CompanyConfig>, StoreError> {
        let snap = self.snapshots.reload_from(&self.store)?;
        self.subscribers.retain(|s| s.connected());
        for s in &self.subscribers {
            s.do_send(ConfigChanged(snap.clone()));
        }
        Ok(snap)
    }
}

impl Actor for ConfigHub {
    type Context = Context<Self>;
    fn started(&mut self, _: &mut Context<Self>) {
        // After a restart, writes made while the hub was down are published now.
        if let Err(e) = self.snapshots.reload_from(&self.store) {
            tracing::error!(error = %e, "config hub: store unreadable at start");
        }
    }
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
    type Result = Result<ImportOutcome, StoreError>;
    fn handle(&mut self, msg: ApplyConfig, _: &mut Context<Self>) -> Self::Result {
        let out = self
            .store
            .import(&msg.config, msg.options, msg.now_unix_ms)?;
        if let ImportOutcome::Applied { plan, backup } = &out {
            tracing::info!(
                deleted = plan.deletions(),
                backup = ?backup,
                "configuration imported"
            );
            self.publish()?;
        }
        Ok(out)
    }
}

impl Handler<Refresh> for ConfigHub {
    type Result = Result<Arc<CompanyConfig>, StoreError>;
    fn handle(&mut self, _: Refresh, _: &mut Context<Self>) -> Self::Result {
        self.publish()
    }
}

impl ConfigHub {
    /// Reports this actor's exit to `parent` (the switch), which owns the restart policy.
    pub fn with_parent(mut self, parent: Recipient<ChildExited>) -> Self {
        self.parent = Some(parent);
        self
    }
}
