//! Security events: what happened to a session, for logs, alerts and metrics.
//!
//! Every event goes out through `tracing` (target `sessionvault::security`) with the session's
//! store key shortened to a prefix; the raw ID never appears. Applications that want to act on
//! events (alert, lock an account) add an [`EventSink`].

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::FingerprintPolicy;
use crate::id::StoreKey;

/// Why a session ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    /// The user signed out.
    Logout,
    /// The user, another device of theirs or an administrator ended it.
    Revoked,
    /// Its ID was replaced (sign-in, privilege change).
    Cycled,
    /// Its ID was replaced by periodic renewal; the old ID works for a short grace period.
    Renewed,
    /// The idle timeout passed.
    IdleExpired,
    /// The absolute lifetime passed.
    AbsoluteExpired,
}

impl fmt::Display for EndReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Logout => "logout",
            Self::Revoked => "revoked",
            Self::Cycled => "cycled",
            Self::Renewed => "renewed",
            Self::IdleExpired => "idle_expired",
            Self::AbsoluteExpired => "absolute_expired",
        })
    }
}

/// Something that happened to a session that security monitoring cares about.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SecurityEvent {
    /// A cookie carried an ID this server never issued, or one it no longer knows. The request
    /// got a fresh anonymous session (strict mode).
    UnknownId,
    /// A cookie failed its signature or decryption, or was not well-formed.
    TamperedCookie,
    /// More than one session cookie came in one request (cookie tossing); none was used.
    DuplicateCookie,
    /// A session was presented after it expired.
    Expired {
        /// Its store key.
        key: Option<StoreKey>,
        /// Idle or absolute.
        reason: EndReason,
    },
    /// An ID whose session had already ended (logged out, revoked, cycled away, or expired and
    /// cleared from the browser) was presented again: possibly a stolen cookie replayed.
    RevokedReuse {
        /// Its store key.
        key: StoreKey,
        /// How it had ended.
        reason: EndReason,
        /// The user it belonged to, so that a hook can act on the account.
        user: Option<String>,
    },
    /// A request's user agent family or network differs from the session's: possibly a stolen
    /// cookie used elsewhere.
    FingerprintChanged {
        /// The session's store key.
        key: StoreKey,
        /// Its user, if signed in.
        user: Option<String>,
        /// The browser or operating system family changed.
        user_agent: bool,
        /// The network prefix changed.
        network: bool,
        /// What was done about it.
        action: FingerprintPolicy,
    },
    /// One client presented more unknown or forged session cookies than the guessing limit
    /// allows: someone guessing session IDs. Reported once per window.
    IdGuessing {
        /// The client: its IPv4 address, or its IPv6 /64.
        client: IpAddr,
        /// Failures in the window so far.
        failures: u32,
        /// True when the client's cookies are refused (429) until the window ends.
        refused: bool,
    },
    /// A new session was created.
    Created {
        /// Its store key (server mode).
        key: Option<StoreKey>,
    },
    /// A session's ID was replaced.
    IdCycled {
        /// The old key.
        from: StoreKey,
        /// The new key.
        to: StoreKey,
    },
    /// A user signed in.
    Login {
        /// The new session's key (server mode).
        key: Option<StoreKey>,
        /// The user.
        user: String,
    },
    /// A session was ended on purpose.
    Ended {
        /// Its key (server mode).
        key: Option<StoreKey>,
        /// Logout or revoked.
        reason: EndReason,
    },
    /// A write was refused for making the session too large: its encoded data past
    /// [`SessionConfig::with_max_data_size`](crate::SessionConfig::with_max_data_size) (server
    /// mode), or its `Set-Cookie` header past the 4096 bytes browsers keep (cookie modes).
    SizeLimit {
        /// The size the write would have made, in bytes.
        len: usize,
        /// The limit in force, in bytes.
        limit: usize,
    },
    /// The store failed; the request was answered with 503.
    StoreError,
    /// A state-changing request failed the CSRF check and was refused (403).
    CsrfRejected {
        /// What was wrong: `missing_token`, `bad_token`, `cross_site` or `origin_mismatch`.
        reason: &'static str,
    },
}

impl SecurityEvent {
    /// Every [`name`](Self::name), for metrics that list all kinds, including those at zero.
    pub const NAMES: [&'static str; 14] = [
        "unknown_id",
        "tampered_cookie",
        "duplicate_cookie",
        "expired",
        "revoked_reuse",
        "fingerprint_changed",
        "id_guessing",
        "created",
        "id_cycled",
        "login",
        "ended",
        "size_limit",
        "store_error",
        "csrf_rejected",
    ];

