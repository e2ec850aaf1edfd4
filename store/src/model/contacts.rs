//! The address book (SPEC §1.3): contacts, contact groups, tags and segments.

use super::{ContactGroupId, ContactId, EmployeeId, SegmentId, TagId};
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

/// A segment: a saved filter over contacts (SPEC §3 op 12, "contact group + region"). A contact
/// is in the segment when every condition that is set holds (AND); a list condition holds when
/// the contact (or the caller's number) matches ANY of its entries; an empty list sets no
/// condition. A segment with no condition at all is refused (rule `segment.empty`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Segment {
    /// Id.
    pub id: SegmentId,
    /// Name.
    pub name: String,
    /// The contact belongs to any of these contact groups (empty: no condition).
    #[serde(default)]
    pub contact_groups: Vec<ContactGroupId>,
    /// The contact has any of these tags (empty: no condition).
    #[serde(default)]
    pub tags: Vec<TagId>,
    /// The caller's number is in one of these regions: a Russian federal subject by its
    /// ISO 3166-2 code (`RU-MOW`), or a country by its ISO 3166-1 alpha-2 code (`GB`), which
    /// holds every number of that country (empty: no condition).
    #[serde(default)]
    pub regions: Vec<String>,
}

impl Segment {
    /// Whether the segment sets no condition at all.
    pub fn is_empty(&self) -> bool {
        self.contact_groups.is_empty() && self.tags.is_empty() && self.regions.is_empty()
    }
}
