//! Sessions held in the cookie itself (sealed or Flask format): the same API and the same
//! expiry rules, enforced from deadlines carried inside the authenticated cookie. Revocation
//! before expiry needs a store, which then keeps a denylist (see [`super::denylist`]).

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

use super::cookie_meta::{Meta, open_plaintext, seal_plaintext};
use super::denylist;
use super::engine::{CookieCodec, Engine};
use super::state::{CookieAction, Loaded, State, apply, blank_record, idle_deadline, touch_due};
use crate::Error;
use crate::clock::later;
use crate::events::{EndReason, SecurityEvent};
use crate::flask::Value;
use crate::id::{SessionId, StoreKey};
use crate::store::Record;

/// The key Flask-mode cookies keep sessionvault's own fields under; a Flask app sharing the
/// session sees it as one more key and can ignore it.
pub(crate) const FLASK_META_KEY: &str = "_sessionvault";

/// Client modes have no store key; records use this placeholder.
const NO_KEY: StoreKey = StoreKey::ZERO;

fn record_from(meta: Meta, data: BTreeMap<String, serde_json::Value>) -> Record {
    Record {
        data,
        user: meta.user,
        auth_time: meta.auth_time,
        id_issued: meta.issued.unwrap_or(meta.created),
        last_seen: meta.last_seen,
        ..blank_record(NO_KEY, meta.created, meta.idle, meta.absolute)
    }
}

/// The session the cookie holds, or a fresh one. On an error, `state` is as it was.
pub(crate) async fn open(
    engine: &Engine,
    codec: &CookieCodec,
    state: &mut State,
    value: &str,
) -> Result<Loaded, Error> {
    let Some(opened) = load(engine, codec, value, state.meta.ip).await? else {
        return Ok(Loaded::New);
    };
    state.cookie.reissue = opened.reissue;
    state.cookie.sid = opened.sid;
    Ok(Loaded::Existing(Arc::new(opened.record)))
}

/// A cookie that opened as a live session.
struct Opened {
    record: Record,
    /// Opened with a fallback key: the response re-issues it under the current one.
    reissue: bool,
    /// The session's denylist ID, when it has one.
    sid: Option<String>,
}

/// Opens the cookie: a session when it verifies, has not expired and is not on the denylist;
/// otherwise a fresh one (and an event).
///
/// # Errors
///
/// [`Error::Store`] when the denylist cannot be read: failing closed, as server mode does.
/// [`Error::Throttled`] when the cookie fails its check and the client is over a refusing
/// guessing limit.
async fn load(
    engine: &Engine,
    codec: &CookieCodec,
    value: &str,
    ip: Option<IpAddr>,
) -> Result<Option<Opened>, Error> {
    let fresh = None;
    let name = &engine.config.cookie.name;
    let decoded = match codec {
        CookieCodec::Sealed(codec) => codec
            .open(name, value)
            .ok()
            .and_then(|(plain, key)| open_plaintext(&plain).map(|(meta, data)| (meta, data, key))),
        CookieCodec::Flask(codec) => codec
            .verify_at(value, engine.now().as_second().max(0) as u64)
            .ok()
            .and_then(|verified| {
                let key = verified.key_index();
                from_flask(verified.into_value(), engine).map(|(meta, data)| (meta, data, key))
            }),
    };
    let Some((mut meta, data, key_index)) = decoded else {
        engine.emit(SecurityEvent::TamperedCookie);
        engine.failed_cookie(ip)?;
        return Ok(fresh);
    };
    let sid = meta.sid.take();
    let record = record_from(meta, data);
    if let Some(reason) = record.end_reason_at(engine.now()) {
        engine.emit(SecurityEvent::Expired { key: None, reason });
        return Ok(fresh);
    }
    if engine.denylist
        && let Some((key, reason)) = denylist::refused(
            engine,
            sid.as_deref(),
            record.user.as_deref(),
            record.id_issued,
        )
        .await?
    {
        engine.emit(SecurityEvent::RevokedReuse {
            key,
            reason,
            user: record.user,
        });
        return Ok(fresh);
    }
    Ok(Some(Opened {
        record,
        reissue: key_index > 0,
        sid,
    }))
}

fn from_flask(
    value: Value,
    engine: &Engine,
) -> Option<(Meta, BTreeMap<String, serde_json::Value>)> {
    let serde_json::Value::Object(map) = value.to_plain_json() else {
        return None;
    };
    let mut data: BTreeMap<String, serde_json::Value> = map.into_iter().collect();
    let meta = match data.remove(FLASK_META_KEY) {
        Some(meta) => serde_json::from_value(meta).ok()?,
        // A session the Flask app started: it counts from now, with no sign-in of ours.
        None => {
            let now = engine.now();
            let absolute = later(now, engine.config.absolute_timeout);
            Meta {
                user: None,
                auth_time: None,
                created: now,
                last_seen: now,
                idle: idle_deadline(now, engine.config.idle_timeout, absolute),
                absolute,
                sid: None,
                issued: None,
            }
        }
    };
    Some((meta, data))
}

