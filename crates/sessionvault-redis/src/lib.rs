//! A Redis store for sessionvault, on a single server, a Redis Cluster, or the master a set of
//! Redis Sentinels names.
//!
//! Built on [redis-rs](https://docs.rs/redis): it speaks to a single server through one
//! multiplexed connection, made again after the server is lost; to a cluster through its
//! cluster-aware async connection, which follows slot moves and failovers; and to a
//! Sentinel-managed master through one connection that is dropped, and the Sentinels asked
//! again, when the master dies or answers `READONLY`. The Lua scripts and commands below run
//! unchanged on all three. [`RedisStore::connect`] takes one URL for any of them (see its
//! docs).
//!
//! # Where the I/O runs
//!
//! A connection's I/O tasks run on the runtime that made it, the application's own. To a
//! single server or a Sentinel-named master over plain TCP, the store makes the connection
//! itself (racing the host's addresses, as redis-rs does), and on a multi-thread runtime the
//! first write after each flush waits one turn of the scheduler: the commands of requests
//! running together then leave in one write and reach Redis in one read. Without it the
//! connection's writer runs as soon as a request queues a command (a task woken by the one
//! running goes next) and sends each command alone. Measured against the build before, in the
//! same rounds, the wait halved Redis's CPU per `/read` and cut it by a quarter per
//! many-session `/incr`; the server's own CPU fell on `/read` and rose on `/incr` in that run
//! (BENCHMARKS.md, "Peers"). Over TLS and to a cluster, redis-rs makes the connections, and
//! their writes leave
//! as they are queued. A thread of the store's own for the I/O was measured and dropped: it
//! batched commands as well, but every command and every reply then crossed between threads,
//! and on another machine that cost the application more CPU than it saved Redis.
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
//! - A session is one string at `PREFIX:s:{NAME}`, `NAME` the first 24 bytes of its store key
//!   (a hash: of the session ID under a secret key, or of a denylist entry's name) in
//!   base64url, 32 characters: with the default prefix a 39-byte key, which Redis keeps in 48
//!   bytes. Earlier versions kept it at `PREFIX:s:{KEYHEX}`, all 64 hex digits (80 bytes); a
//!   load that finds nothing under the shorter name looks there, and a session found there is
//!   saved, touched and ended in place until it expires, so an upgrade signs nobody out and
//!   forgets no revocation. Creating writes only the shorter name.
//!   [`RedisStore::without_earlier_names`] (`?earlier_names=off`) stops looking once every
//!   key written before the upgrade has expired. The value is a header the scripts read without
//!   decoding the record (`VERSION|LIVE|TOUCH|USERLEN|USER`, where `TOUCH` holds the last-seen
//!   time and idle deadline when a touch moved them since the last save), then the record in a
//!   compact JSON (one-letter names, times as nanoseconds, no key; `Record::to_compact`). A
//!   session saved by an earlier version is a hash (`v`, `l`, `u`, and the record in `d`, or
//!   its full JSON in `r`); it is read and touched as it is and rewritten as a string at its
//!   next save. The braces make `NAME` (or `KEYHEX`) the cluster hash tag, so every script
//!   touches one slot: no CROSSSLOT errors.
//! - Each user's sessions are a set at `PREFIX:u:{USERHEX}`, updated after the record when its
//!   user changes. It may briefly list a dead session; listings check each record and drop the
//!   stale entries.
//! - Every key expires at the record's retention time (`SET ... PXAT` on a session,
//!   `PEXPIREAT` on a user's set; a tombstone keeps the session's absolute deadline), so
//!   nothing needs sweeping.
//!
//! A load is one round trip (`GET`), a save one (a script that compares the header's version
//! and sets the new value); signing a user in adds one for the index. A save that loses
//! answers the value it lost to, so that the engine's first retry replays on it, and its last
//! tells an ended session from a conflict, without a load (a session an earlier version kept
//! as a hash is loaded as before). Until the earlier names are turned off, each takes one
//! more when the shorter name holds nothing: for a session kept under the longer one, a
//! cookie whose session is gone, and, in the cookie modes, each check of the denylist that
//! finds no entry (most of them). A save or touch of a session under the longer name is then
//! two steps, each atomic on its own key: the first finds nothing and changes nothing.

mod connection;
mod cork;
mod layout;
mod reconnect;
mod scripts;
mod sentinel;
mod store;
mod url;

pub use connection::ReplicaAckError;
pub use store::{ConnectError, RedisStore};
pub use url::UrlError;
