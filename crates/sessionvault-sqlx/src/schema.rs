//! What both SQL stores share about their schema and errors.

use sessionvault::store::StoreError;

#[cfg(feature = "postgres")]
/// The schema version the PostgreSQL store writes and reads (SQLite's has its own). Version 2
/// keeps the record in its compact encoding; version 1 kept it as JSONB.
pub(crate) const SCHEMA_VERSION: i64 = 2;

pub(crate) fn store_error(e: impl std::error::Error + Send + Sync + 'static) -> StoreError {
    StoreError::new(e)
}

#[cfg(feature = "postgres")]
/// Reads the highest version in the schema table: `Ok(true)` when the table is new or older and
/// this version must be recorded, an error when the database was made by newer code.
pub(crate) fn needs_recording(current: Option<i64>) -> Result<bool, StoreError> {
    check_version(current, SCHEMA_VERSION)?;
    Ok(current != Some(SCHEMA_VERSION))
}

/// Refuses a database whose schema version is newer than `understood`: newer code may have
/// changed what rows mean.
pub(crate) fn check_version(current: Option<i64>, understood: i64) -> Result<(), StoreError> {
    match current {
        Some(v) if v > understood => Err(StoreError::new(format!(
            "the database has schema version {v}, newer than this sessionvault understands \
             ({understood})"
        ))),
        _ => Ok(()),
    }
}

#[cfg(all(test, feature = "postgres"))]
mod tests {
    use super::*;

    #[test]
    fn a_new_or_older_table_is_recorded_a_current_one_kept_and_a_newer_one_refused() {
        assert!(matches!(needs_recording(None), Ok(true)));
        assert!(matches!(needs_recording(Some(1)), Ok(true)));
        assert!(matches!(needs_recording(Some(SCHEMA_VERSION)), Ok(false)));
        let refused = needs_recording(Some(SCHEMA_VERSION + 1))
            .map(|_| ())
            .unwrap_err();
        assert!(refused.to_string().contains("newer"), "{refused}");
    }
}
