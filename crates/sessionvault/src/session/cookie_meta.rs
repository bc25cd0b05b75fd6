//! What a cookie-held session carries besides its data, and how each cookie format writes it.
//!
//! A Flask cookie keeps [`Meta`] as a JSON object under one key of the session, where a Flask
//! app sharing the session sees readable fields. A sealed cookie's plaintext is a JSON array,
//! the metadata in a fixed order with times as nanoseconds since the epoch, then the data: no
//! field names, no RFC 3339 dates to parse, no buffering of the object by serde's `flatten`,
//! on every request. Cookies sealed in the earlier object layout still open, and are sealed as
//! an array at their next write.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::Error;
use crate::nanos::Nanos;

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

/// The sealed plaintext as it is written: user, sign-in time, created, last seen, idle and
/// absolute deadlines, denylist ID, identity issued, data.
type SealedArray<'a> = (
    Option<&'a str>,
    Option<i128>,
    i128,
    i128,
    i128,
    i128,
    Option<&'a str>,
    Option<i128>,
    &'a Data,
);

/// The sealed plaintext as it is read.
type SealedArrayOwned = (
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
    let array: SealedArray<'_> = (
        meta.user.as_deref(),
        meta.auth_time.map(Timestamp::as_nanosecond),
        meta.created.as_nanosecond(),
        meta.last_seen.as_nanosecond(),
        meta.idle.as_nanosecond(),
        meta.absolute.as_nanosecond(),
        meta.sid.as_deref(),
        meta.issued.map(Timestamp::as_nanosecond),
        data,
    );
    serde_json::to_vec(&array)
        .map_err(|_| Error::Unrepresentable("session data is not serializable"))
}

/// The metadata and data of a sealed cookie's plaintext, in either layout; `None` for
/// anything else. The plaintext is authenticated, but a key shared with another program could
/// still seal nonsense: it is refused, never a panic.
pub(crate) fn open_plaintext(plain: &[u8]) -> Option<(Meta, Data)> {
    if plain.first() != Some(&b'[') {
        let SealedObject { meta, data } = serde_json::from_slice(plain).ok()?;
        return Some((meta, data));
    }
    let (user, auth_time, created, last_seen, idle, absolute, sid, issued, data): SealedArrayOwned =
        serde_json::from_slice(plain).ok()?;
    let at = |nanos: Nanos| Timestamp::from_nanosecond(nanos.0).ok();
    // `Some(None)` for no time, `None` for one out of range.
    let maybe_at = |nanos: Option<Nanos>| nanos.map_or(Some(None), |nanos| at(nanos).map(Some));
    let meta = Meta {
        user,
        auth_time: maybe_at(auth_time)?,
        created: at(created)?,
        last_seen: at(last_seen)?,
        idle: at(idle)?,
        absolute: at(absolute)?,
        sid,
        issued: maybe_at(issued)?,
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
            "{\"data\":{}}".to_owned(),
        ] {
            assert!(open_plaintext(plain.as_bytes()).is_none(), "{plain}");
        }
    }
}
