//! Clients guessing session IDs: failed session cookies counted per client, reported past a
//! limit, and refused while over it when the limit says so.
//!
//! Not proof of an attack (a client with a stale cookie fails too), so it is a policy: report
//! only, or refuse. What it finds goes out as a [`SecurityEvent`], which reaches the logs, the
//! application's [`EventSink`](crate::EventSink) and from there its metrics.
//!
//! [`SecurityEvent`]: crate::SecurityEvent

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};

use jiff::{SignedDuration, Timestamp};

/// When to call a client an ID guesser: more than `max_failures` unknown or forged session
/// cookies within `window`. Counted per IPv4 address or IPv6 /64, the unit one client
/// controls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GuessingLimit {
    pub(crate) max_failures: u32,
    pub(crate) window: SignedDuration,
    pub(crate) refuse: bool,
}

impl Default for GuessingLimit {
    /// 20 failures a minute, reported but not refused.
    fn default() -> Self {
        Self {
            max_failures: 20,
            window: SignedDuration::from_mins(1),
            refuse: false,
        }
    }
}

impl GuessingLimit {
    /// More than `max_failures` within `window`.
    pub fn new(max_failures: u32, window: SignedDuration) -> Self {
        Self {
            max_failures,
            window,
            refuse: false,
        }
    }

    /// Besides reporting, refuse the client's failed cookies until its window ends: every
    /// request from it whose cookie names no session, or fails its check, fails with
    /// [`Error::Throttled`](crate::Error) (429) instead of starting a fresh session. A cookie
    /// that names a live session still passes, so an address shared by many clients (a proxy,
    /// a NAT) is not locked out by one guesser among them (a guess that hits would pass too,
    /// but a hit means guessing a 256-bit ID or forging a MAC). Behind a reverse proxy, every client has the proxy's address
    /// unless the HTTP layer takes the client's from the proxy's headers (in axum,
    /// `SessionLayer::with_trusted_proxies`).
    pub fn refusing(mut self) -> Self {
        self.refuse = true;
        self
    }
}

/// Clients tracked at once. A flood of addresses (IPv6 makes them cheap) cannot grow the table
/// past this; clients whose window has ended make room first.
const MAX_CLIENTS: usize = 65_536;

/// A full table is swept for ended windows at most this often, so that a flood of new clients
/// cannot make every failure pay for a scan of the whole table.
const SWEEP_EVERY: SignedDuration = SignedDuration::from_secs(1);

/// One client's failures in its current window.
#[derive(Clone, Copy, Debug)]
struct Window {
    start: Timestamp,
    failures: u32,
}

impl Window {
    /// When a window of length `length` that began at `start` ends; saturating, so that no
    /// configured length can make the arithmetic panic.
    fn end(&self, length: SignedDuration) -> Timestamp {
        self.start.saturating_add(length).unwrap_or(Timestamp::MAX)
    }
}

/// The tracked clients, and when a full table was last swept.
#[derive(Debug, Default)]
struct Clients {
    windows: HashMap<IpAddr, Window>,
    last_sweep: Option<Timestamp>,
}

/// Counts failed session cookies per client.
#[derive(Debug)]
pub(crate) struct GuessingDetector {
    limit: Option<GuessingLimit>,
    clients: Mutex<Clients>,
    /// The latest end of any refusing window, in seconds: requests after it skip the lock, so
    /// the check costs one atomic load while no client is refused.
    refused_until: AtomicI64,
}

/// A client crossed the limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Guessing {
    pub(crate) client: IpAddr,
    pub(crate) failures: u32,
    pub(crate) refused: bool,
}

impl GuessingDetector {
    pub(crate) fn new(limit: Option<GuessingLimit>) -> Self {
        Self {
            limit,
            clients: Mutex::new(Clients::default()),
            refused_until: AtomicI64::new(i64::MIN),
        }
    }

