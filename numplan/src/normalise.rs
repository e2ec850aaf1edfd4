//! Normalisation of a caller number to international digits.

/// The fewest digits an international number can have (country code included).
const MIN_DIGITS: usize = 7;
/// The most digits an international number can have (E.164).
const MAX_DIGITS: usize = 15;

/// Normalises a caller number to its international digits (E.164 without the `+`).
///
/// - Spaces, tabs, `-`, `.`, `(` and `)` are dropped; a `+` may only come first. Any other
///   character makes the number invalid.
/// - A number written with `+`, or with the international prefix `00`, is taken as
///   international as it is.
/// - Otherwise the Russian national forms are recognised: 11 digits starting with `8`
///   (`8 495 123-45-67`) become `7…`, and 10 digits starting with `9`, `3`, `4` or `8` (a DEF
///   or ABC code without the trunk prefix, `9161234567`) get the country code `7` in front.
/// - Any other digits are taken as international already (`442079460000`).
///
/// Returns `None` for an empty or invalid number, for fewer than 7 or more than 15 digits, and
/// for a number whose international form starts with `0`.
///
/// ```
/// use vpbx_numplan::normalise_number;
/// assert_eq!(normalise_number("8 (495) 123-45-67").as_deref(), Some("74951234567"));
/// assert_eq!(normalise_number("+44 20 7946 0000").as_deref(), Some("442079460000"));
/// assert_eq!(normalise_number("101"), None);
/// ```
pub fn normalise_number(raw: &str) -> Option<String> {
    let mut digits = String::with_capacity(raw.len());
    let mut plus = false;
    for c in raw.trim().chars() {
        match c {
            '0'..='9' => digits.push(c),
            '+' if digits.is_empty() && !plus => plus = true,
            ' ' | '\t' | '\u{a0}' | '-' | '.' | '(' | ')' => {}
            _ => return None,
        }
    }
    let international = if plus {
        digits
    } else if let Some(rest) = digits.strip_prefix("00") {
        rest.to_owned()
    } else if digits.len() == 11 && digits.starts_with('8') {
        format!("7{}", &digits[1..])
    } else if digits.len() == 10 && digits.starts_with(['9', '3', '4', '8']) {
        format!("7{digits}")
    } else {
        digits
    };
    let plausible =
        (MIN_DIGITS..=MAX_DIGITS).contains(&international.len()) && !international.starts_with('0');
    plausible.then_some(international)
}

#[cfg(test)]
mod tests {
    use super::normalise_number as n;

    #[test]
    fn russian_forms() {
        assert_eq!(n("+7 (495) 123-45-67").as_deref(), Some("74951234567"));
        assert_eq!(n("84951234567").as_deref(), Some("74951234567"));
        assert_eq!(n("8-916-123-45-67").as_deref(), Some("79161234567"));
        assert_eq!(n("9161234567").as_deref(), Some("79161234567"));
        assert_eq!(n("4951234567").as_deref(), Some("74951234567"));
        assert_eq!(n("3432123456").as_deref(), Some("73432123456"));
        assert_eq!(n("8123456789").as_deref(), Some("78123456789"));
        assert_eq!(n("74951234567").as_deref(), Some("74951234567"));
    }

    #[test]
    fn international_forms() {
        assert_eq!(n("+44 20 7946 0000").as_deref(), Some("442079460000"));
        assert_eq!(n("0044 20 7946 0000").as_deref(), Some("442079460000"));
        assert_eq!(n("+1 (212) 555-0100").as_deref(), Some("12125550100"));
        // With a `+` the Russian rules do not apply: 11 digits starting with 8 stay as they are.
        assert_eq!(n("+86 10 1234567").as_deref(), Some("86101234567"));
    }

    #[test]
    fn invalid() {
        assert_eq!(n(""), None);
        assert_eq!(n("+"), None);
        assert_eq!(n("101"), None);
        assert_eq!(n("anonymous"), None);
        assert_eq!(n("7495123456x"), None);
        assert_eq!(n("7+4951234567"), None);
        assert_eq!(n("++74951234567"), None);
        assert_eq!(n("1234567890123456"), None);
        assert_eq!(n("+0123456789"), None);
    }
}
