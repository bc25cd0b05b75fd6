//! The client's address behind reverse proxies, from `X-Forwarded-For` or `Forwarded`
//! (RFC 7239), believed only when the connecting peer is a proxy the application names.
//!
//! Each proxy appends the address it received the request from, so the chain reads from the
//! client (left) to the last proxy (right), and everything left of the first proxy the
//! application runs is whatever the client wrote. The client is therefore the right-most
//! address that is not itself a trusted proxy; a header from any other peer is ignored.

use std::net::{IpAddr, SocketAddr};

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use ipnet::IpNet;

/// Which header the trusted proxies add the client's address to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ForwardedHeader {
    /// `X-Forwarded-For: client, proxy1, proxy2` (nginx, HAProxy, most load balancers).
    #[default]
    XForwardedFor,
    /// `Forwarded: for=client, for="[2001:db8::1]:4711"` (RFC 7239).
    Forwarded,
}

impl ForwardedHeader {
    fn name(self) -> HeaderName {
        match self {
            Self::XForwardedFor => HeaderName::from_static("x-forwarded-for"),
            Self::Forwarded => HeaderName::from_static("forwarded"),
        }
    }
}

/// The reverse proxies in front of the application, by address or network.
///
/// Only the header the proxies set is read: a proxy that appends to `X-Forwarded-For` passes a
/// client's own `Forwarded` header on untouched, so reading both would let the client choose
/// its address. The proxies must append to the header (or replace it), never leave it as the
/// client sent it.
///
/// ```
/// use sessionvault_axum::{ForwardedHeader, TrustedProxies};
///
/// let proxies = TrustedProxies::new(["127.0.0.1", "10.0.0.0/8", "fd00::/8"])?
///     .with_header(ForwardedHeader::Forwarded);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct TrustedProxies {
    networks: Vec<IpNet>,
    header: ForwardedHeader,
}

impl TrustedProxies {
    /// Proxies given as addresses (`192.0.2.1`, `::1`) or networks (`10.0.0.0/8`,
    /// `fd00::/8`), reading `X-Forwarded-For`.
    ///
    /// # Errors
    ///
    /// [`InvalidProxy`] for an entry that is neither an address nor a network.
    pub fn new<I, S>(proxies: I) -> Result<Self, InvalidProxy>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let networks = proxies
            .into_iter()
            .map(|entry| {
                let text = entry.as_ref().trim();
                text.parse::<IpNet>()
                    .map(|net| net.trunc())
                    .or_else(|_| text.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| InvalidProxy(text.to_owned()))
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            networks,
            header: ForwardedHeader::default(),
        })
    }

    /// Reads `header` instead of `X-Forwarded-For`.
    pub fn with_header(mut self, header: ForwardedHeader) -> Self {
        self.header = header;
        self
    }

    /// True when `ip` is one of the proxies.
    pub fn is_trusted(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.networks.iter().any(|net| net.contains(&ip))
    }

    /// The client's address for a request that arrived from `peer`: `peer` itself unless it is
    /// a trusted proxy; otherwise the right-most address of the header that is not a trusted
    /// proxy (the left-most when all are). An entry that is no address (`unknown`, an
    /// obfuscated name, garbage) ends the walk: the proxy that passed it on is then the
    /// client, as far as can be known. IPv4-mapped IPv6 addresses count as IPv4.
    pub fn client_addr(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let mut client = peer.to_canonical();
        if !self.is_trusted(client) {
            return client;
        }
        let hops: Vec<Option<IpAddr>> = headers
            .get_all(self.header.name())
            .iter()
            .flat_map(|line| hops(self.header, line))
            .collect();
        for hop in hops.into_iter().rev() {
            let Some(ip) = hop else { break };
            client = ip.to_canonical();
            if !self.is_trusted(client) {
                break;
            }
        }
        client
    }
}

/// A proxy entry that is neither an address nor a network.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvalidProxy(String);

impl std::fmt::Display for InvalidProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "trusted proxy {:?} is neither an address (192.0.2.1, ::1) nor a network \
             (10.0.0.0/8, fd00::/8)",
            self.0
        )
    }
}

impl std::error::Error for InvalidProxy {}

