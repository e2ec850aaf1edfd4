//! The voice assistant's exchange with the speech service (SPEC §3 op 16), the pure parts: the
//! request's body (`multipart/form-data` with the parts `lang`, `phrases` and `audio`), the
//! reply's parser and the rule that turns a reply into an exit. The shell records the answer
//! and moves the bytes (`crate::speech`); what they mean is decided here.
//!
//! The protocol (decision D66): `POST <url>` with the parts `lang` (text), `phrases`
//! (`application/json`, `[{"phrase": "support", "synonyms": ["help"]}]`) and `audio`
//! (`audio/wav`, mono 16-bit PCM at 8 kHz); a 200 reply is
//! `{"text": "...", "phrase": "support" | null, "confidence": 0.0-1.0}`.

use serde::Deserialize;
use vpbx_store::model::Phrase;

/// The largest reply body read, in bytes; a longer one is a bad reply.
pub const MAX_SPEECH_REPLY_BYTES: usize = 16 * 1024;

/// What the shell must do for a voice assistant: listen to the caller, then ask the service.
#[derive(Debug, Clone, PartialEq)]
pub struct SpeechAsk {
    /// Language tag sent as `lang`.
    pub lang: String,
    /// The expected phrases, sent as `phrases`.
    pub phrases: Vec<Phrase>,
    /// The caller has this long to start answering, milliseconds.
    pub listen_ms: u32,
    /// The longest answer, milliseconds.
    pub max_ms: u32,
    /// The silence that ends the answer, milliseconds.
    pub silence_ms: u32,
    /// The service's time to answer, milliseconds.
    pub timeout_ms: u32,
}

impl SpeechAsk {
    /// The request's `multipart/form-data` body around `wav`, with its `Content-Type`.
    pub fn body(&self, boundary: &str, wav: &[u8]) -> (String, Vec<u8>) {
        let phrases = serde_json::Value::Array(
            self.phrases
                .iter()
                .map(|p| serde_json::json!({"phrase": p.phrase, "synonyms": p.synonyms}))
                .collect(),
        );
        let mut body = Vec::with_capacity(wav.len() + 1024);
        let mut part = |name: &str, extra: &str, content_type: &str, data: &[u8]| {
            body.extend_from_slice(
                format!(
                    "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"{extra}\r\n\
                     Content-Type: {content_type}\r\n\r\n"
                )
                .as_bytes(),
            );
            body.extend_from_slice(data);
            body.extend_from_slice(b"\r\n");
        };
        part(
            "lang",
            "",
            "text/plain; charset=utf-8",
            self.lang.as_bytes(),
        );
        part(
            "phrases",
            "",
            "application/json",
            phrases.to_string().as_bytes(),
        );
        part("audio", "; filename=\"answer.wav\"", "audio/wav", wav);
        body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
        (format!("multipart/form-data; boundary={boundary}"), body)
    }
}

/// How the shell's part ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpeechResult {
    /// No speech service is configured: nothing was recorded.
    NotConfigured,
    /// The caller said nothing in time (`audio_ms` of silence heard).
    NoSpeech {
        /// Milliseconds listened.
        audio_ms: u64,
    },
    /// The service replied (any status).
    Replied {
        /// HTTP status.
        status: u16,
        /// The body (at most [`MAX_SPEECH_REPLY_BYTES`] + 1 bytes are read).
        body: Vec<u8>,
        /// Milliseconds of audio sent.
        audio_ms: u64,
        /// Milliseconds from sending to the end of the body.
        time_ms: u64,
    },
    /// The service's timeout passed first.
    TimedOut {
        /// Milliseconds of audio sent.
        audio_ms: u64,
        /// Milliseconds from sending to giving up.
        time_ms: u64,
    },
    /// No reply (connection failed, body unreadable), or the answer could not be recorded.
    Failed {
        /// Why.
        why: String,
        /// Milliseconds of audio sent (0 when nothing was).
        audio_ms: u64,
        /// Milliseconds from sending to the failure.
        time_ms: u64,
    },
}

/// A usable reply of the service.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Heard {
    /// What the service heard.
    #[serde(default)]
    pub text: Option<String>,
    /// The phrase it matched, if any.
    #[serde(default)]
    pub phrase: Option<String>,
    /// Its confidence, 0.0-1.0 (absent: 0).
    #[serde(default)]
    pub confidence: Option<f64>,
}

/// Parses a 200 reply's body: a JSON object with the optional fields of [`Heard`]; anything
/// else is `Err` with the reason (for the call's events).
pub fn parse_reply(body: &[u8]) -> Result<Heard, String> {
    if body.len() > MAX_SPEECH_REPLY_BYTES {
        return Err(format!("body larger than {MAX_SPEECH_REPLY_BYTES} bytes"));
    }
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| format!("not JSON ({e})"))?;
    if !value.is_object() {
        return Err("not a JSON object".into());
    }
    let heard: Heard =
        serde_json::from_value(value).map_err(|e| format!("unexpected field value ({e})"))?;
    if let Some(c) = heard.confidence {
        if !(0.0..=1.0).contains(&c) {
            return Err(format!("confidence {c} is not within 0.0-1.0"));
        }
    }
    Ok(heard)
}

