//! Where server-side sessions live: one small async trait that every store implements, and the
//! record it stores.
//!
//! The trait is shaped by what the engine needs to keep its guarantees (see the crate docs):
//! compare-and-set saves, creation that never overwrites, tombstones that outlive the session,
//! and a per-user index. Every store runs the same conformance tests.

mod compact;
mod memory;
mod packed_agent;

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::events::EndReason;
use crate::id::StoreKey;

pub use memory::MemoryStore;

/// A store failure: the server is down, timed out, or answered something unreadable. The engine
/// turns it into a 503, never into "no session" or "saved".
#[derive(Debug, thiserror::Error)]
#[error("session store: {0}")]
pub struct StoreError(#[source] Box<dyn std::error::Error + Send + Sync>);

impl StoreError {
    /// Wraps the store's own error, keeping it as the source.
    pub fn new(error: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self(error.into())
    }
}

/// Whether a record is a live session or the tombstone of one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum RecordState {
    /// In use.
    Live,
    /// Ended; kept so that a reuse of its ID is recognised and reported, and so that no
    /// request still in flight can bring it back.
    Ended {
        /// Why.
        reason: EndReason,
        /// When.
        at: Timestamp,
        /// After a renewal: the key of the session that replaced this one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        successor: Option<StoreKey>,
        /// After a renewal: until when a request still carrying the old ID is served the
        /// successor, so requests already in flight do not fail.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        grace_until: Option<Timestamp>,
    },
}

/// One session as a store keeps it. Holds no raw ID. `Debug` shows the data's keys but none
/// of its values, which may be secrets (the CSRF secret, the application's own).
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// The keyed hash of the session ID.
    pub key: StoreKey,
    /// Bumped on every write; saves are compare-and-set on it.
    pub version: u64,
    /// Live or ended.
    #[serde(flatten)]
    pub state: RecordState,
    /// The application's data.
    pub data: BTreeMap<String, serde_json::Value>,
    /// The signed-in user, if any.
    pub user: Option<String>,
    /// When the user last authenticated.
    pub auth_time: Option<Timestamp>,
    /// When the session began.
    pub created: Timestamp,
    /// When its current ID was issued (for periodic renewal).
    #[serde(default)]
    pub id_issued: Timestamp,
    /// The last request that touched it.
    pub last_seen: Timestamp,
    /// It ends if no request comes before this.
    pub idle_deadline: Timestamp,
    /// It ends at this time whatever happens.
    pub absolute_deadline: Timestamp,
    /// The browser's User-Agent at sign-in or creation, for the devices list.
    pub user_agent: Option<String>,
    /// The client address at sign-in or creation (network prefix only).
    pub ip: Option<String>,
    /// When the store may forget the record. For a tombstone, the ended session's absolute
    /// deadline, so any reuse within its possible lifetime is still recognised.
    pub expires_at: Timestamp,
}

impl std::fmt::Debug for Record {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        /// The data's keys, each with its value redacted.
        struct Redacted<'a>(&'a BTreeMap<String, serde_json::Value>);
        impl std::fmt::Debug for Redacted<'_> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_map()
                    .entries(self.0.keys().map(|k| (k, format_args!("[REDACTED]"))))
                    .finish()
            }
        }
        f.debug_struct("Record")
            .field("key", &self.key)
            .field("version", &self.version)
            .field("state", &self.state)
            .field("data", &Redacted(&self.data))
            .field("user", &self.user)
            .field("auth_time", &self.auth_time)
            .field("created", &self.created)
            .field("id_issued", &self.id_issued)
            .field("last_seen", &self.last_seen)
            .field("idle_deadline", &self.idle_deadline)
            .field("absolute_deadline", &self.absolute_deadline)
            .field("user_agent", &self.user_agent)
            .field("ip", &self.ip)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

impl Record {
    /// True for a session in use (not a tombstone).
    pub fn is_live(&self) -> bool {
        self.state == RecordState::Live
    }

