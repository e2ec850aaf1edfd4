//! "Segment branch" (SPEC §3 op 12): one exit per caller segment, a segment being a saved
//! filter over contacts ([`Segment`](crate::model::Segment): contact groups, tags, regions of
//! the caller's number). The listed segments are tried in order and the first one the caller
//! falls in wins; several segments may share an exit. A caller whose number is no contact's
//! takes `no_segment`; a known contact in none of the listed segments takes `others` (D67).
//! Answers nothing, plays nothing.

use super::region_branch::exit_name_ok;
use super::{broken, Op, Ref, RefAt};
use crate::model::SegmentId;
use crate::validate::ValidationError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The exit of a caller whose number belongs to no contact of the address book.
pub const NO_SEGMENT: &str = "no_segment";

/// The exit of a known contact in none of the listed segments.
pub const OTHERS: &str = "others";

/// The most segments one segment branch lists.
pub const SEGMENT_MAX_EXITS: usize = 50;

/// One listed segment and the exit it takes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SegmentExit {
    /// Exit name (1-32 of `a-z`, `0-9`, `_`; not `no_segment` nor `others`).
    pub exit: String,
    /// The segment (must exist: rule `ref.segment`).
    pub segment: SegmentId,
}

/// Branches on the segment the caller falls in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SegmentBranch {
    /// The segments, in the order they are tried (the first the caller falls in wins).
    pub segments: Vec<SegmentExit>,
}

impl Op for SegmentBranch {
    fn exits(&self) -> &'static [&'static str] {
        &[NO_SEGMENT, OTHERS]
    }
    fn bound_exits(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for s in &self.segments {
            if s.exit != NO_SEGMENT && s.exit != OTHERS && !out.contains(&s.exit.as_str()) {
                out.push(&s.exit);
            }
        }
        out
    }
    fn refs(&self) -> Vec<RefAt> {
        self.segments
            .iter()
            .enumerate()
            .map(|(i, s)| RefAt {
                field: format!("segments[{i}].segment"),
                target: Ref::Segment(s.segment),
            })
            .collect()
    }
    fn violations(&self) -> Vec<ValidationError> {
        let mut out = Vec::new();
        if self.segments.is_empty() || self.segments.len() > SEGMENT_MAX_EXITS {
            out.push(broken(
                "segments",
                "segment_branch.segments",
                format!("segments must list 1 to {SEGMENT_MAX_EXITS} segments"),
            ));
        }
        let mut seen: BTreeMap<SegmentId, usize> = BTreeMap::new();
        for (i, s) in self.segments.iter().enumerate() {
            if !exit_name_ok(&s.exit) || s.exit == NO_SEGMENT || s.exit == OTHERS {
                out.push(broken(
                    &format!("segments[{i}].exit"),
                    "segment_branch.exit",
                    "an exit must be 1-32 characters a-z, 0-9, _ and not no_segment or others",
                ));
            }
            if let Some(first) = seen.get(&s.segment) {
                out.push(broken(
                    &format!("segments[{i}].segment"),
                    "segment_branch.segment",
                    format!(
                        "segment {} is already listed at segments[{first}], which is tried first",
                        s.segment
                    ),
                ));
            } else {
                seen.insert(s.segment, i);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(b: &SegmentBranch) -> Vec<(String, &'static str)> {
        b.violations()
            .into_iter()
            .map(|v| (v.field, v.rule))
            .collect()
    }

    #[test]
    fn exits_refs_and_rules() {
        let b: SegmentBranch = serde_json::from_str(
            r#"{"segments": [{"exit": "vip", "segment": 3}, {"exit": "wholesale", "segment": 4},
                             {"exit": "vip", "segment": 5}]}"#,
        )
        .unwrap();
        assert!(b.violations().is_empty(), "{:?}", b.violations());
        assert_eq!(b.exits(), [NO_SEGMENT, OTHERS]);
        // Two segments may share an exit: it is named once.
        assert_eq!(b.bound_exits(), ["vip", "wholesale"]);
        let refs = b.refs();
        assert_eq!(refs.len(), 3);
        assert_eq!(refs[1].field, "segments[1].segment");
        assert_eq!(refs[1].target, Ref::Segment(SegmentId(4)));
        assert_eq!(refs[1].target.rule(), "ref.segment");
        assert!(serde_json::from_str::<SegmentBranch>("{}").is_err());
        assert!(serde_json::from_str::<SegmentBranch>(
            r#"{"segments": [{"exit": "a", "segment": 1, "x": 1}]}"#
        )
        .is_err());

        let bad: SegmentBranch = serde_json::from_str(
            r#"{"segments": [{"exit": "VIP", "segment": 1}, {"exit": "others", "segment": 2},
                             {"exit": "no_segment", "segment": 3}, {"exit": "a", "segment": 1},
                             {"exit": "", "segment": 4}]}"#,
        )
        .unwrap();
        assert_eq!(
            rules(&bad),
            [
                ("segments[0].exit".to_string(), "segment_branch.exit"),
                ("segments[1].exit".to_string(), "segment_branch.exit"),
                ("segments[2].exit".to_string(), "segment_branch.exit"),
                ("segments[3].segment".to_string(), "segment_branch.segment"),
                ("segments[4].exit".to_string(), "segment_branch.exit"),
            ]
        );
        assert!(bad
            .bound_exits()
            .iter()
            .all(|e| *e != OTHERS && *e != NO_SEGMENT));
        let empty = SegmentBranch { segments: vec![] };
        assert_eq!(
            rules(&empty),
            [("segments".to_string(), "segment_branch.segments")]
        );
    }
}
