//! "List branch" (SPEC §3 op 9): exits `in_list` / `not_in_list` for the caller's number against
//! one list — a number list (white or black; its entries may be masks, matched exactly as a
//! routing rule's number-list filter matches), a contact group (the caller is the phone of a
//! contact in the group) or a contact tag (the caller is the phone of a contact with the tag).
//! Answers nothing, plays nothing.

use super::{broken, Op, Ref, RefAt};
use crate::model::{ContactGroupId, NumberListId, TagId};
use crate::validate::ValidationError;
use serde::{Deserialize, Serialize};

/// Go on at `in_list` when the caller's number is in the list, else at `not_in_list`. Exactly
/// one of `list`, `contact_group` and `tag` is set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListBranch {
    /// A number list (must exist: rule `ref.number_list`).
    #[serde(default)]
    pub list: Option<NumberListId>,
    /// A contact group (must exist: rule `ref.contact_group`).
    #[serde(default)]
    pub contact_group: Option<ContactGroupId>,
    /// A contact tag (must exist: rule `ref.tag`).
    #[serde(default)]
    pub tag: Option<TagId>,
}

impl ListBranch {
    /// A branch on the number list `list`.
    pub fn number_list(list: NumberListId) -> Self {
        ListBranch {
            list: Some(list),
            contact_group: None,
            tag: None,
        }
    }
}

impl Op for ListBranch {
    fn exits(&self) -> &'static [&'static str] {
        &["in_list", "not_in_list"]
    }
    fn refs(&self) -> Vec<RefAt> {
        let at = |field: &str, target| RefAt {
            field: field.into(),
            target,
        };
        self.list
            .map(|id| at("list", Ref::NumberList(id)))
            .into_iter()
            .chain(
                self.contact_group
                    .map(|id| at("contact_group", Ref::ContactGroup(id))),
            )
            .chain(self.tag.map(|id| at("tag", Ref::Tag(id))))
            .collect()
    }
    fn violations(&self) -> Vec<ValidationError> {
        let set = [
            self.list.is_some(),
            self.contact_group.is_some(),
            self.tag.is_some(),
        ]
        .iter()
        .filter(|s| **s)
        .count();
        if set == 1 {
            Vec::new()
        } else {
            vec![broken(
                "list",
                "list_branch.one_list",
                "a list branch names exactly one of list (a number list), contact_group and tag",
            )]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exits_refs_and_fields() {
        let b: ListBranch = serde_json::from_str(r#"{"list": 2}"#).unwrap();
        assert_eq!(b, ListBranch::number_list(NumberListId(2)));
        assert_eq!(b.exits(), &["in_list", "not_in_list"]);
        assert_eq!(b.refs()[0].field, "list");
        assert_eq!(b.refs()[0].target, Ref::NumberList(NumberListId(2)));
        assert!(b.violations().is_empty());
        assert_eq!(
            serde_json::to_string(&b).unwrap(),
            r#"{"list":2,"contact_group":null,"tag":null}"#
        );
        let g: ListBranch = serde_json::from_str(r#"{"contact_group": 4}"#).unwrap();
        assert_eq!(g.refs()[0].target, Ref::ContactGroup(ContactGroupId(4)));
        let t: ListBranch = serde_json::from_str(r#"{"tag": 5}"#).unwrap();
        assert_eq!(t.refs()[0].target, Ref::Tag(TagId(5)));
        assert!(g.violations().is_empty() && t.violations().is_empty());
        for bad in ["{}", r#"{"list": 2, "tag": 5}"#] {
            let b: ListBranch = serde_json::from_str(bad).unwrap();
            assert_eq!(b.violations()[0].rule, "list_branch.one_list", "{bad}");
        }
        assert!(serde_json::from_str::<ListBranch>(r#"{"list": 2, "x": 1}"#).is_err());
    }
}
