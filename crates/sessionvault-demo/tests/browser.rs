//! The demo in a real browser: Debian's headless Chromium, driven through chromedriver
//! (WebDriver) from fantoccini. `./scripts/test.sh` installs both when they are missing; without
//! them these tests are listed as skipped by the script.
//!
//! The demo runs with its secure defaults (`__Host-session`, `Secure`) on http://localhost,
//! which browsers treat as a secure context.

// A test that unwraps fails loudly at the line that broke, which is what a test should do.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use sessionvault_testkit::{ServerProcess, spawn_server};

const COOKIE: &str = "__Host-session";

struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn skipped() -> bool {
    if sessionvault_testkit::skip_requested("browser") {
        eprintln!("SKIPPED: browser tests (no Chromium; see ./scripts/test.sh)");
        return true;
    }
    false
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The demo with its secure defaults, on a free port; returns its base URL on localhost.
fn start_demo(dir: &Path) -> (ServerProcess, String) {
    let server = spawn_server(
        Command::new(env!("CARGO_BIN_EXE_sessionvault-demo"))
            .args(["--listen", "127.0.0.1:0", "--store", "memory"])
            .current_dir(dir)
            .stderr(Stdio::null()),
    );
    let port = server
        .url()
        .rsplit(':')
        .next()
        .unwrap_or_default()
        .to_owned();
    (server, format!("http://localhost:{port}"))
}

fn start_chromedriver() -> (Process, u16) {
    let port = free_port();
    let child =
        Command::new(std::env::var("SESSIONVAULT_CHROMEDRIVER").unwrap_or("chromedriver".into()))
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver (apt-get install chromium-driver, or run ./scripts/test.sh)");
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "chromedriver did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    (Process(child), port)
}

/// A browser with a profile of its own (a device).
async fn browser(driver_port: u16, profile: &Path) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "binary": std::env::var("SESSIONVAULT_CHROMIUM").unwrap_or("/usr/bin/chromium".into()),
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-quic", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--window-size=1100,820",
                format!("--user-data-dir={}", profile.display()),
            ],
        }),
    );
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    ClientBuilder::new(connector)
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{driver_port}"))
        .await
        .expect("a WebDriver session")
}

