//! Importing a whole configuration safely: the document must be whole, the change is shown
//! before it is made, deleting anything needs an explicit confirmation, and the configuration
//! it replaces is kept as a backup file.
//!
//! An empty body once parsed as the empty company and deleted every employee, number and
//! scenario with a 200. [`parse_import`] refuses anything that is not a YAML mapping naming
//! the company, and bounds what the parser is given (size, line length, nesting) before it
//! runs, so a hostile document cannot hold a thread for long. [`plan`] lists what the import
//! creates, changes and deletes, kind by kind; [`Store::import`] applies it only when nothing
//! is deleted or `confirm_delete` is set, after writing a backup.

use crate::model::*;
use crate::repo::Entity;
use crate::{render_document, Store, StoreError};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// Largest document accepted (the HTTP route and the CLI apply the same bound).
pub const MAX_DOCUMENT_BYTES: usize = 16 * 1024 * 1024;
/// Longest line: a company document has no reason for a longer scalar.
pub const MAX_LINE_BYTES: usize = 64 * 1024;
/// Deepest nesting of flow collections (`[` `{`) and of indentation (in columns).
pub const MAX_FLOW_DEPTH: usize = 32;
/// Deepest indentation, in columns (a company document nests about 10 levels).
pub const MAX_INDENT: usize = 128;
/// Backups kept in `<data dir>/backups`; older ones are removed.
pub const BACKUPS_KEPT: usize = 20;

/// Why a document is not an importable configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DocumentError {
    /// Nothing but whitespace or comments.
    #[error("the document is empty: an import must be a whole configuration (export the current one to start from)")]
    Empty,
    /// Past one of the bounds.
    #[error("the document is too large or too deep: {0}")]
    TooBig(String),
    /// Not YAML, or not a configuration.
    #[error("{0}")]
    Malformed(String),
    /// A mapping without the `company` key.
    #[error(
        "the document has no `company`: an import must be a whole configuration, not a part of one"
    )]
    NotWhole,
}

/// Parses an import document (YAML, the format of `GET /api/v1/config`), refusing what is not
/// a whole configuration.
pub fn parse_import(text: &str) -> Result<CompanyConfig, DocumentError> {
    check_shape(text)?;
    if text
        .lines()
        .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#') || l.trim() == "---")
    {
        return Err(DocumentError::Empty);
    }
    let value: serde_yaml::Value =
        serde_yaml::from_str(text).map_err(|e| DocumentError::Malformed(e.to_string()))?;
    let map = match &value {
        serde_yaml::Value::Mapping(m) => m,
        serde_yaml::Value::Null => return Err(DocumentError::Empty),
        _ => {
            return Err(DocumentError::Malformed(
                "the document must be a mapping of the configuration's sections".into(),
            ))
        }
    };
    let whole = map.contains_key("company");
    // The typed reading first: a misspelt section (`compnay`) is named as such.
    let cfg = serde_yaml::from_value(value).map_err(|e| DocumentError::Malformed(e.to_string()))?;
    if !whole {
        return Err(DocumentError::NotWhole);
    }
    Ok(cfg)
}

/// Bounds checked on the raw text before any parser sees it.
fn check_shape(text: &str) -> Result<(), DocumentError> {
    if text.len() > MAX_DOCUMENT_BYTES {
        return Err(DocumentError::TooBig(format!(
            "{} bytes, the limit is {MAX_DOCUMENT_BYTES}",
            text.len()
        )));
    }
    let mut depth = 0usize;
    let mut quote: Option<char> = None;
    for (n, line) in text.lines().enumerate() {
        if line.len() > MAX_LINE_BYTES {
            return Err(DocumentError::TooBig(format!(
                "line {} has {} bytes, the limit is {MAX_LINE_BYTES}",
                n + 1,
                line.len()
            )));
        }
        let indent = line.len() - line.trim_start_matches([' ', '\t', '-']).len();
        if indent > MAX_INDENT {
            return Err(DocumentError::TooBig(format!(
                "line {} is indented {indent} columns, the limit is {MAX_INDENT}",
                n + 1
            )));
        }
        for c in line.chars() {
            match (quote, c) {
                (Some(q), c) if c == q => quote = None,
                (Some(_), _) => {}
                (None, '"' | '\'') => quote = Some(c),
                (None, '#') => break,
                (None, '[' | '{') => {
                    depth += 1;
                    if depth > MAX_FLOW_DEPTH {
                        return Err(DocumentError::TooBig(format!(
                            "line {}: collections nest deeper than {MAX_FLOW_DEPTH}",
                            n + 1
                        )));
                    }
                }
                (None, ']' | '}') => depth = depth.saturating_sub(1),
                _ => {}
            }
        }
        // Quotes end with their line: a stray quote in a plain scalar (`O'Brien`, `5" screen`)
        // must not hide the rest of the document from the depth count. (A quoted scalar that
        // spans lines is still parsed right; only this count treats its next lines as plain.)
        quote = None;
    }
    Ok(())
}

