//! Writers of one session within this process take turns, and the ones that queued are saved
//! together.
//!
//! Compare-and-set keeps concurrent writes correct across processes: a save that lost a race
//! reloads and replays its changes. But when many requests of one process write one session at
//! once (a page firing parallel requests, a client retrying), all but one lose every round, and
//! with a store round trip per attempt, many run out of retries and answer 409. Within a process
//! they need not race at all: each waits for its turn, then starts from the record the previous
//! writer saved, so its compare-and-set succeeds unless another process wrote in between.
//! An `update` takes its turn before it loads, and a writer that waited starts from that saved
//! record without a load of its own: the wait would have made any load stale.
//!
//! A writer whose turn comes while others wait behind it does not save: it leaves its record
//! [`Pending`] for the next, who builds on it, and waits until some writer saves the batch. The
//! last one saves it all with one compare-and-set, so a hot session costs one store round trip
//! per batch, not per request, and every writer answers only once its change is stored. A batch
//! that is not saved (another process wrote first, the store failed, a writer gave up) tells its
//! writers so, and each replays its own change alone.
//! Compare-and-set still decides; the turns only keep this process from losing to itself.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::Poll;
use std::time::Duration;

use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard, oneshot};

use crate::id::{KeyBytes, StoreKey};
use crate::store::Record;

/// The longest a writer waits for its turn. A writer stuck on a slow store must not hold up the
/// others for longer: past this they go ahead and race, as writers in different processes do,
/// and compare-and-set settles it.
pub(crate) const MAX_WAIT: Duration = Duration::from_secs(1);

/// The most writers one compare-and-set saves; past it, the next writer saves, so that the
/// first of a long queue is not held up by all the others.
const MAX_BATCH: usize = 64;

/// The sessions some request of this process is writing, with their queues. An entry lives
/// only while a writer holds or awaits its turn, so the map stays as small as the number of
/// sessions being written at this moment.
pub(crate) struct Turns {
    sessions: Mutex<HashMap<StoreKey, Arc<Slot>, KeyBytes>>,
    /// Whether queued writers are saved together (see `SessionStore::batches_writes`).
    batches: bool,
}

impl Default for Turns {
    fn default() -> Self {
        Self::new(true)
    }
}

/// One session's queue (tokio's mutex is fair: writers go in the order they came), with what
/// its writers hand on, and how many writers wait for a turn.
#[derive(Default)]
struct Slot {
    queue: Arc<AsyncMutex<Handed>>,
    waiting: AtomicUsize,
}

/// What one writer hands on to the next.
#[derive(Default)]
struct Handed {
    /// The record the last writer saved.
    saved: Option<Arc<Record>>,
    /// Changes made but not saved yet, by writers waiting for the batch to be saved.
    pending: Option<Pending>,
}

/// A record with the changes of writers who wait for it to be saved. Its version is still the
/// stored one, which its compare-and-set expects.
struct Pending {
    record: Arc<Record>,
    batch: Batch,
}

/// The writers whose changes a record carries unsaved, each told when it is saved. Dropped
/// without [`Turn::saved`], it tells them it was not.
#[derive(Default)]
pub(crate) struct Batch {
    writers: Vec<oneshot::Sender<Arc<Record>>>,
}

/// A writer's turn on one session; the next writer's turn begins when this is dropped.
pub(crate) struct Turn<'a> {
    // Fields drop in order: the turn is handed on before the slot may be forgotten.
    guard: Option<OwnedMutexGuard<Handed>>,
    slot: SlotRef<'a>,
}

/// A writer that left its change in a pending batch, until the batch is settled. It keeps the
/// session's slot, and with it the batch, until then.
pub(crate) struct Deferred<'a> {
    slot: SlotRef<'a>,
    told: oneshot::Receiver<Arc<Record>>,
}

/// A hold on one session's slot; the session is forgotten when nobody holds or awaits it.
struct SlotRef<'a> {
    turns: &'a Turns,
    key: StoreKey,
    slot: Option<Arc<Slot>>,
}

