//! The session of one request: the handle handlers hold, and the commit that ends its request.
//! Its reads and writes are in [`super::values`], signing in and out in [`super::sign_in`].

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::{Mutex, MutexGuard};

use super::cookie::IncomingCookie;
use super::engine::Engine;
use super::meta::RequestMeta;
use super::mode;
use super::state::{CookieAction, State};
use super::turns::Turn;
use crate::Error;
use crate::events::SecurityEvent;

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

impl Session {
    pub(crate) fn new(engine: Arc<Engine>, incoming: IncomingCookie, meta: RequestMeta) -> Self {
        Self {
            shared: Arc::new(Shared {
                engine,
                loaded: AtomicBool::new(false),
                state: Mutex::new(State::new(incoming, meta)),
            }),
        }
    }

    pub(super) fn engine(&self) -> &Engine {
        &self.shared.engine
    }

    /// The state, loaded: the session the cookie names is loaded the first time anything asks.
    pub(super) async fn loaded(&self) -> Result<MutexGuard<'_, State>, Error> {
        let mut state = self.shared.state.lock().await;
        mode::load(self.engine(), &mut state).await?;
        if !self.is_loaded() {
            self.shared.loaded.store(true, Ordering::Release);
        }
        Ok(state)
    }

    /// The state, loaded for a read-modify-write that saves at once, with the turn the load
    /// took (see [`mode::load_for_update`]).
    pub(super) async fn loaded_for_update(
        &self,
    ) -> Result<(MutexGuard<'_, State>, Option<Turn<'_>>), Error> {
        let mut state = self.shared.state.lock().await;
        let turn = mode::load_for_update(self.engine(), &mut state).await?;
        if !self.is_loaded() {
            self.shared.loaded.store(true, Ordering::Release);
        }
        Ok((state, turn))
    }

    /// Reports a security event about this request (logged, and given to the event sink), for
    /// layers built on the session such as CSRF protection.
    ///
    /// # Examples
    ///
    /// ```
    /// # use sessionvault::{Keyring, RequestMeta, SessionManager, cookie::IncomingCookie};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let manager = SessionManager::builder(Keyring::generate()?)
    /// #     .with_store(sessionvault::store::MemoryStore::new())
    /// #     .build()?;
    /// # let session = manager.session(IncomingCookie::Absent, RequestMeta::default());
    /// use sessionvault::SecurityEvent;
    ///
    /// // A layer built on the session refused a request.
    /// session.report_event(SecurityEvent::CsrfRejected { reason: "missing_token" });
    /// # Ok(())
    /// # }
    /// ```
    pub fn report_event(&self, event: SecurityEvent) {
        self.engine().emit(event);
    }

    /// True once anything has read or written the session during this request: the response
    /// then depends on it (`Vary: Cookie`, no caching).
    ///
    /// # Examples
    ///
    /// ```
    /// # use sessionvault::{Keyring, RequestMeta, SessionManager, cookie::IncomingCookie};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let manager = SessionManager::builder(Keyring::generate()?)
    /// #     .with_store(sessionvault::store::MemoryStore::new())
    /// #     .build()?;
    /// # let session = manager.session(IncomingCookie::Absent, RequestMeta::default());
    /// assert!(!session.is_loaded());
    /// session.get::<u32>("n").await?;
    /// assert!(session.is_loaded(), "the response now depends on the cookie");
    /// # Ok(())
    /// # }
    /// ```
    pub fn is_loaded(&self) -> bool {
        self.shared.loaded.load(Ordering::Acquire)
    }

    /// The `Set-Cookie` header that deletes the session cookie.
    ///
    /// # Examples
    ///
    /// ```
    /// # use sessionvault::{Keyring, RequestMeta, SessionManager, cookie::IncomingCookie};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let manager = SessionManager::builder(Keyring::generate()?)
    /// #     .with_store(sessionvault::store::MemoryStore::new())
    /// #     .build()?;
    /// # let session = manager.session(IncomingCookie::Absent, RequestMeta::default());
    /// let header = session.clear_cookie_header();
    /// assert!(header.starts_with("__Host-session=;") && header.contains("Max-Age=0"));
    /// # Ok(())
    /// # }
    /// ```
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
    ///
    /// # Examples
    ///
    /// ```
    /// # use sessionvault::{Keyring, RequestMeta, SessionManager, cookie::IncomingCookie};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let manager = SessionManager::builder(Keyring::generate()?)
    /// #     .with_store(sessionvault::store::MemoryStore::new())
    /// #     .build()?;
    /// # let session = manager.session(IncomingCookie::Absent, RequestMeta::default());
    /// session.insert("n", 1).await?;
    /// let set_cookie = session.commit().await?.ok_or("a new session sets its cookie")?;
    /// // The next request brings the cookie back and sees what this one saved.
    /// let (_, value) = set_cookie
    ///     .split(';')
    ///     .next()
    ///     .and_then(|pair| pair.split_once('='))
    ///     .ok_or("name=value")?;
    /// let next = manager.session(IncomingCookie::One(value.into()), RequestMeta::default());
    /// assert_eq!(next.get::<u32>("n").await?, Some(1));
    /// # Ok(())
    /// # }
    /// ```
    pub async fn commit(&self) -> Result<Option<String>, Error> {
        if let Some(done) = self.try_commit() {
            return done;
        }
        let mut state = self.shared.state.lock().await;
        if state.committed {
            return Ok(None);
        }
        state.committed = true;
        let engine = self.engine();
        let action = mode::commit(engine, &mut state)
            .await
            .map_err(|e| engine.report(e))?;
        state.cookie_header(engine, action)
    }

    /// [`commit`](Self::commit) without waiting, when nothing needs the store: the session was
    /// never touched, or (server mode) the request changed nothing and the idle deadline is not
    /// yet due, the common read-only request. `None` means that `commit` must run.
    ///
    /// # Examples
    ///
    /// ```
    /// # use sessionvault::{Keyring, RequestMeta, SessionManager, cookie::IncomingCookie};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let manager = SessionManager::builder(Keyring::generate()?)
    /// #     .with_store(sessionvault::store::MemoryStore::new())
    /// #     .build()?;
    /// # let session = manager.session(IncomingCookie::Absent, RequestMeta::default());
    /// // A request that never touched its session is done without waiting.
    /// assert!(matches!(session.try_commit(), Some(Ok(None))));
    /// // One that wrote needs the store: `commit` must run.
    /// let written = manager.session(IncomingCookie::Absent, RequestMeta::default());
    /// written.insert("n", 1).await?;
    /// assert!(written.try_commit().is_none());
    /// # Ok(())
    /// # }
    /// ```
    pub fn try_commit(&self) -> Option<Result<Option<String>, Error>> {
        if !self.is_loaded() {
            // Never touched: no lock, no I/O, no crypto, no cookie.
            return Some(Ok(None));
        }
        // Held elsewhere (a task the handler spawned, say): `commit` waits for it.
        let mut state = self.shared.state.try_lock().ok()?;
        if state.committed {
            return Some(Ok(None));
        }
        if !mode::nothing_to_save(self.engine(), &state) {
            return None;
        }
        state.committed = true;
        Some(state.cookie_header(self.engine(), CookieAction::Keep))
    }
}
