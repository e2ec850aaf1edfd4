//! The CDR writer: one thread that appends finished calls to the store with group commit
//! (every CDR waiting in the channel goes into one flush), so hang-ups never wait on fsync.

use crossbeam_channel::{Receiver, Sender};
use std::time::Duration;
use vpbx_store::{model::Cdr, recordings::RecordingMeta, Store, StoreError};

/// Where call actors drop their CDRs. Cheap to clone.
#[derive(Clone, Debug)]
pub struct CdrSink {
    tx: Sender<Item>,
}

#[derive(Debug)]
enum Item {
    Cdr(Box<Cdr>),
    Recording(Box<RecordingMeta>),
    /// Answered once every item queued before it is durable.
    Barrier(Sender<()>),
}

impl CdrSink {
    /// Starts the writer thread. It ends when every sink is dropped, after writing what is queued.
    /// `on_idle` runs on the thread each time it has waited [`RETRY_EVERY`] for nothing (the
    /// switch gives the thread's allocator cache back there).
    pub fn start(
        store: Store,
        on_idle: fn(),
    ) -> std::io::Result<(CdrSink, std::thread::JoinHandle<()>)> {
        let (tx, rx) = crossbeam_channel::unbounded();
        let handle = std::thread::Builder::new()
            .name("cdr-writer".into())
            .spawn(move || run(store, rx, on_idle))?;
        Ok((CdrSink { tx }, handle))
    }

    /// Queues one CDR.
    pub fn write(&self, cdr: Cdr) {
        if self.tx.send(Item::Cdr(Box::new(cdr))).is_err() {
            tracing::error!("CDR writer is gone; a CDR was lost");
        }
    }

    /// Queues the metadata of a finished recording.
    pub fn write_recording(&self, meta: RecordingMeta) {
        if self.tx.send(Item::Recording(Box::new(meta))).is_err() {
            tracing::error!("CDR writer is gone; a recording's metadata was lost");
        }
    }

    /// Blocks until every CDR queued so far is durable, or `timeout` passes. Returns whether
    /// the writer confirmed. Call from a blocking context (shutdown).
    pub fn sync(&self, timeout: Duration) -> bool {
        let (tx, rx) = crossbeam_channel::bounded(1);
        if self.tx.send(Item::Barrier(tx)).is_err() {
            return false;
        }
        rx.recv_timeout(timeout).is_ok()
    }
}

/// Where the writer puts what it receives: the store, or a fake in tests.
pub trait CdrStore: Send + 'static {
    /// Appends CDRs durably.
    fn put_cdrs(&self, cdrs: &[Cdr]) -> Result<(), StoreError>;
    /// Records a recording's metadata durably.
    fn put_recording(&self, meta: &RecordingMeta) -> Result<(), StoreError>;
    /// After a failure: makes the store writable again if it can (reopening it). Answers
    /// whether it is.
    fn recover(&self) -> bool;
    /// Whether the store's last write failed.
    fn faulted(&self) -> bool;
}

impl CdrStore for Store {
    fn put_cdrs(&self, cdrs: &[Cdr]) -> Result<(), StoreError> {
        Store::put_cdrs(self, cdrs)
    }
    fn put_recording(&self, meta: &RecordingMeta) -> Result<(), StoreError> {
        Store::put_recording(self, meta)
    }
    fn recover(&self) -> bool {
        Store::recover(self)
    }
    fn faulted(&self) -> bool {
        self.fault().is_some()
    }
}

/// CDRs (and recording metadata) kept in memory while the store cannot write them (a full
/// disk), written in order once it can. Past this many the newest are dropped and counted.
pub const MAX_PENDING: usize = 100_000;
/// How often a failed store is retried while records wait.
pub const RETRY_EVERY: Duration = Duration::from_secs(2);
/// After the first record arrives the writer gathers more for this long (or up to
/// [`MAX_BATCH`], or until a barrier) before one flush makes them all durable: at 2,000 calls/s
/// one flush then serves ~40 calls instead of one or two, and the store's flusher threads wake
/// 50 times a second, not on every hang-up (decision D72). A record is durable within it.
pub const LINGER: Duration = Duration::from_millis(20);
/// Records per flush at most.
pub const MAX_BATCH: usize = 1024;

/// What waits to be written.
#[derive(Default)]
struct Pending {
    cdrs: Vec<Cdr>,
    recordings: Vec<RecordingMeta>,
}

impl Pending {
    fn len(&self) -> usize {
        self.cdrs.len() + self.recordings.len()
    }

    fn add(&mut self, cdrs: Vec<Cdr>, recordings: Vec<RecordingMeta>) {
        let (before, offered) = (self.len(), cdrs.len() + recordings.len());
        self.cdrs
            .extend(cdrs.into_iter().take(MAX_PENDING.saturating_sub(before)));
        let room = MAX_PENDING.saturating_sub(self.len());
        self.recordings.extend(recordings.into_iter().take(room));
        let dropped = offered - (self.len() - before);
        if dropped > 0 {
            metrics::counter!("vpbx_cdr_dropped_total").increment(dropped as u64);
            tracing::error!(
                dropped,
                "the CDR queue is full while the store cannot write; records lost"
            );
        }
    }

    /// Writes what waits; keeps what fails. Answers whether everything was written.
    fn write(&mut self, store: &impl CdrStore) -> bool {
        if !self.cdrs.is_empty() {
            match store.put_cdrs(&self.cdrs) {
                Ok(()) => self.cdrs.clear(),
                Err(e) => {
                    tracing::error!(error = %e, waiting = self.cdrs.len(), "writing CDRs failed; they wait in memory");
                }
            }
        }
        let mut kept = Vec::new();
        for r in self.recordings.drain(..) {
            if let Err(e) = store.put_recording(&r) {
                tracing::error!(error = %e, call_id = %r.call_id, "writing recording metadata failed; it waits in memory");
                kept.push(r);
            }
        }
        self.recordings = kept;
        metrics::gauge!("vpbx_cdr_pending").set(self.len() as f64);
        self.len() == 0
    }
}

