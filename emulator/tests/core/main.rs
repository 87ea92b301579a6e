//! The hub core driven by bytes and a fake clock, no sockets: one file per
//! feature, one test binary.

mod harness;

mod c2d;
mod connect;
mod dps;
mod dps_service;
mod faults;
mod methods;
mod registry;
mod robustness;
mod topics;
mod twin;
