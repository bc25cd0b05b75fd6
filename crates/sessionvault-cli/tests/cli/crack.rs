//! crack: wordlists of every shape, exit codes, the built-in list.

use std::io::Write as _;

use crate::support::{assert_clean_failure, sign_with, stderr, stdout, sv, sv_with_stdin};

const KEY: &str = "the-key-we-are-looking-for";

fn wordlist(contents: &[u8]) -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(contents).unwrap();
    f
}

fn crack(list: &tempfile::NamedTempFile, cookie: &str, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["crack", "--wordlist", list.path().to_str().unwrap()];
    args.extend_from_slice(extra);
    args.push(cookie);
    sv(&args)
}

#[test]
fn finds_the_key_and_prints_only_it() {
    let cookie = sign_with(KEY, r#"{"user_id": 1}"#);
    let mut data = Vec::new();
    for i in 0..50_000 {
        data.extend_from_slice(format!("guess-{i}\n").as_bytes());
    }
    data.extend_from_slice(KEY.as_bytes());
    data.extend_from_slice(b"\n");
    let list = wordlist(&data);
    for threads in ["1", "2", "7"] {
        let o = crack(&list, &cookie, &["--threads", threads]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        assert_eq!(stdout(&o), format!("{KEY}\n"));
    }
}

#[test]
fn crlf_lines_and_invalid_utf8_are_read_as_bytes() {
    let binary_key: &[u8] = b"\xff\xfe\x00binary-key-\x80";
    let hex: String = binary_key.iter().map(|b| format!("{b:02x}")).collect();
    let o = sv(&[
        "sign",
        "--secret-hex",
        &hex,
        "--allow-weak-secret",
        "--timestamp",
        "1700000000",
        "{}",
    ]);
    let cookie = stdout(&o).trim().to_owned();
    let mut data = b"\xc3\x28 not utf-8\r\n\r\n'unbalanced quote\r\nb'\\x00'\r\n".to_vec();
    data.extend_from_slice(binary_key);
    data.extend_from_slice(b"\r\n");
    let o = crack(&wordlist(&data), &cookie, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(o.stdout, [binary_key, b"\n"].concat());

    let crlf_cookie = sign_with(KEY, "{}");
    let o = crack(
        &wordlist(format!("a\r\nb\r\n{KEY}\r\n").as_bytes()),
        &crlf_cookie,
        &[],
    );
    assert_eq!(stdout(&o), format!("{KEY}\n"));
}

#[test]
fn not_found_exits_1_and_bad_input_exits_2() {
    let cookie = sign_with(KEY, "{}");
    let o = crack(&wordlist(b"a\nb\nc\n"), &cookie, &[]);
    assert_clean_failure(&o, 1, "not found among 3 candidates");
    assert!(o.stdout.is_empty());
    assert_clean_failure(&crack(&wordlist(b""), &cookie, &[]), 2, "no entries");
    assert_clean_failure(
        &crack(&wordlist(b"\n\r\n\n"), &cookie, &[]),
        2,
        "no entries",
    );
    assert_clean_failure(
        &sv(&["crack", "--wordlist", "/no/such/list", &cookie]),
        2,
        "cannot open wordlist",
    );
    assert_clean_failure(&sv(&["crack", "not-a-cookie"]), 2, "not a signed cookie");
    assert_clean_failure(&sv(&["crack", "a.b.c"]), 2, "signature");
    let quiet = crack(&wordlist(b"a\n"), &cookie, &["--quiet"]);
    assert_eq!(quiet.status.code(), Some(1));
    assert!(quiet.stderr.is_empty());
}

#[test]
fn built_in_list_cracks_published_keys() {
    for key in [
        "dev",
        "CHANGE_ME_TO_A_COMPLEX_RANDOM_SECRET",
        "you-will-never-guess",
    ] {
        let o = sv(&["crack", &sign_with(key, r#"{"a": 1}"#)]);
        assert_eq!(o.status.code(), Some(0), "{key}: {}", stderr(&o));
        assert_eq!(stdout(&o), format!("{key}\n"));
    }
    let strong = sign_with(
        "5f0e3c1f8a2b4d6e9f7a1c3b5d7e9f0a2c4e6a8b0d1f3a5c7e9b2d4f6a8c0e1f",
        "{}",
    );
    assert_eq!(sv(&["crack", &strong]).status.code(), Some(1));
}

#[test]
fn other_salts_and_digests() {
    let o = sv(&[
        "sign",
        "--secret",
        KEY,
        "--allow-weak-secret",
        "--salt",
        "itsdangerous",
        "--digest",
        "sha256",
        "{}",
    ]);
    let cookie = stdout(&o).trim().to_owned();
    let list = wordlist(format!("x\n{KEY}\n").as_bytes());
    let found = crack(
        &list,
        &cookie,
        &["--salt", "itsdangerous", "--digest", "sha256"],
    );
    assert_eq!(stdout(&found), format!("{KEY}\n"));
    // The wrong digest is caught from the signature length, with a hint.
    assert_clean_failure(&crack(&list, &cookie, &[]), 2, "try --digest");
}

#[test]
fn audit_secret_reports_and_exits_by_strength() {
    let run = |input: &str, extra: &[&str]| {
        let mut args = vec!["audit-secret"];
        args.extend_from_slice(extra);
        sv_with_stdin(&args, input)
    };
    let weak = run("CHANGE_ME_TO_A_COMPLEX_RANDOM_SECRET\n", &[]);
    assert_eq!(weak.status.code(), Some(1));
    let text = stdout(&weak);
    assert!(
        text.contains("WEAK") && text.contains("Superset") && text.contains("keygen"),
        "{text}"
    );
    assert!(
        text.contains("length:") && text.contains("estimated entropy:"),
        "{text}"
    );

    let strong = run(
        "5f0e3c1f8a2b4d6e9f7a1c3b5d7e9f0a2c4e6a8b0d1f3a5c7e9b2d4f6a8c0e1f\n",
        &["--json"],
    );
    assert_eq!(strong.status.code(), Some(0), "{}", stderr(&strong));
    let report: serde_json::Value = serde_json::from_str(&stdout(&strong)).unwrap();
    assert_eq!(report["strong"], true);
    assert_eq!(report["length"], 64);
    assert!(report["estimated_bits"].as_u64().unwrap() >= 112);

    let phrase = run("correct horse battery staple extra", &["--json"]);
    assert_eq!(phrase.status.code(), Some(1));
    assert_clean_failure(&run("", &[]), 2, "no secret given");

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("k");
    std::fs::write(&path, "dev\n").unwrap();
    let from_file = sv(&["audit-secret", "--secret-file", path.to_str().unwrap()]);
    assert_eq!(from_file.status.code(), Some(1));
}
