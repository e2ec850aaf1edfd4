//! Number lists and the blacklist.

use super::values::mask_violations;
use super::Sink;
use crate::model::*;

pub(super) fn number_lists(cfg: &CompanyConfig, s: &mut Sink) {
    s.unique(
        "id.unique",
        "number list id",
        cfg.number_lists
            .iter()
            .enumerate()
            .map(|(i, l)| (l.id, format!("number_lists[{i}].id"))),
    );
    let mut blacklists = 0;
    for (i, l) in cfg.number_lists.iter().enumerate() {
        let p = format!("number_lists[{i}]");
        s.required(format!("{p}.name"), &l.name, "list name");
        for (j, e) in l.entries.iter().enumerate() {
            s.all(&format!("{p}.entries[{j}]"), mask_violations(e));
        }
        if l.blacklist {
            blacklists += 1;
            if blacklists > 1 {
                s.push(
                    format!("{p}.blacklist"),
                    "blacklist.single",
                    "only one list can be the blacklist",
                );
            }
            if l.kind != ListKind::Black {
                s.push(
                    format!("{p}.kind"),
                    "blacklist.kind",
                    "the blacklist must be a black list",
                );
            }
        }
    }
}
