//! The one error type of the core crate.

use std::borrow::Cow;

use crate::keyring::WeakSecret;

/// Everything that can go wrong in the core crate.
///
/// Messages never include a secret, a session ID or the bytes of an untrusted cookie, so they are
/// safe to log and to show.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A secret given to a [`Keyring`](crate::Keyring) is guessable: too short, a known default,
    /// a pattern or words. The message says which and how to make a good one.
    #[error(transparent)]
    WeakSecret(#[from] WeakSecret),

    /// The input does not have the shape of the thing it claims to be: wrong number of parts,
    /// invalid base64, a zlib stream that does not inflate, JSON that does not parse, or a tag
    /// holding the wrong kind of value. Likely cause: a truncated or hand-edited cookie, or a
    /// cookie from another application.
    #[error("malformed: {0}")]
    Malformed(Cow<'static, str>),

    /// No key in the keyring produced this signature. Likely cause: tampering, a cookie signed
    /// with a key that has since been retired, or a different salt.
    #[error("bad signature")]
    BadSignature,

    /// The signature is good but older than the allowed maximum age.
    #[error("expired: signed {age} s ago, the maximum age is {max_age} s")]
    Expired {
        /// Seconds since the cookie was signed.
        age: u64,
        /// The maximum age that was allowed.
        max_age: u64,
    },

    /// The signature is good but its timestamp lies after the verifier's clock. Likely cause:
    /// clock skew between servers, or a forged timestamp signed with a leaked key.
    #[error("timestamp in the future: {ahead} s ahead of the clock")]
    FromTheFuture {
        /// How many seconds ahead of now the timestamp is.
        ahead: u64,
    },

    /// The input, or what it decompresses to, is larger than the configured limit.
    #[error("too large: {len} bytes or more, the limit is {limit}")]
    TooLarge {
        /// The size that was seen (at least this many bytes).
        len: usize,
        /// The limit in force.
        limit: usize,
    },

    /// A write would take the session past its size limit: in server mode, the encoded data
    /// past [`SessionConfig::with_max_data_size`](crate::SessionConfig::with_max_data_size); in
    /// the cookie modes, the `Set-Cookie` header past
    /// [`MAX_SET_COOKIE_LEN`](crate::cookie::MAX_SET_COOKIE_LEN). Nothing of this request was
    /// saved and the stored session is as it was (413). Likely cause: a handler storing
    /// unbounded user input in the session.
    #[error("the session would grow to {size} bytes, past its limit of {limit}; nothing was saved")]
    SessionTooLarge {
        /// The limit in force, in bytes.
        limit: usize,
        /// The size the write would have made, in bytes.
        size: usize,
    },

    /// The configuration cannot work: a timeout, renewal interval or grace window that is zero,
    /// negative or longer than [`SessionConfig::MAX_DURATION`](crate::SessionConfig::MAX_DURATION),
    /// or server mode without a store. The message names the setting. Returned by
    /// [`SessionManagerBuilder::build`](crate::SessionManagerBuilder::build), before any request;
    /// and by [`SessionManager::revoke_all_for_user`](crate::SessionManager::revoke_all_for_user)
    /// and [`Session::revoke_others`](crate::Session::revoke_others) in a cookie mode without a
    /// store, where nothing can take a signed cookie back.
    #[error("invalid session configuration: {0}")]
    Config(Cow<'static, str>),

    /// A value cannot be written in the requested format, for example a datetime outside the
    /// years Python supports.
    #[error("cannot encode: {0}")]
    Unrepresentable(&'static str),

    /// The session store failed (down, timed out, unreadable answer). Nothing was saved; the
    /// request should fail with 503.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),

    /// Concurrent requests kept changing the session while this one tried to save, more times
    /// than the configured retries. Nothing of this request was saved (409).
    #[error("the session kept changing under concurrent requests; nothing was saved")]
    Conflict,

    /// The session was ended (logout, revocation, expiry) while this request ran. Its changes
    /// were dropped rather than bring the session back (409).
    #[error("the session was ended while this request ran; its changes were dropped")]
    SessionEnded,

    /// The session's ID was replaced while this request ran on the old one: by a sign-in or
    /// [`Session::cycle_id`](crate::Session::cycle_id) (a privilege change, across which no
    /// write is carried), or by a renewal whose grace period has passed. Its changes were
    /// dropped, and the cookie is left alone: the response that replaced the ID sets the new
    /// one, and clearing it here could sign the user out (409).
    #[error("the session's ID was replaced while this request ran; its changes were dropped")]
    IdChanged,

    /// [`Session::update`](crate::Session::update) was called on a session held in the cookie
    /// ([`CookieMode::Sealed`](crate::CookieMode::Sealed) or
    /// [`CookieMode::Flask`](crate::CookieMode::Flask)). A cookie cannot merge concurrent
    /// writes: parallel requests carrying one cookie each answer with a cookie of their own and
    /// the browser keeps the last, so `update`'s promise that every call counts cannot be kept.
    /// Read with `get` and write with `insert` (the last response wins), or use server mode.
    /// Nothing was changed; a programming error, not the client's (500).
    #[error(
        "update needs server mode: a session held in the cookie cannot merge concurrent updates"
    )]
    UpdateNeedsServerMode,

    /// A session value could not be converted to or from the requested type. The message
    /// names the key, not the value.
    #[error("session value {key:?} does not have the requested type")]
    ValueType {
        /// The session key.
        key: String,
    },

    /// Something the code rules out happened anyway; a bug worth reporting.
    #[error("internal error: {0}")]
    Unreachable(&'static str),

    /// This client presented too many unknown or forged session cookies and is refused for a
    /// while (see [`GuessingLimit`](crate::GuessingLimit)): answer with 429.
    #[error("too many unknown session cookies from this client; try again later")]
    Throttled,

    /// The operating system's random generator failed.
    #[error("the operating system's random generator failed")]
    Random,
}

impl Error {
    pub(crate) fn malformed(what: impl Into<Cow<'static, str>>) -> Self {
        Self::Malformed(what.into())
    }

    /// True for a signature that did not verify under any key.
    pub fn is_bad_signature(&self) -> bool {
        matches!(self, Self::BadSignature)
    }

    /// True when the signature was good but the timestamp was out of the allowed window, too
    /// old or in the future.
    pub fn is_expired(&self) -> bool {
        matches!(self, Self::Expired { .. } | Self::FromTheFuture { .. })
    }

    /// True for a store failure (answer with 503).
    pub fn is_store(&self) -> bool {
        matches!(self, Self::Store(_))
    }

    /// True when the request lost a race it could not win: answer with 409.
    pub fn is_conflict(&self) -> bool {
        matches!(self, Self::Conflict | Self::SessionEnded | Self::IdChanged)
    }

    /// True when the client is refused for guessing session IDs: answer with 429.
    pub fn is_throttled(&self) -> bool {
        matches!(self, Self::Throttled)
    }

    /// True when a write was refused for making the session too large: answer with 413.
    pub fn is_session_too_large(&self) -> bool {
        matches!(self, Self::SessionTooLarge { .. })
    }

    /// True for a configuration that cannot work: found when the manager is built, or when a
    /// revocation needs the store the manager lacks.
    pub fn is_config(&self) -> bool {
        matches!(self, Self::Config(_))
    }

    /// True when the input could not be parsed at all.
    pub fn is_malformed(&self) -> bool {
        matches!(self, Self::Malformed(_) | Self::TooLarge { .. })
    }
}
