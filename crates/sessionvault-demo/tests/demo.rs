//! The demo as a user meets it: the real binary on loopback, driven over HTTP.

// A test that unwraps fails loudly at the line that broke, which is what a test should do.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::{Command, Stdio};

use sessionvault_testkit::{ServerProcess, spawn_server};

struct Demo {
    _server: ServerProcess,
    base: String,
}

fn start(dir: &Path, store: &str) -> Demo {
    let server = spawn_server(
        Command::new(env!("CARGO_BIN_EXE_sessionvault-demo"))
            .args([
                "--listen",
                "127.0.0.1:0",
                "--insecure-dev",
                "--store",
                store,
            ])
            .current_dir(dir)
            .stderr(Stdio::null()),
    );
    let base = server.url();
    Demo {
        _server: server,
        base,
    }
}

/// A browser-like client: one cookie, no automatic redirects.
struct Browser {
    agent: ureq::Agent,
    base: String,
    cookie: Option<String>,
}

struct Page {
    status: u16,
    location: Option<String>,
    headers: Vec<(String, String)>,
    body: String,
}

impl Page {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn csrf(&self) -> String {
        self.body
            .split("name=\"csrf_token\" value=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .unwrap_or_else(|| panic!("no csrf_token in {}", self.body))
            .to_owned()
    }
}

impl Browser {
    fn new(demo: &Demo, user_agent: &str) -> Self {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .user_agent(user_agent)
            .build()
            .into();
        Self {
            agent,
            base: demo.base.clone(),
            cookie: None,
        }
    }

    fn request(&mut self, method: &str, path: &str, form: &[(&str, &str)]) -> Page {
        let url = format!("{}{path}", self.base);
        let cookie = self.cookie.as_ref().map(|c| format!("session={c}"));
        let mut response = if method == "POST" {
            let mut req = self.agent.post(&url);
            if let Some(c) = &cookie {
                req = req.header("Cookie", c);
            }
            req.send_form(form.iter().copied())
                .unwrap_or_else(|e| panic!("POST {path}: {e}"))
        } else {
            let mut req = self.agent.get(&url);
            if let Some(c) = &cookie {
                req = req.header("Cookie", c);
            }
            req.call().unwrap_or_else(|e| panic!("GET {path}: {e}"))
        };
        for value in response.headers().get_all("set-cookie") {
            let pair = value.to_str().unwrap().split(';').next().unwrap();
            let v = pair.split_once('=').unwrap().1;
            self.cookie = (!v.is_empty()).then(|| v.to_owned());
        }
        let headers = response
            .headers()
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_owned(),
                    v.to_str().unwrap_or_default().to_owned(),
                )
            })
            .collect();
        Page {
            status: response.status().as_u16(),
            location: response
                .headers()
                .get("location")
                .map(|v| v.to_str().unwrap().to_owned()),
            headers,
            body: response.body_mut().read_to_string().unwrap(),
        }
    }

    fn get(&mut self, path: &str) -> Page {
        self.request("GET", path, &[])
    }

    /// Posts a form with the token from `page_path`, as a browser submitting that page would.
    fn submit(&mut self, page_path: &str, action: &str, fields: &[(&str, &str)]) -> Page {
        let token = self.get(page_path).csrf();
        let mut form = fields.to_vec();
        form.push(("csrf_token", &token));
        self.request("POST", action, &form)
    }

    fn sign_in(&mut self, user: &str, password: &str) -> Page {
        self.submit(
            "/login",
            "/login",
            &[("username", user), ("password", password)],
        )
    }
}

#[test]
fn sign_in_changes_the_session_id_and_shows_the_account() {
    let dir = tempfile::tempdir().unwrap();
    let demo = start(dir.path(), "memory");
    let mut b = Browser::new(&demo, "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0");
    b.get("/login");
    let before = b
        .cookie
        .clone()
        .expect("the sign-in form starts a session for its token");
    let r = b.sign_in("alice", "correct horse battery staple");
    assert_eq!((r.status, r.location.as_deref()), (303, Some("/account")));
    assert_ne!(b.cookie.as_ref(), Some(&before), "a new ID at sign-in");
    let account = b.get("/account");
    assert_eq!(account.status, 200);
    for text in [
        "Welcome, alice.",
        "Signed in as",
        "Idle expiry",
        "Absolute expiry",
        "server",
    ] {
        assert!(account.body.contains(text), "{text} missing");
    }
}

