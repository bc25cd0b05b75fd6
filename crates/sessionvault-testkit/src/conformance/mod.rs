//! The store conformance suite: what every [`SessionStore`](sessionvault::store::SessionStore) must do, checked the same way for
//! each. A store crate runs it with
//!
//! ```ignore
//! sessionvault_testkit::store_conformance!(async { MyStore::connect(...).await.unwrap() });
//! ```
//!
//! which expands to one `#[tokio::test]` per check, each with a fresh store from the
//! expression.
mod engine;
mod store;

use std::collections::BTreeMap;

use jiff::{SignedDuration, Timestamp};
use sessionvault::Keyring;
use sessionvault::id::{SessionId, StoreKey};
use sessionvault::store::{Record, RecordState};

pub use self::engine::*;
pub use self::store::*;

/// Expands to the whole suite as tests, for a store made by `$make` (an async expression).
///
/// `store_conformance!(service = "postgres", make())` marks tests that need a server:
/// they are skipped only when `./scripts/test.sh` could not provide one (see
/// [`crate::skip_requested`]).
#[macro_export]
macro_rules! store_conformance {
    (service = $service:literal, $make:expr) => {
        $crate::store_conformance!(@all $service, $make);
    };
    ($make:expr) => {
        $crate::store_conformance!(@all "", $make);
    };
    (@all $service:literal, $make:expr) => {
        $crate::store_conformance!(@tests $service, $make;
            create_never_overwrites,
            every_load_agrees,
            save_is_compare_and_set,
            a_lost_save_answers_what_a_load_finds,
            tombstones_are_final,
            touch_moves_deadlines_without_a_version,
            user_index_lists_live_sessions_only,
            sweep_forgets_only_what_has_expired,
            keys_are_opaque_hashes,
            concurrent_writers_lose_nothing,
            sessions_merge_concurrent_writes,
            logout_leaves_a_tombstone_in_flight_writes_cannot_revive,
            idle_and_absolute_expiry_hold,
            round_trips_per_request,
            review_nul_in_session_data_is_stored_faithfully,
            review_renewal_grace_keeps_parallel_reads,
            review_renewal_grace_keeps_parallel_update,
            review_write_racing_login_is_refused_without_clearing_the_cookie,
            review_revoke_all_catches_racing_id_changes,
        );
    };
    (@tests $service:literal, $make:expr; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                if !$service.is_empty() && $crate::skip_requested($service) {
                    return;
                }
                $crate::logs::capture();
                let store = $make.await;
                $crate::conformance::$name(store).await;
            }
        )*
    };
}

/// The suite's "now": the real time when the process started, in whole seconds. Real, not a
/// fixed date, because stores with their own expiry (Redis TTLs) rightly drop records whose
/// retention time has passed.
pub(crate) fn t0() -> Timestamp {
    static START: std::sync::OnceLock<Timestamp> = std::sync::OnceLock::new();
    *START.get_or_init(|| {
        Timestamp::from_second(Timestamp::now().as_second()).unwrap_or(Timestamp::UNIX_EPOCH)
    })
}

pub(crate) fn fresh_key() -> StoreKey {
    let id = SessionId::generate().unwrap_or_else(|e| panic!("OS RNG: {e}"));
    let keyring = Keyring::generate().unwrap_or_else(|e| panic!("OS RNG: {e}"));
    sessionvault::tooling::IdHasher::new(&keyring).key(&id)
}

/// A live record for tests.
pub fn record(user: Option<&str>) -> Record {
    let now = t0();
    Record {
        key: fresh_key(),
        version: 0,
        state: RecordState::Live,
        data: BTreeMap::from([("k".to_owned(), serde_json::json!("v"))]),
        user: user.map(str::to_owned),
        auth_time: user.map(|_| now),
        created: now,
        id_issued: now,
        last_seen: now,
        idle_deadline: now + SignedDuration::from_mins(30),
        absolute_deadline: now + SignedDuration::from_hours(12),
        user_agent: Some("test-agent".into()),
        ip: Some("192.0.2.0/24".into()),
        expires_at: now + SignedDuration::from_hours(12),
    }
}

pub(crate) fn next(mut record: Record) -> Record {
    record.version += 1;
    record
}
