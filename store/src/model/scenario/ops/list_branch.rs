//! "List branch" (SPEC §3 op 9): exits `in_list` / `not_in_list` for the caller's number against
//! a number list (its entries may be masks), matched exactly as a routing rule's number-list
//! filter matches. Answers nothing, plays nothing.

use super::{Op, Ref, RefAt};
use crate::model::NumberListId;
use serde::{Deserialize, Serialize};

/// Go on at `in_list` when the caller's number is in the list, else at `not_in_list`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListBranch {
    /// The number list (must exist: rule `ref.number_list`).
    pub list: NumberListId,
}

impl Op for ListBranch {
    fn exits(&self) -> &'static [&'static str] {
        &["in_list", "not_in_list"]
    }
    fn refs(&self) -> Vec<RefAt> {
        vec![RefAt {
            field: "list".into(),
            target: Ref::NumberList(self.list),
        }]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exits_refs_and_fields() {
        let b: ListBranch = serde_json::from_str(r#"{"list": 2}"#).unwrap();
        assert_eq!(b.exits(), &["in_list", "not_in_list"]);
        assert_eq!(b.refs()[0].field, "list");
        assert_eq!(b.refs()[0].target, Ref::NumberList(NumberListId(2)));
        assert!(serde_json::from_str::<ListBranch>("{}").is_err());
        assert!(serde_json::from_str::<ListBranch>(r#"{"list": 2, "x": 1}"#).is_err());
    }
}
