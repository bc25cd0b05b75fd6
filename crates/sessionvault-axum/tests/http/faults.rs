//! Fault tests: the store dies in the middle of a load of requests and comes back. While it is
//! down the counter answers 503; nothing panics; no request is told its write succeeded when it
//! did not; service resumes on its own.
//!
//! ./scripts/test.sh starts a throwaway server of each kind for this and passes how to kill and
//! restart it (`SESSIONVAULT_FAULT_<KIND>_URL`, `_STOP`, `_START`). The Redis one syncs every
//! write to disk, so whatever it acknowledged survives the crash.
//!
//! The PostgreSQL server also has its store connections cut (`pg_terminate_backend`) while it
//! stays up: the pool must open new ones, and lose nothing acknowledged.

use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::counter::{Client, Server, start};

/// The PostgreSQL tests share one server, which one of them stops.
static POSTGRES: Mutex<()> = Mutex::new(());

/// One answer to an /incr under load.
pub(crate) struct Answer {
    pub(crate) at: Instant,
    pub(crate) status: u16,
    /// The count a 200 reported.
    pub(crate) count: Option<i64>,
}

/// 8 clients sending /incr with one session's cookie until stopped, every answer kept.
pub(crate) struct Load {
    stop: Arc<AtomicBool>,
    answers: Arc<Mutex<Vec<Answer>>>,
    workers: Vec<std::thread::JoinHandle<()>>,
}

