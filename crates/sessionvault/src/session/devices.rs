//! The devices list: a user's live sessions as they are shown, and ending them.

use jiff::Timestamp;

use super::denylist;
use super::engine::Engine;
use crate::Error;
use crate::events::{EndReason, SecurityEvent};
use crate::id::StoreKey;
use crate::store::Record;

/// One of a user's sessions, as the devices list shows it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct SessionInfo {
    /// An opaque handle for revoking it: the store key, which is not usable as a cookie.
    pub handle: String,
    /// When it began.
    pub created: Timestamp,
    /// Its last request.
    pub last_seen: Timestamp,
    /// The browser that created it.
    pub user_agent: Option<String>,
    /// The network it came from.
    pub ip: Option<String>,
    /// True for the session asking.
    pub current: bool,
}

impl SessionInfo {
    pub(crate) fn from_record(record: &Record, current: Option<&StoreKey>) -> Self {
        Self {
            handle: record.key.to_hex(),
            created: record.created,
            last_seen: record.last_seen,
            user_agent: record.user_agent.clone(),
            ip: record.ip.clone(),
            current: current.is_some_and(|c| c.ct_eq(&record.key)),
        }
    }
}

pub(crate) async fn list_user_sessions(
    engine: &Engine,
    user: &str,
    current: Option<&StoreKey>,
) -> Result<Vec<SessionInfo>, Error> {
    let now = engine.now();
    let mut sessions: Vec<SessionInfo> = engine
        .store
        .sessions_for_user(user)
        .await?
        .iter()
        .filter(|r| r.end_reason_at(now).is_none() && r.user.as_deref() == Some(user))
        .map(|r| SessionInfo::from_record(r, current))
        .collect();
    sessions.sort_by_key(|s| std::cmp::Reverse(s.last_seen));
    Ok(sessions)
}

pub(crate) async fn revoke_key(engine: &Engine, key: &StoreKey) -> Result<bool, Error> {
    let ended = engine
        .store
        .end(key, EndReason::Revoked, engine.now(), None)
        .await?;
    if ended {
        engine.emit(SecurityEvent::Ended {
            key: Some(*key),
            reason: EndReason::Revoked,
        });
    }
    Ok(ended)
}

/// Ends every session of `user` but `except`. The not-before time is filed first: an ID change
/// racing the listing below then finds it and ends its successor (see
/// [`denylist::carried_past_revocation`]), so no session escapes, on any store.
pub(crate) async fn revoke_user(
    engine: &Engine,
    user: &str,
    except: Option<&StoreKey>,
) -> Result<u64, Error> {
    denylist::end_user(engine, user, except).await?;
    let mut count = 0;
    for record in engine.store.sessions_for_user(user).await? {
        if except.is_some_and(|e| e.ct_eq(&record.key)) {
            continue;
        }
        if revoke_key(engine, &record.key).await? {
            count += 1;
        }
    }
    Ok(count)
}
