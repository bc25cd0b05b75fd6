//! Test support for sessionvault: a store wrapper that counts calls and can fail on demand, an
//! event recorder, and [`conformance`], the suite every [`SessionStore`] runs through
//! [`store_conformance!`].

pub mod conformance;
pub mod logs;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use jiff::Timestamp;
use sessionvault::id::StoreKey;
use sessionvault::store::{Record, SaveIf, SessionStore, StoreError};
use sessionvault::{EndReason, EventSink, SecurityEvent};
use tokio::sync::oneshot;

/// True when `./scripts/test.sh` could neither find nor start `service` and asked, through
/// `SESSIONVAULT_SKIP_SERVICES` (a comma-separated list), for its tests to be skipped. The
/// script names every skipped test loudly; nothing else skips them.
pub fn skip_requested(service: &str) -> bool {
    std::env::var("SESSIONVAULT_SKIP_SERVICES")
        .is_ok_and(|list| list.split(',').any(|s| s.trim() == service))
}

/// Wraps a store: counts calls (all, and writes), fails every call while `down` is set, can
/// hold a compare-and-set, or the answer of a user's listing, until released, and can stand
/// for a store that another process writes too. Clones share counters and switches.
#[derive(Clone)]
pub struct TestStore<S> {
    inner: S,
    calls: Arc<AtomicUsize>,
    writes: Arc<AtomicUsize>,
    down: Arc<AtomicBool>,
    held_save: Arc<Mutex<Option<oneshot::Receiver<()>>>>,
    fail_save: Arc<AtomicBool>,
    held_listing: Arc<Mutex<Option<HeldListing>>>,
    writes_in_pauses: Arc<AtomicBool>,
    last_load: Arc<Mutex<Option<(StoreKey, tokio::time::Instant)>>>,
}

/// A listing to hold: say when it is done, then wait to be released.
struct HeldListing {
    listed: oneshot::Sender<()>,
    release: oneshot::Receiver<()>,
}

impl<S: SessionStore + Clone> TestStore<S> {
    /// Wraps `inner`.
    pub fn new(inner: S) -> Self {
        logs::capture();
        Self {
            inner,
            calls: Arc::default(),
            writes: Arc::default(),
            down: Arc::default(),
            held_save: Arc::default(),
            fail_save: Arc::default(),
            held_listing: Arc::default(),
            writes_in_pauses: Arc::default(),
            last_load: Arc::default(),
        }
    }

    /// The wrapped store.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// Store calls so far.
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    /// Writing store calls so far.
    pub fn writes(&self) -> usize {
        self.writes.load(Ordering::SeqCst)
    }

    /// Makes the next compare-and-set (`save_if` or `save_if_or_current`) wait (as on a
    /// stalled server) until the returned sender is used or dropped; the calls after it go
    /// through.
    pub fn hold_next_save(&self) -> oneshot::Sender<()> {
        let (release, held) = oneshot::channel();
        *self.held_save.lock().unwrap_or_else(|p| p.into_inner()) = Some(held);
        release
    }

    /// Makes the next compare-and-set to begin fail, as on a server that dropped the
    /// connection; the calls after it go through.
    pub fn fail_next_save(&self) {
        self.fail_save.store(true, Ordering::SeqCst);
    }

    /// Makes the next `sessions_for_user` hold its answer: the first receiver returned hears
    /// when the listing is done, and the answer goes back once the sender is used or dropped.
    /// What runs in between sees the store as the listing left it, as a request racing the
    /// caller would.
    pub fn hold_after_next_listing(&self) -> (oneshot::Receiver<()>, oneshot::Sender<()>) {
        let (listed, done) = oneshot::channel();
        let (release, held) = oneshot::channel();
        *self.held_listing.lock().unwrap_or_else(|p| p.into_inner()) = Some(HeldListing {
            listed,
            release: held,
        });
        (done, release)
    }

    /// From now on, another process writes the session this one loaded last whenever time
    /// (tokio's, which a paused test clock controls) has passed since that load when this one
    /// saves it or ends it, as a busy server's requests land in any gap. Each of its writes
    /// adds one to the session's `theirs`, and none counts as a call.
    pub fn other_process_writes_in_pauses(&self) {
        self.writes_in_pauses.store(true, Ordering::SeqCst);
    }

    /// The other process's write, if it is on and this one paused since loading `key`.
    async fn other_process_writes(&self, key: &StoreKey) -> Result<(), StoreError> {
        if !self.writes_in_pauses.load(Ordering::SeqCst) {
            return Ok(());
        }
        let paused = self
            .last_load
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .is_some_and(|(loaded, at)| loaded == key && !at.elapsed().is_zero());
        if !paused {
            return Ok(());
        }
        if let Some(mut theirs) = self.inner.load(key).await? {
            let version = theirs.version;
            let n = theirs.data.get("theirs").and_then(|n| n.as_i64());
            theirs
                .data
                .insert("theirs".into(), (n.unwrap_or(0) + 1).into());
            theirs.version += 1;
            if !self.inner.save_if(&theirs, version).await? {
                return Err(StoreError::new(
                    "the other process lost a race (test store)",
                ));
            }
        }
        Ok(())
    }

    /// Makes every call fail (as a dead server would) until set back.
    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    /// Notes a load of `key`, for
    /// [`other_process_writes_in_pauses`](Self::other_process_writes_in_pauses).
    fn loaded(&self, key: &StoreKey) {
        *self.last_load.lock().unwrap_or_else(|p| p.into_inner()) =
            Some((*key, tokio::time::Instant::now()));
    }

