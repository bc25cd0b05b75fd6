//! The session of one request: what handlers read and write.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use futures_util::lock::Mutex;
use jiff::{SignedDuration, Timestamp};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::anomaly::{FingerprintChange, FingerprintPolicy};
use super::client;
use super::cookie::{IncomingCookie, MAX_SET_COOKIE_LEN};
use super::manager::{
    Codec, Engine, RequestMeta, SessionInfo, list_user_sessions, revoke_key, revoke_user,
};
use super::size;
use crate::Error;
use crate::clock::later;
use crate::events::{EndReason, SecurityEvent};
use crate::id::SessionId;
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

/// One recorded write: replayed on a fresh record when a save loses a race. No `Debug`: it
/// holds the session's values.
#[derive(Clone)]
pub(crate) enum Change {
    Set(String, serde_json::Value),
    Remove(String),
    Clear,
}

pub(crate) fn apply(changes: &[Change], data: &mut BTreeMap<String, serde_json::Value>) {
    for change in changes {
        match change {
            Change::Set(k, v) => {
                data.insert(k.clone(), v.clone());
            }
            Change::Remove(k) => {
                data.remove(k);
            }
            Change::Clear => data.clear(),
        }
    }
}

/// The session key under which CSRF protection keeps its secret (`sessionvault-axum`'s
/// `CsrfLayer`, and any other layer that shares the session). It is bound to the privilege the
/// session carries: [`Session::login`], [`Session::cycle_id`] and a re-authentication demanded
/// by the fingerprint policy drop it, so a token learnt before the change is refused after it
/// and the next page gets a fresh one. Periodic ID renewal keeps it: no privilege changes, and
/// forms already open in the browser must still post.
pub const CSRF_SECRET_KEY: &str = "_csrf";

/// A read-modify-write in progress: the key and the function that computes its new value.
pub(crate) type Update<'a> = (
    &'a str,
    &'a (dyn Fn(Option<serde_json::Value>) -> Result<serde_json::Value, Error> + Send + Sync),
);

/// What the request started with, once loaded.
#[derive(Debug)]
pub(crate) enum Current {
    /// No session yet: the cookie was absent, unknown, ended or invalid.
    New,
    /// A live session: shared with the store that lent it (a read copies nothing), copied on
    /// the first change.
    Existing { record: Arc<Record> },
}

/// What the response must do with the cookie.
#[derive(Default, PartialEq, Eq)]
pub(crate) enum CookieAction {
    #[default]
    Keep,
    Set(String),
    Clear,
}

impl std::fmt::Debug for CookieAction {
    /// Without the cookie's value, which is a session ID or a whole sealed session.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Keep => "Keep",
            Self::Set(_) => "Set([REDACTED])",
            Self::Clear => "Clear",
        })
    }
}

pub(crate) struct State {
    incoming: IncomingCookie,
    pub(crate) meta: RequestMeta,
    pub(crate) current: Option<Current>,
    pub(crate) changes: Vec<Change>,
    /// A new ID was asked for (`cycle_id`, `login`, a re-authentication).
    pub(crate) cycle: bool,
    pub(crate) login: Option<String>,
    pub(crate) destroy: bool,
    /// The fingerprint policy asked for re-authentication: the sign-in time is dropped from
    /// the stored session at commit.
    stale_auth: bool,
    /// When the session was loaded from the store.
    loaded_at: Option<Timestamp>,
    /// Client modes: the session's denylist ID.
    pub(crate) client_sid: Option<String>,
    /// Client modes: re-issue the cookie as of now, so that a sign-out-everywhere just filed
    /// spares it.
    pub(crate) bump_issued: bool,
    /// Client modes: the cookie was sealed or signed with a fallback key; the response
    /// re-issues it under the current key, so that retiring the old key logs nobody out.
    pub(crate) reissue: bool,
    /// The cookie presented was stale, forged or ended: clear it unless a new one replaces it.
    pub(crate) clear_stale: bool,
    /// A session created during this request (new, cycled, or by `update`): the response sets
    /// its ID.
    issued: Option<SessionId>,
    /// The cookie named a session renewed moments ago: this request works on the successor
    /// within the grace period and must not renew again.
    via_grace: bool,
    /// The cookie named a session a sign-in or `cycle_id` replaced moments ago (see
    /// [`ID_CHANGE_WINDOW`]): the cookie is left alone and writes are refused.
    after_id_change: bool,
    committed: bool,
}

/// The session of one request. Cheap to clone; clones share the same state.
///
/// Reads see the stored session with this request's own writes applied. Writes are recorded
/// and saved after the handler, by compare-and-set: when another request saved in between, the
/// writes are replayed on its version, so writes to different keys are never lost. Within one
/// process, writers of one session take turns: only another process's save makes one retry.
/// Use [`Session::update`] for read-modify-write.
#[derive(Clone)]
pub struct Session {
    shared: Arc<Shared>,
}

/// Everything a request's session needs, in one allocation.
struct Shared {
    engine: Arc<Engine>,
    /// Set once the session is loaded: lets an untouched session be committed without a lock.
    loaded: AtomicBool,
    state: Mutex<State>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Session { .. }")
    }
}

/// When a session ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Deadlines {
    /// When it began.
    pub created: Timestamp,
    /// It ends if no request comes before this.
    pub idle: Timestamp,
    /// It ends at this time whatever happens.
    pub absolute: Timestamp,
}

