//! "Voice assistant" (SPEC §3 op 16): ask a question, hear the caller's spoken answer out, have
//! a speech service recognise it against the expected phrases (with synonyms), and go on at the
//! exit named after the phrase, or at `not_recognised` (nothing said, no match, a confidence
//! below the operation's minimum, the service's timeout or failure, no service configured).
//!
//! Exits: one per phrase (the phrase's name) and `not_recognised`.

use super::{broken, prompt_ref, Op, RefAt};
use crate::model::Prompt;
use crate::validate::ValidationError;
use serde::{Deserialize, Serialize};

/// The most phrases one operation expects.
pub const ASSISTANT_MAX_PHRASES: usize = 20;

/// The most synonyms of one phrase.
pub const ASSISTANT_MAX_SYNONYMS: usize = 20;

/// The exit every voice assistant has (its phrases add one each).
const ASSISTANT_EXITS: &[&str] = &["not_recognised"];

fn assistant_lang() -> String {
    "en-US".into()
}

fn assistant_listen_s() -> u32 {
    5
}

fn assistant_max_s() -> u32 {
    6
}

fn assistant_silence_ms() -> u32 {
    800
}

fn assistant_min_confidence() -> f32 {
    0.5
}

fn assistant_timeout_s() -> u32 {
    5
}

/// One expected answer: its name is the exit taken when it is recognised.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Phrase {
    /// What the caller is expected to say, e.g. `support`; also the exit's name (1-32 of
    /// `a-z`, `0-9`, `_`; an `_` is spoken as a space).
    pub phrase: String,
    /// Other words or short phrases meaning the same (each 1-64 characters, at most 20).
    #[serde(default)]
    pub synonyms: Vec<String>,
}

impl Phrase {
    /// The words the phrase is spoken as (`technical_support` → `technical support`).
    pub fn spoken(&self) -> String {
        self.phrase.replace('_', " ")
    }
}

/// Asks a question and branches on the spoken answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VoiceAssistant {
    /// The question (played once, answered for the caller); none: the caller is listened to at
    /// once.
    #[serde(default)]
    pub prompt: Option<Prompt>,
    /// The expected answers (1-20), each an exit of its own.
    pub phrases: Vec<Phrase>,
    /// The language of the answers as the speech service names it (BCP 47, e.g. `en-US`;
    /// default `en-US`).
    #[serde(default = "assistant_lang")]
    pub lang: String,
    /// Seconds the caller has to start answering after the question (1-30, default 5).
    #[serde(default = "assistant_listen_s")]
    pub listen_s: u32,
    /// The longest answer heard, seconds (1-30, default 6).
    #[serde(default = "assistant_max_s")]
    pub max_s: u32,
    /// The silence that ends the answer, milliseconds (300-5000, default 800).
    #[serde(default = "assistant_silence_ms")]
    pub silence_ms: u32,
    /// The lowest confidence (0.0-1.0) the service's answer needs; below it the answer is
    /// `not_recognised` (default 0.5).
    #[serde(default = "assistant_min_confidence")]
    pub min_confidence: f32,
    /// Seconds the speech service has to answer (1-30, default 5).
    #[serde(default = "assistant_timeout_s")]
    pub timeout_s: u32,
}

