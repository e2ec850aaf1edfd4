//! Metadata of recorded conversations (the files live under the data directory). Key: start
//! time (ms, big-endian) + call id, so listing is in time order.

use crate::{envelope, Store, StoreError};
use serde::{Deserialize, Serialize};

/// One recorded conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordingMeta {
    /// The call.
    pub call_id: String,
    /// Caller number.
    pub numa: String,
    /// Dialled number.
    pub numb: String,
    /// Employee who talked, if any (their id).
    pub employee: Option<u64>,
    /// Start of the recording, ms since the epoch.
    pub start_unix_ms: u64,
    /// Length in ms.
    pub duration_ms: u64,
    /// Stereo file (left = caller, right = employee/prompts), relative to the data directory.
    pub stereo_path: Option<String>,
    /// Mono mix, relative to the data directory.
    pub mono_path: Option<String>,
}

impl envelope::Migrate for RecordingMeta {
    const CURRENT: u16 = 1;
}

impl Store {
    /// Stores a recording's metadata; durable when this returns.
    pub fn put_recording(&self, r: &RecordingMeta) -> Result<(), StoreError> {
        let mut key = r.start_unix_ms.to_be_bytes().to_vec();
        key.extend_from_slice(r.call_id.as_bytes());
        let bytes = envelope::encode(<RecordingMeta as envelope::Migrate>::CURRENT, r)?;
        let done = self.engine()?.recordings.insert(key, bytes);
        self.noted(done.map_err(StoreError::from))?;
        self.flush()
    }

    /// The newest `limit` recordings, newest first.
    pub fn recent_recordings(&self, limit: usize) -> Result<Vec<RecordingMeta>, StoreError> {
        let mut out = Vec::new();
        for item in self.engine()?.recordings.iter().rev().take(limit) {
            let (k, v) = item?;
            out.push(envelope::decode::<RecordingMeta>(&v).map_err(|reason| {
                StoreError::Decode {
                    tree: "recordings",
                    key: String::from_utf8_lossy(&k).into_owned(),
                    reason,
                }
            })?);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recordings_round_trip_newest_first() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        let r = |id: &str, t| RecordingMeta {
            call_id: id.into(),
            numa: "79160000000".into(),
            numb: "74951234567".into(),
            employee: None,
            start_unix_ms: t,
            duration_ms: 1000,
            stereo_path: Some(format!("recordings/{id}-stereo.wav")),
            mono_path: None,
        };
        s.put_recording(&r("a", 1)).unwrap();
        s.put_recording(&r("b", 2)).unwrap();
        let got = s.recent_recordings(10).unwrap();
        assert_eq!(got, vec![r("b", 2), r("a", 1)]);
    }
}
