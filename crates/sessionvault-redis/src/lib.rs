//! A Redis store for sessionvault, on a single server, a Redis Cluster, or the master a set of
//! Redis Sentinels names.
//!
//! Built on [redis-rs](https://docs.rs/redis): it speaks to a single server through a
//! `ConnectionManager` that reconnects on its own, to a cluster through its cluster-aware
//! async connection, which follows slot moves and failovers, and to a Sentinel-managed master
//! through one connection that is dropped, and the Sentinels asked again, when the master dies
//! or answers `READONLY`. The Lua scripts and commands below run unchanged on all three.
//! [`RedisStore::connect`] takes one URL for any of them (see its docs).
//!
//! # Replicas and failover
//!
//! Redis replicates asynchronously: a write the master acknowledged and then lost with itself,
//! before any replica had it, is gone once a replica is promoted. For sessions that means a
//! logout, a revocation or an increment that was answered 200 can come undone.
//! [`RedisStore::with_min_replica_acks`] (or `?replica_acks=N` in the URL) closes that gap:
//! each write is followed by `WAIT N T` in the same round trip and reported as failed (a 503)
//! unless `N` replicas have it. The price is the replicas' round trip on every write, and
//! writes fail while fewer than `N` replicas are up.
//!
//! # Layout
//!
//! - A session is a hash at `PREFIX:s:{KEYHEX}`: `d` the record in a compact JSON (one-letter
//!   names, times as nanoseconds, no key; see `encoding.rs`), `v` its version, `l` live (`1`) or
//!   not, `u` its user; `ls` and `id` hold the last-seen time and idle deadline when a touch
//!   moved them since the last save. A record saved by an earlier version holds its full JSON
//!   in `r` instead; it is read as it is and rewritten compact at its next save. The braces
//!   make the store key the cluster hash tag, so every script touches one slot: no CROSSSLOT
//!   errors.
//! - Each user's sessions are a set at `PREFIX:u:{USERHEX}`, updated after the record when its
//!   user changes. It may briefly list a dead session; listings check each record and drop the
//!   stale entries.
//! - Every key expires with `PEXPIREAT` at the record's retention time (a tombstone keeps the
//!   session's absolute deadline), so nothing needs sweeping.
//!
//! A load is one round trip (`HMGET` of the four fields a load needs), a save one (a script
//! that compares the version and writes the four fields); signing a user in adds one for the
//! index.

mod connection;
mod encoding;
mod scripts;
mod sentinel;
mod store;
mod url;

pub use connection::ReplicaAckError;
pub use store::{ConnectError, RedisStore};
pub use url::UrlError;