/// What an import changes in one kind of entity.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct KindChanges {
    /// Entities the document adds (`id: label`).
    pub created: Vec<String>,
    /// Entities it changes.
    pub updated: Vec<String>,
    /// Entities it deletes.
    pub deleted: Vec<String>,
}

impl KindChanges {
    fn is_empty(&self) -> bool {
        self.created.is_empty() && self.updated.is_empty() && self.deleted.is_empty()
    }
}

/// What an import changes, kind by kind (kinds without changes are left out).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ImportPlan {
    /// Whether the company name, time zone or box settings change.
    pub settings_changed: bool,
    /// Per kind (`employees`, `numbers`, …).
    pub changes: std::collections::BTreeMap<&'static str, KindChanges>,
}

impl ImportPlan {
    /// How many entities the import deletes.
    pub fn deletions(&self) -> usize {
        self.changes.values().map(|c| c.deleted.len()).sum()
    }

    /// One line for a human: "deletes 2 employees (101, 102), 1 number (74950000000)".
    pub fn deletion_summary(&self) -> String {
        self.changes
            .iter()
            .filter(|(_, c)| !c.deleted.is_empty())
            .map(|(kind, c)| format!("{} {kind} ({})", c.deleted.len(), c.deleted.join(", ")))
            .collect::<Vec<_>>()
            .join("; ")
    }
}

fn kind<T: Entity>(plan: &mut ImportPlan, current: &CompanyConfig, next: &CompanyConfig) {
    let name = |e: &T| format!("{}: {}", e.id(), e.label().trim());
    let mut c = KindChanges::default();
    for e in T::all(next) {
        match T::all(current).iter().find(|o| o.id() == e.id()) {
            None => c.created.push(name(e)),
            Some(o) if o != e => c.updated.push(name(e)),
            Some(_) => {}
        }
    }
    for o in T::all(current) {
        if !T::all(next).iter().any(|e| e.id() == o.id()) {
            c.deleted.push(name(o));
        }
    }
    if !c.is_empty() {
        plan.changes.insert(T::TREE, c);
    }
}

/// What importing `next` over `current` would do.
pub fn plan(current: &CompanyConfig, next: &CompanyConfig) -> ImportPlan {
    let mut p = ImportPlan {
        settings_changed: current.company != next.company
            || current.time_zone != next.time_zone
            || current.settings != next.settings,
        ..Default::default()
    };
    kind::<Employee>(&mut p, current, next);
    kind::<Group>(&mut p, current, next);
    kind::<FileMeta>(&mut p, current, next);
    kind::<VirtualNumber>(&mut p, current, next);
    kind::<Scenario>(&mut p, current, next);
    kind::<Contact>(&mut p, current, next);
    kind::<ContactGroup>(&mut p, current, next);
    kind::<Tag>(&mut p, current, next);
    kind::<Segment>(&mut p, current, next);
    kind::<NumberList>(&mut p, current, next);
    kind::<Schedule>(&mut p, current, next);
    kind::<ProductionCalendar>(&mut p, current, next);
    kind::<TalkOption>(&mut p, current, next);
    kind::<Trunk>(&mut p, current, next);
    p
}

/// How to import.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImportOptions {
    /// Only validate and plan; write nothing.
    pub dry_run: bool,
    /// Allow the import to delete entities.
    pub confirm_delete: bool,
}

/// What an import did or would do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum ImportOutcome {
    /// Written (the previous configuration is in `backup`).
    Applied {
        /// The changes.
        plan: ImportPlan,
        /// The backup file of the configuration it replaced.
        backup: Option<PathBuf>,
    },
    /// A dry run: valid, nothing written.
    DryRun {
        /// The changes it would make.
        plan: ImportPlan,
    },
    /// It would delete entities and `confirm_delete` was not set: nothing written.
    NeedsConfirmation {
        /// The changes it would make.
        plan: ImportPlan,
    },
    /// The document breaks validation rules: nothing written.
    Invalid {
        /// Every broken rule.
        errors: Vec<crate::ValidationError>,
    },
}

