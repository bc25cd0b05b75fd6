//! Flask's tagged JSON (`flask.json.tag.TaggedJSONSerializer`): JSON in which a one-key object
//! whose key is a tag stands for a Python type that JSON lacks.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use jiff::Timestamp;
use jiff::fmt::rfc2822;

use super::json;
use super::value::Value;
use crate::Error;

/// The tags Flask registers by default. A one-key dict whose key is one of these is escaped
/// with `" di"` on the way out.
const TAGS: [&str; 6] = [" di", " t", " b", " m", " u", " d"];

/// Serializes `value` exactly as Flask does: tagged, compact, keys sorted by code point,
/// non-ASCII escaped.
///
/// # Errors
///
/// [`Error::Unrepresentable`] for a datetime outside Python's years 1 to 9999.
pub fn to_string(value: &Value) -> Result<String, Error> {
    let mut out = String::new();
    write_value(&mut out, value)?;
    Ok(out)
}

/// Parses Flask's tagged JSON, undoing the tags bottom-up as Flask does.
///
/// # Errors
///
/// [`Error::Malformed`] when the text is not JSON or a tag holds a value of the wrong shape.
pub fn from_str(text: &str) -> Result<Value, Error> {
    json::parse(text, &untag)
        .map_err(|e| Error::malformed(format!("session JSON: {} at byte {}", e.what, e.offset)))
}

fn write_value(out: &mut String, value: &Value) -> Result<(), Error> {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Int(i) => out.push_str(&i.to_string()),
        Value::BigInt(digits) => {
            if !is_integer_literal(digits) {
                return Err(Error::Unrepresentable(
                    "BigInt holds something other than digits",
                ));
            }
            out.push_str(digits);
        }
        Value::Float(f) => out.push_str(&json::float_repr(*f)),
        Value::Str(s) => json::write_str(out, s),
        Value::List(items) => write_list(out, items)?,
        Value::Dict(map) => {
            if let Some((key, inner)) = map
                .iter()
                .next()
                .filter(|(k, _)| map.len() == 1 && TAGS.contains(&k.as_str()))
            {
                out.push_str("{\" di\":{");
                json::write_str(out, &format!("{key}__"));
                out.push(':');
                write_value(out, inner)?;
                out.push_str("}}");
                return Ok(());
            }
            out.push('{');
            for (i, (key, inner)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                json::write_str(out, key);
                out.push(':');
                write_value(out, inner)?;
            }
            out.push('}');
        }
        Value::Tuple(items) => {
            out.push_str("{\" t\":");
            write_list(out, items)?;
            out.push('}');
        }
        Value::Bytes(bytes) => {
            out.push_str("{\" b\":");
            json::write_str(out, &STANDARD.encode(bytes));
            out.push('}');
        }
        Value::Markup(s) => {
            out.push_str("{\" m\":");
            json::write_str(out, s);
            out.push('}');
        }
        Value::Uuid(bytes) => {
            out.push_str("{\" u\":\"");
            out.push_str(&hex::encode(bytes));
            out.push_str("\"}");
        }
        Value::DateTime(ts) => {
            out.push_str("{\" d\":");
            json::write_str(out, &http_date(*ts)?);
            out.push('}');
        }
    }
    Ok(())
}

fn write_list(out: &mut String, items: &[Value]) -> Result<(), Error> {
    out.push('[');
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_value(out, item)?;
    }
    out.push(']');
    Ok(())
}

fn is_integer_literal(s: &str) -> bool {
    let digits = s.strip_prefix('-').unwrap_or(s);
    !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !(digits.len() > 1 && digits.starts_with('0'))
}

/// `werkzeug.http.http_date`: `Tue, 02 Jan 2024 01:04:05 GMT` (RFC 9110's IMF-fixdate),
/// four-digit years from 1 to 9999.
fn http_date(ts: Timestamp) -> Result<String, Error> {
    const OUTSIDE: Error =
        Error::Unrepresentable("datetime outside the years 1 to 9999 that Python supports");
    if !(1..=9999).contains(&ts.to_zoned(jiff::tz::TimeZone::UTC).year()) {
        return Err(OUTSIDE);
    }
    rfc2822::DateTimePrinter::new()
        .timestamp_to_rfc9110_string(&ts)
        .map_err(|_| OUTSIDE)
}

