//! Talk options.

use super::Sink;
use crate::model::*;

pub(super) fn talk_options(cfg: &CompanyConfig, s: &mut Sink) {
    s.unique(
        "id.unique",
        "talk option id",
        cfg.talk_options
            .iter()
            .enumerate()
            .map(|(i, x)| (x.id, format!("talk_options[{i}].id"))),
    );
    s.unique(
        "talk.keys_unique",
        "key sequence",
        cfg.talk_options
            .iter()
            .enumerate()
            .map(|(i, x)| (x.keys.clone(), format!("talk_options[{i}].keys"))),
    );
    for (i, t) in cfg.talk_options.iter().enumerate() {
        let p = format!("talk_options[{i}]");
        let keys_ok = (1..=4).contains(&t.keys.len())
            && t.keys
                .bytes()
                .all(|b| b.is_ascii_digit() || b == b'*' || b == b'#');
        if !keys_ok {
            s.push(
                format!("{p}.keys"),
                "talk.keys",
                format!("'{}' is not 1–4 DTMF keys (0–9, *, #)", t.keys),
            );
        }
        let a = format!("{p}.action");
        match &t.action {
            TalkAction::RunScenario { scenario } if cfg.scenario(*scenario).is_none() => s.push(
                format!("{a}.scenario"),
                "ref.scenario",
                format!("scenario {scenario} does not exist"),
            ),
            TalkAction::Tag { tag: Some(tag) } if !cfg.tags.iter().any(|x| x.id == *tag) => s.push(
                format!("{a}.tag"),
                "ref.tag",
                format!("tag {tag} does not exist"),
            ),
            TalkAction::SaveCallerId {
                target: SaveTarget::List { list },
            } if cfg.number_list(*list).is_none() => s.push(
                format!("{a}.target.list"),
                "ref.number_list",
                format!("number list {list} does not exist"),
            ),
            TalkAction::SaveCallerId {
                target: SaveTarget::ContactGroup { group },
            } if !cfg.contact_groups.iter().any(|x| x.id == *group) => s.push(
                format!("{a}.target.group"),
                "ref.contact_group",
                format!("contact group {group} does not exist"),
            ),
            _ => {}
        }
    }
}