impl Session {
    pub(crate) fn new(engine: Arc<Engine>, incoming: IncomingCookie, meta: RequestMeta) -> Self {
        Self {
            shared: Arc::new(Shared {
                engine,
                loaded: AtomicBool::new(false),
                state: Mutex::new(State {
                    incoming,
                    meta,
                    current: None,
                    changes: Vec::new(),
                    cycle: false,
                    login: None,
                    destroy: false,
                    stale_auth: false,
                    reissue: false,
                    loaded_at: None,
                    client_sid: None,
                    bump_issued: false,
                    clear_stale: false,
                    issued: None,
                    via_grace: false,
                    after_id_change: false,
                    committed: false,
                }),
            }),
        }
    }

    fn engine(&self) -> &Engine {
        &self.shared.engine
    }

    /// The value under `key`, if any.
    ///
    /// # Errors
    ///
    /// [`Error::Store`] when loading fails; [`Error::ValueType`] when the value is not a `T`.
    pub async fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, Error> {
        let mut state = self.shared.state.lock().await;
        self.ensure_loaded(&mut state).await?;
        // Read in place, without a copy of the stored value.
        lookup(&state, key)
            .map(|v| T::deserialize(v).map_err(|_| Error::ValueType { key: key.into() }))
            .transpose()
    }

    /// The JSON value under `key`, if any.
    ///
    /// # Errors
    ///
    /// [`Error::Store`] when loading fails.
    pub async fn get_value(&self, key: &str) -> Result<Option<serde_json::Value>, Error> {
        let mut state = self.shared.state.lock().await;
        self.ensure_loaded(&mut state).await?;
        Ok(lookup(&state, key).cloned())
    }

    /// Every key and value, as this request sees them (the stored session with this request's
    /// writes applied): for bindings that hand the whole session to another language.
    ///
    /// # Errors
    ///
    /// [`Error::Store`] when loading fails.
    pub async fn entries(&self) -> Result<BTreeMap<String, serde_json::Value>, Error> {
        let mut state = self.shared.state.lock().await;
        self.ensure_loaded(&mut state).await?;
        Ok(view(&state))
    }

    /// How many keys the session holds.
    ///
    /// # Errors
    ///
    /// [`Error::Store`] when loading fails.
    pub async fn len(&self) -> Result<usize, Error> {
        let mut state = self.shared.state.lock().await;
        self.ensure_loaded(&mut state).await?;
        Ok(view(&state).len())
    }

    /// True when the session holds no keys.
    ///
    /// # Errors
    ///
    /// [`Error::Store`] when loading fails.
    pub async fn is_empty(&self) -> Result<bool, Error> {
        Ok(self.len().await? == 0)
    }

    /// Sets `key` (saved after the handler). Concurrent writes to the same key: the later
    /// save wins. The size limit is checked when the session is saved (see
    /// [`Session::commit`]).
    ///
    /// # Errors
    ///
    /// [`Error::ValueType`] when the value cannot be serialized; [`Error::Store`] when loading
    /// fails.
    pub async fn insert<T: Serialize>(&self, key: &str, value: T) -> Result<(), Error> {
        let value =
            serde_json::to_value(value).map_err(|_| Error::ValueType { key: key.into() })?;
        self.record(Change::Set(key.into(), value)).await
    }

    /// Removes `key` (saved after the handler).
    ///
    /// # Errors
    ///
    /// [`Error::Store`] when loading fails.
    pub async fn remove(&self, key: &str) -> Result<(), Error> {
        self.record(Change::Remove(key.into())).await
    }

    /// Removes every key, keeping the session and its sign-in.
    ///
    /// # Errors
    ///
    /// [`Error::Store`] when loading fails.
    pub async fn clear(&self) -> Result<(), Error> {
        self.record(Change::Clear).await
    }

    async fn record(&self, change: Change) -> Result<(), Error> {
        let mut state = self.shared.state.lock().await;
        self.ensure_loaded(&mut state).await?;
        state.changes.push(change);
        Ok(())
    }

    /// Read-modify-write of one key, saved at once: `f` gets the current value and returns the
    /// new one. When another request saved first, `f` runs again on the fresh value, so
    /// concurrent increments all count. Returns the value that was saved.
    ///
    /// Server mode only. A session held in the cookie ([`CookieMode::Sealed`],
    /// [`CookieMode::Flask`]) cannot merge: parallel requests with one cookie would each answer
    /// with a cookie of their own, the browser would keep the last, and all but one increment
    /// would vanish without a word. So there `update` changes nothing and fails; read with
    /// [`get`](Self::get) and write with [`insert`](Self::insert), whose last-write-wins rule
    /// is the one a cookie can keep.
    ///
    /// # Errors
    ///
    /// [`Error::UpdateNeedsServerMode`] in the cookie modes (before anything is loaded);
    /// [`Error::Conflict`] when the retries run out, [`Error::SessionEnded`] when the session
    /// ended meanwhile, [`Error::IdChanged`] when a sign-in replaced its ID meanwhile,
    /// [`Error::SessionTooLarge`] when the new value would take the session's data past its
    /// limit, [`Error::Store`] when the store fails. In every error case nothing was saved.
    ///
    /// [`CookieMode::Sealed`]: crate::CookieMode::Sealed
    /// [`CookieMode::Flask`]: crate::CookieMode::Flask
    pub async fn update<T, F>(&self, key: &str, f: F) -> Result<T, Error>
    where
        T: Serialize + DeserializeOwned,
        F: Fn(Option<T>) -> T + Send + Sync,
    {
        if !matches!(self.engine().codec, Codec::Server) {
            return Err(Error::UpdateNeedsServerMode);
        }
        let mut state = self.shared.state.lock().await;
        self.ensure_loaded(&mut state).await?;
        let typed = |current: Option<serde_json::Value>| -> Result<serde_json::Value, Error> {
            let current = current
                .map(serde_json::from_value::<T>)
                .transpose()
                .map_err(|_| Error::ValueType { key: key.into() })?;
            serde_json::to_value(f(current)).map_err(|_| Error::ValueType { key: key.into() })
        };
        let saved = Box::pin(self.write(&mut state, Some((key, &typed))))
            .await
            .map_err(|e| self.report(e))?;
        let value = saved.ok_or(Error::Unrepresentable("update saved no value"))?;
        serde_json::from_value(value).map_err(|_| Error::ValueType { key: key.into() })
    }

