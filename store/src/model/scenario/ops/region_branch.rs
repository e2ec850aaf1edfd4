//! "Region branch" (SPEC §3 op 10): one exit per group of regions of the caller's number, and
//! `other_regions` for every other caller (an unknown number, a region no exit names). A
//! region is a Russian federal subject by its ISO 3166-2 code (`RU-MOW`, `RU-SPE`, `RU-TA`) or
//! a country by its ISO 3166-1 alpha-2 code (`RU`, `GB`); the caller's region comes from the
//! numbering plan (`vpbx_numplan`: the admin-loaded registry, then the shipped ABC prefixes,
//! then the country calling code). A subdivision's exit wins over its country's. Answers
//! nothing, plays nothing.

use super::{broken, Op, RefAt};
use crate::validate::ValidationError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The exit of callers no listed region holds.
pub const OTHER_REGIONS: &str = "other_regions";

/// The most exits one region branch names.
pub const REGION_MAX_EXITS: usize = 50;

/// Branches on the region of the caller's number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegionBranch {
    /// Exit name (1-32 of `a-z`, `0-9`, `_`) → the regions that take it.
    pub regions: BTreeMap<String, Vec<String>>,
}

impl RegionBranch {
    /// The exit of a region: the exit listing its subdivision `code`, else the one listing its
    /// `country`.
    pub fn exit_of(&self, code: &str, country: &str) -> Option<&str> {
        let find = |c: &str| {
            self.regions
                .iter()
                .find(|(_, codes)| codes.iter().any(|x| x == c))
                .map(|(exit, _)| exit.as_str())
        };
        find(code).or_else(|| find(country))
    }
}

/// Whether `code` names a region the numbering plan knows: a federal subject (`RU-MOW`) or
/// a country (`GB`).
pub fn region_known(code: &str) -> bool {
    vpbx_numplan::subject(code).is_some() || vpbx_numplan::country_name(code).is_some()
}

pub(super) fn exit_name_ok(name: &str) -> bool {
    (1..=32).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

impl Op for RegionBranch {
    fn exits(&self) -> &'static [&'static str] {
        &[OTHER_REGIONS]
    }
    fn bound_exits(&self) -> Vec<&str> {
        self.regions
            .keys()
            .map(String::as_str)
            .filter(|e| *e != OTHER_REGIONS)
            .collect()
    }
    fn refs(&self) -> Vec<RefAt> {
        Vec::new()
    }
    fn violations(&self) -> Vec<ValidationError> {
        let mut out = Vec::new();
        if self.regions.is_empty() || self.regions.len() > REGION_MAX_EXITS {
            out.push(broken(
                "regions",
                "region_branch.regions",
                format!("regions must name 1 to {REGION_MAX_EXITS} exits"),
            ));
        }
        let mut seen: BTreeMap<&str, &str> = BTreeMap::new();
        for (exit, codes) in &self.regions {
            let field = format!("regions.{exit}");
            if !exit_name_ok(exit) || exit == OTHER_REGIONS {
                out.push(broken(
                    &field,
                    "region_branch.exit",
                    "an exit must be 1-32 characters a-z, 0-9, _ and not other_regions",
                ));
            }
            if codes.is_empty() {
                out.push(broken(
                    &field,
                    "region_branch.codes",
                    "an exit must list at least one region",
                ));
            }
            for (i, code) in codes.iter().enumerate() {
                let at = format!("{field}[{i}]");
                if !region_known(code) {
                    out.push(broken(
                        &at,
                        "region_branch.code",
                        format!(
                            "unknown region {code:?}: an ISO 3166-2 code of a Russian federal \
                             subject (RU-MOW) or an ISO 3166-1 alpha-2 country code (GB)"
                        ),
                    ));
                } else if let Some(other) = seen.insert(code, exit) {
                    out.push(broken(
                        &at,
                        "region_branch.code",
                        format!("region {code} is already listed under exit {other}"),
                    ));
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(r: &RegionBranch) -> Vec<(String, &'static str)> {
        r.violations()
            .into_iter()
            .map(|v| (v.field, v.rule))
            .collect()
    }

    #[test]
    fn exits_codes_and_precedence() {
        let r: RegionBranch = serde_json::from_str(
            r#"{"regions": {"moscow": ["RU-MOW", "RU-MOS"], "russia": ["RU"], "uk": ["GB"]}}"#,
        )
        .unwrap();
        assert!(r.violations().is_empty(), "{:?}", r.violations());
        assert_eq!(r.exits(), [OTHER_REGIONS]);
        assert_eq!(r.bound_exits(), ["moscow", "russia", "uk"]);
        assert_eq!(r.exit_of("RU-MOW", "RU"), Some("moscow"));
        assert_eq!(r.exit_of("RU-TA", "RU"), Some("russia"));
        assert_eq!(r.exit_of("GB", "GB"), Some("uk"));
        assert_eq!(r.exit_of("DE", "DE"), None);
        assert!(serde_json::from_str::<RegionBranch>("{}").is_err());

        let bad: RegionBranch = serde_json::from_str(
            r#"{"regions": {"a": ["RU-XXX", "ru-mow"], "b": [], "B": ["GB"], "other_regions": ["DE"], "c": ["GB"]}}"#,
        )
        .unwrap();
        assert_eq!(
            rules(&bad),
            [
                ("regions.B".to_string(), "region_branch.exit"),
                ("regions.a[0]".to_string(), "region_branch.code"),
                ("regions.a[1]".to_string(), "region_branch.code"),
                ("regions.b".to_string(), "region_branch.codes"),
                ("regions.c[0]".to_string(), "region_branch.code"),
                ("regions.other_regions".to_string(), "region_branch.exit"),
            ]
        );
        let empty = RegionBranch {
            regions: BTreeMap::new(),
        };
        assert_eq!(
            rules(&empty),
            [("regions".to_string(), "region_branch.regions")]
        );
    }
}
