//! vpbx store: the company model and the embedded store it lives in.
//!
//! Model: [`model::CompanyConfig`] is one consistent snapshot of the configuration; CDRs are an
//! append-only log keyed by time. Storage: sled 0.34.7, one tree per entity kind, big-endian keys,
//! values inside a version [`envelope`] so old records migrate on read (configuration entities
//! as JSON bodies, CDRs and registrations as bincode 1.3.3). Every write an API or actor
//! acknowledges is flushed first ([`Store::flush`] is called by each writing method before it
//! returns).
//!
//! Configuration: the typed repositories of [`repo`] (one tree per kind) are the source of
//! truth. [`Store::snapshot`] assembles the whole [`model::CompanyConfig`] from them;
//! [`Store::replace_all`] validates a whole document and writes every tree in one transaction.
//! The import/export document is the same `CompanyConfig` rendered as YAML
//! ([`parse_document`], [`render_document`]); it is no longer stored as one record. A store
//! written by an older binary (the whole document under the `config` tree's `company` key) is
//! migrated into the repositories on [`Store::open`], in one transaction that also removes the
//! old record. [`Store::load_config`]/[`Store::save_config`] remain as wrappers.
//!
//! Rules and integrity: [`validate::validate_config`] (structured [`validate::ValidationError`]s)
//! and [`integrity::users_of`] (who uses an entity). SIP credentials: [`credentials`]. What the
//! call distribution remembers across restarts (statistics, turn pointers, queue callbacks):
//! [`dist`].
//!
//! Only this crate names sled. Callers use [`Store`]; the engine can be swapped behind it.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod admin;
pub mod cdrs;
pub mod coverage;
pub mod credentials;
pub mod dist;
pub mod envelope;
pub mod files;
pub mod import;
pub mod integrity;
pub mod model;
pub mod numbering;
pub mod recordings;
pub mod registrations;
pub mod repo;
pub mod validate;

use model::{Cdr, CompanyConfig};
pub use repo::{Entity, Page, Paged, Rejection, Repo, WriteResult};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
pub use validate::{validate_config, ValidationError};

/// Errors of the store. Every variant is a fail-stop fault of the store itself, never an
/// expected outcome of a valid request.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The underlying engine failed (I/O, corruption).
    #[error("store engine: {0}")]
    Engine(String),
    /// A record could not be decoded, even after migration.
    #[error("record {key} in {tree} is unreadable: {reason}")]
    Decode {
        /// Tree name.
        tree: &'static str,
        /// Key, printable.
        key: String,
        /// Why.
        reason: String,
    },
    /// A record could not be encoded.
    #[error("encode: {0}")]
    Encode(String),
    /// The demo or imported YAML is not a valid configuration.
    #[error("config document: {0}")]
    Document(String),
    /// Another process (a running switch, a CLI command) has the database open.
    #[error("the data directory {0} is in use (is the switch running?); stop it first")]
    InUse(String),
    /// The disk holding the data directory is full: the write did not happen. Writes work
    /// again once space is freed, without a restart.
    #[error("the disk is full ({0}); free space in the data directory and repeat the write")]
    Full(String),
}

impl StoreError {
    /// An I/O error while doing `what`: [`StoreError::Full`] when the disk or quota is full.
    pub fn from_io(what: &str, e: std::io::Error) -> StoreError {
        if is_disk_full(&e) {
            StoreError::Full(format!("{what}: {e}"))
        } else {
            StoreError::Engine(format!("{what}: {e}"))
        }
    }

    /// Whether this is the disk being full.
    pub fn is_full(&self) -> bool {
        matches!(self, StoreError::Full(_))
    }
}

/// ENOSPC, or EDQUOT (a quota), however the error reached us.
fn is_disk_full(e: &std::io::Error) -> bool {
    const ENOSPC: i32 = 28;
    const EDQUOT: i32 = 122;
    matches!(e.raw_os_error(), Some(ENOSPC | EDQUOT))
        || e.to_string().contains("No space left on device")
}