    /// [`update`](Self::update) on JSON values with a function that can fail, for bindings
    /// whose callbacks raise: the first error from `f` stops the update, nothing is saved, and
    /// it comes back as `Ok(Err(e))`. Otherwise returns `Ok(Ok(value))`, the value saved.
    ///
    /// # Errors
    ///
    /// As [`update`](Self::update), [`Error::UpdateNeedsServerMode`] in the cookie modes
    /// included.
    pub async fn try_update_value<E, F>(
        &self,
        key: &str,
        f: F,
    ) -> Result<Result<serde_json::Value, E>, Error>
    where
        E: Send,
        F: Fn(Option<serde_json::Value>) -> Result<serde_json::Value, E> + Send + Sync,
    {
        if !matches!(self.engine().codec, Codec::Server) {
            return Err(Error::UpdateNeedsServerMode);
        }
        let failed = std::sync::Mutex::new(None);
        let run = |current: Option<serde_json::Value>| -> Result<serde_json::Value, Error> {
            f(current).map_err(|e| {
                if let Ok(mut slot) = failed.lock() {
                    *slot = Some(e);
                }
                Error::Unreachable("the update function failed")
            })
        };
        let mut state = self.shared.state.lock().await;
        self.ensure_loaded(&mut state).await?;
        let saved = Box::pin(self.write(&mut state, Some((key, &run)))).await;
        if let Some(e) = failed.lock().ok().and_then(|mut slot| slot.take()) {
            return Ok(Err(e));
        }
        let saved = saved.map_err(|e| self.report(e))?;
        Ok(Ok(
            saved.ok_or(Error::Unrepresentable("update saved no value"))?
        ))
    }

    /// Gives the session a new ID, keeping its data but the CSRF secret
    /// ([`CSRF_SECRET_KEY`]); the old ID stops working. Call it whenever privileges change.
    /// [`Session::login`] does it for you.
    ///
    /// # Errors
    ///
    /// [`Error::Store`] when loading fails.
    pub async fn cycle_id(&self) -> Result<(), Error> {
        let mut state = self.shared.state.lock().await;
        self.ensure_loaded(&mut state).await?;
        state.cycle = true;
        drop_csrf_secret(&mut state);
        Ok(())
    }

    /// Signs `user` in: a new ID (the fixation defence), the user recorded, the authentication
    /// time set, the absolute lifetime restarted, the CSRF secret ([`CSRF_SECRET_KEY`])
    /// dropped so that a token learnt before sign-in is refused after it.
    ///
    /// # Errors
    ///
    /// [`Error::Store`] when loading fails.
    pub async fn login(&self, user: &str) -> Result<(), Error> {
        let mut state = self.shared.state.lock().await;
        self.ensure_loaded(&mut state).await?;
        state.login = Some(user.to_owned());
        state.cycle = true;
        state.destroy = false;
        drop_csrf_secret(&mut state);
        Ok(())
    }

    /// Signs out: the session is ended in the store (a tombstone, so no request still in flight
    /// can bring it back) and the cookie is cleared.
    ///
    /// # Errors
    ///
    /// [`Error::Store`] when loading fails.
    pub async fn logout(&self) -> Result<(), Error> {
        self.destroy().await
    }

    /// Ends the session and clears the cookie; see [`Session::logout`].
    ///
    /// # Errors
    ///
    /// [`Error::Store`] when loading fails.
    pub async fn destroy(&self) -> Result<(), Error> {
        let mut state = self.shared.state.lock().await;
        self.ensure_loaded(&mut state).await?;
        state.destroy = true;
        state.login = None;
        state.changes.clear();
        Ok(())
    }

    /// The signed-in user, if any.
    ///
    /// # Errors
    ///
    /// [`Error::Store`] when loading fails.
    pub async fn user(&self) -> Result<Option<String>, Error> {
        let mut state = self.shared.state.lock().await;
        self.ensure_loaded(&mut state).await?;
        if state.destroy {
            return Ok(None);
        }
        if let Some(user) = &state.login {
            return Ok(Some(user.clone()));
        }
        Ok(match &state.current {
            Some(Current::Existing { record, .. }) => record.user.clone(),
            _ => None,
        })
    }

    /// How long ago the user authenticated; `None` when nobody is signed in. Demand a fresh
    /// sign-in before sensitive actions when this is large.
    ///
    /// # Errors
    ///
    /// [`Error::Store`] when loading fails.
    pub async fn auth_age(&self) -> Result<Option<SignedDuration>, Error> {
        let mut state = self.shared.state.lock().await;
        self.ensure_loaded(&mut state).await?;
        if state.login.is_some() {
            return Ok(Some(SignedDuration::ZERO));
        }
        let now = self.engine().now();
        Ok(match &state.current {
            Some(Current::Existing { record, .. }) if !state.destroy => {
                record.auth_time.map(|t| now.duration_since(t))
            }
            _ => None,
        })
    }