#[test]
fn wrong_passwords_get_one_generic_answer_and_are_limited() {
    let dir = tempfile::tempdir().unwrap();
    let demo = start(dir.path(), "memory");
    let mut b = Browser::new(&demo, "test");
    for (user, password) in [("alice", "wrong"), ("nobody", "wrong")] {
        let r = b.sign_in(user, password);
        assert_eq!(r.location.as_deref(), Some("/login"));
        assert!(b.get("/login").body.contains("Wrong username or password."));
    }
    for _ in 0..4 {
        b.sign_in("alice", "still wrong");
    }
    let limited = b.sign_in("alice", "correct horse battery staple");
    assert_eq!(
        limited.status, 429,
        "five failures lock sign-in for a while"
    );
}

#[test]
fn pages_need_a_signed_in_user_and_forms_need_their_token() {
    let dir = tempfile::tempdir().unwrap();
    let demo = start(dir.path(), "memory");
    let mut b = Browser::new(&demo, "test");
    for path in ["/account", "/devices", "/password", "/events"] {
        let r = b.get(path);
        assert_eq!(
            (r.status, r.location.as_deref()),
            (303, Some("/login")),
            "{path}"
        );
    }
    b.get("/login");
    let forged = b.request(
        "POST",
        "/login",
        &[
            ("username", "alice"),
            ("password", "correct horse battery staple"),
        ],
    );
    assert_eq!(forged.status, 403, "a form without its token is refused");
    assert!(forged.body.contains("Request refused"));
    b.sign_in("alice", "correct horse battery staple");
    for path in ["/devices", "/password", "/account"] {
        let page = b.get(path);
        assert!(
            page.body.contains("name=\"csrf_token\""),
            "{path} has a form without a token"
        );
    }
}

