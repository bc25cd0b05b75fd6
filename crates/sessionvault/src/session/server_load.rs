//! Server mode, loading: the session an ID names, through renewals and key rotations, checked
//! for expiry and against the fingerprint policy; and reloading it after a save that missed.

use std::net::IpAddr;
use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};

use super::denylist;
use super::engine::Engine;
use super::fingerprint::{FingerprintChange, FingerprintPolicy};
use super::state::{CSRF_SECRET_KEY, Change, Loaded, State};
use crate::Error;
use crate::events::{EndReason, SecurityEvent};
use crate::id::{SessionId, StoreKey};
use crate::store::{Record, RecordState};

/// How many renewals a request with a replaced ID follows. One is the rule (the grace period
/// is shorter than the renewal interval); the bound caps what a longer chain can cost.
const MAX_RENEWAL_HOPS: usize = 4;

/// How long after a sign-in (or `cycle_id`) of an anonymous session a request still holding the
/// replaced ID counts as a parallel request of the same browser rather than a stale copy: its
/// response leaves the cookie alone (clearing it could undo the response that set the new ID,
/// were it to arrive last) and its writes are refused ([`Error::IdChanged`]).
const ID_CHANGE_WINDOW: SignedDuration = SignedDuration::from_secs(10);

/// How a request's cookie reached the session it works on.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Arrival {
    /// The cookie names the session, or names nothing live.
    Direct,
    /// Through a renewal made within its grace period: the request works on the successor.
    ViaGrace,
    /// The cookie names an anonymous session a sign-in or `cycle_id` replaced moments ago.
    AfterIdChange,
}

/// What an update that took its turn on the cookie's session knows before it loads: the
/// store key of the cookie's ID, and the record this process last saved under it.
pub(crate) struct TurnTaken {
    pub(crate) key: StoreKey,
    pub(crate) saved: Option<Arc<Record>>,
}

/// The session the cookie's ID names, checked against the fingerprint policy; after a turn
/// was taken, starting from the record saved under its key, without a load. On an error,
/// nothing of `state` but the time of loading has changed.
pub(crate) async fn open(
    engine: &Engine,
    state: &mut State,
    value: &[u8],
    taken: Option<TurnTaken>,
) -> Result<Loaded, Error> {
    let now = engine.now();
    state.server.loaded_at = Some(now);
    let (mut loaded, arrival) = load_id(engine, value, taken, state.meta.ip, now).await?;
    check_fingerprint(engine, state, &mut loaded).await?;
    state.server.via_grace = arrival == Arrival::ViaGrace;
    state.server.after_id_change = arrival == Arrival::AfterIdChange;
    Ok(loaded)
}

/// Loads the session an ID names (or takes the record saved after the turn, which goes
/// through the same checks as a loaded one), and how the cookie reached it.
async fn load_id(
    engine: &Engine,
    value: &[u8],
    taken: Option<TurnTaken>,
    ip: Option<IpAddr>,
    now: Timestamp,
) -> Result<(Loaded, Arrival), Error> {
    let Some(id) = SessionId::parse(value) else {
        engine.emit(SecurityEvent::UnknownId);
        engine.failed_cookie(ip)?;
        return Ok((Loaded::New, Arrival::Direct));
    };
    // The turn was taken under this ID's key: it is not hashed twice.
    let (key, saved) = match taken {
        Some(TurnTaken { key, saved }) => (key, saved),
        None => (engine.hasher.key(&id), None),
    };
    let mut found = match saved.filter(|saved| saved.key == key) {
        Some(saved) => Some(saved),
        None => match engine.store.try_load_shared(&key) {
            Some(found) => found?,
            None => engine.store.load_shared(&key).await?,
        },
    };
    if found.is_none() && engine.hasher.has_fallbacks() {
        // Boxed: a rare path whose records would otherwise bloat every request's future.
        found = Box::pin(load_from_fallback(engine, &id, key)).await?;
    }
    let Some(record) = found else {
        engine.emit(SecurityEvent::UnknownId);
        engine.failed_cookie(ip)?;
        return Ok((Loaded::New, Arrival::Direct));
    };
    // Renewed moments ago: a request already in flight with the old ID is served the
    // successor until the grace period ends.
    let (record, via_grace) = follow_renewals(engine, record, now).await?;
    // Only an anonymous session's: a signed-in one replaced by a forced re-authentication
    // is signed out, and its holder must be free to start again at once.
    let id_changed_at = match record.state {
        RecordState::Ended {
            reason: EndReason::Cycled,
            at,
            ..
        } if record.user.is_none() => Some(at),
        _ => None,
    };
    let loaded = check_loaded(engine, record, now).await?;
    let arrival = match loaded {
        Loaded::Existing(_) if via_grace => Arrival::ViaGrace,
        Loaded::New
            if id_changed_at.is_some_and(|at| now.duration_since(at) <= ID_CHANGE_WINDOW) =>
        {
            Arrival::AfterIdChange
        }
        _ => Arrival::Direct,
    };
    Ok((loaded, arrival))
}