    /// When the session began and when it will end, if it exists.
    ///
    /// # Errors
    ///
    /// [`Error::Store`] when loading fails.
    pub async fn deadlines(&self) -> Result<Option<Deadlines>, Error> {
        let mut state = self.shared.state.lock().await;
        self.ensure_loaded(&mut state).await?;
        Ok(match &state.current {
            Some(Current::Existing { record, .. }) if !state.destroy => Some(Deadlines {
                created: record.created,
                idle: record.idle_deadline,
                absolute: record.absolute_deadline,
            }),
            _ => None,
        })
    }

    /// The signed-in user's live sessions, this one marked `current` (server mode).
    ///
    /// # Errors
    ///
    /// [`Error::Store`] when the store fails.
    pub async fn devices(&self) -> Result<Vec<SessionInfo>, Error> {
        let (user, key) = self.user_and_key().await?;
        match user {
            Some(user) => list_user_sessions(self.engine(), &user, key.as_ref())
                .await
                .map_err(|e| self.report(e)),
            None => Ok(Vec::new()),
        }
    }

    /// Ends one of the signed-in user's own sessions by its handle. `Ok(false)` when the handle
    /// is not one of theirs.
    ///
    /// # Errors
    ///
    /// [`Error::Store`] when the store fails.
    pub async fn revoke_device(&self, handle: &str) -> Result<bool, Error> {
        let (Some(user), _) = self.user_and_key().await? else {
            return Ok(false);
        };
        let Some(key) = crate::id::StoreKey::from_hex(handle) else {
            return Ok(false);
        };
        let owned = self
            .engine()
            .store
            .load(&key)
            .await
            .map_err(|e| self.report(e.into()))?
            .is_some_and(|r| r.is_live() && r.user.as_deref() == Some(&user));
        if !owned {
            return Ok(false);
        }
        revoke_key(self.engine(), &key)
            .await
            .map_err(|e| self.report(e))
    }

    /// Ends every other session of the signed-in user (after a password change, or "sign out
    /// everywhere else"); returns how many.
    ///
    /// # Errors
    ///
    /// [`Error::Store`] when the store fails.
    pub async fn revoke_others(&self) -> Result<u64, Error> {
        if !matches!(self.engine().codec, Codec::Server) {
            return self.revoke_other_cookies().await;
        }
        match self.user_and_key().await? {
            (Some(user), key) => revoke_user(self.engine(), &user, key.as_ref())
                .await
                .map_err(|e| self.report(e)),
            (None, _) => Ok(0),
        }
    }

    /// Client modes: files a not-before time for the user and re-issues this session's cookie
    /// past it. Cookie sessions cannot be counted, so the answer is 0.
    async fn revoke_other_cookies(&self) -> Result<u64, Error> {
        if !self.engine().denylist {
            return Err(Error::Unrepresentable(
                "cookie sessions can only be revoked when the manager has a store",
            ));
        }
        let mut state = self.shared.state.lock().await;
        self.ensure_loaded(&mut state).await?;
        let user = match &state.current {
            Some(Current::Existing { record }) if !state.destroy => record.user.clone(),
            _ => None,
        };
        let Some(user) = user else {
            return Ok(0);
        };
        super::revocation::end_user(self.engine(), &user, None)
            .await
            .map_err(|e| self.report(e))?;
        state.bump_issued = true;
        Ok(0)
    }

    async fn user_and_key(&self) -> Result<(Option<String>, Option<crate::id::StoreKey>), Error> {
        let mut state = self.shared.state.lock().await;
        self.ensure_loaded(&mut state).await?;
        Ok(match &state.current {
            Some(Current::Existing { record, .. }) if !state.destroy => {
                (record.user.clone(), Some(record.key))
            }
            _ => (None, None),
        })
    }

    /// Loads the session the cookie names, the first time anything asks.
    async fn ensure_loaded(&self, state: &mut State) -> Result<(), Error> {
        if state.current.is_some() {
            return Ok(());
        }
        let current = match std::mem::replace(&mut state.incoming, IncomingCookie::Absent) {
            IncomingCookie::Absent => Current::New,
            IncomingCookie::Duplicate => {
                self.engine().emit(SecurityEvent::DuplicateCookie);
                state.clear_stale = true;
                Current::New
            }
            IncomingCookie::One(value) => {
                let engine = self.engine();
                let ip = state.meta.ip;
                let loaded = match &engine.codec {
                    Codec::Server => {
                        let now = engine.now();
                        state.loaded_at = Some(now);
                        let loaded = match self.load_server(value.as_bytes(), ip, now).await {
                            Ok((mut current, arrival)) => self
                                .check_fingerprint(state, &mut current)
                                .await
                                .map(|()| (current, arrival)),
                            Err(error) => Err(error),
                        };
                        match loaded {
                            Ok((current, arrival)) => {
                                state.via_grace = arrival == Arrival::ViaGrace;
                                state.after_id_change = arrival == Arrival::AfterIdChange;
                                current
                            }
                            Err(error) => {
                                // Kept, so that a retry loads it rather than starting afresh.
                                state.incoming = IncomingCookie::One(value);
                                state.stale_auth = false;
                                return Err(self.report(error));
                            }
                        }
                    }
                    Codec::Sealed(_) | Codec::Flask(_) => {
                        // A value that is not text is no cookie of ours: it fails to open, as
                        // forgeries do. Boxed: the cookie modes' state would bloat the server
                        // mode's future.
                        let text = value.to_str().unwrap_or_default();
                        match Box::pin(client::load(engine, text, ip)).await {
                            Ok(loaded) => {
                                state.reissue = loaded.reissue;
                                state.client_sid = loaded.sid;
                                loaded.current
                            }
                            Err(error) => {
                                state.incoming = IncomingCookie::One(value);
                                return Err(self.report(error));
                            }
                        }
                    }
                };
                if matches!(loaded, Current::New) && !state.after_id_change {
                    state.clear_stale = true;
                }
                loaded
            }
        };
        state.current = Some(current);
        self.shared.loaded.store(true, Ordering::Release);
        Ok(())
    }

