//! The version envelope around every stored value.
//!
//! Layout: one magic byte naming the body codec, a big-endian `u16` schema version, then the
//! body:
//! - `0xB5`: bincode 1.3.3 — compact, used for flat records (CDRs, registrations);
//! - `0xB6`: JSON — used for configuration entities. Their serde shape is the document shape
//!   (internally tagged enums such as `Phone` or `Action`, `{kind: ...}`), which bincode cannot
//!   decode (it has no `deserialize_any`); version-1 configuration records written with bincode
//!   were therefore unreadable, which is why configuration moved to JSON bodies.
//!
//! A reader that finds an older version migrates the record through [`Migrate`] before handing
//! it out; a newer version than the binary knows is an error (a downgrade must not silently
//! misread data).

use crate::StoreError;
use serde::{de::DeserializeOwned, Serialize};

const MAGIC_BINCODE: u8 = 0xB5;
const MAGIC_JSON: u8 = 0xB6;

/// Current schema version of [`crate::model::CompanyConfig`] (the import/export document).
pub const COMPANY_CONFIG_VERSION: u16 = 2;
/// Current schema version of [`crate::model::Cdr`].
pub const CDR_VERSION: u16 = 2;
/// Current schema version of every configuration entity record (one tree per kind).
pub const ENTITY_VERSION: u16 = 1;

/// How a body is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    /// bincode 1.3.3.
    Bincode,
    /// JSON.
    Json,
}

/// The body of a record with its codec, handed to migrations.
#[derive(Debug, Clone, Copy)]
pub struct Body<'a> {
    /// Codec.
    pub codec: Codec,
    /// Bytes after the header.
    pub bytes: &'a [u8],
}

impl Body<'_> {
    /// Decodes the body as `T` (no migration).
    pub fn decode<T: DeserializeOwned>(&self) -> Result<T, String> {
        match self.codec {
            Codec::Bincode => bincode::deserialize(self.bytes).map_err(|e| e.to_string()),
            Codec::Json => serde_json::from_slice(self.bytes).map_err(|e| e.to_string()),
        }
    }
}

fn header(magic: u8, version: u16, body_len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(body_len + 3);
    out.push(magic);
    out.extend_from_slice(&version.to_be_bytes());
    out
}

/// Encodes `value` at schema `version` with bincode.
pub fn encode<T: Serialize>(version: u16, value: &T) -> Result<Vec<u8>, StoreError> {
    let body = bincode::serialize(value).map_err(|e| StoreError::Encode(e.to_string()))?;
    let mut out = header(MAGIC_BINCODE, version, body.len());
    out.extend_from_slice(&body);
    Ok(out)
}

/// Encodes `value` at schema `version` with JSON (configuration entities).
pub fn encode_json<T: Serialize>(version: u16, value: &T) -> Result<Vec<u8>, StoreError> {
    let body = serde_json::to_vec(value).map_err(|e| StoreError::Encode(e.to_string()))?;
    let mut out = header(MAGIC_JSON, version, body.len());
    out.extend_from_slice(&body);
    Ok(out)
}

/// Splits an envelope into its version and body.
pub fn open(bytes: &[u8]) -> Result<(u16, Body<'_>), String> {
    match bytes {
        [MAGIC_BINCODE, hi, lo, body @ ..] => Ok((
            u16::from_be_bytes([*hi, *lo]),
            Body {
                codec: Codec::Bincode,
                bytes: body,
            },
        )),
        [MAGIC_JSON, hi, lo, body @ ..] => Ok((
            u16::from_be_bytes([*hi, *lo]),
            Body {
                codec: Codec::Json,
                bytes: body,
            },
        )),
        [] => Err("empty record".into()),
        _ => Err("not a vpbx record (bad magic byte)".into()),
    }
}

/// Decodes a value, migrating older versions through [`Migrate`].
pub fn decode<T: DeserializeOwned + Migrate>(bytes: &[u8]) -> Result<T, String> {
    let (version, body) = open(bytes)?;
    if version > T::CURRENT {
        return Err(format!(
            "record has schema version {version}, this binary knows up to {}",
            T::CURRENT
        ));
    }
    if version == T::CURRENT {
        return body.decode();
    }
    T::migrate(version, body)
}

/// Migration of older record versions to the current one.
pub trait Migrate: Sized {
    /// The version this binary writes.
    const CURRENT: u16;
    /// Decodes a record written at `version` (< `CURRENT`).
    fn migrate(version: u16, body: Body<'_>) -> Result<Self, String> {
        let _ = body;
        Err(format!("no migration from schema version {version}"))
    }
}

impl Migrate for crate::model::CompanyConfig {
    const CURRENT: u16 = COMPANY_CONFIG_VERSION;
    /// Version 1 was the same shape; bincode bodies of it only decode when they hold no tagged
    /// enum (an empty directory), JSON bodies always.
    fn migrate(version: u16, body: Body<'_>) -> Result<Self, String> {
        match version {
            1 => body.decode(),
            v => Err(format!("no migration from schema version {v}")),
        }
    }
}

impl Migrate for crate::model::Cdr {
    const CURRENT: u16 = CDR_VERSION;
    /// Version 1 kept the call detail as text and one result for what happened and who hung up.
    fn migrate(version: u16, body: Body<'_>) -> Result<Self, String> {
        match version {
            1 => crate::model::cdr_migrate_v1(&body),
            v => Err(format!("no migration from schema version {v}")),
        }
    }
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
        fn migrate(version: u16, body: Body<'_>) -> Result<Self, String> {
            match version {
                1 => {
                    let old: V1 = body.decode()?;
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
        let old = encode_json(1, &V1 { name: "b".into() }).unwrap();
        assert_eq!(decode::<V2>(&old).unwrap().name, "b");
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
        assert!(decode::<V2>(&[MAGIC_BINCODE, 0, 2, 0xff]).is_err());
        assert!(decode::<V2>(&[MAGIC_JSON, 0, 2, b'{']).is_err());
    }

    #[test]
    fn tagged_configuration_round_trips_in_json_bodies() {
        let cfg = crate::parse_document(include_str!("../../config/demo.yaml")).unwrap();
        // bincode cannot decode internally tagged enums: this is why configuration uses JSON.
        let b = encode(COMPANY_CONFIG_VERSION, &cfg).unwrap();
        assert!(decode::<crate::model::CompanyConfig>(&b).is_err());
        let j = encode_json(COMPANY_CONFIG_VERSION, &cfg).unwrap();
        assert_eq!(decode::<crate::model::CompanyConfig>(&j).unwrap(), cfg);
    }
}
