//! The admin-loaded registry of number ranges: the Russian regulator's CSV files of ABC and
//! DEF ranges, with the operator and region of each range.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::ops::RangeInclusive;

use serde::{Deserialize, Serialize};

use crate::subjects::subject_by_name;

/// The header of the regulator's files.
pub const HEADER: &str = "Код;От;До;Емкость;Оператор;Регион";

/// At most this many distinct unknown region texts are kept as examples in the report.
const UNKNOWN_EXAMPLES: usize = 10;

/// The largest 10-digit national number.
const NATIONAL_MAX: u64 = 9_999_999_999;

/// The region of a registry range, normalised.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct RegistryRegion {
    /// ISO 3166-2:RU code of the federal subject, or `None` when the registry's text names
    /// none that is known.
    pub code: Option<String>,
    /// The subject's Russian name, or the registry's text (trimmed) when the code is `None`.
    pub name: String,
}

/// A registry range found by [`RangeTable::lookup`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Allocation<'a> {
    /// First 10-digit national number of the range.
    pub start: u64,
    /// Last 10-digit national number of the range (inclusive).
    pub end: u64,
    /// The operator the range is allocated to, as the registry writes it.
    pub operator: &'a str,
    /// The range's region.
    pub region: &'a RegistryRegion,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct Range {
    start: u64,
    end: u64,
    operator: u32,
    region: u32,
}

/// Number ranges of the regulator's registry, sorted and merged, with their operators and
/// normalised regions. Serialisable as one blob; deserialising checks that the ranges are
/// sorted, disjoint and refer to existing operators and regions.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RangeTableData")]
pub struct RangeTable {
    /// Sorted by start, disjoint.
    ranges: Vec<Range>,
    operators: Vec<String>,
    regions: Vec<RegistryRegion>,
}

/// The unchecked form a [`RangeTable`] is deserialised through.
#[derive(Deserialize)]
struct RangeTableData {
    ranges: Vec<Range>,
    operators: Vec<String>,
    regions: Vec<RegistryRegion>,
}

impl TryFrom<RangeTableData> for RangeTable {
    type Error = String;

    fn try_from(data: RangeTableData) -> Result<Self, String> {
        let (operators, regions) = (data.operators.len(), data.regions.len());
        for (i, r) in data.ranges.iter().enumerate() {
            if r.start > r.end || r.end > NATIONAL_MAX {
                return Err(format!("range {i} ({}..{}) is invalid", r.start, r.end));
            }
            if r.operator as usize >= operators || r.region as usize >= regions {
                return Err(format!("range {i} refers to a missing operator or region"));
            }
        }
        if let Some(i) = data.ranges.windows(2).position(|w| w[1].start <= w[0].end) {
            return Err(format!("range {} is not sorted after range {i}", i + 1));
        }
        Ok(RangeTable {
            ranges: data.ranges,
            operators: data.operators,
            regions: data.regions,
        })
    }
}

/// Unknown region texts of an import.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnknownRegions {
    /// Rows whose region text named no known federal subject.
    pub rows: usize,
    /// Distinct such texts.
    pub distinct: usize,
    /// Some of them (the first few, sorted).
    pub examples: Vec<String>,
}

/// What an import read and made.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportReport {
    /// The text's encoding: `"utf-8"` or `"windows-1251"`.
    pub encoding: String,
    /// Data rows read (header and blank lines not counted).
    pub rows: usize,
    /// Ranges in the table after contiguous ranges of the same operator and region merged.
    pub ranges: usize,
    /// Rows per federal subject (ISO 3166-2:RU code).
    pub per_region: BTreeMap<String, usize>,
    /// Rows whose region is unknown.
    pub unknown_regions: UnknownRegions,
    /// Rows whose 'Емкость' differs from 'До' − 'От' + 1 (kept as they are).
    pub capacity_mismatches: usize,
}

