//! "Voicemail" (SPEC §3): answer, play the prompt (if any) and a beep, then record the caller.
//! Exit: `next`.

use super::{broken, prompt_ref, Op, RefAt, NEXT};
use crate::model::Prompt;
use crate::validate::ValidationError;
use serde::{Deserialize, Serialize};

fn voicemail_max_s() -> u32 {
    120
}

fn voicemail_silence_s() -> u32 {
    5
}

/// Voicemail: play the prompt (if any), a beep, then record the caller until silence after
/// speech, hang-up or `max_s`. The recording is kept with the call's recordings (mono, under
/// `voicemail/`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Voicemail {
    /// Played before the beep.
    #[serde(default)]
    pub prompt: Option<Prompt>,
    /// Maximum length in seconds (1–600).
    #[serde(default = "voicemail_max_s")]
    pub max_s: u32,
    /// Seconds of silence after speech that end the message (0: only hang-up or max_s).
    #[serde(default = "voicemail_silence_s")]
    pub silence_s: u32,
    /// Where the e-mail goes (caller number and time in the subject, the message attached):
    /// one or more addresses separated by commas. Sent through the box's SMTP relay, also
    /// when the caller left no message.
    #[serde(default)]
    pub email: Option<String>,
}

impl Op for Voicemail {
    fn exits(&self) -> &'static [&'static str] {
        NEXT
    }
    fn refs(&self) -> Vec<RefAt> {
        prompt_ref("prompt", self.prompt.as_ref())
            .into_iter()
            .collect()
    }
    fn violations(&self) -> Vec<ValidationError> {
        let mut out = Vec::new();
        if !(1..=600).contains(&self.max_s) {
            out.push(broken(
                "max_s",
                "voicemail.max_s",
                "max_s must be 1-600 seconds",
            ));
        }
        if let Some(email) = &self.email {
            let bad: Vec<&str> = email
                .split([',', ';'])
                .map(str::trim)
                .filter(|a| !a.is_empty() && !plausible_address(a))
                .collect();
            if !bad.is_empty() || email.split([',', ';']).all(|a| a.trim().is_empty()) {
                out.push(broken(
                    "email",
                    "voicemail.email",
                    format!(
                        "email must be one or more addresses (name@domain) separated by commas{}",
                        if bad.is_empty() {
                            String::new()
                        } else {
                            format!("; not an address: {}", bad.join(", "))
                        }
                    ),
                ));
            }
        }
        if self.silence_s > 60 {
            out.push(broken(
                "silence_s",
                "voicemail.silence_s",
                "silence_s must be 0-60 seconds",
            ));
        }
        out
    }
}

/// `local@domain`: one `@`, both sides non-empty, a dot-free or dotted domain, no blanks or
/// angle brackets (the mailer parses fully; this catches typos at load time).
fn plausible_address(a: &str) -> bool {
    let Some((local, domain)) = a.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.is_empty()
        && !domain.contains('@')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && a.len() <= 254
        && !a
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | '"'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vm(email: Option<&str>) -> Voicemail {
        Voicemail {
            prompt: None,
            max_s: 120,
            silence_s: 5,
            email: email.map(str::to_owned),
        }
    }

    #[test]
    fn email_is_one_or_more_addresses() {
        for ok in [
            None,
            Some("office@demo.invalid"),
            Some("a@b.invalid, c@d.invalid"),
        ] {
            assert!(vm(ok).violations().is_empty(), "{ok:?}");
        }
        for bad in [
            "",
            " , ",
            "office",
            "a@b.invalid, x y@z",
            "@b",
            "a@",
            "<a@b.invalid>",
        ] {
            let v = vm(Some(bad)).violations();
            assert_eq!(v.len(), 1, "{bad:?}");
            assert_eq!(v[0].rule, "voicemail.email", "{bad:?}");
        }
    }
}