impl Store {
    /// Imports `next` as the whole configuration: validates it, plans it against the current
    /// configuration, and — unless a dry run, or deletions are unconfirmed — writes a backup of
    /// the current configuration then applies `next` in one transaction. Backups are named by
    /// `now_unix_ms` so they sort in time order.
    pub fn import(
        &self,
        next: &CompanyConfig,
        options: ImportOptions,
        now_unix_ms: u64,
    ) -> Result<ImportOutcome, StoreError> {
        let errors = crate::validate_config(next);
        if !errors.is_empty() {
            return Ok(ImportOutcome::Invalid { errors });
        }
        let current = self.snapshot()?;
        let plan = plan(&current, next);
        if options.dry_run {
            return Ok(ImportOutcome::DryRun { plan });
        }
        if plan.deletions() > 0 && !options.confirm_delete {
            return Ok(ImportOutcome::NeedsConfirmation { plan });
        }
        let backup = if self.is_initialized()? {
            Some(self.write_backup(&current, now_unix_ms)?)
        } else {
            None
        };
        match self.replace_all(next)? {
            Ok(()) => Ok(ImportOutcome::Applied { plan, backup }),
            Err(crate::Rejection::Invalid(errors)) => Ok(ImportOutcome::Invalid { errors }),
            Err(other) => Err(StoreError::Engine(other.to_string())),
        }
    }

    /// Where backups of replaced configurations go.
    pub fn backup_dir(&self) -> PathBuf {
        self.dir.join("backups")
    }

    fn write_backup(&self, cfg: &CompanyConfig, now_unix_ms: u64) -> Result<PathBuf, StoreError> {
        let dir = self.backup_dir();
        let io = |e: std::io::Error| StoreError::from_io("writing the configuration backup", e);
        std::fs::create_dir_all(&dir).map_err(io)?;
        let mut path = dir.join(format!("config-{now_unix_ms:013}.yaml"));
        let mut n = 1;
        while path.exists() {
            path = dir.join(format!("config-{now_unix_ms:013}-{n}.yaml"));
            n += 1;
        }
        write_durably(&path, render_document(cfg)?.as_bytes()).map_err(io)?;
        prune(&dir);
        Ok(path)
    }
}

/// Writes `bytes` to a temporary file beside `path`, syncs it, renames it into place.
fn write_durably(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::File::create(&tmp)?;
    let written = f.write_all(bytes).and_then(|()| f.sync_all());
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    std::fs::rename(&tmp, path)
}

