//! What both SQL stores write in a row and read back: the same columns, bound in the same order,
//! and the same record encoding.
//!
//! A row holds the keyed hash of the session ID, a version for compare-and-set, whether it is
//! live, the user for the devices index (live rows only), the time it may be deleted, and the
//! record in its compact encoding ([`Record::to_compact`]) in `compact_record`. A touch moves
//! the last-seen time and idle deadline in `touched_seen` and `touched_idle` (nanoseconds since
//! the epoch) without rewriting the record; a save clears them.
//!
//! Rows written before the compact encoding hold the record's JSON in `record`; they are read
//! as they are and written compactly at their next save. A compact row holds the JSON `null`
//! there. A row whose `record` holds a record is read from it whatever `compact_record` holds:
//! only code older than the compact encoding writes one, and what it wrote is the newer.

use std::borrow::Cow;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use sessionvault::id::StoreKey;
use sessionvault::store::{Record, StoreError};
use sqlx::query::Query;
use sqlx::{ColumnIndex, Database, Decode, Encode, Row, Type};

use crate::schema::store_error;

/// What a compact row holds in `record`, the column that rows written before the compact
/// encoding keep their JSON in.
pub(crate) const NO_JSON: &str = "null";

/// Whether the database's text columns can hold NUL (U+0000): SQLite's can, PostgreSQL's
/// TEXT and JSONB refuse it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Nul {
    Kept,
    Refused,
}

/// The columns of one record, in the order the stores' `INSERT` binds them: key, version,
/// live, user, expires_at, compact_record.
pub(crate) struct Columns<'a> {
    pub(crate) key: &'a [u8],
    pub(crate) version: i64,
    pub(crate) live: bool,
    pub(crate) user: Option<Cow<'a, str>>,
    pub(crate) expires_at: i64,
    pub(crate) compact: Vec<u8>,
}

impl<'a> Columns<'a> {
    pub(crate) fn new(record: &'a Record, nul: Nul) -> Result<Self, StoreError> {
        Ok(Self {
            key: &record.key.as_bytes()[..],
            version: record.version as i64,
            live: record.is_live(),
            user: record
                .user
                .as_deref()
                .filter(|_| record.is_live())
                .map(|user| user_index(user, nul)),
            expires_at: micros(record.expires_at),
            compact: record.to_compact()?,
        })
    }

    /// Binds the columns in `INSERT` order:
    /// `(key, version, live, user_id, expires_at, compact_record)`.
    pub(crate) fn bind_insert<'q, DB>(
        self,
        query: Query<'q, DB, <DB as Database>::Arguments>,
    ) -> Query<'q, DB, <DB as Database>::Arguments>
    where
        DB: Database,
        &'a [u8]: Encode<'a, DB> + Type<DB>,
        i64: Encode<'a, DB> + Type<DB>,
        bool: Encode<'a, DB> + Type<DB>,
        Option<Cow<'a, str>>: Encode<'a, DB> + Type<DB>,
        Vec<u8>: Encode<'a, DB> + Type<DB>,
    {
        query
            .bind(self.key)
            .bind(self.version)
            .bind(self.live)
            .bind(self.user)
            .bind(self.expires_at)
            .bind(self.compact)
    }

    /// Binds the columns in the same order as [`Self::bind_insert`], then the expected version
    /// as `$7`: an `UPDATE` names the key `$1` in its `WHERE`.
    pub(crate) fn bind_update<'q, DB>(
        self,
        query: Query<'q, DB, <DB as Database>::Arguments>,
        expected_version: u64,
    ) -> Query<'q, DB, <DB as Database>::Arguments>
    where
        DB: Database,
        &'a [u8]: Encode<'a, DB> + Type<DB>,
        i64: Encode<'a, DB> + Type<DB>,
        bool: Encode<'a, DB> + Type<DB>,
        Option<Cow<'a, str>>: Encode<'a, DB> + Type<DB>,
        Vec<u8>: Encode<'a, DB> + Type<DB>,
    {
        self.bind_insert(query).bind(expected_version as i64)
    }
}

/// A time as the `expires_at` column holds it: microseconds since the Unix epoch.
pub(crate) fn micros(t: Timestamp) -> i64 {
    t.as_microsecond()
}

/// A time as the touch columns hold it: nanoseconds since the Unix epoch, which a 64-bit
/// column holds from 1677 to 2262; a time outside is an error, never a wrapped number.
pub(crate) fn touch_nanos(t: Timestamp) -> Result<i64, StoreError> {
    i64::try_from(t.as_nanosecond())
        .map_err(|_| StoreError::new("touch time out of the range the store can hold"))
}

