//! What the distribution (SPEC §4.2, §4.3) keeps in the store, so it survives a restart:
//!
//! - statistics samples ([`DistSample`], tree `dist_samples`): one per ring offer and/or
//!   finished talk. Key: time (ms, big-endian) then a sequence number (big-endian, from the
//!   database's monotonic id generator), so equal times stay distinct and "since t" is a range
//!   scan. Not flushed one by one: a crash loses at most the last moments of statistics (the
//!   engine flushes on its own within half a second), which only shifts a ratio;
//! - turn pointers (tree `dist_turns`, key: the caller's string): where "strictly in turn" and
//!   "even" continue; flushed on every write;
//! - queue callback requests ([`QueueCallback`], tree `queue_callbacks`, key: id big-endian):
//!   a caller who asked to be called back must not be forgotten; flushed on every write.
//!
//! Values are bincode bodies in the version [`envelope`].

use crate::model::{DistSample, QueueCallback};
use crate::{envelope, Store, StoreError};
use serde::{Deserialize, Serialize};

/// Tree of the statistics samples.
pub(crate) const TREE_DIST_SAMPLES: &str = "dist_samples";
/// Tree of the turn pointers.
pub(crate) const TREE_DIST_TURNS: &str = "dist_turns";
/// Tree of the queue callback requests.
pub(crate) const TREE_QUEUE_CALLBACKS: &str = "queue_callbacks";

impl envelope::Migrate for DistSample {
    const CURRENT: u16 = 1;
}

impl envelope::Migrate for QueueCallback {
    const CURRENT: u16 = 1;
}

/// A stored turn pointer.
#[derive(Serialize, Deserialize)]
struct Turn {
    turn: u64,
}

impl envelope::Migrate for Turn {
    const CURRENT: u16 = 1;
}

fn printable(key: &[u8]) -> String {
    key.iter().map(|b| format!("{b:02x}")).collect()
}

impl Store {
    /// Records one statistics sample. Not flushed (see the module documentation).
    pub fn add_dist_sample(&self, sample: &DistSample) -> Result<(), StoreError> {
        let engine = self.engine()?;
        let seq = self.noted(engine.db.generate_id().map_err(StoreError::from))?;
        let mut key = sample.at_unix_ms.to_be_bytes().to_vec();
        key.extend_from_slice(&seq.to_be_bytes());
        let bytes = envelope::encode(<DistSample as envelope::Migrate>::CURRENT, sample)?;
        let done = engine.dist_samples.insert(key, bytes);
        self.noted(done.map(|_| ()).map_err(StoreError::from))
    }

    /// The samples at or after `unix_ms`, oldest first (equal times in the order they were
    /// added).
    pub fn dist_samples_since(&self, unix_ms: u64) -> Result<Vec<DistSample>, StoreError> {
        let mut out = Vec::new();
        let lo = unix_ms.to_be_bytes();
        for item in self.engine()?.dist_samples.range(lo.as_slice()..) {
            let (k, v) = item?;
            out.push(
                envelope::decode::<DistSample>(&v).map_err(|reason| StoreError::Decode {
                    tree: TREE_DIST_SAMPLES,
                    key: printable(&k),
                    reason,
                })?,
            );
        }
        Ok(out)
    }

    /// Removes the samples older than `before_unix_ms`; answers how many. Flushed.
    pub fn prune_dist_samples(&self, before_unix_ms: u64) -> Result<usize, StoreError> {
        let engine = self.engine()?;
        let hi = before_unix_ms.to_be_bytes();
        let mut batch = sled::Batch::default();
        let mut n = 0;
        for item in engine.dist_samples.range(..hi.as_slice()) {
            let (k, _) = item?;
            batch.remove(k);
            n += 1;
        }
        if n > 0 {
            let done = engine.dist_samples.apply_batch(batch);
            self.noted(done.map_err(StoreError::from))?;
            self.flush()?;
        }
        Ok(n)
    }

    /// The turn pointer stored under `key` (0 when none was).
    pub fn dist_turn(&self, key: &str) -> Result<u64, StoreError> {
        match self.engine()?.dist_turns.get(key.as_bytes())? {
            None => Ok(0),
            Some(v) => envelope::decode::<Turn>(&v)
                .map(|t| t.turn)
                .map_err(|reason| StoreError::Decode {
                    tree: TREE_DIST_TURNS,
                    key: key.to_owned(),
                    reason,
                }),
        }
    }

    /// Stores the turn pointer under `key`; durable when this returns.
    pub fn set_dist_turn(&self, key: &str, turn: u64) -> Result<(), StoreError> {
        let bytes = envelope::encode(<Turn as envelope::Migrate>::CURRENT, &Turn { turn })?;
        let done = self.engine()?.dist_turns.insert(key.as_bytes(), bytes);
        self.noted(done.map_err(StoreError::from))?;
        self.flush()
    }

    /// A fresh queue callback id: never handed out before, restarts included.
    pub fn new_queue_callback_id(&self) -> Result<u64, StoreError> {
        let id = self.engine()?.db.generate_id();
        self.noted(id.map_err(StoreError::from))
    }

    /// Adds (or replaces, by id) a queue callback request; durable when this returns.
    pub fn put_queue_callback(&self, cb: &QueueCallback) -> Result<(), StoreError> {
        let bytes = envelope::encode(<QueueCallback as envelope::Migrate>::CURRENT, cb)?;
        let done = self
            .engine()?
            .queue_callbacks
            .insert(cb.id.to_be_bytes(), bytes);
        self.noted(done.map_err(StoreError::from))?;
        self.flush()
    }

