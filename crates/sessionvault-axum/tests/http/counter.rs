//! The counter example as users run it: a real server on loopback, driven over HTTP, with every
//! store and all three cookie modes.

use std::process::{Command, Stdio};

use sessionvault_testkit::{ServerProcess, spawn_server};

pub(crate) struct Server {
    _process: ServerProcess,
    base: String,
}

/// The example binary that `cargo test` built next to this test.
fn example() -> std::path::PathBuf {
    let mut dir = std::env::current_exe().unwrap();
    dir.pop(); // the test binary
    if dir.ends_with("deps") {
        dir.pop();
    }
    dir.join("examples/counter")
}

pub(crate) fn start(args: &[&str]) -> Server {
    let process = spawn_server(
        Command::new(example())
            .args(["--listen", "127.0.0.1:0", "--insecure-dev"])
            .args(args)
            .stderr(Stdio::inherit()),
    );
    let base = process.url();
    Server {
        _process: process,
        base,
    }
}

/// A client that keeps one cookie, as a browser would.
pub(crate) struct Client {
    agent: ureq::Agent,
    base: String,
    pub(crate) cookie: Option<String>,
}

impl Client {
    pub(crate) fn new(server: &Server) -> Self {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        Self {
            agent,
            base: server.base.clone(),
            cookie: None,
        }
    }

    pub(crate) fn send(&mut self, method: &str, path: &str) -> (u16, String) {
        let url = format!("{}{path}", self.base);
        let mut response = match method {
            "POST" => {
                let mut req = self.agent.post(&url);
                if let Some(c) = &self.cookie {
                    req = req.header("Cookie", &format!("session={c}"));
                }
                req.send_empty().unwrap()
            }
            _ => {
                let mut req = self.agent.get(&url);
                if let Some(c) = &self.cookie {
                    req = req.header("Cookie", &format!("session={c}"));
                }
                req.call().unwrap()
            }
        };
        for header in response.headers().get_all("set-cookie") {
            let pair = header.to_str().unwrap().split(';').next().unwrap();
            let value = pair.split_once('=').unwrap().1;
            self.cookie = (!value.is_empty()).then(|| value.to_owned());
        }
        let status = response.status().as_u16();
        (status, response.body_mut().read_to_string().unwrap())
    }
}

fn exercise(args: &[&str]) {
    let server = start(args);
    let mut c = Client::new(&server);
    assert_eq!(c.send("GET", "/read").1, "0");
    for n in 1..=3 {
        assert_eq!(c.send("GET", "/incr").1, n.to_string(), "{args:?}");
    }
    assert_eq!(c.send("GET", "/read").1, "3");
    assert_eq!(c.send("GET", "/set?key=colour&value=blue").0, 200);
    assert_eq!(c.send("GET", "/get?key=colour").1, "blue");
    assert_eq!(c.send("GET", "/get?key=absent").0, 404);
    assert_eq!(c.send("GET", "/keys").1, "2");
    let before_login = c.cookie.clone();
    assert_eq!(c.send("POST", "/login?user=alice").0, 200);
    assert_eq!(c.send("GET", "/whoami").1, "alice");
    assert_ne!(c.cookie, before_login, "login issues a new cookie");
    assert_eq!(c.send("GET", "/read").1, "3", "data survives login");
    let signed_in = c.cookie.clone();
    assert_eq!(c.send("POST", "/logout").0, 200);
    assert_eq!(c.cookie, None, "logout clears the cookie");
    assert_eq!(c.send("GET", "/whoami").1, "anonymous");
    assert_eq!(c.send("GET", "/bare").1, "0");
    if args.contains(&"server") {
        // Only server mode can refuse a replayed cookie before it expires.
        c.cookie = signed_in;
        assert_eq!(
            c.send("GET", "/whoami").1,
            "anonymous",
            "replay after logout refused"
        );
    }
}

#[test]
fn counter_runs_with_every_store_and_cookie_mode() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite:{}", dir.path().join("counter.db").display());
    let mut stores = vec!["memory".to_owned(), db];
    if sessionvault_testkit::skip_requested("postgres") {
        eprintln!("SKIPPED: counter with --store postgres (no PostgreSQL; see ./scripts/test.sh)");
    } else {
        stores.push(std::env::var("SESSIONVAULT_POSTGRES_URL").expect(
            "SESSIONVAULT_POSTGRES_URL is not set: run ./scripts/test.sh, which provides PostgreSQL",
        ));
    }
    for (service, var) in [
        ("redis", "SESSIONVAULT_REDIS_URL"),
        ("redis-cluster", "SESSIONVAULT_REDIS_CLUSTER"),
        ("redis-sentinel", "SESSIONVAULT_REDIS_SENTINEL"),
    ] {
        if sessionvault_testkit::skip_requested(service) {
            eprintln!("SKIPPED: counter with --store {service} (see ./scripts/test.sh)");
        } else {
            let url = std::env::var(var).unwrap_or_else(|_| {
                panic!("{var} is not set: run ./scripts/test.sh, which provides {service}")
            });
            if service == "redis-sentinel" {
                // Its master has a replica: every write waits for it.
                stores.push(format!("{url}?replica_acks=1"));
            }
            stores.push(url);
        }
    }
    for store in &stores {
        let store = store.as_str();
        for mode in ["server", "sealed", "flask"] {
            exercise(&["--store", store, "--cookie-mode", mode]);
        }
    }
}

