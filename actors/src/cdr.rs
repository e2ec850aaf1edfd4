//! The CDR writer: one thread that appends finished calls to the store with group commit
//! (every CDR waiting in the channel goes into one flush), so hang-ups never wait on fsync.

use crossbeam_channel::{Receiver, Sender};
use std::time::Duration;
use vpbx_store::{model::Cdr, recordings::RecordingMeta, Store};

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
    pub fn start(store: Store) -> std::io::Result<(CdrSink, std::thread::JoinHandle<()>)> {
        let (tx, rx) = crossbeam_channel::unbounded();
        let handle = std::thread::Builder::new()
            .name("cdr-writer".into())
            .spawn(move || run(store, rx))?;
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

fn run(store: Store, rx: Receiver<Item>) {
    while let Ok(first) = rx.recv() {
        let mut batch = Vec::new();
        let mut barriers = Vec::new();
        let mut recordings = Vec::new();
        for item in std::iter::once(first).chain(rx.try_iter().take(1023)) {
            match item {
                Item::Cdr(c) => batch.push(*c),
                Item::Barrier(b) => barriers.push(b),
                Item::Recording(r) => recordings.push(*r),
            }
        }
        if !batch.is_empty() {
            if let Err(e) = store.put_cdrs(&batch) {
                tracing::error!(error = %e, count = batch.len(), "writing CDRs failed");
            }
        }
        for r in recordings {
            if let Err(e) = store.put_recording(&r) {
                tracing::error!(error = %e, call_id = %r.call_id, "writing recording metadata failed");
            }
        }
        for b in barriers {
            let _ = b.send(());
        }
    }
}