    /// Loads the session an ID names, and how the cookie reached it.
    async fn load_server(
        &self,
        value: &[u8],
        ip: Option<IpAddr>,
        now: Timestamp,
    ) -> Result<(Current, Arrival), Error> {
        let engine = self.engine();
        let Some(id) = SessionId::parse(value) else {
            engine.emit(SecurityEvent::UnknownId);
            engine.failed_cookie(ip)?;
            return Ok((Current::New, Arrival::Direct));
        };
        let key = engine.hasher.key(&id);
        let mut found = match engine.store.try_load_shared(&key) {
            Some(found) => found?,
            None => engine.store.load_shared(&key).await?,
        };
        if found.is_none() && engine.hasher.has_fallbacks() {
            // Boxed: a rare path whose records would otherwise bloat every request's future.
            found = Box::pin(self.load_from_fallback(&id, key)).await?;
        }
        let Some(record) = found else {
            engine.emit(SecurityEvent::UnknownId);
            engine.failed_cookie(ip)?;
            return Ok((Current::New, Arrival::Direct));
        };
        // Renewed moments ago: a request already in flight with the old ID is served the
        // successor until the grace period ends.
        let (record, via_grace) = self.follow_renewals(record, now).await?;
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
        let current = self.check_loaded(record, now).await?;
        let arrival = match current {
            Current::Existing { .. } if via_grace => Arrival::ViaGrace,
            Current::New
                if id_changed_at.is_some_and(|at| now.duration_since(at) <= ID_CHANGE_WINDOW) =>
            {
                Arrival::AfterIdChange
            }
            _ => Arrival::Direct,
        };
        Ok((current, arrival))
    }

