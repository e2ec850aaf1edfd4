//! vpbx store: the company model and the embedded store it lives in.
//!
//! Model: [`model::CompanyConfig`] is one consistent snapshot of the configuration; CDRs are an
//! append-only log keyed by time. Storage: sled 0.34.7, one tree per entity kind, big-endian keys,
//! values serde-encoded with bincode 1.3.3 inside a version [`envelope`] so old records migrate on
//! read. Every write an API or actor acknowledges is flushed first ([`Store::flush`] is called by
//! each writing method before it returns).
//!
//! Only this crate names sled. Callers use [`Store`]; the engine can be swapped behind it.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod envelope;
pub mod model;
pub mod registrations;

use model::{Cdr, CompanyConfig};
use std::path::Path;

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
}

impl From<sled::Error> for StoreError {
    fn from(e: sled::Error) -> Self {
        StoreError::Engine(e.to_string())
    }
}

const TREE_CONFIG: &str = "config";
const TREE_CDR: &str = "cdr";
const TREE_REGISTRATIONS: &str = "registrations";
const KEY_COMPANY: &[u8] = b"company";

/// The embedded store. Cheap to clone; all clones share one database.
#[derive(Clone)]
pub struct Store {
    db: sled::Db,
    config: sled::Tree,
    cdr: sled::Tree,
    registrations: sled::Tree,
}

impl Store {
    /// Opens (creating if needed) the store in `dir`.
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        std::fs::create_dir_all(dir).map_err(|e| StoreError::Engine(e.to_string()))?;
        let db = sled::Config::new().path(dir.join("db")).open()?;
        let config = db.open_tree(TREE_CONFIG)?;
        let cdr = db.open_tree(TREE_CDR)?;
        let registrations = db.open_tree(TREE_REGISTRATIONS)?;
        Ok(Store {
            db,
            config,
            cdr,
            registrations,
        })
    }

    /// Whether a company configuration has been stored (false on first start).
    pub fn is_initialized(&self) -> Result<bool, StoreError> {
        Ok(self.config.contains_key(KEY_COMPANY)?)
    }

    /// The stored company configuration, or `None` on a fresh store.
    pub fn load_config(&self) -> Result<Option<CompanyConfig>, StoreError> {
        match self.config.get(KEY_COMPANY)? {
            None => Ok(None),
            Some(bytes) => envelope::decode::<CompanyConfig>(&bytes)
                .map(Some)
                .map_err(|reason| StoreError::Decode {
                    tree: TREE_CONFIG,
                    key: "company".into(),
                    reason,
                }),
        }
    }

    /// Replaces the company configuration; durable when this returns.
    pub fn save_config(&self, cfg: &CompanyConfig) -> Result<(), StoreError> {
        let bytes = envelope::encode(envelope::COMPANY_CONFIG_VERSION, cfg)?;
        self.config.insert(KEY_COMPANY, bytes)?;
        self.flush()
    }

    /// Appends a CDR; durable when this returns. Key: end time (ms, big-endian) + call id, so
    /// iteration is in time order.
    pub fn put_cdr(&self, cdr: &Cdr) -> Result<(), StoreError> {
        self.put_cdrs(std::slice::from_ref(cdr))
    }

    /// Appends several CDRs with one flush (group commit); durable when this returns.
    pub fn put_cdrs(&self, cdrs: &[Cdr]) -> Result<(), StoreError> {
        let mut batch = sled::Batch::default();
        for cdr in cdrs {
            let mut key = cdr.end_unix_ms.to_be_bytes().to_vec();
            key.extend_from_slice(cdr.call_id.as_bytes());
            batch.insert(key, envelope::encode(envelope::CDR_VERSION, cdr)?);
        }
        self.cdr.apply_batch(batch)?;
        self.flush()
    }

    /// The newest `limit` CDRs, newest first.
    pub fn recent_cdrs(&self, limit: usize) -> Result<Vec<Cdr>, StoreError> {
        let mut out = Vec::new();
        for item in self.cdr.iter().rev().take(limit) {
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
        self.cdr.len()
    }

    /// Makes every write so far durable.
    pub fn flush(&self) -> Result<(), StoreError> {
        self.db.flush()?;
        Ok(())
    }

    /// A cheap liveness probe for `/health`: the engine answers a read.
    pub fn health(&self) -> bool {
        self.config.get(KEY_COMPANY).is_ok()
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
            result: CallResult::Completed,
            reason: "scenario finished".into(),
            steps: vec!["rule 1".into()],
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
    fn bad_document_names_the_problem() {
        let err = parse_document("company: 1\nnumbers: [ {kind: pbx} ]").unwrap_err();
        assert!(err.to_string().contains("number"), "{err}");
    }
}