impl From<sled::Error> for StoreError {
    fn from(e: sled::Error) -> Self {
        match e {
            sled::Error::Io(io) if is_disk_full(&io) => {
                StoreError::Full("no space left on device".into())
            }
            other => {
                let text = other.to_string();
                // sled keeps a failed write's error as text (io::Error is not Clone).
                if text.contains("No space left on device") || text.contains("code: 28,") {
                    StoreError::Full("no space left on device".into())
                } else {
                    StoreError::Engine(text)
                }
            }
        }
    }
}

const TREE_CONFIG: &str = "config";
pub(crate) const TREE_CDR: &str = "cdr";
/// Tree of the callers' calls: caller digits, 0, end time (ms, big-endian), call id → nothing.
pub(crate) const TREE_CDR_BY_CALLER: &str = "cdr_by_caller";
const TREE_REGISTRATIONS: &str = "registrations";
const TREE_RECORDINGS: &str = "recordings";
const KEY_COMPANY: &[u8] = b"company";
/// Written to prove a reopened store writable.
const KEY_PROBE: &[u8] = b"write_probe";
/// Free space a failed store waits for before it reopens (sled grows its file in segments).
pub const MIN_FREE_BYTES: u64 = 4 * 1024 * 1024;

/// The embedded store. Cheap to clone; all clones share one database.
///
/// A failed write (a full disk) leaves sled refusing every later write until it is reopened;
/// [`Store::fault`] says why, and [`Store::recover`] reopens the database in place (every clone
/// sees the new one), so space freed later brings the store back without a restart.
#[derive(Clone)]
pub struct Store {
    /// The data directory the store lives in (the database is `<dir>/db`).
    dir: Arc<std::path::PathBuf>,
    /// The open database; `None` only while a reopen failed.
    engine: Arc<RwLock<Option<Arc<Engine>>>>,
    /// Why the last write failed, until a write succeeds.
    fault: Arc<Mutex<Option<String>>>,
    /// Serializes configuration writes (read-validate-write must not interleave).
    lock: Arc<Mutex<()>>,
    /// Admin sessions and tokens that could not be written (a full disk): valid until a
    /// restart, so the admin can still log in and fix the box. `None`: revoked.
    memory_tokens: Arc<Mutex<std::collections::HashMap<String, Option<admin::TokenRecord>>>>,
}

/// One open sled database and its trees.
struct Engine {
    db: sled::Db,
    /// Legacy tree: held the whole document under `company` (migrated on open).
    config: sled::Tree,
    cdr: sled::Tree,
    /// Index of `cdr` by caller number (the repeat-call branch's look-up).
    cdr_by_caller: sled::Tree,
    registrations: sled::Tree,
    recordings: sled::Tree,
    admin: sled::Tree,
    dist_samples: sled::Tree,
    dist_turns: sled::Tree,
    queue_callbacks: sled::Tree,
    numbering: sled::Tree,
    /// Configuration trees by name (see [`repo`]).
    trees: BTreeMap<&'static str, sled::Tree>,
}

impl Engine {
    fn open(dir: &Path) -> Result<Engine, StoreError> {
        let db = open_db(&dir.join("db"))?;
        let mut trees = BTreeMap::new();
        for name in repo::CONFIG_TREES {
            trees.insert(name, db.open_tree(name)?);
        }
        Ok(Engine {
            config: db.open_tree(TREE_CONFIG)?,
            cdr: db.open_tree(TREE_CDR)?,
            cdr_by_caller: db.open_tree(TREE_CDR_BY_CALLER)?,
            registrations: db.open_tree(TREE_REGISTRATIONS)?,
            recordings: db.open_tree(TREE_RECORDINGS)?,
            admin: db.open_tree(admin::TREE_ADMIN)?,
            dist_samples: db.open_tree(dist::TREE_DIST_SAMPLES)?,
            dist_turns: db.open_tree(dist::TREE_DIST_TURNS)?,
            queue_callbacks: db.open_tree(dist::TREE_QUEUE_CALLBACKS)?,
            numbering: db.open_tree(numbering::TREE_NUMBERING)?,
            trees,
            db,
        })
    }
}

