//! sessionvault keeps web sessions safe by default: secret keys that cannot be guessed, cookies
//! that cannot be forged, and sessions that can be shared byte for byte with Flask applications.
//!
//! An application builds one [`SessionManager`] at start-up and asks it for the [`Session`] of
//! each request; a framework layer (`sessionvault-axum`) does the cookie handling shown here.
//!
//! ```
//! use sessionvault::cookie::IncomingCookie;
//! use sessionvault::store::MemoryStore;
//! use sessionvault::{Keyring, RequestMeta, SessionManager};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // At start-up: a key that cannot be guessed, and a store for the sessions.
//! let manager = SessionManager::builder(Keyring::generate()?)
//!     .with_store(MemoryStore::new())
//!     .build()?;
//!
//! // A request without a cookie: the handler writes, the response sets the cookie.
//! let session = manager.session(IncomingCookie::Absent, RequestMeta::default());
//! session.insert("user_id", 42).await?;
//! let set_cookie = session.commit().await?.ok_or("a new session sets its cookie")?;
//! assert!(set_cookie.starts_with("__Host-session=") && set_cookie.contains("HttpOnly"));
//!
//! // The next request brings the cookie back and reads what the first one saved.
//! let (_, value) = set_cookie
//!     .split(';')
//!     .next()
//!     .and_then(|pair| pair.split_once('='))
//!     .ok_or("name=value")?;
//! let session = manager.session(IncomingCookie::One(value.into()), RequestMeta::default());
//! assert_eq!(session.get::<u64>("user_id").await?, Some(42));
//! # Ok(())
//! # }
//! ```
//!
//! # Design overview
//!
//! - [`SessionManager`] and [`Session`]: the engine and the per-request handle; [`cookie`]
//!   holds what an HTTP layer needs to read the request's cookie. A request's
//!   reads see the stored session plus its own writes; its writes are recorded as a change set
//!   and saved after the handler by compare-and-set, replayed on the fresh record when another
//!   request saved first. [`Session::update`] does read-modify-write that concurrent requests
//!   cannot lose. Within one process, writers of one session take turns, each starting from
//!   the record the one before saved, so they do not lose races to each other, and the ones
//!   queued behind a save are saved together with one compare-and-set.
//! - [`store`]: the [`SessionStore`](store::SessionStore) trait (create-if-absent,
//!   compare-and-set, tombstones, a per-user index) and
//!   [`MemoryStore`](store::MemoryStore); SQL and Redis stores live in their own crates.
//! - [`Keyring`]: the secret that signs and the older secrets that still verify, each checked
//!   against a built-in list of published keys and for length, repeats, runs and words. Keys
//!   for each purpose (ID hashing, cookie sealing) are derived from it with HKDF, so no key does
//!   two jobs.
//! - [`flask`]: Flask's session cookie format (itsdangerous, tagged JSON, zlib) implemented to
//!   the byte, so a Rust service and a Flask application can read and write each other's
//!   sessions. [`sealed`]: encrypted cookies for apps without a store.
//! - [`SecurityEvent`]: what happened to sessions, through `tracing` (target
//!   `sessionvault::security`, with only a prefix of the keyed hash) and the application's
//!   [`EventSink`]s (hooks; [`EventCounts`] counts for metrics). Anomaly detection reports
//!   through them: a session used from another browser family or network
//!   ([`FingerprintPolicy`]), clients guessing IDs ([`GuessingLimit`]), ended sessions
//!   presented again.
//!
//! Non-goals: the core crate does no HTTP and no network I/O; frameworks and stores build on
//! it (`sessionvault-axum`, `sessionvault-sqlx`).
//!
//! # Flask cookies
//!
//! [`flask::FlaskCodec`] reads and writes Flask's session cookies, under a keyring that refuses
//! guessable secrets and still verifies cookies signed with the older ones:
//!
//! ```
//! use sessionvault::Keyring;
//! use sessionvault::flask::{FlaskCodec, Value};
//!
//! // A keyring refuses guessable secrets; the fallback still verifies old cookies.
//! let keyring = Keyring::new("5f0e3c1f8a2b4d6e9f7a1c3b5d7e9f0a2c4e6a8b0d1f3a5c7e9b2d4f6a8c0e1f")?
//!     .with_fallback("0d9c8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9c")?;
//! let codec = FlaskCodec::new(keyring);
//!
//! let session = sessionvault::flask::tagged_json::from_str(r#"{"user_id":42}"#)?;
//! let cookie = codec.sign(&session)?;
//! assert_eq!(codec.verify(&cookie)?.value(), &session);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Guarantees of server-side sessions
//!
//! 1. An ID is accepted only if this server issued it and it is live: not expired (idle or
//!    absolute), not ended, not replaced. An unknown ID is never adopted (strict mode).
//! 2. A request's writes are never silently lost to another request's: other keys merge,
//!    `update` re-runs on the fresh value, and what cannot be saved is an error (409).
//! 3. Once a session is ended (logout, revocation, new ID), no request, not even one in flight,
//!    can make it live again: ended sessions stay as tombstones for as long as they could have
//!    lived, and every reuse is reported.
//! 4. A store failure is never turned into "no session" or "saved": it is an error (503).
//! 5. The raw ID lives only in the cookie and in memory for one request; stores see an
//!    HMAC-SHA256 of it.
//!
//! The cookie modes ([`CookieMode::Sealed`], [`CookieMode::Flask`]) keep the session in the
//! cookie: expiry is enforced from deadlines inside the authenticated cookie. Given a store,
//! the manager keeps a denylist there, so an ended cookie session is refused like an ended
//! server session (guarantee 3, for logout and sign-out-everywhere). Without a store, nothing
//! remembers a logout: a cookie stays valid until it expires, and revoking is an error. A
//! cookie cannot merge concurrent writes (the browser keeps the last response's), so there
//! guarantee 2 becomes last-response-wins and [`Session::update`] is refused with a typed
//! error rather than lose increments silently.
//!
//! # Security properties
//!
//! - Secrets are zeroized on drop and never appear in `Debug` output or error messages.
//! - Signatures are compared in constant time, and nothing inside a cookie is parsed before its
//!   signature has been verified.
//! - Untrusted input never panics: every rejection is a typed [`Error`], and decompression is
//!   capped so a small cookie cannot inflate into a large allocation.
//! - Session IDs carry 256 bits from the OS CSPRNG; `Debug` never shows one, and events carry
//!   only a prefix of the keyed hash.
//! - Flask cookies are signed, not encrypted: anyone can read them (see
//!   [`flask::decode_unverified`]). Do not put secrets in them.