#[test]
fn devices_are_listed_and_signed_out_remotely() {
    let dir = tempfile::tempdir().unwrap();
    let demo = start(dir.path(), "memory");
    let mut laptop = Browser::new(&demo, "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0");
    let mut phone = Browser::new(&demo, "Mozilla/5.0 (Linux; Android 14) Chrome/130.0 Mobile");
    laptop.sign_in("alice", "correct horse battery staple");
    phone.sign_in("alice", "correct horse battery staple");
    let list = laptop.get("/devices");
    assert!(list.body.contains("Firefox on Linux") && list.body.contains("Chrome on Android"));
    assert_eq!(list.body.matches("This device").count(), 1);
    let handle = list
        .body
        .split("name=\"session\" value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap()
        .to_owned();
    assert!(
        !handle.is_empty() && Some(&handle) != phone.cookie.as_ref(),
        "a handle, not an ID"
    );
    let r = laptop.submit("/devices", "/devices/revoke", &[("session", &handle)]);
    assert_eq!(r.location.as_deref(), Some("/devices"));
    let kicked = phone.get("/account");
    assert_eq!(
        kicked.location.as_deref(),
        Some("/login"),
        "the phone is signed out"
    );
    assert_eq!(laptop.get("/account").status, 200);
}

#[test]
fn a_password_change_ends_other_sessions() {
    let dir = tempfile::tempdir().unwrap();
    let demo = start(dir.path(), "memory");
    let mut a = Browser::new(&demo, "a");
    let mut b = Browser::new(&demo, "b");
    a.sign_in("bob", "hunter2 hunter2 hunter2");
    b.sign_in("bob", "hunter2 hunter2 hunter2");
    let short = a.submit(
        "/password",
        "/password",
        &[
            ("current_password", "hunter2 hunter2 hunter2"),
            ("new_password", "short"),
        ],
    );
    assert_eq!(short.location.as_deref(), Some("/password"));
    let r = a.submit(
        "/password",
        "/password",
        &[
            ("current_password", "hunter2 hunter2 hunter2"),
            ("new_password", "a much longer passphrase"),
        ],
    );
    assert_eq!(r.location.as_deref(), Some("/account"));
    assert!(
        a.get("/account")
            .body
            .contains("1 other device(s) signed out")
    );
    assert_eq!(b.get("/account").location.as_deref(), Some("/login"));
    let mut c = Browser::new(&demo, "c");
    assert_eq!(
        c.sign_in("bob", "hunter2 hunter2 hunter2")
            .location
            .as_deref(),
        Some("/login")
    );
    assert_eq!(
        c.sign_in("bob", "a much longer passphrase")
            .location
            .as_deref(),
        Some("/account")
    );
}

#[test]
fn sign_out_clears_everything_and_the_old_cookie_is_dead() {
    let dir = tempfile::tempdir().unwrap();
    let demo = start(dir.path(), "memory");
    let mut b = Browser::new(&demo, "test");
    b.sign_in("alice", "correct horse battery staple");
    let old = b.cookie.clone();
    let r = b.submit("/account", "/logout", &[]);
    assert_eq!(r.location.as_deref(), Some("/"));
    assert!(r.header("clear-site-data").unwrap().contains("cookies"));
    assert_eq!(b.cookie, None, "the cookie is cleared");
    b.cookie = old;
    assert_eq!(
        b.get("/account").location.as_deref(),
        Some("/login"),
        "replay refused"
    );
}

#[test]
fn every_response_has_security_headers_and_monitoring_works() {
    let dir = tempfile::tempdir().unwrap();
    let demo = start(dir.path(), "memory");
    let mut b = Browser::new(&demo, "test");
    for path in [
        "/",
        "/login",
        "/healthz",
        "/metrics",
        "/style.css",
        "/account",
    ] {
        let r = b.get(path);
        let csp = r
            .header("content-security-policy")
            .unwrap_or_else(|| panic!("{path}"));
        assert!(csp.contains("frame-ancestors 'none'"), "{path}");
        assert_eq!(
            r.header("x-content-type-options"),
            Some("nosniff"),
            "{path}"
        );
        assert_eq!(r.header("referrer-policy"), Some("same-origin"), "{path}");
    }
    assert_eq!(b.get("/healthz").body, "ok");
    b.sign_in("alice", "correct horse battery staple");
    let events = b.get("/events");
    assert!(events.body.contains("login"), "{}", events.body);
    b.request("POST", "/logout", &[]); // no token: refused and counted
    let metrics = b.get("/metrics").body;
    for line in [
        "# TYPE sessionvault_sessions_created_total counter",
        "sessionvault_logins_total 1",
        "sessionvault_requests_rejected_total{reason=\"csrf_rejected\"} 1",
        "sessionvault_store_seconds_count",
    ] {
        assert!(metrics.contains(line), "{line} missing from\n{metrics}");
    }
}

#[test]
fn the_key_file_is_private_and_restarts_keep_sessions() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let cookie = {
        let demo = start(dir.path(), "sqlite:sessionvault-demo.db");
        let mut b = Browser::new(&demo, "test");
        b.sign_in("alice", "correct horse battery staple");
        b.cookie.clone().unwrap()
    };
    let key = dir.path().join("sessionvault-demo.key");
    let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let demo = start(dir.path(), "sqlite:sessionvault-demo.db");
    let mut b = Browser::new(&demo, "test");
    b.cookie = Some(cookie);
    assert_eq!(
        b.get("/account").status,
        200,
        "still signed in after a restart"
    );
}

