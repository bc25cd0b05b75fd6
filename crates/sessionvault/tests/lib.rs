//! Integration tests of the core crate: Flask interop (committed vectors and live Flask), and
//! property tests of the codecs.

// A test that unwraps fails loudly at the line that broke, which is what a test should do.
#![allow(clippy::unwrap_used)]

mod anomaly;
mod client_revocation;
mod flask_interop;
mod flask_vectors;
mod limits;
mod memory_store;
mod proptests;
mod rotation;
mod session;
mod support;