/// The record in one row, selected as `key, compact_record, record, touched_seen,
/// touched_idle` (the record column as text).
pub(crate) fn from_row<'r, R>(row: &'r R) -> Result<Record, StoreError>
where
    R: Row,
    usize: ColumnIndex<R>,
    &'r [u8]: Decode<'r, R::Database> + Type<R::Database>,
    Option<&'r [u8]>: Decode<'r, R::Database> + Type<R::Database>,
    &'r str: Decode<'r, R::Database> + Type<R::Database>,
    Option<i64>: Decode<'r, R::Database> + Type<R::Database>,
{
    let key: &[u8] = row.try_get(0).map_err(store_error)?;
    let key = <[u8; 32]>::try_from(key)
        .map(StoreKey::from_bytes)
        .map_err(|_| StoreError::new("stored key is not 32 bytes"))?;
    let compact: Option<&[u8]> = row.try_get(1).map_err(store_error)?;
    let json: &str = row.try_get(2).map_err(store_error)?;
    let mut record = match compact {
        Some(bytes) if json == NO_JSON => Record::from_compact(key, bytes)?,
        _ => decode_json(json)?,
    };
    if record.key != key {
        return Err(StoreError::new("stored record names another key"));
    }
    let seen: Option<i64> = row.try_get(3).map_err(store_error)?;
    let idle: Option<i64> = row.try_get(4).map_err(store_error)?;
    if let (Some(seen), Some(idle)) = (seen, idle) {
        let at = |nanos: i64| {
            Timestamp::from_nanosecond(i128::from(nanos))
                .map_err(|_| StoreError::new("stored touch time out of range"))
        };
        // A touch only moves these forward; a save since clears the columns, so the later of
        // the two is what the session last did.
        record.last_seen = record.last_seen.max(at(seen)?);
        record.idle_deadline = record.idle_deadline.max(at(idle)?);
    }
    Ok(record)
}

/// The `records`, as [`from_row`] reads them, whose user is exactly `user`: the index
/// column replaces NUL where the database refuses it, so names differing only there share an
/// index entry.
pub(crate) fn only_user(
    records: impl IntoIterator<Item = Result<Record, StoreError>>,
    user: &str,
) -> Result<Vec<Record>, StoreError> {
    let mut found = Vec::new();
    for record in records {
        let record = record?;
        if record.user.as_deref() == Some(user) {
            found.push(record);
        }
    }
    Ok(found)
}

/// The user as the `user_id` column indexes it. Where the database refuses NUL it becomes
/// U+FFFD there; lookups use the same form and [`only_user`] then keeps the records whose user
/// is exactly the one asked for, so names differing only there never mix.
pub(crate) fn user_index(user: &str, nul: Nul) -> Cow<'_, str> {
    if nul == Nul::Refused && user.contains('\0') {
        Cow::Owned(user.replace('\0', "\u{fffd}"))
    } else {
        Cow::Borrowed(user)
    }
}

/// How rows written before the compact encoding hold a record whose JSON has a NUL (U+0000)
/// in PostgreSQL, which refuses NUL: the JSON text as a string, whose escape `\u0000` JSONB
/// keeps as six plain characters, beside the two fields a touch moved in place. No record has
/// a `nul_escaped` field, so the two forms cannot be confused.
#[derive(Serialize, Deserialize)]
struct NulEscaped<'a> {
    #[serde(borrow)]
    nul_escaped: Cow<'a, str>,
    last_seen: Timestamp,
    idle_deadline: Timestamp,
}

/// The record from the JSON that rows written before the compact encoding hold, in either
/// form.
fn decode_json(text: &str) -> Result<Record, StoreError> {
    let plain = match serde_json::from_str::<Record>(text) {
        Ok(record) => return Ok(record),
        Err(error) => error,
    };
    let Ok(escaped) = serde_json::from_str::<NulEscaped<'_>>(text) else {
        return Err(store_error(plain));
    };
    let mut record: Record = serde_json::from_str(&escaped.nul_escaped).map_err(store_error)?;
    record.last_seen = escaped.last_seen;
    record.idle_deadline = escaped.idle_deadline;
    Ok(record)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_with_a_nul_in_the_earlier_escaped_json_is_read() {
        let mut record = sessionvault_testkit::conformance::record(Some("a\0b"));
        record.data.insert("k".into(), serde_json::json!("x\u{0}y"));
        let text = serde_json::to_string(&record).expect("json");
        let seen = record.last_seen + jiff::SignedDuration::from_secs(5);
        let idle = record.idle_deadline + jiff::SignedDuration::from_secs(5);
        let escaped = serde_json::to_string(&NulEscaped {
            nul_escaped: Cow::Borrowed(&text),
            last_seen: seen,
            idle_deadline: idle,
        })
        .expect("json");
        record.last_seen = seen;
        record.idle_deadline = idle;
        assert_eq!(decode_json(&escaped).expect("decode"), record);
        assert!(decode_json("{\"nul_escaped\": 1}").is_err());
    }

    #[test]
    fn a_touch_time_past_what_the_column_holds_is_an_error() {
        assert!(touch_nanos(Timestamp::MAX).is_err());
        assert!(touch_nanos(Timestamp::UNIX_EPOCH).is_ok());
    }
}