impl Store {
    /// Opens (creating if needed) the store in `dir`, migrating a legacy single-record
    /// configuration into the repositories.
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| StoreError::from_io("creating the data directory", e))?;
        let store = Store {
            dir: Arc::new(dir.to_path_buf()),
            engine: Arc::new(RwLock::new(Some(Arc::new(Engine::open(dir)?)))),
            fault: Arc::new(Mutex::new(None)),
            lock: Arc::new(Mutex::new(())),
            memory_tokens: Arc::default(),
        };
        store.migrate_legacy()?;
        store.index_callers()?;
        Ok(store)
    }

    /// The open database.
    fn engine(&self) -> Result<Arc<Engine>, StoreError> {
        let guard = match self.engine.read() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        guard.clone().ok_or_else(|| {
            StoreError::Engine(format!(
                "the store is closed after a failed reopen ({}); it is retried",
                self.fault().unwrap_or_default()
            ))
        })
    }

    /// Why the last write failed (a full disk, an I/O error), while no write has succeeded
    /// since. `None`: healthy.
    pub fn fault(&self) -> Option<String> {
        match self.fault.lock() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    fn set_fault(&self, fault: Option<String>) {
        let mut g = match self.fault.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        if g.is_some() != fault.is_some() {
            match &fault {
                Some(why) => tracing::error!(error = %why, "store writes failing"),
                None => tracing::warn!("store writes work again"),
            }
        }
        *g = fault;
    }

    /// After a failed write: once the data directory's file system has [`MIN_FREE_BYTES`]
    /// free again, reopens the database in place and proves it writable with a probe write,
    /// so writes work again without a restart. Does nothing while healthy. Waits for
    /// operations in flight on the old database (they hold it briefly). Answers whether the
    /// store is healthy now.
    pub fn recover(&self) -> bool {
        if self.fault().is_none() {
            return true;
        }
        match fs2::available_space(self.dir.as_path()) {
            Ok(free) if free >= MIN_FREE_BYTES => {}
            Ok(_) => return false,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the free space of the data directory");
                return false;
            }
        }
        let mut slot = match self.engine.write() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        // The old database must be closed (its file lock released) before it can reopen.
        drop(slot.take());
        match Engine::open(&self.dir) {
            Ok(engine) => {
                *slot = Some(Arc::new(engine));
                drop(slot);
                let probe = self
                    .engine()
                    .and_then(|e| Ok(e.admin.insert(KEY_PROBE, &b"ok"[..])?));
                self.noted(probe).is_ok() && self.flush().is_ok()
            }
            Err(e) => {
                tracing::warn!(error = %e, "reopening the store failed; it will be retried");
                self.set_fault(Some(e.to_string()));
                false
            }
        }
    }

    fn migrate_legacy(&self) -> Result<(), StoreError> {
        let Some(bytes) = self.engine()?.config.get(KEY_COMPANY)? else {
            return Ok(());
        };
        let cfg =
            envelope::decode::<CompanyConfig>(&bytes).map_err(|reason| StoreError::Decode {
                tree: TREE_CONFIG,
                key: "company".into(),
                reason,
            })?;
        let _guard = self.write_lock();
        self.write_all(&repo::images(&cfg)?, true)?;
        tracing::info!("configuration migrated from the single document into repositories");
        Ok(())
    }

    pub(crate) fn write_lock(&self) -> MutexGuard<'_, ()> {
        match self.lock.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    pub(crate) fn tree(&self, name: &'static str) -> Result<sled::Tree, StoreError> {
        self.engine()?
            .trees
            .get(name)
            .cloned()
            .ok_or_else(|| StoreError::Engine(format!("tree {name} is not open")))
    }

    /// Writes the difference between the trees and `images` in one transaction, then flushes.
    /// Caller holds the write lock.
    pub(crate) fn write_images(
        &self,
        images: &[(&'static str, repo::TreeImage)],
    ) -> Result<(), StoreError> {
        self.write_all(images, false)
    }

    fn write_all(
        &self,
        images: &[(&'static str, repo::TreeImage)],
        drop_legacy: bool,
    ) -> Result<(), StoreError> {
        let mut trees = Vec::new();
        let mut batches = Vec::new();
        for (name, image) in images {
            let tree = self.tree(name)?;
            let mut batch = sled::Batch::default();
            let mut changed = false;
            for item in tree.iter() {
                let (k, v) = item?;
                match image.get(k.as_ref()) {
                    None => {
                        batch.remove(k);
                        changed = true;
                    }
                    Some(new) if new.as_slice() != v.as_ref() => {
                        batch.insert(k, new.as_slice());
                        changed = true;
                    }
                    Some(_) => {}
                }
            }
            for (k, v) in image {
                if !tree.contains_key(k)? {
                    batch.insert(k.as_slice(), v.as_slice());
                    changed = true;
                }
            }
            if changed {
                trees.push(tree);
                batches.push(batch);
            }
        }
        if drop_legacy {
            let mut batch = sled::Batch::default();
            batch.remove(KEY_COMPANY);
            trees.push(self.engine()?.config.clone());
            batches.push(batch);
        }
        if !trees.is_empty() {
            use sled::Transactional;
            let done = trees
                .as_slice()
                .transaction(|views| {
                    for (view, batch) in views.iter().zip(&batches) {
                        view.apply_batch(batch)?;
                    }
                    Ok::<(), sled::transaction::ConflictableTransactionError<()>>(())
                })
                .map_err(|e| match e {
                    sled::transaction::TransactionError::Storage(e) => StoreError::from(e),
                    sled::transaction::TransactionError::Abort(()) => {
                        StoreError::Engine("transaction aborted".into())
                    }
                });
            self.noted(done)?;
        }
        self.flush()
    }

    fn read_all<T: Entity>(&self) -> Result<Vec<T>, StoreError> {
        let mut out = Vec::new();
        for item in self.tree(T::TREE)?.iter() {
            let (k, v) = item?;
            out.push(repo::decode_entity(T::TREE, &k, &v)?);
        }
        Ok(out)
    }

    pub(crate) fn snapshot_unlocked(&self) -> Result<CompanyConfig, StoreError> {
        let s = self.settings()?;
        Ok(CompanyConfig {
            company: s.company,
            time_zone: s.time_zone,
            settings: s.settings,
            employees: self.read_all()?,
            groups: self.read_all()?,
            files: self.read_all()?,
            numbers: self.read_all()?,
            scenarios: self.read_all()?,
            contacts: self.read_all()?,
            contact_groups: self.read_all()?,
            tags: self.read_all()?,
            segments: self.read_all()?,
            number_lists: self.read_all()?,
            schedules: self.read_all()?,
            calendars: self.read_all()?,
            talk_options: self.read_all()?,
            trunks: self.read_all()?,
        })
    }

    /// The whole configuration assembled from the repositories (each kind in key order).
    /// Consistent: configuration writes cannot interleave with it.
    pub fn snapshot(&self) -> Result<CompanyConfig, StoreError> {
        let _guard = self.write_lock();
        self.snapshot_unlocked()
    }

    /// Validates `cfg` as a whole and, if valid, makes it the configuration: every tree is
    /// rewritten to match it in ONE transaction (all or nothing), flushed before returning.
    pub fn replace_all(&self, cfg: &CompanyConfig) -> WriteResult<()> {
        let errors = validate_config(cfg);
        if !errors.is_empty() {
            return Ok(Err(Rejection::Invalid(errors)));
        }
        let images = repo::images(cfg)?;
        let _guard = self.write_lock();
        self.write_images(&images)?;
        Ok(Ok(()))
    }

    /// Whether a company configuration has been stored (false on first start).
    pub fn is_initialized(&self) -> Result<bool, StoreError> {
        Ok(self
            .tree(repo::TREE_SETTINGS)?
            .contains_key(repo::KEY_SETTINGS)?
            || self.engine()?.config.contains_key(KEY_COMPANY)?)
    }

    /// The stored company configuration, or `None` on a fresh store. Same as
    /// [`Store::snapshot`] once initialized.
    pub fn load_config(&self) -> Result<Option<CompanyConfig>, StoreError> {
        if !self.is_initialized()? {
            return Ok(None);
        }
        self.snapshot().map(Some)
    }

    /// Replaces the company configuration in one transaction; durable when this returns.
    ///
    /// Unlike [`Store::replace_all`] this does not validate. Entities with duplicate ids
    /// collapse to the last one.
    pub fn save_config(&self, cfg: &CompanyConfig) -> Result<(), StoreError> {
        let images = repo::images(cfg)?;
        let _guard = self.write_lock();
        self.write_images(&images)
    }

    /// Appends a CDR; durable when this returns. Key: end time (ms, big-endian) + call id, so
    /// iteration is in time order.
    pub fn put_cdr(&self, cdr: &Cdr) -> Result<(), StoreError> {
        self.put_cdrs(std::slice::from_ref(cdr))
    }

    /// Appends several CDRs with one flush (group commit); durable when this returns.
    pub fn put_cdrs(&self, cdrs: &[Cdr]) -> Result<(), StoreError> {
        let mut batch = sled::Batch::default();
        let mut index = sled::Batch::default();
        for cdr in cdrs {
            let mut key = cdr.end_unix_ms.to_be_bytes().to_vec();
            key.extend_from_slice(cdr.call_id.as_bytes());
            batch.insert(key, envelope::encode(envelope::CDR_VERSION, cdr)?);
            index.insert(cdrs::caller_key(cdr), &[]);
        }
        let engine = self.engine()?;
        let applied = engine.cdr.apply_batch(batch);
        self.noted(applied.map_err(StoreError::from))?;
        // The index is written after the records: a crash between the two loses index entries
        // only (an earlier call not seen as one), never a record.
        let indexed = engine.cdr_by_caller.apply_batch(index);
        self.noted(indexed.map_err(StoreError::from))?;
        self.flush()
    }

    /// The newest `limit` CDRs, newest first.
    pub fn recent_cdrs(&self, limit: usize) -> Result<Vec<Cdr>, StoreError> {
        let mut out = Vec::new();
        for item in self.engine()?.cdr.iter().rev().take(limit) {
            let (k, v) = item?;
            let cdr = envelope::decode::<Cdr>(&v).map_err(|reason| StoreError::Decode {
                tree: TREE_CDR,
                key: String::from_utf8_lossy(&k).into_owned(),
                reason,
            })?;
            out.push(cdr);
        }
        Ok(out)
    }

    /// Number of stored CDRs.
    pub fn cdr_count(&self) -> usize {
        self.engine().map_or(0, |e| e.cdr.len())
    }

    /// Makes every write so far durable.
    /// A failure is remembered as the store's [`Store::fault`] until a flush succeeds.
    pub fn flush(&self) -> Result<(), StoreError> {
        let flushed = self.engine()?.db.flush().map_err(StoreError::from);
        self.noted(flushed.map(|_| ()))?;
        self.set_fault(None);
        Ok(())
    }

    /// Remembers a failed write as the store's fault.
    pub(crate) fn noted<T>(&self, r: Result<T, StoreError>) -> Result<T, StoreError> {
        if let Err(e) = &r {
            self.set_fault(Some(e.to_string()));
        }
        r
    }

    /// A cheap liveness probe for `/health`: the engine answers a read.
    pub fn health(&self) -> bool {
        self.tree(repo::TREE_SETTINGS)
            .is_ok_and(|t| t.get(repo::KEY_SETTINGS).is_ok())
    }
}

/// sled's page cache (D75): the configuration and the recent call records fit; older records
/// are read from disk (the kernel's page cache serves them). sled's default is 1 GiB, which a
/// busy switch filled with call records and never gave back (idle RSS +105 MB after 100,000
/// calls; +59–65 MB with 32 MiB; a heap profile at idle put 30 of those 32 MiB in sled's cache;
/// 4 MiB since the switch's threads give their allocator caches back, which left the cache the
/// largest part of what stays).
const CACHE_BYTES: u64 = 4 << 20;

/// Opens the sled database, waiting up to 2 s for its file lock: a process that is exiting (a
/// restart) or a handle just dropped in this process releases it after sled's last flush.
/// A lock still held after that is reported as the engine error it is ("store in use").
fn open_db(path: &Path) -> Result<sled::Db, StoreError> {
    let mut attempt = 0;
    loop {
        match sled::Config::new()
            .path(path)
            .cache_capacity(CACHE_BYTES)
            .open()
        {
            Ok(db) => return Ok(db),
            // sled reports a held lock as an I/O error whose kind is `WouldBlock`, or (as its
            // own message) "could not acquire lock": a previous handle's flusher thread may
            // still hold it for a moment after the handle was dropped.
            Err(sled::Error::Io(e))
                if (e.kind() == std::io::ErrorKind::WouldBlock
                    || e.to_string().contains("could not acquire lock"))
                    && attempt < 40 =>
            {
                attempt += 1;
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            Err(sled::Error::Io(e))
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.to_string().contains("could not acquire lock") =>
            {
                let dir = path.parent().unwrap_or(path);
                return Err(StoreError::InUse(dir.display().to_string()));
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// Parses a YAML company document (the format of `config/demo.yaml` and of export/import).
pub fn parse_document(yaml: &str) -> Result<CompanyConfig, StoreError> {
    serde_yaml::from_str(yaml).map_err(|e| StoreError::Document(e.to_string()))
}

/// Renders the configuration as a YAML document.
pub fn render_document(cfg: &CompanyConfig) -> Result<String, StoreError> {
    serde_yaml::to_string(cfg).map_err(|e| StoreError::Document(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use model::CallResult;

    fn cdr(id: &str, end: u64) -> Cdr {
        Cdr {
            call_id: id.into(),
            sip_call_id: format!("sip-{id}"),
            numa: "79161234567".into(),
            numb: "74951234567".into(),
            start_unix_ms: end - 1000,
            answer_unix_ms: Some(end - 900),
            end_unix_ms: end,
            result: CallResult::Answered,
            hangup: model::HangupSide::Switch,
            reason: "scenario finished".into(),
            events: vec![model::CallEvent {
                at_unix_ms: end - 1000,
                what: model::Event::RuleMatched {
                    rule: model::RuleId(1),
                    name: "all".into(),
                },
            }],
        }
    }

    #[test]
    fn config_round_trips_and_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = CompanyConfig {
            company: "Acme".into(),
            time_zone: "Europe/Moscow".into(),
            ..Default::default()
        };
        {
            let store = Store::open(dir.path()).unwrap();
            assert!(!store.is_initialized().unwrap());
            assert_eq!(store.load_config().unwrap(), None);
            store.save_config(&cfg).unwrap();
        }
        let store = Store::open(dir.path()).unwrap();
        assert!(store.is_initialized().unwrap());
        assert_eq!(store.load_config().unwrap(), Some(cfg));
    }

    #[test]
    fn cdrs_come_back_newest_first() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store.put_cdr(&cdr("a", 2_000)).unwrap();
        store.put_cdr(&cdr("b", 3_000)).unwrap();
        store.put_cdr(&cdr("c", 1_000)).unwrap();
        let ids: Vec<_> = store
            .recent_cdrs(10)
            .unwrap()
            .into_iter()
            .map(|c| c.call_id)
            .collect();
        assert_eq!(ids, ["b", "a", "c"]);
        assert_eq!(store.cdr_count(), 3);
    }

    #[test]
    fn demo_document_parses() {
        let yaml = include_str!("../../config/demo.yaml");
        let cfg = parse_document(yaml).unwrap();
        assert!(cfg.number("74951234567").is_some());
        assert!(cfg.number("74950000001").is_some());
        assert!(cfg.number("74950000000").is_some());
        let back = parse_document(&render_document(&cfg).unwrap()).unwrap();
        assert_eq!(back, cfg);
    }

    #[test]
    fn legacy_single_document_is_migrated_on_open() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = parse_document(include_str!("../../config/demo.yaml")).unwrap();
        {
            let store = Store::open(dir.path()).unwrap();
            // What an older binary wrote (as JSON: its bincode records of a non-empty
            // directory could not be read back at all).
            let legacy = envelope::encode_json(1, &cfg).unwrap();
            store
                .engine()
                .unwrap()
                .config
                .insert(KEY_COMPANY, legacy)
                .unwrap();
            store.flush().unwrap();
        }
        let store = Store::open(dir.path()).unwrap();
        assert!(!store
            .engine()
            .unwrap()
            .config
            .contains_key(KEY_COMPANY)
            .unwrap());
        assert!(store.is_initialized().unwrap());
        let snap = store.load_config().unwrap().unwrap();
        assert_eq!(snap.employees, cfg.employees);
        assert_eq!(snap.numbers.len(), cfg.numbers.len());
        // An empty legacy bincode record (the only kind that was readable) migrates too.
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(dir.path()).unwrap();
            let legacy = envelope::encode(1, &CompanyConfig::default()).unwrap();
            store
                .engine()
                .unwrap()
                .config
                .insert(KEY_COMPANY, legacy)
                .unwrap();
        }
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.load_config().unwrap(), Some(CompanyConfig::default()));
    }

    #[test]
    fn save_config_round_trips_the_demo() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = parse_document(include_str!("../../config/demo.yaml")).unwrap();
        {
            let store = Store::open(dir.path()).unwrap();
            store.save_config(&cfg).unwrap();
        }
        let store = Store::open(dir.path()).unwrap();
        let back = store.load_config().unwrap().unwrap();
        assert_eq!(back.employees, cfg.employees);
        assert_eq!(back.scenarios, cfg.scenarios);
        assert!(back.number("74950000000").is_some());
        assert!(validate_config(&back).is_empty());
        assert!(store.health());
    }

    #[test]
    fn a_scenario_stored_before_operations_had_their_own_structs_still_reads() {
        // The bytes an earlier binary stored (entity envelope version 1, JSON body), with
        // every operation kind: they decode into today's types and encode to the same bytes, with
        // the fields added since at their defaults.
        let body = concat!(
            r#"{"id":7,"name":"Old","start":"a","operations":{"#,
            r#""a":{"action":{"kind":"info_message","prompt":{"kind":"file","id":1}},"exits":{"next":"b"}},"#,
            r#""b":{"action":{"kind":"ring","ms":100},"exits":{"next":"c"}},"#,
            r#""c":{"action":{"kind":"pause","ms":100},"exits":{"next":"d"}},"#,
            r#""d":{"action":{"kind":"echo","max_s":3},"exits":{"next":"e"}},"#,
            r#""e":{"action":{"kind":"forward","targets":[{"kind":"employee","id":1}],"mode":"sequential","max_wait_s":null,"ringback":null,"present_virtual_number":false},"exits":{"no_answer":"f"}},"#,
            r#""f":{"action":{"kind":"voicemail","prompt":null,"max_s":120,"silence_s":5,"email":null},"exits":{"next":"g"}},"#,
            r#""g":{"action":{"kind":"hang_up"},"exits":{}}"#,
            r#"},"record":false}"#
        );
        let mut record = vec![0xB6, 0, 1];
        record.extend_from_slice(body.as_bytes());
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store
            .tree(<model::Scenario as Entity>::TREE)
            .unwrap()
            .insert(7u64.to_be_bytes(), record.clone())
            .unwrap();
        let sc = store
            .scenarios()
            .get(&model::ScenarioId(7))
            .unwrap()
            .unwrap();
        assert_eq!(sc.operations.len(), 7);
        assert!(matches!(
            sc.operations[&model::OpName("f".into())].action,
            model::Action::Voicemail(model::Voicemail { max_s: 120, .. })
        ));
        // Re-encoded, the same bytes but for the forward settings and the scenario-level
        // options added since, at their defaults.
        let now = body
            .replace(
                r#""present_virtual_number":false}"#,
                r#""present_virtual_number":false,"strategy":null,"queue":null,"wrap_up_s":0,"operator_hint":null,"not_answered":null}"#,
            )
            .replace(
                r#""record":false}"#,
                r#""record":false,"greeting":null,"ringback":null,"present_virtual_number":false}"#,
            );
        let mut expected = vec![0xB6, 0, 1];
        expected.extend_from_slice(now.as_bytes());
        assert_eq!(
            String::from_utf8_lossy(&envelope::encode_json(envelope::ENTITY_VERSION, &sc).unwrap()),
            String::from_utf8_lossy(&expected)
        );
    }

    #[test]
    fn bad_document_names_the_problem() {
        let err = parse_document("company: 1\nnumbers: [ {kind: pbx} ]").unwrap_err();
        assert!(err.to_string().contains("number"), "{err}");
    }
}
