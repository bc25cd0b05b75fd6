//! Server mode, a new ID for a live session (sign-in, `cycle_id`, re-authentication, periodic
//! renewal): the data moves to a fresh record and the old one becomes a tombstone, without
//! losing a concurrent write or carrying the session past a revocation.

use std::sync::Arc;

use jiff::Timestamp;

use super::denylist;
use super::engine::Engine;
use super::server_load::reload;
use super::server_save::{backoff, create_record, write};
use super::size;
use super::state::{Loaded, State, apply};
use crate::Error;
use crate::events::{EndReason, SecurityEvent};
use crate::id::StoreKey;
use crate::store::{Record, RecordState};

/// New ID, same data (plus this request's changes); the old record becomes a tombstone,
/// but only if nobody wrote to it since it was loaded (otherwise their write is folded in
/// first). With `renew`, the tombstone points to the new record until that grace deadline;
/// when another request renewed it first, this one's changes go to that successor and its
/// cookie stays as it is.
pub(crate) async fn cycle(
    engine: &Engine,
    state: &mut State,
    renew: Option<Timestamp>,
) -> Result<(), Error> {
    for attempt in 0..=engine.config.max_retries {
        let Loaded::Existing(old) = &state.loaded else {
            return Err(Error::SessionEnded);
        };
        let old = Arc::clone(old);
        let mut data = old.data.clone();
        apply(&state.changes, &mut data);
        size::check(engine, &state.changes, false, &data)?;
        let (user, fresh_login) = match &state.login {
            Some(u) => (Some(u.clone()), true),
            // Re-authentication demanded: the user stays dropped on a reloaded record too.
            None if state.server.stale_auth => (None, false),
            None => (old.user.clone(), false),
        };
        let changes = std::mem::take(&mut state.changes);
        let login = state.login.clone();
        let stale_auth = state.server.stale_auth;
        let saves_more = !changes.is_empty() || stale_auth;
        create_record(engine, state, data, user).await?;
        let Loaded::Existing(new) = &mut state.loaded else {
            return Err(Error::Unreachable("a created record is current"));
        };
        if !fresh_login {
            let new = Arc::make_mut(new);
            // A plain cycle keeps the session's age and sign-in; only sign-in restarts them.
            new.created = old.created;
            new.auth_time = old.auth_time.filter(|_| !stale_auth);
            new.absolute_deadline = old.absolute_deadline;
            new.expires_at = old.absolute_deadline;
            new.idle_deadline = new.idle_deadline.min(old.absolute_deadline);
            new.version = 1;
            if !engine.store.save_if(new, 0).await? {
                return Err(Error::Conflict);
            }
        }
        let new_key = new.key;
        let now = engine.now();
        let ended = match renew {
            None => {
                engine
                    .store
                    .end(&old.key, EndReason::Cycled, now, Some(old.version))
                    .await?
            }
            Some(grace_until) => {
                let mut tombstone = Record::clone(&old).into_tombstone(EndReason::Renewed, now);
                tombstone.state = RecordState::Ended {
                    reason: EndReason::Renewed,
                    at: now,
                    successor: Some(new_key),
                    grace_until: Some(grace_until),
                };
                engine.store.save_if(&tombstone, old.version).await?
            }
        };
        if ended {
            refuse_if_revoked(engine, state, &old, new_key).await?;
            engine.emit(SecurityEvent::IdCycled {
                from: old.key,
                to: new_key,
            });
            state.cycle = false;
            state.login = None;
            state.server.stale_auth = false;
            return Ok(());
        }
        // Someone wrote to the old session meanwhile (or ended or renewed it): drop the
        // copy, reload, try again.
        engine
            .store
            .end(&new_key, EndReason::Cycled, engine.now(), None)
            .await?;
        state.changes = changes;
        state.login = login;
        state.server.issued = None;
        // As for a save: the pause before the reload, never between it and the next try.
        backoff(attempt).await;
        match reload(engine, state, old.key).await {
            Ok(()) => {}
            // A renewal the request only rode on, with nothing of its own to save: it ends
            // as it would have without renewal, without an error or a cookie.
            Err(Error::SessionEnded | Error::IdChanged) if renew.is_some() && !saves_more => {
                state.clear_stale = false;
                return Ok(());
            }
            Err(error) => return Err(error),
        }
        if renew.is_some() && state.server.via_grace {
            // Another request renewed it first: this one saves its changes there.
            if saves_more {
                Box::pin(write(engine, state, None, None)).await?;
            }
            return Ok(());
        }
    }
    Err(Error::Conflict)
}

/// After an ID change replaced `old` with `new_key`: when a revocation of the user covers
/// `old`, it may have listed their sessions before `new_key` existed, so the successor is
/// ended too and the request gets [`Error::SessionEnded`].
async fn refuse_if_revoked(
    engine: &Engine,
    state: &mut State,
    old: &Record,
    new_key: StoreKey,
) -> Result<(), Error> {
    let Some(user) = &old.user else {
        return Ok(());
    };
    if !denylist::carried_past_revocation(engine, user, &old.key, old.id_issued).await? {
        return Ok(());
    }
    if engine
        .store
        .end(&new_key, EndReason::Revoked, engine.now(), None)
        .await?
    {
        engine.emit(SecurityEvent::Ended {
            key: Some(new_key),
            reason: EndReason::Revoked,
        });
    }
    state.changes.clear();
    state.login = None;
    state.cycle = false;
    state.server.issued = None;
    state.loaded = Loaded::New;
    state.clear_stale = true;
    Err(Error::SessionEnded)
}
