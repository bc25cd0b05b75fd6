//! sessionvault for axum: a tower [`SessionLayer`] and a [`Session`] extractor.
//!
//! ```no_run
//! use axum::{Router, routing::get};
//! use sessionvault::{Keyring, MemoryStore, SessionManager};
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

pub mod csrf;
mod error;
mod extract;
mod layer;

pub use csrf::{CsrfLayer, CsrfService, CsrfToken};
pub use error::SessionError;
pub use extract::Session;
pub use layer::{ResponseFuture, SessionLayer, SessionService};