/// The inverse of each tag's `to_json`, applied to every parsed object.
fn untag(mut map: BTreeMap<String, Value>) -> Result<Value, &'static str> {
    if map.len() != 1 {
        return Ok(Value::Dict(map));
    }
    let Some(tag) = map
        .keys()
        .next()
        .filter(|k| TAGS.contains(&k.as_str()))
        .cloned()
    else {
        return Ok(Value::Dict(map));
    };
    let Some(inner) = map.remove(&tag) else {
        return Err("tag vanished");
    };
    match (tag.as_str(), inner) {
        (" di", Value::Dict(mut escaped)) if escaped.len() == 1 => {
            let Some((key, value)) = escaped.pop_first() else {
                return Err("empty \" di\" tag");
            };
            let Some(original) = key.strip_suffix("__") else {
                return Err("\" di\" key without the \"__\" suffix");
            };
            Ok(Value::Dict(BTreeMap::from([(original.to_owned(), value)])))
        }
        (" t", Value::List(items)) => Ok(Value::Tuple(items)),
        (" b", Value::Str(b64)) => STANDARD
            .decode(b64.as_bytes())
            .map(Value::Bytes)
            .map_err(|_| "\" b\" tag is not valid base64"),
        (" m", Value::Str(s)) => Ok(Value::Markup(s)),
        (" u", Value::Str(s)) => parse_uuid(&s).map(Value::Uuid),
        (" d", Value::Str(s)) => parse_http_date(&s).map(Value::DateTime),
        _ => Err("tagged value of the wrong type"),
    }
}

/// `werkzeug.http.parse_date`, which is `email.utils.parsedate_to_datetime`: the weekday is
/// ignored, and years below 100 are read as 19xx (69 to 99) or 20xx (0 to 68).
fn parse_http_date(s: &str) -> Result<Timestamp, &'static str> {
    const NOT_A_DATE: &str = "\" d\" tag is not an HTTP date";
    let without_weekday = match s.split_once(',') {
        Some((weekday, rest)) if weekday.trim().chars().all(|c| c.is_ascii_alphabetic()) => rest,
        _ => s,
    };
    let ts = rfc2822::DateTimeParser::new()
        .parse_timestamp(without_weekday.trim().as_bytes())
        .map_err(|_| NOT_A_DATE)?;
    let dt = ts.to_zoned(jiff::tz::TimeZone::UTC);
    let year = dt.year();
    if year >= 100 {
        return Ok(ts);
    }
    let century = if year > 68 { 1900 } else { 2000 };
    dt.with()
        .year(year + century)
        .build()
        .map(|z| z.timestamp())
        .map_err(|_| NOT_A_DATE)
}