#[test]
fn a_stolen_cookie_used_elsewhere_needs_the_password_and_anomalies_are_counted() {
    let dir = tempfile::tempdir().unwrap();
    let demo = start(dir.path(), "memory");
    let firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";
    let mut owner = Browser::new(&demo, firefox);
    owner.sign_in("alice", "correct horse battery staple");
    assert_eq!(owner.get("/password").status, 200, "a fresh sign-in may");

    // The same cookie from another browser family: the session is signed out under a new ID,
    // so the thief must sign in, and the cookie is dead for the owner too (a replay, counted).
    let mut thief = Browser::new(&demo, "curl/8.5.0");
    thief.cookie = owner.cookie.clone();
    assert_eq!(thief.get("/account").location.as_deref(), Some("/login"));
    assert_eq!(owner.get("/account").location.as_deref(), Some("/login"));
    owner.sign_in("alice", "correct horse battery staple");
    assert_eq!(owner.get("/password").status, 200, "signed in again");

    // A replayed cookie after sign-out.
    let old = owner.cookie.clone();
    owner.submit("/account", "/logout", &[]);
    thief.cookie = old;
    assert_eq!(thief.get("/account").location.as_deref(), Some("/login"));

    // Guessing: past 20 unknown IDs a minute, the client's cookies are refused.
    let mut guesser = Browser::new(&demo, "curl/8.5.0");
    for i in 0..21 {
        guesser.cookie = Some(format!("guess{i}"));
        assert_eq!(guesser.get("/account").status, 303);
    }
    guesser.cookie = Some("guess-again".into());
    assert_eq!(guesser.get("/account").status, 429);

    let metrics = Browser::new(&demo, firefox).get("/metrics").body;
    for line in [
        "sessionvault_anomalies_total{kind=\"fingerprint_changed\"}",
        "sessionvault_anomalies_total{kind=\"revoked_reuse\"} 2",
        "sessionvault_anomalies_total{kind=\"id_guessing\"} 1",
    ] {
        assert!(metrics.contains(line), "{line} missing from\n{metrics}");
    }
    assert!(!metrics.contains("sessionvault_anomalies_total{kind=\"fingerprint_changed\"} 0"));
}

/// ASVS 5.0 V7.4.4: every page a signed-in user sees offers signing out.
#[test]
fn every_signed_in_page_offers_sign_out() {
    let dir = tempfile::tempdir().unwrap();
    let demo = start(dir.path(), "memory");
    let mut b = Browser::new(&demo, "test");
    b.sign_in("alice", "correct horse battery staple");
    for path in ["/", "/account", "/devices", "/password", "/events"] {
        let page = b.get(path);
        assert_eq!(page.status, 200, "{path}");
        assert!(
            page.body.contains("action=\"/logout\""),
            "{path} has no sign-out form"
        );
    }
}

/// The demo's count of argon2 computations, from `/metrics`.
fn password_hashes(demo: &Demo) -> u64 {
    let metrics = Browser::new(demo, "test").get("/metrics").body;
    metrics
        .lines()
        .find_map(|l| l.strip_prefix("sessionvault_demo_password_hashes_total "))
        .unwrap_or_else(|| panic!("no password hash counter in\n{metrics}"))
        .parse()
        .unwrap()
}

/// Signs in from `n` browsers at once, browser `i` as `user(i)`; the statuses.
fn parallel_sign_ins(demo: &Demo, n: usize, user: impl Fn(usize) -> String + Sync) -> Vec<u16> {
    let barrier = std::sync::Barrier::new(n);
    std::thread::scope(|s| {
        let threads: Vec<_> = (0..n)
            .map(|i| {
                let (barrier, user) = (&barrier, &user);
                s.spawn(move || {
                    let mut b = Browser::new(demo, "test");
                    let token = b.get("/login").csrf();
                    barrier.wait();
                    let name = user(i);
                    let form = [
                        ("username", name.as_str()),
                        ("password", "wrong"),
                        ("csrf_token", token.as_str()),
                    ];
                    b.request("POST", "/login", &form).status
                })
            })
            .collect();
        threads.into_iter().map(|t| t.join().unwrap()).collect()
    })
}

// See: issue 17, finding 14
#[test]
fn review_sign_in_limit_is_atomic() {
    let dir = tempfile::tempdir().unwrap();
    let demo = start(dir.path(), "memory");
    let before = password_hashes(&demo);
    let statuses = parallel_sign_ins(&demo, 50, |_| "alice".into());
    let verified = password_hashes(&demo) - before;
    assert!(
        verified <= 5,
        "{verified} verifications for 50 parallel guesses"
    );
    let refused = statuses.iter().filter(|s| **s == 429).count();
    assert!(refused >= 45, "{statuses:?}");
    let mut b = Browser::new(&demo, "test");
    assert_eq!(
        b.sign_in("alice", "correct horse battery staple").status,
        429
    );
}

