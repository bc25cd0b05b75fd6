//! The limit on failed sign-ins: per name at each client address, and per client address
//! whatever the names, so that spraying many names (or made-up ones) is limited too.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failures allowed within the window for one name from one client address.
const MAX_PER_USER: usize = 5;
/// Failures allowed within the window from one client address, whatever the names.
const MAX_PER_CLIENT: usize = 20;
const WINDOW: Duration = Duration::from_secs(15 * 60);
/// Past this many tracked keys, keys with no recent failure are forgotten, so sign-in attempts
/// with made-up names cannot grow the table without bound.
const MAX_TRACKED: usize = 10_000;

#[derive(Clone, PartialEq, Eq, Hash)]
enum Key {
    User { user: String, client: String },
    Client(String),
}

/// The recent failures per key.
#[derive(Default)]
pub(crate) struct FailureLimit {
    failures: Mutex<HashMap<Key, Vec<Instant>>>,
}

/// An attempt, counted as a failure unless [`FailureLimit::succeeded`] takes it back.
pub(crate) struct Attempt {
    keys: [Key; 2],
    at: Instant,
}

impl FailureLimit {
    /// Counts an attempt as a failure before its password is checked, in the same lock section
    /// as the limit's check, so that parallel guesses cannot all pass the check before any of
    /// them is counted. `None` when a limit is reached.
    pub(crate) fn reserve(&self, user: &str, client: &str, now: Instant) -> Option<Attempt> {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if failures.len() > MAX_TRACKED {
            failures.retain(|_, times| times.iter().any(|t| now.duration_since(*t) < WINDOW));
        }
        let keys = [
            Key::User {
                user: user.to_owned(),
                client: client.to_owned(),
            },
            Key::Client(client.to_owned()),
        ];
        for (key, max) in keys.iter().zip([MAX_PER_USER, MAX_PER_CLIENT]) {
            let recent = failures.entry(key.clone()).or_default();
            recent.retain(|t| now.duration_since(*t) < WINDOW);
            if recent.len() >= max {
                return None;
            }
        }
        for key in &keys {
            failures.entry(key.clone()).or_default().push(now);
        }
        Some(Attempt { keys, at: now })
    }

    /// Takes back the failure counted for an attempt whose password was right.
    pub(crate) fn succeeded(&self, attempt: Attempt) {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        for key in &attempt.keys {
            if let Some(times) = failures.get_mut(key)
                && let Some(i) = times.iter().position(|t| *t == attempt.at)
            {
                times.swap_remove(i);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_failures_per_name_and_client_twenty_per_client() {
        let limit = FailureLimit::default();
        let now = Instant::now();
        for _ in 0..MAX_PER_USER {
            assert!(limit.reserve("alice", "10.0.0.1", now).is_some());
        }
        assert!(limit.reserve("alice", "10.0.0.1", now).is_none());
        assert!(
            limit.reserve("alice", "10.0.0.2", now).is_some(),
            "another client"
        );
        for i in MAX_PER_USER..MAX_PER_CLIENT {
            assert!(
                limit
                    .reserve(&format!("user{i}"), "10.0.0.1", now)
                    .is_some()
            );
        }
        assert!(limit.reserve("bob", "10.0.0.1", now).is_none());
        let later = now + WINDOW;
        assert!(
            limit.reserve("alice", "10.0.0.1", later).is_some(),
            "the window ended"
        );
    }

    #[test]
    fn a_right_password_is_no_failure() {
        let limit = FailureLimit::default();
        let now = Instant::now();
        for _ in 0..10 {
            let attempt = limit.reserve("alice", "10.0.0.1", now).unwrap();
            limit.succeeded(attempt);
        }
        assert!(limit.reserve("alice", "10.0.0.1", now).is_some());
    }
}
