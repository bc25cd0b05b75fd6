//! Text from a site or a cookie never reaches the terminal as control characters.

use std::io::{Read as _, Write as _};
use std::net::TcpListener;
use std::process::{Command, Stdio};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::support::{stderr, stdout, sv};

/// A session whose key names would retitle the terminal (OSC), clear it (C1 CSI) and reverse
/// the text after them (bidi override).
const HOSTILE_JSON: &str =
    r#"{"password\u001b]0;owned\u0007":"x","token\u009b2J":1,"secret\u202eevil":2}"#;

/// A Flask cookie carrying `payload` (the signature is not checked by what reads it here).
fn flask_cookie(payload: &[u8]) -> String {
    format!(
        "{}.ZWhA3w.AAAAAAAAAAAAAAAAAAAAAAAAAAA",
        URL_SAFE_NO_PAD.encode(payload)
    )
}

fn is_unsafe(c: char) -> bool {
    (c.is_control() && c != '\n') || ('\u{202a}'..='\u{202e}').contains(&c)
}

/// A server that sets the hostile cookie on every response.
fn hostile_server() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let cookie = flask_cookie(HOSTILE_JSON.as_bytes());
    std::thread::spawn(move || {
        for stream in listener.incoming().take(4) {
            let Ok(mut stream) = stream else { continue };
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            let response = format!(
                "HTTP/1.1 200 OK\r\nSet-Cookie: session={cookie}; HttpOnly\r\n\
                 Content-Length: 2\r\nConnection: close\r\n\r\nok"
            );
            let _ = stream.write_all(response.as_bytes());
        }
    });
    port
}

// See: issue 17, finding 9
#[test]
fn review_terminal_escapes_in_key_names_never_reach_the_terminal() {
    let url = format!("http://127.0.0.1:{}/", hostile_server());
    let o = sv(&["audit", &url]);
    let out = stdout(&o);
    assert!(out.contains("Flask session"), "{out}\n{}", stderr(&o));
    assert!(
        !out.chars().any(is_unsafe),
        "raw control characters: {out:?}"
    );
    // The sensitive-keys finding names them, escaped.
    assert!(out.contains(r"password\u{1b}]0;owned\u{7}"), "{out}");
    assert!(out.contains(r"secret\u{202e}evil"), "{out}");
    // The session itself, as JSON escapes.
    assert!(out.contains(r#""token\u009b2J": 1"#), "{out}");

    // JSON for scripts: escaped too, and still the same keys to a parser.
    let o = sv(&["audit", "--json", &url]);
    let out = stdout(&o);
    assert!(
        !out.chars().any(is_unsafe),
        "raw control characters: {out:?}"
    );
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    let session = &report["cookies"][0]["flask"]["session"];
    assert_eq!(session["token\u{9b}2J"], 1, "{out}");
    assert_eq!(session["password\u{1b}]0;owned\u{7}"], "x", "{out}");
}

// See: issue 17, finding 9
#[test]
fn review_terminal_escapes_decode_raw_escapes_only_on_a_terminal() {
    // Raw control bytes in the JSON text itself: not JSON, but `--raw` prints what is there.
    let cookie = flask_cookie(b"{\"k\x1b]0;owned\x07\":1}");
    let o = sv(&["decode", "--raw", &cookie]);
    assert_eq!(
        stdout(&o),
        "{\"k\x1b]0;owned\x07\":1}\n",
        "to a pipe: the bytes as they are"
    );
    // On a terminal (`script` runs it on a pseudo-terminal): escaped.
    let command = format!(
        "{} decode --raw {cookie}",
        env!("CARGO_BIN_EXE_sessionvault")
    );
    let o = Command::new("script")
        .args(["--quiet", "--return", "--command", &command, "/dev/null"])
        .stdin(Stdio::null())
        .output()
        .expect("script (util-linux) runs");
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(out.contains(r#"{"k\u{1b}]0;owned\u{7}":1}"#), "{out:?}");
    assert!(!out.contains('\u{1b}') && !out.contains('\u{7}'), "{out:?}");
    // Pretty output escapes C1 controls as JSON escapes everywhere.
    let o = sv(&["decode", &flask_cookie(HOSTILE_JSON.as_bytes())]);
    let out = stdout(&o);
    assert!(!out.chars().any(is_unsafe), "{out:?}");
    assert!(out.contains(r#""token\u009b2J": 1"#), "{out}");
}
