//! A store payload the engine did not write: whatever a corrupted or tampered database or
//! Redis value holds, as a record's JSON or its compact encoding. Decoding it never panics,
//! what decodes re-encodes to the same record, and a request whose cookie names it (read,
//! write, commit) gets an answer or an error, never a panic, whatever its timestamps and state
//! say.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use sessionvault::cookie::IncomingCookie;
use sessionvault::id::{SessionId, StoreKey};
use sessionvault::store::{Record, SessionStore};
use sessionvault::tooling::IdHasher;
use sessionvault::{Keyring, RequestMeta, SessionManager, store::MemoryStore};

const ID: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("runtime")
    })
}

fuzz_target!(|data: &[u8]| {
    if let Ok(record) = Record::from_compact(StoreKey::from_bytes([7; 32]), data) {
        let encoded = record.to_compact().expect("a decoded record encodes");
        let again = Record::from_compact(record.key, &encoded).expect("own encoding decodes");
        assert_eq!(again, record);
    }
    let Ok(mut record) = serde_json::from_slice::<Record>(data) else {
        return;
    };
    let encoded = serde_json::to_string(&record).expect("a decoded record encodes");
    let again: Record = serde_json::from_str(&encoded).expect("own encoding decodes");
    assert_eq!(again, record);

    let keyring =
        Keyring::danger_legacy_unchecked("fuzzing key, not a secret", Vec::<Vec<u8>>::new());
    let id = SessionId::parse(ID).expect("a well-formed ID");
    record.key = IdHasher::new(&keyring).key(&id);
    let store = MemoryStore::new();
    let manager = SessionManager::builder(keyring)
        .with_store(store.clone())
        .build()
        .expect("manager");
    runtime().block_on(async {
        if !store.create(&record).await.unwrap_or(false) {
            return;
        }
        let session = manager.session(IncomingCookie::One(ID.into()), RequestMeta::default());
        let _ = session.get_value("n").await;
        let _ = session
            .update("n", |n: Option<i64>| n.unwrap_or(0).wrapping_add(1))
            .await;
        let _ = session.deadlines().await;
        let _ = session.auth_age().await;
        let _ = session.commit().await;
    });
});
