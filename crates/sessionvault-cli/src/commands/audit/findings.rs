//! What is wrong with one session cookie, judged by the cookie rules (RFC 6265bis, OWASP ASVS
//! V3.4 / 5.0 V3.3) and by what a Flask cookie gives away.

use serde::Serialize;
use sessionvault::flask::{Digest, decode_unverified};

use crate::commands::crack::{Matcher, search_known};

/// How bad a finding is. `High` makes `audit` exit 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Severity {
    Info,
    Low,
    Medium,
    High,
}

impl Severity {
    pub(crate) fn label(self) -> &'static str {
        match self {
            Self::Info => "info",
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "HIGH",
        }
    }
}

#[derive(Debug, Serialize)]
pub(crate) struct Finding {
    pub(crate) severity: Severity,
    /// A stable name for scripts, such as `missing-secure`.
    pub(crate) id: &'static str,
    pub(crate) message: String,
}

/// What the cookie holds when it is a Flask session.
#[derive(Debug, Serialize)]
pub(crate) struct FlaskContents {
    /// The session, decoded without any key.
    pub(crate) session: serde_json::Value,
    /// Keys whose names suggest secrets.
    pub(crate) sensitive_keys: Vec<String>,
    /// Where the key that signed it is published, when the built-in list cracks it.
    pub(crate) known_key_source: Option<&'static str>,
}

/// One Set-Cookie, as the audit saw it.
#[derive(Debug, Serialize)]
pub(crate) struct CookieReport {
    pub(crate) name: String,
    /// The URL whose response set it.
    pub(crate) set_by: String,
    pub(crate) secure: bool,
    pub(crate) http_only: bool,
    pub(crate) same_site: Option<String>,
    pub(crate) domain: Option<String>,
    pub(crate) path: Option<String>,
    /// Seconds, from Max-Age or Expires; `None` for a session cookie.
    pub(crate) lifetime_seconds: Option<i64>,
    /// Name plus value, the size browsers limit to 4096.
    pub(crate) size: usize,
    pub(crate) flask: Option<FlaskContents>,
    pub(crate) findings: Vec<Finding>,
}

const SENSITIVE: &[&str] = &[
    "password", "passwd", "pwd", "secret", "token", "api_key", "apikey", "private", "credit",
    "card", "ssn", "otp", "totp", "mfa", "pin",
];

/// Inspects one `Set-Cookie` header value.
pub(crate) fn inspect(header: &str, set_by: &str, now_unix: i64) -> Option<CookieReport> {
    let cookie = cookie::Cookie::parse(header.to_owned()).ok()?;
    let name = cookie.name().to_owned();
    let value = cookie.value().to_owned();
    let secure = cookie.secure().unwrap_or(false);
    let http_only = cookie.http_only().unwrap_or(false);
    let same_site = cookie.same_site().map(|s| s.to_string());
    let domain = cookie.domain().map(str::to_owned);
    let path = cookie.path().map(str::to_owned);
    let lifetime_seconds = cookie.max_age().map(|d| d.whole_seconds()).or_else(|| {
        cookie
            .expires_datetime()
            .map(|t| t.unix_timestamp() - now_unix)
    });
    let size = name.len() + value.len();
    let mut findings = Vec::new();
    let mut add = |severity, id, message: String| {
        findings.push(Finding {
            severity,
            id,
            message,
        })
    };

    if value.is_empty() || lifetime_seconds.is_some_and(|s| s <= 0) {
        add(
            Severity::Info,
            "deletion",
            "this Set-Cookie deletes the cookie".into(),
        );
    }
    if !secure {
        add(
            Severity::High,
            "missing-secure",
            "Secure is not set: the cookie also travels over plain HTTP, where anyone on the \
             network can read it"
                .into(),
        );
    }
    if !http_only {
        add(
            Severity::High,
            "missing-httponly",
            "HttpOnly is not set: any script on the page (an XSS) can read and steal it".into(),
        );
    }
    match same_site.as_deref() {
        None => add(
            Severity::Medium,
            "missing-samesite",
            "SameSite is not set: say Lax or Strict rather than rely on browser defaults".into(),
        ),
        Some("None") if !secure => add(
            Severity::High,
            "samesite-none-insecure",
            "SameSite=None without Secure: browsers reject the cookie".into(),
        ),
        Some("None") => add(
            Severity::Medium,
            "samesite-none",
            "SameSite=None: the cookie is sent on cross-site requests, so every form needs CSRF \
             protection"
                .into(),
        ),
        _ => {}
    }
    if name.starts_with("__Host-") {
        if !secure || domain.is_some() || path.as_deref() != Some("/") {
            add(
                Severity::High,
                "host-prefix-violated",
                "__Host- needs Secure, no Domain and Path=/; browsers reject this cookie".into(),
            );
        }
    } else if name.starts_with("__Secure-") {
        if !secure {
            add(
                Severity::High,
                "secure-prefix-violated",
                "__Secure- needs Secure; browsers reject this cookie".into(),
            );
        }
    } else {
        add(
            Severity::Low,
            "no-host-prefix",
            "no __Host- prefix: a sibling subdomain can overwrite (toss) this cookie".into(),
        );
    }
    if let Some(d) = &domain {
        add(
            Severity::Medium,
            "domain-set",
            format!("Domain={d}: every subdomain receives the cookie and can set it"),
        );
    }
    if path.as_deref().is_some_and(|p| p != "/") {
        add(
            Severity::Info,
            "path-not-root",
            "Path is not /: other paths of the site get no session".into(),
        );
    }
    if size > 4096 {
        add(
            Severity::High,
            "too-large",
            format!("name plus value is {size} bytes: browsers drop cookies over 4096, silently"),
        );
    } else if size > 3800 {
        add(
            Severity::Low,
            "nearly-too-large",
            format!("name plus value is {size} bytes, close to the 4096 browsers keep"),
        );
    }
    match lifetime_seconds {
        Some(s) if s > 400 * 86_400 => add(
            Severity::Low,
            "lifetime-over-400-days",
            "lifetime over 400 days: browsers cap it, and a session should not live that long"
                .into(),
        ),
        Some(s) if s > 30 * 86_400 => add(
            Severity::Low,
            "long-lifetime",
            format!(
                "persistent for {} days: a stolen cookie stays useful that long",
                s / 86_400
            ),
        ),
        _ => {}
    }

    let flask = flask_contents(&value);
    if let Some(contents) = &flask {
        add(
            Severity::Medium,
            "flask-signed-not-encrypted",
            "a Flask signed cookie: anyone who sees it can read the session (signing is not \
             encryption)"
                .into(),
        );
        if !contents.sensitive_keys.is_empty() {
            add(
                Severity::High,
                "sensitive-data",
                format!(
                    "the session holds keys that look sensitive: {}",
                    contents.sensitive_keys.join(", ")
                ),
            );
        }
        if let Some(source) = contents.known_key_source {
            add(
                Severity::High,
                "known-secret-key",
                format!(
                    "signed with a publicly known secret key ({source}): anyone can forge \
                     sessions; rotate the key now"
                ),
            );
        }
    }

    Some(CookieReport {
        name,
        set_by: set_by.to_owned(),
        secure,
        http_only,
        same_site,
        domain,
        path,
        lifetime_seconds,
        size,
        flask,
        findings,
    })
}

