//! Sessions: the per-request [`Session`] handle and the [`SessionManager`] behind it.
//!
//! Layers, each importing only those below it:
//! - the API: [`manager`] (the builder and the administrator's actions), [`handle`] (the
//!   per-request handle and its commit), [`values`] and [`sign_in`] (its methods);
//! - [`mode`], the one place that tells the modes apart, over server mode
//!   ([`server_commit`], [`server_cycle`], [`server_save`], [`server_load`]) and the cookie
//!   modes ([`cookie_held`], with [`cookie_meta`], the metadata in each cookie format);
//! - what the modes share: [`state`] (one request's state), [`devices`], [`denylist`],
//!   [`size`], [`turns`], [`engine`];
//! - settings and facts: [`config`], [`cookie`], [`meta`], [`fingerprint`], [`guessing`].
//!
//! [`Session`]: crate::Session
//! [`SessionManager`]: crate::SessionManager

pub(crate) mod config;
pub(crate) mod cookie;
pub(crate) mod cookie_held;
pub(crate) mod cookie_meta;
pub(crate) mod denylist;
pub(crate) mod devices;
pub(crate) mod engine;
pub(crate) mod fingerprint;
pub(crate) mod guessing;
pub(crate) mod handle;
pub(crate) mod manager;
pub(crate) mod meta;
pub(crate) mod mode;
pub(crate) mod server_commit;
pub(crate) mod server_cycle;
pub(crate) mod server_load;
pub(crate) mod server_save;
pub(crate) mod sign_in;
pub(crate) mod size;
pub(crate) mod state;
pub(crate) mod turns;
pub(crate) mod values;
