//! What both SQL stores write in a row and read back: the same columns, bound in the same order,
//! and the same JSON for the record.
//!
//! A row holds the keyed hash of the session ID, a version for compare-and-set, whether it is
//! live, the user for the devices index (live rows only), the time it may be deleted, and the
//! record as JSON text.

use std::borrow::Cow;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use sessionvault::store::{Record, StoreError};
use sqlx::query::Query;
use sqlx::{Database, Encode, Type};

use crate::schema::store_error;

/// Whether the database's text columns can hold NUL (U+0000): SQLite's can, PostgreSQL's
/// TEXT and JSONB refuse it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Nul {
    Kept,
    Refused,
}

/// The columns of one record, in the order the stores' `INSERT` binds them: key, version,
/// live, user, expires_at, record.
pub(crate) struct Columns<'a> {
    pub(crate) key: &'a [u8],
    pub(crate) version: i64,
    pub(crate) live: bool,
    pub(crate) user: Option<Cow<'a, str>>,
    pub(crate) expires_at: i64,
    pub(crate) record: String,
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
            record: encode(record, nul)?,
        })
    }

    /// Binds the columns in `INSERT` order: `(key, version, live, user_id, expires_at, record)`.
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
        String: Encode<'a, DB> + Type<DB>,
    {
        query
            .bind(self.key)
            .bind(self.version)
            .bind(self.live)
            .bind(self.user)
            .bind(self.expires_at)
            .bind(self.record)
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
        String: Encode<'a, DB> + Type<DB>,
    {
        self.bind_insert(query).bind(expected_version as i64)
    }
}

/// A time as the `expires_at` column holds it: microseconds since the Unix epoch.
pub(crate) fn micros(t: Timestamp) -> i64 {
    t.as_microsecond()
}

/// A record as it is stored when its JSON has a NUL (U+0000) and the database refuses NUL: the
/// JSON text as a string, whose escape `\u0000` JSONB keeps as six plain characters, beside the
/// two fields `touch_if_live` moves in place. No record has a `nul_escaped` field, so the two
/// forms cannot be confused.
#[derive(Serialize, Deserialize)]
struct NulEscaped<'a> {
    #[serde(borrow)]
    nul_escaped: Cow<'a, str>,
    last_seen: Timestamp,
    idle_deadline: Timestamp,
}

/// The record's JSON text for the `record` column: one serialisation; only a record holding a
/// NUL, for a database that refuses NUL, is wrapped and serialised once more.
pub(crate) fn encode(record: &Record, nul: Nul) -> Result<String, StoreError> {
    let text = serde_json::to_string(record).map_err(store_error)?;
    // serde_json writes U+0000 only as this escape. The test also matches an escaped
    // backslash followed by `u0000`, which is merely wrapped needlessly.
    if nul == Nul::Kept || !text.contains("\\u0000") {
        return Ok(text);
    }
    serde_json::to_string(&NulEscaped {
        nul_escaped: Cow::Borrowed(&text),
        last_seen: record.last_seen,
        idle_deadline: record.idle_deadline,
    })
    .map_err(store_error)
}

/// The record from the `record` column's text, in either form.
pub(crate) fn decode(text: &str) -> Result<Record, StoreError> {
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

/// The records, decoded from the `record` column's texts, whose user is exactly `user`.
pub(crate) fn only_user<'t>(
    texts: impl IntoIterator<Item = &'t str>,
    user: &str,
) -> Result<Vec<Record>, StoreError> {
    let mut records = Vec::new();
    for text in texts {
        let record = decode(text)?;
        if record.user.as_deref() == Some(user) {
            records.push(record);
        }
    }
    Ok(records)
}