async fn sign_in(b: &Client, base: &str, user: &str, password: &str) {
    b.goto(&format!("{base}/login")).await.unwrap();
    b.find(Locator::Css("input[name=username]"))
        .await
        .unwrap()
        .send_keys(user)
        .await
        .unwrap();
    b.find(Locator::Css("input[name=password]"))
        .await
        .unwrap()
        .send_keys(password)
        .await
        .unwrap();
    b.find(Locator::Css("form.card button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for_path(b, "/account").await;
}

async fn wait_for_path(b: &Client, path: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let url = b.current_url().await.unwrap();
        if url.path() == path {
            return;
        }
        if Instant::now() >= deadline {
            let page = b.source().await.unwrap_or_default();
            panic!("expected {path}, at {url}:\n{page}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The page's `h1`, or `None` while the page is changing under the lookup.
async fn heading(b: &Client) -> Option<String> {
    b.find(Locator::Css("h1")).await.ok()?.text().await.ok()
}

/// The page's `h1` once it differs from `before` (the form's answer has loaded; reading it
/// earlier can catch the old page as it goes), or `before` after ten seconds.
async fn heading_after(b: &Client, before: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match heading(b).await {
            Some(text) if text != before => return text,
            _ if Instant::now() >= deadline => return before.to_owned(),
            _ => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

/// The number of device rows once it is `expected`, or the last count seen after ten seconds.
/// Waiting for a change is not enough: while the form's answer replaces the page, the blank
/// document in between has no rows at all.
async fn rows_once(b: &Client, expected: usize) -> usize {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        // A lookup that fails while the page changes counts as no rows.
        let rows = b
            .find_all(Locator::Css("tbody tr"))
            .await
            .map_or(0, |r| r.len());
        if rows == expected || Instant::now() >= deadline {
            return rows;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn session_cookie(b: &Client) -> fantoccini::cookies::Cookie<'static> {
    b.get_named_cookie(COOKIE)
        .await
        .expect("the session cookie")
}

fn screenshots_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test]
async fn sign_in_cookie_attributes_sign_out_and_csrf_in_a_real_browser() {
    if skipped() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (_demo, base) = start_demo(dir.path());
    let (_driver, port) = start_chromedriver();
    let b = browser(port, &dir.path().join("profile")).await;

    // Before sign-in: the form's CSRF token already gave the visitor a session.
    b.goto(&format!("{base}/login")).await.unwrap();
    let before = session_cookie(&b).await.value().to_owned();
    sign_in(&b, &base, "alice", "correct horse battery staple").await;
    let body = b
        .find(Locator::Css("main"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        body.contains("Signed in as") && body.contains("alice"),
        "{body}"
    );

    // The cookie as the browser stores it.
    let cookie = session_cookie(&b).await;
    assert_ne!(cookie.value(), before, "a new session ID at sign-in");
    assert_eq!(cookie.secure(), Some(true));
    assert_eq!(cookie.http_only(), Some(true));
    assert_eq!(
        cookie.same_site().map(|s| s.to_string()).as_deref(),
        Some("Lax")
    );
    assert_eq!(cookie.path(), Some("/"));
    assert_eq!(
        cookie.domain(),
        Some("localhost"),
        "host-only, no Domain attribute"
    );
    let signed_in = cookie.value().to_owned();

    // Scripts cannot read it.
    let visible = b.execute("return document.cookie", vec![]).await.unwrap();
    assert!(
        !visible.as_str().unwrap_or_default().contains(COOKIE),
        "{visible}"
    );

    // A screenshot for the README (docs/screenshots/ keeps a copy).
    std::fs::write(
        screenshots_dir().join("account.png"),
        b.screenshot().await.unwrap(),
    )
    .unwrap();

    // A form whose token was removed is refused.
    b.goto(&format!("{base}/devices")).await.unwrap();
    b.execute(
        "document.querySelectorAll('input[name=csrf_token]').forEach(e => e.remove())",
        vec![],
    )
    .await
    .unwrap();
    let devices = heading(&b).await.unwrap();
    b.find(Locator::Css("main form button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let refused = heading_after(&b, &devices).await;
    assert_eq!(refused, "Request refused");

    // Sign out, then replay the old cookie from a plain HTTP client: refused.
    b.goto(&format!("{base}/account")).await.unwrap();
    b.find(Locator::Css("header form button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for_path(&b, "/").await;
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .into();
    let replay = agent
        .get(&format!("{base}/account"))
        .header("Cookie", &format!("{COOKIE}={signed_in}"))
        .call()
        .unwrap();
    assert_eq!(replay.status().as_u16(), 303);
    assert_eq!(replay.headers().get("location").unwrap(), "/login");
    b.close().await.unwrap();
}

#[tokio::test]
async fn one_device_signs_the_other_out() {
    if skipped() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (_demo, base) = start_demo(dir.path());
    let (_driver, port) = start_chromedriver();
    let laptop = browser(port, &dir.path().join("laptop")).await;
    let phone = browser(port, &dir.path().join("phone")).await;
    sign_in(&laptop, &base, "alice", "correct horse battery staple").await;
    sign_in(&phone, &base, "alice", "correct horse battery staple").await;

    laptop.goto(&format!("{base}/devices")).await.unwrap();
    let rows = laptop.find_all(Locator::Css("tbody tr")).await.unwrap();
    assert_eq!(rows.len(), 2, "two devices listed");
    let shot = laptop.screenshot().await.unwrap();
    std::fs::write(screenshots_dir().join("devices.png"), shot).unwrap();
    laptop
        .find(Locator::Css("tbody form button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    // The form posts and redirects back to /devices, so the path alone does not say the new
    // page has loaded: wait for the table to show one device.
    assert_eq!(rows_once(&laptop, 1).await, 1);

    // The phone's next click lands on the sign-in page.
    phone
        .find(Locator::LinkText("Account"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for_path(&phone, "/login").await;
    laptop.close().await.unwrap();
    phone.close().await.unwrap();
}
