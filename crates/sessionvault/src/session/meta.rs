//! Facts about the request that a session records: the user agent and the client's network,
//! for the devices list and the fingerprint check.

use std::net::{IpAddr, Ipv6Addr};

use http::HeaderValue;

/// The longest user agent a record keeps, in characters.
const MAX_USER_AGENT_CHARS: usize = 256;

/// Facts about the request that the session records for the devices list and anomaly checks.
#[derive(Clone, Debug, Default)]
pub struct RequestMeta {
    /// The `User-Agent` header, as the request carries it. A clone of the header shares its
    /// bytes, so a request whose handler never loads the session neither copies nor reads it.
    /// Text that is not UTF-8 counts as no user agent.
    pub user_agent: Option<HeaderValue>,
    /// The client's address; only its network prefix is stored.
    pub ip: Option<IpAddr>,
}

impl RequestMeta {
    /// The stored form of the address: the /24 of IPv4, the /48 of IPv6.
    pub(crate) fn ip_prefix(&self) -> Option<String> {
        Some(match self.ip? {
            IpAddr::V4(v4) => {
                let [a, b, c, _] = v4.octets();
                format!("{a}.{b}.{c}.0/24")
            }
            IpAddr::V6(v6) => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}::/48", s[0], s[1], s[2])
            }
        })
    }

    /// True when the request comes from a network other than `recorded` (a stored
    /// [`ip_prefix`](Self::ip_prefix)); false when its address is unknown. Compares on the
    /// stack, since it runs on every loaded request.
    pub(crate) fn is_outside(&self, recorded: &str) -> bool {
        self.ip.is_some_and(|ip| !is_within(ip, recorded))
    }

    /// The user agent, cut to [`MAX_USER_AGENT_CHARS`] so that it cannot bloat a record.
    pub(crate) fn user_agent_str(&self) -> Option<&str> {
        let ua = std::str::from_utf8(self.user_agent.as_ref()?.as_bytes()).ok()?;
        // No more bytes than the limit means no more characters: browsers' user agents, on
        // every loaded request, are kept without walking them character by character.
        if ua.len() <= MAX_USER_AGENT_CHARS {
            return Some(ua);
        }
        Some(
            ua.char_indices()
                .nth(MAX_USER_AGENT_CHARS)
                .map_or(ua, |(end, _)| &ua[..end]),
        )
    }

    /// True when the request's user agent is `recorded`, a stored
    /// [`user_agent`](Self::user_agent): compares bytes, without decoding the header, which is
    /// what nearly every loaded request finds.
    pub(crate) fn has_user_agent(&self, recorded: &str) -> bool {
        self.user_agent
            .as_ref()
            .is_some_and(|ua| ua.as_bytes() == recorded.as_bytes())
    }

    /// [`user_agent_str`](Self::user_agent_str), owned for storing.
    pub(crate) fn user_agent(&self) -> Option<String> {
        self.user_agent_str().map(str::to_owned)
    }
}

/// True when `ip` lies in `network`, a stored [`RequestMeta::ip_prefix`]. Parses the stored
/// text rather than formatting the request's, which costs less on every loaded request.
fn is_within(ip: IpAddr, network: &str) -> bool {
    match ip {
        IpAddr::V4(ip) => network.strip_suffix(".0/24").is_some_and(|base| {
            // Read by hand: `Ipv4Addr`'s general parser costs about half as much again, on
            // every loaded request.
            let [a, b, c, _] = ip.octets();
            let mut octets = base
                .as_bytes()
                .split(|&byte| byte == b'.')
                .map(decimal_octet);
            [a, b, c]
                .into_iter()
                .all(|o| octets.next() == Some(Some(o)))
                && octets.next().is_none()
        }),
        IpAddr::V6(ip) => network
            .strip_suffix("/48")
            .and_then(|base| base.parse::<Ipv6Addr>().ok())
            .is_some_and(|base| base.segments()[..3] == ip.segments()[..3]),
    }
}

