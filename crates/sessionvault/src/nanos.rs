//! Times as whole nanoseconds in the JSON that stores and sealed cookies keep.
//!
//! jiff's timestamps span more nanoseconds than an `i64` holds, so the numbers are `i128`; but
//! serde_json reads an `i128` a digit at a time through a buffer of its own, and a record or a
//! sealed cookie carries up to eight of them on every load. [`Nanos`] borrows the number's
//! text instead and parses it at once: the same values, exactly, at the cost of an `i64`.
//!
//! A number may also carry an exponent (`18e11`), as the compact encoding writes whole timeouts;
//! it is read back exactly, in integers: the mantissa and exponent are JSON's, but no float is
//! involved.

use std::num::IntErrorKind;

use jiff::Timestamp;
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

    /// `t` as an offset from `origin` (nanoseconds since the epoch). Both are within jiff's
    /// range, so the difference fits with room to spare.
    pub(crate) fn offset(t: Timestamp, origin: i128) -> Self {
        Self(t.as_nanosecond() - origin)
    }

    /// The time this many nanoseconds after the epoch; `None` out of range.
    pub(crate) fn timestamp(self) -> Option<Timestamp> {
        Timestamp::from_nanosecond(self.0).ok()
    }

    /// The time `offset` after this one, as [`Nanos::offset`] wrote it; `None` for a sum that
    /// overflows or leaves jiff's range (a payload from outside is not trusted to be sane).
    pub(crate) fn after(self, offset: Self) -> Option<Timestamp> {
        self.0
            .checked_add(offset.0)
            .map(Self)
            .and_then(Self::timestamp)
    }
}

/// The largest exponent read: `10^38` is the largest power of ten an `i128` holds.
const MAX_EXPONENT: u32 = 38;

impl Serialize for Nanos {
    /// Always as an `i128`, which nothing else in the records serializes as: the compact
    /// encoding's formatter tells the times by it (see `store::compact`).
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_i128(self.0)
    }
}

/// `text`, a valid JSON number, as a whole number: an integer, or an integer mantissa with an
/// exponent of at most 38, unsigned or `+`, whose value fits an `i128`. Other whole values
/// (`1.0e3`, `0e39`, `1e-0`) are refused: nothing here writes them.
fn parse_whole(text: &str) -> Option<i128> {
    // Most times are plain integers, parsed without looking for an exponent first.
    match parse_integer(text) {
        Ok(whole) => return Some(whole),
        Err(IntErrorKind::InvalidDigit) => {}
        Err(_) => return None,
    }
    let at = memchr::memchr2(b'e', b'E', text.as_bytes())?;
    let (mantissa, exponent) = (&text[..at], &text[at + 1..]);
    let exponent: u32 = exponent
        .strip_prefix('+')
        .unwrap_or(exponent)
        .parse()
        .ok()?;
    if exponent > MAX_EXPONENT {
        return None;
    }
    parse_integer(mantissa)
        .ok()?
        .checked_mul(10i128.pow(exponent))
}

/// `digits` as an integer. Times within some 290 years of 1970 fit an `i64`, whose parser
/// costs less than `i128`'s, which is tried only for what overflows it.
fn parse_integer(digits: &str) -> Result<i128, IntErrorKind> {
    match digits.parse::<i64>() {
        Ok(n) => Ok(i128::from(n)),
        Err(e)
            if matches!(
                e.kind(),
                IntErrorKind::PosOverflow | IntErrorKind::NegOverflow
            ) =>
        {
            digits.parse::<i128>().map_err(|e| *e.kind())
        }
        Err(e) => Err(*e.kind()),
    }
}

/// serde_json's compact output, but for a time ending in three or more zeros, which it writes
/// with an exponent (`18e11`): written as offsets from the session's creation, the deadlines
/// of a session not touched since it began are whole timeouts, and stores keep millions of
/// such sessions and a sealed cookie carries them on every request. [`Nanos`] reads them back
/// exactly.
///
/// The times are the only `i128`s written ([`Nanos`] always serializes as one; the data's
/// numbers are `i64`, `u64` or `f64`), so the formatter tells them by their type.
pub(crate) struct TimesWithExponents;

impl serde_json::ser::Formatter for TimesWithExponents {
    fn write_i128<W: ?Sized + std::io::Write>(
        &mut self,
        writer: &mut W,
        value: i128,
    ) -> std::io::Result<()> {
        // Every time within some 290 years of 1970 fits an `i64`, where dividing by ten is a
        // multiplication, not a call.
        let Ok(mut mantissa) = i64::try_from(value) else {
            return writer.write_all(itoa::Buffer::new().format(value).as_bytes());
        };
        // `100` and `1e2` are as long; from `1000` (`1e3`) the exponent saves a byte or more.
        if mantissa == 0 || mantissa % 1000 != 0 {
            return writer.write_all(itoa::Buffer::new().format(mantissa).as_bytes());
        }
        let mut exponent = 0u8;
        while mantissa % 10 == 0 {
            mantissa /= 10;
            exponent += 1;
        }
        writer.write_all(itoa::Buffer::new().format(mantissa).as_bytes())?;
        writer.write_all(b"e")?;
        writer.write_all(itoa::Buffer::new().format(exponent).as_bytes())
    }
}

impl<'de> Deserialize<'de> for Nanos {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = <&'de RawValue>::deserialize(deserializer)?;
        // The text is a valid JSON value by now, so no parser sees a leading `+` on the
        // mantissa.
        parse_whole(raw.get())
            .map(Self)
            .ok_or_else(|| D::Error::custom("not a whole number of nanoseconds"))
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
    fn whole_numbers_with_an_exponent_are_read_exactly() {
        for (text, n) in [
            ("18e11", 1_800_000_000_000),
            ("432E+11", 43_200_000_000_000),
            ("-5e3", -5_000),
            ("1000e0", 1_000),
            ("1e03", 1_000),
            ("0e7", 0),
            ("1e38", 10i128.pow(38)),
            (
                "170141183460469231731687303715884105e3",
                i128::MAX / 1000 * 1000,
            ),
        ] {
            assert_eq!(
                serde_json::from_str::<Nanos>(text).expect("reads"),
                Nanos(n),
                "{text}"
            );
        }
    }

    #[test]
    fn anything_but_a_whole_number_in_range_is_refused() {
        let too_big = format!("{}0", i128::MAX);
        let refused = [
            "1.5", "1.5e3", "1e-3", "1e39", "2e38", "-2e38", "-0.0", "\"5\"", "true", "[]", "{}",
            "-", "+5", "1e", &too_big,
        ];
        for text in refused {
            assert!(serde_json::from_str::<Nanos>(text).is_err(), "{text}");
        }
    }
}
