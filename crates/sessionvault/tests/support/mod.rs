//! Shared test helpers.

pub(crate) mod arb;

use std::path::PathBuf;

use sessionvault::cookie::IncomingCookie;
use sessionvault::{
    CookieMode, Keyring, ManualClock, RequestMeta, Session, SessionConfig, SessionManager,
    store::MemoryStore,
};
use sessionvault_testkit::{Events, TestStore};

/// A session engine on a counting memory store, a manual clock and an event recorder.
pub(crate) struct Harness {
    pub(crate) manager: SessionManager,
    pub(crate) store: TestStore<MemoryStore>,
    pub(crate) clock: ManualClock,
    pub(crate) events: Events,
}

impl Harness {
    pub(crate) fn new(config: SessionConfig) -> Self {
        Self::with_mode(CookieMode::Server, config)
    }

    /// In `mode`; in the cookie modes the store keeps the denylist.
    pub(crate) fn with_mode(mode: CookieMode, config: SessionConfig) -> Self {
        let store = TestStore::new(MemoryStore::new());
        let clock = ManualClock::new("2026-01-01T00:00:00Z".parse().unwrap());
        let events = Events::default();
        let manager = SessionManager::builder(Keyring::generate().unwrap())
            .with_mode(mode)
            .with_store(store.clone())
            .with_clock(clock.clone())
            .with_event_sink(events.clone())
            .with_config(config)
            .build()
            .unwrap();
        Self {
            manager,
            store,
            clock,
            events,
        }
    }

    /// A request carrying `cookie` (if any) from a client described by `meta`.
    pub(crate) fn request_with(&self, cookie: Option<&str>, meta: RequestMeta) -> Session {
        let incoming = cookie.map_or(IncomingCookie::Absent, |v| IncomingCookie::One(v.into()));
        self.manager.session(incoming, meta)
    }
}

/// The cookie value out of a Set-Cookie header.
pub(crate) fn value_of(set_cookie: &str) -> String {
    let first = set_cookie.split(';').next().unwrap();
    first.split_once('=').unwrap().1.to_owned()
}

/// The Python with pinned Flask that `./scripts/test.sh` prepares: `SESSIONVAULT_FLASK_PYTHON`,
/// or the workspace's `.venv`. Without one the interop tests fail loudly rather than pass
/// without having run.
pub(crate) fn flask_python() -> PathBuf {
    if let Some(path) = std::env::var_os("SESSIONVAULT_FLASK_PYTHON") {
        return PathBuf::from(path);
    }
    let venv = workspace_root().join(".venv/bin/python");
    assert!(
        venv.exists(),
        "the Flask interop tests need a Python with pinned Flask: run ./scripts/test.sh, which \
         creates .venv, or set SESSIONVAULT_FLASK_PYTHON"
    );
    venv
}

pub(crate) fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub(crate) fn oracle_script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/flask/oracle.py")
}

/// A secret as the oracle passes it: `{"text": ...}` or `{"hex": ...}`.
pub(crate) fn secret_bytes(spec: &serde_json::Value) -> Vec<u8> {
    if let Some(text) = spec.get("text").and_then(|t| t.as_str()) {
        return text.as_bytes().to_vec();
    }
    let hex = spec["hex"].as_str().expect("secret spec has text or hex");
    hex::decode(hex).expect("oracle hex is valid")
}

/// A keyring of the item's current key and fallbacks.
pub(crate) fn keyring_of(item: &serde_json::Value) -> Keyring {
    let current = secret_bytes(&item["current"]);
    let fallbacks: Vec<Vec<u8>> = item["fallbacks"]
        .as_array()
        .expect("fallbacks array")
        .iter()
        .map(secret_bytes)
        .collect();
    Keyring::danger_legacy_unchecked(current, fallbacks)
}
