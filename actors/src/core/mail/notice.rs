//! The notification of one voicemail (SPEC §3: "an e-mail goes to the configured address with
//! the caller number and time in the subject, even when the caller left no message"): the
//! facts the call hands over, and the subject, body and attachment name made from them.

use crate::core::routing::schedule::local_time;

/// How the voicemail ended, as far as the e-mail is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoticeOutcome {
    /// A message was recorded: the WAV (relative to the data directory) and its length.
    Recorded {
        /// Path of the mono WAV under the data directory (`voicemail/<call id>.wav`).
        path: String,
        /// Length of the message, milliseconds.
        duration_ms: u64,
    },
    /// The caller hung up before the recording started (during the prompt or the beep).
    NoMessage,
    /// The recording could not be made (disk, permissions); the reason.
    RecordingFailed(String),
}

/// One voicemail notification: everything the e-mail says, fixed when the voicemail ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// The call's id (as in its call detail).
    pub call_id: String,
    /// Recipients as written in the operation's `email` (comma-separated addresses, split).
    pub to: Vec<String>,
    /// The caller's number.
    pub caller: String,
    /// The number the caller dialled.
    pub dialled: String,
    /// When the call came in, milliseconds since the Unix epoch.
    pub at_unix_ms: u64,
    /// The company's IANA time zone (empty: UTC) the time is shown in.
    pub time_zone: String,
    /// What was recorded.
    pub outcome: NoticeOutcome,
}

impl Notice {
    /// Splits an operation's `email` setting into addresses: separated by commas or
    /// semicolons, blanks trimmed, empty entries skipped.
    pub fn recipients(email: &str) -> Vec<String> {
        email
            .split([',', ';'])
            .map(str::trim)
            .filter(|a| !a.is_empty())
            .map(str::to_owned)
            .collect()
    }

    /// The call time in the company's zone with the zone named, e.g.
    /// `2026-12-07 07:01 Europe/Moscow` (UTC when the zone is empty or unknown).
    pub fn local_time(&self) -> String {
        let (time, zone) = match local_time(self.at_unix_ms, &self.time_zone) {
            Ok(t) if !self.time_zone.is_empty() => (Some(t), self.time_zone.as_str()),
            _ => (local_time(self.at_unix_ms, "").ok(), "UTC"),
        };
        match time {
            Some(t) => format!("{} {zone}", t.format("%Y-%m-%d %H:%M")),
            None => format!("{} ms since 1970 UTC", self.at_unix_ms),
        }
    }

    /// `Voicemail from <caller>, <time>`; `(no message)` is appended when nothing was recorded.
    pub fn subject(&self) -> String {
        let caller = if self.caller.is_empty() {
            "unknown caller"
        } else {
            self.caller.as_str()
        };
        let tail = match self.outcome {
            NoticeOutcome::Recorded { .. } => "",
            NoticeOutcome::NoMessage | NoticeOutcome::RecordingFailed(_) => " (no message)",
        };
        format!("Voicemail from {caller}, {}{tail}", self.local_time())
    }

    /// The plain-text body: caller, number dialled, time, call id, and the message's length or
    /// why there is none.
    pub fn body(&self) -> String {
        let what = match &self.outcome {
            NoticeOutcome::Recorded { duration_ms, .. } => format!(
                "Message: {} (attached: {})",
                duration(*duration_ms),
                self.attachment_name().unwrap_or_default()
            ),
            NoticeOutcome::NoMessage => {
                "Message: none (the caller hung up before the recording started)".to_owned()
            }
            NoticeOutcome::RecordingFailed(why) => {
                format!("Message: none (the recording failed: {why})")
            }
        };
        format!(
            "A caller reached voicemail.\r\n\r\nCaller: {}\r\nNumber dialled: {}\r\nTime: {}\r\nCall id: {}\r\n{what}\r\n",
            if self.caller.is_empty() {
                "unknown"
            } else {
                &self.caller
            },
            self.dialled,
            self.local_time(),
            self.call_id,
        )
    }

