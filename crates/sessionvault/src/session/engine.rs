//! The engine shared by all requests of a manager: store, keys, clock, configuration, events,
//! and where sessions live.

use std::net::IpAddr;
use std::sync::Arc;

use jiff::Timestamp;

use super::config::SessionConfig;
use super::cookie::MAX_SET_COOKIE_LEN;
use super::guessing::GuessingDetector;
use super::turns::Turns;
use crate::Error;
use crate::clock::Clock;
use crate::events::{EventSink, SecurityEvent, emit};
use crate::flask::FlaskCodec;
use crate::id::IdHasher;
use crate::sealed::SealedCodec;
use crate::store::SessionStore;

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
    /// last-response-wins, and [`Session::update`](crate::Session::update), whose promise is
    /// that every concurrent call counts, is refused with [`Error::UpdateNeedsServerMode`]. Use
    /// server mode for counters and anything else that must add up.
    Sealed,
    /// The cookie is a Flask session cookie, signed but readable, to share sessions with a
    /// Flask application using the same secret key. Given a store, it keeps a denylist as in
    /// [`CookieMode::Sealed`], and like it refuses [`Session::update`](crate::Session::update).
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

/// Where the engine keeps sessions, with what that needs: [`CookieMode`] made ready for work.
/// Only [`super::mode`] tells them apart.
pub(crate) enum Mode {
    /// In the store, under an ID the cookie carries.
    Server,
    /// In the cookie itself, in one of two formats.
    Cookie(CookieCodec),
}

/// The format of a session held in the cookie.
pub(crate) enum CookieCodec {
    Sealed(SealedCodec),
    Flask(FlaskCodec),
}

pub(crate) struct Engine {
    pub(crate) store: Arc<dyn SessionStore>,
    pub(crate) hasher: IdHasher,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) config: SessionConfig,
    pub(crate) events: Vec<Arc<dyn EventSink>>,
    pub(crate) mode: Mode,
    pub(crate) guessing: GuessingDetector,
    /// Cookie modes given a store: the store keeps a denylist (see [`super::denylist`]).
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

    /// Emits the store-error event for a store failure, and passes every error on.
    pub(crate) fn report(&self, error: Error) -> Error {
        if error.is_store() {
            self.emit(SecurityEvent::StoreError);
        }
        error
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

    /// The `Set-Cookie` header for `value`, or [`Error::SessionTooLarge`] (and an event) when
    /// it would pass what browsers keep: an error, never a cookie the browser silently drops.
    pub(crate) fn set_cookie_header(
        &self,
        value: &str,
        max_age: Option<i64>,
    ) -> Result<String, Error> {
        let header = self.config.cookie.set_header(value, max_age);
        if header.len() > MAX_SET_COOKIE_LEN {
            self.emit(SecurityEvent::SizeLimit {
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
}