/// One header line's hops, left to right; `None` for an entry that names no address. A line
/// that is not visible ASCII is one such entry.
fn hops(header: ForwardedHeader, line: &HeaderValue) -> Vec<Option<IpAddr>> {
    let Ok(text) = line.to_str() else {
        return vec![None];
    };
    match header {
        ForwardedHeader::XForwardedFor => text.split(',').map(parse_node).collect(),
        ForwardedHeader::Forwarded => split_unquoted(text, b',')
            .map(|element| {
                split_unquoted(element, b';')
                    .filter_map(|pair| pair.split_once('='))
                    .find(|(name, _)| name.trim().eq_ignore_ascii_case("for"))
                    .and_then(|(_, value)| parse_node(&unquote(value.trim())?))
            })
            .collect(),
    }
}

/// A node as proxies write it: `192.0.2.1`, `192.0.2.1:443`, `2001:db8::1`,
/// `[2001:db8::1]` or `[2001:db8::1]:443`.
fn parse_node(text: &str) -> Option<IpAddr> {
    let text = text.trim();
    text.parse::<IpAddr>()
        .ok()
        .or_else(|| text.parse::<SocketAddr>().ok().map(|s| s.ip()))
        .or_else(|| {
            text.strip_prefix('[')?
                .strip_suffix(']')?
                .parse::<std::net::Ipv6Addr>()
                .ok()
                .map(IpAddr::V6)
        })
}

/// A `Forwarded` value: a token as it is, a quoted string without its quotes and escapes;
/// `None` for a quoted string that does not end.
fn unquote(value: &str) -> Option<String> {
    let Some(inner) = value.strip_prefix('"') else {
        return Some(value.to_owned());
    };
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push(chars.next()?),
            '"' => return chars.as_str().is_empty().then_some(out),
            c => out.push(c),
        }
    }
    None
}

