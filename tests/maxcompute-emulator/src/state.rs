//! The state every handler shares: the store, the keys, the fault rules and the SQL instances
//! kept in memory. Handlers take it; the server builds it.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};

use chrono::{DateTime, Utc};

use crate::auth::KeyStore;
use crate::clock::Clock;
use crate::exec::{Outcome, ResultSet};
use crate::faults::Faults;
use crate::store::Store;

/// Shared state of all handlers.
#[derive(Debug)]
pub struct AppState {
    store: Mutex<Store>,
    pub keys: KeyStore,
    pub faults: Faults,
    pub instances: Mutex<BTreeMap<String, Instance>>,
    /// `host:port` this server answers on; tunnel discovery and stream slots point here.
    pub endpoint: String,
    session_ttl: std::time::Duration,
    /// The one source of time of every handler.
    pub clock: Clock,
}

impl AppState {
    pub fn new(
        store: Store,
        keys: KeyStore,
        endpoint: String,
        session_ttl: std::time::Duration,
        clock: Clock,
    ) -> Self {
        Self {
            clock,
            store: Mutex::new(store),
            keys,
            faults: Faults::default(),
            instances: Mutex::new(BTreeMap::new()),
            endpoint,
            session_ttl,
        }
    }

    pub fn session_ttl_ms(&self) -> i64 {
        i64::try_from(self.session_ttl.as_millis()).unwrap_or(i64::MAX)
    }

    pub fn store(&self) -> MutexGuard<'_, Store> {
        // SQLite transactions roll back on their own if a holder panicked; the handle stays usable.
        self.store.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn instances(&self) -> MutexGuard<'_, BTreeMap<String, Instance>> {
        self.instances.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A submitted instance and what its tasks ended with.
#[derive(Debug, Clone)]
pub struct Instance {
    pub id: String,
    pub project: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub tasks: Vec<(crate::xml_body::SqlTask, Outcome)>,
}

impl Instance {
    /// The result set of the instance's only query task, for the instance tunnel.
    pub fn result_set(&self) -> Option<&ResultSet> {
        match self.tasks.as_slice() {
            [
                (
                    _,
                    Outcome::Success {
                        result: Some(r), ..
                    },
                ),
            ] => Some(r),
            _ => None,
        }
    }
}
