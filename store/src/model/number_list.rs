//! Number lists and the blacklist (SPEC §1.4).

use super::NumberListId;
use serde::{Deserialize, Serialize};

/// White or black.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ListKind {
    /// A list of welcome callers (rules can target it).
    #[default]
    White,
    /// A list of unwanted callers.
    Black,
}

/// A named list of caller numbers; entries may be masks (`*` any run of digits, `?` one digit).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NumberList {
    /// Id.
    pub id: NumberListId,
    /// Name.
    pub name: String,
    /// White or black.
    #[serde(default)]
    pub kind: ListKind,
    /// This is *the* blacklist: calls from its numbers are blocked (at most one list, of kind
    /// black).
    #[serde(default)]
    pub blacklist: bool,
    /// Numbers or masks.
    #[serde(default)]
    pub entries: Vec<String>,
}
