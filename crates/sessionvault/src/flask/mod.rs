//! Flask's session cookie, byte for byte: itsdangerous' `URLSafeTimedSerializer` with Flask's
//! tagged JSON, HMAC-SHA1, the `hmac` key derivation and the salt `cookie-session`.
//!
//! ```text
//! cookie  = PAYLOAD "." TIMESTAMP "." SIGNATURE
//! PAYLOAD = base64url(json)  or  "." base64url(zlib(json))   (whichever is shorter)
//! key     = HMAC(secret, salt)
//! SIG     = base64url(HMAC(key, PAYLOAD "." TIMESTAMP))
//! ```
//!
//! Signing is not encryption: anyone can read a Flask cookie ([`decode_unverified`]); only the
//! key holder can make one that verifies.

mod compress;
mod json;
pub mod tagged_json;
mod value;

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::alphabet::URL_SAFE;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use hmac::{Hmac, Mac};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

pub use value::Value;

use crate::{Error, Keyring};

/// The salt Flask's `SecureCookieSessionInterface` signs with.
pub const FLASK_SALT: &str = "cookie-session";

/// Flask's default `PERMANENT_SESSION_LIFETIME` (31 days), which it applies as the maximum age
/// of every session cookie, permanent or not.
pub const FLASK_MAX_AGE: u64 = 2_678_400;

/// The longest cookie [`FlaskCodec::verify`] looks at by default. Browsers keep at most 4096
/// bytes of name and value; twice that leaves room for other clients without inviting abuse.
pub const DEFAULT_MAX_COOKIE_LEN: usize = 8192;

/// How many bytes a compressed payload may inflate to by default.
pub const DEFAULT_MAX_INFLATED_LEN: usize = 1 << 20;

/// URL-safe base64 without padding, as itsdangerous writes it; on reading, padding and
/// non-zero trailing bits are tolerated as Python's decoder tolerates them.
const B64: GeneralPurpose = GeneralPurpose::new(
    &URL_SAFE,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// The hash behind the HMAC. Flask uses SHA-1; itsdangerous accepts any hashlib digest, so other
/// applications may sign with SHA-256 or SHA-512.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Digest {
    /// HMAC-SHA1, Flask's choice.
    #[default]
    Sha1,
    /// HMAC-SHA256.
    Sha256,
    /// HMAC-SHA512.
    Sha512,
}

impl Digest {
    /// The MAC length in bytes.
    pub fn output_len(self) -> usize {
        match self {
            Self::Sha1 => 20,
            Self::Sha256 => 32,
            Self::Sha512 => 64,
        }
    }

    /// HMAC of the concatenation of `parts` under `key`, in a fixed buffer (no allocation).
    fn hmac(self, key: &[u8], parts: &[&[u8]]) -> MacOutput {
        fn run<M: Mac + hmac::digest::KeyInit>(key: &[u8], parts: &[&[u8]]) -> MacOutput {
            // HMAC takes keys of any length, so new_from_slice cannot fail.
            let mut mac = <M as hmac::digest::KeyInit>::new_from_slice(key)
                .unwrap_or_else(|_| unreachable!("HMAC accepts keys of every length"));
            for part in parts {
                mac.update(part);
            }
            let tag = mac.finalize().into_bytes();
            let mut out = MacOutput {
                bytes: [0; 64],
                len: tag.len(),
            };
            out.bytes[..tag.len()].copy_from_slice(&tag);
            out
        }
        match self {
            Self::Sha1 => run::<Hmac<sha1::Sha1>>(key, parts),
            Self::Sha256 => run::<Hmac<sha2::Sha256>>(key, parts),
            Self::Sha512 => run::<Hmac<sha2::Sha512>>(key, parts),
        }
    }
}

struct MacOutput {
    bytes: [u8; 64],
    len: usize,
}

