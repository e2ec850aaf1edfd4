//! The numbering plan a call looks regions up in (the region branch, SPEC §3 op 10): the
//! shipped data of `vpbx_numplan` plus the registry files the admin loaded (the regulator
//! publishes one file per block of codes: ABC-3xx, ABC-4xx, ABC-8xx, DEF-9xx).

use vpbx_numplan::{lookup, RangeTable, Region, Source};

/// The admin-loaded registry files, by name, in the order they were loaded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Registries {
    files: Vec<(String, RangeTable)>,
}

impl Registries {
    /// The files `files` (name, table).
    pub fn new(files: Vec<(String, RangeTable)>) -> Self {
        Registries { files }
    }

    /// The files, in order.
    pub fn files(&self) -> impl Iterator<Item = (&str, &RangeTable)> {
        self.files.iter().map(|(n, t)| (n.as_str(), t))
    }

    /// The region of `number`: a range of the first file that holds it with a known region,
    /// else the shipped data (ABC prefixes, country codes), else a range of an unknown region
    /// (its text as the name).
    pub fn region_of(&self, number: &str) -> Option<Region> {
        let mut unknown = None;
        for (_, table) in &self.files {
            match lookup(number, Some(table)) {
                Some(r) if r.source == Source::Registry && r.code != r.country => return Some(r),
                Some(r) if r.source == Source::Registry => {
                    unknown.get_or_insert(r);
                }
                _ => {}
            }
        }
        match lookup(number, None) {
            Some(r) if r.source == Source::CountryCode && unknown.is_some() => unknown,
            found => found.or(unknown),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: &str = "Код;От;До;Емкость;Оператор;Регион\n";

    fn file(rows: &str) -> RangeTable {
        RangeTable::import(&format!("{HEAD}{rows}")).unwrap().0
    }

    #[test]
    fn files_then_shipped_data() {
        let def = file("916;0000000;9999999;10000000;МТС;г. Москва\n");
        let kazan = file(
            "917;2000000;2999999;1000000;МТС;Республика Татарстан\n\
             950;0000000;0999999;1000000;Т2;Неведомая земля\n",
        );
        let r = Registries::new(vec![("DEF-9xx".into(), def), ("kazan".into(), kazan)]);
        let code = |n: &str| r.region_of(n).map(|x| x.code);
        assert_eq!(code("+79161234567").as_deref(), Some("RU-MOW"));
        assert_eq!(code("89172345678").as_deref(), Some("RU-TA"));
        // Shipped ABC prefix, country code.
        assert_eq!(code("+78121234567").as_deref(), Some("RU-SPE"));
        assert_eq!(code("+442079460000").as_deref(), Some("GB"));
        // A range whose region text is unknown: better than the country alone.
        let unknown = r.region_of("+79500123456").unwrap();
        assert_eq!(
            (unknown.code.as_str(), unknown.name.as_str()),
            ("RU", "Неведомая земля")
        );
        assert_eq!(code("12"), None);
        assert_eq!(
            Registries::default()
                .region_of("+79161234567")
                .map(|x| x.code)
                .as_deref(),
            Some("RU")
        );
    }
}
