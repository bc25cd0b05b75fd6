//! Revocation that outlives what a store can list: the denylist of cookie-held sessions, and
//! the per-user not-before time that makes "sign out everywhere" final in every mode.
//!
//! - Every cookie session (sealed and Flask modes, with a store) carries a random session ID
//!   (`sid`). Logout, and the sign-in that replaces a session, file a tombstone under the hash
//!   of that ID: the cookie is refused from then on, like a server-mode ID after logout.
//! - "Sign out everywhere" (`revoke_all_for_user`, `revoke_others`) files a not-before time
//!   for the user. In the cookie modes, any of their cookies issued earlier is refused: cookie
//!   sessions cannot be listed, so this is how all of them end at once. In server mode the
//!   listed sessions are ended one by one, and an ID change checks the time before it carries
//!   a session forward, so that a session renewed between the listing and its ending cannot
//!   escape (see [`carried_past_revocation`]).
//!
//! The entries are keyed by a plain SHA-256 of the session ID or user name, under a label of
//! their own, not by a keyed hash: a key rotation must not move them. A cookie that verifies
//! under any accepted key finds its entries under the one name they have, however many
//! rotations ago it was sealed and whichever key filed them, for one read each. The session
//! ID is 256 random bits, so its hash reveals nothing usable; a user name's hash can be matched
//! against guessed names, which tells a reader of the store no more than server mode's records,
//! which hold names in the clear.
//!
//! The price is one or two store reads per request that loads a cookie session, which is what
//! a denylist costs (ASVS 5.0 V7.4.1). Without a store, cookie sessions stay valid until they
//! expire, and the library says so.

use jiff::Timestamp;
use sha2::{Digest, Sha256};

use super::engine::Engine;
use super::state::blank_record;
use crate::Error;
use crate::clock::later;
use crate::events::EndReason;
use crate::id::StoreKey;
use crate::store::{Record, RecordState};

/// The label that keeps revocation entries apart from every other hash in the store.
const LABEL: &[u8] = b"sessionvault/v1/revocation\0";

/// The data field of a user's marker record: the not-before time.
const NOT_BEFORE: &str = "not_before";

/// The data field of a user's marker record: the server-mode session the latest revocation
/// spared (`revoke_others`), as a store key in hex.
const EXCEPT: &str = "except";

/// The store key of a cookie session's tombstone.
pub(crate) fn session_key(sid: &str) -> StoreKey {
    entry_key(b"sid\0", sid)
}

/// The store key of a user's not-before marker.
fn user_key(user: &str) -> StoreKey {
    entry_key(b"user\0", user)
}

fn entry_key(kind: &[u8], name: &str) -> StoreKey {
    let digest = Sha256::new()
        .chain_update(LABEL)
        .chain_update(kind)
        .chain_update(name.as_bytes())
        .finalize();
    StoreKey::from_bytes(digest.into())
}

fn record(key: StoreKey, state: RecordState, now: Timestamp, until: Timestamp) -> Record {
    Record {
        state,
        ..blank_record(key, now, until, until)
    }
}

/// Why a cookie session must be refused, if it must.
pub(crate) async fn refused(
    engine: &Engine,
    sid: Option<&str>,
    user: Option<&str>,
    issued: Timestamp,
) -> Result<Option<(StoreKey, EndReason)>, Error> {
    if let Some(sid) = sid {
        let key = session_key(sid);
        if let Some(tombstone) = engine.store.load(&key).await?
            && let RecordState::Ended { reason, .. } = tombstone.state
        {
            return Ok(Some((key, reason)));
        }
    }
    if let Some(user) = user {
        let key = user_key(user);
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

/// Server mode: true when a revocation of `user` covers the session `key`, issued at `issued`,
/// which an ID change has just replaced. The change must then end the successor too: the
/// revocation may have listed the user's sessions before the successor existed, and ended the
/// old one only after the change had, which would leave the successor live. One read, on ID
/// changes of signed-in sessions only.
pub(crate) async fn carried_past_revocation(
    engine: &Engine,
    user: &str,
    key: &StoreKey,
    issued: Timestamp,
) -> Result<bool, Error> {
    let Some(marker) = engine.store.load(&user_key(user)).await? else {
        return Ok(false);
    };
    let spared = marker
        .data
        .get(EXCEPT)
        .and_then(|v| v.as_str())
        .and_then(StoreKey::from_hex)
        .is_some_and(|except| except.ct_eq(key));
    Ok(!spared && not_before(&marker).is_some_and(|t| issued < t))
}

fn not_before(marker: &Record) -> Option<Timestamp> {
    marker.data.get(NOT_BEFORE)?.as_str()?.parse().ok()
}

/// Files the tombstone that refuses the cookie session `sid` until `until` (its absolute
/// deadline, past which it would be refused anyway).
pub(crate) async fn end_session(
    engine: &Engine,
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
        .create(&record(session_key(sid), state, now, until))
        .await?;
    Ok(())
}

/// Files the time before which every session of `user` is revoked: now, sparing the server-mode
/// session `except`. The marker lives as long as the longest a session can.
pub(crate) async fn end_user(
    engine: &Engine,
    user: &str,
    except: Option<&StoreKey>,
) -> Result<(), Error> {
    let key = user_key(user);
    let except = except.map_or(serde_json::Value::Null, |k| k.to_hex().into());
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
                marker.data.insert(EXCEPT.into(), except.clone());
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
                marker.data.insert(EXCEPT.into(), except.clone());
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
