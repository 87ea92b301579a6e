//! The hub core driven by bytes and a fake clock, no sockets: one file per
//! feature, one test binary.

mod harness;

mod c2d;
mod connect;
mod faults;
mod limits;
mod methods;
mod quota;
mod registry;
mod robustness;
mod topics;
mod twin;
