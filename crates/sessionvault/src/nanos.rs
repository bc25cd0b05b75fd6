//! Times as whole nanoseconds in the JSON that stores and sealed cookies keep.
//!
//! jiff's timestamps span more nanoseconds than an `i64` holds, so the numbers are `i128`; but
//! serde_json reads an `i128` a digit at a time through a buffer of its own, and a record or a
//! sealed cookie carries up to eight of them on every load. [`Nanos`] borrows the number's
//! text instead and parses it at once: the same values, exactly, at the cost of an `i64`.

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;

/// A count of nanoseconds, written as a JSON integer.
///
/// It reads only from serde_json's borrowing deserializers (`from_slice`, `from_str`), which
/// is how every codec here reads.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Nanos(pub(crate) i128);

impl Nanos {
    pub(crate) fn is_zero(&self) -> bool {
        self.0 == 0
    }
}

impl Serialize for Nanos {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_i128(self.0)
    }
}

impl<'de> Deserialize<'de> for Nanos {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = <&'de RawValue>::deserialize(deserializer)?;
        // The text is a valid JSON value by now, so neither parser sees a leading `+`. Times
        // within some 290 years of 1970 fit an `i64`, whose parser costs less than `i128`'s.
        let text = raw.get();
        text.parse::<i64>()
            .map(i128::from)
            .or_else(|_| text.parse::<i128>())
            .map(Self)
            .map_err(|_| D::Error::custom("not an integer number of nanoseconds"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_i128_comes_back_as_it_was() {
        for n in [
            0,
            1,
            -1,
            1_764_633_600_123_456_789,
            i128::from(i64::MAX) + 1,
            i128::MIN,
            i128::MAX,
        ] {
            let text = serde_json::to_string(&Nanos(n)).expect("json");
            assert_eq!(text, n.to_string());
            assert_eq!(
                serde_json::from_str::<Nanos>(&text).expect("reads"),
                Nanos(n)
            );
        }
    }

    #[test]
    fn it_reads_inside_arrays_and_options_with_json_whitespace() {
        let read: (Option<Nanos>, Nanos, Option<Nanos>) =
            serde_json::from_slice(b"[ null ,\n 12 , -7 ]").expect("reads");
        assert_eq!(read, (None, Nanos(12), Some(Nanos(-7))));
    }

    #[test]
    fn anything_but_an_integer_in_range_is_refused() {
        let too_big = format!("{}0", i128::MAX);
        let refused = [
            "1.5", "1e3", "-0.0", "\"5\"", "true", "[]", "{}", "-", "+5", &too_big,
        ];
        for text in refused {
            assert!(serde_json::from_str::<Nanos>(text).is_err(), "{text}");
        }
    }
}
