//! How sessions behave: timeouts, retries, the cookie.

use jiff::SignedDuration;

use super::anomaly::{FingerprintPolicy, GuessingLimit};
use super::cookie::CookieConfig;

/// Session behaviour. The defaults are the secure ones (OWASP ASVS level 2: 30 minutes idle,
/// 12 hours absolute).
#[derive(Clone, Debug)]
pub struct SessionConfig {
    pub(crate) idle_timeout: SignedDuration,
    pub(crate) absolute_timeout: SignedDuration,
    pub(crate) max_retries: u32,
    pub(crate) cookie: CookieConfig,
    pub(crate) renewal: Option<Renewal>,
    pub(crate) fingerprint: FingerprintPolicy,
    pub(crate) guessing: Option<GuessingLimit>,
}

/// Periodic ID renewal: how often, and how long the replaced ID still works.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Renewal {
    pub(crate) every: SignedDuration,
    pub(crate) grace: SignedDuration,
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            idle_timeout: SignedDuration::from_mins(30),
            absolute_timeout: SignedDuration::from_hours(12),
            max_retries: 16,
            cookie: CookieConfig::default(),
            renewal: None,
            fingerprint: FingerprintPolicy::default(),
            guessing: Some(GuessingLimit::default()),
        }
    }
}

impl SessionConfig {
    /// A session ends after this long without a request. The deadline moves forward at most
    /// once per half window, so an active session costs one store write per half window, not
    /// one per request.
    pub fn with_idle_timeout(mut self, idle: SignedDuration) -> Self {
        self.idle_timeout = idle;
        self
    }

    /// A session ends this long after it began (after sign-in, for a signed-in session),
    /// however active it is.
    pub fn with_absolute_timeout(mut self, absolute: SignedDuration) -> Self {
        self.absolute_timeout = absolute;
        self
    }

    /// How often a save that lost a race is retried before the request gets an explicit
    /// conflict error. Writers in one process take turns, so races come from other processes
    /// (or a copy that went stale before its turn, which one retry settles).
    pub fn with_max_retries(mut self, retries: u32) -> Self {
        self.max_retries = retries;
        self
    }

    /// Gives a session a new ID every `every`, limiting how long a stolen ID stays useful. The
    /// replaced ID keeps working for `grace` (a few seconds is enough); after that it is dead
    /// like any other. Off by default; server mode only. Keep `grace` shorter than `every`.
    ///
    /// Requests already in flight when the renewal happens, and those the browser sends with
    /// the old ID before the renewing response reaches it, do not fail: within the grace period
    /// they read and write the successor (a write that loses the race to the renewal is
    /// replayed there, so no change and no [`update`](crate::Session::update) is lost). Their
    /// responses leave the cookie alone: they neither clear it nor set one. Only the renewing
    /// response sets the new ID, because it is the only one that knows it; stores keep a keyed
    /// hash of the successor, never its raw ID. Whichever response arrives last, the browser
    /// ends up with the new ID.
    ///
    /// The grace is for renewal only. A sign-in or [`cycle_id`](crate::Session::cycle_id)
    /// changes privileges, and no request with the ID it replaced reaches the new session: a
    /// write racing a sign-in fails with [`Error::IdChanged`](crate::Error::IdChanged), which
    /// leaves the cookie alone. A successor that was itself ended (logout, revocation) stays
    /// ended.
    pub fn with_id_renewal(mut self, every: SignedDuration, grace: SignedDuration) -> Self {
        self.renewal = Some(Renewal { every, grace });
        self
    }

    /// What happens when a session is used with another browser family or from another
    /// network than it was signed in (or created) with; [`FingerprintPolicy::Log`] by default.
    /// Server mode; the comparison needs the client address in the request's
    /// [`RequestMeta`](crate::RequestMeta).
    pub fn with_fingerprint_policy(mut self, policy: FingerprintPolicy) -> Self {
        self.fingerprint = policy;
        self
    }

    /// When a client counts as guessing session IDs, and whether it is then refused; `None`
    /// turns detection off. By default more than 20 unknown or forged cookies a minute from
    /// one client are reported, not refused.
    pub fn with_guessing_limit(mut self, limit: Option<GuessingLimit>) -> Self {
        self.guessing = limit;
        self
    }

    /// The cookie's name and attributes.
    pub fn with_cookie(mut self, cookie: CookieConfig) -> Self {
        self.cookie = cookie;
        self
    }

    /// The idle timeout.
    pub fn idle_timeout(&self) -> SignedDuration {
        self.idle_timeout
    }

    /// The absolute timeout.
    pub fn absolute_timeout(&self) -> SignedDuration {
        self.absolute_timeout
    }

    /// The cookie settings.
    pub fn cookie(&self) -> &CookieConfig {
        &self.cookie
    }
}