/// Keeps the newest [`BACKUPS_KEPT`] backups.
fn prune(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut names: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("config-") && n.ends_with(".yaml"))
        })
        .collect();
    names.sort();
    let excess = names.len().saturating_sub(BACKUPS_KEPT);
    for old in &names[..excess] {
        let _ = std::fs::remove_file(old);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEMO: &str = include_str!("../../config/demo.yaml");

    #[test]
    fn only_whole_documents_parse() {
        for empty in ["", "   \n", "# nothing\n", "---\n", "~\n", "null\n"] {
            assert_eq!(parse_import(empty), Err(DocumentError::Empty), "{empty:?}");
        }
        assert_eq!(parse_import("{}"), Err(DocumentError::NotWhole));
        assert_eq!(
            parse_import("employees: []\n"),
            Err(DocumentError::NotWhole)
        );
        assert!(matches!(
            parse_import("- 1\n- 2\n"),
            Err(DocumentError::Malformed(_))
        ));
        assert!(matches!(
            parse_import("company: x\nnick: 1\n"),
            Err(DocumentError::Malformed(m)) if m.contains("nick")
        ));
        assert_eq!(
            parse_import(DEMO).unwrap(),
            crate::parse_document(DEMO).unwrap()
        );
        let minimal = parse_import("company: Acme\n").unwrap();
        assert_eq!(minimal.company, "Acme");
    }

    #[test]
    fn hostile_shapes_are_refused_before_parsing() {
        let deep_flow = format!(
            "company: x\nemployees: {}{}\n",
            "[".repeat(5000),
            "]".repeat(5000)
        );
        assert!(
            matches!(parse_import(&deep_flow), Err(DocumentError::TooBig(m)) if m.contains("nest"))
        );
        let mut deep_block = String::from("company: x\nsettings:\n");
        for i in 1..200 {
            deep_block.push_str(&format!("{}k{i}:\n", " ".repeat(i)));
        }
        assert!(
            matches!(parse_import(&deep_block), Err(DocumentError::TooBig(m)) if m.contains("indented"))
        );
        let long = format!("company: \"{}\"\n", "x".repeat(MAX_LINE_BYTES + 1));
        assert!(
            matches!(parse_import(&long), Err(DocumentError::TooBig(m)) if m.contains("line 1"))
        );
        let huge = " ".repeat(MAX_DOCUMENT_BYTES + 1);
        assert!(matches!(parse_import(&huge), Err(DocumentError::TooBig(_))));
        // Brackets inside quotes and comments do not count.
        let quoted = format!("company: \"{}\" # {}\n", "[".repeat(100), "{".repeat(100));
        assert_eq!(parse_import(&quoted).unwrap().company, "[".repeat(100));
        let stray = format!("company: 5\" screen\nemployees: {}\n", "[".repeat(100));
        assert!(matches!(
            parse_import(&stray),
            Err(DocumentError::TooBig(_))
        ));
        let apostrophe = "company: O'Brien and Sons\ntime_zone: UTC\n";
        assert_eq!(
            parse_import(apostrophe).unwrap().company,
            "O'Brien and Sons"
        );
    }

    #[test]
    fn import_plans_confirms_deletions_and_keeps_a_backup() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let demo = parse_import(DEMO).unwrap();
        // First import: nothing to back up, nothing deleted.
        let out = store
            .import(&demo, ImportOptions::default(), 1_000)
            .unwrap();
        assert!(
            matches!(&out, ImportOutcome::Applied { backup: None, plan } if plan.deletions() == 0 && plan.changes["employees"].created.len() == 2),
            "{out:?}"
        );

        // A document without the employees deletes them: refused until confirmed.
        let mut fewer = demo.clone();
        fewer.employees.clear();
        fewer.groups.clear();
        let out = store
            .import(&fewer, ImportOptions::default(), 2_000)
            .unwrap();
        let ImportOutcome::NeedsConfirmation { plan } = &out else {
            panic!("{out:?}")
        };
        assert_eq!(plan.changes["employees"].deleted.len(), 2);
        assert!(
            plan.deletion_summary().contains("employees"),
            "{}",
            plan.deletion_summary()
        );
        assert_eq!(store.employees().count().unwrap(), 2, "nothing written");

        // A dry run writes nothing either, even with the confirmation.
        let dry = ImportOptions {
            dry_run: true,
            confirm_delete: true,
        };
        assert!(matches!(
            store.import(&fewer, dry, 3_000).unwrap(),
            ImportOutcome::DryRun { .. }
        ));
        assert_eq!(store.employees().count().unwrap(), 2);
        assert!(!store.backup_dir().exists());

        // Confirmed: applied, and the previous configuration is in the backup.
        let yes = ImportOptions {
            confirm_delete: true,
            ..Default::default()
        };
        let ImportOutcome::Applied {
            backup: Some(path), ..
        } = store.import(&fewer, yes, 4_000).unwrap()
        else {
            panic!("not applied")
        };
        assert_eq!(store.employees().count().unwrap(), 0);
        let saved = parse_import(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(saved.employees.len(), 2);
        assert!(
            path.ends_with("config-0000000004000.yaml"),
            "{}",
            path.display()
        );

        // Invalid documents are reported, not written.
        let mut bad = demo.clone();
        bad.employees[0].extension = "88".into();
        assert!(matches!(
            store.import(&bad, yes, 5_000).unwrap(),
            ImportOutcome::Invalid { .. }
        ));
        assert_eq!(store.employees().count().unwrap(), 0);
    }

    #[test]
    fn old_backups_are_pruned() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let demo = parse_import(DEMO).unwrap();
        let yes = ImportOptions {
            confirm_delete: true,
            ..Default::default()
        };
        for t in 0..(BACKUPS_KEPT as u64 + 5) {
            let mut cfg = demo.clone();
            cfg.company = format!("Acme {t}");
            store.import(&cfg, yes, 10_000 + t).unwrap();
        }
        let n = std::fs::read_dir(store.backup_dir()).unwrap().count();
        assert_eq!(n, BACKUPS_KEPT);
    }
}
