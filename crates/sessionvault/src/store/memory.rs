//! Sessions in process memory: for tests, development and single-process apps that can lose
//! sessions on restart.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use jiff::Timestamp;

use super::{Record, SaveIf, SessionStore, StoreError};
use crate::id::{KeyBytes, StoreKey};

#[derive(Default)]
struct Inner {
    /// Shared, so that a read lends the record instead of copying it; writes replace it.
    records: HashMap<StoreKey, Arc<Record>, KeyBytes>,
    by_user: HashMap<String, HashSet<StoreKey, KeyBytes>>,
}

impl Inner {
    fn put(&mut self, record: Record) {
        // The index holds live records only: a record whose user changed, or that ended,
        // leaves the old user's index.
        let old_user = self
            .records
            .get(&record.key)
            .and_then(|old| old.user.clone());
        let new_user = record.user.as_ref().filter(|_| record.is_live());
        if let Some(old_user) = old_user.filter(|u| Some(u) != new_user) {
            self.unindex(&old_user, &record.key);
        }
        if let Some(user) = new_user {
            self.by_user
                .entry(user.clone())
                .or_default()
                .insert(record.key);
        }
        self.records.insert(record.key, Arc::new(record));
    }

    fn unindex(&mut self, user: &str, key: &StoreKey) {
        if let Some(keys) = self.by_user.get_mut(user) {
            keys.remove(key);
            if keys.is_empty() {
                self.by_user.remove(user);
            }
        }
    }
}

/// An in-memory [`SessionStore`]. Clones share the same sessions. Expired records are removed
/// by [`SessionStore::sweep`], which [`crate::SessionManager::spawn_sweeper`] runs periodically.
#[derive(Clone, Default)]
pub struct MemoryStore {
    inner: Arc<Mutex<Inner>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many records (live and tombstones) it holds.
    pub fn len(&self) -> usize {
        self.lock().records.len()
    }

    /// True when it holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave a half-written record (every change is one
        // map operation), so a poisoned lock is still consistent.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The stored record itself, lent rather than copied.
    fn shared(&self, key: &StoreKey) -> Option<Arc<Record>> {
        self.lock().records.get(key).cloned()
    }

    /// `save_if` under the lock, answering what it lost to.
    fn compare_and_set(&self, record: &Record, expected_version: u64) -> SaveIf {
        let mut inner = self.lock();
        match inner.records.get(&record.key) {
            Some(current) if current.is_live() && current.version == expected_version => {
                inner.put(record.clone());
                SaveIf::Saved
            }
            current => SaveIf::Lost(current.cloned()),
        }
    }
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore")
            .field("records", &self.len())
            .finish()
    }
}

#[async_trait]
impl SessionStore for MemoryStore {
    async fn load(&self, key: &StoreKey) -> Result<Option<Record>, StoreError> {
        Ok(self.lock().records.get(key).map(|r| Record::clone(r)))
    }

    async fn load_shared(&self, key: &StoreKey) -> Result<Option<Arc<Record>>, StoreError> {
        Ok(self.shared(key))
    }

    fn try_load_shared(&self, key: &StoreKey) -> Option<Result<Option<Arc<Record>>, StoreError>> {
        Some(Ok(self.shared(key)))
    }

    /// A save here is a map update under a lock: batching would only add hand-overs.
    fn batches_writes(&self) -> bool {
        false
    }

    async fn create(&self, record: &Record) -> Result<bool, StoreError> {
        let mut inner = self.lock();
        if inner.records.contains_key(&record.key) {
            return Ok(false);
        }
        inner.put(record.clone());
        Ok(true)
    }

    async fn save_if(&self, record: &Record, expected_version: u64) -> Result<bool, StoreError> {
        Ok(self.compare_and_set(record, expected_version) == SaveIf::Saved)
    }

    async fn save_if_or_current(
        &self,
        record: &Record,
        expected_version: u64,
    ) -> Result<SaveIf, StoreError> {
        Ok(self.compare_and_set(record, expected_version))
    }

    async fn touch_if_live(
        &self,
        key: &StoreKey,
        last_seen: Timestamp,
        idle_deadline: Timestamp,
    ) -> Result<bool, StoreError> {
        let mut inner = self.lock();
        match inner.records.get_mut(key) {
            Some(record) if record.is_live() => {
                let record = Arc::make_mut(record);
                record.last_seen = last_seen;
                record.idle_deadline = idle_deadline;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn sessions_for_user(&self, user: &str) -> Result<Vec<Record>, StoreError> {
        let inner = self.lock();
        let Some(keys) = inner.by_user.get(user) else {
            return Ok(Vec::new());
        };
        Ok(keys
            .iter()
            .filter_map(|k| inner.records.get(k))
            .filter(|r| r.is_live() && r.user.as_deref() == Some(user))
            .map(|r| Record::clone(r))
            .collect())
    }

    async fn sweep(&self, now: Timestamp) -> Result<u64, StoreError> {
        let mut inner = self.lock();
        let expired: Vec<StoreKey> = inner
            .records
            .values()
            .filter(|r| r.expires_at <= now)
            .map(|r| r.key)
            .collect();
        for key in &expired {
            if let Some(user) = inner.records.remove(key).and_then(|r| r.user.clone()) {
                inner.unindex(&user, key);
            }
        }
        Ok(expired.len() as u64)
    }
}
