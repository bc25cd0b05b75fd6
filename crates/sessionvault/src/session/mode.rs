//! The one place that tells the modes apart: every step whose work depends on where sessions
//! live is sent from here to server mode (`server_*`) or to the cookie modes
//! ([`super::cookie_held`]).

use std::sync::Arc;

use super::config::SessionConfig;
use super::cookie::IncomingCookie;
use super::cookie_held;
use super::denylist;
use super::devices;
use super::engine::{CookieCodec, CookieMode, Engine, Mode};
use super::server_commit;
use super::server_load::{self, TurnTaken};
use super::server_save;
use super::state::{CookieAction, Loaded, State, Update};
use super::turns::Turn;
use crate::events::SecurityEvent;
use crate::flask::FlaskCodec;
use crate::id::{SessionId, StoreKey};
use crate::sealed::SealedCodec;
use crate::store::{MemoryStore, SessionStore};
use crate::{Error, Keyring};

impl Mode {
    /// `mode` with the codec it needs, keyed from `keyring`.
    pub(crate) fn new(mode: CookieMode, keyring: &Keyring, config: &SessionConfig) -> Self {
        match mode {
            CookieMode::Server => Self::Server,
            CookieMode::Sealed => Self::Cookie(CookieCodec::Sealed(SealedCodec::new(keyring))),
            CookieMode::Flask => Self::Cookie(CookieCodec::Flask(
                FlaskCodec::new(keyring.clone())
                    .with_max_age(Some(config.absolute_timeout.as_secs().max(0) as u64)),
            )),
        }
    }

    /// True when sessions live in the cookie and `has_store`: the store then keeps the denylist.
    pub(crate) fn keeps_denylist(&self, has_store: bool) -> bool {
        matches!(self, Self::Cookie(_)) && has_store
    }

    /// The store the engine works with: the one given, which server mode cannot do without.
    pub(crate) fn store(
        &self,
        given: Option<Arc<dyn SessionStore>>,
    ) -> Result<Arc<dyn SessionStore>, Error> {
        match (self, given) {
            (_, Some(store)) => Ok(store),
            (Self::Server, None) => Err(Error::Config("server mode needs a session store".into())),
            // The cookie modes never touch the store; an empty one keeps the engine uniform.
            (Self::Cookie(_), None) => Ok(Arc::new(MemoryStore::new())),
        }
    }

    /// The mode as the application chose it.
    pub(crate) fn cookie_mode(&self) -> CookieMode {
        match self {
            Self::Server => CookieMode::Server,
            Self::Cookie(CookieCodec::Sealed(_)) => CookieMode::Sealed,
            Self::Cookie(CookieCodec::Flask(_)) => CookieMode::Flask,
        }
    }
}

/// Loads the session the cookie names, the first time anything asks. After an error the cookie
/// is kept, so that a retry loads it rather than starting afresh.
pub(crate) async fn load(engine: &Engine, state: &mut State) -> Result<(), Error> {
    load_or_take(engine, state, None).await
}

/// Loads the session for a read-modify-write that saves at once, after taking this process's
/// turn on the session the cookie names (in server mode; the cookie modes refuse). A writer
/// that waited for its turn takes the record the writer before it saved as loaded, instead of
/// a load of its own that the wait would have made stale: compare-and-set still decides, so a
/// save by another process since then makes it reload and replay. Returns the turn, for the
/// write to keep.
pub(crate) async fn load_for_update<'e>(
    engine: &'e Engine,
    state: &mut State,
) -> Result<Option<Turn<'e>>, Error> {
    check_update(engine)?;
    let key = match (&state.loaded, &state.incoming) {
        (Loaded::NotYet, IncomingCookie::One(value)) => {
            SessionId::parse(value.as_bytes()).map(|id| engine.hasher.key(&id))
        }
        _ => None,
    };
    let Some(key) = key else {
        load(engine, state).await?;
        return Ok(None);
    };
    let turn = engine.turns.take(key).await;
    let saved = turn.last_saved();
    load_or_take(engine, state, Some(TurnTaken { key, saved })).await?;
    Ok(Some(turn))
}

