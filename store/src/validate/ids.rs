//! Ids stay in a sane range: 1 ..= [`MAX_ID`]. An id near 2^64 once made every later create of
//! its kind fail (the next id overflowed); JSON clients in JavaScript also lose precision past
//! 2^53. The allocator ([`crate::repo::fresh_id`]) never hands out an id past the range.

use super::Sink;
use crate::model::*;

/// The largest id of any generated kind (2^31 − 1: fits every client's integer type).
pub const MAX_ID: u64 = 2_147_483_647;

pub(super) fn ids(cfg: &CompanyConfig, s: &mut Sink) {
    let mut check = |field: String, id: u64| {
        if id == 0 || id > MAX_ID {
            s.push(
                field,
                "id.range",
                format!("id {id} is outside 1..={MAX_ID}"),
            );
        }
    };
    for (i, e) in cfg.employees.iter().enumerate() {
        check(format!("employees[{i}].id"), e.id.0);
        for (j, p) in e.phones.iter().enumerate() {
            if let Phone::SipLine(l) = p {
                check(format!("employees[{i}].phones[{j}].id"), l.id.0);
            }
        }
    }
    for (i, n) in cfg.numbers.iter().enumerate() {
        for (j, r) in n.rules.iter().enumerate() {
            check(format!("numbers[{i}].rules[{j}].id"), r.id.0);
        }
    }
    macro_rules! kinds {
        ($($field:ident),*) => {$(
            for (i, x) in cfg.$field.iter().enumerate() {
                check(format!(concat!(stringify!($field), "[{}].id"), i), x.id.0);
            }
        )*};
    }
    kinds!(
        groups,
        files,
        scenarios,
        contacts,
        contact_groups,
        tags,
        segments,
        number_lists,
        schedules,
        talk_options,
        trunks
    );
}