impl Load {
    pub(crate) fn start(server: &Server, cookie: Option<String>) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let answers = Arc::new(Mutex::new(Vec::new()));
        let workers = (0..8)
            .map(|_| {
                let (stop, answers) = (Arc::clone(&stop), Arc::clone(&answers));
                let mut client = Client::new(server);
                client.cookie = cookie.clone();
                std::thread::spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        let (status, body) = client.send("GET", "/incr");
                        let count = (status == 200).then(|| body.trim().parse().expect("a number"));
                        answers.lock().unwrap().push(Answer {
                            at: Instant::now(),
                            status,
                            count,
                        });
                        // The workers keep the same cookie: a new one would mean the session
                        // was lost.
                        std::thread::sleep(Duration::from_millis(2));
                    }
                })
            })
            .collect();
        Self {
            stop,
            answers,
            workers,
        }
    }

    /// When the first 200 after `after` came, waiting for one until `deadline`.
    pub(crate) fn first_ok_after(&self, after: Instant, deadline: Instant) -> Option<Instant> {
        loop {
            let found = self
                .answers
                .lock()
                .unwrap()
                .iter()
                .filter(|a| a.status == 200 && a.at > after)
                .map(|a| a.at)
                .min();
            if found.is_some() || Instant::now() > deadline {
                return found;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub(crate) fn stop(self) -> Vec<Answer> {
        self.stop.store(true, Ordering::Relaxed);
        for w in self.workers {
            w.join().expect("worker");
        }
        Arc::try_unwrap(self.answers)
            .unwrap_or_else(|_| panic!("workers joined"))
            .into_inner()
            .unwrap()
    }
}

/// Runs a shell command and returns its standard output, trimmed.
pub(crate) fn shell_output(command: &str) -> String {
    let out = Command::new("sh")
        .arg("-c")
        .arg(command)
        .stderr(std::process::Stdio::inherit())
        .output()
        .expect("run sh");
    assert!(out.status.success(), "`{command}` failed");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

struct Fault {
    url: String,
    stop: String,
    start: String,
}

fn fault(kind: &str) -> Option<Fault> {
    let [url, stop, start] = fault_env(kind, ["URL", "STOP", "START"])?;
    Some(Fault { url, stop, start })
}

/// `SESSIONVAULT_FAULT_{kind}_{suffix}` for each suffix, as `./scripts/test.sh` sets them for
/// the server or topology it starts to break; `None` (the test skipped) when it could start
/// none.
pub(crate) fn fault_env<const N: usize>(kind: &str, suffixes: [&str; N]) -> Option<[String; N]> {
    let service = format!("fault-{}", kind.to_ascii_lowercase());
    if sessionvault_testkit::skip_requested(&service) {
        eprintln!("SKIPPED: {service} (see ./scripts/test.sh)");
        return None;
    }
    Some(suffixes.map(|suffix| {
        let name = format!("SESSIONVAULT_FAULT_{kind}_{suffix}");
        std::env::var(&name).unwrap_or_else(|_| {
            panic!("{name} is not set: run ./scripts/test.sh, which starts what the test breaks")
        })
    }))
}

fn shell(command: &str) {
    let status = Command::new("sh")
        .arg("-c")
        .arg(command)
        .status()
        .expect("run sh");
    assert!(status.success(), "`{command}` failed");
}

#[derive(Default)]
struct Tally {
    ok: Vec<i64>,
    unavailable: usize,
    conflict: usize,
    other: Vec<u16>,
}

fn survive_an_outage(kind: &str) {
    let Some(fault) = fault(kind) else { return };
    let _one_at_a_time =
        (kind == "POSTGRES").then(|| POSTGRES.lock().unwrap_or_else(|e| e.into_inner()));
    let server = start(&["--store", &fault.url]);
    let mut first = Client::new(&server);
    assert_eq!(first.send("GET", "/incr").0, 200);
    let cookie = first.cookie.clone();

    let tally = Arc::new(Mutex::new(Tally::default()));
    // Longer than the stores' wait for a connection (3 s for PostgreSQL): a request that
    // waits out a shorter outage succeeds, so only a longer one proves the 503.
    let outage = Duration::from_millis(4500);
    let deadline = Instant::now() + Duration::from_millis(1500) + outage + Duration::from_secs(3);
    let workers: Vec<_> = (0..8)
        .map(|_| {
            let tally = Arc::clone(&tally);
            let mut client = Client::new(&server);
            client.cookie = cookie.clone();
            std::thread::spawn(move || {
                while Instant::now() < deadline {
                    let (status, body) = client.send("GET", "/incr");
                    let mut t = tally.lock().unwrap();
                    match status {
                        200 => t.ok.push(body.trim().parse().expect("a number")),
                        503 => t.unavailable += 1,
                        409 => t.conflict += 1,
                        other => t.other.push(other),
                    }
                    drop(t);
                    // The workers keep the same cookie: a new one would mean the session was lost.
                    std::thread::sleep(Duration::from_millis(2));
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(1500));
    shell(&fault.stop);
    std::thread::sleep(outage);
    shell(&fault.start);
    for w in workers {
        w.join().expect("worker");
    }

    let t = tally.lock().unwrap();
    assert!(
        t.other.is_empty(),
        "only 200, 503 and 409 expected, got {:?}",
        t.other
    );
    assert!(t.unavailable > 0, "the outage must show as 503s");
    let mut seen = t.ok.clone();
    seen.sort_unstable();
    seen.dedup();
    assert_eq!(
        seen.len(),
        t.ok.len(),
        "two requests were told the same count"
    );
    // After the restart, service resumes with the same session.
    let (status, body) = first.send("GET", "/read");
    assert_eq!(status, 200, "service must resume: {body}");
    let stored: i64 = body.trim().parse().expect("a number");
    let answered = t.ok.len() as i64 + 1; // + the first /incr
    let attempted = answered + t.unavailable as i64 + t.conflict as i64;
    assert!(
        stored >= answered,
        "an increment answered 200 was lost: {stored} stored, {answered} answered"
    );
    assert!(
        stored <= attempted,
        "{stored} stored but only {attempted} requests were made"
    );
    assert!(t.ok.iter().all(|v| *v <= stored));
    eprintln!(
        "{kind}: {answered} answered 200, {} answered 503, {} answered 409, {stored} stored",
        t.unavailable, t.conflict
    );
}

#[test]
fn redis_outage_gives_503_and_loses_nothing() {
    survive_an_outage("REDIS");
}

#[test]
fn postgres_outage_gives_503_and_loses_nothing() {
    survive_an_outage("POSTGRES");
}

/// Every connection the store has is cut three times under load.
#[test]
fn postgres_connections_dropped_lose_nothing() {
    let Some(fault) = fault("POSTGRES") else {
        return;
    };
    let _one_at_a_time = POSTGRES.lock().unwrap_or_else(|e| e.into_inner());
    let server = start(&["--store", &fault.url]);
    let mut first = Client::new(&server);
    assert_eq!(first.send("GET", "/incr").0, 200);
    let load = Load::start(&server, first.cookie.clone());
    let terminate = format!(
        "psql '{}' -qAt -c \"SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid() \
         AND backend_type = 'client backend'\"",
        fault.url
    );
    let mut terminated = 0;
    for _ in 0..3 {
        std::thread::sleep(Duration::from_millis(700));
        terminated += shell_output(&terminate).parse::<u32>().expect("a count");
    }
    std::thread::sleep(Duration::from_millis(700));
    let answers = load.stop();
    assert!(terminated > 0, "no store connection was cut");

    let status = |s: u16| answers.iter().filter(|a| a.status == s).count();
    let other: Vec<u16> = answers
        .iter()
        .map(|a| a.status)
        .filter(|s| ![200, 503, 409].contains(s))
        .collect();
    assert!(
        other.is_empty(),
        "only 200, 503 and 409 expected, got {other:?}"
    );
    let mut ok: Vec<i64> = answers.iter().filter_map(|a| a.count).collect();
    ok.push(1); // the first /incr
    let answered = ok.len();
    ok.sort_unstable();
    ok.dedup();
    assert_eq!(ok.len(), answered, "two requests were told the same count");
    // The pool recovered: the session is still there and takes writes.
    let (code, body) = first.send("GET", "/read");
    assert_eq!(code, 200, "service must resume: {body}");
    let stored: i64 = body.trim().parse().expect("a number");
    assert!(
        stored >= answered as i64,
        "an increment answered 200 was lost: {stored} stored, {answered} answered"
    );
    assert_eq!(first.send("GET", "/incr").0, 200);
    eprintln!(
        "POSTGRES connection drop: {terminated} connections cut; {answered} answered 200, {} answered \
         503, {} answered 409, {stored} stored",
        status(503),
        status(409)
    );
}
