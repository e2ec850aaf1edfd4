//! First start: load the demo company into an empty store.
//!
//! The demo document comes from `config/demo.yaml` (the `demo` setting) when present, otherwise
//! from the copy built into the binary, so a bare binary still starts with a working company.
//! Files the demo refers to are copied into the data directory; the built-in greeting is written
//! there when no file is found next to the document. The document is checked like an import
//! (`vpbx_store::validate_config`: every validation rule, the scenario graphs included) before
//! any file is copied, and written with `Store::replace_all` (one transaction).
//!
//! The demo lines' passwords are generated at first start ([`DemoPasswords::Random`], the
//! default): a published password is the first thing a SIP scanner tries. Each is logged once
//! and stays readable through the API (`GET /api/v1/employees/{id}`). `Document` keeps the
//! passwords written in the document, for labs and tests that need known ones.

use crate::settings::DemoPasswords;
use rand::Rng;
use std::path::{Path, PathBuf};
use vpbx_actors::config_hub;
use vpbx_store::model::{CompanyConfig, Phone};
use vpbx_store::Store;

const BUILTIN_DEMO: &str = include_str!("../config/demo.yaml");
const BUILTIN_GREETING: &[u8] = include_bytes!("../config/prompts/greeting.wav");

/// Errors loading the demo.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// The document cannot be read.
    #[error("{path}: {reason}")]
    Read {
        /// File.
        path: String,
        /// Why.
        reason: String,
    },
    /// The document is not a valid configuration.
    #[error(transparent)]
    Invalid(#[from] config_hub::ConfigError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] vpbx_store::StoreError),
}

/// Returns the stored configuration, loading the demo first if the store is empty.
pub fn ensure_loaded(
    store: &Store,
    data_dir: &Path,
    demo: Option<&Path>,
    passwords: DemoPasswords,
) -> Result<CompanyConfig, DemoError> {
    if let Some(cfg) = store.load_config()? {
        return Ok(cfg);
    }
    let (text, base): (String, Option<PathBuf>) = match demo {
        Some(p) if p.exists() => (
            std::fs::read_to_string(p).map_err(|e| DemoError::Read {
                path: p.display().to_string(),
                reason: e.to_string(),
            })?,
            p.parent().map(Path::to_path_buf),
        ),
        _ => (BUILTIN_DEMO.to_string(), None),
    };
    let mut cfg = vpbx_store::parse_document(&text)?;
    let generated = match passwords {
        DemoPasswords::Random => fresh_passwords(&mut cfg, &mut rand::thread_rng()),
        DemoPasswords::Document => Vec::new(),
    };
    let errors = vpbx_store::validate_config(&cfg);
    if !errors.is_empty() {
        return Err(config_hub::ConfigError::Invalid(errors).into());
    }
    for f in &cfg.files {
        let dest = data_dir.join(&f.path);
        if dest.exists() {
            continue;
        }
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent).map_err(|e| DemoError::Read {
                path: parent.display().to_string(),
                reason: e.to_string(),
            })?;
        }
        let src = base.as_ref().map(|b| b.join(&f.path));
        let copied = match &src {
            Some(s) if s.exists() => std::fs::copy(s, &dest).map(|_| ()),
            _ if f.path.ends_with("greeting.wav") => std::fs::write(&dest, BUILTIN_GREETING),
            _ => {
                tracing::warn!(file = %f.path, "demo file not found; prompts using it will be skipped");
                Ok(())
            }
        };
        copied.map_err(|e| DemoError::Read {
            path: dest.display().to_string(),
            reason: e.to_string(),
        })?;
    }
    // Validated as a whole and written in one transaction; a broken demo never half-loads.
    match store.replace_all(&cfg)? {
        Ok(()) => {}
        Err(vpbx_store::Rejection::Invalid(errors)) => {
            return Err(config_hub::ConfigError::Invalid(errors).into())
        }
        Err(other) => {
            return Err(DemoError::Read {
                path: "demo".into(),
                reason: other.to_string(),
            })
        }
    }
    tracing::info!(company = %cfg.company, "first start: demo company loaded");
    for (employee, login, password) in &generated {
        // Shown once; afterwards in the API (GET /api/v1/employees/{employee}).
        tracing::info!(
            employee,
            login = %login,
            password = %password,
            "demo SIP line password generated"
        );
    }
    Ok(cfg)
}

/// Gives every SIP line of `cfg` a new random password (as long and strong as the ones the box
/// generates for new lines); returns (employee id, login, password) of each.
fn fresh_passwords(cfg: &mut CompanyConfig, rng: &mut impl Rng) -> Vec<(u64, String, String)> {
    let mut out = Vec::new();
    for e in &mut cfg.employees {
        for phone in &mut e.phones {
            if let Phone::SipLine(l) = phone {
                l.password = (0..vpbx_store::credentials::PASSWORD_LEN)
                    .map(|_| char::from(rng.sample(rand::distributions::Alphanumeric)))
                    .collect();
                out.push((e.id.0, l.login.clone(), l.password.clone()));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line_passwords(cfg: &CompanyConfig) -> Vec<(String, String)> {
        cfg.employees
            .iter()
            .flat_map(|e| e.phones.iter())
            .filter_map(|p| match p {
                Phone::SipLine(l) => Some((l.login.clone(), l.password.clone())),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn demo_line_passwords_are_generated_at_first_start_only() {
        let document = line_passwords(&vpbx_store::parse_document(BUILTIN_DEMO).unwrap());
        assert_eq!(document.len(), 2);
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("store")).unwrap();
        let cfg = ensure_loaded(&store, dir.path(), None, DemoPasswords::Random).unwrap();
        let fresh = line_passwords(&cfg);
        assert_eq!(fresh.len(), 2);
        for ((login, pw), (doc_login, doc_pw)) in fresh.iter().zip(&document) {
            assert_eq!(login, doc_login);
            assert_ne!(pw, doc_pw, "line {login} kept the published password");
            assert_eq!(pw.len(), vpbx_store::credentials::PASSWORD_LEN);
            assert!(pw.bytes().all(|b| b.is_ascii_alphanumeric()));
        }
        assert_ne!(fresh[0].1, fresh[1].1);
        // Stored: the next start reads them back unchanged.
        let again = ensure_loaded(&store, dir.path(), None, DemoPasswords::Random).unwrap();
        assert_eq!(line_passwords(&again), fresh);
    }

    #[test]
    fn document_passwords_on_request() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("store")).unwrap();
        let cfg = ensure_loaded(&store, dir.path(), None, DemoPasswords::Document).unwrap();
        let document = line_passwords(&vpbx_store::parse_document(BUILTIN_DEMO).unwrap());
        assert_eq!(line_passwords(&cfg), document);
    }
}
