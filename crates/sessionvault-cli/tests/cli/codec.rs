//! keygen, decode, verify and sign.

use assert_cmd::Command;

use crate::support::{OLD, SECRET, TS, assert_clean_failure, stderr, stdout, sv, sv_with_stdin};

fn sign(json: &str, extra: &[&str]) -> String {
    let mut args = vec!["sign", "--secret", SECRET, "--timestamp", TS];
    args.extend_from_slice(extra);
    args.push(json);
    let o = sv(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    stdout(&o).trim().to_owned()
}

#[test]
fn keygen_prints_fresh_hex_secrets() {
    let a = stdout(&sv(&["keygen"]));
    let b = stdout(&sv(&["keygen"]));
    assert_eq!(a.trim().len(), 128);
    assert!(a.trim().bytes().all(|c| c.is_ascii_hexdigit()));
    assert_ne!(a, b);
    assert_eq!(stdout(&sv(&["keygen", "--bytes", "32"])).trim().len(), 64);
    let short = sv(&["keygen", "--bytes", "16"]);
    assert_eq!(short.status.code(), Some(2));
}

#[test]
fn decode_reads_without_a_key_and_says_so() {
    let cookie = sign(r#"{"user_id": 42, "role": "admin"}"#, &[]);
    let o = sv(&["decode", &format!("session={cookie}")]);
    assert!(o.status.success());
    assert!(stderr(&o).contains("NOT verified"));
    let shown: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(shown["user_id"], 42);
    let raw = sv(&["decode", "--raw", &cookie]);
    assert_eq!(stdout(&raw).trim(), r#"{"role":"admin","user_id":42}"#);
    assert_clean_failure(&sv(&["decode", "garbage"]), 1, "malformed");
}

#[test]
fn verify_reports_each_reason_with_exit_1() {
    let cookie = sign(r#"{"a": 1}"#, &[]);
    let ok = sv(&["verify", "--secret", SECRET, "--now", "1700000100", &cookie]);
    assert!(ok.status.success(), "{}", stderr(&ok));
    assert_clean_failure(
        &sv(&["verify", "--secret", OLD, "--now", "1700000100", &cookie]),
        1,
        "bad signature",
    );
    let late = sv(&[
        "verify",
        "--secret",
        SECRET,
        "--max-age",
        "60",
        "--now",
        "1700000061",
        &cookie,
    ]);
    assert_clean_failure(&late, 1, "expired");
    let edge = sv(&[
        "verify",
        "--secret",
        SECRET,
        "--max-age",
        "60",
        "--now",
        "1700000060",
        &cookie,
    ]);
    assert!(edge.status.success());
    assert_clean_failure(
        &sv(&["verify", "--secret", SECRET, "--now", "1699999999", &cookie]),
        1,
        "timestamp in the future",
    );
    assert_clean_failure(
        &sv(&["verify", "--secret", SECRET, "a.b"]),
        1,
        "bad signature",
    );
    assert_clean_failure(
        &sv(&["verify", "--secret", SECRET, "nodots"]),
        1,
        "malformed: ",
    );
    let wrong_salt = sv(&[
        "verify", "--secret", SECRET, "--salt", "other", "--now", TS, &cookie,
    ]);
    assert_clean_failure(&wrong_salt, 1, "bad signature");
}

#[test]
fn verify_accepts_fallbacks_and_weak_legacy_keys() {
    let old_cookie = Command::cargo_bin("sessionvault")
        .unwrap()
        .args(["sign", "--secret", OLD, "--timestamp", TS, r#"{"a":1}"#])
        .output()
        .unwrap();
    let old_cookie = stdout(&old_cookie).trim().to_owned();
    let o = sv(&[
        "verify",
        "--secret",
        SECRET,
        "--fallback",
        OLD,
        "--now",
        TS,
        &old_cookie,
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("fallback key 1"));
    // An existing app's weak key still reads its cookies.
    let weak = sv(&[
        "sign",
        "--secret",
        "dev",
        "--allow-weak-secret",
        "--timestamp",
        TS,
        "{}",
    ]);
    let weak_cookie = stdout(&weak).trim().to_owned();
    assert!(
        sv(&["verify", "--secret", "dev", "--now", TS, &weak_cookie])
            .status
            .success()
    );
}

#[test]
fn sign_refuses_weak_secrets_with_advice() {
    let o = sv(&["sign", "--secret", "changeme", "{}"]);
    assert_clean_failure(&o, 2, "sessionvault keygen");
    assert!(stderr(&o).contains("publicly known"));
    assert!(!stderr(&o).contains("changeme"));
    let fallback = sv(&["sign", "--secret", SECRET, "--fallback", "dev", "{}"]);
    assert_clean_failure(&fallback, 2, "weak");
}

#[test]
fn secrets_come_from_flags_files_hex_and_the_environment() {
    let want = sign(r#"{"x":true}"#, &[]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("key");
    std::fs::write(&path, format!("{SECRET}\n")).unwrap();
    let from_file = sv(&[
        "sign",
        "--secret-file",
        path.to_str().unwrap(),
        "--timestamp",
        TS,
        r#"{"x":true}"#,
    ]);
    assert_eq!(stdout(&from_file).trim(), want);
    let hex_secret = hex_of(SECRET);
    let from_hex = sv(&[
        "sign",
        "--secret-hex",
        &hex_secret,
        "--timestamp",
        TS,
        r#"{"x":true}"#,
    ]);
    assert_eq!(stdout(&from_hex).trim(), want);
    let from_env = Command::cargo_bin("sessionvault")
        .unwrap()
        .env("SESSIONVAULT_SECRET", SECRET)
        .args(["sign", "--timestamp", TS, r#"{"x":true}"#])
        .output()
        .unwrap();
    assert_eq!(stdout(&from_env).trim(), want);

    assert_clean_failure(
        &sv(&["verify", "--secret-file", "/no/such/file", "x.y.z"]),
        2,
        "cannot read secret file",
    );
    assert_clean_failure(
        &sv(&["verify", "--secret-hex", "zz", "x.y.z"]),
        2,
        "not valid hex",
    );
    assert_clean_failure(&sv(&["verify", "x.y.z"]), 2, "no secret key");
}

fn hex_of(text: &str) -> String {
    text.bytes().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn bad_input_never_panics() {
    use std::os::unix::ffi::OsStrExt as _;
    let not_utf8 = std::ffi::OsStr::from_bytes(b"\xff\xfe.\x80.x");
    let o = Command::cargo_bin("sessionvault")
        .unwrap()
        .arg("decode")
        .arg(not_utf8)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(!stderr(&o).contains("panicked"));
    for junk in [
        "",
        ".",
        "....",
        "=",
        "session=",
        "\u{1}",
        &"A".repeat(100_000),
    ] {
        for cmd in [&["decode"][..], &["verify", "--secret", SECRET][..]] {
            let mut args = cmd.to_vec();
            args.push(junk);
            let o = sv(&args);
            assert!(matches!(o.status.code(), Some(1 | 2)), "{junk:?}");
            assert!(!stderr(&o).contains("panicked"), "{junk:?}");
        }
    }
    assert_clean_failure(
        &sv(&["sign", "--secret", SECRET, "{not json"]),
        2,
        "not valid JSON",
    );
    assert_clean_failure(
        &sv(&["sign", "--secret", SECRET, "--raw", r#"{" t":1}"#]),
        2,
        "tagged JSON",
    );
}

#[test]
fn cookie_and_json_can_come_from_stdin() {
    let cookie = sign(r#"{"a":1}"#, &[]);
    let o = sv_with_stdin(
        &["verify", "--secret", SECRET, "--now", TS, "--raw", "-"],
        &format!("{cookie}\n"),
    );
    assert_eq!(stdout(&o).trim(), r#"{"a":1}"#);
}

/// The committed cookies that real Flask 3.1 made (see the core crate's tests/flask).
fn flask_vectors() -> Vec<serde_json::Value> {
    include_str!("../../../sessionvault/tests/data/flask_vectors.jsonl")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn secret_flag(spec: &serde_json::Value) -> (String, String) {
    match spec.get("text") {
        Some(t) => ("--secret".into(), t.as_str().unwrap().into()),
        None => ("--secret-hex".into(), spec["hex"].as_str().unwrap().into()),
    }
}

#[test]
fn verify_raw_and_sign_raw_reproduce_flask_byte_for_byte() {
    for item in flask_vectors() {
        let cookie = item["cookie"].as_str().unwrap();
        let json = item["tagged_json"].as_str().unwrap();
        let ts = item["timestamp"].to_string();
        let signer = if item["signed_by_fallback"] == true {
            &item["fallbacks"][0]
        } else {
            &item["current"]
        };
        let (flag, secret) = secret_flag(signer);

        let verified = sv(&["verify", &flag, &secret, "--now", &ts, "--raw", cookie]);
        assert!(verified.status.success(), "{}", stderr(&verified));
        assert_eq!(stdout(&verified).strip_suffix('\n').unwrap(), json);

        let signed = sv(&["sign", &flag, &secret, "--timestamp", &ts, "--raw", json]);
        assert!(signed.status.success(), "{}", stderr(&signed));
        assert_eq!(stdout(&signed).trim(), cookie);
    }
}