/// How a deferred writer's batch ended.
pub(crate) enum Settled<'a> {
    /// Saved, as this record.
    Saved(Arc<Record>),
    /// Not saved: the writer replays its change alone.
    NotSaved,
    /// Nobody came to take the batch on: this writer, back in its turn, saves it.
    Save(Turn<'a>, Arc<Record>, Batch),
}

/// Counts a writer waiting for its turn, while it waits.
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl SlotRef<'_> {
    fn get(&self) -> &Arc<Slot> {
        self.slot
            .as_ref()
            .unwrap_or_else(|| unreachable!("the slot is held until drop"))
    }
}

impl Drop for SlotRef<'_> {
    fn drop(&mut self) {
        // Forget the session if nobody else holds or awaits it (whoever does holds a clone of
        // the slot, taken under the map's lock). A pending batch forgotten with it tells its
        // writers it was not saved.
        drop(self.slot.take());
        let mut sessions = self.turns.lock();
        if sessions
            .get(&self.key)
            .is_some_and(|slot| Arc::strong_count(slot) == 1)
        {
            sessions.remove(&self.key);
        }
    }
}

impl Turns {
    /// No writers yet; with `batches`, the ones that queue are saved together.
    pub(crate) fn new(batches: bool) -> Self {
        Self {
            sessions: Mutex::default(),
            batches,
        }
    }

    /// Waits until no other writer of this process is writing the session under `key`, or
    /// [`MAX_WAIT`] has passed; then the turn is this writer's, or (after the wait) nobody's.
    pub(crate) async fn take(&self, key: StoreKey) -> Turn<'_> {
        let slot = self.slot(key);
        let queue = Arc::clone(&slot.get().queue);
        let guard = match Arc::clone(&queue).try_lock_owned() {
            Ok(guard) => Some(guard),
            Err(_) => {
                let waiting = &slot.get().waiting;
                waiting.fetch_add(1, Ordering::Relaxed);
                let _waiting = Waiting(waiting);
                tokio::time::timeout(MAX_WAIT, queue.lock_owned())
                    .await
                    .ok()
            }
        };
        Turn { guard, slot }
    }

    fn slot(&self, key: StoreKey) -> SlotRef<'_> {
        SlotRef {
            turns: self,
            key,
            slot: Some(Arc::clone(self.lock().entry(key).or_default())),
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

impl<'a> Turn<'a> {
    /// True when this is the turn on the session under `key`.
    pub(crate) fn is_for(&self, key: &StoreKey) -> bool {
        self.slot.key == *key
    }

    /// The newest record this process's writers made of the session: the pending batch's, or
    /// else the last one saved.
    pub(crate) fn last_saved(&self) -> Option<Arc<Record>> {
        let handed = self.guard.as_deref()?;
        match &handed.pending {
            Some(pending) => Some(Arc::clone(&pending.record)),
            None => handed.saved.clone(),
        }
    }

    /// Moves `loaded` on to the newest record this process's writers made of its session, when
    /// it is newer: starting from it spares a compare-and-set that would fail. When that is a
    /// pending batch, this writer takes it on, and the batch is returned for its save to settle.
    /// A pending batch older than `loaded` (another process saved since) is dropped: its
    /// compare-and-set would fail, and its writers replay alone.
    pub(crate) fn start_from(&mut self, loaded: &mut Arc<Record>) -> Batch {
        let Some(handed) = self.guard.as_deref_mut() else {
            return Batch::default();
        };
        if let Some(pending) = handed.pending.take() {
            if pending.record.key == loaded.key && pending.record.version >= loaded.version {
                *loaded = pending.record;
                return pending.batch;
            }
            return Batch::default();
        }
        if let Some(saved) = handed
            .saved
            .as_ref()
            .filter(|saved| saved.key == loaded.key && saved.version > loaded.version)
        {
            *loaded = Arc::clone(saved);
        }
        Batch::default()
    }

    /// True when this process batches writes, this writer holds the turn, others wait for
    /// theirs, and `batch` has room for one more: its change then goes to them to save.
    pub(crate) fn should_defer(&self, batch: &Batch) -> bool {
        self.slot.turns.batches
            && self.guard.is_some()
            && batch.writers.len() + 1 < MAX_BATCH
            && self.slot.get().waiting.load(Ordering::Relaxed) > 0
    }

    /// Leaves `record`, which carries this writer's change on top of `batch`, unsaved for the
    /// next writer, and ends the turn. Its version must be the stored one the compare-and-set
    /// will expect.
    pub(crate) fn defer(self, record: Record, mut batch: Batch) -> Deferred<'a> {
        let (tell, told) = oneshot::channel();
        batch.writers.push(tell);
        let Turn { mut guard, slot } = self;
        if let Some(handed) = guard.as_deref_mut() {
            handed.pending = Some(Pending {
                record: Arc::new(record),
                batch,
            });
        }
        // The turn is handed on; the slot, holding the batch, stays with the deferred writer.
        drop(guard);
        Deferred { slot, told }
    }

    /// Records what this writer saved, for the next one, and tells the writers of `batch`,
    /// whose changes it carries.
    pub(crate) fn saved(&mut self, record: &Arc<Record>, batch: Batch) {
        if let Some(handed) = self.guard.as_deref_mut() {
            handed.saved = Some(Arc::clone(record));
        }
        for writer in batch.writers {
            // A writer that is gone needs no answer.
            let _ = writer.send(Arc::clone(record));
        }
    }
}

