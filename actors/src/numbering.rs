//! The numbering-plan registry files the admin loaded, shared between the admin API (which
//! replaces them) and the calls (each takes the files current when it starts, for its whole
//! life: a reload never changes a call's answer midway).

use crate::core::numbering::Registries;
use std::sync::{Arc, RwLock};

/// A handle on the current registry files; clones share them.
#[derive(Clone, Default)]
pub struct NumberingLink(Arc<RwLock<Arc<Registries>>>);

impl NumberingLink {
    /// A link holding `registries`.
    pub fn new(registries: Registries) -> Self {
        NumberingLink(Arc::new(RwLock::new(Arc::new(registries))))
    }

    /// The files now.
    pub fn current(&self) -> Arc<Registries> {
        match self.0.read() {
            Ok(g) => Arc::clone(&g),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// Makes `registries` the files calls start with from now on.
    pub fn replace(&self, registries: Registries) {
        let new = Arc::new(registries);
        match self.0.write() {
            Ok(mut g) => *g = new,
            Err(poisoned) => *poisoned.into_inner() = new,
        }
    }
}
