//! Box settings: the fixed extension length, mobile-line mode and the time zone.

use super::Sink;
use crate::model::*;

pub(super) fn settings(cfg: &CompanyConfig, s: &mut Sink) {
    if let Some(n) = cfg.settings.extension_length {
        if !(1..=5).contains(&n) {
            s.push(
                "settings.extension_length",
                "settings.extension_length",
                format!("fixed extension length {n} must be 1–5"),
            );
        }
        if cfg.settings.mobile_line_mode && !(4..=5).contains(&n) {
            s.push(
                "settings.extension_length",
                "settings.mobile_line_length",
                format!("mobile-line mode needs 4- or 5-digit extensions, not {n}"),
            );
        }
    }
    if !cfg.time_zone.is_empty() && cfg.time_zone.parse::<chrono_tz::Tz>().is_err() {
        s.push(
            "time_zone",
            "settings.time_zone",
            format!("'{}' is not an IANA time zone", cfg.time_zone),
        );
    }
}
