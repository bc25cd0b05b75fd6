//! The manager of an application's sessions: building it, a session per request, and the
//! administrator's actions.

use std::sync::Arc;
use std::time::Duration;

use super::config::SessionConfig;
use super::cookie::IncomingCookie;
use super::devices::{self, SessionInfo};
use super::engine::{CookieMode, Engine, Mode};
use super::guessing::GuessingDetector;
use super::handle::Session;
use super::meta::RequestMeta;
use super::mode;
use super::turns::Turns;
use crate::clock::{Clock, SystemClock};
use crate::events::EventSink;
use crate::id::{IdHasher, StoreKey};
use crate::store::SessionStore;
use crate::{Error, Keyring};

/// The session engine of an application: build one at start-up, then make a [`Session`] per
/// request with [`SessionManager::session`]. Cheap to clone.
#[derive(Clone)]
pub struct SessionManager {
    pub(crate) engine: Arc<Engine>,
}

impl std::fmt::Debug for SessionManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionManager")
            .field("mode", &self.mode())
            .field("config", &self.engine.config)
            .finish_non_exhaustive()
    }
}

/// Builds a [`SessionManager`].
pub struct SessionManagerBuilder {
    keyring: Keyring,
    store: Option<Arc<dyn SessionStore>>,
    mode: CookieMode,
    clock: Arc<dyn Clock>,
    config: SessionConfig,
    events: Vec<Arc<dyn EventSink>>,
}

impl SessionManagerBuilder {
    /// Server-side sessions in `store` (the default mode). In the cookie modes the store keeps
    /// the denylist instead, so that logout and sign-out-everywhere take effect before cookies
    /// expire, at the cost of a store read per request that loads a session.
    pub fn with_store(mut self, store: impl SessionStore) -> Self {
        self.store = Some(Arc::new(store));
        self
    }

    /// As [`with_store`](Self::with_store), for a store already shared behind an `Arc` (the
    /// Python binding's, which several managers use).
    pub fn with_shared_store(mut self, store: Arc<dyn SessionStore>) -> Self {
        self.store = Some(store);
        self
    }

    /// Where session state lives; see [`CookieMode`].
    pub fn with_mode(mut self, mode: CookieMode) -> Self {
        self.mode = mode;
        self
    }

    /// A clock other than the system's, for tests.
    pub fn with_clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Timeouts, retries and cookie settings.
    pub fn with_config(mut self, config: SessionConfig) -> Self {
        self.config = config;
        self
    }

    /// Adds a receiver of every security event (after it is logged). Call it once per sink:
    /// an alerting hook, [`EventCounts`](crate::EventCounts) for metrics, and so on.
    pub fn with_event_sink(mut self, sink: impl EventSink) -> Self {
        self.events.push(Arc::new(sink));
        self
    }

    /// The manager.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] when server mode has no store, or the configuration cannot work (see
    /// [`SessionConfig::validate`]).
    pub fn build(self) -> Result<SessionManager, Error> {
        self.config.validate()?;
        let mode = Mode::new(self.mode, &self.keyring, &self.config);
        let denylist = mode.keeps_denylist(self.store.is_some());
        let store = mode.store(self.store)?;
        let turns = Turns::new(store.batches_writes());
        Ok(SessionManager {
            engine: Arc::new(Engine {
                store,
                hasher: IdHasher::new(&self.keyring),
                clock: self.clock,
                guessing: GuessingDetector::new(self.config.guessing),
                denylist,
                turns,
                config: self.config,
                events: self.events,
                mode,
            }),
        })
    }
}

impl SessionManager {
    /// Starts building a manager whose keys come from `keyring`.
    pub fn builder(keyring: Keyring) -> SessionManagerBuilder {
        SessionManagerBuilder {
            keyring,
            store: None,
            mode: CookieMode::Server,
            clock: Arc::new(SystemClock),
            config: SessionConfig::default(),
            events: Vec::new(),
        }
    }

    /// The session of one request. Nothing is loaded or decrypted until the handler first
    /// touches it.
    pub fn session(&self, incoming: IncomingCookie, meta: RequestMeta) -> Session {
        Session::new(Arc::clone(&self.engine), incoming, meta)
    }

    /// The configuration.
    pub fn config(&self) -> &SessionConfig {
        &self.engine.config
    }

    /// Where session state lives.
    pub fn mode(&self) -> CookieMode {
        self.engine.mode.cookie_mode()
    }

    /// A user's live sessions (server mode), most recent first.
    ///
    /// # Errors
    ///
    /// [`Error::Store`] when the store fails.
    pub async fn sessions_for_user(&self, user: &str) -> Result<Vec<SessionInfo>, Error> {
        devices::list_user_sessions(&self.engine, user, None).await
    }

    /// Ends the session with this handle, whoever owns it (an administrator's action).
    /// `Ok(false)` when there is no such live session.
    ///
    /// # Errors
    ///
    /// [`Error::Store`] when the store fails.
    pub async fn revoke(&self, handle: &str) -> Result<bool, Error> {
        let Some(key) = StoreKey::from_hex(handle) else {
            return Ok(false);
        };
        devices::revoke_key(&self.engine, &key).await
    }

    /// Ends every session of `user` except the one with handle `except`; returns how many.
    /// Final even against a request changing one of those sessions' ID at the same moment: a
    /// not-before time for the user is filed first, and an ID change that finds it ends its
    /// successor.
    ///
    /// In the cookie modes, with a store, every cookie session of `user` issued before now is
    /// refused from now on (`except` cannot apply: cookie sessions have no handles) and the
    /// answer is 0, since they cannot be counted.
    ///
    /// # Errors
    ///
    /// [`Error::Store`] when the store fails; [`Error::Config`] in a cookie mode without a
    /// store, where a signed cookie cannot be taken back.
    pub async fn revoke_all_for_user(
        &self,
        user: &str,
        except: Option<&str>,
    ) -> Result<u64, Error> {
        mode::revoke_all_for_user(&self.engine, user, except).await
    }

    /// Runs the store's sweeper every `every` on the Tokio runtime, removing records past their
    /// retention. Stores with their own expiry do nothing on a sweep.
    pub fn spawn_sweeper(&self, every: Duration) -> tokio::task::JoinHandle<()> {
        let engine = Arc::clone(&self.engine);
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(every);
            loop {
                ticker.tick().await;
                if let Err(err) = engine.store.sweep(engine.now()).await {
                    tracing::warn!(target: "sessionvault", error = %err, "session sweep failed");
                }
            }
        })
    }
}
