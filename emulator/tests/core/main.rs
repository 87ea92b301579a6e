//! The hub core driven by bytes and a fake clock, no sockets: one file per
//! feature, one test binary.

mod harness;

mod c2d;
mod connect;
mod dps;
mod dps_service;
mod faults;
mod limits;
mod methods;
mod policies;
mod quota;
mod registry;
mod robustness;
mod routes;
mod topics;
mod twin;
mod x509;