impl MacOutput {
    fn as_slice(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

/// Signs and verifies Flask session cookies.
///
/// Built once per application: the per-key derivation `HMAC(secret, salt)` is done here, not
/// per cookie.
///
/// # Examples
///
/// ```
/// use sessionvault::flask::{FlaskCodec, Value};
/// use sessionvault::Keyring;
///
/// let keyring = Keyring::new("5f0e3c1f8a2b4d6e9f7a1c3b5d7e9f0a2c4e6a8b0d1f3a5c7e9b2d4f6a8c0e1f")?;
/// let codec = FlaskCodec::new(keyring);
/// let mut session = Value::new_dict();
/// if let Value::Dict(map) = &mut session {
///     map.insert("user_id".into(), Value::Int(42));
/// }
/// let cookie = codec.sign_at(&session, 1_700_000_000)?;
/// let verified = codec.verify_at(&cookie, 1_700_000_100)?;
/// assert_eq!(verified.value(), &session);
/// assert!(codec.verify_at(&cookie, 1_700_000_000 + 40 * 86_400).unwrap_err().is_expired());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct FlaskCodec {
    keyring: Keyring,
    digest: Digest,
    salt: Vec<u8>,
    /// `HMAC(secret, salt)` for each secret of the keyring, current first.
    derived: Vec<Zeroizing<Vec<u8>>>,
    max_age: Option<u64>,
    max_cookie_len: usize,
    max_inflated_len: usize,
}

impl std::fmt::Debug for FlaskCodec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FlaskCodec")
            .field("digest", &self.digest)
            .field("salt", &String::from_utf8_lossy(&self.salt))
            .field("keys", &self.derived.len())
            .field("max_age", &self.max_age)
            .finish_non_exhaustive()
    }
}

impl FlaskCodec {
    /// A codec with Flask's defaults: salt `cookie-session`, HMAC-SHA1, maximum age 31 days.
    pub fn new(keyring: Keyring) -> Self {
        let mut codec = Self {
            keyring,
            digest: Digest::Sha1,
            salt: FLASK_SALT.as_bytes().to_vec(),
            derived: Vec::new(),
            max_age: Some(FLASK_MAX_AGE),
            max_cookie_len: DEFAULT_MAX_COOKIE_LEN,
            max_inflated_len: DEFAULT_MAX_INFLATED_LEN,
        };
        codec.derive();
        codec
    }

    fn derive(&mut self) {
        self.derived = self
            .keyring
            .all()
            .iter()
            .map(|secret| {
                Zeroizing::new(
                    self.digest
                        .hmac(secret.expose(), &[&self.salt])
                        .as_slice()
                        .to_vec(),
                )
            })
            .collect();
    }

    /// Signs and verifies with another salt: a cookie signed for one purpose is then refused
    /// for every other.
    pub fn with_salt(self, salt: impl AsRef<[u8]>) -> Self {
        let mut codec = Self {
            salt: salt.as_ref().to_vec(),
            ..self
        };
        codec.derive();
        codec
    }

    /// Signs and verifies with another hash.
    pub fn with_digest(self, digest: Digest) -> Self {
        let mut codec = Self { digest, ..self };
        codec.derive();
        codec
    }

    /// The maximum age in seconds; `None` accepts any age (itsdangerous without `max_age`).
    pub fn with_max_age(self, max_age: Option<u64>) -> Self {
        Self { max_age, ..self }
    }

    /// The longest cookie value looked at, in bytes.
    pub fn with_max_cookie_len(self, max_cookie_len: usize) -> Self {
        Self {
            max_cookie_len,
            ..self
        }
    }

    /// How many bytes a compressed payload may inflate to.
    pub fn with_max_inflated_len(self, max_inflated_len: usize) -> Self {
        Self {
            max_inflated_len,
            ..self
        }
    }

    /// Signs a session with the current key at the system clock's time.
    ///
    /// # Errors
    ///
    /// [`Error::Unrepresentable`] when a value has no tagged JSON form.
    pub fn sign(&self, session: &Value) -> Result<String, Error> {
        self.sign_at(session, unix_now())
    }

