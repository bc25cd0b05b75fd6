//! A session's fingerprint (user agent family, network prefix) changing under it, and the
//! policy that says what to do about it.
//!
//! Not proof of an attack (a laptop changes networks, a browser updates), so it is a policy:
//! report only, or act. What it finds goes out as a [`SecurityEvent`], which reaches the logs,
//! the application's [`EventSink`](crate::EventSink) (its hook to alert or lock an account)
//! and from there its metrics.
//!
//! [`SecurityEvent`]: crate::SecurityEvent

/// What to do when a request's fingerprint (user agent family, network prefix) differs from the
/// one the session was signed in or created with. Server mode.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FingerprintPolicy {
    /// Do not compare.
    Ignore,
    /// Report a `fingerprint_changed` event on every such request; nothing else changes (the
    /// default: networks and browsers change for honest reasons).
    #[default]
    Log,
    /// Report, then sign the session out: it keeps its data under a new ID, but its user and
    /// sign-in time are gone (and the CSRF secret), so the application asks for the password
    /// again. The cookie that was presented is dead for whoever holds it, and presenting it
    /// again raises `revoked_reuse`. An anonymous session has nothing to lose and is kept.
    Reauthenticate,
    /// Report, then end the session: the request continues with a fresh, empty one.
    Destroy,
}

impl FingerprintPolicy {
    /// `ignore`, `log`, `reauthenticate` or `destroy`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Ignore => "ignore",
            Self::Log => "log",
            Self::Reauthenticate => "reauthenticate",
            Self::Destroy => "destroy",
        }
    }
}

/// Which parts of a fingerprint changed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct FingerprintChange {
    /// The browser or operating system family.
    pub(crate) user_agent: bool,
    /// The network prefix (/24 of IPv4, /48 of IPv6).
    pub(crate) network: bool,
}

impl FingerprintChange {
    /// Compares the user agent the session recorded with the request's (an unknown one on
    /// either side is not a change), given whether the network changed.
    pub(crate) fn between(
        recorded_agent: Option<&str>,
        agent: Option<&str>,
        network: bool,
    ) -> Option<Self> {
        let user_agent = matches!((recorded_agent, agent), (Some(a), Some(b))
            if a != b && user_agent_family(a) != user_agent_family(b));
        (user_agent || network).then_some(Self {
            user_agent,
            network,
        })
    }
}

/// The browser and operating system families a `User-Agent` names, such as
/// `("Firefox", "Linux")`: what stays the same across a browser's updates, so a version bump is
/// not a change but a different browser is.
pub fn user_agent_family(user_agent: &str) -> (&'static str, &'static str) {
    // Order matters: Edge and Opera also say "Chrome", Chrome also says "Safari".
    const BROWSERS: [(&str, &str); 9] = [
        ("Edg/", "Edge"),
        ("OPR/", "Opera"),
        ("Firefox/", "Firefox"),
        ("FxiOS/", "Firefox"),
        ("CriOS/", "Chrome"),
        ("Chrome/", "Chrome"),
        ("Safari/", "Safari"),
        ("curl/", "curl"),
        ("python-requests/", "python-requests"),
    ];
    const SYSTEMS: [(&str, &str); 7] = [
        ("Android", "Android"),
        ("iPhone", "iOS"),
        ("iPad", "iOS"),
        ("Windows", "Windows"),
        ("Mac OS X", "macOS"),
        ("CrOS", "ChromeOS"),
        ("Linux", "Linux"),
    ];
    let find = |table: &[(&str, &'static str)]| {
        table
            .iter()
            .find(|(marker, _)| user_agent.contains(marker))
            .map_or("other", |(_, family)| *family)
    };
    (find(&BROWSERS), find(&SYSTEMS))
}
#[cfg(test)]
mod tests {
    use super::*;

    const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";
    const FIREFOX_NEWER: &str =
        "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0";
    const CHROME: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
    const EDGE: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0";
    const SAFARI_IOS: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1";

    #[test]
    fn families_ignore_versions_but_not_browsers() {
        assert_eq!(user_agent_family(FIREFOX), ("Firefox", "Linux"));
        assert_eq!(user_agent_family(FIREFOX), user_agent_family(FIREFOX_NEWER));
        assert_eq!(user_agent_family(CHROME), ("Chrome", "Linux"));
        assert_eq!(user_agent_family(EDGE), ("Edge", "Windows"));
        assert_eq!(user_agent_family(SAFARI_IOS), ("Safari", "iOS"));
        assert_eq!(user_agent_family("curl/8.5.0"), ("curl", "other"));
        assert_eq!(user_agent_family(""), ("other", "other"));
    }

    #[test]
    fn a_change_needs_both_sides_known() {
        assert_eq!(
            FingerprintChange::between(Some(FIREFOX), Some(FIREFOX_NEWER), false),
            None
        );
        assert_eq!(
            FingerprintChange::between(Some(FIREFOX), Some(CHROME), true),
            Some(FingerprintChange {
                user_agent: true,
                network: true
            })
        );
        assert_eq!(FingerprintChange::between(None, Some(CHROME), false), None);
        assert_eq!(FingerprintChange::between(Some(CHROME), None, false), None);
    }
}