/// `uuid.UUID(s)`: 32 hex digits, with optional hyphens, braces and `urn:uuid:` prefix.
fn parse_uuid(s: &str) -> Result<[u8; 16], &'static str> {
    let s = s.strip_prefix("urn:").unwrap_or(s);
    let s = s.strip_prefix("uuid:").unwrap_or(s);
    let s = s.trim_matches(|c| c == '{' || c == '}');
    let compact: String = s.chars().filter(|c| *c != '-').collect();
    let mut out = [0u8; 16];
    hex::decode_to_slice(compact.as_bytes(), &mut out).map_err(|_| "\" u\" tag is not a UUID")?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dict(pairs: &[(&str, Value)]) -> Value {
        Value::Dict(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.clone()))
                .collect(),
        )
    }

    #[test]
    fn every_tag_round_trips() {
        let ts: Timestamp = "2024-01-02T01:04:05Z".parse().unwrap();
        let value = dict(&[
            ("t", Value::Tuple(vec![Value::Int(1), Value::from("x")])),
            ("b", Value::Bytes(vec![0, 255, 16])),
            ("m", Value::Markup("<b>hi</b>".into())),
            ("u", Value::Uuid([0xab; 16])),
            ("d", Value::DateTime(ts)),
            ("di", dict(&[(" t", Value::Int(5))])),
            ("n", Value::Null),
            ("f", Value::Float(1.5)),
        ]);
        let text = to_string(&value).unwrap();
        assert_eq!(
            text,
            concat!(
                r#"{"b":{" b":"AP8Q"},"d":{" d":"Tue, 02 Jan 2024 01:04:05 GMT"},"#,
                r#""di":{" di":{" t__":5}},"f":1.5,"m":{" m":"<b>hi</b>"},"n":null,"#,
                r#""t":{" t":[1,"x"]},"u":{" u":"abababababababababababababababab"}}"#
            )
        );
        assert_eq!(from_str(&text).unwrap(), value);
    }

    #[test]
    fn top_level_dict_whose_key_is_a_tag_is_escaped() {
        let value = dict(&[(" t", Value::Int(1))]);
        assert_eq!(to_string(&value).unwrap(), r#"{" di":{" t__":1}}"#);
        assert_eq!(from_str(r#"{" di":{" t__":1}}"#).unwrap(), value);
    }

    #[test]
    fn tags_of_the_wrong_shape_are_malformed() {
        for bad in [
            r#"{" t":"abc"}"#,
            r#"{" b":"!!"}"#,
            r#"{" u":"xyz"}"#,
            r#"{" d":"yesterday"}"#,
            r#"{" di":{"a":1}}"#,
            r#"{" di":{"a__":1,"b__":2}}"#,
            r#"{" m":1}"#,
        ] {
            assert!(from_str(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn http_dates_are_read_as_python_reads_them() {
        let read = |s: &str| parse_http_date(s).unwrap().to_string();
        assert_eq!(
            read("Sun, 02 Jan 0005 03:04:05 GMT"),
            "2005-01-02T03:04:05Z"
        );
        assert_eq!(
            read("Sun, 02 Jan 0069 03:04:05 GMT"),
            "1969-01-02T03:04:05Z"
        );
        assert_eq!(
            read("Sun, 02 Jan 0123 03:04:05 GMT"),
            "0123-01-02T03:04:05Z"
        );
        // Wrong weekday: ignored, as Python ignores it.
        assert_eq!(
            read("Mon, 02 Jan 2024 01:04:05 GMT"),
            "2024-01-02T01:04:05Z"
        );
        assert!(parse_http_date("02 Foo 2024 01:04:05 GMT").is_err());
    }

    #[test]
    fn uuid_accepts_python_spellings() {
        let want = [0x12u8; 16];
        for s in [
            "12121212121212121212121212121212",
            "12121212-1212-1212-1212-121212121212",
            "{12121212-1212-1212-1212-121212121212}",
            "urn:uuid:12121212-1212-1212-1212-121212121212",
        ] {
            assert_eq!(parse_uuid(s).unwrap(), want, "{s}");
        }
    }

    #[test]
    fn datetimes_outside_python_range_are_refused() {
        let ts: Timestamp = "-000001-01-01T00:00:00Z".parse().unwrap();
        assert!(to_string(&Value::DateTime(ts)).is_err());
        let early: Timestamp = "0005-01-02T03:04:05Z".parse().unwrap();
        assert_eq!(
            to_string(&Value::DateTime(early)).unwrap(),
            r#"{" d":"Sun, 02 Jan 0005 03:04:05 GMT"}"#
        );
    }

    /// The writer this module had before it used jiff's RFC 9110 printer.
    fn hand_written_http_date(ts: Timestamp) -> Result<String, Error> {
        let dt = ts.to_zoned(jiff::tz::TimeZone::UTC).datetime();
        if !(1..=9999).contains(&dt.year()) {
            return Err(Error::Unrepresentable(
                "datetime outside the years 1 to 9999 that Python supports",
            ));
        }
        const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
        const MONTHS: [&str; 12] = [
            "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
        ];
        let weekday = DAYS[dt.weekday().to_monday_zero_offset() as usize];
        let month = MONTHS[(dt.month() - 1) as usize];
        Ok(format!(
            "{weekday}, {:02} {month} {:04} {:02}:{:02}:{:02} GMT",
            dt.day(),
            dt.year(),
            dt.hour(),
            dt.minute(),
            dt.second()
        ))
    }

    #[test]
    fn http_dates_are_the_bytes_the_hand_written_writer_made() {
        // Every day of years 1 to 9999 would be slow in debug builds: a stride that visits
        // each weekday, month, day, leap day and time of day across the range.
        let first = "0001-01-01T00:00:00Z".parse::<Timestamp>().unwrap();
        let last = Timestamp::MAX;
        let stride = jiff::SignedDuration::from_secs(86_400 * 29 + 3_661);
        let mut ts = first;
        let mut checked = 0;
        while ts <= last {
            assert_eq!(http_date(ts).unwrap(), hand_written_http_date(ts).unwrap());
            let Ok(next) = ts.checked_add(stride) else {
                break;
            };
            ts = next;
            checked += 1;
        }
        for edge in [
            first,
            last,
            "2024-02-29T12:00:00Z".parse().unwrap(),
            Timestamp::UNIX_EPOCH,
        ] {
            assert_eq!(
                http_date(edge).unwrap(),
                hand_written_http_date(edge).unwrap()
            );
        }
        assert!(checked > 120_000, "{checked}");
    }
}
