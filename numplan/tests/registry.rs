//! Import of the regulator's registry files.

use vpbx_numplan::{subject_by_name, ImportError, RangeTable};

const SAMPLE: &str = include_str!("fixtures/registry_sample.csv");

fn import(text: &str) -> Result<RangeTable, String> {
    RangeTable::import(text)
        .map(|(table, _)| table)
        .map_err(|e| e.to_string())
}

#[test]
fn sample_imports_and_merges() {
    assert!(
        SAMPLE.starts_with('\u{feff}'),
        "the fixture starts with a BOM"
    );
    let (table, report) = RangeTable::import(SAMPLE).expect("the sample imports");
    assert_eq!(report.encoding, "utf-8");
    assert_eq!(report.rows, 29);
    // Four pairs of contiguous rows merge: 495 (г. Москва + Москва), 496 (обл. + область),
    // 812 (with a `|`-qualified district) and 916.
    assert_eq!(report.ranges, 25);
    assert_eq!(table.len(), 25);
    assert!(!table.is_empty());
    assert_eq!(report.capacity_mismatches, 0);

    assert_eq!(report.per_region.get("RU-MOW"), Some(&7));
    assert_eq!(report.per_region.get("RU-MOS"), Some(&4));
    assert_eq!(report.per_region.get("RU-SPE"), Some(&3));
    assert_eq!(report.per_region.get("RU-TA"), Some(&3));
    assert_eq!(report.per_region.get("RU-SVE"), Some(&2));
    assert_eq!(report.per_region.values().sum::<usize>(), 28);
    assert_eq!(report.unknown_regions.rows, 1);
    assert_eq!(report.unknown_regions.distinct, 1);
    assert_eq!(report.unknown_regions.examples, ["Российская Федерация"]);

    let merged = table
        .lookup(4_951_150_000)
        .expect("in the merged 495 range");
    assert_eq!((merged.start, merged.end), (4_951_000_000, 4_951_199_999));
    assert_eq!(
        merged.operator,
        "ПАО \"Московская городская телефонная сеть\""
    );
    assert_eq!(merged.region.code.as_deref(), Some("RU-MOW"));
    assert_eq!(merged.region.name, "Москва");
    let other_operator = table.lookup(4_951_200_000).expect("the next 495 range");
    assert_eq!(other_operator.start, 4_951_200_000);
    let spb = table.lookup(8_123_050_000).expect("812");
    assert_eq!((spb.start, spb.end), (8_122_000_000, 8_123_099_999));
    let unknown = table.lookup(9_580_000_001).expect("958");
    assert_eq!(unknown.region.code, None);
    assert_eq!(unknown.region.name, "Российская Федерация");
    // Gaps and the ends of the number space.
    assert!(table.lookup(4_951_300_000).is_none());
    assert!(table.lookup(0).is_none());
    assert!(table.lookup(9_999_999_999).is_none());
}

#[test]
fn table_round_trips_through_serde() {
    let (table, report) = RangeTable::import(SAMPLE).expect("the sample imports");
    let blob = bincode::serialize(&table).expect("serialises");
    let back: RangeTable = bincode::deserialize(&blob).expect("deserialises");
    assert_eq!(back, table);
    let json = serde_json::to_string(&report).expect("the report serialises");
    assert!(json.contains("\"unknown_regions\""));
}

#[test]
fn deserialising_checks_the_ranges() {
    let (table, _) = RangeTable::import(SAMPLE).expect("the sample imports");
    let mut value = serde_json::to_value(&table).expect("serialises");
    let ranges = value["ranges"].as_array_mut().expect("ranges");
    ranges.swap(0, 1);
    let err = serde_json::from_value::<RangeTable>(value).expect_err("unsorted ranges");
    assert!(err.to_string().contains("not sorted"), "{err}");
}

#[test]
fn windows_1251_bytes_import() {
    let text = "Код;От;До;Емкость;Оператор;Регион\n495;1000000;1099999;100000;ПАО МГТС;г. Москва\n";
    let bytes: Vec<u8> = text
        .chars()
        .map(|c| match c {
            'А'..='я' => (c as u32 - 0x410 + 0xc0) as u8,
            _ => c as u8,
        })
        .collect();
    let (table, report) = RangeTable::import_bytes(&bytes).expect("Windows-1251 imports");
    assert_eq!(report.encoding, "windows-1251");
    let hit = table.lookup(4_951_000_000).expect("495");
    assert_eq!(hit.operator, "ПАО МГТС");
    assert_eq!(hit.region.code.as_deref(), Some("RU-MOW"));
    let (_, report) = RangeTable::import_bytes(SAMPLE.as_bytes()).expect("UTF-8 imports");
    assert_eq!(report.encoding, "utf-8");
}

