//! The `sessionvault` binary as a user runs it: output, messages and exit codes.

// A test that unwraps fails loudly at the line that broke, which is what a test should do.
#![allow(clippy::unwrap_used)]

mod audit;
mod codec;
mod crack;
mod escapes;
mod support;