mod clock;
mod error;
mod events;
pub mod flask;
pub mod id;
mod keyring;
mod nanos;
pub mod sealed;
mod session;
pub mod store;
pub mod timeout;
pub mod tooling;

/// The `http` crate, whose `HeaderValue` carries `RequestMeta::user_agent`: the same version
/// this crate was built with.
pub use http;

pub use clock::{Clock, ManualClock, SystemClock};
pub use error::Error;
pub use events::{EndReason, EventCounts, EventSink, SecurityEvent};
pub use keyring::{Keyring, Secret};

/// Checks of a secret key's strength, and the length `Keyring::generate` uses: what a tool
/// that vets keys (such as `sessionvault audit-secret`) needs beside [`Keyring`].
pub mod key_strength {
    pub use crate::keyring::{
        Assessment, DEFAULT_GENERATED_LEN, HOW_TO_FIX, MIN_ESTIMATED_BITS, MIN_SECRET_LEN,
        WeakSecret, assess,
    };
}
pub use session::config::SessionConfig;
pub use session::cookie::{CookieConfig, SameSite};
pub use session::devices::SessionInfo;
pub use session::engine::CookieMode;
pub use session::fingerprint::{FingerprintPolicy, user_agent_family};
pub use session::guessing::GuessingLimit;
pub use session::handle::Session;
pub use session::manager::{SessionManager, SessionManagerBuilder};
pub use session::meta::RequestMeta;
pub use session::sign_in::Deadlines;
pub use session::state::CSRF_SECRET_KEY;

/// The session cookie as a request carries it: what an HTTP layer hands to
/// [`SessionManager::session`].
pub mod cookie {
    pub use crate::session::cookie::{
        CookieValue, IncomingCookie, MAX_SET_COOKIE_LEN, find_cookie,
    };
}