    /// Signs a session with the current key as if the time were `timestamp` (Unix seconds).
    ///
    /// # Errors
    ///
    /// [`Error::Unrepresentable`] when a value has no tagged JSON form.
    pub fn sign_at(&self, session: &Value, timestamp: u64) -> Result<String, Error> {
        Ok(self.sign_raw_at(&tagged_json::to_string(session)?, timestamp))
    }

    /// Signs an exact tagged JSON text as-is, as Flask would sign the same text
    /// ([`crate::tooling::sign_raw_at`] outside the crate).
    pub(crate) fn sign_raw_at(&self, tagged_json: &str, timestamp: u64) -> String {
        let raw = tagged_json.as_bytes();
        let compressed = compress::compress(raw);
        let mut cookie = String::with_capacity(raw.len() * 4 / 3 + 48);
        if compressed.len() + 1 < raw.len() {
            cookie.push('.');
            B64.encode_string(&compressed, &mut cookie);
        } else {
            B64.encode_string(raw, &mut cookie);
        }
        cookie.push('.');
        let ts = timestamp.to_be_bytes();
        let first = ts.iter().position(|b| *b != 0).unwrap_or(ts.len());
        B64.encode_string(&ts[first..], &mut cookie);
        let sig = self.digest.hmac(&self.derived[0], &[cookie.as_bytes()]);
        cookie.push('.');
        B64.encode_string(sig.as_slice(), &mut cookie);
        cookie
    }

    /// Verifies a cookie at the system clock's time.
    ///
    /// # Errors
    ///
    /// As [`FlaskCodec::verify_at`].
    pub fn verify(&self, cookie: &str) -> Result<Verified, Error> {
        self.verify_at(cookie, unix_now())
    }

    /// Verifies a cookie as if the time were `now` (Unix seconds): the signature under the
    /// current key or any fallback, then the age, then the contents. Nothing inside the cookie
    /// is looked at before its signature checks out.
    ///
    /// # Errors
    ///
    /// - [`Error::TooLarge`]: the cookie, or its inflated payload, is over the limit.
    /// - [`Error::Malformed`]: not three base64 parts, or contents that do not decode.
    /// - [`Error::BadSignature`]: no key produced this signature.
    /// - [`Error::Expired`] / [`Error::FromTheFuture`]: good signature, age out of range.
    pub fn verify_at(&self, cookie: &str, now: u64) -> Result<Verified, Error> {
        if cookie.len() > self.max_cookie_len {
            return Err(Error::TooLarge {
                len: cookie.len(),
                limit: self.max_cookie_len,
            });
        }
        let (signed, sig_b64) = cookie.rsplit_once('.').ok_or_else(|| {
            Error::malformed("no signature (expected PAYLOAD.TIMESTAMP.SIGNATURE)")
        })?;
        let mut sig = [0u8; 64];
        let sig_len = B64
            .decode_slice(sig_b64, &mut sig)
            .map_err(|_| Error::BadSignature)?;
        let sig = &sig[..sig_len];
        let key_index = self
            .derived
            .iter()
            .position(|key| {
                let expected = self.digest.hmac(key, &[signed.as_bytes()]);
                bool::from(expected.as_slice().ct_eq(sig))
            })
            .ok_or(Error::BadSignature)?;

        let (payload, ts_b64) = signed
            .rsplit_once('.')
            .ok_or_else(|| Error::malformed("no timestamp"))?;
        let timestamp = decode_timestamp(ts_b64)?;
        if let Some(max_age) = self.max_age {
            check_age(timestamp, now, max_age)?;
        }
        let raw_json = decode_payload(payload, self.max_inflated_len)?;
        let value = tagged_json::from_str(&raw_json)?;
        Ok(Verified {
            value,
            raw_json,
            timestamp,
            key_index,
        })
    }
}

/// A session whose signature was checked. Only [`FlaskCodec::verify_at`] makes one.
#[derive(Debug)]
pub struct Verified {
    value: Value,
    raw_json: String,
    timestamp: u64,
    key_index: usize,
}

