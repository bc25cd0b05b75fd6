//! Revocation for cookie-held sessions (sealed and Flask modes), when the application gives
//! them a store: a signed cookie cannot be taken back, so the store remembers what must be
//! refused.
//!
//! - Every cookie session carries a random session ID (`sid`). Logout, and the sign-in that
//!   replaces an anonymous session, file a tombstone under the keyed hash of that ID: the
//!   cookie is refused from then on, like a server-mode ID after logout.
//! - "Sign out everywhere" (`revoke_all_for_user`, `revoke_others`) files a not-before time
//!   for the user: any of their cookies issued earlier is refused. Cookie sessions cannot be
//!   listed, so this is how all of them end at once.
//!
//! The price is one or two store reads per request that loads a session, which is what a
//! denylist costs (ASVS 5.0 V7.4.1). Without a store, cookie sessions stay valid until they
//! expire, and the library says so.

use std::collections::BTreeMap;

use jiff::Timestamp;

use super::manager::Engine;
use crate::Error;
use crate::clock::later;
use crate::events::EndReason;
use crate::id::{IdHasher, StoreKey};
use crate::store::{Record, RecordState};

/// The purpose label of the key that hashes cookie-session IDs and user names for the list.
pub(crate) const PURPOSE: &str = "sessionvault/v1/cookie-revocation";

/// The data field of a user's marker record.
const NOT_BEFORE: &str = "not_before";

/// The store key of a cookie session's tombstone.
pub(crate) fn session_key(marks: &IdHasher, sid: &str) -> StoreKey {
    marks.key_of_bytes(&[b"sid\0", sid.as_bytes()])
}

/// The store key of a user's not-before marker.
fn user_key(marks: &IdHasher, user: &str) -> StoreKey {
    marks.key_of_bytes(&[b"user\0", user.as_bytes()])
}

fn record(key: StoreKey, state: RecordState, now: Timestamp, until: Timestamp) -> Record {
    Record {
        key,
        version: 0,
        state,
        data: BTreeMap::new(),
        user: None,
        auth_time: None,
        created: now,
        id_issued: now,
        last_seen: now,
        idle_deadline: until,
        absolute_deadline: until,
        user_agent: None,
        ip: None,
        expires_at: until,
    }
}

/// Why a cookie session must be refused, if it must.
pub(crate) async fn refused(
    engine: &Engine,
    marks: &IdHasher,
    sid: Option<&str>,
    user: Option<&str>,
    issued: Timestamp,
) -> Result<Option<(StoreKey, EndReason)>, Error> {
    if let Some(sid) = sid {
        let key = session_key(marks, sid);
        if let Some(tombstone) = engine.store.load(&key).await?
            && let RecordState::Ended { reason, .. } = tombstone.state
        {
            return Ok(Some((key, reason)));
        }
    }
    if let Some(user) = user {
        let key = user_key(marks, user);
        let not_before = engine
            .store
            .load(&key)
            .await?
            .and_then(|marker| not_before(&marker));
        if not_before.is_some_and(|t| issued < t) {
            return Ok(Some((key, EndReason::Revoked)));
        }
    }
    Ok(None)
}

fn not_before(marker: &Record) -> Option<Timestamp> {
    marker.data.get(NOT_BEFORE)?.as_str()?.parse().ok()
}

/// Files the tombstone that refuses the cookie session `sid` until `until` (its absolute
/// deadline, past which it would be refused anyway).
pub(crate) async fn end_session(
    engine: &Engine,
    marks: &IdHasher,
    sid: &str,
    reason: EndReason,
    until: Timestamp,
) -> Result<(), Error> {
    let now = engine.now();
    let state = RecordState::Ended {
        reason,
        at: now,
        successor: None,
        grace_until: None,
    };
    // `false` means a tombstone is there already, which is just as good.
    engine
        .store
        .create(&record(session_key(marks, sid), state, now, until))
        .await?;
    Ok(())
}

/// Refuses every cookie session of `user` issued before now. The marker lives as long as the
/// longest a cookie session can.
pub(crate) async fn end_user(engine: &Engine, marks: &IdHasher, user: &str) -> Result<(), Error> {
    let key = user_key(marks, user);
    for _ in 0..=engine.config.max_retries {
        let now = engine.now();
        let until = later(now, engine.config.absolute_timeout);
        match engine.store.load(&key).await? {
            None => {
                let mut marker = record(key, RecordState::Live, now, until);
                marker.data.insert(
                    NOT_BEFORE.into(),
                    serde_json::Value::String(now.to_string()),
                );
                if engine.store.create(&marker).await? {
                    return Ok(());
                }
            }
            Some(mut marker) => {
                let expected = marker.version;
                let since = not_before(&marker).map_or(now, |t| t.max(now));
                marker.data.insert(
                    NOT_BEFORE.into(),
                    serde_json::Value::String(since.to_string()),
                );
                marker.version += 1;
                marker.idle_deadline = until;
                marker.absolute_deadline = until;
                marker.expires_at = until;
                if engine.store.save_if(&marker, expected).await? {
                    return Ok(());
                }
            }
        }
    }
    Err(Error::Conflict)
}