    /// Removes a queue callback request (nothing if there is none); answers whether one was
    /// removed. Durable when this returns.
    pub fn delete_queue_callback(&self, id: u64) -> Result<bool, StoreError> {
        let done = self.engine()?.queue_callbacks.remove(id.to_be_bytes());
        let old = self.noted(done.map_err(StoreError::from))?;
        self.flush()?;
        Ok(old.is_some())
    }

    /// Every queue callback request, in queue order (`joined_seq`, then id).
    pub fn queue_callbacks(&self) -> Result<Vec<QueueCallback>, StoreError> {
        let mut out = Vec::new();
        for item in self.engine()?.queue_callbacks.iter() {
            let (k, v) = item?;
            out.push(envelope::decode::<QueueCallback>(&v).map_err(|reason| {
                StoreError::Decode {
                    tree: TREE_QUEUE_CALLBACKS,
                    key: printable(&k),
                    reason,
                }
            })?);
        }
        out.sort_by_key(|c| (c.joined_seq, c.id));
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{EmployeeId, ScenarioId};

    fn sample(at: u64, employee: u64, talk_ms: u64) -> DistSample {
        DistSample {
            at_unix_ms: at,
            scenario: Some(ScenarioId(1)),
            employee: EmployeeId(employee),
            phone: 0,
            offered: talk_ms == 0,
            talk_ms,
        }
    }

    fn callback(id: u64, joined_seq: u64) -> QueueCallback {
        QueueCallback {
            id,
            set: "1:forward".into(),
            caller: format!("7916000000{id}"),
            numb: "74951234567".into(),
            scenario: Some(ScenarioId(1)),
            op: "forward".into(),
            joined_seq,
            joined_unix_ms: 1_000 + joined_seq,
            requested_unix_ms: 2_000 + id,
        }
    }

    #[test]
    fn samples_scan_since_keep_equal_times_and_prune() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        let samples = [
            sample(1_000, 1, 0),
            sample(2_000, 2, 0),
            sample(2_000, 2, 5_000),
            sample(2_000, 3, 0),
            sample(3_000, 1, 7_000),
        ];
        // Added out of time order: the scan is by time all the same.
        for x in [
            &samples[4],
            &samples[0],
            &samples[1],
            &samples[2],
            &samples[3],
        ] {
            s.add_dist_sample(x).unwrap();
        }
        assert_eq!(s.dist_samples_since(0).unwrap(), samples.to_vec());
        assert_eq!(s.dist_samples_since(2_000).unwrap(), samples[1..].to_vec());
        assert_eq!(s.dist_samples_since(2_001).unwrap(), samples[4..].to_vec());
        assert!(s.dist_samples_since(3_001).unwrap().is_empty());
        assert_eq!(s.prune_dist_samples(2_000).unwrap(), 1);
        assert_eq!(s.prune_dist_samples(2_000).unwrap(), 0);
        assert_eq!(s.dist_samples_since(0).unwrap(), samples[1..].to_vec());
        assert_eq!(s.prune_dist_samples(u64::MAX).unwrap(), 4);
        assert!(s.dist_samples_since(0).unwrap().is_empty());
    }

    #[test]
    fn turns_and_callbacks_survive_reopen_in_queue_order() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b, c);
        {
            let s = Store::open(dir.path()).unwrap();
            assert_eq!(s.dist_turn("1:forward").unwrap(), 0);
            s.set_dist_turn("1:forward", 7).unwrap();
            s.set_dist_turn("group:2", 3).unwrap();
            s.set_dist_turn("group:2", 4).unwrap();
            s.add_dist_sample(&sample(5_000, 1, 9_000)).unwrap();
            a = s.new_queue_callback_id().unwrap();
            b = s.new_queue_callback_id().unwrap();
            c = s.new_queue_callback_id().unwrap();
            assert!(a != b && b != c && a != c);
            // Stored in another order than the queue's.
            s.put_queue_callback(&callback(a, 30)).unwrap();
            s.put_queue_callback(&callback(b, 10)).unwrap();
            s.put_queue_callback(&callback(c, 20)).unwrap();
        }
        let s = Store::open(dir.path()).unwrap();
        assert_eq!(s.dist_turn("1:forward").unwrap(), 7);
        assert_eq!(s.dist_turn("group:2").unwrap(), 4);
        assert_eq!(
            s.dist_samples_since(0).unwrap(),
            vec![sample(5_000, 1, 9_000)]
        );
        let order: Vec<u64> = s.queue_callbacks().unwrap().iter().map(|x| x.id).collect();
        assert_eq!(order, vec![b, c, a]);
        assert_eq!(s.queue_callbacks().unwrap()[0], callback(b, 10));
        // Ids stay fresh after a restart.
        let d = s.new_queue_callback_id().unwrap();
        assert!(![a, b, c].contains(&d));
        assert!(s.delete_queue_callback(b).unwrap());
        assert!(!s.delete_queue_callback(b).unwrap());
        let order: Vec<u64> = s.queue_callbacks().unwrap().iter().map(|x| x.id).collect();
        assert_eq!(order, vec![c, a]);
        // Put again with the same id replaces.
        let mut moved = callback(a, 1);
        moved.caller = "79160000099".into();
        s.put_queue_callback(&moved).unwrap();
        assert_eq!(s.queue_callbacks().unwrap(), vec![moved, callback(c, 20)]);
    }
}