/// [`load`], after an update took its turn: starting from the record this process saved
/// under the cookie's key, when there is one, rather than from the store.
async fn load_or_take(
    engine: &Engine,
    state: &mut State,
    taken: Option<TurnTaken>,
) -> Result<(), Error> {
    if !matches!(state.loaded, Loaded::NotYet) {
        return Ok(());
    }
    let loaded = match std::mem::replace(&mut state.incoming, IncomingCookie::Absent) {
        IncomingCookie::Absent => Loaded::New,
        IncomingCookie::Duplicate => {
            engine.emit(SecurityEvent::DuplicateCookie);
            state.clear_stale = true;
            Loaded::New
        }
        IncomingCookie::One(value) => {
            let opened = match &engine.mode {
                Mode::Server => server_load::open(engine, state, value.as_bytes(), taken).await,
                // A value that is not text is no cookie of ours: it fails to open, as forgeries
                // do. Boxed: the cookie modes' state would bloat the server mode's future.
                Mode::Cookie(codec) => {
                    let text = value.to_str().unwrap_or_default();
                    Box::pin(cookie_held::open(engine, codec, state, text)).await
                }
            };
            let loaded = match opened {
                Ok(loaded) => loaded,
                Err(error) => {
                    state.incoming = IncomingCookie::One(value);
                    return Err(engine.report(error));
                }
            };
            if matches!(loaded, Loaded::New) && !state.server.after_id_change {
                state.clear_stale = true;
            }
            loaded
        }
    };
    state.loaded = loaded;
    Ok(())
}

/// [`Error::UpdateNeedsServerMode`] where sessions live in the cookie, which cannot merge
/// concurrent updates.
pub(crate) fn check_update(engine: &Engine) -> Result<(), Error> {
    match engine.mode {
        Mode::Server => Ok(()),
        Mode::Cookie(_) => Err(Error::UpdateNeedsServerMode),
    }
}

/// A read-modify-write of one key, saved at once, within `turn` when the load took one;
/// returns the value saved.
pub(crate) async fn update(
    engine: &Engine,
    state: &mut State,
    update: Update<'_>,
    turn: Option<Turn<'_>>,
) -> Result<Option<serde_json::Value>, Error> {
    check_update(engine)?;
    Box::pin(server_save::write(engine, state, Some(update), turn)).await
}

/// True when the commit has nothing to do that needs the store: never in the cookie modes,
/// whose commit costs no I/O and decides for itself.
pub(crate) fn nothing_to_save(engine: &Engine, state: &State) -> bool {
    match engine.mode {
        Mode::Server => server_commit::nothing_to_save(engine, state),
        Mode::Cookie(_) => false,
    }
}

/// Saves what the request did and says what the response does with the cookie.
pub(crate) async fn commit(engine: &Engine, state: &mut State) -> Result<CookieAction, Error> {
    match &engine.mode {
        Mode::Server if server_commit::nothing_to_save(engine, state) => Ok(CookieAction::Keep),
        // Boxed, as the cookie modes' commit: the write paths hold whole records across
        // awaits, and an inline future that size would be copied on every request.
        Mode::Server => Box::pin(server_commit::commit(engine, state)).await,
        Mode::Cookie(codec) => Box::pin(cookie_held::commit(engine, codec, state)).await,
    }
}

/// [`Error::Config`] where sessions live in the cookie and no store keeps a denylist: a signed
/// cookie cannot be taken back.
pub(crate) fn check_revocable(engine: &Engine) -> Result<(), Error> {
    match engine.mode {
        Mode::Cookie(_) if !engine.denylist => Err(Error::Config(
            "cookie sessions can only be revoked when the manager has a store".into(),
        )),
        _ => Ok(()),
    }
}

/// Ends every other session of the request's signed-in user; returns how many. In the cookie
/// modes, files a not-before time for the user and re-issues this session's cookie past it:
/// cookie sessions cannot be counted, so the answer is 0.
pub(crate) async fn revoke_others(engine: &Engine, state: &mut State) -> Result<u64, Error> {
    check_revocable(engine)?;
    let Some(record) = state.live_record() else {
        return Ok(0);
    };
    let (Some(user), key) = (record.user.clone(), record.key) else {
        return Ok(0);
    };
    match engine.mode {
        Mode::Server => devices::revoke_user(engine, &user, Some(&key)).await,
        Mode::Cookie(_) => {
            denylist::end_user(engine, &user, None).await?;
            state.cookie.bump_issued = true;
            Ok(0)
        }
    }
}

/// Ends every session of `user` but `except`; see `SessionManager::revoke_all_for_user`.
pub(crate) async fn revoke_all_for_user(
    engine: &Engine,
    user: &str,
    except: Option<&str>,
) -> Result<u64, Error> {
    check_revocable(engine)?;
    match engine.mode {
        Mode::Server => {
            let except = except.and_then(StoreKey::from_hex);
            devices::revoke_user(engine, user, except.as_ref()).await
        }
        Mode::Cookie(_) => denylist::end_user(engine, user, None).await.map(|()| 0),
    }
}