/// `text` split at `separator`, except inside quoted strings.
fn split_unquoted(text: &str, separator: u8) -> impl Iterator<Item = &str> {
    let mut rest = Some(text);
    std::iter::from_fn(move || {
        let current = rest?;
        let (mut quoted, mut escaped) = (false, false);
        for (i, b) in current.bytes().enumerate() {
            match b {
                _ if escaped => escaped = false,
                b'\\' if quoted => escaped = true,
                b'"' => quoted = !quoted,
                b if b == separator && !quoted => {
                    // `separator` is ASCII, so `i` and `i + 1` are character boundaries.
                    rest = Some(&current[i + 1..]);
                    return Some(&current[..i]);
                }
                _ => {}
            }
        }
        rest = None;
        Some(current)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proxies() -> TrustedProxies {
        TrustedProxies::new(["10.0.0.0/8", "192.0.2.1", "2001:db8:ffff::/48"]).unwrap()
    }

    fn client(proxies: &TrustedProxies, peer: &str, name: &str, lines: &[&[u8]]) -> String {
        let mut headers = HeaderMap::new();
        for line in lines {
            let value = HeaderValue::from_bytes(line).unwrap();
            headers.append(HeaderName::from_bytes(name.as_bytes()).unwrap(), value);
        }
        proxies
            .client_addr(peer.parse().unwrap(), &headers)
            .to_string()
    }

    // See: issue 17, finding 6
    #[test]
    fn review_guessing_limit_proxy_headers_are_believed_only_from_trusted_peers() {
        let p = proxies();
        let xff = "x-forwarded-for";
        // A header from a peer that is no proxy is the client's own claim: ignored.
        assert_eq!(
            client(&p, "203.0.113.9", xff, &[b"198.51.100.1"]),
            "203.0.113.9"
        );
        // From a proxy: the right-most address that is not a proxy; what the client wrote
        // left of it does not count.
        assert_eq!(
            client(&p, "10.0.0.2", xff, &[b"1.1.1.1, 203.0.113.9, 10.0.0.7"]),
            "203.0.113.9"
        );
        assert_eq!(
            client(
                &p,
                "10.0.0.2",
                xff,
                &[b"1.1.1.1", b"203.0.113.9", b"192.0.2.1"]
            ),
            "203.0.113.9",
            "several lines are one list"
        );
        assert_eq!(
            client(&p, "10.0.0.2", xff, &[b"10.1.1.1, 10.2.2.2"]),
            "10.1.1.1",
            "all proxies: the left-most"
        );
        assert_eq!(client(&p, "10.0.0.2", xff, &[]), "10.0.0.2", "no header");
        // Ports, IPv6, IPv4-mapped peers.
        assert_eq!(
            client(&p, "10.0.0.2", xff, &[b"203.0.113.9:5555"]),
            "203.0.113.9"
        );
        assert_eq!(
            client(
                &p,
                "10.0.0.2",
                xff,
                &[b"[2001:db8::7]:443, 2001:db8:ffff::1"]
            ),
            "2001:db8::7"
        );
        assert_eq!(
            client(&p, "::ffff:10.0.0.2", xff, &[b"2001:db8::7"]),
            "2001:db8::7"
        );
        assert_eq!(
            client(&p, "::ffff:203.0.113.9", xff, &[b"1.1.1.1"]),
            "203.0.113.9"
        );
        // Garbage ends the walk at the proxy that passed it on, and never panics.
        for junk in [
            &b"unknown"[..],
            b"",
            b",,,",
            b"999.1.1.1",
            b"[::1",
            b"::1]:80",
            b"\xff\xfe",
            b"1.1.1.1, not-an-ip",
        ] {
            assert_eq!(client(&p, "10.0.0.2", xff, &[junk]), "10.0.0.2", "{junk:?}");
        }
        assert_eq!(
            client(&p, "10.0.0.2", xff, &[b"203.0.113.9, garbage, 10.0.0.7"]),
            "10.0.0.7"
        );
        // The other header is not read.
        assert_eq!(
            client(&p, "10.0.0.2", "forwarded", &[b"for=203.0.113.9"]),
            "10.0.0.2"
        );
    }

    #[test]
    fn forwarded_elements_quotes_and_ports() {
        let p = proxies().with_header(ForwardedHeader::Forwarded);
        let fwd = "forwarded";
        assert_eq!(
            client(
                &p,
                "10.0.0.2",
                fwd,
                &[b"for=192.0.2.60;proto=http;by=203.0.113.43"]
            ),
            "192.0.2.60"
        );
        assert_eq!(
            client(&p, "10.0.0.2", fwd, &[b"For=\"[2001:db8:cafe::17]:4711\""]),
            "2001:db8:cafe::17"
        );
        assert_eq!(
            client(
                &p,
                "10.0.0.2",
                fwd,
                &[b"for=198.51.100.1, for=\"203.0.113.9:80\";proto=https, for=10.0.0.7"]
            ),
            "203.0.113.9"
        );
        // A quoted comma or semicolon does not split, and escapes are undone.
        assert_eq!(
            client(
                &p,
                "10.0.0.2",
                fwd,
                &[b"by=\"a,b;c\";for=\"203.0.\\113.9\""]
            ),
            "203.0.113.9"
        );
        assert_eq!(
            client(&p, "203.0.113.9", fwd, &[b"for=198.51.100.1"]),
            "203.0.113.9",
            "untrusted peer"
        );
        for junk in [
            &b"for=unknown"[..],
            b"for=_hidden",
            b"for=\"[2001:db8::1]",
            b"for=\"192.0.2.60\"x",
            b"proto=https",
            b"for",
            b"=;=,=",
            b"\"",
            b"for=\"\\",
        ] {
            assert_eq!(client(&p, "10.0.0.2", fwd, &[junk]), "10.0.0.2", "{junk:?}");
        }
    }

    #[test]
    fn proxy_lists_parse_addresses_and_networks() {
        let p = TrustedProxies::new([" 127.0.0.1 ", "10.1.2.3/8", "::1", "fd00::/8"]).unwrap();
        for ip in [
            "127.0.0.1",
            "10.200.0.1",
            "::1",
            "fd12::1",
            "::ffff:10.0.0.1",
        ] {
            assert!(p.is_trusted(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["127.0.0.2", "11.0.0.1", "::2", "fe80::1"] {
            assert!(!p.is_trusted(ip.parse().unwrap()), "{ip}");
        }
        for bad in ["", "localhost", "10.0.0.0/33", "1.2.3"] {
            let err = TrustedProxies::new([bad]).unwrap_err();
            assert!(err.to_string().contains("neither an address"), "{bad}");
        }
    }
}
