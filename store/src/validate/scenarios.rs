//! Scenarios and their operations.

use super::Sink;
use crate::model::*;

pub(super) fn scenarios(cfg: &CompanyConfig, s: &mut Sink) {
    s.unique(
        "id.unique",
        "scenario id",
        cfg.scenarios
            .iter()
            .enumerate()
            .map(|(i, x)| (x.id, format!("scenarios[{i}].id"))),
    );
    s.unique(
        "id.unique",
        "file id",
        cfg.files
            .iter()
            .enumerate()
            .map(|(i, x)| (x.id, format!("files[{i}].id"))),
    );
    for (i, sc) in cfg.scenarios.iter().enumerate() {
        s.required(format!("scenarios[{i}].name"), &sc.name, "scenario name");
        for (name, op) in &sc.operations {
            if let Action::InfoMessage {
                prompt: Prompt::File { id },
            } = &op.action
            {
                if cfg.file(*id).is_none() {
                    s.push(
                        format!("scenarios[{i}].operations.{name}.action.prompt.id"),
                        "ref.file",
                        format!("file {id} does not exist"),
                    );
                }
            }
            if let Action::Voicemail {
                max_s, silence_s, ..
            } = &op.action
            {
                if !(1..=600).contains(max_s) {
                    s.push(
                        format!("scenarios[{i}].operations.{name}.action.max_s"),
                        "voicemail.max_s",
                        "max_s must be 1-600 seconds",
                    );
                }
                if *silence_s > 60 {
                    s.push(
                        format!("scenarios[{i}].operations.{name}.action.silence_s"),
                        "voicemail.silence_s",
                        "silence_s must be 0-60 seconds",
                    );
                }
            }
            if let Action::Forward(f) = &op.action {
                forward_targets(
                    cfg,
                    s,
                    &format!("scenarios[{i}].operations.{name}.action"),
                    f,
                );
            }
        }
    }
}

pub(super) fn forward_targets(
    cfg: &CompanyConfig,
    s: &mut Sink,
    at: &str,
    f: &crate::model::Forward,
) {
    use crate::model::ForwardTarget;
    if f.targets.is_empty() {
        s.push(
            format!("{at}.targets"),
            "forward.targets_required",
            "a forward operation needs at least one target",
        );
    }
    if f.max_wait_s == Some(0) {
        s.push(
            format!("{at}.max_wait_s"),
            "forward.max_wait_positive",
            "max_wait_s must be at least 1 second when set",
        );
    }
    for (k, t) in f.targets.iter().enumerate() {
        let field = format!("{at}.targets[{k}]");
        match t {
            ForwardTarget::Employee { id } if cfg.employee(*id).is_none() => s.push(
                format!("{field}.id"),
                "ref.employee",
                format!("employee {id} does not exist"),
            ),
            ForwardTarget::Group { id } if cfg.group(*id).is_none() => s.push(
                format!("{field}.id"),
                "ref.group",
                format!("group {id} does not exist"),
            ),
            ForwardTarget::External { number, .. }
                if number.is_empty()
                    || number.len() > 15
                    || !number.bytes().all(|b| b.is_ascii_digit()) =>
            {
                s.push(
                    format!("{field}.number"),
                    "forward.external_digits",
                    "an external number is 1-15 digits in international format, without +",
                )
            }
            ForwardTarget::SipUri { uri, .. }
                if !uri.contains('@') || uri.starts_with('@') || uri.ends_with('@') =>
            {
                s.push(
                    format!("{field}.uri"),
                    "forward.sip_uri",
                    "a SIP URI target is user@host or user@host:port",
                )
            }
            _ => {}
        }
    }
}