/// Lower case, letters and digits only, single spaces (`"Technical-Support!"` →
/// `"technical support"`).
fn words(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_alphanumeric() {
                c.to_lowercase().next().unwrap_or(c)
            } else {
                ' '
            }
        })
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// The expected phrase a reply names: its `phrase` when that is one of `phrases` (by name,
/// spoken form or synonym, in any case), else — for a service that returns only text — the
/// phrase whose name or a synonym the `text` contains as whole words (the first such in
/// the operation's order).
pub fn matched<'a>(phrases: &'a [Phrase], heard: &Heard) -> Option<&'a Phrase> {
    let says = |p: &Phrase, s: &str| {
        let s = words(s);
        !s.is_empty() && (words(&p.spoken()) == s || p.synonyms.iter().any(|syn| words(syn) == s))
    };
    if let Some(named) = heard.phrase.as_deref().filter(|n| !n.trim().is_empty()) {
        return phrases.iter().find(|p| p.phrase == named || says(p, named));
    }
    let text = format!(" {} ", words(heard.text.as_deref().unwrap_or("")));
    let contains = |s: &str| {
        let w = words(s);
        !w.is_empty() && text.contains(&format!(" {w} "))
    };
    phrases
        .iter()
        .find(|p| contains(&p.spoken()) || p.synonyms.iter().any(|s| contains(s)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn phrases() -> Vec<Phrase> {
        vec![
            Phrase {
                phrase: "support".into(),
                synonyms: vec!["help".into(), "technical support".into()],
            },
            Phrase {
                phrase: "billing".into(),
                synonyms: vec![],
            },
            Phrase {
                phrase: "human_operator".into(),
                synonyms: vec!["operator".into()],
            },
        ]
    }

    fn heard(text: Option<&str>, phrase: Option<&str>) -> Heard {
        Heard {
            text: text.map(Into::into),
            phrase: phrase.map(Into::into),
            confidence: Some(0.9),
        }
    }

    #[test]
    fn the_body_has_the_three_parts() {
        let ask = SpeechAsk {
            lang: "en-US".into(),
            phrases: phrases(),
            listen_ms: 5000,
            max_ms: 6000,
            silence_ms: 800,
            timeout_ms: 5000,
        };
        let (ct, body) = ask.body("b0undary", b"RIFF....");
        assert_eq!(ct, "multipart/form-data; boundary=b0undary");
        let text = String::from_utf8_lossy(&body);
        assert!(text.starts_with("--b0undary\r\nContent-Disposition: form-data; name=\"lang\""));
        assert!(text.contains("\r\n\r\nen-US\r\n--b0undary\r\n"));
        assert!(text.contains(
            r#"[{"phrase":"support","synonyms":["help","technical support"]},{"phrase":"billing","synonyms":[]}"#
        ));
        assert!(text.contains(
            "name=\"audio\"; filename=\"answer.wav\"\r\nContent-Type: audio/wav\r\n\r\nRIFF....\r\n"
        ));
        assert!(text.ends_with("--b0undary--\r\n"));
    }

    #[test]
    fn replies_are_parsed_strictly() {
        let h = parse_reply(br#"{"text": "support", "phrase": "support", "confidence": 0.82}"#)
            .unwrap();
        assert_eq!(h.phrase.as_deref(), Some("support"));
        assert_eq!(h.confidence, Some(0.82));
        let h = parse_reply(br#"{"text": "", "phrase": null, "confidence": 0}"#).unwrap();
        assert_eq!(h.phrase, None);
        assert!(parse_reply(b"{}").is_ok());
        for bad in [
            &b"not json"[..],
            b"[1]",
            b"\"support\"",
            br#"{"phrase": 3}"#,
            br#"{"confidence": 1.5}"#,
            br#"{"confidence": "high"}"#,
        ] {
            assert!(
                parse_reply(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        let big = format!(r#"{{"text": "{}"}}"#, "a".repeat(MAX_SPEECH_REPLY_BYTES));
        assert!(parse_reply(big.as_bytes()).unwrap_err().contains("larger"));
    }

    #[test]
    fn the_phrase_is_found_by_name_synonym_or_text() {
        let p = phrases();
        let name = |h: &Heard| matched(&p, h).map(|p| p.phrase.clone());
        assert_eq!(
            name(&heard(None, Some("billing"))).as_deref(),
            Some("billing")
        );
        // A synonym or the spoken form returned as the phrase, in any case.
        assert_eq!(name(&heard(None, Some("Help"))).as_deref(), Some("support"));
        assert_eq!(
            name(&heard(None, Some("human operator"))).as_deref(),
            Some("human_operator")
        );
        // A phrase the operation does not expect: no match, whatever the text says.
        assert_eq!(name(&heard(Some("billing"), Some("sales"))), None);
        // Only text: whole words, the operation's order.
        assert_eq!(
            name(&heard(Some("I need Technical-Support please"), None)).as_deref(),
            Some("support")
        );
        assert_eq!(
            name(&heard(Some("an operator"), None)).as_deref(),
            Some("human_operator")
        );
        assert_eq!(name(&heard(Some("helpful"), None)), None);
        assert_eq!(name(&heard(Some(""), None)), None);
        assert_eq!(name(&heard(None, Some(" "))), None);
    }
}
