//! Vectors produced by the official Node provisioning SDK (see tests/sdk-peer/gen-dps-vectors.mjs).
