//! How sessions behave: timeouts, retries, the cookie.

use std::borrow::Cow;

use jiff::SignedDuration;
use jiff::fmt::friendly::{Designator, Direction, SpanPrinter};

use super::cookie::CookieConfig;
use super::fingerprint::FingerprintPolicy;
use super::guessing::GuessingLimit;
use crate::Error;

/// Session behaviour. The defaults are the secure ones (OWASP ASVS level 2: 30 minutes idle,
/// 12 hours absolute).
///
/// The setters take any value; [`SessionManagerBuilder::build`](crate::SessionManagerBuilder::build)
/// checks them (see [`SessionConfig::validate`]) and refuses a configuration that cannot work.
#[derive(Clone, Debug)]
pub struct SessionConfig {
    pub(crate) idle_timeout: SignedDuration,
    pub(crate) absolute_timeout: SignedDuration,
    pub(crate) max_data_size: usize,
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
            max_data_size: Self::DEFAULT_MAX_DATA_SIZE,
            max_retries: 16,
            cookie: CookieConfig::default(),
            renewal: None,
            fingerprint: FingerprintPolicy::default(),
            guessing: Some(GuessingLimit::default()),
        }
    }
}

impl SessionConfig {
    /// The longest timeout, renewal interval or grace window accepted: 400 days, the longest
    /// lifetime browsers give a cookie. Longer is a mistake (a unit typed wrong) rather than a
    /// policy, and arithmetic on timestamps stays far from the end of time.
    pub const MAX_DURATION: SignedDuration = SignedDuration::from_hours(400 * 24);

    /// The default of [`with_max_data_size`](Self::with_max_data_size): 64 KiB.
    pub const DEFAULT_MAX_DATA_SIZE: usize = 64 * 1024;

    /// A session ends after this long without a request. The deadline moves forward at most
    /// once per half window, so an active session costs one store write per half window, not
    /// one per request. More than zero and at most [`MAX_DURATION`](Self::MAX_DURATION).
    pub fn with_idle_timeout(mut self, idle: SignedDuration) -> Self {
        self.idle_timeout = idle;
        self
    }

    /// A session ends this long after it began (after sign-in, for a signed-in session),
    /// however active it is. More than zero and at most [`MAX_DURATION`](Self::MAX_DURATION).
    pub fn with_absolute_timeout(mut self, absolute: SignedDuration) -> Self {
        self.absolute_timeout = absolute;
        self
    }

    /// The most a server-side session's data may hold, in bytes of its JSON encoding (keys and
    /// values, as the stores write them); 64 KiB by default. A write that would take the data
    /// past it fails with [`Error::SessionTooLarge`](crate::Error::SessionTooLarge) (413 at
    /// the HTTP layer): nothing of that request is saved and the stored session stays as it
    /// was. A request that only removes keys is never refused, so a session stored under a
    /// higher limit can still be trimmed.
    ///
    /// Measured only on requests that set a value, by one encoding pass that writes nothing.
    /// In the cookie modes the cookie's own limit
    /// ([`MAX_SET_COOKIE_LEN`](crate::cookie::MAX_SET_COOKIE_LEN), 4096 bytes of `Set-Cookie` header)
    /// is the one that binds, and is reported with the same error.
    pub fn with_max_data_size(mut self, bytes: usize) -> Self {
        self.max_data_size = bytes;
        self
    }

    /// How often a save that lost a race is retried before the request gets an explicit
    /// conflict error. Writers in one process take turns, so races come from other processes
    /// (or a copy that went stale before its turn, which one retry settles). A retry reloads
    /// the record and saves over it at once; the first goes without a pause, replaying on the
    /// record the lost save was answered with ([`SessionStore::save_if_or_current`]), and
    /// later ones pause before their reload, longer each time (from tens of microseconds to
    /// about 13 ms).
    ///
    /// [`SessionStore::save_if_or_current`]: crate::store::SessionStore::save_if_or_current
    pub fn with_max_retries(mut self, retries: u32) -> Self {
        self.max_retries = retries;
        self
    }

    /// Gives a session a new ID every `every`, limiting how long a stolen ID stays useful. The
    /// replaced ID keeps working for `grace` (a few seconds is enough); after that it is dead
    /// like any other. Off by default; server mode only. Both must be more than zero and at most
    /// [`MAX_DURATION`](Self::MAX_DURATION), and `grace` shorter than `every`.
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

    /// The data size limit, in bytes of encoded data.
    pub fn max_data_size(&self) -> usize {
        self.max_data_size
    }

    /// The cookie settings.
    pub fn cookie(&self) -> &CookieConfig {
        &self.cookie
    }

    /// Checks that the configuration can work; the manager's builder calls it.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] naming the setting when the idle or absolute timeout, the renewal
    /// interval or the renewal grace is zero, negative or longer than
    /// [`MAX_DURATION`](Self::MAX_DURATION), or the grace is not shorter than the interval
    /// (a request on a replaced ID is served its successor, one hop).
    pub fn validate(&self) -> Result<(), Error> {
        check_duration("idle timeout", self.idle_timeout)?;
        check_duration("absolute timeout", self.absolute_timeout)?;
        if let Some(renewal) = self.renewal {
            check_duration("ID renewal interval", renewal.every)?;
            check_duration("ID renewal grace", renewal.grace)?;
            if renewal.grace >= renewal.every {
                return Err(Error::Config(Cow::Owned(format!(
                    "the ID renewal grace ({}) must be shorter than the renewal interval ({})",
                    friendly(renewal.grace),
                    friendly(renewal.every)
                ))));
            }
        }
        Ok(())
    }
}

/// A duration setting: more than zero, at most [`SessionConfig::MAX_DURATION`].
fn check_duration(name: &'static str, value: SignedDuration) -> Result<(), Error> {
    if value.is_positive() && value <= SessionConfig::MAX_DURATION {
        return Ok(());
    }
    Err(Error::Config(Cow::Owned(format!(
        "the {name} must be more than zero and at most 400 days, not {}",
        friendly(value)
    ))))
}

/// `-5s`, `1h 30m`: a duration as a person types it, the sign in front.
fn friendly(value: SignedDuration) -> String {
    SpanPrinter::new()
        .designator(Designator::Compact)
        .direction(Direction::Sign)
        .duration_to_string(&value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_valid() {
        assert!(SessionConfig::default().validate().is_ok());
    }

    #[test]
    fn the_error_names_the_setting_and_the_value() {
        let err = SessionConfig::default()
            .with_idle_timeout(SignedDuration::from_secs(-5))
            .validate()
            .unwrap_err();
        assert!(err.is_config(), "{err}");
        let text = err.to_string();
        assert!(
            text.contains("idle timeout") && text.contains("-5s"),
            "{text}"
        );
    }
}
