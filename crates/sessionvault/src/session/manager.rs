//! The engine shared by all requests: store, keys, clock, configuration, events.

use std::net::{IpAddr, Ipv6Addr};
use std::sync::Arc;
use std::time::Duration;

use http::HeaderValue;
use jiff::Timestamp;

use super::anomaly::GuessingDetector;
use super::config::SessionConfig;
use super::cookie::IncomingCookie;
use super::handle::Session;
use super::turns::Turns;
use crate::clock::{Clock, SystemClock};
use crate::events::{EndReason, EventSink, SecurityEvent, emit};
use crate::flask::FlaskCodec;
use crate::id::{IdHasher, StoreKey};
use crate::sealed::SealedCodec;
use crate::store::{Record, SessionStore};
use crate::{Error, Keyring};

/// Where session state lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CookieMode {
    /// The cookie holds a random ID; the session lives in the store (the default, and the only
    /// mode with a devices list).
    Server,
    /// The cookie holds the whole session, encrypted (XChaCha20-Poly1305). No session store;
    /// given one, it keeps a denylist so that logout is final.
    ///
    /// A cookie cannot merge: parallel requests with one cookie each answer with a cookie of
    /// their own, and the browser keeps whichever arrives last. So concurrent writes follow
    /// last-response-wins, and [`Session::update`], whose promise is that every concurrent call
    /// counts, is refused with [`Error::UpdateNeedsServerMode`]. Use server mode for counters
    /// and anything else that must add up.
    Sealed,
    /// The cookie is a Flask session cookie, signed but readable, to share sessions with a
    /// Flask application using the same secret key. Given a store, it keeps a denylist as in
    /// [`CookieMode::Sealed`], and like it refuses [`Session::update`].
    Flask,
}

impl CookieMode {
    /// `server`, `sealed` or `flask`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Server => "server",
            Self::Sealed => "sealed",
            Self::Flask => "flask",
        }
    }
}

pub(crate) enum Codec {
    Server,
    Sealed(SealedCodec),
    Flask(FlaskCodec),
}

pub(crate) struct Engine {
    pub(crate) store: Arc<dyn SessionStore>,
    pub(crate) hasher: IdHasher,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) config: SessionConfig,
    pub(crate) events: Vec<Arc<dyn EventSink>>,
    pub(crate) codec: Codec,
    pub(crate) guessing: GuessingDetector,
    /// Client modes given a store: the store keeps a denylist (see [`super::revocation`]).
    pub(crate) denylist: bool,
    /// This process's writers of one session take turns.
    pub(crate) turns: Turns,
}

impl Engine {
    pub(crate) fn emit(&self, event: SecurityEvent) {
        emit(&self.events, event);
    }

    pub(crate) fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// Counts a session cookie from `ip` that named no session or failed its check, and
    /// reports the client once it crosses the guessing limit.
    ///
    /// # Errors
    ///
    /// [`Error::Throttled`] while the client is over a refusing limit. Only failed cookies
    /// are refused: a request whose cookie names a live session is never counted or refused
    /// here, so neither a guesser nor other clients behind the same address lock it out.
    pub(crate) fn failed_cookie(&self, ip: Option<IpAddr>) -> Result<(), Error> {
        let now = self.now();
        // Checked before counting: the failure that crosses the limit is reported, the ones
        // after it are refused.
        let refused = self.guessing.is_refused(ip, || now);
        if let Some(found) = self.guessing.record_failure(ip, now) {
            self.emit(SecurityEvent::IdGuessing {
                client: found.client,
                failures: found.failures,
                refused: found.refused,
            });
        }
        if refused {
            return Err(Error::Throttled);
        }
        Ok(())
    }
}

/// The longest user agent a record keeps, in characters.
const MAX_USER_AGENT_CHARS: usize = 256;