/// Whether `name` is a valid phrase name: 1-32 of `a-z`, `0-9`, `_`.
fn phrase_name_ok(name: &str) -> bool {
    (1..=32).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// Whether `lang` looks like a BCP 47 tag: 2-35 of letters, digits and `-`, starting with a
/// letter.
fn lang_ok(lang: &str) -> bool {
    (2..=35).contains(&lang.len())
        && lang.starts_with(|c: char| c.is_ascii_alphabetic())
        && lang.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

impl Op for VoiceAssistant {
    fn exits(&self) -> &'static [&'static str] {
        ASSISTANT_EXITS
    }
    fn bound_exits(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for p in &self.phrases {
            if !ASSISTANT_EXITS.contains(&p.phrase.as_str()) && !out.contains(&p.phrase.as_str()) {
                out.push(&p.phrase);
            }
        }
        out
    }
    fn refs(&self) -> Vec<RefAt> {
        prompt_ref("prompt", self.prompt.as_ref())
            .into_iter()
            .collect()
    }
    fn violations(&self) -> Vec<ValidationError> {
        let mut out = Vec::new();
        if self.phrases.is_empty() || self.phrases.len() > ASSISTANT_MAX_PHRASES {
            out.push(broken(
                "phrases",
                "voice_assistant.phrases",
                format!("phrases must list 1 to {ASSISTANT_MAX_PHRASES} expected answers"),
            ));
        }
        for (i, p) in self.phrases.iter().enumerate() {
            let field = format!("phrases[{i}].phrase");
            if !phrase_name_ok(&p.phrase) || p.phrase == "not_recognised" {
                out.push(broken(
                    &field,
                    "voice_assistant.phrase",
                    "a phrase must be 1-32 characters a-z, 0-9, _ (it names its exit) and not \
                     not_recognised",
                ));
            } else if self.phrases[..i].iter().any(|q| q.phrase == p.phrase) {
                out.push(broken(
                    &field,
                    "voice_assistant.phrase",
                    format!("phrase {} is listed twice", p.phrase),
                ));
            }
            if p.synonyms.len() > ASSISTANT_MAX_SYNONYMS {
                out.push(broken(
                    &format!("phrases[{i}].synonyms"),
                    "voice_assistant.synonyms",
                    format!("at most {ASSISTANT_MAX_SYNONYMS} synonyms per phrase"),
                ));
            }
            for (j, s) in p.synonyms.iter().enumerate() {
                let len = s.trim().chars().count();
                if !(1..=64).contains(&len) || s.chars().any(char::is_control) {
                    out.push(broken(
                        &format!("phrases[{i}].synonyms[{j}]"),
                        "voice_assistant.synonym",
                        "a synonym must be 1-64 characters without control characters",
                    ));
                }
            }
        }
        if !lang_ok(&self.lang) {
            out.push(broken(
                "lang",
                "voice_assistant.lang",
                "lang must be a language tag such as en-US",
            ));
        }
        for (field, value, max) in [
            ("listen_s", self.listen_s, 30),
            ("max_s", self.max_s, 30),
            ("timeout_s", self.timeout_s, 30),
        ] {
            if !(1..=max).contains(&value) {
                out.push(broken(
                    field,
                    match field {
                        "listen_s" => "voice_assistant.listen_s",
                        "max_s" => "voice_assistant.max_s",
                        _ => "voice_assistant.timeout_s",
                    },
                    format!("{field} must be 1-{max} seconds"),
                ));
            }
        }
        if !(300..=5000).contains(&self.silence_ms) {
            out.push(broken(
                "silence_ms",
                "voice_assistant.silence_ms",
                "silence_ms must be 300-5000 milliseconds",
            ));
        }
        if !(0.0..=1.0).contains(&self.min_confidence) {
            out.push(broken(
                "min_confidence",
                "voice_assistant.min_confidence",
                "min_confidence must be between 0.0 and 1.0",
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(v: &VoiceAssistant) -> Vec<(String, &'static str)> {
        v.violations()
            .into_iter()
            .map(|v| (v.field, v.rule))
            .collect()
    }

    #[test]
    fn defaults_rules_and_exits() {
        let v: VoiceAssistant = serde_json::from_str(
            r#"{"phrases": [{"phrase": "support", "synonyms": ["help"]}, {"phrase": "billing"}]}"#,
        )
        .unwrap();
        assert_eq!(v.lang, "en-US");
        assert_eq!(
            (v.listen_s, v.max_s, v.silence_ms, v.timeout_s),
            (5, 6, 800, 5)
        );
        assert!((v.min_confidence - 0.5).abs() < f32::EPSILON);
        assert!(v.violations().is_empty(), "{:?}", v.violations());
        assert_eq!(v.exits(), ["not_recognised"]);
        assert_eq!(v.bound_exits(), ["support", "billing"]);
        assert!(serde_json::from_str::<VoiceAssistant>("{}").is_err());
        assert!(serde_json::from_str::<VoiceAssistant>(
            r#"{"phrases": [{"phrase": "a", "synonym": []}]}"#
        )
        .is_err());

        let with = |f: &dyn Fn(&mut VoiceAssistant)| {
            let mut c = v.clone();
            f(&mut c);
            c
        };
        assert_eq!(
            rules(&with(&|c| c.phrases.clear())),
            [("phrases".to_string(), "voice_assistant.phrases")]
        );
        let v2 = with(&|c| {
            c.phrases.push(Phrase {
                phrase: "support".into(),
                synonyms: vec![String::new(), "x".repeat(65)],
            });
            c.phrases.push(Phrase {
                phrase: "Not OK".into(),
                synonyms: vec![],
            });
            c.phrases.push(Phrase {
                phrase: "not_recognised".into(),
                synonyms: vec![],
            });
        });
        assert_eq!(
            rules(&v2),
            [
                ("phrases[2].phrase".to_string(), "voice_assistant.phrase"),
                (
                    "phrases[2].synonyms[0]".to_string(),
                    "voice_assistant.synonym"
                ),
                (
                    "phrases[2].synonyms[1]".to_string(),
                    "voice_assistant.synonym"
                ),
                ("phrases[3].phrase".to_string(), "voice_assistant.phrase"),
                ("phrases[4].phrase".to_string(), "voice_assistant.phrase"),
            ]
        );
        assert_eq!(
            rules(&with(&|c| {
                c.lang = "en US".into();
                c.listen_s = 0;
                c.max_s = 31;
                c.timeout_s = 0;
                c.silence_ms = 100;
                c.min_confidence = 1.5;
            })),
            [
                ("lang".to_string(), "voice_assistant.lang"),
                ("listen_s".to_string(), "voice_assistant.listen_s"),
                ("max_s".to_string(), "voice_assistant.max_s"),
                ("timeout_s".to_string(), "voice_assistant.timeout_s"),
                ("silence_ms".to_string(), "voice_assistant.silence_ms"),
                (
                    "min_confidence".to_string(),
                    "voice_assistant.min_confidence"
                ),
            ]
        );
        assert_eq!(
            Phrase {
                phrase: "technical_support".into(),
                synonyms: vec![]
            }
            .spoken(),
            "technical support"
        );
    }
}
