//! One channel of dialog states for every dialog of a kind, routed to each leg's own stream.
//!
//! The SIP stack reports a dialog's progress (ringing, answered, a BYE, an INFO…) on the
//! unbounded channel it was given when the dialog was made. A tokio channel allocates its first
//! block of 32 slots when it is made, and a slot of `DialogState` is large (it holds a whole
//! request or response): a channel per dialog cost about 10 KB per call that lasted as long as
//! the call (docs/benchmarks.md, "Memory per leg"). Here every dialog of a kind shares one
//! channel; a task reads it and forwards each state, boxed, to the stream of the leg that
//! registered the dialog's key, whose own channel's slots are a pointer each. A state for a key
//! nobody registered (its leg has ended) is dropped, as it was when each leg had its own channel
//! and dropped its receiver.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use rsipstack::dialog::dialog::{DialogState, DialogStateSender};
use rsipstack::dialog::DialogId;
use tokio::sync::mpsc::{self, UnboundedReceiver, UnboundedSender};

/// What a dialog's states are routed by.
#[derive(Debug, Clone, Copy)]
pub(super) enum KeyBy {
    /// The Call-ID alone: dialogs we start, whose Call-IDs we make unique.
    CallId,
    /// The Call-ID and the remote tag (the From tag of an INVITE we received), both known
    /// before the dialog exists.
    CallIdAndRemoteTag,
}

type Key = (String, String);
type Routes = Arc<Mutex<HashMap<Key, UnboundedSender<Box<DialogState>>>>>;

fn lock(routes: &Routes) -> MutexGuard<'_, HashMap<Key, UnboundedSender<Box<DialogState>>>> {
    routes.lock().unwrap_or_else(|p| p.into_inner())
}

/// The shared channel of one kind of dialog and the legs' routes.
#[derive(Debug)]
pub(super) struct StateRouter {
    tx: DialogStateSender,
    routes: Routes,
    by: KeyBy,
}

impl StateRouter {
    /// A router whose forwarding task runs on the current tokio runtime until the router and
    /// every dialog holding its sender are gone.
    pub fn start(by: KeyBy) -> Arc<StateRouter> {
        let (tx, mut rx) = mpsc::unbounded_channel::<DialogState>();
        let routes: Routes = Arc::default();
        let table = routes.clone();
        tokio::spawn(async move {
            while let Some(state) = rx.recv().await {
                let key = key_of(by, state.id());
                let route = lock(&table).get(&key).cloned();
                if let Some(route) = route {
                    let _ = route.send(Box::new(state));
                }
            }
        });
        Arc::new(StateRouter { tx, routes, by })
    }

    /// The sender to give the stack when making a dialog of this kind.
    pub fn sender(&self) -> DialogStateSender {
        self.tx.clone()
    }

    /// A leg's stream, empty until dialogs are added to it.
    pub fn stream(&self) -> StateStream {
        let (tx, rx) = mpsc::unbounded_channel();
        StateStream {
            tx,
            rx,
            keys: Vec::new(),
            routes: self.routes.clone(),
            by: self.by,
        }
    }
}

fn key_of(by: KeyBy, id: &DialogId) -> Key {
    match by {
        KeyBy::CallId => (id.call_id.clone(), String::new()),
        KeyBy::CallIdAndRemoteTag => (id.call_id.clone(), id.remote_tag.clone()),
    }
}

/// The states of one leg's dialogs, in the order the stack sent them. Dropping it removes
/// its routes.
#[derive(Debug)]
pub(super) struct StateStream {
    tx: UnboundedSender<Box<DialogState>>,
    rx: UnboundedReceiver<Box<DialogState>>,
    keys: Vec<Key>,
    routes: Routes,
    by: KeyBy,
}

impl StateStream {
    /// Routes the states of the dialog with this Call-ID (and remote tag, for a router keyed
    /// by both) here; call it before the dialog is made, so no state can come first.
    pub fn add(&mut self, call_id: &str, remote_tag: &str) {
        let key = match self.by {
            KeyBy::CallId => (call_id.to_string(), String::new()),
            KeyBy::CallIdAndRemoteTag => (call_id.to_string(), remote_tag.to_string()),
        };
        lock(&self.routes).insert(key.clone(), self.tx.clone());
        self.keys.push(key);
    }

    /// The next state (`None` never comes while the stream lives: it holds a sender itself).
    pub async fn recv(&mut self) -> Option<DialogState> {
        self.rx.recv().await.map(|b| *b)
    }
}

impl Drop for StateStream {
    fn drop(&mut self) {
        let mut routes = lock(&self.routes);
        for k in &self.keys {
            // Only our own route: a later stream may have taken the key over.
            if routes.get(k).is_some_and(|r| r.same_channel(&self.tx)) {
                routes.remove(k);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(call_id: &str, local: &str, remote: &str) -> DialogId {
        DialogId {
            call_id: call_id.into(),
            local_tag: local.into(),
            remote_tag: remote.into(),
        }
    }

    #[tokio::test]
    async fn states_reach_the_leg_that_registered_their_dialog_in_order() {
        let router = StateRouter::start(KeyBy::CallIdAndRemoteTag);
        let mut a = router.stream();
        let mut b = router.stream();
        a.add("c1", "from-a");
        b.add("c1", "from-b");
        let tx = router.sender();
        tx.send(DialogState::Calling(id("c1", "x", "from-a")))
            .unwrap();
        tx.send(DialogState::Trying(id("c1", "y", "from-b")))
            .unwrap();
        // Nobody's: dropped.
        tx.send(DialogState::Trying(id("c2", "z", "from-a")))
            .unwrap();
        tx.send(DialogState::Trying(id("c1", "x", "from-a")))
            .unwrap();
        assert!(matches!(a.recv().await, Some(DialogState::Calling(_))));
        assert!(matches!(a.recv().await, Some(DialogState::Trying(i)) if i.local_tag == "x"));
        assert!(matches!(b.recv().await, Some(DialogState::Trying(i)) if i.local_tag == "y"));
        // A dropped stream takes its routes with it.
        drop(a);
        assert_eq!(lock(&router.routes).len(), 1);
        drop(b);
        assert!(lock(&router.routes).is_empty());
    }

    #[tokio::test]
    async fn by_call_id_one_stream_takes_every_branch() {
        let router = StateRouter::start(KeyBy::CallId);
        let mut s = router.stream();
        s.add("branch-1", "");
        s.add("branch-2", "");
        let tx = router.sender();
        tx.send(DialogState::Calling(id("branch-2", "t", "")))
            .unwrap();
        tx.send(DialogState::Calling(id("branch-1", "t", "r")))
            .unwrap();
        let first = s.recv().await.unwrap();
        let second = s.recv().await.unwrap();
        assert_eq!(first.id().call_id, "branch-2");
        assert_eq!(second.id().call_id, "branch-1");
    }
}