/// Facts about the request that the session records for the devices list and anomaly checks.
#[derive(Clone, Debug, Default)]
pub struct RequestMeta {
    /// The `User-Agent` header, as the request carries it. A clone of the header shares its
    /// bytes, so a request whose handler never loads the session neither copies nor reads it.
    /// Text that is not UTF-8 counts as no user agent.
    pub user_agent: Option<HeaderValue>,
    /// The client's address; only its network prefix is stored.
    pub ip: Option<IpAddr>,
}

impl RequestMeta {
    /// The stored form of the address: the /24 of IPv4, the /48 of IPv6.
    pub(crate) fn ip_prefix(&self) -> Option<String> {
        Some(match self.ip? {
            IpAddr::V4(v4) => {
                let [a, b, c, _] = v4.octets();
                format!("{a}.{b}.{c}.0/24")
            }
            IpAddr::V6(v6) => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}::/48", s[0], s[1], s[2])
            }
        })
    }

    /// True when the request comes from a network other than `recorded` (a stored
    /// [`ip_prefix`](Self::ip_prefix)); false when its address is unknown. Compares on the
    /// stack, since it runs on every loaded request.
    pub(crate) fn is_outside(&self, recorded: &str) -> bool {
        self.ip.is_some_and(|ip| !is_within(ip, recorded))
    }

    /// The user agent, cut to [`MAX_USER_AGENT_CHARS`] so that it cannot bloat a record.
    pub(crate) fn user_agent_str(&self) -> Option<&str> {
        let ua = std::str::from_utf8(self.user_agent.as_ref()?.as_bytes()).ok()?;
        // No more bytes than the limit means no more characters: browsers' user agents, on
        // every loaded request, are kept without walking them character by character.
        if ua.len() <= MAX_USER_AGENT_CHARS {
            return Some(ua);
        }
        Some(
            ua.char_indices()
                .nth(MAX_USER_AGENT_CHARS)
                .map_or(ua, |(end, _)| &ua[..end]),
        )
    }

    /// True when the request's user agent is `recorded`, a stored
    /// [`user_agent`](Self::user_agent): compares bytes, without decoding the header, which is
    /// what nearly every loaded request finds.
    pub(crate) fn has_user_agent(&self, recorded: &str) -> bool {
        self.user_agent
            .as_ref()
            .is_some_and(|ua| ua.as_bytes() == recorded.as_bytes())
    }

    /// [`user_agent_str`](Self::user_agent_str), owned for storing.
    pub(crate) fn user_agent(&self) -> Option<String> {
        self.user_agent_str().map(str::to_owned)
    }
}

/// True when `ip` lies in `network`, a stored [`RequestMeta::ip_prefix`]. Parses the stored
/// text rather than formatting the request's, which costs less on every loaded request.
fn is_within(ip: IpAddr, network: &str) -> bool {
    match ip {
        IpAddr::V4(ip) => network.strip_suffix(".0/24").is_some_and(|base| {
            // Read by hand: `Ipv4Addr`'s general parser costs about half as much again, on
            // every loaded request.
            let [a, b, c, _] = ip.octets();
            let mut octets = base
                .as_bytes()
                .split(|&byte| byte == b'.')
                .map(decimal_octet);
            [a, b, c]
                .into_iter()
                .all(|o| octets.next() == Some(Some(o)))
                && octets.next().is_none()
        }),
        IpAddr::V6(ip) => network
            .strip_suffix("/48")
            .and_then(|base| base.parse::<Ipv6Addr>().ok())
            .is_some_and(|base| base.segments()[..3] == ip.segments()[..3]),
    }
}

