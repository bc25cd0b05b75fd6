//! Log hygiene: every log line the test suite produces, captured to files, and a scanner that
//! finds secrets in them.
//!
//! With `SESSIONVAULT_LOG_DIR` set (`./scripts/test.sh` sets it), [`capture`] makes the test
//! process write every `tracing` event (all levels for sessionvault's crates, `info` and up for
//! the libraries under them) to a file there, and [`spawn_server`](crate::spawn_server) sends a
//! server's log output to another. After the whole suite, the `log_hygiene` test reads them all
//! and fails on anything [`scan`] finds. Without the variable, capture does nothing.

use std::path::PathBuf;
use std::sync::OnceLock;

/// Where captured logs go, when capturing.
pub fn log_dir() -> Option<PathBuf> {
    std::env::var_os("SESSIONVAULT_LOG_DIR").map(PathBuf::from)
}

/// The filter every captured process logs with: everything of sessionvault, `info` and up of
/// the rest.
pub const LOG_FILTER: &str = "info,sessionvault=trace,sessionvault_axum=trace,sessionvault_sqlx=trace,\
sessionvault_redis=trace,sessionvault_demo=trace,counter=trace";

/// Installs the capturing subscriber for this test process, once; later calls do nothing.
pub fn capture() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        let Some(dir) = log_dir() else {
            return;
        };
        let _ = std::fs::create_dir_all(&dir);
        let exe = std::env::current_exe()
            .ok()
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_else(|| "test".into());
        let path = dir.join(format!("{exe}-{}.log", std::process::id()));
        let Ok(file) = std::fs::File::create(&path) else {
            panic!("cannot create the log capture file {}", path.display());
        };
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(LOG_FILTER))
            .with_ansi(false)
            .with_writer(std::sync::Mutex::new(file))
            .finish();
        // Another subscriber installed first (a test of its own) keeps its place; its lines
        // are that test's business.
        let _ = tracing::subscriber::set_global_default(subscriber);
    });
}

/// Where one of sessionvault's servers (the demo, the counter example) started by a test logs,
/// when capturing: a fresh file in the log directory. `None` for other programs.
pub(crate) fn server_log_file(program: &std::ffi::OsStr) -> Option<std::fs::File> {
    let dir = log_dir()?;
    let name = std::path::Path::new(program)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())?;
    if !(name.starts_with("sessionvault") || name == "counter") {
        return None;
    }
    let _ = std::fs::create_dir_all(&dir);
    static SEQ: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let path = dir.join(format!("server-{name}-{}-{n}.log", std::process::id()));
    std::fs::File::create(&path).ok()
}

/// Something secret-looking in a log line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// What it looks like.
    pub kind: &'static str,
    /// The offending text, cut short.
    pub excerpt: String,
}

/// Passwords the test suite signs in with: the demo's accounts and the one a test changes to.
pub const TEST_PASSWORDS: &[&str] = &[
    "correct horse battery staple",
    "hunter2 hunter2 hunter2",
    "a much longer passphrase",
];

/// Finds secrets in log text:
///
/// - any run of 32 or more characters from the base64url alphabet (which holds hex): a session
///   ID (43 characters), a CSRF token (43), a key in hex (64) or base64, a sealed cookie, a
///   Flask cookie's payload or signature. sessionvault logs sessions by an 8-byte prefix of
///   their keyed hash (16 hex characters) and never anything longer;
/// - a Flask cookie, recognised by its three dot-separated parts (payload, time, signature);
/// - the passwords the tests use.
pub fn scan(text: &str) -> Vec<Finding> {
    let mut findings = Vec::new();
    let is_token = |b: u8| b.is_ascii_alphanumeric() || b == b'-' || b == b'_';
    let bytes = text.as_bytes();
    let mut start = None;
    for (i, &b) in bytes.iter().chain(std::iter::once(&b' ')).enumerate() {
        match (is_token(b), start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                if i - s >= 32 {
                    findings.push(Finding {
                        kind: "long token (session ID, CSRF token, key or cookie)",
                        excerpt: text[s..i].chars().take(24).collect(),
                    });
                }
                start = None;
            }
            _ => {}
        }
    }
    for word in text.split(|c: char| !(c.is_ascii_alphanumeric() || "-_.".contains(c))) {
        let parts: Vec<&str> = word.split('.').collect();
        if let [payload, time, signature] = parts.as_slice()
            && payload.trim_start_matches('.').len() >= 8
            && time.len() == 6
            && signature.len() >= 27
        {
            findings.push(Finding {
                kind: "Flask session cookie",
                excerpt: word.chars().take(24).collect(),
            });
        }
    }
    for password in TEST_PASSWORDS {
        if text.contains(password) {
            findings.push(Finding {
                kind: "password",
                excerpt: (*password).to_owned(),
            });
        }
    }
    findings
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_ids_tokens_keys_cookies_and_passwords() {
        let id = "Qm9vbWVyYW5nIGZpc2ggYW5kIGNoaXBzIHRvbmlnaHQ";
        assert_eq!(id.len(), 43);
        for line in [
            format!("INFO session={id} created"),
            format!("cookie \"__Host-session={id}\""),
            "key 8f14e45fceea167a5a36dedd4bea2543b2c6a6f6d1e0b2f4a8c9e7d6f5a4b3c2".to_owned(),
            "eyJfZnJlc2giOmZhbHNlfQ.ZdGc6Q.L46PQDKHRUOcqs7lciJyKudmpws leaked".to_owned(),
            "signed in with hunter2 hunter2 hunter2".to_owned(),
        ] {
            assert!(!scan(&line).is_empty(), "missed: {line}");
        }
    }

    #[test]
    fn passes_what_sessionvault_logs() {
        for line in [
            "2026-11-27T02:00:00.000000Z  WARN sessionvault::security: unknown session ID presented; fresh session issued event=\"unknown_id\" session=",
            "INFO sessionvault::security: session ID cycled (from 3f2a9c1d0b7e6a5f) event=\"id_cycled\" session=9c8b7a6f5e4d3c2b",
            "WARN sessionvault_axum: session not saved error=the session kept changing under concurrent requests; nothing was saved",
            "INFO sessionvault::security: login as alice event=\"login\" session=0123456789abcdef",
        ] {
            assert_eq!(scan(line), vec![], "{line}");
        }
    }
}
