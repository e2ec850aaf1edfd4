//! The numbering-plan data that ships with the crate: country calling codes and Russian ABC
//! (geographic) prefixes, generated from libphonenumber by `gen/gen_numplan.py`.

use std::sync::OnceLock;

use crate::subjects::{subject, Subject};

const COUNTRIES_TSV: &str = include_str!("../data/countries.tsv");
const RU_ABC_TSV: &str = include_str!("../data/ru_abc.tsv");

/// A country of a calling code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Country {
    /// ISO 3166-1 alpha-2.
    pub iso: &'static str,
    /// English name.
    pub name: &'static str,
}

/// A table of digit prefixes, sorted, for longest-prefix matches by binary search.
struct Prefixes<T> {
    entries: Vec<(String, T)>,
    longest: usize,
}

impl<T> Prefixes<T> {
    fn new(mut entries: Vec<(String, T)>) -> Self {
        // A stable sort keeps the first of equal prefixes first, and dedup keeps it.
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        entries.dedup_by(|later, earlier| later.0 == earlier.0);
        let longest = entries.iter().map(|(p, _)| p.len()).max().unwrap_or(0);
        Prefixes { entries, longest }
    }

    /// The entry of the longest prefix of `digits`, with that prefix.
    fn longest_match(&self, digits: &str) -> Option<(&str, &T)> {
        (1..=self.longest.min(digits.len())).rev().find_map(|len| {
            let prefix = digits.get(..len)?;
            let i = self
                .entries
                .binary_search_by(|(p, _)| p.as_str().cmp(prefix))
                .ok()?;
            self.entries.get(i).map(|(p, t)| (p.as_str(), t))
        })
    }
}

/// Data rows of a generated table: comment lines and the header dropped.
fn rows(tsv: &'static str) -> impl Iterator<Item = Vec<&'static str>> {
    tsv.lines()
        .filter(|l| !l.starts_with('#'))
        .skip(1)
        .map(|l| l.split('\t').collect())
}

fn countries() -> &'static Prefixes<Country> {
    static TABLE: OnceLock<Prefixes<Country>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut entries = Vec::new();
        for row in rows(COUNTRIES_TSV) {
            let [code, iso, name, national] = row[..] else {
                continue;
            };
            let country = Country { iso, name };
            if national.is_empty() {
                // The main country of a code (or one without national prefixes, which never
                // wins over the main country: the first row of a code is kept).
                entries.push((code.to_owned(), country));
            } else {
                for prefix in national.split(',') {
                    entries.push((format!("{code}{prefix}"), country));
                }
            }
        }
        Prefixes::new(entries)
    })
}

fn ru_abc() -> &'static Prefixes<&'static Subject> {
    static TABLE: OnceLock<Prefixes<&'static Subject>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let entries = rows(RU_ABC_TSV)
            .filter_map(|row| {
                let (prefix, code) = (row.first()?, row.get(1)?);
                Some(((*prefix).to_owned(), subject(code)?))
            })
            .collect();
        Prefixes::new(entries)
    })
}

/// The country of international digits, by the longest calling code (1 to 3 digits) or, for
/// a code shared by several countries, the longest national prefix libphonenumber gives.
pub(crate) fn country_of(digits: &str) -> Option<Country> {
    countries().longest_match(digits).map(|(_, c)| *c)
}

/// The English name of the country with ISO 3166-1 alpha-2 code `iso` (upper case), if the
/// data knows it.
pub fn country_name(iso: &str) -> Option<&'static str> {
    rows(COUNTRIES_TSV).find_map(|row| (row.get(1) == Some(&iso)).then(|| row[2]))
}

/// The federal subject of international digits starting with 7, by the longest ABC prefix.
pub(crate) fn ru_subject_of(digits: &str) -> Option<&'static Subject> {
    ru_abc().longest_match(digits).map(|(_, s)| *s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_rows_parse() {
        let data_rows = |tsv: &'static str| rows(tsv).count();
        // Every ABC row names a subject of the subjects table.
        assert_eq!(ru_abc().entries.len(), data_rows(RU_ABC_TSV));
        assert_eq!(ru_abc().entries.len(), 91);
        assert!(rows(COUNTRIES_TSV).all(|r| r.len() == 4));
        assert_eq!(data_rows(COUNTRIES_TSV), 245);
    }

    #[test]
    fn shared_codes() {
        let iso = |d: &str| country_of(d).map(|c| c.iso);
        assert_eq!(iso("74951234567"), Some("RU"));
        assert_eq!(iso("77012345678"), Some("KZ"));
        assert_eq!(iso("12125550100"), Some("US"));
        assert_eq!(iso("12425551234"), Some("BS"));
        // Canada has no national prefixes in libphonenumber: +1 416 resolves to the US.
        assert_eq!(iso("14165550100"), Some("US"));
        assert_eq!(iso("447624123456"), Some("IM"));
        assert_eq!(iso("442079460000"), Some("GB"));
        assert_eq!(iso("2125"), Some("MA"));
        assert_eq!(iso("80012345678"), None);
        assert_eq!(country_name("GB"), Some("United Kingdom"));
        assert_eq!(country_name("gb"), None);
        assert_eq!(country_name("XX"), None);
    }

    #[test]
    fn abc_prefixes() {
        let code = |d: &str| ru_subject_of(d).map(|s| s.code);
        assert_eq!(code("74951234567"), Some("RU-MOW"));
        assert_eq!(code("74991234567"), Some("RU-MOW"));
        assert_eq!(code("74961234567"), Some("RU-MOS"));
        assert_eq!(code("78121234567"), Some("RU-SPE"));
        assert_eq!(code("78432123456"), Some("RU-TA"));
        assert_eq!(code("73432123456"), Some("RU-SVE"));
        assert_eq!(code("79161234567"), None);
    }
}