/// When the current linger ends. The writer is an I/O thread (no core): it waits in real time.
#[allow(clippy::disallowed_methods)]
fn linger_deadline() -> std::time::Instant {
    std::time::Instant::now() + LINGER
}

/// The writer's loop: group commit of what arrives; on a failure, records wait in memory
/// (bounded) and are retried every [`RETRY_EVERY`] and whenever more arrive, after asking the
/// store to recover. While the store is faulted (any write failed, an API write included) this
/// thread is also what brings it back ([`CdrStore::recover`] every [`RETRY_EVERY`]).
fn run(store: impl CdrStore, rx: Receiver<Item>, on_idle: fn()) {
    let mut pending = Pending::default();
    loop {
        // Wakes every RETRY_EVERY even when idle: a fault may come from another writer.
        let first = match rx.recv_timeout(RETRY_EVERY) {
            Ok(item) => Some(item),
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => {
                on_idle();
                None
            }
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) => break,
        };
        // Linger: the records of the next few milliseconds share this one flush.
        let mut items: Vec<Item> = first.into_iter().collect();
        if !items.is_empty() {
            let until = linger_deadline();
            while items.len() < MAX_BATCH && !matches!(items.last(), Some(Item::Barrier(_))) {
                match rx.recv_deadline(until) {
                    Ok(item) => items.push(item),
                    Err(_) => break,
                }
            }
        }
        let mut batch = Vec::new();
        let mut barriers = Vec::new();
        let mut recordings = Vec::new();
        for item in items {
            match item {
                Item::Cdr(c) => batch.push(*c),
                Item::Barrier(b) => barriers.push(b),
                Item::Recording(r) => recordings.push(*r),
            }
        }
        if (pending.len() > 0 || store.faulted()) && !store.recover() {
            pending.add(batch, recordings);
        } else {
            pending.add(batch, recordings);
            pending.write(&store);
        }
        for b in barriers {
            let _ = b.send(());
        }
    }
    if pending.len() > 0 && !(store.recover() && pending.write(&store)) {
        tracing::error!(
            lost = pending.len(),
            "the store could not write these records before exit"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};

    /// A store whose disk is full until told otherwise.
    #[derive(Clone, Default)]
    struct FlakyStore {
        full: Arc<AtomicBool>,
        cdrs: Arc<Mutex<Vec<String>>>,
        recoveries: Arc<Mutex<usize>>,
    }

    impl CdrStore for FlakyStore {
        fn put_cdrs(&self, cdrs: &[Cdr]) -> Result<(), StoreError> {
            if self.full.load(Ordering::SeqCst) {
                return Err(StoreError::Full("No space left on device".into()));
            }
            let mut all = self.cdrs.lock().unwrap();
            all.extend(cdrs.iter().map(|c| c.call_id.clone()));
            Ok(())
        }
        fn put_recording(&self, _: &RecordingMeta) -> Result<(), StoreError> {
            Ok(())
        }
        fn recover(&self) -> bool {
            *self.recoveries.lock().unwrap() += 1;
            !self.full.load(Ordering::SeqCst)
        }
        fn faulted(&self) -> bool {
            false
        }
    }

    fn cdr(id: &str) -> Cdr {
        Cdr {
            call_id: id.into(),
            sip_call_id: String::new(),
            numa: "79160000000".into(),
            numb: "74950000000".into(),
            start_unix_ms: 1,
            answer_unix_ms: None,
            end_unix_ms: 2,
            result: vpbx_store::model::CallResult::NotAnswered,
            hangup: vpbx_store::model::HangupSide::Caller,
            reason: "test".into(),
            events: Vec::new(),
        }
    }

    /// Finding: the record of a call made while the disk was full was lost.
    #[test]
    fn records_wait_while_the_disk_is_full_and_are_written_after() {
        let store = FlakyStore::default();
        store.full.store(true, Ordering::SeqCst);
        let (tx, rx) = crossbeam_channel::unbounded();
        let writer = {
            let store = store.clone();
            std::thread::spawn(move || run(store, rx, || {}))
        };
        let sink = CdrSink { tx };
        sink.write(cdr("a"));
        sink.write(cdr("b"));
        assert!(sink.sync(Duration::from_secs(60)));
        assert!(
            store.cdrs.lock().unwrap().is_empty(),
            "nothing written while full"
        );
        // Space returns: the next record (or the retry tick) writes everything, in order.
        store.full.store(false, Ordering::SeqCst);
        sink.write(cdr("c"));
        assert!(sink.sync(Duration::from_secs(60)));
        assert_eq!(*store.cdrs.lock().unwrap(), vec!["a", "b", "c"]);
        assert!(*store.recoveries.lock().unwrap() >= 1);
        drop(sink);
        writer.join().unwrap();
    }

    #[test]
    fn the_queue_is_bounded() {
        let mut p = Pending::default();
        p.add(
            (0..MAX_PENDING - 1).map(|i| cdr(&i.to_string())).collect(),
            Vec::new(),
        );
        p.add(vec![cdr("x"), cdr("y"), cdr("z")], Vec::new());
        assert_eq!(p.len(), MAX_PENDING);
        assert_eq!(p.cdrs.last().unwrap().call_id, "x");
    }
}