/// The session a record leads to: itself, or for the tombstone of a renewal still within
/// its grace period, the successor (followed at most [`MAX_RENEWAL_HOPS`] times). True when
/// it moved. What it leads to may itself be ended, and stays so: only live records are
/// ever written.
async fn follow_renewals(
    engine: &Engine,
    mut record: Arc<Record>,
    now: Timestamp,
) -> Result<(Arc<Record>, bool), Error> {
    let mut moved = false;
    for _ in 0..MAX_RENEWAL_HOPS {
        let Some((successor, _)) = record.successor().filter(|(_, until)| now < *until) else {
            break;
        };
        let Some(next) = engine.store.load_shared(&successor).await? else {
            break;
        };
        record = next;
        moved = true;
    }
    Ok((record, moved))
}

/// After a save that missed: the session under `key` as it now is, for this request to
/// replay its changes on, through a renewal made within its grace period (`via_grace` is
/// then set). A session ended or replaced meanwhile is an error and is never written again.
pub(crate) async fn reload(engine: &Engine, state: &mut State, key: StoreKey) -> Result<(), Error> {
    let found = engine.store.load_shared(&key).await?;
    reload_from(engine, state, key, found).await
}

/// [`reload`] from `found`, what the store has under `key` now (as a lost compare-and-set
/// answered it).
pub(crate) async fn reload_from(
    engine: &Engine,
    state: &mut State,
    key: StoreKey,
    found: Option<Arc<Record>>,
) -> Result<(), Error> {
    let now = engine.now();
    let found = match found {
        Some(found) => Some(follow_renewals(engine, found, now).await?.0),
        None => None,
    };
    if let Some(fresh) = found.as_ref().filter(|r| r.end_reason_at(now).is_none()) {
        state.server.via_grace |= fresh.key != key;
        state.loaded = Loaded::Existing(Arc::clone(fresh));
        return Ok(());
    }
    state.changes.clear();
    state.loaded = Loaded::New;
    let replaced = found.is_some_and(|r| {
        matches!(
            r.state,
            RecordState::Ended {
                reason: EndReason::Cycled | EndReason::Renewed,
                ..
            }
        )
    });
    if replaced {
        // A sign-in or cycle (a privilege change, never followed), or a renewal whose grace
        // ran out: the session lives on under an ID whose cookie another response sets.
        // Clearing the cookie here could undo that one, if this response came last.
        return Err(Error::IdChanged);
    }
    state.clear_stale = true;
    Err(Error::SessionEnded)
}

/// A loaded record as the request's session: live, or ended (expired just now, or before).
async fn check_loaded(
    engine: &Engine,
    record: Arc<Record>,
    now: Timestamp,
) -> Result<Loaded, Error> {
    match record.end_reason_at(now) {
        None => Ok(Loaded::Existing(record)),
        Some(reason @ (EndReason::IdleExpired | EndReason::AbsoluteExpired))
            if record.is_live() =>
        {
            engine.store.end(&record.key, reason, now, None).await?;
            engine.emit(SecurityEvent::Expired {
                key: Some(record.key),
                reason,
            });
            Ok(Loaded::New)
        }
        // Ended before this request: its cookie was cleared or replaced when it ended, so
        // whoever presents it now kept a copy.
        Some(reason) => {
            engine.emit(SecurityEvent::RevokedReuse {
                key: record.key,
                reason,
                user: record.user.clone(),
            });
            Ok(Loaded::New)
        }
    }
}

