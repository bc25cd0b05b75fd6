//! A record's compact encoding, for stores that keep it as bytes: JSON with one-letter names, no
//! store key (the store's own key names it), timestamps as nanoseconds (the creation time whole,
//! the others as offsets from it, whole timeouts with an exponent), the User-Agent packed
//! ([`packed_agent`](super::packed_agent)) and empty fields left out. Less than half of the
//! record's serde JSON, and cheaper to read: no RFC 3339 date to parse.
//!
//! Stores persist it, so it only ever grows: a field added later must be optional, so that
//! what earlier versions wrote still decodes.

use std::borrow::Cow;
use std::collections::BTreeMap;

use super::{Record, RecordState, StoreError, packed_agent};
use crate::events::EndReason;
use crate::id::StoreKey;
use crate::nanos::{Nanos, TimesWithExponents};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

type Data = BTreeMap<String, serde_json::Value>;

#[derive(Serialize, Deserialize)]
struct Compact<'a> {
    /// Version.
    v: u64,
    /// Set for a tombstone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    e: Option<Ended>,
    /// Data.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    d: Cow<'a, Data>,
    /// User.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    u: Option<Cow<'a, str>>,
    /// Authentication time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    a: Option<Nanos>,
    /// Created, in nanoseconds since the epoch; every other time is an offset from it.
    c: Nanos,
    /// ID issued.
    #[serde(default, skip_serializing_if = "Nanos::is_zero")]
    i: Nanos,
    /// Last seen.
    #[serde(default, skip_serializing_if = "Nanos::is_zero")]
    s: Nanos,
    /// Idle deadline.
    l: Nanos,
    /// Absolute deadline.
    x: Nanos,
    /// Retention, when not the absolute deadline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    r: Option<Nanos>,
    /// User-Agent, as it was written before it was packed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    g: Option<Cow<'a, str>>,
    /// User-Agent, packed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    w: Option<Cow<'a, str>>,
    /// Address prefix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    p: Option<Cow<'a, str>>,
}

/// A tombstone's state.
#[derive(Serialize, Deserialize)]
struct Ended {
    /// Reason.
    r: EndReason,
    /// When, as an offset from creation.
    a: Nanos,
    /// Renewal successor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    s: Option<StoreKey>,
    /// Renewal grace deadline, as an offset from creation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    g: Option<Nanos>,
}

/// `record` in the compact encoding.
pub(crate) fn encode(record: &Record, out: &mut Vec<u8>) -> Result<(), StoreError> {
    let created = record.created.as_nanosecond();
    let offset = |t: Timestamp| Nanos::offset(t, created);
    let e = match &record.state {
        RecordState::Live => None,
        RecordState::Ended {
            reason,
            at,
            successor,
            grace_until,
        } => Some(Ended {
            r: *reason,
            a: offset(*at),
            s: *successor,
            g: grace_until.map(offset),
        }),
    };
    let compact = Compact {
        v: record.version,
        e,
        d: Cow::Borrowed(&record.data),
        u: record.user.as_deref().map(Cow::Borrowed),
        a: record.auth_time.map(offset),
        c: Nanos(created),
        i: offset(record.id_issued),
        s: offset(record.last_seen),
        l: offset(record.idle_deadline),
        x: offset(record.absolute_deadline),
        r: (record.expires_at != record.absolute_deadline).then(|| offset(record.expires_at)),
        g: None,
        w: record
            .user_agent
            .as_deref()
            .map(|agent| Cow::Owned(packed_agent::pack(agent))),
        p: record.ip.as_deref().map(Cow::Borrowed),
    };
    out.reserve(size_hint(record));
    let mut serializer = serde_json::Serializer::with_formatter(out, TimesWithExponents);
    compact.serialize(&mut serializer).map_err(StoreError::new)
}

