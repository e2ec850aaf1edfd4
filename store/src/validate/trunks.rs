//! SIP trunks.

use super::values::{all_digits, host_violations, ip_or_cidr_violations};
use super::Sink;
use crate::model::*;

pub(super) fn trunks(cfg: &CompanyConfig, s: &mut Sink) {
    s.unique(
        "id.unique",
        "trunk id",
        cfg.trunks
            .iter()
            .enumerate()
            .map(|(i, t)| (t.id, format!("trunks[{i}].id"))),
    );
    s.unique(
        "trunk.name_unique",
        "trunk name",
        cfg.trunks
            .iter()
            .enumerate()
            .filter(|(_, t)| !t.name.trim().is_empty())
            .map(|(i, t)| (t.name.trim().to_owned(), format!("trunks[{i}].name"))),
    );
    let mut dids: Vec<(String, String)> = Vec::new();
    for (i, t) in cfg.trunks.iter().enumerate() {
        let p = format!("trunks[{i}]");
        s.required(format!("{p}.name"), &t.name, "trunk name");
        s.all(&format!("{p}.host"), host_violations(&t.host));
        if t.port == 0 {
            s.push(
                format!("{p}.port"),
                "trunk.port",
                "the carrier's port must be 1–65535",
            );
        }
        let a = format!("{p}.auth");
        match &t.auth {
            TrunkAuth::Registration {
                username,
                password,
                expires_s,
                ..
            } => {
                if username.trim().is_empty() {
                    s.push(
                        format!("{a}.username"),
                        "trunk.username",
                        "registration needs the user name the carrier gave",
                    );
                }
                if password.is_empty() {
                    s.push(
                        format!("{a}.password"),
                        "trunk.password",
                        "registration needs the password the carrier gave",
                    );
                }
                if !(60..=3600).contains(expires_s) {
                    s.push(
                        format!("{a}.expires_s"),
                        "trunk.expires",
                        format!("registration expiry {expires_s} s must be 60–3600"),
                    );
                }
            }
            TrunkAuth::Ip { addresses } => {
                if addresses.is_empty() {
                    s.push(
                        format!("{a}.addresses"),
                        "trunk.addresses_required",
                        "IP authentication needs at least one address or block",
                    );
                }
                for (j, x) in addresses.iter().enumerate() {
                    s.all(&format!("{a}.addresses[{j}]"), ip_or_cidr_violations(x));
                }
            }
        }
        for (j, m) in t.dids.iter().enumerate() {
            let d = format!("{p}.dids[{j}]");
            if !all_digits(&m.did) || m.did.len() > 20 {
                s.push(
                    format!("{d}.did"),
                    "trunk.did_digits",
                    format!("DID '{}' must be 1–20 digits", m.did),
                );
            }
            dids.push((m.did.clone(), format!("{d}.did")));
            if cfg.number(&m.number).is_none() {
                s.push(
                    format!("{d}.number"),
                    "trunk.did_unknown_number",
                    format!(
                        "DID {} maps to {}, which is not a virtual number of the company",
                        m.did, m.number
                    ),
                );
            }
        }
        for (j, x) in t.prefixes.iter().enumerate() {
            if !all_digits(x) {
                s.push(
                    format!("{p}.prefixes[{j}]"),
                    "trunk.prefix",
                    format!("outbound prefix '{x}' must be digits"),
                );
            }
        }
        if !(1..=32).contains(&t.response_timeout_s) {
            s.push(
                format!("{p}.response_timeout_s"),
                "trunk.response_timeout_s",
                "the wait for the carrier's first answer is 1 to 32 seconds",
            );
        }
        if t.max_channels == Some(0) {
            s.push(
                format!("{p}.max_channels"),
                "trunk.max_channels",
                "a trunk carries at least 1 call (leave max_channels out for no limit)",
            );
        }
    }
    s.unique("trunk.did_unique", "DID", dids);
}