/// An octet as [`RequestMeta::ip_prefix`] writes it: one to three decimal digits.
fn decimal_octet(text: &[u8]) -> Option<u8> {
    if text.is_empty() || text.len() > 3 {
        return None;
    }
    let value = text.iter().try_fold(0u16, |value, &digit| {
        digit
            .is_ascii_digit()
            .then(|| value * 10 + u16::from(digit - b'0'))
    })?;
    u8::try_from(value).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(ip: &str) -> RequestMeta {
        RequestMeta {
            user_agent: None,
            ip: Some(ip.parse().unwrap_or_else(|e| panic!("{ip}: {e}"))),
        }
    }

    #[test]
    fn networks_are_compared_by_prefix() {
        let v4 = meta("192.0.2.77");
        assert_eq!(v4.ip_prefix().as_deref(), Some("192.0.2.0/24"));
        assert!(!v4.is_outside("192.0.2.0/24"));
        assert!(v4.is_outside("192.0.3.0/24"));
        let v6 = meta("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
        let prefix = v6.ip_prefix().unwrap_or_default();
        assert_eq!(prefix, "ffff:ffff:ffff::/48");
        assert!(!v6.is_outside(&prefix));
        assert!(
            !RequestMeta::default().is_outside("192.0.2.0/24"),
            "unknown is no change"
        );
    }

    #[test]
    fn stored_prefixes_read_back_as_the_same_network() {
        for ip in [
            "0.0.0.0",
            "1.20.255.9",
            "10.100.7.1",
            "255.255.255.255",
            "::",
            "::1",
            "2001:db8::1",
            "fe80:0:a:b::",
            "1:10:abc::",
            "a:ab:abc:abcd::",
            "100:1000:fff0::",
        ] {
            let meta = meta(ip);
            let prefix = meta.ip_prefix().unwrap_or_default();
            assert!(!meta.is_outside(&prefix), "{ip} in {prefix}");
        }
        for (ip, network) in [
            ("192.0.2.1", "192.0.3.0/24"),
            ("192.0.2.1", "192.0.2.0/16"),
            ("192.0.2.1", "192.0.2.0"),
            ("192.0.2.1", "2001:db8::/48"),
            ("2001:db8::1", "2001:db9::/48"),
            ("2001:db8::1", "192.0.2.0/24"),
            ("2001:db8::1", "not an address/48"),
            ("192.0.2.1", "192.0.2.1.0/24"),
            ("192.0.2.1", "192.0.0.0/24"),
            ("192.0.2.1", "192.0.2.1/24"),
            ("192.0.2.1", "192.0.+2.0/24"),
            ("192.0.2.1", "192.0.2.0/24 "),
            ("192.0.2.1", "192.0..0/24"),
            ("192.0.2.1", ".0/24"),
            ("192.0.2.1", "192.0.258.0/24"),
            ("2001:db8::1", "2001:db8::/48x"),
        ] {
            let ip: IpAddr = ip.parse().unwrap_or_else(|e| panic!("{ip}: {e}"));
            assert!(!is_within(ip, network), "{ip} not in {network}");
        }
    }

    #[test]
    fn user_agents_are_cut_at_256_characters() {
        let cut = |ua: String| {
            RequestMeta {
                user_agent: Some(HeaderValue::from_bytes(ua.as_bytes()).unwrap()),
                ip: None,
            }
            .user_agent_str()
            .map(str::to_owned)
        };
        // Cut at a character, not a byte, whatever the width of the characters.
        assert_eq!(cut("é".repeat(300)), Some("é".repeat(256)));
        assert_eq!(cut("é".repeat(256)), Some("é".repeat(256)));
        assert_eq!(cut("a".repeat(257)), Some("a".repeat(256)));
        assert_eq!(cut("a".repeat(256)), Some("a".repeat(256)));
        assert_eq!(cut("a".repeat(255) + "é"), Some("a".repeat(255) + "é"));
        assert_eq!(cut("a".repeat(256) + "é"), Some("a".repeat(256)));
        let browser = "Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101 Firefox/133.0";
        assert_eq!(cut(browser.into()).as_deref(), Some(browser));
        assert_eq!(RequestMeta::default().user_agent_str(), None);
    }

    #[test]
    fn a_recorded_user_agent_is_recognised_without_decoding() {
        let meta = |ua: &str| RequestMeta {
            user_agent: Some(HeaderValue::from_bytes(ua.as_bytes()).unwrap()),
            ip: None,
        };
        let browser = "Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101 Firefox/133.0";
        assert!(meta(browser).has_user_agent(browser));
        assert!(!meta(browser).has_user_agent("curl/8.5.0"));
        assert!(!meta(browser).has_user_agent(&browser[..20]));
        assert!(!RequestMeta::default().has_user_agent(browser));
        // A longer header is stored cut: not the same bytes, but the same stored form.
        let long = "a".repeat(300);
        let recorded = meta(&long).user_agent().unwrap();
        assert!(!meta(&long).has_user_agent(&recorded));
        assert_eq!(meta(&long).user_agent_str(), Some(recorded.as_str()));
    }

    #[test]
    fn user_agents_that_are_not_utf8_count_as_none() {
        let latin1 = RequestMeta {
            user_agent: Some(HeaderValue::from_bytes(b"Caf\xe9/1.0").unwrap()),
            ip: None,
        };
        assert_eq!(latin1.user_agent_str(), None);
        assert_eq!(latin1.user_agent(), None);
    }
}
