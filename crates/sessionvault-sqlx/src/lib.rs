//! SQL stores for sessionvault: SQLite, the embedded default (a file, created with its schema
//! on first use), and PostgreSQL, for several application servers sharing sessions. Both apply
//! their migrations themselves.
//!
//! A row holds the keyed hash of the session ID (never the ID), a version for
//! compare-and-set, whether it is live, the user for the devices index, the time it may be
//! deleted, and the record as JSON. Text from outside is stored exactly as given, NUL (U+0000)
//! included: PostgreSQL's JSONB and TEXT refuse NUL, so there a record holding one is kept as
//! its JSON text inside a JSONB string, and its user is indexed with U+FFFD in place of NUL
//! (lookups still match the exact name only). Nothing changes in the schema.

mod postgres;
mod schema;
mod sqlite;

pub use postgres::PgStore;
pub use sqlite::SqliteStore;
