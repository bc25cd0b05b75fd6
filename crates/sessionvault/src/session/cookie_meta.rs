//! What a cookie-held session carries besides its data, and how each cookie format writes it.
//!
//! A Flask cookie keeps [`Meta`] as a JSON object under one key of the session, where a Flask
//! app sharing the session sees readable fields. A sealed cookie's plaintext is a JSON array:
//! the layout's number, the metadata in a fixed order, then the data. No field names, no RFC
//! 3339 dates to parse, no buffering of the object by serde's `flatten`, on every request. Its
//! times are nanoseconds, the creation time since the epoch and the others as offsets from it,
//! whole timeouts with an exponent, as the stores' compact encoding writes them: a fresh
//! session's deadlines are `18e11` where they were twenty digits, and every byte less is less
//! to decode, authenticate and decrypt. Cookies sealed in the two earlier layouts (an array of
//! times since the epoch, an object) still open, and are sealed in this one at their next
//! write.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::Error;
use crate::nanos::{Nanos, TimesWithExponents};

pub(crate) type Data = BTreeMap<String, serde_json::Value>;

/// What a cookie-held session carries besides the data.
#[derive(Serialize, Deserialize)]
pub(crate) struct Meta {
    pub(crate) user: Option<String>,
    pub(crate) auth_time: Option<Timestamp>,
    pub(crate) created: Timestamp,
    pub(crate) last_seen: Timestamp,
    pub(crate) idle: Timestamp,
    pub(crate) absolute: Timestamp,
    /// A random ID naming the session on the denylist (with revocation on).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) sid: Option<String>,
    /// When this cookie's session identity was issued (sign-in, or a sign-out-everywhere that
    /// kept it), compared with the user's not-before time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) issued: Option<Timestamp>,
}

/// The earlier sealed plaintext: the metadata's fields and `data`, in one object.
#[derive(Deserialize)]
struct SealedObject {
    #[serde(flatten)]
    meta: Meta,
    data: Data,
}

/// The number the sealed plaintext's layout starts with. The earlier array starts with the
/// user, `null` or a string, so the two are told apart by the first byte after the bracket.
const LAYOUT: u8 = 2;

/// The sealed plaintext as it is written: the layout, user, sign-in time, created, last seen,
/// idle and absolute deadlines, denylist ID, identity issued, data; every time but the
/// creation an offset from it.
type SealedArray<'a> = (
    u8,
    Option<&'a str>,
    Option<Nanos>,
    Nanos,
    Nanos,
    Nanos,
    Nanos,
    Option<&'a str>,
    Option<Nanos>,
    &'a Data,
);

/// The sealed plaintext as it is read.
type SealedArrayOwned = (
    u8,
    Option<String>,
    Option<Nanos>,
    Nanos,
    Nanos,
    Nanos,
    Nanos,
    Option<String>,
    Option<Nanos>,
    Data,
);

/// The earlier array: the same fields without the layout's number, every time since the epoch;
/// also the offsets layout's fields once its number is checked.
type EpochArray = (
    Option<String>,
    Option<Nanos>,
    Nanos,
    Nanos,
    Nanos,
    Nanos,
    Option<String>,
    Option<Nanos>,
    Data,
);

/// The plaintext a sealed cookie holds for `meta` and `data`.
pub(crate) fn seal_plaintext(meta: &Meta, data: &Data) -> Result<Vec<u8>, Error> {
    let created = meta.created.as_nanosecond();
    let offset = |t: Timestamp| Nanos::offset(t, created);
    let array: SealedArray<'_> = (
        LAYOUT,
        meta.user.as_deref(),
        meta.auth_time.map(offset),
        Nanos(created),
        offset(meta.last_seen),
        offset(meta.idle),
        offset(meta.absolute),
        meta.sid.as_deref(),
        meta.issued.map(offset),
        data,
    );
    let mut out = Vec::with_capacity(128 + data.len() * 32);
    let mut serializer = serde_json::Serializer::with_formatter(&mut out, TimesWithExponents);
    array
        .serialize(&mut serializer)
        .map_err(|_| Error::Unrepresentable("session data is not serializable"))?;
    Ok(out)
}