/// Why a registry file was refused. Line numbers count from 1, the header being line 1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImportError {
    /// The text has no header line.
    Empty,
    /// The first line is not the registry's header.
    BadHeader {
        /// The line found.
        found: String,
    },
    /// A row has another number of fields than the header.
    ColumnCount {
        /// Line number.
        line: usize,
        /// Fields of the header.
        expected: usize,
        /// Fields of the row.
        found: usize,
    },
    /// A field's value breaks its rule.
    Field {
        /// Line number.
        line: usize,
        /// The field's name in the header (`'От'`).
        field: &'static str,
        /// The value found.
        value: String,
        /// The rule broken (`"must be 1 to 7 digits"`).
        rule: &'static str,
    },
    /// A row's 'До' is below its 'От'.
    Reversed {
        /// Line number.
        line: usize,
        /// 'От'.
        from: u64,
        /// 'До'.
        to: u64,
    },
    /// Two rows' ranges overlap.
    Overlap {
        /// Line number of the later row in number order.
        line: usize,
        /// Its range (10-digit national numbers).
        range: (u64, u64),
        /// Line number of the row it overlaps.
        other_line: usize,
        /// That row's range.
        other_range: (u64, u64),
    },
}

impl fmt::Display for ImportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ImportError::Empty => write!(f, "the file is empty: expected the header '{HEADER}'"),
            ImportError::BadHeader { found } => {
                write!(f, "line 1: the header must be '{HEADER}', found '{found}'")
            }
            ImportError::ColumnCount {
                line,
                expected,
                found,
            } => write!(
                f,
                "line {line}: {found} fields separated by ';', the header has {expected}"
            ),
            ImportError::Field {
                line,
                field,
                value,
                rule,
            } => write!(f, "line {line}: '{field}' '{value}' {rule}"),
            ImportError::Reversed { line, from, to } => {
                write!(f, "line {line}: 'До' {to} is below 'От' {from}")
            }
            ImportError::Overlap {
                line,
                range,
                other_line,
                other_range,
            } => write!(
                f,
                "line {line}: range {}..{} overlaps range {}..{} of line {other_line}",
                range.0, range.1, other_range.0, other_range.1
            ),
        }
    }
}

impl std::error::Error for ImportError {}

/// A parsed row, before sorting and merging.
struct Row {
    line: usize,
    start: u64,
    end: u64,
    operator: u32,
    region: u32,
}

/// Interns strings or regions to indices.
struct Interner<T> {
    items: Vec<T>,
    index: HashMap<T, u32>,
}

impl<T: Clone + Eq + std::hash::Hash> Interner<T> {
    fn new() -> Self {
        Interner {
            items: Vec::new(),
            index: HashMap::new(),
        }
    }

    fn intern(&mut self, item: T) -> u32 {
        if let Some(&i) = self.index.get(&item) {
            return i;
        }
        // u32 is ample: a registry file has a few hundred thousand rows.
        let i = u32::try_from(self.items.len()).unwrap_or(u32::MAX);
        self.items.push(item.clone());
        self.index.insert(item, i);
        i
    }
}

impl RangeTable {
    /// Imports a registry file given as text (a UTF-8 byte-order mark at its start is skipped).
    ///
    /// The first line must be the header [`HEADER`] (`Код;От;До;Емкость;Оператор;Регион`;
    /// the first column may also be called `АВС/ DEF`, and a seventh column `ИНН` is
    /// allowed); each other non-blank line is a range: a 3-digit ABC or DEF code, 'От' and
    /// 'До' of up to 7 digits, the capacity, the operator and the region. The range covers the
    /// 10-digit national numbers code·10⁷ + От ..= code·10⁷ + До. Fields may be quoted with `"`.
    ///
    /// Region texts are normalised to federal subjects ([`crate::subject_by_name`]); a text
    /// that names none is kept as it is, without a code, and counted in the report. Ranges
    /// that follow each other without a gap and have the same operator and region are merged.
    pub fn import(text: &str) -> Result<(RangeTable, ImportReport), ImportError> {
        import_text(text, "utf-8")
    }

    /// Imports a registry file given as bytes: UTF-8 (with or without a byte-order mark) or,
    /// when the bytes are not valid UTF-8, Windows-1251, in which the regulator also
    /// publishes its files. The report names the encoding taken.
    pub fn import_bytes(bytes: &[u8]) -> Result<(RangeTable, ImportReport), ImportError> {
        match std::str::from_utf8(bytes) {
            Ok(text) => import_text(text, "utf-8"),
            Err(_) => import_text(&decode_windows_1251(bytes), "windows-1251"),
        }
    }

