//! SQL stores for sessionvault: SQLite, the embedded default (a file, created with its schema
//! on first use), and PostgreSQL, for several application servers sharing sessions. Both apply
//! their migrations themselves.
//!
//! A row holds the keyed hash of the session ID (never the ID), a version for
//! compare-and-set, whether it is live, the user for the devices index, the time it may be
//! deleted, and the record as JSON.

mod postgres;
mod schema;
mod sqlite;

pub use postgres::PgStore;
pub use sqlite::SqliteStore;
