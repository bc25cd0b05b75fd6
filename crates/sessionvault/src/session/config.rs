//! How sessions behave: timeouts, retries, the cookie.

use jiff::SignedDuration;

use super::cookie::CookieConfig;

/// Session behaviour. The defaults are the secure ones (OWASP ASVS level 2: 30 minutes idle,
/// 12 hours absolute).
#[derive(Clone, Debug)]
pub struct SessionConfig {
    pub(crate) idle_timeout: SignedDuration,
    pub(crate) absolute_timeout: SignedDuration,
    pub(crate) max_retries: u32,
    pub(crate) cookie: CookieConfig,
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            idle_timeout: SignedDuration::from_mins(30),
            absolute_timeout: SignedDuration::from_hours(12),
            max_retries: 16,
            cookie: CookieConfig::default(),
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
    /// conflict error.
    pub fn with_max_retries(mut self, retries: u32) -> Self {
        self.max_retries = retries;
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