    /// Number of ranges (after merging).
    pub fn len(&self) -> usize {
        self.ranges.len()
    }

    /// Whether the table has no range.
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// The range that holds a 10-digit national number (`4951234567`), by binary search.
    pub fn lookup(&self, national10: u64) -> Option<Allocation<'_>> {
        let after = self.ranges.partition_point(|r| r.start <= national10);
        let range = self.ranges.get(after.checked_sub(1)?)?;
        if range.end < national10 {
            return None;
        }
        Some(Allocation {
            start: range.start,
            end: range.end,
            operator: self.operators.get(range.operator as usize)?,
            region: self.regions.get(range.region as usize)?,
        })
    }
}

/// Checks the header; returns the number of fields rows must have.
fn check_header(line: &str) -> Result<usize, ImportError> {
    let bad = || ImportError::BadHeader {
        found: line.to_owned(),
    };
    let fields: Vec<String> = line
        .split(';')
        .map(|f| {
            unquote(f)
                .to_lowercase()
                .replace('ё', "е")
                .chars()
                .filter(|c| !c.is_whitespace())
                .collect()
        })
        .collect();
    let first_ok = matches!(
        fields.first().map(String::as_str),
        Some("код" | "авс/def" | "abc/def")
    );
    let rest_ok = fields.get(1..6).is_some_and(|rest| {
        rest.iter()
            .eq(["от", "до", "емкость", "оператор", "регион"])
    });
    let tail_ok = match fields.get(6..) {
        Some([]) => true,
        Some([inn]) => inn == "инн",
        _ => false,
    };
    if first_ok && rest_ok && tail_ok {
        Ok(fields.len())
    } else {
        Err(bad())
    }
}

/// A field without surrounding spaces and double quotes (`""` inside quotes is one `"`).
fn unquote(field: &str) -> String {
    let field = field.trim();
    match field.strip_prefix('"').and_then(|f| f.strip_suffix('"')) {
        Some(inner) => inner.replace("\"\"", "\"").trim().to_owned(),
        None => field.to_owned(),
    }
}

/// Parses a field of ASCII digits, as many as `len` allows.
fn digits(
    line: usize,
    field: &'static str,
    value: &str,
    len: RangeInclusive<usize>,
    rule: &'static str,
) -> Result<u64, ImportError> {
    let ok = len.contains(&value.len()) && value.bytes().all(|b| b.is_ascii_digit());
    match value.parse::<u64>() {
        Ok(n) if ok => Ok(n),
        _ => Err(ImportError::Field {
            line,
            field,
            value: value.to_owned(),
            rule,
        }),
    }
}

