//! Text from outside (cookies, servers) made safe to print. A terminal obeys control
//! characters and reorders text around bidirectional marks, so a hostile cookie or server
//! could otherwise rewrite the auditor's screen, retitle the window or hide a finding.

use std::borrow::Cow;
use std::io::IsTerminal as _;

/// True for a character a terminal may act on rather than show: C0 and C1 controls, DEL, and
/// the bidirectional formatting characters.
fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
        )
}

/// `text` with every unsafe character, line breaks and tabs included, written as `\u{1b}`:
/// for a value inside a line of a report.
pub(crate) fn escape(text: &str) -> Cow<'_, str> {
    escape_with(
        text,
        |_| false,
        |c, out| {
            out.push_str(&format!("\\u{{{:x}}}", u32::from(c)));
        },
    )
}

/// JSON text with every unsafe character inside its strings written as a JSON escape
/// (`\u009b`): the same JSON to any parser, safe on a terminal. serde_json already escapes
/// the C0 controls, so a raw line break is the layout's.
pub(crate) fn escape_json(json: &str) -> Cow<'_, str> {
    escape_with(
        json,
        |c| c == '\n',
        |c, out| {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        },
    )
}

/// Raw text for standard output: as it is when that is a file or a pipe, escaped (keeping line
/// breaks and tabs) when it is a terminal.
pub(crate) fn for_stdout(text: &str) -> Cow<'_, str> {
    if std::io::stdout().is_terminal() {
        escape_with(
            text,
            |c| c == '\n' || c == '\t',
            |c, out| {
                out.push_str(&format!("\\u{{{:x}}}", u32::from(c)));
            },
        )
    } else {
        Cow::Borrowed(text)
    }
}

fn escape_with(
    text: &str,
    keep: impl Fn(char) -> bool,
    write: impl Fn(char, &mut String),
) -> Cow<'_, str> {
    if !text.chars().any(|c| is_unsafe(c) && !keep(c)) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if is_unsafe(c) && !keep(c) {
            write(c, &mut out);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_and_bidi_marks_are_escaped_and_the_rest_kept() {
        assert_eq!(escape("session"), "session");
        assert_eq!(escape("pässwörd ✓"), "pässwörd ✓");
        assert_eq!(
            escape("a\u{1b}]0;owned\u{7}b\u{9b}2J\u{7f}\u{202e}\n"),
            "a\\u{1b}]0;owned\\u{7}b\\u{9b}2J\\u{7f}\\u{202e}\\u{a}"
        );
    }

    #[test]
    fn json_stays_the_same_json() {
        let value = serde_json::json!({ "k\u{9b}2J": "v\u{1b}\u{202e}", "n": [1] });
        let pretty = serde_json::to_string_pretty(&value).unwrap();
        let escaped = escape_json(&pretty);
        assert!(
            !escaped.chars().any(|c| is_unsafe(c) && c != '\n'),
            "{escaped}"
        );
        let back: serde_json::Value = serde_json::from_str(&escaped).unwrap();
        assert_eq!(back, value);
    }
}
