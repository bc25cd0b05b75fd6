//! Writers of one session within this process take turns.
//!
//! Compare-and-set keeps concurrent writes correct across processes: a save that lost a race
//! reloads and replays its changes. But when many requests of one process write one session at
//! once (a page firing parallel requests, a client retrying), all but one lose every round, and
//! with a store round trip per attempt, many run out of retries and answer 409. Within a process
//! they need not race at all: each waits for its turn, then starts from the record the previous
//! writer saved, so its compare-and-set succeeds unless another process wrote in between.
//! An `update` takes its turn before it loads, and a writer that waited starts from that saved
//! record without a load of its own: the wait would have made any load stale, and on one hot
//! session this halves the store round trips.
//! Compare-and-set still decides; the turns only keep this process from losing to itself.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard};

use crate::id::{KeyBytes, StoreKey};
use crate::store::Record;

/// The longest a writer waits for its turn. A writer stuck on a slow store must not hold up the
/// others for longer: past this they go ahead and race, as writers in different processes do,
/// and compare-and-set settles it.
pub(crate) const MAX_WAIT: Duration = Duration::from_secs(1);

/// The sessions some request of this process is writing, with their queues. An entry lives
/// only while a writer holds or awaits its turn, so the map stays as small as the number of
/// sessions being written at this moment.
#[derive(Default)]
pub(crate) struct Turns {
    sessions: Mutex<HashMap<StoreKey, Arc<Slot>, KeyBytes>>,
}

/// One session's queue (tokio's mutex is fair: writers go in the order they came) and the
/// record its last writer saved.
type Slot = AsyncMutex<Option<Arc<Record>>>;

/// A writer's turn on one session; the next writer's turn begins when this is dropped.
pub(crate) struct Turn<'a> {
    turns: &'a Turns,
    key: StoreKey,
    guard: Option<OwnedMutexGuard<Option<Arc<Record>>>>,
}

impl Turns {
    /// Waits until no other writer of this process is writing the session under `key`, or
    /// [`MAX_WAIT`] has passed; then the turn is this writer's, or (after the wait) nobody's.
    pub(crate) async fn take(&self, key: StoreKey) -> Turn<'_> {
        let slot = Arc::clone(self.lock().entry(key).or_default());
        let guard = match Arc::clone(&slot).try_lock_owned() {
            Ok(guard) => Some(guard),
            Err(_) => tokio::time::timeout(MAX_WAIT, slot.lock_owned()).await.ok(),
        };
        Turn {
            turns: self,
            key,
            guard,
        }
    }

    /// How many sessions have writers now.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<StoreKey, Arc<Slot>, KeyBytes>> {
        // The map is consistent between statements: a panic elsewhere cannot leave it torn.
        self.sessions.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Turn<'_> {
    /// The record the previous writer saved, when it is newer than `loaded`: starting from it
    /// spares a compare-and-set that would fail.
    pub(crate) fn newer_than(&self, loaded: &Record) -> Option<Arc<Record>> {
        self.last_saved()
            .filter(|saved| saved.key == loaded.key && saved.version > loaded.version)
    }

    /// True when this is the turn on the session under `key`.
    pub(crate) fn is_for(&self, key: &StoreKey) -> bool {
        self.key == *key
    }

    /// The record the previous writer saved, if it saved one.
    pub(crate) fn last_saved(&self) -> Option<Arc<Record>> {
        self.guard
            .as_ref()
            .and_then(|saved| saved.as_ref())
            .cloned()
    }

    /// Records what this writer saved, for the next one.
    pub(crate) fn saved(&mut self, record: Arc<Record>) {
        if let Some(guard) = self.guard.as_mut() {
            **guard = Some(record);
        }
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        // Hand the turn on first; then forget the session if nobody else holds or awaits it
        // (whoever does holds a clone of the slot, taken under the map's lock).
        drop(self.guard.take());
        let mut sessions = self.turns.lock();
        if sessions
            .get(&self.key)
            .is_some_and(|slot| Arc::strong_count(slot) == 1)
        {
            sessions.remove(&self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(key: StoreKey, version: u64) -> Arc<Record> {
        let now = jiff::Timestamp::UNIX_EPOCH;
        Arc::new(Record {
            key,
            version,
            state: crate::store::RecordState::Live,
            data: Default::default(),
            user: None,
            auth_time: None,
            created: now,
            id_issued: now,
            last_seen: now,
            idle_deadline: now,
            absolute_deadline: now,
            user_agent: None,
            ip: None,
            expires_at: now,
        })
    }

    #[tokio::test]
    async fn writers_of_one_session_go_one_at_a_time_in_order() {
        let turns = Arc::new(Turns::default());
        let key = StoreKey::from_bytes([1; 32]);
        let first = turns.take(key).await;
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut waiting = Vec::new();
        for i in 0..3 {
            let (turns, order) = (Arc::clone(&turns), Arc::clone(&order));
            waiting.push(tokio::spawn(async move {
                let _turn = turns.take(key).await;
                order.lock().unwrap().push(i);
                tokio::task::yield_now().await;
            }));
            // Each waiter is queued before the next one is spawned.
            tokio::task::yield_now().await;
        }
        // Another session is not held up.
        drop(turns.take(StoreKey::from_bytes([2; 32])).await);
        assert!(
            order.lock().unwrap().is_empty(),
            "nobody went before the first"
        );
        drop(first);
        for w in waiting {
            w.await.unwrap();
        }
        assert_eq!(*order.lock().unwrap(), [0, 1, 2]);
        assert_eq!(turns.len(), 0, "sessions without writers are forgotten");
    }

    #[tokio::test]
    async fn the_next_writer_starts_from_the_record_saved_before_it() {
        let turns = Arc::new(Turns::default());
        let key = StoreKey::from_bytes([1; 32]);
        let mut turn = turns.take(key).await;
        assert!(
            turn.newer_than(&record(key, 3)).is_none(),
            "nothing saved yet"
        );
        turn.saved(record(key, 4));
        // A writer queued behind this one sees its record.
        let next = tokio::spawn({
            let turns = Arc::clone(&turns);
            async move {
                let next = turns.take(key).await;
                let seen = |version| next.newer_than(&record(key, version)).map(|r| r.version);
                // A writer that loaded something as new or newer (another process's save)
                // keeps what it loaded; another session's record is never handed over.
                let other = next.newer_than(&record(StoreKey::from_bytes([2; 32]), 1));
                (seen(3), seen(4), seen(9), other.is_none())
            }
        });
        tokio::task::yield_now().await;
        drop(turn);
        assert_eq!(next.await.unwrap(), (Some(4), None, None, true));
        // Once nobody writes the session, its saved record is gone with it.
        assert_eq!(turns.len(), 0);
        assert!(turns.take(key).await.newer_than(&record(key, 3)).is_none());
    }
}