    /// A short stable name, for metrics labels.
    pub fn name(&self) -> &'static str {
        match self {
            Self::UnknownId => "unknown_id",
            Self::TamperedCookie => "tampered_cookie",
            Self::DuplicateCookie => "duplicate_cookie",
            Self::Expired { .. } => "expired",
            Self::RevokedReuse { .. } => "revoked_reuse",
            Self::FingerprintChanged { .. } => "fingerprint_changed",
            Self::IdGuessing { .. } => "id_guessing",
            Self::Created { .. } => "created",
            Self::IdCycled { .. } => "id_cycled",
            Self::Login { .. } => "login",
            Self::Ended { .. } => "ended",
            Self::SizeLimit { .. } => "size_limit",
            Self::StoreError => "store_error",
            Self::CsrfRejected { .. } => "csrf_rejected",
        }
    }

    /// The session this event is about, when there is one.
    pub fn key(&self) -> Option<StoreKey> {
        match self {
            Self::Expired { key, .. } | Self::Created { key } | Self::Ended { key, .. } => *key,
            Self::RevokedReuse { key, .. } | Self::FingerprintChanged { key, .. } => Some(*key),
            Self::IdCycled { to, .. } => Some(*to),
            Self::Login { key, .. } => *key,
            _ => None,
        }
    }

    /// True for the events that suggest an attack rather than ordinary use: forged, tossed or
    /// replayed cookies, a session used from elsewhere, ID guessing, CSRF. What to page on.
    pub fn is_anomaly(&self) -> bool {
        matches!(
            self,
            Self::TamperedCookie
                | Self::DuplicateCookie
                | Self::RevokedReuse { .. }
                | Self::FingerprintChanged { .. }
                | Self::IdGuessing { .. }
                | Self::CsrfRejected { .. }
        )
    }

    /// The user the event concerns, when the engine knows it.
    pub fn user(&self) -> Option<&str> {
        match self {
            Self::Login { user, .. } => Some(user),
            Self::RevokedReuse { user, .. } | Self::FingerprintChanged { user, .. } => {
                user.as_deref()
            }
            _ => None,
        }
    }
}

/// The application's hook into security monitoring: receives every security event, after it
/// has been logged. Implement it to alert on [`SecurityEvent::is_anomaly`] events, lock an
/// account on a replayed cookie ([`SecurityEvent::user`]), rate-limit a client reported by
/// [`SecurityEvent::IdGuessing`], or count events for metrics.
pub trait EventSink: Send + Sync + 'static {
    /// Called once per event, on the request's task: must not block for long (hand slow work
    /// such as sending mail to a channel).
    fn on_event(&self, event: &SecurityEvent);
}

/// Counts events by kind: a ready-made [`EventSink`] for metrics. Clones share the counts.
#[derive(Clone, Default)]
pub struct EventCounts(Arc<[AtomicU64; SecurityEvent::NAMES.len()]>);

impl fmt::Debug for EventCounts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.snapshot()).finish()
    }
}

impl EventCounts {
    /// Events of the kind `name` (a [`SecurityEvent::name`]) so far; 0 for an unknown name.
    pub fn count(&self, name: &str) -> u64 {
        SecurityEvent::NAMES
            .iter()
            .position(|n| *n == name)
            .map_or(0, |i| self.0[i].load(Ordering::Relaxed))
    }

    /// Every kind with its count, in [`SecurityEvent::NAMES`] order.
    pub fn snapshot(&self) -> Vec<(&'static str, u64)> {
        SecurityEvent::NAMES
            .iter()
            .zip(self.0.iter())
            .map(|(name, n)| (*name, n.load(Ordering::Relaxed)))
            .collect()
    }

    /// The counts in the Prometheus text format, as the counter
    /// `sessionvault_security_events_total{event="..."}`.
    pub fn to_prometheus(&self) -> String {
        let mut out = String::from(
            "# HELP sessionvault_security_events_total Security events by kind.\n\
             # TYPE sessionvault_security_events_total counter\n",
        );
        for (name, n) in self.snapshot() {
            out.push_str(&format!(
                "sessionvault_security_events_total{{event=\"{name}\"}} {n}\n"
            ));
        }
        out
    }
}

