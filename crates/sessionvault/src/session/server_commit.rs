//! Server mode, committing: what a request's commit must do (nothing, create, cycle, renew,
//! write or touch), decided from what it loaded and what it asked for.

use std::collections::BTreeMap;

use jiff::Timestamp;

use super::engine::Engine;
use super::server_cycle::cycle;
use super::server_save::{create_record, write};
use super::size;
use super::state::{CookieAction, Loaded, State, apply, idle_deadline, touch_due};
use crate::Error;
use crate::clock::later;
use crate::events::{EndReason, SecurityEvent};

/// The request changed nothing and the idle deadline is far enough away: the common read-only
/// request, answered without touching the store.
pub(crate) fn nothing_to_save(engine: &Engine, state: &State) -> bool {
    if state.destroy
        || state.cycle
        || state.server.stale_auth
        || state.login.is_some()
        || !state.changes.is_empty()
    {
        return false;
    }
    if state.server.issued.is_some() || renewal_due(engine, state).is_some() {
        return false;
    }
    match &state.loaded {
        Loaded::Existing(record) => {
            // The request's time as of loading: one clock read per request.
            let now = state.server.loaded_at.unwrap_or_else(|| engine.now());
            !touch_due(record, now, engine.config.idle_timeout)
        }
        Loaded::New | Loaded::NotYet => true,
    }
}

/// When periodic renewal is on and this session's ID is old enough: the grace deadline for
/// the ID it replaces.
fn renewal_due(engine: &Engine, state: &State) -> Option<Timestamp> {
    let renewal = engine.config.renewal?;
    if state.server.via_grace {
        return None;
    }
    let record = state.live_record()?;
    let now = engine.now();
    (now.duration_since(record.id_issued) >= renewal.every).then(|| later(now, renewal.grace))
}

/// Saves what the request did.
pub(crate) async fn commit(engine: &Engine, state: &mut State) -> Result<CookieAction, Error> {
    let now = engine.now();
    if state.destroy {
        if let Loaded::Existing(record) = &state.loaded {
            engine
                .store
                .end(&record.key, EndReason::Logout, now, None)
                .await?;
            engine.emit(SecurityEvent::Ended {
                key: Some(record.key),
                reason: EndReason::Logout,
            });
        }
        state.loaded = Loaded::New;
        return Ok(CookieAction::Clear);
    }
    let is_new = matches!(state.loaded, Loaded::New);
    if is_new {
        if state.changes.is_empty() && state.login.is_none() {
            return Ok(CookieAction::Keep);
        }
        if state.server.after_id_change && state.login.is_none() && !state.cycle {
            // A new anonymous session's cookie would replace the one the sign-in set.
            state.changes.clear();
            return Err(Error::IdChanged);
        }
        let mut data = BTreeMap::new();
        apply(&state.changes, &mut data);
        size::check(engine, &state.changes, false, &data)?;
        create_record(engine, state, data, state.login.clone()).await?;
    } else if state.cycle {
        cycle(engine, state, None).await?;
    } else if let Some(grace_until) = renewal_due(engine, state) {
        cycle(engine, state, Some(grace_until)).await?;
    } else if !state.changes.is_empty() || state.server.stale_auth {
        write(engine, state, None, None).await?;
    }
    if let Some(id) = &state.server.issued {
        return Ok(CookieAction::Set(id.to_cookie_value()));
    }
    if is_new || !state.changes.is_empty() {
        return Ok(CookieAction::Keep);
    }
    // Nothing written: move the idle deadline only when it is due.
    if let Loaded::Existing(record) = &state.loaded {
        let idle = engine.config.idle_timeout;
        if touch_due(record, now, idle) {
            let deadline = idle_deadline(now, idle, record.absolute_deadline);
            engine
                .store
                .touch_if_live(&record.key, now, deadline)
                .await?;
        }
    }
    Ok(CookieAction::Keep)
}