/// About what `record`'s encoding takes: its strings, eight times of up to 20 digits and the
/// names around them, and 32 bytes per value of data (most hold a number or a short string).
/// A guess too small costs one growth of the buffer, as serde_json's own start would.
fn size_hint(record: &Record) -> usize {
    let text = |s: &Option<String>| s.as_ref().map_or(0, |s| s.len() + 8);
    let data: usize = record.data.keys().map(|k| k.len() + 32).sum();
    192 + data + text(&record.user) + text(&record.user_agent) + text(&record.ip)
}

/// The record under `key` from its compact encoding.
pub(crate) fn decode(key: StoreKey, bytes: &[u8]) -> Result<Record, StoreError> {
    let c: Compact<'_> = serde_json::from_slice(bytes).map_err(StoreError::new)?;
    // The store is not trusted to hold sane numbers: an overflowing sum is an error, not a
    // panic.
    let at = |offset: Nanos| {
        c.c.after(offset)
            .ok_or_else(|| StoreError::new("stored time out of range"))
    };
    let state = match &c.e {
        None => RecordState::Live,
        Some(e) => RecordState::Ended {
            reason: e.r,
            at: at(e.a)?,
            successor: e.s,
            grace_until: e.g.map(at).transpose()?,
        },
    };
    let absolute_deadline = at(c.x)?;
    let user_agent = match (c.g, c.w) {
        (None, None) => None,
        (Some(agent), None) => Some(agent.into_owned()),
        (None, Some(packed)) => Some(
            packed_agent::unpack(&packed)
                .ok_or_else(|| StoreError::new("malformed packed User-Agent"))?,
        ),
        (Some(_), Some(_)) => return Err(StoreError::new("two User-Agents in one record")),
    };
    Ok(Record {
        key,
        version: c.v,
        state,
        user: c.u.map(Cow::into_owned),
        auth_time: c.a.map(at).transpose()?,
        created: at(Nanos(0))?,
        id_issued: at(c.i)?,
        last_seen: at(c.s)?,
        idle_deadline: at(c.l)?,
        absolute_deadline,
        user_agent,
        ip: c.p.map(Cow::into_owned),
        expires_at: c.r.map(at).transpose()?.unwrap_or(absolute_deadline),
        data: c.d.into_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHROME: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like \
                          Gecko) Chrome/131.0.0.0 Safari/537.36";

    fn record() -> Record {
        let t = |s: i64, ns: i32| Timestamp::new(s, ns).expect("in range");
        Record {
            key: StoreKey::from_bytes([7; 32]),
            version: 41,
            state: RecordState::Live,
            data: [("n".to_owned(), serde_json::json!(5))].into(),
            user: Some("alice".into()),
            auth_time: Some(t(1_700_000_100, 5)),
            created: t(1_700_000_000, 123_456_789),
            id_issued: t(1_700_000_000, 123_456_789),
            last_seen: t(1_700_000_500, 1),
            idle_deadline: t(1_700_002_300, 1),
            absolute_deadline: t(1_700_043_200, 123_456_789),
            user_agent: Some("Mozilla/5.0".into()),
            ip: Some("192.0.2.0/24".into()),
            expires_at: t(1_700_043_200, 123_456_789),
        }
    }

    #[test]
    fn a_live_record_and_a_tombstone_come_back_as_they_were() {
        let live = record();
        let bytes = live.to_compact().expect("encode");
        assert_eq!(decode(live.key, &bytes).expect("decode"), live);
        let at = live.last_seen;
        let mut ended = live.into_tombstone(EndReason::Renewed, at);
        if let RecordState::Ended {
            successor,
            grace_until,
            ..
        } = &mut ended.state
        {
            *successor = Some(StoreKey::from_bytes([9; 32]));
            *grace_until = Some(
                at.checked_add(jiff::SignedDuration::from_secs(30))
                    .expect("t"),
            );
        }
        ended.expires_at = Timestamp::new(1_800_000_000, 0).expect("in range");
        let bytes = ended.to_compact().expect("encode");
        assert_eq!(decode(ended.key, &bytes).expect("decode"), ended);
    }

    #[test]
    fn times_that_overflow_are_an_error_not_a_panic() {
        let mut value: serde_json::Value =
            serde_json::from_slice(&record().to_compact().expect("encode")).expect("json");
        // serde_json's Value holds no i128: write the two numbers into the text.
        value["c"] = serde_json::json!("C");
        value["i"] = serde_json::json!("I");
        let text = serde_json::to_string(&value).expect("json");
        let max = i128::MAX.to_string();
        let text = text.replace("\"C\"", &max).replace("\"I\"", &max);
        assert!(decode(record().key, text.as_bytes()).is_err());
    }

    #[test]
    fn a_browser_session_is_written_packed_and_whole_timeouts_with_exponents() {
        let mut r = record();
        r.user_agent = Some(CHROME.into());
        r.last_seen = r.created;
        r.idle_deadline = r
            .created
            .checked_add(jiff::SignedDuration::from_mins(30))
            .expect("t");
        // The data's whole numbers keep their form; only times take an exponent.
        r.data.insert("big".into(), serde_json::json!(5_000_000));
        r.data.insert("neg".into(), serde_json::json!(-7_000));
        let text = String::from_utf8(r.to_compact().expect("encode")).expect("UTF-8");
        assert!(text.contains(r#""w":"~A~H~B~C131~D~E""#), "{text}");
        assert!(text.contains(r#""l":18e11,"x":432e11"#), "{text}");
        assert!(text.contains(r#""big":5000000,"#), "{text}");
        assert!(text.contains(r#""neg":-7000}"#), "{text}");
        assert!(!text.contains(r#""g""#), "{text}");
        assert_eq!(decode(r.key, text.as_bytes()).expect("decode"), r);
        // A time beyond what an `i64` of nanoseconds holds is written whole.
        r.absolute_deadline = Timestamp::MAX;
        r.expires_at = Timestamp::MAX;
        let bytes = r.to_compact().expect("encode");
        assert_eq!(decode(r.key, &bytes).expect("decode"), r);
    }

    #[test]
    fn a_user_agent_written_before_packing_still_reads_and_two_are_refused() {
        let mut r = record();
        r.user_agent = Some(CHROME.into());
        let packed = String::from_utf8(r.to_compact().expect("encode")).expect("UTF-8");
        let plain = packed.replace(r#""w":"~A~H~B~C131~D~E""#, &format!(r#""g":"{CHROME}""#));
        assert_eq!(decode(r.key, plain.as_bytes()).expect("decode"), r);
        let both = packed.replace(r#""w":"#, &format!(r#""g":"{CHROME}","w":"#));
        assert!(decode(r.key, both.as_bytes()).is_err());
        let malformed = packed.replace("~A~H", "~a~H");
        assert!(decode(r.key, malformed.as_bytes()).is_err());
    }

    #[test]
    fn the_compact_encoding_is_much_smaller_than_the_record_json() {
        let r = record();
        let compact = r.to_compact().expect("encode").len();
        let full = serde_json::to_vec(&r).expect("json").len();
        assert!(compact * 2 < full, "{compact} bytes against {full}");
    }

    #[test]
    fn written_after_a_prefix_it_is_the_same_encoding_in_a_buffer_reserved_once() {
        let mut r = record();
        r.user_agent = Some(
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) \
             Chrome/131.0.0.0 Safari/537.36"
                .into(),
        );
        let alone = r.to_compact().expect("encode");
        let mut out = b"HEADER|".to_vec();
        r.write_compact(&mut out).expect("encode");
        assert_eq!(out.strip_prefix(b"HEADER|"), Some(&alone[..]));
        // The reservation covers a browser's session, so writing it never grows the buffer.
        assert!(
            alone.len() <= size_hint(&r),
            "{} > {}",
            alone.len(),
            size_hint(&r)
        );
    }
}
