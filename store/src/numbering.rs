//! The numbering-plan registry files the admin loaded (SPEC §3 op 10; tree `numbering`, key:
//! the file's name): each one the regulator's CSV imported by `vpbx_numplan` into a sorted,
//! merged range table, kept with its import report and load time, so a restart needs no
//! re-import. Flushed on every write. Values are bincode bodies in the version [`envelope`].

use crate::{envelope, Store, StoreError};
use serde::{Deserialize, Serialize};
use vpbx_numplan::{ImportReport, RangeTable};

/// Tree of the registry files.
pub(crate) const TREE_NUMBERING: &str = "numbering";

/// One loaded registry file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NumberingFile {
    /// The ranges.
    pub table: RangeTable,
    /// What the import found.
    pub report: ImportReport,
    /// When it was loaded, ms since the Unix epoch.
    pub loaded_unix_ms: u64,
}

impl envelope::Migrate for NumberingFile {
    const CURRENT: u16 = 1;
}

impl Store {
    /// The loaded registry files, by name.
    pub fn numbering_files(&self) -> Result<Vec<(String, NumberingFile)>, StoreError> {
        let mut out = Vec::new();
        for item in self.engine()?.numbering.iter() {
            let (k, v) = item?;
            let name = String::from_utf8_lossy(&k).into_owned();
            let file =
                envelope::decode::<NumberingFile>(&v).map_err(|reason| StoreError::Decode {
                    tree: TREE_NUMBERING,
                    key: name.clone(),
                    reason,
                })?;
            out.push((name, file));
        }
        Ok(out)
    }

    /// Stores (or replaces) the registry file `name`. Flushed.
    pub fn put_numbering_file(&self, name: &str, file: &NumberingFile) -> Result<(), StoreError> {
        let bytes = envelope::encode(<NumberingFile as envelope::Migrate>::CURRENT, file)?;
        let done = self.engine()?.numbering.insert(name.as_bytes(), bytes);
        self.noted(done.map(|_| ()).map_err(StoreError::from))?;
        self.flush()
    }

    /// Removes the registry file `name`; answers whether it was there. Flushed.
    pub fn delete_numbering_file(&self, name: &str) -> Result<bool, StoreError> {
        let done = self.engine()?.numbering.remove(name.as_bytes());
        let was = self.noted(done.map_err(StoreError::from))?.is_some();
        self.flush()?;
        Ok(was)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_survive_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let (table, report) = RangeTable::import(
            "Код;От;До;Емкость;Оператор;Регион\n916;0000000;9999999;10000000;МТС;г. Москва\n",
        )
        .unwrap();
        let file = NumberingFile {
            table,
            report,
            loaded_unix_ms: 7,
        };
        {
            let store = Store::open(dir.path()).unwrap();
            assert!(store.numbering_files().unwrap().is_empty());
            store.put_numbering_file("DEF-9xx", &file).unwrap();
            store.put_numbering_file("ABC-4xx", &file).unwrap();
            assert!(store.delete_numbering_file("ABC-4xx").unwrap());
            assert!(!store.delete_numbering_file("ABC-4xx").unwrap());
        }
        let store = Store::open(dir.path()).unwrap();
        let files = store.numbering_files().unwrap();
        assert_eq!(files, vec![("DEF-9xx".to_string(), file)]);
    }
}
