//! Fault tests: the store dies in the middle of a load of requests and comes back. While it is
//! down the counter answers 503; nothing panics; no request is told its write succeeded when it
//! did not; service resumes on its own.
//!
//! ./scripts/test.sh starts a throwaway server of each kind for this and passes how to kill and
//! restart it (`SESSIONVAULT_FAULT_<KIND>_URL`, `_STOP`, `_START`). The Redis one syncs every
//! write to disk, so whatever it acknowledged survives the crash.

use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::counter::{Client, start};

struct Fault {
    url: String,
    stop: String,
    start: String,
}

fn fault(kind: &str) -> Option<Fault> {
    let service = format!("fault-{}", kind.to_ascii_lowercase());
    if sessionvault_testkit::skip_requested(&service) {
        eprintln!("SKIPPED: {service} (see ./scripts/test.sh)");
        return None;
    }
    let var = |suffix: &str| {
        let name = format!("SESSIONVAULT_FAULT_{kind}_{suffix}");
        std::env::var(&name).unwrap_or_else(|_| {
            panic!("{name} is not set: run ./scripts/test.sh, which starts a server to kill")
        })
    };
    Some(Fault {
        url: var("URL"),
        stop: var("STOP"),
        start: var("START"),
    })
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
    let server = start(&["--store", &fault.url]);
    let mut first = Client::new(&server);
    assert_eq!(first.send("GET", "/incr").0, 200);
    let cookie = first.cookie.clone();

    let tally = Arc::new(Mutex::new(Tally::default()));
    let deadline = Instant::now() + Duration::from_secs(7);
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
    std::thread::sleep(Duration::from_millis(2000));
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
