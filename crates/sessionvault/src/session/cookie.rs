//! The session cookie: its attributes, and reading it out of `Cookie` headers.

use std::fmt::Write as _;

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
    One(String),
    /// More than one: a sign of cookie tossing. None is used.
    Duplicate,
}

/// Finds the session cookie named `name` in the values of every `Cookie` header.
pub fn find_cookie<'a>(headers: impl IntoIterator<Item = &'a [u8]>, name: &str) -> IncomingCookie {
    let mut found: Option<String> = None;
    for header in headers {
        for pair in header.split(|b| *b == b';') {
            let pair = pair.trim_ascii();
            let Some(eq) = pair.iter().position(|b| *b == b'=') else {
                continue;
            };
            if &pair[..eq] != name.as_bytes() {
                continue;
            }
            if found.is_some() {
                return IncomingCookie::Duplicate;
            }
            let value = pair[eq + 1..].trim_ascii();
            let value = value
                .strip_prefix(b"\"")
                .and_then(|v| v.strip_suffix(b"\""))
                .unwrap_or(value);
            // A value that is not text cannot be one we issued; keep it (lossily) so that it is
            // looked up, fails, and is reported.
            found = Some(match std::str::from_utf8(value) {
                Ok(text) => text.to_owned(),
                Err(_) => String::from_utf8_lossy(value).into_owned(),
            });
        }
    }
    found.map_or(IncomingCookie::Absent, IncomingCookie::One)
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
    }
}