    /// Why it is over at `now`, if it is: ended, idle or past its absolute lifetime.
    pub fn end_reason_at(&self, now: Timestamp) -> Option<EndReason> {
        match &self.state {
            RecordState::Ended { reason, .. } => Some(*reason),
            RecordState::Live if now >= self.absolute_deadline => Some(EndReason::AbsoluteExpired),
            RecordState::Live if now >= self.idle_deadline => Some(EndReason::IdleExpired),
            RecordState::Live => None,
        }
    }

    /// The renewal successor and grace deadline, if this is the tombstone of a renewed session.
    pub fn successor(&self) -> Option<(StoreKey, Timestamp)> {
        match self.state {
            RecordState::Ended {
                successor: Some(key),
                grace_until: Some(until),
                ..
            } => Some((key, until)),
            _ => None,
        }
    }

    /// This record in the compact encoding that stores keep as bytes: JSON with one-letter
    /// names, times as nanoseconds, the User-Agent packed and no key, less than half of its
    /// serde JSON and cheaper to read back. [`Record::from_compact`] reads it. Stores persist
    /// it, so later versions keep reading what earlier ones wrote.
    ///
    /// # Errors
    ///
    /// Never for a record the engine made; the `Result` is for JSON's own failure modes.
    pub fn to_compact(&self) -> Result<Vec<u8>, StoreError> {
        let mut bytes = Vec::new();
        self.write_compact(&mut bytes)?;
        Ok(bytes)
    }

    /// Appends this record's [compact encoding](Record::to_compact) to `out`, for a store that
    /// puts something of its own before it. `out` is reserved what a record of this size takes
    /// first, so that the encoding is written without growing it.
    ///
    /// # Errors
    ///
    /// As [`Record::to_compact`]; `out` then holds a part of the encoding.
    pub fn write_compact(&self, out: &mut Vec<u8>) -> Result<(), StoreError> {
        compact::encode(self, out)
    }

    /// The record under `key` from its [compact encoding](Record::to_compact).
    ///
    /// # Errors
    ///
    /// When `bytes` are not a compact record or hold a time out of range: the store is not
    /// trusted, so this is an error and never a panic.
    pub fn from_compact(key: StoreKey, bytes: &[u8]) -> Result<Self, StoreError> {
        compact::decode(key, bytes)
    }

    /// This record turned into a tombstone: data dropped, version bumped.
    pub fn into_tombstone(mut self, reason: EndReason, at: Timestamp) -> Self {
        self.version += 1;
        self.state = RecordState::Ended {
            reason,
            at,
            successor: None,
            grace_until: None,
        };
        self.data.clear();
        self.expires_at = self.expires_at.max(self.absolute_deadline).max(at);
        self
    }
}

/// What [`SessionStore::save_if_or_current`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum SaveIf {
    /// The record was saved.
    Saved,
    /// Nothing was saved; what is under the key now, live or tombstone, or `None`.
    Lost(Option<Arc<Record>>),
}

