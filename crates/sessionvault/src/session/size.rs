//! The size limit on a session's data: measured as the stores encode it, without building the
//! encoding.

use std::collections::BTreeMap;
use std::io;

use super::engine::Engine;
use super::state::Change;
use crate::Error;
use crate::events::SecurityEvent;

/// Counts the bytes written through it and keeps none.
struct Counter(usize);

impl io::Write for Counter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0 = self.0.saturating_add(buf.len());
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The length of `data` as JSON text, which is what every store writes: one encoding pass that
/// allocates nothing.
pub(crate) fn encoded_len(data: &BTreeMap<String, serde_json::Value>) -> Result<usize, Error> {
    let mut counter = Counter(0);
    // String keys and JSON values always encode, and the counter never fails.
    serde_json::to_writer(&mut counter, data)
        .map_err(|_| Error::Unreachable("session data did not encode"))?;
    Ok(counter.0)
}

/// Refuses `data`, the session as a write would leave it, when it is past the configured limit,
/// and reports it. See [`measure`].
pub(crate) fn check(
    engine: &Engine,
    changes: &[Change],
    updating: bool,
    data: &BTreeMap<String, serde_json::Value>,
) -> Result<(), Error> {
    measure(changes, updating, data, engine.config.max_data_size).inspect_err(|error| {
        if let Error::SessionTooLarge { limit, size } = *error {
            engine.emit(SecurityEvent::SizeLimit { len: size, limit });
        }
    })
}

/// Refuses `data` when it is past `limit`. Measured only when the request sets something
/// (`changes` holds a set, or an `update` runs): removals only shrink, so a session stored
/// under a higher limit can still be trimmed, and a request that adds nothing costs no
/// encoding pass.
fn measure(
    changes: &[Change],
    updating: bool,
    data: &BTreeMap<String, serde_json::Value>,
    limit: usize,
) -> Result<(), Error> {
    if !updating && !changes.iter().any(|c| matches!(c, Change::Set(..))) {
        return Ok(());
    }
    let size = encoded_len(data)?;
    if size > limit {
        return Err(Error::SessionTooLarge { limit, size });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_count_is_the_length_of_the_json_text() {
        let data = BTreeMap::from([
            ("a".to_owned(), serde_json::json!("é\u{0}\"")),
            (
                "n".to_owned(),
                serde_json::json!([1, 2.5, null, {"x": true}]),
            ),
        ]);
        let text = serde_json::to_string(&data).unwrap_or_default();
        assert_eq!(encoded_len(&data).ok(), Some(text.len()));
        assert_eq!(encoded_len(&BTreeMap::new()).ok(), Some(2));
    }

    #[test]
    fn only_writes_that_add_are_measured() {
        let big = BTreeMap::from([("k".to_owned(), serde_json::json!("x".repeat(100)))]);
        let set = [Change::Set("k".into(), serde_json::json!(1))];
        let err = measure(&set, false, &big, 50).unwrap_err();
        assert!(
            matches!(
                err,
                Error::SessionTooLarge {
                    limit: 50,
                    size: 108
                }
            ),
            "{err}"
        );
        assert!(
            measure(&set, false, &big, 108).is_ok(),
            "the limit itself is allowed"
        );
        assert!(measure(&[], true, &big, 50).is_err(), "an update adds");
        assert!(measure(&[Change::Remove("j".into())], false, &big, 50).is_ok());
        assert!(measure(&[Change::Clear], false, &big, 50).is_ok());
    }
}
