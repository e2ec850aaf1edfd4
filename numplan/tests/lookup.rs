//! Region lookup: precedence and number forms.

use vpbx_numplan::{lookup, RangeTable, Source};

const SAMPLE: &str = include_str!("fixtures/registry_sample.csv");

fn registry() -> RangeTable {
    RangeTable::import(SAMPLE).expect("the sample imports").0
}

fn code(number: &str, registry: Option<&RangeTable>) -> Option<(String, Source)> {
    lookup(number, registry).map(|r| (r.code, r.source))
}

fn c(code: &str, source: Source) -> Option<(String, Source)> {
    Some((code.to_owned(), source))
}

#[test]
fn registry_beats_abc_prefix_beats_country_code() {
    let registry = registry();
    // 495 is Moscow by its ABC prefix, but the registry puts 495 50x xx xx in Podolsk.
    assert_eq!(
        code("+7 495 500-12-34", None),
        c("RU-MOW", Source::AbcPrefix)
    );
    assert_eq!(
        code("+7 495 500-12-34", Some(&registry)),
        c("RU-MOS", Source::Registry)
    );
    // Outside the registry's ranges the ABC prefix answers.
    assert_eq!(
        code("+7 495 900-12-34", Some(&registry)),
        c("RU-MOW", Source::AbcPrefix)
    );
    // Mobile (DEF) numbers: only the registry knows their region; else the country.
    assert_eq!(code("+7 916 123-45-67", None), c("RU", Source::CountryCode));
    assert_eq!(
        code("+7 916 123-45-67", Some(&registry)),
        c("RU-MOW", Source::Registry)
    );
    assert_eq!(
        code("+7 922 412-34-56", Some(&registry)),
        c("RU-KHM", Source::Registry)
    );
    assert_eq!(
        code("+7 978 012-34-56", Some(&registry)),
        c("RU-SEV", Source::Registry)
    );
    // A registry region that names no subject: its text, under the country's code.
    let unknown = lookup("+7 958 012-34-56", Some(&registry)).expect("a region");
    assert_eq!(
        (unknown.code.as_str(), unknown.name.as_str(), unknown.source),
        ("RU", "Российская Федерация", Source::Registry)
    );
    assert_eq!(unknown.country, "RU");
}

#[test]
fn regions_carry_both_names() {
    let region = lookup("+7 812 200-00-00", None).expect("a region");
    assert_eq!(region.country, "RU");
    assert_eq!(region.code, "RU-SPE");
    assert_eq!(region.name, "Saint Petersburg");
    assert_eq!(region.name_ru.as_deref(), Some("Санкт-Петербург"));
    let json = serde_json::to_string(&region).expect("serialises");
    assert!(json.contains("\"source\":\"abc_prefix\""), "{json}");
}

#[test]
fn russian_number_forms() {
    for number in [
        "+7 (495) 123-45-67",
        "7 495 123 45 67",
        "8 (495) 123-45-67",
        "84951234567",
        "4951234567",
        "0074951234567",
    ] {
        assert_eq!(
            code(number, None),
            c("RU-MOW", Source::AbcPrefix),
            "{number}"
        );
    }
    assert_eq!(code("8 843 200-00-00", None), c("RU-TA", Source::AbcPrefix));
    assert_eq!(code("3432000000", None), c("RU-SVE", Source::AbcPrefix));
    assert_eq!(code("9161234567", None), c("RU", Source::CountryCode));
    assert_eq!(
        code("8-916-123-45-67", Some(&registry())),
        c("RU-MOW", Source::Registry)
    );
}

#[test]
fn foreign_numbers_resolve_to_the_country() {
    let registry = registry();
    let cases = [
        ("+44 20 7946 0000", "GB", "United Kingdom"),
        ("+1 212 555 0100", "US", "United States"),
        ("+1 242 555 0100", "BS", "Bahamas"),
        ("+49 30 1234567", "DE", "Germany"),
        ("+7 701 234 5678", "KZ", "Kazakhstan"),
        ("+375 17 123-45-67", "BY", "Belarus"),
    ];
    for (number, iso, name) in cases {
        let region = lookup(number, Some(&registry)).expect(number);
        assert_eq!(
            (
                region.country.as_str(),
                region.code.as_str(),
                region.name.as_str()
            ),
            (iso, iso, name),
            "{number}"
        );
        assert_eq!((region.source, region.name_ru), (Source::CountryCode, None));
    }
}

#[test]
fn unknown_numbers() {
    for number in [
        "",
        "anonymous",
        "101",
        "+800 1234 5678",
        "+999 123 4567",
        "+0 123 4567",
    ] {
        assert_eq!(lookup(number, None), None, "{number}");
    }
}
