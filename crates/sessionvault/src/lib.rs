//! sessionvault keeps web sessions safe by default: secret keys that cannot be guessed, cookies
//! that cannot be forged, and sessions that can be shared byte for byte with Flask applications.
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
//! # Design overview
//!
//! - [`Keyring`]: the secret that signs and the older secrets that still verify, each checked
//!   against a built-in list of published keys and for length, repeats, runs and words.
//! - [`flask`]: Flask's session cookie format (itsdangerous, tagged JSON, zlib) implemented to the
//!   byte, so a Rust service and a Flask application can read and write each other's sessions.
//!
//! Non-goals: the core crate does no HTTP and no I/O; frameworks and stores build on it.
//!
//! # Security properties
//!
//! - Secrets are zeroized on drop and never appear in `Debug` output or error messages.
//! - Signatures are compared in constant time, and nothing inside a cookie is parsed before its
//!   signature has been verified.
//! - Untrusted input never panics: every rejection is a typed [`Error`], and decompression is
//!   capped so a small cookie cannot inflate into a large allocation.
//! - Flask cookies are signed, not encrypted: anyone can read them (see
//!   [`flask::decode_unverified`]). Do not put secrets in them.

pub mod clock;
pub mod error;
pub mod events;
pub mod flask;
pub mod id;
pub mod keyring;
pub mod sealed;
pub mod session;
pub mod store;

pub use clock::{Clock, ManualClock, SystemClock};
pub use error::Error;
pub use events::{EndReason, EventSink, SecurityEvent};
pub use keyring::{Keyring, Secret};
pub use session::{
    CookieConfig, CookieMode, Deadlines, RequestMeta, Session, SessionConfig, SessionInfo,
    SessionManager,
};
pub use store::{MemoryStore, Record, SessionStore, StoreError};
