//! Running the binary and judging its output.

use std::process::Output;

use assert_cmd::Command;

pub(crate) const SECRET: &str = "5f0e3c1f8a2b4d6e9f7a1c3b5d7e9f0a2c4e6a8b0d1f3a5c7e9b2d4f6a8c0e1f";
pub(crate) const OLD: &str = "0d9c8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9c";
pub(crate) const TS: &str = "1700000000";

pub(crate) fn sv(args: &[&str]) -> Output {
    Command::cargo_bin("sessionvault")
        .expect("binary built")
        .env_remove("SESSIONVAULT_SECRET")
        .args(args)
        .output()
        .expect("run sessionvault")
}

pub(crate) fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).expect("UTF-8 stdout")
}

pub(crate) fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).expect("UTF-8 stderr")
}

/// A one-line message, no panic, no backtrace.
pub(crate) fn assert_clean_failure(o: &Output, code: i32, needle: &str) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(code), "{err}");
    assert!(err.contains(needle), "{err}");
    assert!(
        !err.contains("panicked") && !err.contains("RUST_BACKTRACE"),
        "{err}"
    );
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
}

/// Runs the binary with `input` on stdin.
pub(crate) fn sv_with_stdin(args: &[&str], input: &str) -> Output {
    use std::io::Write as _;
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("sessionvault"))
        .env_remove("SESSIONVAULT_SECRET")
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run sessionvault");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("write stdin");
    child.wait_with_output().expect("sessionvault output")
}

/// Signs `json` with `secret` (weak allowed) at `TS`.
pub(crate) fn sign_with(secret: &str, json: &str) -> String {
    let o = sv(&[
        "sign",
        "--secret",
        secret,
        "--allow-weak-secret",
        "--timestamp",
        TS,
        json,
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    stdout(&o).trim().to_owned()
}

/// The Python with pinned Flask that ./scripts/test.sh prepares.
pub(crate) fn flask_python() -> std::path::PathBuf {
    if let Some(path) = std::env::var_os("SESSIONVAULT_FLASK_PYTHON") {
        return path.into();
    }
    let venv = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python");
    assert!(
        venv.exists(),
        "the audit tests need a Python with pinned Flask: run ./scripts/test.sh, or set \
         SESSIONVAULT_FLASK_PYTHON"
    );
    venv
}
