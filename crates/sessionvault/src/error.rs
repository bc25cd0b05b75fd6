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

    /// A value cannot be written in the requested format, for example a datetime outside the
    /// years Python supports.
    #[error("cannot encode: {0}")]
    Unrepresentable(&'static str),
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

    /// True when the input could not be parsed at all.
    pub fn is_malformed(&self) -> bool {
        matches!(self, Self::Malformed(_) | Self::TooLarge { .. })
    }
}