/// Compares the loaded session's fingerprint with the request's, and applies the policy.
async fn check_fingerprint(
    engine: &Engine,
    state: &mut State,
    loaded: &mut Loaded,
) -> Result<(), Error> {
    let policy = engine.config.fingerprint;
    let Loaded::Existing(record) = loaded else {
        return Ok(());
    };
    if policy == FingerprintPolicy::Ignore {
        return Ok(());
    }
    let network_changed = record
        .ip
        .as_deref()
        .is_some_and(|recorded| state.meta.is_outside(recorded));
    let recorded_agent = record.user_agent.as_deref();
    let agent = match recorded_agent {
        Some(recorded) if state.meta.has_user_agent(recorded) => recorded_agent,
        _ => state.meta.user_agent_str(),
    };
    let Some(change) = FingerprintChange::between(recorded_agent, agent, network_changed) else {
        return Ok(());
    };
    engine.emit(SecurityEvent::FingerprintChanged {
        key: record.key,
        user: record.user.clone(),
        user_agent: change.user_agent,
        network: change.network,
        action: policy,
    });
    match policy {
        FingerprintPolicy::Ignore | FingerprintPolicy::Log => {}
        FingerprintPolicy::Reauthenticate => {
            // Signed out under a new ID at commit: the presented cookie dies for whoever
            // holds it, and the new one carries the data but no user.
            if record.user.is_some() || record.auth_time.is_some() {
                if record.data.contains_key(CSRF_SECRET_KEY) {
                    state.changes.push(Change::Remove(CSRF_SECRET_KEY.into()));
                }
                let signed_out = Arc::make_mut(record);
                signed_out.user = None;
                signed_out.auth_time = None;
                state.server.stale_auth = true;
                state.cycle = true;
            }
        }
        FingerprintPolicy::Destroy => {
            let now = engine.now();
            if engine
                .store
                .end(&record.key, EndReason::Revoked, now, None)
                .await?
            {
                engine.emit(SecurityEvent::Ended {
                    key: Some(record.key),
                    reason: EndReason::Revoked,
                });
            }
            *loaded = Loaded::New;
        }
    }
    Ok(())
}

/// Looks for a session written before a key rotation, under the older keys, and moves it to
/// the current key.
async fn load_from_fallback(
    engine: &Engine,
    id: &SessionId,
    key: StoreKey,
) -> Result<Option<Arc<Record>>, Error> {
    for old_key in engine.hasher.fallback_keys(id) {
        if let Some(old) = engine.store.load(&old_key).await? {
            return Ok(Some(Arc::new(migrate(engine, old, key).await?)));
        }
    }
    Ok(None)
}

/// Moves a record found under a retired ID-hash key to the current one.
async fn migrate(engine: &Engine, old: Record, new_key: StoreKey) -> Result<Record, Error> {
    if !old.is_live() {
        return Ok(old);
    }
    let mut moved = old.clone();
    moved.key = new_key;
    moved.version = 0;
    if engine.store.create(&moved).await? {
        let now = engine.now();
        engine
            .store
            .end(&old.key, EndReason::Cycled, now, None)
            .await?;
        // A move is an ID change: it must not carry the session past a revocation.
        if let Some(user) = &old.user
            && denylist::carried_past_revocation(engine, user, &old.key, old.id_issued).await?
        {
            engine
                .store
                .end(&new_key, EndReason::Revoked, now, None)
                .await?;
            return Ok(moved.into_tombstone(EndReason::Revoked, now));
        }
        Ok(moved)
    } else {
        // Another request moved it first.
        Ok(engine.store.load(&new_key).await?.unwrap_or(old))
    }
}
