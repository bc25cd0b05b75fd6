//! sessionvault for axum: a tower [`SessionLayer`] and a [`Session`] extractor.
//!
//! ```no_run
//! use axum::{Router, routing::get};
//! use sessionvault::{Keyring, SessionManager, store::MemoryStore};
//! use sessionvault_axum::{Session, SessionError, SessionLayer};
//!
//! async fn count(session: Session) -> Result<String, SessionError> {
//!     let n = session.update("n", |n: Option<u64>| n.unwrap_or(0) + 1).await?;
//!     Ok(n.to_string())
//! }
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let manager = SessionManager::builder(Keyring::generate()?)
//!     .with_store(MemoryStore::new())
//!     .build()?;
//! let app: Router = Router::new()
//!     .route("/count", get(count))
//!     .layer(SessionLayer::new(manager));
//! # Ok(()) }
//! ```
//!
//! The layer is lazy: a request whose handler never touches the session costs no store I/O
//! and no cryptography. A request that only reads makes one store call, the load, and is
//! finished without waiting on anything after the handler (once per half idle window, a touch
//! of the idle deadline follows the load). When something changed, the layer saves it after
//! the handler; if that fails the response is replaced by an error (503 for a store failure,
//! 409 for a lost race, 413 for a session past its size limit), so a save is never reported as
//! done when it was not.
//!
//! # Behind a reverse proxy
//!
//! The layer takes the client's address from axum's `ConnectInfo<SocketAddr>` (serve with
//! `into_make_service_with_connect_info`). Behind a reverse proxy that is the proxy's address
//! for every client: the guessing limit then counts all clients as one (a refusing limit
//! refuses everyone's unknown cookies once one client guesses) and the fingerprint's network
//! never changes. Name the proxies with [`SessionLayer::with_trusted_proxies`]: the client's
//! address then comes from `X-Forwarded-For` (or `Forwarded`, RFC 7239), read only when the
//! connecting peer is one of them.
//!
//! ```no_run
//! # use sessionvault_axum::{SessionLayer, TrustedProxies};
//! # fn manager() -> sessionvault::SessionManager { unimplemented!() }
//! let layer = SessionLayer::new(manager())
//!     .with_trusted_proxies(TrustedProxies::new(["127.0.0.1", "10.0.0.0/8"])?);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # CSRF protection
//!
//! A cookie is sent with every request to the site, forged ones included. Install
//! [`CsrfLayer`] inside the session layer on every route that changes state: it checks a
//! token bound to the session (put [`CsrfToken::masked`] in each form) and the browser's Fetch
//! Metadata or `Origin`, and refuses with 403 otherwise. See the [`csrf`] module.
//!
//! ```no_run
//! # use axum::{Router, routing::get};
//! # use sessionvault_axum::{CsrfLayer, SessionLayer};
//! # fn manager() -> sessionvault::SessionManager { unimplemented!() }
//! let app: Router = Router::new()
//!     .route("/", get(|| async { "form" }).post(|| async { "done" }))
//!     .layer(CsrfLayer::new())
//!     .layer(SessionLayer::new(manager()));
//! ```
//!
//! # Security
//!
//! - The cookie is `__Host-`, `Secure`, `HttpOnly` and `SameSite=Lax` by default
//!   ([`sessionvault::CookieConfig`]); plain HTTP needs a setting whose name starts with
//!   `dangerous`.
//! - A save that fails never becomes a success: the response is replaced by 503, 409 or 413.
//! - Client addresses come from `X-Forwarded-For` or `Forwarded` only when the connecting peer
//!   is a proxy you named; otherwise a client could choose the address that the guessing limit
//!   and the fingerprint see.
//! - A handler that asks for a [`Session`] on a route without the layer gets
//!   [`MissingSession`] (500), never an empty session.
//! - The manager's guarantees and the threat model: the `sessionvault` crate docs and
//!   `docs/SECURITY.md`.
//!
//! # Examples
//!
//! - `examples/counter.rs`: a counter server on any store and cookie mode, with sign-in, the
//!   devices list and revoking (`cargo run -p sessionvault-axum --example counter`).
//! - `examples/floor.rs`: the cost floor of a session lookup, for the benchmarks.
//! - The `sessionvault-demo` crate: a login application with CSRF, devices, password change
//!   and monitoring.

pub mod csrf;
mod error;
mod extract;
mod layer;
mod proxy;

pub use csrf::{CsrfLayer, CsrfService, CsrfToken};
pub use error::SessionError;
pub use extract::{MissingSession, Session};
pub use layer::{ResponseFuture, SessionLayer, SessionService};
pub use proxy::{ForwardedHeader, InvalidProxy, TrustedProxies};
