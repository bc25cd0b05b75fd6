//! Where a request came from: Fetch Metadata, else the `Origin` header against this origin.

use axum::http::{HeaderMap, header};

use super::Refusal;

/// Where the request came from. Browsers that send Fetch Metadata say so in `Sec-Fetch-Site`,
/// which pages cannot forge: only `same-origin` and `none` (typed in, bookmarks) pass;
/// `same-site` is refused too, since a sibling subdomain may be the attacker. Without it, an
/// `Origin` header must name this origin: `scheme` with the `Host` the request was sent to,
/// compared as (scheme, host, port) with default ports made explicit and host names in their
/// ASCII, lower-case form. (`Origin` alone is not enough when the page sets
/// `Referrer-Policy: no-referrer`: browsers then send `Origin: null` even for same-origin forms,
/// and `null` matches nothing.) Requests with neither header (not from a browser) go on to the
/// token check.
pub(super) fn check_origin(headers: &HeaderMap, scheme: &str) -> Result<(), Refusal> {
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        return if site.eq_ignore_ascii_case("same-origin") || site.eq_ignore_ascii_case("none") {
            Ok(())
        } else {
            Err(Refusal::CrossSite)
        };
    }
    let Some(origin) = headers.get(header::ORIGIN) else {
        return Ok(());
    };
    let presented = origin.to_str().ok().and_then(parse_origin);
    let this = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .and_then(|host| parse_origin(&format!("{scheme}://{host}")));
    match (presented, this) {
        (Some(presented), Some(this)) if presented == this => Ok(()),
        _ => Err(Refusal::OriginMismatch),
    }
}

/// An `Origin` header's (scheme, host, port), or `None` when it is `null`, not a URL, or more
/// than an origin (a path, a query, user info): browsers send none of those.
fn parse_origin(text: &str) -> Option<url::Origin> {
    let url = url::Url::parse(text).ok()?;
    let bare = url.username().is_empty()
        && url.password().is_none()
        && url.path() == "/"
        && url.query().is_none()
        && url.fragment().is_none();
    let origin = url.origin();
    (bare && origin.is_tuple()).then_some(origin)
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    #[test]
    fn origin_rules() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static("app.example:8080"));
        assert_eq!(check_origin(&h, "https"), Ok(()));
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("https://app.example:8080"),
        );
        assert_eq!(check_origin(&h, "https"), Ok(()));
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("https://evil.example"),
        );
        assert_eq!(check_origin(&h, "https"), Err(Refusal::OriginMismatch));
        h.insert(header::ORIGIN, HeaderValue::from_static("null"));
        assert_eq!(check_origin(&h, "https"), Err(Refusal::OriginMismatch));
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static("app.example"));
        h.insert("sec-fetch-site", HeaderValue::from_static("cross-site"));
        assert_eq!(check_origin(&h, "https"), Err(Refusal::CrossSite));
        h.insert("sec-fetch-site", HeaderValue::from_static("same-site"));
        assert_eq!(
            check_origin(&h, "https"),
            Err(Refusal::CrossSite),
            "a sibling subdomain"
        );
        // Fetch Metadata wins over Origin: with no-referrer, browsers send `Origin: null`.
        h.insert("sec-fetch-site", HeaderValue::from_static("same-origin"));
        h.insert(header::ORIGIN, HeaderValue::from_static("null"));
        assert_eq!(check_origin(&h, "https"), Ok(()));
        h.insert("sec-fetch-site", HeaderValue::from_static("none"));
        assert_eq!(check_origin(&h, "https"), Ok(()));
    }

    /// The verdict for an `Origin` header sent to `host` on a site of `scheme`.
    fn verdict(scheme: &str, host: &'static str, origin: &'static str) -> Result<(), Refusal> {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static(host));
        h.insert(header::ORIGIN, HeaderValue::from_static(origin));
        check_origin(&h, scheme)
    }

    // See: issue 17, finding 15
    #[test]
    fn review_csrf_origin_compares_scheme_host_and_port() {
        let mismatch = Err(Refusal::OriginMismatch);
        // The scheme counts: a plain-HTTP page (or a network attacker's) is another origin.
        assert_eq!(
            verdict("https", "app.example", "http://app.example"),
            mismatch
        );
        assert_eq!(
            verdict("http", "app.example", "https://app.example"),
            mismatch
        );
        assert_eq!(verdict("http", "app.example", "http://app.example"), Ok(()));
        // Default ports are the same origin, other ports are not.
        for (host, origin) in [
            ("app.example", "https://app.example:443"),
            ("app.example:443", "https://app.example"),
            ("app.example", "https://app.example/"),
        ] {
            assert_eq!(verdict("https", host, origin), Ok(()), "{host} {origin}");
        }
        assert_eq!(
            verdict("https", "app.example", "https://app.example:8443"),
            mismatch
        );
        assert_eq!(
            verdict("http", "app.example", "http://app.example:443"),
            mismatch
        );
        assert_eq!(
            verdict("http", "app.example:80", "http://app.example"),
            Ok(())
        );
        // Host names compare case-insensitively and in their ASCII (punycode) form.
        assert_eq!(
            verdict("https", "APP.Example", "https://app.EXAMPLE"),
            Ok(())
        );
        assert_eq!(
            verdict(
                "https",
                "xn--bcher-kva.example",
                "https://XN--BCHER-KVA.example"
            ),
            Ok(())
        );
        assert_eq!(
            verdict("https", "bcher.example", "https://xn--bcher-kva.example"),
            mismatch
        );
        // IPv6 literals, and what is not an origin.
        assert_eq!(
            verdict("https", "[::1]:8443", "https://[0:0::1]:8443"),
            Ok(())
        );
        for origin in [
            "null",
            "app.example",
            "https://",
            "https://evil@app.example",
            "https://app.example/path",
            "https://app.example?q",
            "file:///etc/passwd",
            "data:text/html,hi",
            "https://app.example.evil.example",
        ] {
            assert_eq!(
                verdict("https", "app.example", origin),
                mismatch,
                "{origin}"
            );
        }
        // A Host that is no host name matches nothing.
        assert_eq!(
            verdict("https", "app example", "https://app example"),
            mismatch
        );
    }
}
