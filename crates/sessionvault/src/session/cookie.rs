//! The session cookie: its attributes, and reading it out of `Cookie` headers.

use std::fmt::{self, Write as _};

use smallvec::SmallVec;

/// The longest `Set-Cookie` header written. Browsers drop a cookie whose name and value pass
/// 4096 bytes, silently; refusing earlier makes it an error the application sees.
pub const MAX_SET_COOKIE_LEN: usize = 4096;

/// `SameSite` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SameSite {
    /// Sent on same-site requests and top-level cross-site navigations (links from e-mail
    /// work); the default, with CSRF tokens for forms.
    Lax,
    /// Same-site requests only.
    Strict,
    /// Sent everywhere; needs `Secure`.
    None,
}

/// The session cookie's name and attributes. The default is `__Host-session; Secure; HttpOnly;
/// SameSite=Lax; Path=/`, no `Domain`, and no `Max-Age` (it ends with the browser).
#[derive(Clone, Debug)]
pub struct CookieConfig {
    pub(crate) name: String,
    pub(crate) secure: bool,
    pub(crate) same_site: SameSite,
    pub(crate) persistent: bool,
}

impl Default for CookieConfig {
    fn default() -> Self {
        Self {
            name: "__Host-session".into(),
            secure: true,
            same_site: SameSite::Lax,
            persistent: false,
        }
    }
}

impl CookieConfig {
    /// **Development only, over plain HTTP on a host other than localhost**: drops `Secure` and
    /// the `__Host-` prefix that needs it, so the cookie also travels unencrypted. Browsers
    /// treat `http://localhost` as secure, so local development does not need this.
    pub fn dangerous_insecure_dev() -> Self {
        Self {
            name: "session".into(),
            secure: false,
            ..Self::default()
        }
    }

    /// Another name. A name starting `__Host-` keeps `Secure`, `Path=/` and no `Domain`, as
    /// browsers demand.
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Another `SameSite`.
    pub fn with_same_site(mut self, same_site: SameSite) -> Self {
        self.same_site = same_site;
        self
    }

    /// Keep the cookie across browser restarts, until the absolute deadline (`Max-Age`).
    pub fn with_persistence(mut self, persistent: bool) -> Self {
        self.persistent = persistent;
        self
    }

    /// The cookie's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether `Secure` is set.
    pub fn is_secure(&self) -> bool {
        self.secure
    }

    /// The `Set-Cookie` header that stores `value`; `max_age` in seconds when persistent.
    pub fn set_header(&self, value: &str, max_age: Option<i64>) -> String {
        let mut header = format!("{}={value}; Path=/; HttpOnly", self.name);
        if self.secure {
            header.push_str("; Secure");
        }
        header.push_str(match self.same_site {
            SameSite::Lax => "; SameSite=Lax",
            SameSite::Strict => "; SameSite=Strict",
            SameSite::None => "; SameSite=None",
        });
        if let (true, Some(age)) = (self.persistent, max_age) {
            // Browsers cap lifetimes at 400 days.
            let _ = write!(header, "; Max-Age={}", age.clamp(0, 400 * 86_400));
        }
        header
    }

    /// The `Set-Cookie` header that deletes the cookie.
    pub fn clear_header(&self) -> String {
        let mut header = format!(
            "{}=; Path=/; HttpOnly; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT",
            self.name
        );
        if self.secure {
            header.push_str("; Secure");
        }
        header
    }
}

/// What the request's `Cookie` headers say about the session cookie.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IncomingCookie {
    /// No session cookie.
    Absent,
    /// Exactly one, with this value.
    One(CookieValue),
    /// More than one: a sign of cookie tossing. None is used.
    Duplicate,
}

/// A session cookie's value as the browser sent it: untrusted bytes, kept without a heap
/// allocation when short (a session ID is 43 bytes) and read as text only where text is
/// needed. It is a credential, so `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct CookieValue(SmallVec<[u8; 48]>);

impl CookieValue {
    /// The value's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The value as text; `None` when it is not UTF-8 (so not a cookie this server issued).
    pub fn to_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.0).ok()
    }
}

impl From<&[u8]> for CookieValue {
    fn from(bytes: &[u8]) -> Self {
        Self(SmallVec::from_slice(bytes))
    }
}

