//! First start: load the demo company into an empty store.
//!
//! The demo document comes from `config/demo.yaml` (the `demo` setting) when present, otherwise
//! from the copy built into the binary, so a bare binary still starts with a working company.
//! Files the demo refers to are copied into the data directory; the built-in greeting is written
//! there when no file is found next to the document. The document is checked like an import
//! (`vpbx_store::validate_config`: every validation rule, the scenario graphs included) before
//! any file is copied, and written with `Store::replace_all` (one transaction).

use std::path::{Path, PathBuf};
use vpbx_actors::config_hub;
use vpbx_store::{model::CompanyConfig, Store};

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
    let cfg = vpbx_store::parse_document(&text)?;
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
    Ok(cfg)
}
