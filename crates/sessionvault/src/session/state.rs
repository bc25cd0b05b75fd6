//! The state of one request's session: what it loaded, the writes it recorded and how they
//! apply, what it asked for (sign-in, new ID, logout), and what the response does with the
//! cookie.

use std::collections::BTreeMap;
use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};

use super::cookie::IncomingCookie;
use super::engine::Engine;
use super::meta::RequestMeta;
use crate::Error;
use crate::clock::later;
use crate::id::{SessionId, StoreKey};
use crate::store::{Record, RecordState};

/// The session key under which CSRF protection keeps its secret (`sessionvault-axum`'s
/// `CsrfLayer`, and any other layer that shares the session). It is bound to the privilege the
/// session carries: [`Session::login`], [`Session::cycle_id`] and a re-authentication demanded
/// by the fingerprint policy drop it, so a token learnt before the change is refused after it
/// and the next page gets a fresh one. Periodic ID renewal keeps it: no privilege changes, and
/// forms already open in the browser must still post.
///
/// [`Session::login`]: crate::Session::login
/// [`Session::cycle_id`]: crate::Session::cycle_id
pub const CSRF_SECRET_KEY: &str = "_csrf";

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

/// A read-modify-write in progress: the key and the function that computes its new value.
pub(crate) type Update<'a> = (
    &'a str,
    &'a (dyn Fn(Option<serde_json::Value>) -> Result<serde_json::Value, Error> + Send + Sync),
);

/// What the request works on.
#[derive(Debug)]
pub(crate) enum Loaded {
    /// Nothing asked yet: the cookie has not been looked at.
    NotYet,
    /// No session: the cookie was absent, unknown, ended or invalid.
    New,
    /// A live session: shared with the store that lent it (a read copies nothing), copied on
    /// the first change.
    Existing(Arc<Record>),
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
    /// The request's cookie, until it is loaded.
    pub(crate) incoming: IncomingCookie,
    pub(crate) meta: RequestMeta,
    pub(crate) loaded: Loaded,
    pub(crate) changes: Vec<Change>,
    /// A new ID was asked for (`cycle_id`, `login`, a re-authentication).
    pub(crate) cycle: bool,
    pub(crate) login: Option<String>,
    pub(crate) destroy: bool,
    /// The cookie presented was stale, forged or ended: clear it unless a new one replaces it.
    pub(crate) clear_stale: bool,
    pub(crate) committed: bool,
    pub(crate) server: ServerState,
    pub(crate) cookie: CookieState,
}

/// What only server mode keeps about a request.
#[derive(Default)]
pub(crate) struct ServerState {
    /// The fingerprint policy asked for re-authentication: the sign-in time is dropped from
    /// the stored session at commit.
    pub(crate) stale_auth: bool,
    /// When the session was loaded from the store.
    pub(crate) loaded_at: Option<Timestamp>,
    /// A session created during this request (new, cycled, or by `update`): the response sets
    /// its ID.
    pub(crate) issued: Option<SessionId>,
    /// The cookie named a session renewed moments ago: this request works on the successor
    /// within the grace period and must not renew again.
    pub(crate) via_grace: bool,
    /// The cookie named a session a sign-in or `cycle_id` replaced moments ago: the cookie is
    /// left alone and writes are refused.
    pub(crate) after_id_change: bool,
}

/// What only the cookie modes keep about a request.
#[derive(Default)]
pub(crate) struct CookieState {
    /// The session's denylist ID.
    pub(crate) sid: Option<String>,
    /// Re-issue the cookie as of now, so that a sign-out-everywhere just filed spares it.
    pub(crate) bump_issued: bool,
    /// The cookie was sealed or signed with a fallback key: the response re-issues it under
    /// the current key, so that retiring the old key logs nobody out.
    pub(crate) reissue: bool,
}

impl State {
    pub(crate) fn new(incoming: IncomingCookie, meta: RequestMeta) -> Self {
        Self {
            incoming,
            meta,
            loaded: Loaded::NotYet,
            changes: Vec::new(),
            cycle: false,
            login: None,
            destroy: false,
            clear_stale: false,
            committed: false,
            server: ServerState::default(),
            cookie: CookieState::default(),
        }
    }

    /// The loaded session, unless it is being ended by this request.
    pub(crate) fn live_record(&self) -> Option<&Arc<Record>> {
        match &self.loaded {
            Loaded::Existing(record) if !self.destroy => Some(record),
            _ => None,
        }
    }

    /// One key as the handler sees it, without copying the rest of the session: the latest
    /// change to it in this request, else the loaded value.
    pub(crate) fn lookup(&self, key: &str) -> Option<&serde_json::Value> {
        for change in self.changes.iter().rev() {
            match change {
                Change::Set(k, v) if k == key => return Some(v),
                Change::Remove(k) if k == key => return None,
                Change::Clear => return None,
                _ => {}
            }
        }
        self.live_record()?.data.get(key)
    }

    /// The session as the handler sees it: the loaded data with this request's changes applied.
    pub(crate) fn view(&self) -> BTreeMap<String, serde_json::Value> {
        let mut data = self
            .live_record()
            .map(|record| record.data.clone())
            .unwrap_or_default();
        apply(&self.changes, &mut data);
        data
    }

    /// A privilege change: the CSRF secret goes, so that the next page gets a fresh one.
    pub(crate) fn drop_csrf_secret(&mut self) {
        if self.lookup(CSRF_SECRET_KEY).is_some() {
            self.changes.push(Change::Remove(CSRF_SECRET_KEY.into()));
        }
    }

    /// The `Set-Cookie` header that carries out `action`, if one is needed.
    pub(crate) fn cookie_header(
        &self,
        engine: &Engine,
        action: CookieAction,
    ) -> Result<Option<String>, Error> {
        let cookie = &engine.config.cookie;
        Ok(match action {
            CookieAction::Keep if self.clear_stale => Some(cookie.clear_header()),
            CookieAction::Keep => None,
            CookieAction::Clear => Some(cookie.clear_header()),
            CookieAction::Set(value) => {
                Some(engine.set_cookie_header(&value, self.max_age(engine))?)
            }
        })
    }

    fn max_age(&self, engine: &Engine) -> Option<i64> {
        match &self.loaded {
            Loaded::Existing(record) => Some(
                record
                    .absolute_deadline
                    .duration_since(engine.now())
                    .as_secs(),
            ),
            _ => None,
        }
    }
}

/// A live record with no data, no user and no client facts, begun at `now` with these
/// deadlines: what each kind of record starts from.
pub(crate) fn blank_record(
    key: StoreKey,
    now: Timestamp,
    idle: Timestamp,
    absolute: Timestamp,
) -> Record {
    Record {
        key,
        version: 0,
        state: RecordState::Live,
        data: BTreeMap::new(),
        user: None,
        auth_time: None,
        created: now,
        id_issued: now,
        last_seen: now,
        idle_deadline: idle,
        absolute_deadline: absolute,
        user_agent: None,
        ip: None,
        expires_at: absolute,
    }
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
