//! The CDR writer: one thread that appends finished calls to the store with group commit
//! (every CDR waiting in the channel goes into one flush), so hang-ups never wait on fsync.

use crossbeam_channel::{Receiver, Sender};
use vpbx_store::{model::Cdr, Store};

/// Where call actors drop their CDRs. Cheap to clone.
#[derive(Clone, Debug)]
pub struct CdrSink {
    tx: Sender<Cdr>,
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
        if self.tx.send(cdr).is_err() {
            tracing::error!("CDR writer is gone; a CDR was lost");
        }
    }
}

fn run(store: Store, rx: Receiver<Cdr>) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        batch.extend(rx.try_iter().take(1023));
        if let Err(e) = store.put_cdrs(&batch) {
            tracing::error!(error = %e, count = batch.len(), "writing CDRs failed");
        }
    }
}