/// Storage for server-side sessions.
///
/// A store implements `load`, `create`, `save_if`, `touch_if_live` and `sessions_for_user`;
/// everything else is provided. `load_shared` and `try_load_shared` are speed paths for a
/// store that keeps records in process memory ([`MemoryStore`]): any other store, and any
/// store that wraps another (to count or time calls), leaves them alone, and every load then
/// goes through its `load`. A store that wraps another forwards `save_if_or_current` and
/// `batches_writes` to the one it wraps, so that it keeps the other's round trips.
///
/// Every method is one atomic operation on the backing store. Implementations must keep these
/// rules, which the conformance tests check:
///
/// - `create` never overwrites: it fails when the key exists, live or tombstone.
/// - `save_if` writes only when the stored record is live and has exactly `expected_version`;
///   `save_if_or_current` writes as `save_if` does and, when it does not, answers what `load`
///   finds.
/// - `touch_if_live` and `end` never bring a tombstone back to life.
/// - Nothing is reported as written unless it was.
#[async_trait]
pub trait SessionStore: Send + Sync + 'static {
    /// The record under `key`, live or tombstone, or `None`.
    async fn load(&self, key: &StoreKey) -> Result<Option<Record>, StoreError>;

    /// [`load`](Self::load), shared: a store that keeps records in memory lends its own copy
    /// instead of cloning it, which is what a read-only request needs. The default wraps
    /// `load`.
    async fn load_shared(&self, key: &StoreKey) -> Result<Option<Arc<Record>>, StoreError> {
        Ok(self.load(key).await?.map(Arc::new))
    }

    /// [`load_shared`](Self::load_shared) at once, for a store that has the answer in process
    /// memory: it saves the boxed future of a call through `dyn SessionStore` on every read.
    /// `None` means "ask `load_shared`", which the default always answers; a store that wraps
    /// another (to count or time calls) keeps the default so that every load passes through it.
    fn try_load_shared(&self, key: &StoreKey) -> Option<Result<Option<Arc<Record>>, StoreError>> {
        let _ = key;
        None
    }

    /// Stores a new record. `Ok(false)` when the key is taken.
    async fn create(&self, record: &Record) -> Result<bool, StoreError>;

    /// Replaces the record if the stored one is live and at `expected_version`. `Ok(false)` on
    /// any mismatch (someone else wrote, it ended, or it is gone).
    async fn save_if(&self, record: &Record, expected_version: u64) -> Result<bool, StoreError>;

    /// [`save_if`](Self::save_if), and when it does not save, what
    /// [`load_shared`](Self::load_shared) finds under the key right after, for a retry to
    /// replay on at once. A store that can answer both in one round trip (Redis, whose
    /// compare-and-set returns the record it lost to) overrides it; the default calls the two
    /// in turn. A store that wraps another answers through the one it wraps.
    async fn save_if_or_current(
        &self,
        record: &Record,
        expected_version: u64,
    ) -> Result<SaveIf, StoreError> {
        if self.save_if(record, expected_version).await? {
            return Ok(SaveIf::Saved);
        }
        Ok(SaveIf::Lost(self.load_shared(&record.key).await?))
    }

    /// Moves a live record's idle deadline without a version bump. `Ok(false)` when it is not
    /// live.
    async fn touch_if_live(
        &self,
        key: &StoreKey,
        last_seen: Timestamp,
        idle_deadline: Timestamp,
    ) -> Result<bool, StoreError>;

    /// Turns the record into a tombstone (see [`Record::into_tombstone`]), if it is live and,
    /// when `expected_version` is given, at that version. `Ok(false)` otherwise.
    ///
    /// The default reads the record, makes the tombstone and writes it with
    /// [`SessionStore::save_if`] over the version it read; a concurrent save makes the write
    /// miss and it looks again. A store that can do it in one atomic step may override it.
    async fn end(
        &self,
        key: &StoreKey,
        reason: EndReason,
        at: Timestamp,
        expected_version: Option<u64>,
    ) -> Result<bool, StoreError> {
        loop {
            let Some(current) = self.load(key).await? else {
                return Ok(false);
            };
            if !current.is_live() || expected_version.is_some_and(|v| v != current.version) {
                return Ok(false);
            }
            let version = current.version;
            if self
                .save_if(&current.into_tombstone(reason, at), version)
                .await?
            {
                return Ok(true);
            }
            if expected_version.is_some() {
                return Ok(false);
            }
        }
    }

    /// The live sessions of a user. May include sessions that have just expired; the engine
    /// filters by deadline.
    async fn sessions_for_user(&self, user: &str) -> Result<Vec<Record>, StoreError>;

    /// True when writers of one session queued in one process should be saved together, with
    /// one [`save_if`](Self::save_if) for the batch (the default). A store whose saves cost no
    /// I/O, such as one in this process's memory, answers false: handing a change on to the
    /// next writer costs it more than the save it spares. A store that wraps another answers
    /// as the one it wraps.
    fn batches_writes(&self) -> bool {
        true
    }

    /// Deletes records the store may forget at `now`; returns how many. Stores with their own
    /// expiry (Redis TTLs) do nothing.
    async fn sweep(&self, now: Timestamp) -> Result<u64, StoreError> {
        let _ = now;
        Ok(0)
    }
}

impl Serialize for StoreKey {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for StoreKey {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Self::from_hex(&text)
            .ok_or_else(|| serde::de::Error::custom("store key is not 64 hex digits"))
    }
}