impl Verified {
    /// The session.
    pub fn value(&self) -> &Value {
        &self.value
    }

    /// Takes the session out.
    pub fn into_value(self) -> Value {
        self.value
    }

    /// The tagged JSON exactly as the signer serialized it.
    pub fn raw_json(&self) -> &str {
        &self.raw_json
    }

    /// When it was signed, in Unix seconds.
    pub fn timestamp(&self) -> u64 {
        self.timestamp
    }

    /// Which key verified it: 0 for the current key, 1 for the first fallback and so on. A
    /// cookie under a fallback should be re-signed with the current key.
    pub fn key_index(&self) -> usize {
        self.key_index
    }
}

/// A cookie read without checking its signature: what anyone who sees the cookie learns.
#[derive(Debug)]
pub struct Unverified {
    /// The session, if its JSON parses as tagged JSON.
    pub value: Result<Value, Error>,
    /// The inner JSON text as the signer serialized it.
    pub raw_json: String,
    /// When it claims it was signed (Unix seconds), if the timestamp part decodes.
    pub timestamp: Option<u64>,
    /// Whether the payload was compressed.
    pub compressed: bool,
}

/// Reads a Flask cookie without any key. Nothing here is authenticated: this is what an
/// attacker who captured the cookie sees.
///
/// # Errors
///
/// [`Error::Malformed`] or [`Error::TooLarge`] when the payload cannot be decoded at all.
pub fn decode_unverified(cookie: &str) -> Result<Unverified, Error> {
    if cookie.len() > DEFAULT_MAX_COOKIE_LEN * 4 {
        return Err(Error::TooLarge {
            len: cookie.len(),
            limit: DEFAULT_MAX_COOKIE_LEN * 4,
        });
    }
    let mut parts = cookie.rsplitn(3, '.');
    let _sig = parts.next();
    let ts = parts.next();
    let payload = parts
        .next()
        .ok_or_else(|| Error::malformed("expected PAYLOAD.TIMESTAMP.SIGNATURE"))?;
    let raw_json = decode_payload(payload, DEFAULT_MAX_INFLATED_LEN)?;
    Ok(Unverified {
        value: tagged_json::from_str(&raw_json),
        timestamp: ts.and_then(|t| decode_timestamp(t).ok()),
        compressed: payload.starts_with('.'),
        raw_json,
    })
}

fn decode_payload(payload: &str, max_inflated_len: usize) -> Result<String, Error> {
    let (compressed, b64) = match payload.strip_prefix('.') {
        Some(rest) => (true, rest),
        None => (false, payload),
    };
    let bytes = B64
        .decode(b64)
        .map_err(|_| Error::malformed("payload is not base64url"))?;
    let json = if compressed {
        compress::decompress(&bytes, max_inflated_len)?
    } else {
        bytes
    };
    String::from_utf8(json).map_err(|_| Error::malformed("payload is not UTF-8"))
}

/// The timestamp part: big-endian bytes, leading zeros stripped. More than eight significant
/// bytes is a time past `u64`, which can only be in the future.
fn decode_timestamp(ts_b64: &str) -> Result<u64, Error> {
    let bytes = B64
        .decode(ts_b64)
        .map_err(|_| Error::malformed("timestamp is not base64url"))?;
    let first = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    let significant = &bytes[first..];
    if significant.len() > 8 {
        return Ok(u64::MAX);
    }
    let mut be = [0u8; 8];
    be[8 - significant.len()..].copy_from_slice(significant);
    Ok(u64::from_be_bytes(be))
}

/// itsdangerous' rule: refuse `age > max_age` and `age < 0`; an age equal to the maximum
/// passes.
fn check_age(timestamp: u64, now: u64, max_age: u64) -> Result<(), Error> {
    if timestamp > now {
        return Err(Error::FromTheFuture {
            ahead: timestamp - now,
        });
    }
    let age = now - timestamp;
    if age > max_age {
        return Err(Error::Expired { age, max_age });
    }
    Ok(())
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests;
