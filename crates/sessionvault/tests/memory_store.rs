//! The memory store against the conformance suite.

use sessionvault::store::MemoryStore;

sessionvault_testkit::store_conformance!(async { MemoryStore::new() });
