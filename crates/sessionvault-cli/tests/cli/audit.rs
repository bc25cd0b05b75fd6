//! audit: against a real Flask app (bad and good settings) and a scripted server.

use std::io::{Read as _, Write as _};
use std::net::TcpListener;
use std::process::{Command, Stdio};

use sessionvault_testkit::{ServerProcess, spawn_server};

use crate::support::{flask_python, stderr, stdout, sv};

fn start_flask(good: bool) -> (ServerProcess, u16) {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/bad_flask_app.py"
    );
    let mut cmd = Command::new(flask_python());
    cmd.arg(script).stderr(Stdio::null());
    if good {
        cmd.arg("--good");
    }
    let server = spawn_server(&mut cmd);
    let port = server
        .banner
        .trim()
        .parse()
        .expect("the app prints its port");
    (server, port)
}

#[test]
fn a_flask_app_with_bad_settings_is_flagged() {
    let (_app, port) = start_flask(false);
    let url = format!("http://127.0.0.1:{port}/");
    let o = sv(&["audit", "--json", &url]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let report: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(report["redirects"], 1);
    assert_eq!(report["highest"], "high");
    let cookie = &report["cookies"][0];
    assert_eq!(cookie["name"], "session");
    assert!(cookie["set_by"].as_str().unwrap().ends_with("/login"));
    let ids: Vec<&str> = cookie["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap())
        .collect();
    for id in [
        "missing-secure",
        "missing-httponly",
        "samesite-none-insecure",
        "flask-signed-not-encrypted",
        "sensitive-data",
        "known-secret-key",
    ] {
        assert!(ids.contains(&id), "{id} missing from {ids:?}");
    }
    assert_eq!(cookie["flask"]["session"]["password"], "hunter2");
    assert_eq!(
        cookie["flask"]["known_key_source"],
        "Flask tutorial (flaskr)"
    );

    let human = sv(&["audit", &url]);
    let text = stdout(&human);
    assert!(
        text.contains("HIGH") && text.contains("known-secret-key"),
        "{text}"
    );
    assert!(text.contains("high,"), "{text}");
}

#[test]
fn a_flask_app_with_good_settings_passes() {
    let (_app, port) = start_flask(true);
    let o = sv(&["audit", "--json", &format!("http://127.0.0.1:{port}/")]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    let report: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    // A Flask cookie is still readable by anyone; that is worth saying, but not high.
    assert_eq!(report["highest"], "medium");
    assert_eq!(report["cookies"][0]["name"], "__Host-session");
    assert!(report["cookies"][0]["flask"]["known_key_source"].is_null());
}

/// Serves a fixed redirect chain: `/` sets a tracking cookie and redirects; `/next` sets a
/// well-made session cookie.
fn scripted_server() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(16) {
            let Ok(mut stream) = stream else { continue };
            let mut buf = [0u8; 4096];
            let n = stream.read(&mut buf).unwrap_or(0);
            let request = String::from_utf8_lossy(&buf[..n]);
            let response = if request.starts_with("GET /next") {
                "HTTP/1.1 200 OK\r\nSet-Cookie: __Host-sid=abc; Secure; HttpOnly; \
                 SameSite=Strict; Path=/\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
            } else {
                "HTTP/1.1 302 Found\r\nLocation: /next\r\nSet-Cookie: tracking=1\r\n\
                 Content-Length: 0\r\nConnection: close\r\n\r\n"
            };
            let _ = stream.write_all(response.as_bytes());
        }
    });
    port
}