// See: issue 17, finding 14
#[test]
fn review_unknown_and_known_names_cost_one_verification() {
    let dir = tempfile::tempdir().unwrap();
    let demo = start(dir.path(), "memory");
    for user in ["alice", "nobody", "bob", "nobody-else"] {
        let before = password_hashes(&demo);
        let r = Browser::new(&demo, "test").sign_in(user, "wrong");
        assert_eq!(r.location.as_deref(), Some("/login"), "{user}");
        assert_eq!(password_hashes(&demo) - before, 1, "{user}");
    }
}

/// The peak resident memory of a process, in bytes, from `/proc`.
fn peak_rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().strip_suffix("kB"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    kib * 1024
}

// See: issue 17, finding 4
#[test]
fn review_password_hashing_is_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let demo = start(dir.path(), "memory");
    let statuses = parallel_sign_ins(&demo, 200, |i| format!("nobody{i}"));
    // Argon2's default parameters take 19 MiB per hash, and the demo hashes on at most one
    // thread per core: the process stays under 96 MiB plus 32 MiB per core.
    let cores = std::thread::available_parallelism().unwrap().get() as u64;
    let bound = (96 + 32 * cores) << 20;
    let peak = peak_rss(demo._server.pid());
    assert!(
        peak < bound,
        "peak RSS {} MiB, bound {} MiB",
        peak >> 20,
        bound >> 20
    );
    assert!(statuses.contains(&429), "{statuses:?}");
    assert!(
        statuses.iter().all(|s| [303, 429].contains(s)),
        "{statuses:?}"
    );
}

// See: issue 17, finding 4
#[test]
fn review_failures_are_counted_per_client_address() {
    let dir = tempfile::tempdir().unwrap();
    let demo = start(dir.path(), "memory");
    let mut b = Browser::new(&demo, "test");
    for i in 0..20 {
        let r = b.sign_in(&format!("user{i}"), "wrong");
        assert_eq!(r.location.as_deref(), Some("/login"), "attempt {i}");
    }
    let limited = b.sign_in("bob", "hunter2 hunter2 hunter2");
    assert_eq!(
        limited.status, 429,
        "20 failures from one address, any names"
    );
}

/// Runs the demo with `args` and expects it to refuse them before it starts: its exit code and
/// the first line of its error.
fn refused(args: &[&str]) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_sessionvault-demo"))
        .args(["--listen", "127.0.0.1:0", "--store", "memory"])
        .args(args)
        .current_dir(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!("the demo started with {args:?}");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!err.contains("panicked"), "{err}");
    (
        out.status.code(),
        err.lines().next().unwrap_or_default().to_owned(),
    )
}

// See: issue 17, finding 10
#[test]
fn review_demo_refuses_bad_timeouts() {
    for flag in ["--idle-timeout", "--absolute-timeout"] {
        for (value, why) in [
            ("0s", "must be positive"),
            ("-5m", "must be positive"),
            ("9601h", "at most 400 days"),
            ("soon", "not a duration"),
        ] {
            let (code, line) = refused(&[flag, value]);
            assert_eq!(code, Some(2), "{flag} {value}: {line}");
            assert!(
                line.contains(flag) && line.contains(why),
                "{flag} {value}: {line}"
            );
        }
    }
}

#[test]
fn demo_timeouts_parse_like_the_counters() {
    let dir = tempfile::tempdir().unwrap();
    let server = spawn_server(
        Command::new(env!("CARGO_BIN_EXE_sessionvault-demo"))
            .args([
                "--listen",
                "127.0.0.1:0",
                "--insecure-dev",
                "--store",
                "memory",
            ])
            .args(["--idle-timeout", "2s", "--absolute-timeout", "90m"])
            .current_dir(dir.path())
            .stderr(Stdio::null()),
    );
    let demo = Demo {
        base: server.url(),
        _server: server,
    };
    let mut b = Browser::new(&demo, "test");
    b.sign_in("alice", "correct horse battery staple");
    let account = b.get("/account").body;
    assert!(
        account.contains("(in 1 s)") || account.contains("(in 2 s)"),
        "idle expiry 2 s away: {account}"
    );
    assert!(
        account.contains("(in 1 h 29 min)") || account.contains("(in 1 h 30 min)"),
        "absolute expiry 90 min away: {account}"
    );
}