impl<'a> Deferred<'a> {
    /// Waits until the batch is saved or dropped. Meanwhile this writer queues for the turn
    /// again (without counting as a waiting writer), so that a batch nobody came to take on
    /// (the writer that waited gave up) comes back to it to save.
    pub(crate) async fn settled(self) -> Settled<'a> {
        let Deferred { slot, mut told } = self;
        let queue = Arc::clone(&slot.get().queue);
        let mut lock = std::pin::pin!(queue.lock_owned());
        // The answer first: a batch saved while the turn came back is settled.
        let guard = std::future::poll_fn(|cx| {
            if let Poll::Ready(told) = Pin::new(&mut told).poll(cx) {
                return Poll::Ready(Err(told));
            }
            lock.as_mut().poll(cx).map(Ok)
        })
        .await;
        let guard = match guard {
            Ok(guard) => guard,
            Err(told) => return told.map_or(Settled::NotSaved, Settled::Saved),
        };
        let mut turn = Turn {
            guard: Some(guard),
            slot,
        };
        // An answer sent before the turn came back wins. Else the batch is still pending:
        // no writer can hold it without holding the turn.
        match told.try_recv() {
            Ok(saved) => return Settled::Saved(saved),
            Err(oneshot::error::TryRecvError::Closed) => return Settled::NotSaved,
            Err(oneshot::error::TryRecvError::Empty) => {}
        }
        match turn
            .guard
            .as_deref_mut()
            .and_then(|handed| handed.pending.take())
        {
            Some(pending) => Settled::Save(turn, pending.record, pending.batch),
            None => {
                drop(turn);
                told.await.map_or(Settled::NotSaved, Settled::Saved)
            }
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
        let mut loaded = record(key, 3);
        turn.start_from(&mut loaded);
        assert_eq!(loaded.version, 3, "nothing saved yet");
        turn.saved(&record(key, 4), Batch::default());
        // A writer queued behind this one sees its record.
        let next = tokio::spawn({
            let turns = Arc::clone(&turns);
            async move {
                let mut next = turns.take(key).await;
                let mut seen = |version| {
                    let mut loaded = record(key, version);
                    next.start_from(&mut loaded);
                    loaded.version
                };
                // A writer that loaded something as new or newer (another process's save)
                // keeps what it loaded; another session's record is never handed over.
                let (a, b, c) = (seen(3), seen(4), seen(9));
                let mut other = record(StoreKey::from_bytes([2; 32]), 1);
                next.start_from(&mut other);
                (a, b, c, other.version)
            }
        });
        tokio::task::yield_now().await;
        drop(turn);
        assert_eq!(next.await.unwrap(), (4, 4, 9, 1));
        // Once nobody writes the session, its saved record is gone with it.
        assert_eq!(turns.len(), 0);
        let mut loaded = record(key, 3);
        turns.take(key).await.start_from(&mut loaded);
        assert_eq!(loaded.version, 3);
    }