#[test]
fn redirects_are_followed_and_session_cookies_chosen() {
    let port = scripted_server();
    let url = format!("http://127.0.0.1:{port}/");
    let o = sv(&["audit", "--json", &url]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    let report: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(report["redirects"], 1);
    let names: Vec<&str> = report["cookies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["__Host-sid"]);

    let o = sv(&["audit", "--cookie-name", "tracking", &url]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).contains("missing-secure"));

    let none = sv(&["audit", "--cookie-name", "absent", &url]);
    assert_eq!(none.status.code(), Some(0));
    assert!(stdout(&none).contains("no Set-Cookie named absent"));
}

#[test]
fn unreachable_and_invalid_urls_are_one_line_errors() {
    let free = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    drop(TcpListener::bind("127.0.0.1:0"));
    for url in [
        format!("http://127.0.0.1:{free}/"),
        "not a url".into(),
        "ftp://x/".into(),
    ] {
        let o = sv(&["audit", &url]);
        assert_eq!(o.status.code(), Some(2), "{url}");
        assert!(!stderr(&o).contains("panicked"));
    }
}

/// The counter example that `cargo test --workspace` builds (sessionvault-axum's example).
fn counter_example() -> std::path::PathBuf {
    let mut dir = std::env::current_exe().unwrap();
    dir.pop();
    if dir.ends_with("deps") {
        dir.pop();
    }
    let path = dir.join("examples/counter");
    assert!(
        path.exists(),
        "{} is missing: run the tests with `cargo test --workspace` (./scripts/test.sh), which \
         builds the counter example",
        path.display()
    );
    path
}

fn start_counter(extra: &[&str]) -> (ServerProcess, u16) {
    let server = spawn_server(
        Command::new(counter_example())
            .args(["--listen", "127.0.0.1:0", "--store", "memory"])
            .args(extra)
            .stderr(Stdio::null()),
    );
    let port = server
        .url()
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no port in {:?}", server.banner));
    (server, port)
}

#[test]
fn the_counter_example_passes_and_its_dev_mode_is_flagged() {
    let (_secure, port) = start_counter(&[]);
    let o = sv(&["audit", "--json", &format!("http://127.0.0.1:{port}/incr")]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    let report: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let cookie = &report["cookies"][0];
    assert_eq!(cookie["name"], "__Host-session");
    assert_eq!(cookie["secure"], true);
    assert_eq!(cookie["http_only"], true);
    assert_eq!(cookie["same_site"], "Lax");
    assert!(cookie["flask"].is_null(), "an opaque ID reveals nothing");
    assert!(
        report["highest"].is_null() || report["highest"] == "info",
        "{report}"
    );

    let (_dev, port) = start_counter(&["--insecure-dev"]);
    let o = sv(&["audit", &format!("http://127.0.0.1:{port}/incr")]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).contains("missing-secure"));

    let (_flask, port) = start_counter(&["--cookie-mode", "flask"]);
    let o = sv(&["audit", "--json", &format!("http://127.0.0.1:{port}/incr")]);
    let report: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let flask = &report["cookies"][0]["flask"];
    assert_eq!(
        flask["session"]["n"], 1,
        "a Flask-mode cookie is readable: {report}"
    );
    assert!(
        flask["known_key_source"].is_null(),
        "and signed with a random key"
    );
}

#[test]
fn the_demo_passes_the_audit() {
    let mut dir = std::env::current_exe().unwrap();
    dir.pop();
    if dir.ends_with("deps") {
        dir.pop();
    }
    let demo = dir.join("sessionvault-demo");
    assert!(
        demo.exists(),
        "{} is missing: run ./scripts/test.sh",
        demo.display()
    );
    let work = tempfile::tempdir().unwrap();
    let server = spawn_server(
        Command::new(demo)
            .args(["--listen", "127.0.0.1:0", "--store", "memory"])
            .current_dir(work.path())
            .stderr(Stdio::null()),
    );
    let url = format!("{}/", server.url());
    let o = sv(&["audit", "--json", &format!("{url}login")]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    let report: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let cookie = &report["cookies"][0];
    assert_eq!(cookie["name"], "__Host-session");
    assert!(
        report["highest"].is_null(),
        "the demo's cookie has no findings: {report}"
    );
}