#[test]
fn region_spellings() {
    let cases = [
        ("г. Москва", "RU-MOW"),
        ("Москва", "RU-MOW"),
        ("город Москва", "RU-MOW"),
        ("Московская обл.", "RU-MOS"),
        ("Московская область", "RU-MOS"),
        ("МОСКОВСКАЯ  ОБЛ", "RU-MOS"),
        ("г.о. Подольск|Московская обл.", "RU-MOS"),
        ("р-н Кировский|г. Санкт-Петербург", "RU-SPE"),
        ("Республика Татарстан (Татарстан)", "RU-TA"),
        ("Республика Татарстан", "RU-TA"),
        ("Респ. Татарстан", "RU-TA"),
        ("Ханты - Мансийский - Югра АО", "RU-KHM"),
        ("Ханты-Мансийский автономный округ — Югра", "RU-KHM"),
        ("Кемеровская область - Кузбасс", "RU-KEM"),
        ("Кемеровская обл.", "RU-KEM"),
        ("г. Севастополь", "RU-SEV"),
        ("Республика Крым", "RU-CR"),
        ("Чувашская Республика - Чувашия", "RU-CU"),
        ("Чувашская Республика", "RU-CU"),
        ("Республика Саха /Якутия/", "RU-SA"),
        ("Республика Северная Осетия - Алания", "RU-SE"),
        ("Алтайский край", "RU-ALT"),
        ("Республика Алтай", "RU-AL"),
        ("Ненецкий АО", "RU-NEN"),
        ("Ямало-Ненецкий АО", "RU-YAN"),
        ("Еврейская автономная обл.", "RU-YEV"),
        ("Удмуртская Республика", "RU-UD"),
        ("Республика Удмуртская", "RU-UD"),
        ("Орловская обл.", "RU-ORL"),
        ("г. Москва и Московская область", "RU-MOW"),
        ("г. Санкт-Петербург и Ленинградская область", "RU-SPE"),
    ];
    for (text, code) in cases {
        assert_eq!(subject_by_name(text).map(|s| s.code), Some(code), "{text}");
    }
    for text in [
        "Российская Федерация",
        "г. Подольск",
        "",
        "обл.",
        "Запорожье",
    ] {
        assert_eq!(subject_by_name(text), None, "{text}");
    }
}

#[test]
fn errors_name_the_line_field_and_rule() {
    let header = "Код;От;До;Емкость;Оператор;Регион\n";
    let row = |r: &str| format!("{header}495;1000000;1099999;100000;МГТС;г. Москва\n{r}\n");

    assert_eq!(import(""), Err(ImportError::Empty.to_string()));
    assert_eq!(
        import("Code;From;To;Capacity;Operator;Region\n"),
        Err(
            "line 1: the header must be 'Код;От;До;Емкость;Оператор;Регион', \
             found 'Code;From;To;Capacity;Operator;Region'"
                .to_owned()
        )
    );
    assert_eq!(
        import(&row("496;2000000;2099999;100000;Ростелеком")),
        Err("line 3: 5 fields separated by ';', the header has 6".to_owned())
    );
    assert_eq!(
        import(&row(
            "496;2000000;2099999;100000;Ростелеком;Московская обл.;x"
        )),
        Err("line 3: 7 fields separated by ';', the header has 6".to_owned())
    );
    assert_eq!(
        import(&row(
            "496;20a0000;2099999;100000;Ростелеком;Московская обл."
        )),
        Err("line 3: 'От' '20a0000' must be 1 to 7 digits".to_owned())
    );
    assert_eq!(
        import(&row(
            "496;2000000;20999990;100000;Ростелеком;Московская обл."
        )),
        Err("line 3: 'До' '20999990' must be 1 to 7 digits".to_owned())
    );
    assert_eq!(
        import(&row("49;2000000;2099999;100000;Ростелеком;Московская обл.")),
        Err("line 3: 'Код' '49' must be 3 digits".to_owned())
    );
    assert_eq!(
        import(&row("496;2000000;2099999;сто;Ростелеком;Московская обл.")),
        Err("line 3: 'Емкость' 'сто' must be 1 to 8 digits".to_owned())
    );
    assert_eq!(
        import(&row("495;4960000;4959999;0;Ростелеком;г. Москва")),
        Err("line 3: 'До' 4959999 is below 'От' 4960000".to_owned())
    );
    assert_eq!(
        import(&row("495;1050000;1050999;1000;Ростелеком;г. Москва")),
        Err(
            "line 3: range 4951050000..4951050999 overlaps range 4951000000..4951099999 \
             of line 2"
                .to_owned()
        )
    );
}

#[test]
fn lenient_where_the_registry_is() {
    // Blank lines, CRLF, quoted fields, an INN column, a capacity that does not add up.
    let text = "АВС/ DEF;От;До;Емкость;Оператор;Регион;ИНН\r\n\r\n\
                \"495\";\"1000000\";\"1099999\";\"99\";\"ПАО \"\"МГТС\"\"\";\"г. Москва\";\"7710016640\"\r\n";
    let (table, report) = RangeTable::import(text).expect("imports");
    assert_eq!((report.rows, report.capacity_mismatches), (1, 1));
    let hit = table.lookup(4_951_000_000).expect("495");
    assert_eq!(hit.operator, "ПАО \"МГТС\"");
    // A header alone is an empty table.
    let (table, report) = RangeTable::import(vpbx_numplan::HEADER).expect("imports");
    assert!(table.is_empty());
    assert_eq!((report.rows, report.ranges), (0, 0));
}
