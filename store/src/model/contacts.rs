//! The address book (SPEC §1.3): contacts, contact groups and tags.

use super::{ContactGroupId, ContactId, EmployeeId, TagId};
use serde::{Deserialize, Serialize};

/// A contact of the address book. A caller whose number is one of a contact's phones is
/// "known"; everyone else is "unknown".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Contact {
    /// Id.
    pub id: ContactId,
    /// Last name (required; a contact created from a call gets the number).
    pub last_name: String,
    /// First name.
    #[serde(default)]
    pub first_name: String,
    /// E-mail.
    #[serde(default)]
    pub email: Option<String>,
    /// Phone numbers, international format.
    #[serde(default)]
    pub phones: Vec<String>,
    /// Organisation.
    #[serde(default)]
    pub organisation: Option<String>,
    /// Contact groups the contact belongs to.
    #[serde(default)]
    pub groups: Vec<ContactGroupId>,
    /// Personal manager.
    #[serde(default)]
    pub manager: Option<EmployeeId>,
    /// Tags.
    #[serde(default)]
    pub tags: Vec<TagId>,
}

/// A contact group ("Key clients", "Debtors", "VIP").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContactGroup {
    /// Id.
    pub id: ContactGroupId,
    /// Name.
    pub name: String,
}

/// A tag for contacts and calls ("wholesale", "complained").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tag {
    /// Id.
    pub id: TagId,
    /// Name.
    pub name: String,
}
