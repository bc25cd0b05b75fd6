//! Timeouts given as text, as on a command line: `2s`, `30m`, `12h` (or ISO 8601, `PT30M`),
//! checked against the range a session timeout can take.
//!
//! ```
//! use jiff::SignedDuration;
//! use sessionvault::timeout::{TimeoutError, parse_timeout};
//!
//! assert_eq!(parse_timeout("30m")?, SignedDuration::from_mins(30));
//! assert_eq!(parse_timeout("0s"), Err(TimeoutError::NotPositive));
//! assert_eq!(parse_timeout("9601h"), Err(TimeoutError::TooLong));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use jiff::SignedDuration;

/// The longest timeout accepted: 400 days. A longer one is a mistake, and far longer ones put
/// session deadlines past the range of a timestamp.
pub const MAX_TIMEOUT: SignedDuration = crate::SessionConfig::MAX_DURATION;

/// Why a timeout was refused. The messages fit after a flag's name on one line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TimeoutError {
    /// The text is not a duration.
    #[error("not a duration such as 2s, 30m or 12h")]
    NotADuration,
    /// Zero or negative: every session would end at once.
    #[error("a timeout must be positive")]
    NotPositive,
    /// Longer than [`MAX_TIMEOUT`].
    #[error("a timeout must be at most 400 days (9600h)")]
    TooLong,
}

/// Parses a timeout such as `2s`, `30m` or `12h`.
///
/// # Errors
///
/// [`TimeoutError`] when the text is not a duration, or [`check_timeout`] refuses it.
pub fn parse_timeout(text: &str) -> Result<SignedDuration, TimeoutError> {
    let timeout = text
        .parse::<SignedDuration>()
        .map_err(|_| TimeoutError::NotADuration)?;
    check_timeout(timeout)
}

/// `timeout` if it is positive and at most [`MAX_TIMEOUT`].
///
/// # Errors
///
/// [`TimeoutError::NotPositive`] or [`TimeoutError::TooLong`].
pub fn check_timeout(timeout: SignedDuration) -> Result<SignedDuration, TimeoutError> {
    if timeout <= SignedDuration::ZERO {
        Err(TimeoutError::NotPositive)
    } else if timeout > MAX_TIMEOUT {
        Err(TimeoutError::TooLong)
    } else {
        Ok(timeout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn friendly_and_iso_durations_parse() {
        for (text, want) in [
            ("2s", SignedDuration::from_secs(2)),
            ("30m", SignedDuration::from_mins(30)),
            ("12h", SignedDuration::from_hours(12)),
            ("1h 30m", SignedDuration::from_mins(90)),
            ("PT30M", SignedDuration::from_mins(30)),
            ("9600h", MAX_TIMEOUT),
        ] {
            assert_eq!(parse_timeout(text), Ok(want), "{text}");
        }
    }

    #[test]
    fn zero_negative_too_long_and_junk_are_refused() {
        for (text, want) in [
            ("0s", TimeoutError::NotPositive),
            ("-5m", TimeoutError::NotPositive),
            ("9601h", TimeoutError::TooLong),
            ("99999999999h", TimeoutError::TooLong),
            ("", TimeoutError::NotADuration),
            ("soon", TimeoutError::NotADuration),
            ("30", TimeoutError::NotADuration),
        ] {
            assert_eq!(parse_timeout(text), Err(want), "{text:?}");
        }
    }
}