    /// Takes the turn on `key` in a task of its own, once the current holder lets go; waits
    /// until it queues.
    async fn queue_writer(turns: &Arc<Turns>, key: StoreKey) -> tokio::task::JoinHandle<u64> {
        let waiting = turns.slot(key);
        let handle = tokio::spawn({
            let turns = Arc::clone(turns);
            async move {
                let mut turn = turns.take(key).await;
                let mut loaded = record(key, 0);
                let batch = turn.start_from(&mut loaded);
                // Saves what it took on, as the last writer of a batch does.
                let saved = Arc::new(Record {
                    version: loaded.version + 1,
                    ..Record::clone(&loaded)
                });
                turn.saved(&saved, batch);
                saved.version
            }
        });
        while waiting.get().waiting.load(Ordering::Relaxed) == 0 {
            tokio::task::yield_now().await;
        }
        handle
    }

    #[tokio::test]
    async fn a_deferred_writer_is_told_when_the_next_one_saves_its_change() {
        let turns = Arc::new(Turns::default());
        let key = StoreKey::from_bytes([1; 32]);
        let turn = turns.take(key).await;
        assert!(!turn.should_defer(&Batch::default()), "nobody waits yet");
        let next = queue_writer(&turns, key).await;
        assert!(turn.should_defer(&Batch::default()));
        let settled = turn
            .defer(Record::clone(&record(key, 7)), Batch::default())
            .settled();
        match settled.await {
            Settled::Saved(saved) => assert_eq!(saved.version, 8),
            _ => panic!("the next writer saved the batch"),
        }
        assert_eq!(next.await.unwrap(), 8, "it started from the pending record");
        assert_eq!(turns.len(), 0);
    }

    #[tokio::test]
    async fn a_store_that_does_not_batch_gets_one_save_per_writer() {
        let turns = Arc::new(Turns::new(false));
        let key = StoreKey::from_bytes([1; 32]);
        let turn = turns.take(key).await;
        let next = queue_writer(&turns, key).await;
        assert!(
            !turn.should_defer(&Batch::default()),
            "another waits, but no batching"
        );
        drop(turn);
        next.await.unwrap();
    }

    #[tokio::test]
    async fn a_batch_dropped_unsaved_tells_its_writers_so() {
        let turns = Arc::new(Turns::default());
        let key = StoreKey::from_bytes([1; 32]);
        let turn = turns.take(key).await;
        let waiter = tokio::spawn({
            let turns = Arc::clone(&turns);
            async move {
                let mut turn = turns.take(key).await;
                // It loaded a newer version (another process saved): the batch is dropped.
                let mut loaded = record(key, 9);
                let batch = turn.start_from(&mut loaded);
                drop(batch);
                loaded.version
            }
        });
        while turns.slot(key).get().waiting.load(Ordering::Relaxed) == 0 {
            tokio::task::yield_now().await;
        }
        let settled = turn
            .defer(Record::clone(&record(key, 7)), Batch::default())
            .settled();
        assert!(matches!(settled.await, Settled::NotSaved));
        assert_eq!(waiter.await.unwrap(), 9);
    }

    #[tokio::test]
    async fn a_batch_nobody_takes_on_comes_back_to_its_writer_to_save() {
        let turns = Arc::new(Turns::default());
        let key = StoreKey::from_bytes([1; 32]);
        let turn = turns.take(key).await;
        let next = queue_writer(&turns, key).await;
        assert!(turn.should_defer(&Batch::default()));
        // The waiting writer gives up (its request was dropped) before its turn comes.
        next.abort();
        assert!(next.await.unwrap_err().is_cancelled());
        let settled = turn
            .defer(Record::clone(&record(key, 7)), Batch::default())
            .settled();
        match settled.await {
            Settled::Save(mut turn, pending, batch) => {
                assert_eq!(pending.version, 7);
                turn.saved(&pending, batch);
            }
            _ => panic!("the batch came back to its writer"),
        }
        assert_eq!(turns.len(), 0);
    }
}