#[test]
fn counter_devices_and_revocation() {
    let server = start(&["--store", "memory"]);
    let mut laptop = Client::new(&server);
    let mut phone = Client::new(&server);
    laptop.send("POST", "/login?user=bob");
    phone.send("POST", "/login?user=bob");
    let (_, list) = laptop.send("GET", "/sessions");
    let sessions: Vec<serde_json::Value> = serde_json::from_str(&list).unwrap();
    assert_eq!(sessions.len(), 2);
    assert_eq!(sessions.iter().filter(|s| s["current"] == true).count(), 1);
    assert_eq!(laptop.send("POST", "/sessions/revoke-others").1, "1");
    assert_eq!(phone.send("GET", "/whoami").1, "anonymous");
    assert_eq!(laptop.send("GET", "/whoami").1, "bob");
}

#[test]
fn counter_idle_timeout_ends_sessions() {
    let server = start(&["--store", "memory", "--idle-timeout", "1s"]);
    let mut c = Client::new(&server);
    c.send("POST", "/login?user=carol");
    std::thread::sleep(std::time::Duration::from_millis(1300));
    assert_eq!(c.send("GET", "/whoami").1, "anonymous");
}

#[test]
fn counter_refuses_a_malformed_redis_url_in_one_line_without_its_password() {
    for url in [
        "redis+sentinel://user:hunter2@127.0.0.1:26379",
        "redis://:hunter2@127.0.0.1:6379?replica_acks=many",
        "redis-cluster://:hunter2@127.0.0.1:x",
    ] {
        let out = Command::new(example())
            .args(["--listen", "127.0.0.1:0", "--store", url])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{url}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("invalid Redis store URL"), "{url}: {err}");
        assert!(
            !err.contains("hunter2") && !err.contains("panicked"),
            "{url}: {err}"
        );
        assert_eq!(err.trim_end().lines().count(), 1, "{url}: {err}");
    }
}

#[test]
fn counter_refuses_a_weak_secret_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("key");
    std::fs::write(&path, "changeme\n").unwrap();
    let out = Command::new(example())
        .args([
            "--listen",
            "127.0.0.1:0",
            "--store",
            "memory",
            "--secret-file",
        ])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("weak secret") && !err.contains("panicked"),
        "{err}"
    );
}

// See: issue 17, finding 10
#[test]
fn review_counter_refuses_bad_timeouts() {
    for flag in ["--idle-timeout", "--absolute-timeout"] {
        for (value, why) in [
            ("0s", "must be positive"),
            ("-5m", "must be positive"),
            ("9601h", "at most 400 days"),
            ("soon", "not a duration"),
        ] {
            let mut child = Command::new(example())
                .args(["--listen", "127.0.0.1:0", "--store", "memory", flag, value])
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
            while child.try_wait().unwrap().is_none() {
                if std::time::Instant::now() > deadline {
                    child.kill().unwrap();
                    child.wait().unwrap();
                    panic!("the counter started with {flag} {value}");
                }
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            let out = child.wait_with_output().unwrap();
            let err = String::from_utf8_lossy(&out.stderr);
            let line = err.lines().next().unwrap_or_default();
            assert_eq!(out.status.code(), Some(2), "{flag} {value}: {err}");
            assert!(
                line.contains(flag) && line.contains(why) && !err.contains("panicked"),
                "{flag} {value}: {err}"
            );
        }
    }
}

/// A fresh strong key in a file of its own.
fn key_file(dir: &std::path::Path, name: &str) -> String {
    let key = sessionvault::Secret::generate(32).unwrap();
    let hex: String = key.expose().iter().map(|b| format!("{b:02x}")).collect();
    let path = dir.join(name);
    std::fs::write(&path, hex).unwrap();
    path.to_str().unwrap().to_owned()
}

#[test]
fn counter_accepts_old_keys_from_fallback_secret_files() {
    let dir = tempfile::tempdir().unwrap();
    let (k1, k2, k3) = (
        key_file(dir.path(), "k1"),
        key_file(dir.path(), "k2"),
        key_file(dir.path(), "k3"),
    );
    for mode in ["flask", "sealed"] {
        let base = ["--store", "memory", "--cookie-mode", mode];
        let old = {
            let server = start(&[&base[..], &["--secret-file", &k1]].concat());
            let mut c = Client::new(&server);
            c.send("POST", "/login?user=alice");
            c.cookie.clone().unwrap()
        };
        // k3 signs; k2 and k1 (the flag repeated, newest first) still verify.
        let new = {
            let server = start(
                &[
                    &base[..],
                    &["--secret-file", &k3],
                    &["--fallback-secret-file", &k2],
                    &["--fallback-secret-file", &k1],
                ]
                .concat(),
            );
            let mut c = Client::new(&server);
            c.cookie = Some(old.clone());
            assert_eq!(c.send("GET", "/whoami").1, "alice", "{mode}: old key");
            let new = c.cookie.clone().unwrap();
            assert_ne!(new, old, "{mode}: re-issued under the new key");
            new
        };
        let server = start(&[&base[..], &["--secret-file", &k3]].concat());
        let mut c = Client::new(&server);
        c.cookie = Some(new);
        assert_eq!(c.send("GET", "/whoami").1, "alice", "{mode}: new key");
        c.cookie = Some(old);
        assert_eq!(c.send("GET", "/whoami").1, "anonymous", "{mode}: retired");
    }
}
