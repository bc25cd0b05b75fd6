//! The axum layer over HTTP: through `tower::ServiceExt::oneshot`, and the counter example as a
//! real server.

// A test that unwraps fails loudly at the line that broke, which is what a test should do.
#![allow(clippy::unwrap_used)]

mod asvs;
mod counter;
mod csrf;
mod failover;
mod faults;
mod guessing;
mod layer;
mod support;