    /// What every compare-and-set goes through first: the count, the switches, the hold, a
    /// yield, and the other process's write.
    async fn before_save(&self, key: &StoreKey) -> Result<(), StoreError> {
        self.check(true)?;
        if self.fail_save.swap(false, Ordering::SeqCst) {
            return Err(StoreError::new(
                "connection reset (test store failed a save)",
            ));
        }
        let held = self
            .held_save
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(held) = held {
            let _ = held.await;
        }
        // Let concurrent requests interleave between their load and their save.
        tokio::task::yield_now().await;
        self.other_process_writes(key).await
    }

    fn check(&self, write: bool) -> Result<(), StoreError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if write {
            self.writes.fetch_add(1, Ordering::SeqCst);
        }
        if self.down.load(Ordering::SeqCst) {
            return Err(StoreError::new("connection refused (test store is down)"));
        }
        Ok(())
    }
}

#[async_trait]
impl<S: SessionStore + Clone> SessionStore for TestStore<S> {
    async fn load(&self, key: &StoreKey) -> Result<Option<Record>, StoreError> {
        self.check(false)?;
        self.loaded(key);
        self.inner.load(key).await
    }
    async fn create(&self, record: &Record) -> Result<bool, StoreError> {
        self.check(true)?;
        self.inner.create(record).await
    }
    async fn save_if(&self, record: &Record, expected: u64) -> Result<bool, StoreError> {
        self.before_save(&record.key).await?;
        self.inner.save_if(record, expected).await
    }
    async fn save_if_or_current(
        &self,
        record: &Record,
        expected: u64,
    ) -> Result<SaveIf, StoreError> {
        self.before_save(&record.key).await?;
        let answer = self.inner.save_if_or_current(record, expected).await?;
        if matches!(answer, SaveIf::Lost(_)) {
            // What a lost save answers is a load.
            self.loaded(&record.key);
        }
        Ok(answer)
    }
    async fn touch_if_live(
        &self,
        key: &StoreKey,
        last_seen: Timestamp,
        idle: Timestamp,
    ) -> Result<bool, StoreError> {
        self.check(true)?;
        self.inner.touch_if_live(key, last_seen, idle).await
    }
    async fn end(
        &self,
        key: &StoreKey,
        reason: EndReason,
        at: Timestamp,
        expected: Option<u64>,
    ) -> Result<bool, StoreError> {
        self.check(true)?;
        self.other_process_writes(key).await?;
        self.inner.end(key, reason, at, expected).await
    }
    async fn sessions_for_user(&self, user: &str) -> Result<Vec<Record>, StoreError> {
        self.check(false)?;
        let listed = self.inner.sessions_for_user(user).await;
        let held = self
            .held_listing
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(held) = held {
            let _ = held.listed.send(());
            let _ = held.release.await;
        }
        listed
    }
    async fn sweep(&self, now: Timestamp) -> Result<u64, StoreError> {
        self.check(true)?;
        self.inner.sweep(now).await
    }

    /// Batched, whatever it wraps: it stands for a store across a network, whose saves yield
    /// and may stall.
    fn batches_writes(&self) -> bool {
        true
    }
}

/// Records every security event. Clones share the record.
#[derive(Clone)]
pub struct Events(Arc<Mutex<Vec<SecurityEvent>>>);

impl Default for Events {
    /// An empty record. The events are logged too: under the test script, to the capture
    /// files the log hygiene test reads.
    fn default() -> Self {
        logs::capture();
        Self(Arc::default())
    }
}

impl EventSink for Events {
    fn on_event(&self, event: &SecurityEvent) {
        self.lock().push(event.clone());
    }
}

impl Events {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<SecurityEvent>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The names of the events so far, in order.
    pub fn names(&self) -> Vec<&'static str> {
        self.lock().iter().map(SecurityEvent::name).collect()
    }

    /// The events so far.
    pub fn all(&self) -> Vec<SecurityEvent> {
        self.lock().clone()
    }

    /// Forgets the events so far.
    pub fn clear(&self) {
        self.lock().clear();
    }
}

/// A server process for tests: killed and reaped when dropped, however the test ends.
pub struct ServerProcess {
    child: std::process::Child,
    /// The first line it printed (its banner, with the address it listens on).
    pub banner: String,
}

impl ServerProcess {
    /// The process ID, for reading the server's `/proc` entries.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The first `http://…` word of the banner, without a trailing slash.
    pub fn url(&self) -> String {
        self.banner
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap_or_else(|| panic!("no http:// address in {:?}", self.banner))
            .trim_end_matches('/')
            .to_owned()
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `command` with stdout piped, reads its first line, and keeps reading the rest in the
/// background (a closed pipe would fail the server's later writes).
pub fn spawn_server(command: &mut std::process::Command) -> ServerProcess {
    use std::io::BufRead as _;
    logs::capture();
    if let Some(file) = logs::server_log_file(command.get_program()) {
        // Only sessionvault's own servers are checked; a helper such as chromedriver logs
        // under its own rules.
        command.env("RUST_LOG", logs::LOG_FILTER).stderr(file);
    }
    let mut child = command
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {command:?}: {e}"));
    let Some(stdout) = child.stdout.take() else {
        panic!("{command:?} has no stdout");
    };
    let mut out = std::io::BufReader::new(stdout);
    let mut banner = String::new();
    let _ = out.read_line(&mut banner);
    std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
    ServerProcess { child, banner }
}