/// An octet as [`RequestMeta::ip_prefix`] writes it: one to three decimal digits.
fn decimal_octet(text: &[u8]) -> Option<u8> {
    if text.is_empty() || text.len() > 3 {
        return None;
    }
    let value = text.iter().try_fold(0u16, |value, &digit| {
        digit
            .is_ascii_digit()
            .then(|| value * 10 + u16::from(digit - b'0'))
    })?;
    u8::try_from(value).ok()
}

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

    /// Server-side sessions in a shared store.
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
    /// an alerting hook, [`EventCounts`](crate::events::EventCounts) for metrics, and so on.
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
        let codec = match self.mode {
            CookieMode::Server => Codec::Server,
            CookieMode::Sealed => Codec::Sealed(SealedCodec::new(&self.keyring)),
            CookieMode::Flask => Codec::Flask(
                FlaskCodec::new(self.keyring.clone())
                    .with_max_age(Some(self.config.absolute_timeout.as_secs().max(0) as u64)),
            ),
        };
        let denylist = self.mode != CookieMode::Server && self.store.is_some();
        let store: Arc<dyn SessionStore> = match (self.mode, self.store) {
            (_, Some(store)) => store,
            (CookieMode::Server, None) => {
                return Err(Error::Config("server mode needs a session store".into()));
            }
            // Client modes never touch the store; an empty one keeps the engine uniform.
            (_, None) => Arc::new(crate::store::MemoryStore::new()),
        };
        Ok(SessionManager {
            engine: Arc::new(Engine {
                store,
                hasher: IdHasher::new(&self.keyring),
                clock: self.clock,
                guessing: GuessingDetector::new(self.config.guessing),
                denylist,
                turns: Turns::default(),
                config: self.config,
                events: self.events,
                codec,
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
        match self.engine.codec {
            Codec::Server => CookieMode::Server,
            Codec::Sealed(_) => CookieMode::Sealed,
            Codec::Flask(_) => CookieMode::Flask,
        }
    }

    /// A user's live sessions (server mode), most recent first.
    ///
    /// # Errors
    ///
    /// [`Error::Store`] when the store fails.
    pub async fn sessions_for_user(&self, user: &str) -> Result<Vec<SessionInfo>, Error> {
        list_user_sessions(&self.engine, user, None).await
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
        revoke_key(&self.engine, &key).await
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
    /// [`Error::Store`] when the store fails; [`Error::Unrepresentable`] in a cookie mode
    /// without a store, where a signed cookie cannot be taken back.
    pub async fn revoke_all_for_user(
        &self,
        user: &str,
        except: Option<&str>,
    ) -> Result<u64, Error> {
        if self.mode() != CookieMode::Server {
            if !self.engine.denylist {
                return Err(Error::Unrepresentable(
                    "cookie sessions can only be revoked when the manager has a store",
                ));
            }
            super::revocation::end_user(&self.engine, user, None).await?;
            return Ok(0);
        }
        let except = except.and_then(StoreKey::from_hex);
        revoke_user(&self.engine, user, except.as_ref()).await
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
/// [`super::revocation::carried_past_revocation`]), so no session escapes, on any store.
pub(crate) async fn revoke_user(
    engine: &Engine,
    user: &str,
    except: Option<&StoreKey>,
) -> Result<u64, Error> {
    super::revocation::end_user(engine, user, except).await?;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(ip: &str) -> RequestMeta {
        RequestMeta {
            user_agent: None,
            ip: Some(ip.parse().unwrap_or_else(|e| panic!("{ip}: {e}"))),
        }
    }

    #[test]
    fn networks_are_compared_by_prefix() {
        let v4 = meta("192.0.2.77");
        assert_eq!(v4.ip_prefix().as_deref(), Some("192.0.2.0/24"));
        assert!(!v4.is_outside("192.0.2.0/24"));
        assert!(v4.is_outside("192.0.3.0/24"));
        let v6 = meta("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
        let prefix = v6.ip_prefix().unwrap_or_default();
        assert_eq!(prefix, "ffff:ffff:ffff::/48");
        assert!(!v6.is_outside(&prefix));
        assert!(
            !RequestMeta::default().is_outside("192.0.2.0/24"),
            "unknown is no change"
        );
    }

    #[test]
    fn stored_prefixes_read_back_as_the_same_network() {
        for ip in [
            "0.0.0.0",
            "1.20.255.9",
            "10.100.7.1",
            "255.255.255.255",
            "::",
            "::1",
            "2001:db8::1",
            "fe80:0:a:b::",
            "1:10:abc::",
            "a:ab:abc:abcd::",
            "100:1000:fff0::",
        ] {
            let meta = meta(ip);
            let prefix = meta.ip_prefix().unwrap_or_default();
            assert!(!meta.is_outside(&prefix), "{ip} in {prefix}");
        }
        for (ip, network) in [
            ("192.0.2.1", "192.0.3.0/24"),
            ("192.0.2.1", "192.0.2.0/16"),
            ("192.0.2.1", "192.0.2.0"),
            ("192.0.2.1", "2001:db8::/48"),
            ("2001:db8::1", "2001:db9::/48"),
            ("2001:db8::1", "192.0.2.0/24"),
            ("2001:db8::1", "not an address/48"),
            ("192.0.2.1", "192.0.2.1.0/24"),
            ("192.0.2.1", "192.0.0.0/24"),
            ("192.0.2.1", "192.0.2.1/24"),
            ("192.0.2.1", "192.0.+2.0/24"),
            ("192.0.2.1", "192.0.2.0/24 "),
            ("192.0.2.1", "192.0..0/24"),
            ("192.0.2.1", ".0/24"),
            ("192.0.2.1", "192.0.258.0/24"),
            ("2001:db8::1", "2001:db8::/48x"),
        ] {
            let ip: IpAddr = ip.parse().unwrap_or_else(|e| panic!("{ip}: {e}"));
            assert!(!is_within(ip, network), "{ip} not in {network}");
        }
    }

    #[test]
    fn user_agents_are_cut_at_256_characters() {
        let cut = |ua: String| {
            RequestMeta {
                user_agent: Some(HeaderValue::from_bytes(ua.as_bytes()).unwrap()),
                ip: None,
            }
            .user_agent_str()
            .map(str::to_owned)
        };
        // Cut at a character, not a byte, whatever the width of the characters.
        assert_eq!(cut("é".repeat(300)), Some("é".repeat(256)));
        assert_eq!(cut("é".repeat(256)), Some("é".repeat(256)));
        assert_eq!(cut("a".repeat(257)), Some("a".repeat(256)));
        assert_eq!(cut("a".repeat(256)), Some("a".repeat(256)));
        assert_eq!(cut("a".repeat(255) + "é"), Some("a".repeat(255) + "é"));
        assert_eq!(cut("a".repeat(256) + "é"), Some("a".repeat(256)));
        let browser = "Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101 Firefox/133.0";
        assert_eq!(cut(browser.into()).as_deref(), Some(browser));
        assert_eq!(RequestMeta::default().user_agent_str(), None);
    }

    #[test]
    fn a_recorded_user_agent_is_recognised_without_decoding() {
        let meta = |ua: &str| RequestMeta {
            user_agent: Some(HeaderValue::from_bytes(ua.as_bytes()).unwrap()),
            ip: None,
        };
        let browser = "Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101 Firefox/133.0";
        assert!(meta(browser).has_user_agent(browser));
        assert!(!meta(browser).has_user_agent("curl/8.5.0"));
        assert!(!meta(browser).has_user_agent(&browser[..20]));
        assert!(!RequestMeta::default().has_user_agent(browser));
        // A longer header is stored cut: not the same bytes, but the same stored form.
        let long = "a".repeat(300);
        let recorded = meta(&long).user_agent().unwrap();
        assert!(!meta(&long).has_user_agent(&recorded));
        assert_eq!(meta(&long).user_agent_str(), Some(recorded.as_str()));
    }

    #[test]
    fn user_agents_that_are_not_utf8_count_as_none() {
        let latin1 = RequestMeta {
            user_agent: Some(HeaderValue::from_bytes(b"Caf\xe9/1.0").unwrap()),
            ip: None,
        };
        assert_eq!(latin1.user_agent_str(), None);
        assert_eq!(latin1.user_agent(), None);
    }
}
