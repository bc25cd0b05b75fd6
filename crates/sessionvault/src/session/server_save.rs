//! Server mode, saving: a new record under a new ID, and the compare-and-set write loop that
//! replays the request's changes after a lost race.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::engine::Engine;
use super::server_load::{reload, reload_from};
use super::size;
use super::state::{Loaded, State, Update, apply, blank_record, idle_deadline};
use super::turns::{Settled, Turn};
use crate::Error;
use crate::clock::later;
use crate::events::SecurityEvent;
use crate::id::SessionId;
use crate::store::{Record, SaveIf};

/// Creates a fresh record (a new session, or the target of a cycle) under a new ID.
pub(crate) async fn create_record(
    engine: &Engine,
    state: &mut State,
    data: BTreeMap<String, serde_json::Value>,
    user: Option<String>,
) -> Result<SessionId, Error> {
    let now = engine.now();
    let absolute = later(now, engine.config.absolute_timeout);
    let idle = idle_deadline(now, engine.config.idle_timeout, absolute);
    loop {
        let id = SessionId::generate().map_err(|_| Error::Random)?;
        let key = engine.hasher.key(&id);
        let record = Record {
            data: data.clone(),
            user: user.clone(),
            auth_time: user.as_ref().map(|_| now),
            user_agent: state.meta.user_agent(),
            ip: state.meta.ip_prefix(),
            ..blank_record(key, now, idle, absolute)
        };
        // A collision of 256-bit random IDs does not happen; if the store says it did, draw
        // again rather than overwrite.
        if engine.store.create(&record).await? {
            engine.emit(SecurityEvent::Created { key: Some(key) });
            if let Some(user) = &user {
                engine.emit(SecurityEvent::Login {
                    key: Some(key),
                    user: user.clone(),
                });
            }
            state.changes.clear();
            state.login = None;
            state.server.issued = Some(id.clone());
            state.loaded = Loaded::Existing(Arc::new(record));
            return Ok(id);
        }
    }
}

/// Compare-and-set of the change set (and an optional update) onto the current record,
/// replayed on the fresh record after every lost race, within `held` when it is the turn on
/// the record's session (taken before the load). While this process's other writers of the
/// session wait behind it, the change is left for them to save with theirs (see
/// [`super::turns`]). Returns the updated key's saved value.
pub(crate) async fn write(
    engine: &Engine,
    state: &mut State,
    update: Option<Update<'_>>,
    held: Option<Turn<'_>>,
) -> Result<Option<serde_json::Value>, Error> {
    if matches!(state.loaded, Loaded::New) {
        drop(held);
        if state.server.after_id_change && state.login.is_none() {
            // A new anonymous session's cookie would replace the one the sign-in set.
            return Err(Error::IdChanged);
        }
        // A new session: the update starts from nothing.
        let mut data = BTreeMap::new();
        apply(&state.changes, &mut data);
        let saved = match update {
            Some((key, f)) => Some((key, f(data.remove(key))?)),
            None => None,
        };
        if let Some((key, value)) = &saved {
            data.insert((*key).to_owned(), value.clone());
        }
        size::check(engine, &state.changes, saved.is_some(), &data)?;
        create_record(engine, state, data, state.login.clone()).await?;
        state.cycle = false;
        return Ok(saved.map(|(_, value)| value));
    }
    let Loaded::Existing(record) = &mut state.loaded else {
        return Err(Error::SessionEnded);
    };
    // This process's writers of the session take turns: each starts from the record the
    // one before it saved (or left pending), so that only another process's write can make it
    // retry. (Tokio's mutex is not reentrant: a turn held already is kept, never taken again.)
    let mut turn = match held {
        Some(turn) if turn.is_for(&record.key) => turn,
        held => {
            // Loading followed a renewal to its successor: take turns on that one.
            drop(held);
            engine.turns.take(record.key).await
        }
    };
    let mut batch = turn.start_from(record);
    // After a batch this writer joined went unsaved, it saves alone: another batch would only
    // fail the same way, and its own attempt reports its own error.
    let mut alone = false;
    for attempt in 0..=engine.config.max_retries {
        let Loaded::Existing(record) = &state.loaded else {
            return Err(Error::SessionEnded);
        };
        let (mut next, saved) = changed(engine, state, record, update)?;
        let key = record.key;
        // What to save and the version it replaces: this writer's record, or, when a batch it
        // deferred to comes back to it, the batch's.
        let to_save = if !alone && turn.should_defer(&batch) {
            alone = true;
            next.version = record.version;
            match turn.defer(next, std::mem::take(&mut batch)).settled().await {
                Settled::Saved(record) => return Ok(saved_as(state, record, saved)),
                Settled::Save(back, pending, pending_batch) => {
                    let mut next = Record::clone(&pending);
                    stamp(engine, &mut next, &pending);
                    (turn, batch) = (back, pending_batch);
                    Some((pending.version, next))
                }
                Settled::NotSaved => {
                    turn = engine.turns.take(key).await;
                    None
                }
            }
        } else {
            Some((record.version, next))
        };
        // Lost a race: pause, then reload and replay on the fresh record (or on the successor
        // of a renewal within its grace) unless the session is over. The pause comes before
        // the reload: between a reload and its compare-and-set, another process's write makes
        // the retry lose again, so nothing waits there. After the first loss, and after the
        // last try (whose reload tells an ended session from a conflict), nothing waits at
        // all: the lost compare-and-set answers the record it lost to, which is the reload.
        let at_once = attempt == 0 || attempt == engine.config.max_retries;
        // What the lost compare-and-set answered is under the key, when it was asked.
        let mut current = None;
        if let Some((base, next)) = to_save {
            let saved_now = if at_once {
                match engine.store.save_if_or_current(&next, base).await? {
                    SaveIf::Saved => true,
                    SaveIf::Lost(found) => {
                        current = Some(found);
                        false
                    }
                }
            } else {
                engine.store.save_if(&next, base).await?
            };
            if saved_now {
                let next = Arc::new(next);
                turn.saved(&next, std::mem::take(&mut batch));
                return Ok(saved_as(state, next, saved));
            }
            // The batch this writer took on is not saved: its writers replay alone.
            drop(std::mem::take(&mut batch));
        }
        match current {
            Some(found) => reload_from(engine, state, key, found).await?,
            None => {
                if !at_once {
                    backoff(attempt).await;
                }
                reload(engine, state, key).await?;
            }
        }
        if let Loaded::Existing(record) = &mut state.loaded {
            if record.key != key {
                // Followed a renewal: take turns with this process's writers of the successor.
                turn = engine.turns.take(record.key).await;
            }
            batch = turn.start_from(record);
        }
    }
    Err(Error::Conflict)
}

