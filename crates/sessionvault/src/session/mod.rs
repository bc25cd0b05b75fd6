//! Sessions: the per-request [`Session`] handle and the [`SessionManager`] behind it.

mod anomaly;
mod client;
mod config;
mod cookie;
mod handle;
mod manager;
mod revocation;
mod size;
mod turns;

pub use anomaly::{FingerprintPolicy, GuessingLimit, user_agent_family};
pub use config::SessionConfig;
pub use cookie::{
    CookieConfig, CookieValue, IncomingCookie, MAX_SET_COOKIE_LEN, SameSite, find_cookie,
};
pub use handle::{CSRF_SECRET_KEY, Deadlines, Session};
pub use manager::{CookieMode, RequestMeta, SessionInfo, SessionManager, SessionManagerBuilder};