impl EventSink for EventCounts {
    fn on_event(&self, event: &SecurityEvent) {
        if let Some(i) = SecurityEvent::NAMES.iter().position(|n| *n == event.name()) {
            self.0[i].fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Logs an event through `tracing` and hands it to every sink.
pub(crate) fn emit(sinks: &[Arc<dyn EventSink>], event: SecurityEvent) {
    let key = event.key().map(|k| k.short()).unwrap_or_default();
    match &event {
        SecurityEvent::UnknownId
        | SecurityEvent::TamperedCookie
        | SecurityEvent::DuplicateCookie
        | SecurityEvent::RevokedReuse { .. }
        | SecurityEvent::FingerprintChanged { .. }
        | SecurityEvent::IdGuessing { .. }
        | SecurityEvent::SizeLimit { .. }
        | SecurityEvent::CsrfRejected { .. } => {
            tracing::warn!(target: "sessionvault::security", event = event.name(), session = %key, "{}", describe(&event));
        }
        SecurityEvent::StoreError => {
            tracing::error!(target: "sessionvault::security", event = event.name(), "{}", describe(&event));
        }
        _ => {
            tracing::info!(target: "sessionvault::security", event = event.name(), session = %key, "{}", describe(&event));
        }
    }
    for sink in sinks {
        sink.on_event(&event);
    }
}

fn describe(event: &SecurityEvent) -> String {
    match event {
        SecurityEvent::UnknownId => "unknown session ID presented; fresh session issued".into(),
        SecurityEvent::TamperedCookie => "session cookie failed verification".into(),
        SecurityEvent::DuplicateCookie => "several session cookies in one request".into(),
        SecurityEvent::Expired { reason, .. } => {
            format!("session presented after it expired ({reason})")
        }
        SecurityEvent::RevokedReuse { reason, .. } => {
            format!("ended session presented again ({reason}): possible theft")
        }
        SecurityEvent::FingerprintChanged {
            user_agent,
            network,
            action,
            ..
        } => {
            let what = match (user_agent, network) {
                (true, true) => "browser and network",
                (true, false) => "browser",
                _ => "network",
            };
            format!(
                "session used from another {what}: possible theft; policy {}",
                action.name()
            )
        }
        SecurityEvent::IdGuessing {
            client,
            failures,
            refused,
        } => format!(
            "{failures} unknown or forged session cookies from {client}: ID guessing{}",
            if *refused {
                "; its cookies are refused for now"
            } else {
                ""
            }
        ),
        SecurityEvent::Created { .. } => "session created".into(),
        SecurityEvent::IdCycled { from, .. } => {
            format!("session ID cycled (from {})", from.short())
        }
        // The user ID is the application's identifier, not a credential.
        SecurityEvent::Login { user, .. } => format!("login as {user}"),
        SecurityEvent::Ended { reason, .. } => format!("session ended ({reason})"),
        SecurityEvent::SizeLimit { len, limit } => {
            format!("session would be {len} bytes, over its limit of {limit}; not saved")
        }
        SecurityEvent::StoreError => "session store failed".into(),
        SecurityEvent::CsrfRejected { reason } => {
            format!("request refused by CSRF check ({reason})")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_event_has_a_listed_name_and_is_counted() {
        let counts = EventCounts::default();
        let events = [
            SecurityEvent::UnknownId,
            SecurityEvent::UnknownId,
            SecurityEvent::StoreError,
            SecurityEvent::CsrfRejected {
                reason: "bad_token",
            },
            SecurityEvent::IdGuessing {
                client: IpAddr::from([192, 0, 2, 1]),
                failures: 21,
                refused: false,
            },
        ];
        for event in &events {
            assert!(SecurityEvent::NAMES.contains(&event.name()));
            counts.on_event(event);
        }
        assert_eq!(counts.count("unknown_id"), 2);
        assert_eq!(counts.count("id_guessing"), 1);
        assert_eq!(counts.count("login"), 0);
        assert_eq!(counts.count("no_such_event"), 0);
        let text = counts.to_prometheus();
        assert!(text.contains("sessionvault_security_events_total{event=\"unknown_id\"} 2\n"));
        assert!(text.contains("sessionvault_security_events_total{event=\"login\"} 0\n"));
        let clone = counts.clone();
        clone.on_event(&SecurityEvent::StoreError);
        assert_eq!(counts.count("store_error"), 2, "clones share counts");
    }
}
