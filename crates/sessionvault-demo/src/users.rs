//! The demo's accounts: argon2 password hashes, and a limit on failed sign-ins.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use argon2::{Argon2, Params};
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
    argon2: Argon2<'static>,
    /// Argon2 computations (hashes and verifications), for `/metrics`.
    argon2_runs: AtomicU64,
}

/// Why a sign-in failed. The page says the same for both, so it tells nothing about accounts.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum SignInError {
    Invalid,
    TooManyAttempts,
}

impl Users {
    pub(crate) fn seeded() -> Self {
        Self::seeded_with(Params::default())
    }

    /// The seeded accounts, hashed with `params` (tests use cheap ones).
    pub(crate) fn seeded_with(params: Params) -> Self {
        let users = Self {
            hashes: Mutex::new(HashMap::new()),
            failures: Mutex::new(HashMap::new()),
            argon2: Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params),
            argon2_runs: AtomicU64::new(0),
        };
        for (user, password) in DEMO_ACCOUNTS {
            users.set_password(user, password);
        }
        users
    }

    /// Argon2 computations so far: each costs the same time and memory.
    pub(crate) fn argon2_runs(&self) -> u64 {
        self.argon2_runs.load(Ordering::Relaxed)
    }

    /// The sign-in counters in the Prometheus text exposition. One total for both paths: a
    /// count per path would tell anyone reading `/metrics` whether a name exists.
    pub(crate) fn metrics(&self) -> String {
        format!(
            "# HELP sessionvault_demo_password_hashes_total Argon2 computations (password hashes and verifications).\n\
             # TYPE sessionvault_demo_password_hashes_total counter\n\
             sessionvault_demo_password_hashes_total {}\n",
            self.argon2_runs()
        )
    }

    fn hash(&self, password: &str) -> String {
        self.argon2_runs.fetch_add(1, Ordering::Relaxed);
        let salt = SaltString::generate(&mut OsRng);
        self.argon2
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            // Hashing with valid parameters only fails on absurd inputs (e.g. 4 GiB passwords);
            // an unverifiable hash then refuses every sign-in, which is the safe outcome.
            .unwrap_or_default()
    }

    fn verify(&self, stored: &str, password: &str) -> bool {
        self.argon2_runs.fetch_add(1, Ordering::Relaxed);
        PasswordHash::new(stored).is_ok_and(|h| {
            self.argon2
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
    }

    /// Whether `password` is `user`'s, with no limit.
    pub(crate) fn check_password(&self, user: &str, password: &str) -> bool {
        let stored = self
            .hashes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(user)
            .cloned();
        // Unknown users cost a hash too, so timing does not reveal which names exist.
        match stored {
            Some(stored) => self.verify(&stored, password),
            None => {
                self.verify(&self.hash("not a real password"), password);
                false
            }
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
        if self.check_password(user, password) {
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
        let new = self.hash(password);
        self.hashes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(user.to_owned(), new);
    }
}