fn flask_contents(value: &str) -> Option<FlaskContents> {
    // A Flask cookie has three parts and a 27-character HMAC-SHA1 signature.
    let sig = value.rsplit('.').next()?;
    if value.matches('.').count() < 2 || sig.len() != 27 {
        return None;
    }
    let decoded = decode_unverified(value).ok()?;
    let session = decoded.value.ok()?;
    let mut sensitive_keys = Vec::new();
    collect_sensitive(&session, "", &mut sensitive_keys);
    let known_key_source = Matcher::for_cookie(value, b"cookie-session", Digest::Sha1)
        .ok()
        .and_then(|m| search_known(&m).key)
        .and_then(|key| {
            sessionvault::tooling::KNOWN_SECRETS
                .iter()
                .find(|(k, _)| *k == key.as_slice())
                .map(|(_, source)| *source)
        });
    Some(FlaskContents {
        session: session.to_plain_json(),
        sensitive_keys,
        known_key_source,
    })
}

fn collect_sensitive(value: &sessionvault::flask::Value, prefix: &str, out: &mut Vec<String>) {
    if let Some(map) = value.as_dict() {
        for (key, inner) in map {
            let path = if prefix.is_empty() {
                key.clone()
            } else {
                format!("{prefix}.{key}")
            };
            let lower = key.to_ascii_lowercase();
            // `_csrf_token` and `csrf_token` are meant to be there; everything else that names a
            // secret is a finding.
            if SENSITIVE.iter().any(|s| lower.contains(s)) && !lower.contains("csrf") {
                out.push(path.clone());
            }
            collect_sensitive(inner, &path, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(header: &str) -> Vec<&'static str> {
        inspect(header, "http://x/", 0)
            .unwrap()
            .findings
            .iter()
            .map(|f| f.id)
            .collect()
    }

    #[test]
    fn a_well_set_cookie_has_no_findings_above_info() {
        let report = inspect(
            "__Host-session=abc; Secure; HttpOnly; SameSite=Lax; Path=/",
            "u",
            0,
        )
        .unwrap();
        assert!(
            report.findings.iter().all(|f| f.severity == Severity::Info),
            "{report:?}"
        );
    }

    #[test]
    fn each_rule_fires() {
        let all = ids("session=abc; Domain=example.com; Path=/app; Max-Age=99999999");
        for id in [
            "missing-secure",
            "missing-httponly",
            "missing-samesite",
            "no-host-prefix",
            "domain-set",
            "path-not-root",
            "lifetime-over-400-days",
        ] {
            assert!(all.contains(&id), "{id} in {all:?}");
        }
        assert!(ids("__Host-s=a; Secure; HttpOnly; Path=/x").contains(&"host-prefix-violated"));
        assert!(ids("__Secure-s=a; HttpOnly").contains(&"secure-prefix-violated"));
        assert!(ids("s=a; SameSite=None; HttpOnly").contains(&"samesite-none-insecure"));
        let big = format!("s={}; Secure; HttpOnly", "a".repeat(5000));
        assert!(ids(&big).contains(&"too-large"));
    }

    #[test]
    fn flask_cookies_are_decoded_and_cracked_with_the_built_in_list() {
        let keyring = sessionvault::Keyring::danger_legacy_unchecked("dev", Vec::<&str>::new());
        let codec = sessionvault::flask::FlaskCodec::new(keyring);
        let session = sessionvault::flask::tagged_json::from_str(
            r#"{"user":"bob","password":"hunter2","csrf_token":"x"}"#,
        )
        .unwrap();
        let cookie = codec.sign(&session).unwrap();
        let report = inspect(&format!("session={cookie}; HttpOnly"), "u", 0).unwrap();
        let flask = report.flask.as_ref().unwrap();
        assert_eq!(flask.sensitive_keys, ["password"]);
        assert_eq!(flask.known_key_source, Some("Flask tutorial (flaskr)"));
        let ids: Vec<_> = report.findings.iter().map(|f| f.id).collect();
        assert!(ids.contains(&"known-secret-key") && ids.contains(&"sensitive-data"));
    }
}
