//! SQL stores for sessionvault: SQLite, the embedded default (a file, created with its schema
//! on first use). PostgreSQL follows the same design.
//!
//! A row holds the keyed hash of the session ID (never the ID), a version for
//! compare-and-set, whether it is live, the user for the devices index, the time it may be
//! deleted, and the record as JSON.

mod sqlite;

pub use sqlite::SqliteStore;