/// A fresh denylist ID, when revocation is on.
fn new_sid(engine: &Engine) -> Result<Option<String>, Error> {
    if !engine.denylist {
        return Ok(None);
    }
    Ok(Some(
        SessionId::generate()
            .map_err(|_| Error::Random)?
            .to_cookie_value(),
    ))
}

/// Writes the cookie when something changed or the idle deadline needs moving.
pub(crate) async fn commit(
    engine: &Engine,
    codec: &CookieCodec,
    state: &mut State,
) -> Result<CookieAction, Error> {
    let now = engine.now();
    if state.destroy {
        if let Loaded::Existing(record) = &state.loaded {
            if let (true, Some(sid)) = (engine.denylist, &state.cookie.sid) {
                let until = record.absolute_deadline;
                denylist::end_session(engine, sid, EndReason::Logout, until).await?;
            }
            engine.emit(SecurityEvent::Ended {
                key: None,
                reason: EndReason::Logout,
            });
        }
        return Ok(CookieAction::Clear);
    }
    let idle = engine.config.idle_timeout;
    let existed = matches!(state.loaded, Loaded::Existing(_));
    // Put back below, or left unloaded by an error.
    let mut record = match std::mem::replace(&mut state.loaded, Loaded::NotYet) {
        Loaded::Existing(record) => {
            let dirty = !state.changes.is_empty()
                || state.login.is_some()
                || state.cycle
                || state.cookie.reissue
                || state.cookie.bump_issued;
            if !dirty && !touch_due(&record, now, idle) {
                state.loaded = Loaded::Existing(record);
                return Ok(CookieAction::Keep);
            }
            Arc::unwrap_or_clone(record)
        }
        _ => {
            if state.changes.is_empty() && state.login.is_none() {
                state.loaded = Loaded::New;
                return Ok(CookieAction::Keep);
            }
            engine.emit(SecurityEvent::Created { key: None });
            state.cookie.sid = new_sid(engine)?;
            let absolute = later(now, engine.config.absolute_timeout);
            record_from(
                Meta {
                    user: None,
                    auth_time: None,
                    created: now,
                    last_seen: now,
                    idle: idle_deadline(now, idle, absolute),
                    absolute,
                    sid: None,
                    issued: Some(now),
                },
                BTreeMap::new(),
            )
        }
    };
    apply(&state.changes, &mut record.data);
    state.changes.clear();
    let login = state.login.take();
    // Sign-in and `cycle_id` give the session a new identity; the one it had is refused from
    // now on (given a store to keep the denylist), once the new cookie is known to fit (a
    // session too large keeps the cookie it had).
    let mut retired = None;
    if std::mem::take(&mut state.cycle) || login.is_some() {
        if existed {
            retired = state.cookie.sid.take();
        }
        state.cookie.sid = new_sid(engine)?;
    }
    if let Some(user) = login {
        engine.emit(SecurityEvent::Login {
            key: None,
            user: user.clone(),
        });
        record.user = Some(user);
        record.auth_time = Some(now);
        record.created = now;
        record.id_issued = now;
        record.absolute_deadline = later(now, engine.config.absolute_timeout);
    }
    if std::mem::take(&mut state.cookie.bump_issued) {
        record.id_issued = now;
    }
    record.last_seen = now;
    record.idle_deadline = idle_deadline(now, idle, record.absolute_deadline);
    let meta = Meta {
        user: record.user.clone(),
        auth_time: record.auth_time,
        created: record.created,
        last_seen: record.last_seen,
        idle: record.idle_deadline,
        absolute: record.absolute_deadline,
        sid: state.cookie.sid.clone(),
        issued: Some(record.id_issued),
    };
    let value = match codec {
        CookieCodec::Sealed(codec) => {
            let plain = seal_plaintext(&meta, &record.data)?;
            codec.seal(&engine.config.cookie.name, &plain)?
        }
        CookieCodec::Flask(codec) => {
            let mut map: BTreeMap<String, Value> = record
                .data
                .iter()
                .map(|(k, v)| (k.clone(), Value::from_plain_json(v)))
                .collect();
            let meta = serde_json::to_value(&meta)
                .map_err(|_| Error::Unrepresentable("session metadata is not serializable"))?;
            map.insert(FLASK_META_KEY.into(), Value::from_plain_json(&meta));
            codec.sign_at(&Value::Dict(map), now.as_second().max(0) as u64)?
        }
    };
    if let (true, Some(old)) = (engine.denylist, &retired) {
        let max_age = record.absolute_deadline.duration_since(now).as_secs();
        engine.set_cookie_header(&value, Some(max_age))?;
        let until = record.absolute_deadline;
        denylist::end_session(engine, old, EndReason::Cycled, until).await?;
    }
    state.loaded = Loaded::Existing(Arc::new(record));
    Ok(CookieAction::Set(value))
}
