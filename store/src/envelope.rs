//! The version envelope around every stored value.
//!
//! Layout: one magic byte (`0xB5`), a big-endian `u16` schema version, then
//! the bincode 1.3.3 encoding of the value at that version. A reader that finds an older version
//! migrates the record through [`Migrate`] before handing it out; a newer version than the binary
//! knows is an error (a downgrade must not silently misread data).

use crate::StoreError;
use serde::{de::DeserializeOwned, Serialize};

const MAGIC: u8 = 0xB5;

/// Current schema version of [`crate::model::CompanyConfig`].
pub const COMPANY_CONFIG_VERSION: u16 = 1;
/// Current schema version of [`crate::model::Cdr`].
pub const CDR_VERSION: u16 = 1;

/// Encodes `value` at schema `version`.
pub fn encode<T: Serialize>(version: u16, value: &T) -> Result<Vec<u8>, StoreError> {
    let body = bincode::serialize(value).map_err(|e| StoreError::Encode(e.to_string()))?;
    let mut out = Vec::with_capacity(body.len() + 3);
    out.push(MAGIC);
    out.extend_from_slice(&version.to_be_bytes());
    out.extend_from_slice(&body);
    Ok(out)
}

/// Splits an envelope into its version and body.
pub fn open(bytes: &[u8]) -> Result<(u16, &[u8]), String> {
    match bytes {
        [MAGIC, hi, lo, body @ ..] => Ok((u16::from_be_bytes([*hi, *lo]), body)),
        [] => Err("empty record".into()),
        _ => Err("not a vpbx record (bad magic byte)".into()),
    }
}

/// Decodes a value of the current version. Types whose schema changed implement their
/// migration in [`Migrate`]; version 1 is the first schema, so there is nothing to migrate yet.
pub fn decode<T: DeserializeOwned + Migrate>(bytes: &[u8]) -> Result<T, String> {
    let (version, body) = open(bytes)?;
    if version > T::CURRENT {
        return Err(format!(
            "record has schema version {version}, this binary knows up to {}",
            T::CURRENT
        ));
    }
    if version == T::CURRENT {
        return bincode::deserialize(body).map_err(|e| e.to_string());
    }
    T::migrate(version, body)
}

/// Migration of older record versions to the current one.
pub trait Migrate: Sized {
    /// The version this binary writes.
    const CURRENT: u16;
    /// Decodes a record written at `version` (< `CURRENT`).
    fn migrate(version: u16, body: &[u8]) -> Result<Self, String> {
        let _ = body;
        Err(format!("no migration from schema version {version}"))
    }
}

impl Migrate for crate::model::CompanyConfig {
    const CURRENT: u16 = COMPANY_CONFIG_VERSION;
}

impl Migrate for crate::model::Cdr {
    const CURRENT: u16 = CDR_VERSION;
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct V1 {
        name: String,
    }
    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct V2 {
        name: String,
        enabled: bool,
    }
    impl Migrate for V2 {
        const CURRENT: u16 = 2;
        fn migrate(version: u16, body: &[u8]) -> Result<Self, String> {
            match version {
                1 => {
                    let old: V1 = bincode::deserialize(body).map_err(|e| e.to_string())?;
                    Ok(V2 {
                        name: old.name,
                        enabled: true,
                    })
                }
                v => Err(format!("unknown version {v}")),
            }
        }
    }

    #[test]
    fn old_records_migrate_on_read() {
        let old = encode(1, &V1 { name: "a".into() }).unwrap();
        let new: V2 = decode(&old).unwrap();
        assert_eq!(
            new,
            V2 {
                name: "a".into(),
                enabled: true
            }
        );
    }

    #[test]
    fn newer_and_foreign_records_are_errors_not_panics() {
        let newer = encode(
            9,
            &V2 {
                name: "a".into(),
                enabled: false,
            },
        )
        .unwrap();
        assert!(decode::<V2>(&newer).unwrap_err().contains("version 9"));
        assert!(decode::<V2>(b"").is_err());
        assert!(decode::<V2>(b"\x00garbage").is_err());
        assert!(decode::<V2>(&[MAGIC, 0, 2, 0xff]).is_err());
    }
}
