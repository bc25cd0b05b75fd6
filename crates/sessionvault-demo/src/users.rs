//! The demo's accounts: argon2 password hashes, and a limit on failed sign-ins.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};

/// The seeded accounts and their passwords, printed at start.
pub(crate) const DEMO_ACCOUNTS: &[(&str, &str)] = &[
    ("alice", "correct horse battery staple"),
    ("bob", "hunter2 hunter2 hunter2"),
];

/// Failures allowed per user and per client within the window before sign-in is refused.
const MAX_FAILURES: usize = 5;
const WINDOW: Duration = Duration::from_secs(15 * 60);
/// Past this many tracked (user, client) pairs, pairs with no recent failure are forgotten, so
/// sign-in attempts with made-up names cannot grow the table without bound.
const MAX_TRACKED: usize = 10_000;

/// Accounts, in memory: the demo reseeds them at each start.
pub(crate) struct Users {
    hashes: Mutex<HashMap<String, String>>,
    failures: Mutex<HashMap<String, Vec<Instant>>>,
}

/// Why a sign-in failed. The page says the same for both, so it tells nothing about accounts.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum SignInError {
    Invalid,
    TooManyAttempts,
}

fn hash(password: &str) -> String {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        // Hashing with default parameters only fails on absurd inputs (e.g. 4 GiB passwords);
        // an unverifiable hash then refuses every sign-in, which is the safe outcome.
        .unwrap_or_default()
}

fn verify(stored: &str, password: &str) -> bool {
    PasswordHash::new(stored).is_ok_and(|h| {
        Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

impl Users {
    pub(crate) fn seeded() -> Self {
        let hashes = DEMO_ACCOUNTS
            .iter()
            .map(|(u, p)| ((*u).to_owned(), hash(p)))
            .collect();
        Self {
            hashes: Mutex::new(hashes),
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// Checks a password, counting failures per `throttle_key` (user and client).
    pub(crate) fn sign_in(
        &self,
        user: &str,
        password: &str,
        throttle_key: &str,
    ) -> Result<(), SignInError> {
        let now = Instant::now();
        {
            let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
            if failures.len() > MAX_TRACKED {
                failures.retain(|_, times| times.iter().any(|t| now.duration_since(*t) < WINDOW));
            }
            let recent = failures.entry(throttle_key.to_owned()).or_default();
            recent.retain(|t| now.duration_since(*t) < WINDOW);
            if recent.len() >= MAX_FAILURES {
                return Err(SignInError::TooManyAttempts);
            }
        }
        let stored = self
            .hashes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(user)
            .cloned();
        // Unknown users cost a hash too, so timing does not reveal which names exist.
        let ok = match stored {
            Some(stored) => verify(&stored, password),
            None => {
                verify(&hash("not a real password"), password);
                false
            }
        };
        if ok {
            return Ok(());
        }
        self.failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(throttle_key.to_owned())
            .or_default()
            .push(now);
        Err(SignInError::Invalid)
    }

    pub(crate) fn set_password(&self, user: &str, password: &str) {
        let new = hash(password);
        self.hashes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(user.to_owned(), new);
    }
}
