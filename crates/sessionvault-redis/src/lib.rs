//! A Redis store for sessionvault, on a single server or a Redis Cluster.
//!
//! Built on [redis-rs](https://docs.rs/redis): it speaks to a single server through a
//! `ConnectionManager` that reconnects on its own, and to a cluster through its cluster-aware
//! async connection, which follows slot moves and failovers. Both are the same crate, so the
//! Lua scripts and commands below run unchanged on either.
//!
//! # Layout
//!
//! - A session is a hash at `PREFIX:s:{KEYHEX}`: `r` the record as JSON, `v` its version,
//!   `l` live (`1`) or not, `u` its user; `ls` and `id` hold the last-seen time and idle deadline
//!   when a touch moved them since the last save. The braces make the store key the cluster
//!   hash tag, so every script touches one slot: no CROSSSLOT errors.
//! - Each user's sessions are a set at `PREFIX:u:{USERHEX}`, updated after the record when its
//!   user changes. It may briefly list a dead session; listings check each record and drop the
//!   stale entries.
//! - Every key expires with `PEXPIREAT` at the record's retention time (a tombstone keeps the
//!   session's absolute deadline), so nothing needs sweeping.
//!
//! A load is one round trip (`HGETALL`), a save one (a script); signing a user in adds one for
//! the index.

mod store;

pub use store::RedisStore;