impl From<&str> for CookieValue {
    fn from(text: &str) -> Self {
        Self::from(text.as_bytes())
    }
}

impl From<String> for CookieValue {
    fn from(text: String) -> Self {
        Self::from(text.as_str())
    }
}

impl fmt::Debug for CookieValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CookieValue([REDACTED; {} bytes])", self.0.len())
    }
}

/// Finds the session cookie named `name` in the values of every `Cookie` header.
pub fn find_cookie<'a>(headers: impl IntoIterator<Item = &'a [u8]>, name: &str) -> IncomingCookie {
    let mut found: Option<&[u8]> = None;
    for header in headers {
        // Pairs are split with `memchr`: this runs on every request, and a session cookie's
        // value is long enough for a byte-at-a-time scan to show.
        for pair in memchr::memchr_iter(b';', header)
            .chain([header.len()])
            .scan(0, |start, end| {
                let pair = header.get(*start..end);
                *start = end + 1;
                pair
            })
        {
            // `name=value`: the name must match exactly, up to the `=`.
            let Some(value) = pair
                .trim_ascii_start()
                .strip_prefix(name.as_bytes())
                .and_then(|rest| rest.strip_prefix(b"="))
            else {
                continue;
            };
            if found.is_some() {
                return IncomingCookie::Duplicate;
            }
            found = Some(value);
        }
    }
    let Some(value) = found else {
        return IncomingCookie::Absent;
    };
    let value = value.trim_ascii();
    let value = value
        .strip_prefix(b"\"")
        .and_then(|v| v.strip_suffix(b"\""))
        .unwrap_or(value);
    // Kept as bytes: one that is not text cannot be a cookie we issued, and is looked up, fails
    // and is reported like any other.
    IncomingCookie::One(value.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_cookie_is_host_prefixed_secure_httponly_lax() {
        let header = CookieConfig::default().set_header("v", Some(60));
        assert_eq!(
            header,
            "__Host-session=v; Path=/; HttpOnly; Secure; SameSite=Lax"
        );
        let clear = CookieConfig::default().clear_header();
        assert!(clear.contains("Max-Age=0") && clear.starts_with("__Host-session=;"));
        let persistent = CookieConfig::default()
            .with_persistence(true)
            .set_header("v", Some(60));
        assert!(persistent.ends_with("; Max-Age=60"));
    }

    #[test]
    fn cookie_values_are_never_shown() {
        let value = CookieValue::from("a-raw-session-id");
        let shown = format!("{:?}", IncomingCookie::One(value.clone()));
        assert!(!shown.contains("raw"), "{shown}");
        assert_eq!(value.to_str(), Some("a-raw-session-id"));
        let long = CookieValue::from("x".repeat(4000));
        assert_eq!(long.as_bytes().len(), 4000);
        assert_eq!(CookieValue::from(&b"\xff"[..]).to_str(), None);
    }

    #[test]
    fn cookies_are_found_across_headers_and_duplicates_refused() {
        let name = "__Host-session";
        assert_eq!(
            find_cookie([&b"a=1; b=2"[..]], name),
            IncomingCookie::Absent
        );
        assert_eq!(
            find_cookie([&b"a=1; __Host-session=xyz"[..]], name),
            IncomingCookie::One("xyz".into())
        );
        assert_eq!(
            find_cookie([&b"__Host-session=x"[..], b"__Host-session=y"], name),
            IncomingCookie::Duplicate
        );
        assert_eq!(
            find_cookie([&b"__Host-session=x; __Host-session=x"[..]], name),
            IncomingCookie::Duplicate
        );
        assert_eq!(
            find_cookie([&b"__Host-session=\"q\""[..]], name),
            IncomingCookie::One("q".into())
        );
        // Names match whole, and spaces around the pair do not count.
        assert_eq!(
            find_cookie(
                [&b"__Host-sessionx=1;  __Host-session = 2; __Host-session=3 "[..]],
                name
            ),
            IncomingCookie::One("3".into())
        );
        assert_eq!(
            find_cookie([&b";;__Host-session=4;"[..], b"", b";"], name),
            IncomingCookie::One("4".into())
        );
        assert_eq!(
            find_cookie([&b"x__Host-session=1; __Host-session=\xff"[..]], name),
            IncomingCookie::One(b"\xff"[..].into())
        );
    }
}