    /// The session a record leads to: itself, or for the tombstone of a renewal still within
    /// its grace period, the successor (followed at most [`MAX_RENEWAL_HOPS`] times). True when
    /// it moved. What it leads to may itself be ended, and stays so: only live records are
    /// ever written.
    async fn follow_renewals(
        &self,
        mut record: Arc<Record>,
        now: Timestamp,
    ) -> Result<(Arc<Record>, bool), Error> {
        let mut moved = false;
        for _ in 0..MAX_RENEWAL_HOPS {
            let Some((successor, _)) = record.successor().filter(|(_, until)| now < *until) else {
                break;
            };
            let Some(next) = self.engine().store.load_shared(&successor).await? else {
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
    async fn reload(&self, state: &mut State, key: crate::id::StoreKey) -> Result<(), Error> {
        let engine = self.engine();
        let now = engine.now();
        let found = match engine.store.load_shared(&key).await? {
            Some(found) => Some(self.follow_renewals(found, now).await?.0),
            None => None,
        };
        if let Some(fresh) = found.as_ref().filter(|r| r.end_reason_at(now).is_none()) {
            state.via_grace |= fresh.key != key;
            state.current = Some(Current::Existing {
                record: Arc::clone(fresh),
            });
            return Ok(());
        }
        state.changes.clear();
        state.current = Some(Current::New);
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
    async fn check_loaded(&self, record: Arc<Record>, now: Timestamp) -> Result<Current, Error> {
        let engine = self.engine();
        match record.end_reason_at(now) {
            None => Ok(Current::Existing { record }),
            Some(reason @ (EndReason::IdleExpired | EndReason::AbsoluteExpired))
                if record.is_live() =>
            {
                engine.store.end(&record.key, reason, now, None).await?;
                engine.emit(SecurityEvent::Expired {
                    key: Some(record.key),
                    reason,
                });
                Ok(Current::New)
            }
            // Ended before this request: its cookie was cleared or replaced when it ended, so
            // whoever presents it now kept a copy.
            Some(reason) => {
                engine.emit(SecurityEvent::RevokedReuse {
                    key: record.key,
                    reason,
                    user: record.user.clone(),
                });
                Ok(Current::New)
            }
        }
    }

    /// Compares the loaded session's fingerprint with the request's, and applies the policy.
    async fn check_fingerprint(
        &self,
        state: &mut State,
        current: &mut Current,
    ) -> Result<(), Error> {
        let engine = self.engine();
        let policy = engine.config.fingerprint;
        let Current::Existing { record } = current else {
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
        let Some(change) = FingerprintChange::between(recorded_agent, agent, network_changed)
        else {
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
                    state.stale_auth = true;
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
                *current = Current::New;
            }
        }
        Ok(())
    }

    /// Looks for a session written before a key rotation, under the older keys, and moves it to
    /// the current key.
    async fn load_from_fallback(
        &self,
        id: &SessionId,
        key: crate::id::StoreKey,
    ) -> Result<Option<Arc<Record>>, Error> {
        let engine = self.engine();
        for old_key in engine.hasher.fallback_keys(id) {
            if let Some(old) = engine.store.load(&old_key).await? {
                return Ok(Some(Arc::new(self.migrate(old, key).await?)));
            }
        }
        Ok(None)
    }

    /// Moves a record found under a retired ID-hash key to the current one.
    async fn migrate(&self, old: Record, new_key: crate::id::StoreKey) -> Result<Record, Error> {
        if !old.is_live() {
            return Ok(old);
        }
        let engine = self.engine();
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
                && super::revocation::carried_past_revocation(engine, user, &old.key, old.id_issued)
                    .await?
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

    /// Reports a security event about this request (logged, and given to the event sink), for
    /// layers built on the session such as CSRF protection.
    pub fn report_event(&self, event: SecurityEvent) {
        self.engine().emit(event);
    }

    /// Emits the store-error event for a store failure, and passes every error on.
    fn report(&self, error: Error) -> Error {
        if error.is_store() {
            self.engine().emit(SecurityEvent::StoreError);
        }
        error
    }

    /// True once anything has read or written the session during this request: the response
    /// then depends on it (`Vary: Cookie`, no caching).
    pub fn is_loaded(&self) -> bool {
        self.shared.loaded.load(Ordering::Acquire)
    }

    /// The `Set-Cookie` header that deletes the session cookie.
    pub fn clear_cookie_header(&self) -> String {
        self.engine().config.cookie.clear_header()
    }

    /// Saves what the request changed and says what the response must do with the cookie:
    /// `Some(header)` is a `Set-Cookie` value to send. Called once, after the handler.
    ///
    /// # Errors
    ///
    /// [`Error::Store`] (503), [`Error::Conflict`] or [`Error::SessionEnded`] (409),
    /// [`Error::SessionTooLarge`] (413) when the session's data would pass
    /// [`SessionConfig::with_max_data_size`](crate::SessionConfig::with_max_data_size), or a
    /// cookie-held session would outgrow a cookie. In every case nothing of this request was
    /// saved and the stored session is as it was; the caller must not report success.
    pub async fn commit(&self) -> Result<Option<String>, Error> {
        if let Some(done) = self.try_commit() {
            return done;
        }
        let mut state = self.shared.state.lock().await;
        if state.committed {
            return Ok(None);
        }
        state.committed = true;
        let action = match &self.engine().codec {
            Codec::Server => match self.nothing_to_save(&state) {
                true => CookieAction::Keep,
                // Boxed, as the cookie modes' commit: the write paths hold whole records across
                // awaits, and an inline future that size would be copied on every request.
                false => Box::pin(self.commit_server(&mut state))
                    .await
                    .map_err(|e| self.report(e))?,
            },
            Codec::Sealed(_) | Codec::Flask(_) => {
                Box::pin(client::commit(self.engine(), &mut state))
                    .await
                    .map_err(|e| self.report(e))?
            }
        };
        self.cookie_header(&state, action)
    }

    /// [`commit`](Self::commit) without waiting, when nothing needs the store: the session was
    /// never touched, or (server mode) the request changed nothing and the idle deadline is not
    /// yet due, the common read-only request. `None` means that `commit` must run.
    pub fn try_commit(&self) -> Option<Result<Option<String>, Error>> {
        if !self.is_loaded() {
            // Never touched: no lock, no I/O, no crypto, no cookie.
            return Some(Ok(None));
        }
        // Held elsewhere (a task the handler spawned, say): `commit` waits for it.
        let mut state = self.shared.state.try_lock()?;
        if state.committed {
            return Some(Ok(None));
        }
        if !matches!(self.engine().codec, Codec::Server) || !self.nothing_to_save(&state) {
            return None;
        }
        state.committed = true;
        Some(self.cookie_header(&state, CookieAction::Keep))
    }

    /// The `Set-Cookie` header that carries out `action`, if one is needed.
    fn cookie_header(&self, state: &State, action: CookieAction) -> Result<Option<String>, Error> {
        let cookie = &self.engine().config.cookie;
        Ok(match action {
            CookieAction::Keep if state.clear_stale => Some(cookie.clear_header()),
            CookieAction::Keep => None,
            CookieAction::Clear => Some(cookie.clear_header()),
            CookieAction::Set(value) => Some(set_cookie_header(
                self.engine(),
                &value,
                self.max_age(state),
            )?),
        })
    }

    /// Server mode, and the request changed nothing and the idle deadline is far enough away:
    /// the common read-only request, answered without touching the store.
    fn nothing_to_save(&self, state: &State) -> bool {
        if state.destroy
            || state.cycle
            || state.stale_auth
            || state.login.is_some()
            || !state.changes.is_empty()
        {
            return false;
        }
        if state.issued.is_some() || self.renewal_due(state).is_some() {
            return false;
        }
        match &state.current {
            Some(Current::New) => true,
            Some(Current::Existing { record }) => {
                // The request's time as of loading: one clock read per request.
                let now = state.loaded_at.unwrap_or_else(|| self.engine().now());
                !touch_due(record, now, self.engine().config.idle_timeout)
            }
            None => true,
        }
    }

    /// When periodic renewal is on and this session's ID is old enough: the grace deadline for
    /// the ID it replaces.
    fn renewal_due(&self, state: &State) -> Option<Timestamp> {
        let renewal = self.engine().config.renewal?;
        if state.via_grace || state.destroy {
            return None;
        }
        let Some(Current::Existing { record }) = &state.current else {
            return None;
        };
        let now = self.engine().now();
        (now.duration_since(record.id_issued) >= renewal.every).then(|| later(now, renewal.grace))
    }

    fn max_age(&self, state: &State) -> Option<i64> {
        match &state.current {
            Some(Current::Existing { record, .. }) => Some(
                record
                    .absolute_deadline
                    .duration_since(self.engine().now())
                    .as_secs(),
            ),
            _ => None,
        }
    }

    async fn commit_server(&self, state: &mut State) -> Result<CookieAction, Error> {
        let engine = self.engine();
        let now = engine.now();
        if state.destroy {
            if let Some(Current::Existing { record, .. }) = &state.current {
                engine
                    .store
                    .end(&record.key, EndReason::Logout, now, None)
                    .await?;
                engine.emit(SecurityEvent::Ended {
                    key: Some(record.key),
                    reason: EndReason::Logout,
                });
            }
            state.current = Some(Current::New);
            return Ok(CookieAction::Clear);
        }
        let is_new = matches!(state.current, Some(Current::New));
        if is_new {
            if state.changes.is_empty() && state.login.is_none() {
                return Ok(CookieAction::Keep);
            }
            if state.after_id_change && state.login.is_none() && !state.cycle {
                // A new anonymous session's cookie would replace the one the sign-in set.
                state.changes.clear();
                return Err(Error::IdChanged);
            }
            let mut data = BTreeMap::new();
            apply(&state.changes, &mut data);
            size::check(engine, &state.changes, false, &data)?;
            self.create_record(state, data, state.login.clone()).await?;
        } else if state.cycle {
            self.cycle(state, None).await?;
        } else if let Some(grace_until) = self.renewal_due(state) {
            self.cycle(state, Some(grace_until)).await?;
        } else if !state.changes.is_empty() || state.stale_auth {
            self.write(state, None).await?;
        }
        if let Some(id) = &state.issued {
            return Ok(CookieAction::Set(id.to_cookie_value()));
        }
        if is_new || !state.changes.is_empty() {
            return Ok(CookieAction::Keep);
        }
        // Nothing written: move the idle deadline only when it is due.
        if let Some(Current::Existing { record, .. }) = &state.current {
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

    /// Creates a fresh record (a new session, or the target of a cycle) under a new ID.
    async fn create_record(
        &self,
        state: &mut State,
        data: BTreeMap<String, serde_json::Value>,
        user: Option<String>,
    ) -> Result<SessionId, Error> {
        let engine = self.engine();
        let now = engine.now();
        let absolute = later(now, engine.config.absolute_timeout);
        loop {
            let id = SessionId::generate().map_err(|_| Error::Random)?;
            let key = engine.hasher.key(&id);
            let record = Record {
                key,
                version: 0,
                state: RecordState::Live,
                data: data.clone(),
                user: user.clone(),
                auth_time: user.as_ref().map(|_| now),
                created: now,
                id_issued: now,
                last_seen: now,
                idle_deadline: idle_deadline(now, engine.config.idle_timeout, absolute),
                absolute_deadline: absolute,
                user_agent: state.meta.user_agent(),
                ip: state.meta.ip_prefix(),
                expires_at: absolute,
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
                state.issued = Some(id.clone());
                state.current = Some(Current::Existing {
                    record: Arc::new(record),
                });
                return Ok(id);
            }
        }
    }

    /// New ID, same data (plus this request's changes); the old record becomes a tombstone,
    /// but only if nobody wrote to it since it was loaded (otherwise their write is folded in
    /// first). With `renew`, the tombstone points to the new record until that grace deadline;
    /// when another request renewed it first, this one's changes go to that successor and its
    /// cookie stays as it is.
    async fn cycle(&self, state: &mut State, renew: Option<Timestamp>) -> Result<(), Error> {
        let engine = self.engine();
        for attempt in 0..=engine.config.max_retries {
            let Some(Current::Existing { record: old, .. }) = &state.current else {
                return Err(Error::SessionEnded);
            };
            let old = old.clone();
            let mut data = old.data.clone();
            apply(&state.changes, &mut data);
            size::check(engine, &state.changes, false, &data)?;
            let (user, fresh_login) = match &state.login {
                Some(u) => (Some(u.clone()), true),
                // Re-authentication demanded: the user stays dropped on a reloaded record too.
                None if state.stale_auth => (None, false),
                None => (old.user.clone(), false),
            };
            let changes = std::mem::take(&mut state.changes);
            let login = state.login.clone();
            let stale_auth = state.stale_auth;
            let saves_more = !changes.is_empty() || stale_auth;
            self.create_record(state, data, user).await?;
            let Some(Current::Existing { record: new, .. }) = &mut state.current else {
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
                self.refuse_if_revoked(state, &old, new_key).await?;
                engine.emit(SecurityEvent::IdCycled {
                    from: old.key,
                    to: new_key,
                });
                state.cycle = false;
                state.login = None;
                state.stale_auth = false;
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
            state.issued = None;
            match self.reload(state, old.key).await {
                Ok(()) => {}
                // A renewal the request only rode on, with nothing of its own to save: it ends
                // as it would have without renewal, without an error or a cookie.
                Err(Error::SessionEnded | Error::IdChanged) if renew.is_some() && !saves_more => {
                    state.clear_stale = false;
                    return Ok(());
                }
                Err(error) => return Err(error),
            }
            if renew.is_some() && state.via_grace {
                // Another request renewed it first: this one saves its changes there.
                if saves_more {
                    Box::pin(self.write(state, None)).await?;
                }
                return Ok(());
            }
            backoff(attempt).await;
        }
        Err(Error::Conflict)
    }

    /// After an ID change replaced `old` with `new_key`: when a revocation of the user covers
    /// `old`, it may have listed their sessions before `new_key` existed, so the successor is
    /// ended too and the request gets [`Error::SessionEnded`].
    async fn refuse_if_revoked(
        &self,
        state: &mut State,
        old: &Record,
        new_key: crate::id::StoreKey,
    ) -> Result<(), Error> {
        let engine = self.engine();
        let Some(user) = &old.user else {
            return Ok(());
        };
        if !super::revocation::carried_past_revocation(engine, user, &old.key, old.id_issued)
            .await?
        {
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
        state.issued = None;
        state.current = Some(Current::New);
        state.clear_stale = true;
        Err(Error::SessionEnded)
    }

    /// Compare-and-set of the change set (and an optional update) onto the current record,
    /// replayed on the fresh record after every lost race. Returns the updated key's saved
    /// value.
    async fn write(
        &self,
        state: &mut State,
        update: Option<Update<'_>>,
    ) -> Result<Option<serde_json::Value>, Error> {
        let engine = self.engine();
        if matches!(state.current, Some(Current::New)) {
            if state.after_id_change && state.login.is_none() {
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
            self.create_record(state, data, state.login.clone()).await?;
            state.cycle = false;
            return Ok(saved.map(|(_, value)| value));
        }
        let Some(Current::Existing { record }) = &mut state.current else {
            return Err(Error::SessionEnded);
        };
        // This process's writers of the session take turns: each starts from the record the
        // one before it saved, so that only another process's write can make it retry.
        let mut turn = engine.turns.take(record.key).await;
        if let Some(newer) = turn.newer_than(record) {
            *record = newer;
        }
        for attempt in 0..=engine.config.max_retries {
            let Some(Current::Existing { record, .. }) = &state.current else {
                return Err(Error::SessionEnded);
            };
            let now = engine.now();
            let mut next = Record::clone(record);
            apply(&state.changes, &mut next.data);
            if state.stale_auth {
                next.auth_time = None;
            }
            let saved = match update {
                Some((key, f)) => {
                    let value = f(next.data.remove(key))?;
                    next.data.insert(key.to_owned(), value.clone());
                    Some(value)
                }
                None => None,
            };
            size::check(engine, &state.changes, update.is_some(), &next.data)?;
            next.version = record.version + 1;
            next.last_seen = now;
            next.idle_deadline =
                idle_deadline(now, engine.config.idle_timeout, record.absolute_deadline);
            if engine.store.save_if(&next, record.version).await? {
                state.changes.clear();
                state.stale_auth = false;
                let next = Arc::new(next);
                turn.saved(Arc::clone(&next));
                if let Some(Current::Existing { record, .. }) = &mut state.current {
                    *record = next;
                }
                return Ok(saved);
            }
            // Lost a race: reload; replay on the fresh record (or on the successor of a renewal
            // within its grace) unless the session is over.
            let key = record.key;
            self.reload(state, key).await?;
            if let Some(Current::Existing { record }) = &mut state.current
                && record.key != key
            {
                // Followed a renewal: take turns with this process's writers of the successor.
                turn = engine.turns.take(record.key).await;
                if let Some(newer) = turn.newer_than(record) {
                    *record = newer;
                }
                continue;
            }
            backoff(attempt).await;
        }
        Err(Error::Conflict)
    }
}

/// The `Set-Cookie` header for `value`, or [`Error::SessionTooLarge`] (and an event) when it
/// would pass what browsers keep: an error, never a cookie the browser silently drops.
pub(crate) fn set_cookie_header(
    engine: &Engine,
    value: &str,
    max_age: Option<i64>,
) -> Result<String, Error> {
    let header = engine.config.cookie.set_header(value, max_age);
    if header.len() > MAX_SET_COOKIE_LEN {
        engine.emit(SecurityEvent::SizeLimit {
            len: header.len(),
            limit: MAX_SET_COOKIE_LEN,
        });
        return Err(Error::SessionTooLarge {
            limit: MAX_SET_COOKIE_LEN,
            size: header.len(),
        });
    }
    Ok(header)
}

/// A privilege change: the CSRF secret goes, so that the next page gets a fresh one.
fn drop_csrf_secret(state: &mut State) {
    if lookup(state, CSRF_SECRET_KEY).is_some() {
        state.changes.push(Change::Remove(CSRF_SECRET_KEY.into()));
    }
}

/// One key as the handler sees it, without copying the rest of the session: the latest change
/// to it in this request, else the loaded value.
fn lookup<'a>(state: &'a State, key: &str) -> Option<&'a serde_json::Value> {
    for change in state.changes.iter().rev() {
        match change {
            Change::Set(k, v) if k == key => return Some(v),
            Change::Remove(k) if k == key => return None,
            Change::Clear => return None,
            _ => {}
        }
    }
    match &state.current {
        Some(Current::Existing { record }) if !state.destroy => record.data.get(key),
        _ => None,
    }
}

/// The session as the handler sees it: the loaded data with this request's changes applied.
fn view(state: &State) -> BTreeMap<String, serde_json::Value> {
    let mut data = match &state.current {
        Some(Current::Existing { record, .. }) if !state.destroy => record.data.clone(),
        _ => BTreeMap::new(),
    };
    apply(&state.changes, &mut data);
    data
}

/// Touch throttling: the idle deadline moves only once less than half of the idle window is
/// left, so an active session costs one write per half window, and short windows still work.
pub(crate) fn touch_due(record: &Record, now: Timestamp, idle: SignedDuration) -> bool {
    record.idle_deadline.duration_since(now) < idle / 2
}

pub(crate) fn idle_deadline(
    now: Timestamp,
    idle: SignedDuration,
    absolute: Timestamp,
) -> Timestamp {
    later(now, idle).min(absolute)
}

/// A short, jittered pause between retries, growing with each attempt, so that racing requests
/// spread out instead of colliding again.
async fn backoff(attempt: u32) {
    let mut jitter = [0u8; 2];
    let _ = getrandom::fill(&mut jitter);
    let max_micros = 50u64 << attempt.min(8);
    let micros = u64::from(u16::from_le_bytes(jitter)) % max_micros.max(1);
    tokio::time::sleep(std::time::Duration::from_micros(micros)).await;
}
