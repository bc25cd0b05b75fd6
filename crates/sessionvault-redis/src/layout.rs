//! A session's Redis value: one string, a short header that the scripts read without decoding
//! the record, then the record in the compact encoding ([`Record::to_compact`]).
//!
//! `VERSION|LIVE|TOUCH|USERLEN|USER` then the record: `LIVE` is `1` or `0`, `TOUCH` is empty or
//! the last-seen time and idle deadline (nanoseconds since the epoch, `SEEN,IDLE`) that a touch
//! moved since the last save, and the user (none for a tombstone, which is never indexed) is
//! counted in bytes, so that it may hold any byte. One string rather than a hash of fields: a
//! hash with a field over 64 bytes (the record, whose browser User-Agent alone is about 100)
//! leaves Redis's compact listpack for a hash table, which cost a session about 240 bytes more.

use std::io::Write;

use jiff::Timestamp;
use sessionvault::id::StoreKey;
use sessionvault::store::{Record, StoreError};

/// `record` as its Redis value.
pub(crate) fn compose(record: &Record) -> Result<Vec<u8>, StoreError> {
    let live = record.is_live();
    let user = record.user.as_deref().filter(|_| live).unwrap_or_default();
    // The header, then the record, which reserves its own room (writing to a vector cannot
    // fail).
    let mut value = Vec::with_capacity(32 + user.len());
    let live = if live { '1' } else { '0' };
    write!(value, "{}|{live}||{}|{user}", record.version, user.len()).map_err(StoreError::new)?;
    record.write_compact(&mut value)?;
    Ok(value)
}

/// What a touch writes into the header: `SEEN,IDLE`.
pub(crate) fn touch(last_seen: Timestamp, idle_deadline: Timestamp) -> Vec<u8> {
    format!(
        "{},{}",
        last_seen.as_nanosecond(),
        idle_deadline.as_nanosecond()
    )
    .into_bytes()
}

/// The record under `key` from its Redis value, with a touch's times applied. A value that is
/// not one this module wrote is an error, never a panic: the store is not trusted.
pub(crate) fn parse(key: StoreKey, value: &[u8]) -> Result<Record, StoreError> {
    let malformed = || StoreError::new("malformed session value in Redis");
    let mut fields = value.splitn(5, |&byte| byte == b'|');
    let (Some(_version), Some(_live), Some(touched), Some(user_len), Some(rest)) = (
        fields.next(),
        fields.next(),
        fields.next(),
        fields.next(),
        fields.next(),
    ) else {
        return Err(malformed());
    };
    let user_len: usize = std::str::from_utf8(user_len)
        .ok()
        .and_then(|n| n.parse().ok())
        .ok_or_else(malformed)?;
    // The record carries its own user; the header's copy is for the scripts.
    let body = rest.get(user_len..).ok_or_else(malformed)?;
    let mut record = Record::from_compact(key, body)?;
    if !touched.is_empty() {
        let time = |t: &[u8]| {
            std::str::from_utf8(t)
                .ok()
                .and_then(|t| t.parse::<i128>().ok())
                .and_then(|nanos| Timestamp::from_nanosecond(nanos).ok())
        };
        let (seen, idle) = touched
            .iter()
            .position(|&byte| byte == b',')
            .and_then(|comma| Some((time(&touched[..comma])?, time(&touched[comma + 1..])?)))
            .ok_or_else(malformed)?;
        record.last_seen = seen;
        record.idle_deadline = idle;
    }
    Ok(record)
}

/// The record under `key` from the full JSON that sessions saved before the compact encoding
/// hold in their hash's `r` field.
pub(crate) fn parse_full_json(key: StoreKey, bytes: &[u8]) -> Result<Record, StoreError> {
    let record: Record = serde_json::from_slice(bytes).map_err(StoreError::new)?;
    if record.key != key {
        return Err(StoreError::new("stored record names another key"));
    }
    Ok(record)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sessionvault::EndReason;

    fn record(user: Option<&str>) -> Record {
        let mut record = sessionvault_testkit::conformance::record(user);
        record.user_agent = Some("Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0".into());
        record
    }

    #[test]
    fn a_record_comes_back_as_it_was_with_any_user() {
        for user in [None, Some("alice"), Some("|1|2|ü\n{\"v\":9}")] {
            let r = record(user);
            let value = compose(&r).expect("compose");
            assert_eq!(parse(r.key, &value).expect("parse"), r, "{user:?}");
        }
    }

    #[test]
    fn the_header_says_what_the_scripts_read() {
        let mut r = record(Some("bob"));
        r.version = 42;
        let value = compose(&r).expect("compose");
        assert!(
            value.starts_with(b"42|1||3|bob{"),
            "{}",
            String::from_utf8_lossy(&value)
        );
        let ended = r.into_tombstone(EndReason::Logout, Timestamp::UNIX_EPOCH);
        let value = compose(&ended).expect("compose");
        // A tombstone (its version one up) has no user in the header: it is never indexed.
        assert!(
            value.starts_with(b"43|0||0|{"),
            "{}",
            String::from_utf8_lossy(&value)
        );
    }

    #[test]
    fn a_touch_in_the_header_moves_the_two_times() {
        let r = record(Some("carol"));
        let seen = r.last_seen + jiff::SignedDuration::from_secs(61);
        let idle = r.idle_deadline + jiff::SignedDuration::from_secs(61);
        let value = compose(&r).expect("compose");
        // What the touch script does: the third field replaced.
        let header_end = value.iter().position(|&b| b == b'|').expect("bar") + 3;
        let mut touched = value[..header_end].to_vec();
        touched.extend_from_slice(&touch(seen, idle));
        touched.extend_from_slice(&value[header_end..]);
        let mut expected = r.clone();
        expected.last_seen = seen;
        expected.idle_deadline = idle;
        assert_eq!(parse(r.key, &touched).expect("parse"), expected);
    }

    #[test]
    fn a_malformed_value_is_an_error_not_a_panic() {
        let good = compose(&record(Some("dave"))).expect("compose");
        let cut = &good[..good.len() / 2];
        for bad in [
            &b""[..],
            b"1|1||",
            b"1|1||x|{}",
            b"1|1||99|dave{}",
            b"1|1|5|0|{}",
            b"1|1|5,|0|{}",
            b"1|1|999999999999999999999999999999999999999,1|0|{}",
            cut,
        ] {
            assert!(
                parse(StoreKey::from_bytes([1; 32]), bad).is_err(),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn a_record_in_the_earlier_full_json_is_read_and_checked_against_its_key() {
        let r = record(Some("erin"));
        let json = serde_json::to_vec(&r).expect("json");
        assert_eq!(parse_full_json(r.key, &json).expect("parse"), r);
        assert!(parse_full_json(StoreKey::from_bytes([8; 32]), &json).is_err());
    }
}