fn import_text(text: &str, encoding: &str) -> Result<(RangeTable, ImportReport), ImportError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut lines = text.lines().enumerate().map(|(i, l)| (i + 1, l));
    let (_, header) = lines.next().ok_or(ImportError::Empty)?;
    let columns = check_header(header)?;

    let mut report = ImportReport {
        encoding: encoding.to_owned(),
        ..ImportReport::default()
    };
    let mut operators = Interner::new();
    let mut regions = Interner::new();
    let mut unknown = BTreeSet::new();
    let mut rows = Vec::new();
    for (line, content) in lines {
        if content.trim().is_empty() {
            continue;
        }
        let fields: Vec<String> = content.split(';').map(unquote).collect();
        let (true, [code, from, to, capacity, operator, region, ..]) =
            (fields.len() == columns, &fields[..])
        else {
            return Err(ImportError::ColumnCount {
                line,
                expected: columns,
                found: fields.len(),
            });
        };
        let code = digits(line, "Код", code, 3..=3, "must be 3 digits")?;
        let from = digits(line, "От", from, 1..=7, "must be 1 to 7 digits")?;
        let to = digits(line, "До", to, 1..=7, "must be 1 to 7 digits")?;
        let capacity = digits(line, "Емкость", capacity, 1..=8, "must be 1 to 8 digits")?;
        if to < from {
            return Err(ImportError::Reversed { line, from, to });
        }
        if capacity != to - from + 1 {
            report.capacity_mismatches += 1;
        }
        report.rows += 1;

        let normalised = match subject_by_name(region) {
            Some(subject) => {
                *report
                    .per_region
                    .entry(subject.code.to_owned())
                    .or_default() += 1;
                RegistryRegion {
                    code: Some(subject.code.to_owned()),
                    name: subject.name_ru.to_owned(),
                }
            }
            None => {
                report.unknown_regions.rows += 1;
                unknown.insert(region.clone());
                RegistryRegion {
                    code: None,
                    name: region.clone(),
                }
            }
        };
        let operator = operator.split_whitespace().collect::<Vec<_>>().join(" ");
        rows.push(Row {
            line,
            start: code * 10_000_000 + from,
            end: code * 10_000_000 + to,
            operator: operators.intern(operator),
            region: regions.intern(normalised),
        });
    }

    rows.sort_by_key(|r| (r.start, r.line));
    let mut ranges: Vec<Range> = Vec::with_capacity(rows.len());
    let mut last: Option<&Row> = None;
    for row in &rows {
        if let Some(prev) = last.filter(|p| row.start <= p.end) {
            return Err(ImportError::Overlap {
                line: row.line,
                range: (row.start, row.end),
                other_line: prev.line,
                other_range: (prev.start, prev.end),
            });
        }
        match ranges.last_mut() {
            Some(r)
                if r.end + 1 == row.start
                    && r.operator == row.operator
                    && r.region == row.region =>
            {
                r.end = row.end;
            }
            _ => ranges.push(Range {
                start: row.start,
                end: row.end,
                operator: row.operator,
                region: row.region,
            }),
        }
        last = Some(row);
    }

    report.ranges = ranges.len();
    report.unknown_regions.distinct = unknown.len();
    report.unknown_regions.examples = unknown.into_iter().take(UNKNOWN_EXAMPLES).collect();
    let table = RangeTable {
        ranges,
        operators: operators.items,
        regions: regions.items,
    };
    Ok((table, report))
}

/// Characters of Windows-1251 bytes 0x80..=0xBF (0x98 is unassigned); 0xC0..=0xFF are А..я.
const WINDOWS_1251_HIGH: &str =
    "ЂЃ‚ѓ„…†‡€‰Љ‹ЊЌЋЏђ‘’“”•–—\u{fffd}™љ›њќћџ\u{a0}ЎўЈ¤Ґ¦§Ё©Є«¬\u{ad}®Ї°±Ііґµ¶·ё№є»јЅѕї";

fn decode_windows_1251(bytes: &[u8]) -> String {
    let high: Vec<char> = WINDOWS_1251_HIGH.chars().collect();
    bytes
        .iter()
        .map(|&b| match b {
            0..=0x7f => char::from(b),
            0xc0..=0xff => char::from_u32(0x410 + u32::from(b - 0xc0)).unwrap_or('\u{fffd}'),
            _ => high
                .get(usize::from(b - 0x80))
                .copied()
                .unwrap_or('\u{fffd}'),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_1251() {
        assert_eq!(WINDOWS_1251_HIGH.chars().count(), 64);
        // "Москва" in Windows-1251.
        let bytes = [0xcc, 0xee, 0xf1, 0xea, 0xe2, 0xe0, b';', 0xa8, 0xb8];
        assert_eq!(decode_windows_1251(&bytes), "Москва;Ёё");
    }

    #[test]
    fn header_variants() {
        assert_eq!(check_header(HEADER), Ok(6));
        assert_eq!(
            check_header("АВС/ DEF;От;До;Емкость;Оператор;Регион;ИНН"),
            Ok(7)
        );
        assert_eq!(
            check_header("\"Код\"; От ;До;Ёмкость;Оператор;Регион"),
            Ok(6)
        );
        assert!(check_header("Код;От;До;Оператор;Регион").is_err());
        assert!(check_header("Код;От;До;Емкость;Оператор;Регион;Прочее").is_err());
    }

    #[test]
    fn unquoting() {
        assert_eq!(unquote(" \"ПАО \"\"МТС\"\"\" "), "ПАО \"МТС\"");
        assert_eq!(unquote("ПАО \"МТС\""), "ПАО \"МТС\"");
    }
}
