//! SQL stores for sessionvault: SQLite, the embedded default (a file, created with its schema
//! on first use), and PostgreSQL, for several application servers sharing sessions. Both apply
//! their migrations themselves.
//!
//! A row holds the keyed hash of the session ID (never the ID), a version for
//! compare-and-set, whether it is live, the user for the devices index, the time it may be
//! deleted, and the record in its compact encoding ([`Record::to_compact`]: one-letter names,
//! times as nanoseconds), in a `BLOB` or `BYTEA` column. A touch writes the last-seen time and
//! idle deadline into two columns of their own rather than rewriting the record. Text from
//! outside is stored exactly as given, NUL (U+0000) included; PostgreSQL's TEXT refuses NUL,
//! so there a user holding one is indexed with U+FFFD in its place (lookups still match the
//! exact name only).
//!
//! Both stores write the same columns the same way (`row.rs`), the user in `user_id`. Each
//! migrates an older database when it opens it, in one transaction, and keeps its rows:
//! SQLite renames the user column of a version 1 database (called `user` there), and both add
//! the compact columns to a database that kept records as JSON (SQLite before version 3,
//! PostgreSQL before version 2). Such rows are read as they are and written compactly at their
//! next save. A row whose JSON column holds a record is read from it, so a process of the
//! older version still running during a rolling upgrade cannot be overruled by a stale compact
//! copy; it gets an error, not a misreading, for a row written compactly. Older code refuses
//! a migrated database when it starts.
//!
//! [`Record::to_compact`]: sessionvault::store::Record::to_compact
//!
//! An SQLite file is opened in WAL mode, and the store checkpoints its WAL on a connection of
//! its own shortly after writes, rather than in whichever request's commit takes the WAL past
//! SQLite's default limit: in a large file of random sessions that copy is as many page writes
//! as there were commits, and the request that made it waited for them. Commits still
//! checkpoint past 10,000 pages (by then a short copy), which lets a WAL that sustained writes
//! kept ahead of the task start again: about 40 MB of WAL file at most, where SQLite's
//! default keeps about 4. The task runs on the runtime the store was opened on and ends with
//! the store's last clone.
//!
//! ```no_run
//! use sessionvault::{Keyring, SessionManager};
//! use sessionvault_sqlx::SqliteStore;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let manager = SessionManager::builder(Keyring::generate()?)
//!     .with_store(SqliteStore::open("sessions.db").await?)
//!     .build()?;
//! # Ok(()) }
//! ```
//!
//! # Security
//!
//! - Rows are keyed by an HMAC-SHA256 of the session ID under a key derived from the keyring:
//!   a copy of the database holds nothing that works as a cookie.
//! - Every write is one statement, compare-and-set on the version; an ended session stays as a
//!   tombstone until it could no longer have lived, so no request can revive it.
//! - A failed query is an error, never "no session" or "saved". A PostgreSQL read whose pooled
//!   connection the server had closed (a restart, `pg_terminate_backend`) goes again on
//!   another; a write does not, since it may have been applied: it is an error.
//! - The database still holds what sessions hold (user names, addresses, user agents): protect
//!   it like other user data. PostgreSQL connections use TLS when the URL asks for it
//!   (`sslmode=require`).
//! - Forms that change state need CSRF protection whatever the store: `sessionvault-axum`'s
//!   `CsrfLayer`.
//!
//! Examples: `sessionvault-axum`'s `examples/counter.rs` runs on either store
//! (`--store sqlite:PATH` or `--store postgres://...`), as does the `sessionvault-demo` app.
//!
//! Each store sits behind a cargo feature, both on by default: `sqlite` for [`SqliteStore`],
//! `postgres` for [`PgStore`]. A build with one leaves the other's driver out.

#[cfg(feature = "sqlite")]
mod checkpoint;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod row;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod schema;
#[cfg(feature = "sqlite")]
mod sqlite;

#[cfg(feature = "postgres")]
pub use postgres::PgStore;
#[cfg(feature = "sqlite")]
pub use sqlite::SqliteStore;