/// A fresh strong key in a file of its own.
fn key_file(dir: &Path, name: &str) -> String {
    let key = sessionvault::Secret::generate(32).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, hex::encode(key.expose())).unwrap();
    path.to_str().unwrap().to_owned()
}

fn start_with(dir: &Path, args: &[&str]) -> Demo {
    let server = spawn_server(
        Command::new(env!("CARGO_BIN_EXE_sessionvault-demo"))
            .args([
                "--listen",
                "127.0.0.1:0",
                "--insecure-dev",
                "--store",
                "memory",
            ])
            .args(args)
            .current_dir(dir)
            .stderr(Stdio::null()),
    );
    Demo {
        base: server.url(),
        _server: server,
    }
}

#[test]
fn fallback_secret_files_keep_sessions_across_a_key_rotation() {
    let dir = tempfile::tempdir().unwrap();
    let (k1, k2, k3) = (
        key_file(dir.path(), "k1"),
        key_file(dir.path(), "k2"),
        key_file(dir.path(), "k3"),
    );
    let flask = ["--cookie-mode", "flask"];
    let old = {
        let demo = start_with(dir.path(), &[&flask[..], &["--secret-file", &k1]].concat());
        let mut b = Browser::new(&demo, "test");
        b.sign_in("alice", "correct horse battery staple");
        b.cookie.clone().unwrap()
    };
    // k3 signs; k2 and k1 (repeated flag, newest first) still verify.
    let rotated = [
        &flask[..],
        &["--secret-file", &k3],
        &["--fallback-secret-file", &k2],
        &["--fallback-secret-file", &k1],
    ]
    .concat();
    let new = {
        let demo = start_with(dir.path(), &rotated);
        let mut b = Browser::new(&demo, "test");
        b.cookie = Some(old.clone());
        assert_eq!(b.get("/account").status, 200, "the old key still verifies");
        let new = b.cookie.clone().unwrap();
        assert_ne!(new, old, "re-issued under the new key");
        new
    };
    let demo = start_with(dir.path(), &[&flask[..], &["--secret-file", &k3]].concat());
    let mut b = Browser::new(&demo, "test");
    b.cookie = Some(new);
    assert_eq!(b.get("/account").status, 200, "signed by the new key");
    b.cookie = Some(old);
    assert_eq!(
        b.get("/account").location.as_deref(),
        Some("/login"),
        "the old key is retired"
    );
}

/// With `--insecure-dev` the demo is served over plain HTTP, so a browser without Fetch
/// Metadata (which sends only `Origin`) posts from an `http://` origin: the CSRF layer must
/// take that origin as the site's own, and still refuse another site's.
#[test]
fn insecure_dev_accepts_its_own_plain_http_origin_and_refuses_others() {
    let dir = tempfile::tempdir().unwrap();
    let demo = start(dir.path(), "memory");
    let mut b = Browser::new(&demo, "Mozilla/5.0 (Macintosh) Safari/605.1.15");
    let token = b.get("/login").csrf();
    let cookie = format!(
        "session={}",
        b.cookie.clone().expect("a session for the token")
    );
    let post = |origin: &str| {
        b.agent
            .post(format!("{}/login", demo.base))
            .header("Cookie", &cookie)
            .header("Origin", origin)
            .send_form([
                ("username", "alice"),
                ("password", "correct horse battery staple"),
                ("csrf_token", token.as_str()),
            ])
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(post("http://evil.example"), 403, "another site");
    assert_eq!(
        post(demo.base.trim_end_matches('/')),
        303,
        "the demo's own origin"
    );
}