/// The metadata and data of a sealed cookie's plaintext, in any layout; `None` for anything
/// else. The plaintext is authenticated, but a key shared with another program could still
/// seal nonsense: it is refused, never a panic.
pub(crate) fn open_plaintext(plain: &[u8]) -> Option<(Meta, Data)> {
    match plain {
        [b'[', first, ..] if first.is_ascii_digit() => open_offsets(plain),
        [b'[', ..] => open_epoch_array(plain),
        _ => {
            let SealedObject { meta, data } = serde_json::from_slice(plain).ok()?;
            Some((meta, data))
        }
    }
}

fn open_offsets(plain: &[u8]) -> Option<(Meta, Data)> {
    let (layout, user, auth_time, created, last_seen, idle, absolute, sid, issued, data): SealedArrayOwned =
        serde_json::from_slice(plain).ok()?;
    if layout != LAYOUT {
        return None;
    }
    let since = |offset: Nanos| created.after(offset);
    let fields = (
        user, auth_time, created, last_seen, idle, absolute, sid, issued, data,
    );
    meta_of(fields, created.timestamp()?, since)
}

fn open_epoch_array(plain: &[u8]) -> Option<(Meta, Data)> {
    let fields: EpochArray = serde_json::from_slice(plain).ok()?;
    let created = fields.2.timestamp()?;
    meta_of(fields, created, Nanos::timestamp)
}