    /// The recording to attach (relative to the data directory), if any.
    pub fn recording(&self) -> Option<&str> {
        match &self.outcome {
            NoticeOutcome::Recorded { path, .. } => Some(path),
            _ => None,
        }
    }

    /// File name of the attachment: `voicemail-<caller>-<call id>.wav` with only safe
    /// characters.
    pub fn attachment_name(&self) -> Option<String> {
        self.recording()?;
        let safe = |s: &str| -> String {
            s.chars()
                .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '_'))
                .take(40)
                .collect()
        };
        let caller = safe(&self.caller);
        let caller = if caller.is_empty() {
            "unknown".to_owned()
        } else {
            caller
        };
        Some(format!("voicemail-{caller}-{}.wav", safe(&self.call_id)))
    }
}

/// `1 min 05 s`, `12.3 s`.
fn duration(ms: u64) -> String {
    let s = ms / 1000;
    if s >= 60 {
        format!("{} min {:02} s", s / 60, s % 60)
    } else {
        format!("{}.{} s", s, (ms % 1000) / 100)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notice(outcome: NoticeOutcome) -> Notice {
        Notice {
            call_id: "00ab".into(),
            to: vec!["office@demo.invalid".into()],
            caller: "79161234567".into(),
            dialled: "74957000300".into(),
            // 2026-12-07 04:01:30 UTC = 07:01 in Moscow (UTC+3).
            at_unix_ms: 1_796_616_090_000,
            time_zone: "Europe/Moscow".into(),
            outcome,
        }
    }

    #[test]
    fn subject_has_the_caller_and_the_local_time_with_its_zone() {
        let n = notice(NoticeOutcome::Recorded {
            path: "voicemail/00ab.wav".into(),
            duration_ms: 65_400,
        });
        assert_eq!(
            n.subject(),
            "Voicemail from 79161234567, 2026-12-07 07:01 Europe/Moscow"
        );
        let body = n.body();
        assert!(body.contains("Call id: 00ab\r\n"), "{body}");
        assert!(body.contains("Number dialled: 74957000300\r\n"), "{body}");
        assert!(
            body.contains("Message: 1 min 05 s (attached: voicemail-79161234567-00ab.wav)"),
            "{body}"
        );
        assert_eq!(n.recording(), Some("voicemail/00ab.wav"));
    }

    #[test]
    fn no_message_is_said_and_nothing_is_attached() {
        let n = notice(NoticeOutcome::NoMessage);
        assert!(n.subject().ends_with(" (no message)"), "{}", n.subject());
        assert!(n.body().contains("Message: none (the caller hung up"));
        assert_eq!(n.recording(), None);
        assert_eq!(n.attachment_name(), None);
        let failed = notice(NoticeOutcome::RecordingFailed("disk full".into()));
        assert!(failed.body().contains("the recording failed: disk full"));
        assert_eq!(failed.recording(), None);
    }

    #[test]
    fn utc_when_the_zone_is_empty_or_unknown() {
        let mut n = notice(NoticeOutcome::NoMessage);
        n.time_zone = String::new();
        assert_eq!(n.local_time(), "2026-12-07 04:01 UTC");
        n.time_zone = "Mars/Olympus".into();
        assert_eq!(n.local_time(), "2026-12-07 04:01 UTC");
        n.caller = String::new();
        assert!(n.subject().starts_with("Voicemail from unknown caller, "));
    }

    #[test]
    fn attachment_names_keep_only_safe_characters() {
        let mut n = notice(NoticeOutcome::Recorded {
            path: "voicemail/x.wav".into(),
            duration_ms: 1500,
        });
        n.caller = "+7 (916) \"x\"/../".into();
        assert_eq!(
            n.attachment_name().as_deref(),
            Some("voicemail-+7916x-00ab.wav")
        );
        assert!(n.body().contains("Message: 1.5 s"));
    }

    #[test]
    fn recipients_split_on_commas_and_semicolons() {
        assert_eq!(
            Notice::recipients(" a@b.invalid, c@d.invalid;;e@f.invalid ,"),
            ["a@b.invalid", "c@d.invalid", "e@f.invalid"]
        );
        assert!(Notice::recipients(" , ").is_empty());
    }
}
