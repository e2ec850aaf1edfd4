//! Box-wide settings.

use serde::{Deserialize, Serialize};

/// Settings that constrain the directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BoxSettings {
    /// Fixed extension length N (1–5); `None` allows 1–5 digits. Default 3.
    pub extension_length: Option<u8>,
    /// "Mobile line" mode: every extension starts with `2` and has 4 or 5 digits (so
    /// `extension_length` must be unset, 4 or 5).
    pub mobile_line_mode: bool,
}

impl Default for BoxSettings {
    fn default() -> Self {
        BoxSettings {
            extension_length: Some(3),
            mobile_line_mode: false,
        }
    }
}

/// The singleton settings record: company name, time zone and [`BoxSettings`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompanySettings {
    /// Company name.
    pub company: String,
    /// IANA time zone of every schedule evaluation (empty = UTC).
    pub time_zone: String,
    /// Directory constraints.
    pub settings: BoxSettings,
}
