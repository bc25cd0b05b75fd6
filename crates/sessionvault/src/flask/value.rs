//! The values a Flask session can hold, as Flask's tagged JSON serializer sees them.

use std::collections::BTreeMap;
use std::fmt;

use jiff::Timestamp;

/// One value of a Flask session.
///
/// Plain JSON kinds map to themselves. The other variants are the types that Flask's
/// `TaggedJSONSerializer` writes as a one-key object whose key is a tag, so they survive a round
/// trip through the cookie with their Python type intact:
///
/// | variant | Python type | tag |
/// |---|---|---|
/// | [`Value::Tuple`] | `tuple` | `" t"` |
/// | [`Value::Bytes`] | `bytes` | `" b"` |
/// | [`Value::Markup`] | `markupsafe.Markup` | `" m"` |
/// | [`Value::Uuid`] | `uuid.UUID` | `" u"` |
/// | [`Value::DateTime`] | `datetime.datetime` (UTC, whole seconds) | `" d"` |
///
/// A one-key object whose key is itself a tag is escaped with `" di"`; that happens inside the
/// codec and never shows up as a variant.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// `None`.
    Null,
    /// `True` or `False`.
    Bool(bool),
    /// An `int` that fits in 64 bits.
    Int(i64),
    /// An `int` outside the 64-bit range, kept as its decimal digits (with a leading `-` when
    /// negative) so that it round-trips exactly.
    BigInt(String),
    /// A `float`, including NaN and the infinities, which Python's `json` module writes as
    /// `NaN`, `Infinity` and `-Infinity`.
    Float(f64),
    /// A `str`.
    Str(String),
    /// A `list`.
    List(Vec<Self>),
    /// A `dict` with string keys; sorted by code point, as Flask writes them.
    Dict(BTreeMap<String, Self>),
    /// A `tuple`.
    Tuple(Vec<Self>),
    /// A `bytes` value.
    Bytes(Vec<u8>),
    /// A `markupsafe.Markup` string (HTML that is already safe).
    Markup(String),
    /// A `uuid.UUID`.
    Uuid([u8; 16]),
    /// A `datetime.datetime`. Flask keeps whole seconds in UTC; years run from 1 to 9999.
    DateTime(Timestamp),
}

impl Value {
    /// An empty dict, the value of a new session.
    pub fn new_dict() -> Self {
        Self::Dict(BTreeMap::new())
    }

    /// The dict inside, if this value is one.
    pub fn as_dict(&self) -> Option<&BTreeMap<String, Self>> {
        match self {
            Self::Dict(map) => Some(map),
            _ => None,
        }
    }

    /// The name of this value's Python type, for messages.
    pub fn python_type(&self) -> &'static str {
        match self {
            Self::Null => "NoneType",
            Self::Bool(_) => "bool",
            Self::Int(_) | Self::BigInt(_) => "int",
            Self::Float(_) => "float",
            Self::Str(_) => "str",
            Self::List(_) => "list",
            Self::Dict(_) => "dict",
            Self::Tuple(_) => "tuple",
            Self::Bytes(_) => "bytes",
            Self::Markup(_) => "Markup",
            Self::Uuid(_) => "UUID",
            Self::DateTime(_) => "datetime",
        }
    }

    /// Converts to plain JSON for display: tuples become arrays, bytes become standard base64,
    /// UUIDs become their hyphenated form and datetimes RFC 3339. This loses the Python types;
    /// use [`crate::flask::tagged_json`] to keep them.
    pub fn to_plain_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match self {
            Self::Null => J::Null,
            Self::Bool(b) => J::Bool(*b),
            Self::Int(i) => J::from(*i),
            // serde_json has no arbitrary-precision integers without a global feature; the
            // digits survive as a string.
            Self::BigInt(digits) => J::String(digits.clone()),
            Self::Float(f) => serde_json::Number::from_f64(*f)
                .map(J::Number)
                .unwrap_or_else(|| J::String(super::json::float_repr(*f))),
            Self::Str(s) | Self::Markup(s) => J::String(s.clone()),
            Self::List(items) | Self::Tuple(items) => {
                J::Array(items.iter().map(Self::to_plain_json).collect())
            }
            Self::Dict(map) => J::Object(
                map.iter()
                    .map(|(k, v)| (k.clone(), v.to_plain_json()))
                    .collect(),
            ),
            Self::Bytes(bytes) => {
                use base64::Engine as _;
                J::String(base64::engine::general_purpose::STANDARD.encode(bytes))
            }
            Self::Uuid(bytes) => J::String(format_uuid_hyphenated(bytes)),
            Self::DateTime(ts) => J::String(ts.to_string()),
        }
    }

    /// Converts plain JSON into a value: objects become dicts, arrays lists. Numbers that are
    /// neither `i64` nor `u64` become floats.
    pub fn from_plain_json(json: &serde_json::Value) -> Self {
        use serde_json::Value as J;
        match json {
            J::Null => Self::Null,
            J::Bool(b) => Self::Bool(*b),
            J::Number(n) => match (n.as_i64(), n.as_u64()) {
                (Some(i), _) => Self::Int(i),
                (None, Some(u)) => Self::BigInt(u.to_string()),
                // serde_json only holds finite floats, so as_f64 always answers here.
                _ => Self::Float(n.as_f64().unwrap_or(f64::NAN)),
            },
            J::String(s) => Self::Str(s.clone()),
            J::Array(items) => Self::List(items.iter().map(Self::from_plain_json).collect()),
            J::Object(map) => Self::Dict(
                map.iter()
                    .map(|(k, v)| (k.clone(), Self::from_plain_json(v)))
                    .collect(),
            ),
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Self::Str(s.to_owned())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Self::Str(s)
    }
}

impl From<i64> for Value {
    fn from(i: i64) -> Self {
        Self::Int(i)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Self::Bool(b)
    }
}

impl fmt::Display for Value {
    /// Writes the value as Flask's tagged JSON.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match super::tagged_json::to_string(self) {
            Ok(s) => f.write_str(&s),
            Err(_) => f.write_str("<value Flask cannot represent>"),
        }
    }
}

fn format_uuid_hyphenated(b: &[u8; 16]) -> String {
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}