/// The metadata of either array layout, its times but the creation read by `time`.
fn meta_of(
    (user, auth_time, _, last_seen, idle, absolute, sid, issued, data): EpochArray,
    created: Timestamp,
    time: impl Fn(Nanos) -> Option<Timestamp>,
) -> Option<(Meta, Data)> {
    // `Some(None)` for no time, `None` for one out of range.
    let maybe = |nanos: Option<Nanos>| nanos.map_or(Some(None), |nanos| time(nanos).map(Some));
    let meta = Meta {
        user,
        auth_time: maybe(auth_time)?,
        created,
        last_seen: time(last_seen)?,
        idle: time(idle)?,
        absolute: time(absolute)?,
        sid,
        issued: maybe(issued)?,
    };
    Some((meta, data))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(user: Option<&str>) -> Meta {
        let t = |s: i64, ns: i32| Timestamp::new(s, ns).expect("in range");
        Meta {
            user: user.map(str::to_owned),
            auth_time: user.map(|_| t(1_700_000_100, 7)),
            created: t(1_700_000_000, 123_456_789),
            last_seen: t(1_700_000_500, 1),
            idle: t(1_700_002_300, 1),
            absolute: t(1_700_043_200, 123_456_789),
            sid: user.map(|_| "c2lk".to_owned()),
            issued: Some(t(1_700_000_100, 7)),
        }
    }

    fn same(a: &Meta, b: &Meta) -> bool {
        serde_json::to_value(a).ok() == serde_json::to_value(b).ok()
    }

    #[test]
    fn the_array_comes_back_as_it_was() {
        let data: Data = [("n".to_owned(), serde_json::json!(5))].into();
        for user in [None, Some("alice")] {
            let m = meta(user);
            let plain = seal_plaintext(&m, &data).expect("plaintext");
            assert_eq!(plain.first(), Some(&b'['));
            let (back, back_data) = open_plaintext(&plain).expect("opens");
            assert!(same(&back, &m), "{user:?}");
            assert_eq!(back_data, data);
        }
    }

    /// A fresh session as the cookie modes make one: seen at creation, deadlines whole
    /// timeouts (30 minutes idle, 12 hours absolute) after it.
    fn fresh() -> Meta {
        let created = Timestamp::new(1_700_000_000, 123_456_789).expect("in range");
        let after = |s: i64| created + jiff::SignedDuration::from_secs(s);
        Meta {
            user: None,
            auth_time: None,
            created,
            last_seen: created,
            idle: after(1_800),
            absolute: after(43_200),
            sid: None,
            issued: Some(created),
        }
    }

    #[test]
    fn a_fresh_sessions_times_are_short_offsets() {
        let data: Data = [("n".to_owned(), serde_json::json!(1000))].into();
        let plain = seal_plaintext(&fresh(), &data).expect("plaintext");
        assert_eq!(
            std::str::from_utf8(&plain).expect("text"),
            r#"[2,null,null,1700000000123456789,0,18e11,432e11,null,0,{"n":1000}]"#
        );
        let (back, _) = open_plaintext(&plain).expect("opens");
        assert!(same(&back, &fresh()));
    }

    #[test]
    fn a_cookie_sealed_in_the_earlier_array_layout_still_opens() {
        let m = meta(Some("dave"));
        let n = |t: Timestamp| t.as_nanosecond().to_string();
        let plain = format!(
            r#"["dave",{},{},{},{},{},"c2lk",{},{{"n":3}}]"#,
            n(m.auth_time.expect("signed in")),
            n(m.created),
            n(m.last_seen),
            n(m.idle),
            n(m.absolute),
            n(m.issued.expect("issued")),
        );
        let (back, data) = open_plaintext(plain.as_bytes()).expect("opens");
        assert!(same(&back, &m));
        assert_eq!(data["n"], serde_json::json!(3));
        // Written again, it takes the offsets' layout, and is shorter.
        let again = seal_plaintext(&back, &data).expect("plaintext");
        assert!(again.starts_with(b"[2,"));
        assert!(
            again.len() + 30 < plain.len(),
            "{} against {}",
            again.len(),
            plain.len()
        );
    }

    #[test]
    fn a_cookie_sealed_in_the_earlier_object_layout_still_opens() {
        let m = meta(Some("bob"));
        let mut object = serde_json::to_value(&m).expect("json");
        object["data"] = serde_json::json!({"n": 2});
        let plain = serde_json::to_vec(&object).expect("json");
        let (back, data) = open_plaintext(&plain).expect("opens");
        assert!(same(&back, &m));
        assert_eq!(data["n"], serde_json::json!(2));
    }

    #[test]
    fn the_array_is_much_shorter_than_the_object() {
        let (m, data) = (meta(Some("carol")), Data::new());
        let array = seal_plaintext(&m, &data).expect("plaintext").len();
        let mut object = serde_json::to_value(&m).expect("json");
        object["data"] = serde_json::json!({});
        let object = serde_json::to_vec(&object).expect("json").len();
        assert!(array * 3 < object * 2, "{array} bytes against {object}");
    }

    #[test]
    fn nonsense_is_refused_not_a_panic() {
        let max = i128::MAX.to_string();
        for plain in [
            "".to_owned(),
            "[".to_owned(),
            "[null,null,1,2,3]".to_owned(),
            format!("[null,null,{max},0,0,0,null,null,{{}}]"),
            "[null,null,0,0,0,0,null,null,[]]".to_owned(),
            // The offsets' layout: another layout's number, a creation out of range, offsets
            // that overflow or leave the range, a missing field.
            "[3,null,null,0,0,0,0,null,0,{}]".to_owned(),
            format!("[2,null,null,{max},0,0,0,null,0,{{}}]"),
            format!("[2,null,null,1,0,{max},0,null,0,{{}}]"),
            format!("[2,null,null,-1,0,0,-{max},null,0,{{}}]"),
            format!("[2,null,null,1700000000000000000,0,0,0,null,{max},{{}}]"),
            "[2,null,null,0,0,0,0,null,{}]".to_owned(),
            "[2,null,\"a\",0,0,0,0,null,0,{}]".to_owned(),
            "{\"data\":{}}".to_owned(),
        ] {
            assert!(open_plaintext(plain.as_bytes()).is_none(), "{plain}");
        }
    }
}