/// The record `record` becomes with the request's changes and `update` applied, ready to save
/// over it, and the updated key's new value.
fn changed(
    engine: &Engine,
    state: &State,
    record: &Record,
    update: Option<Update<'_>>,
) -> Result<(Record, Option<serde_json::Value>), Error> {
    let mut next = Record::clone(record);
    apply(&state.changes, &mut next.data);
    if state.server.stale_auth {
        next.auth_time = None;
    }
    let saved = match update {
        Some((key, f)) => {
            // The stored key's string goes back in with the new value.
            let (name, current) = match next.data.remove_entry(key) {
                Some((name, value)) => (name, Some(value)),
                None => (key.to_owned(), None),
            };
            let value = f(current)?;
            next.data.insert(name, value.clone());
            Some(value)
        }
        None => None,
    };
    size::check(engine, &state.changes, update.is_some(), &next.data)?;
    stamp(engine, &mut next, record);
    Ok((next, saved))
}

/// Marks `next` as the version after `base`, written now.
fn stamp(engine: &Engine, next: &mut Record, base: &Record) {
    let now = engine.now();
    next.version = base.version + 1;
    next.last_seen = now;
    next.idle_deadline = idle_deadline(now, engine.config.idle_timeout, base.absolute_deadline);
}

/// Records a successful save in `state`; returns the updated key's value.
fn saved_as(
    state: &mut State,
    record: Arc<Record>,
    saved: Option<serde_json::Value>,
) -> Option<serde_json::Value> {
    state.changes.clear();
    state.server.stale_auth = false;
    state.loaded = Loaded::Existing(record);
    saved
}

/// The pause before a retry's reload. After a first loss the retry goes at once (an ID
/// change's only yields to the tasks ready to run; a save's does not call this): one other
/// writer got in, and it is done. After more, the pause grows with each attempt and is
/// jittered within its upper half, so that writers racing again spread out instead of
/// colliding again.
pub(crate) async fn backoff(attempt: u32) {
    if attempt == 0 {
        tokio::task::yield_now().await;
        return;
    }
    let mut jitter = [0u8; 2];
    let _ = getrandom::fill(&mut jitter);
    let max_micros = 50u64 << attempt.min(8);
    let micros = max_micros / 2 + u64::from(u16::from_le_bytes(jitter)) % (max_micros / 2);
    tokio::time::sleep(std::time::Duration::from_micros(micros)).await;
}