    fn clients(&self) -> std::sync::MutexGuard<'_, Clients> {
        self.clients.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Counts one failed cookie from `ip`; says so when this one crossed the limit (once per
    /// window).
    pub(crate) fn record_failure(&self, ip: Option<IpAddr>, now: Timestamp) -> Option<Guessing> {
        let (limit, client) = (self.limit?, client_of(ip?));
        let mut guard = self.clients();
        let Clients {
            windows,
            last_sweep,
        } = &mut *guard;
        if windows.len() >= MAX_CLIENTS && !windows.contains_key(&client) {
            if last_sweep
                .is_none_or(|at| now >= at.saturating_add(SWEEP_EVERY).unwrap_or(Timestamp::MAX))
            {
                windows.retain(|_, w| now < w.end(limit.window));
                *last_sweep = Some(now);
            }
            if windows.len() >= MAX_CLIENTS {
                // Full of clients inside their windows: this one goes uncounted for now.
                return None;
            }
        }
        let window = windows.entry(client).or_insert(Window {
            start: now,
            failures: 0,
        });
        if now >= window.end(limit.window) {
            *window = Window {
                start: now,
                failures: 0,
            };
        }
        window.failures = window.failures.saturating_add(1);
        if window.failures != limit.max_failures.saturating_add(1) {
            return None;
        }
        if limit.refuse {
            let until = window.end(limit.window).as_second();
            self.refused_until.fetch_max(until, Ordering::AcqRel);
        }
        Some(Guessing {
            client,
            failures: window.failures,
            refused: limit.refuse,
        })
    }

    /// True while `ip` is over the limit and the limit refuses.
    /// `now` is only read while some client is refused: the common case costs one atomic load.
    pub(crate) fn is_refused(&self, ip: Option<IpAddr>, now: impl FnOnce() -> Timestamp) -> bool {
        let (Some(limit), Some(ip)) = (self.limit, ip) else {
            return false;
        };
        let until = self.refused_until.load(Ordering::Acquire);
        if !limit.refuse || until == i64::MIN {
            return false;
        }
        let now = now();
        if now.as_second() > until {
            return false;
        }
        self.clients()
            .windows
            .get(&client_of(ip))
            .is_some_and(|w| w.failures > limit.max_failures && now < w.end(limit.window))
    }
}

/// The unit one client controls: its IPv4 address, or the /64 of its IPv6 address.
fn client_of(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => {
            let s = v6.segments();
            IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guessing_is_reported_once_per_window_and_refused_only_inside_it() {
        let t0: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        let detector = GuessingDetector::new(Some(
            GuessingLimit::new(3, SignedDuration::from_secs(60)).refusing(),
        ));
        let ip: Option<IpAddr> = Some("192.0.2.7".parse().unwrap());
        let other: Option<IpAddr> = Some("192.0.2.8".parse().unwrap());
        for _ in 0..3 {
            assert_eq!(detector.record_failure(ip, t0), None);
        }
        assert!(!detector.is_refused(ip, || t0));
        let crossed = detector
            .record_failure(ip, t0)
            .expect("fourth failure crosses");
        assert_eq!((crossed.failures, crossed.refused), (4, true));
        assert_eq!(detector.record_failure(ip, t0), None, "reported once");
        assert!(detector.is_refused(ip, || t0 + SignedDuration::from_secs(59)));
        assert!(
            !detector.is_refused(other, || t0),
            "other clients are not refused"
        );
        assert!(!detector.is_refused(ip, || t0 + SignedDuration::from_secs(60)));
        assert_eq!(
            detector.record_failure(ip, t0 + SignedDuration::from_secs(61)),
            None,
            "a new window starts from zero"
        );
    }

    #[test]
    fn a_flood_of_clients_is_bounded_and_cannot_force_a_sweep_per_failure() {
        let t0 = Timestamp::UNIX_EPOCH;
        let detector =
            GuessingDetector::new(Some(GuessingLimit::new(1, SignedDuration::from_mins(1))));
        let flood = |i: u32, at| {
            let ip = IpAddr::V6(std::net::Ipv6Addr::new(
                0x2001,
                0xdb8,
                (i >> 16) as u16,
                i as u16,
                0,
                0,
                0,
                1,
            ));
            detector.record_failure(Some(ip), at);
        };
        for i in 0..MAX_CLIENTS as u32 + 10 {
            flood(i, t0);
        }
        assert_eq!(detector.clients().windows.len(), MAX_CLIENTS);
        // Within the sweep interval, newcomers are not counted and nothing is scanned again.
        let swept = detector.clients().last_sweep;
        flood(u32::MAX, t0 + SignedDuration::from_millis(500));
        assert_eq!(detector.clients().last_sweep, swept);
        // Once the windows have ended, one sweep makes room.
        flood(u32::MAX - 1, t0 + SignedDuration::from_mins(2));
        assert_eq!(detector.clients().windows.len(), 1);
    }

    #[test]
    fn ipv6_clients_are_counted_per_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::2".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(client_of(a), client_of(b));
        assert_ne!(client_of(a), client_of(c));
    }

    #[test]
    fn without_a_limit_nothing_is_counted() {
        let detector = GuessingDetector::new(None);
        let now = Timestamp::UNIX_EPOCH;
        let ip = Some("192.0.2.7".parse().unwrap());
        for _ in 0..100 {
            assert_eq!(detector.record_failure(ip, now), None);
        }
        assert!(!detector.is_refused(ip, || now));
    }
}
