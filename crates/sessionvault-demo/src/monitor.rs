//! Security events per user for the events page, and the counters behind `/metrics`.

use std::collections::{HashMap, VecDeque};
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use async_trait::async_trait;
use jiff::Timestamp;
use sessionvault::id::StoreKey;
use sessionvault::store::{Record, SaveIf, SessionStore, StoreError};
use sessionvault::{EventCounts, EventSink, SecurityEvent};

const KEEP: usize = 2000;

#[derive(Default)]
struct Inner {
    /// Recent events: when, name, session (short key).
    recent: VecDeque<(Timestamp, &'static str, Option<StoreKey>)>,
    /// Which user each session belongs to, learned from logins and ID cycles.
    owner: HashMap<StoreKey, String>,
    store_ops: u64,
    store_seconds: f64,
}

/// Watches security events and store calls. Clones share the same data.
#[derive(Clone, Default)]
pub(crate) struct Monitor {
    inner: Arc<Mutex<Inner>>,
    counts: EventCounts,
}

impl Monitor {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The recent events of `user`'s sessions, newest first.
    pub(crate) fn events_for(&self, user: &str) -> Vec<(Timestamp, &'static str, String)> {
        let inner = self.lock();
        inner
            .recent
            .iter()
            .rev()
            .filter(|(_, _, key)| {
                key.is_some_and(|k| inner.owner.get(&k).is_some_and(|u| u == user))
            })
            .map(|(at, name, key)| (*at, *name, key.map(|k| k.short()).unwrap_or_default()))
            .take(100)
            .collect()
    }

    /// The Prometheus text exposition.
    pub(crate) fn metrics(&self) -> String {
        let inner = self.lock();
        let mut out = String::new();
        let count = |name| self.counts.count(name);
        for (metric, help, event) in [
            (
                "sessionvault_sessions_created_total",
                "Sessions created.",
                "created",
            ),
            (
                "sessionvault_sessions_cycled_total",
                "Session IDs replaced.",
                "id_cycled",
            ),
            (
                "sessionvault_sessions_destroyed_total",
                "Sessions ended by logout or revocation.",
                "ended",
            ),
            (
                "sessionvault_sessions_expired_total",
                "Sessions presented after they expired.",
                "expired",
            ),
            ("sessionvault_logins_total", "Sign-ins.", "login"),
        ] {
            let _ = writeln!(
                out,
                "# HELP {metric} {help}\n# TYPE {metric} counter\n{metric} {}",
                count(event)
            );
        }
        out.push_str("# HELP sessionvault_requests_rejected_total Requests whose session or form was refused, by reason.\n");
        out.push_str("# TYPE sessionvault_requests_rejected_total counter\n");
        for reason in [
            "unknown_id",
            "tampered_cookie",
            "duplicate_cookie",
            "revoked_reuse",
            "size_limit",
            "csrf_rejected",
            "store_error",
        ] {
            let n = count(reason);
            let _ = writeln!(
                out,
                "sessionvault_requests_rejected_total{{reason=\"{reason}\"}} {n}"
            );
        }
        out.push_str("# HELP sessionvault_anomalies_total Events that suggest an attack: forged, tossed or replayed cookies, sessions used from elsewhere, ID guessing, CSRF.\n");
        out.push_str("# TYPE sessionvault_anomalies_total counter\n");
        for kind in [
            "tampered_cookie",
            "duplicate_cookie",
            "revoked_reuse",
            "fingerprint_changed",
            "id_guessing",
            "csrf_rejected",
        ] {
            let n = count(kind);
            let _ = writeln!(out, "sessionvault_anomalies_total{{kind=\"{kind}\"}} {n}");
        }
        out.push_str("# HELP sessionvault_store_seconds Time spent in session store calls.\n");
        out.push_str("# TYPE sessionvault_store_seconds summary\n");
        let _ = writeln!(out, "sessionvault_store_seconds_count {}", inner.store_ops);
        let _ = writeln!(
            out,
            "sessionvault_store_seconds_sum {:.6}",
            inner.store_seconds
        );
        out
    }

    fn record_store_call(&self, seconds: f64) {
        let mut inner = self.lock();
        inner.store_ops += 1;
        inner.store_seconds += seconds;
    }
}

impl EventSink for Monitor {
    fn on_event(&self, event: &SecurityEvent) {
        self.counts.on_event(event);
        let mut inner = self.lock();
        let name = event.name();
        match event {
            SecurityEvent::Login {
                key: Some(key),
                user,
            } => {
                inner.owner.insert(*key, user.clone());
            }
            SecurityEvent::IdCycled { from, to } => {
                if let Some(user) = inner.owner.get(from).cloned() {
                    inner.owner.insert(*to, user);
                }
            }
            _ => {}
        }
        inner
            .recent
            .push_back((Timestamp::now(), name, event.key()));
        if inner.recent.len() > KEEP {
            inner.recent.pop_front();
        }
        // Owners are needed only for sessions that still have events to show.
        if inner.owner.len() > 2 * KEEP {
            let Inner { recent, owner, .. } = &mut *inner;
            let shown: std::collections::HashSet<StoreKey> =
                recent.iter().filter_map(|(_, _, key)| *key).collect();
            owner.retain(|key, _| shown.contains(key));
        }
    }
}

/// A store that times every call for `/metrics`.
#[derive(Clone)]
pub(crate) struct TimedStore {
    pub(crate) inner: Arc<dyn SessionStore>,
    pub(crate) monitor: Monitor,
}

impl TimedStore {
    async fn time<T>(&self, call: impl Future<Output = T>) -> T {
        let start = Instant::now();
        let out = call.await;
        self.monitor
            .record_store_call(start.elapsed().as_secs_f64());
        out
    }
}

#[async_trait]
impl SessionStore for TimedStore {
    async fn load(&self, key: &StoreKey) -> Result<Option<Record>, StoreError> {
        self.time(self.inner.load(key)).await
    }
    async fn load_shared(&self, key: &StoreKey) -> Result<Option<Arc<Record>>, StoreError> {
        self.time(self.inner.load_shared(key)).await
    }
    async fn create(&self, record: &Record) -> Result<bool, StoreError> {
        self.time(self.inner.create(record)).await
    }
    async fn save_if(&self, record: &Record, expected: u64) -> Result<bool, StoreError> {
        self.time(self.inner.save_if(record, expected)).await
    }
    async fn save_if_or_current(
        &self,
        record: &Record,
        expected: u64,
    ) -> Result<SaveIf, StoreError> {
        self.time(self.inner.save_if_or_current(record, expected))
            .await
    }
    async fn touch_if_live(
        &self,
        key: &StoreKey,
        seen: Timestamp,
        idle: Timestamp,
    ) -> Result<bool, StoreError> {
        self.time(self.inner.touch_if_live(key, seen, idle)).await
    }
    async fn end(
        &self,
        key: &StoreKey,
        reason: sessionvault::EndReason,
        at: Timestamp,
        expected: Option<u64>,
    ) -> Result<bool, StoreError> {
        self.time(self.inner.end(key, reason, at, expected)).await
    }
    async fn sessions_for_user(&self, user: &str) -> Result<Vec<Record>, StoreError> {
        self.time(self.inner.sessions_for_user(user)).await
    }
    async fn sweep(&self, now: Timestamp) -> Result<u64, StoreError> {
        self.time(self.inner.sweep(now)).await
    }

    fn batches_writes(&self) -> bool {
        self.inner.batches_writes()
    }
}
