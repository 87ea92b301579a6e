//! hubwire: Azure IoT Hub device client over MQTT 3.1.1 / WebSocket.
//!
//! On wasm32 the library is `no_std` (with `alloc`) unless the `std` feature is
//! on: the release wasm then carries no `std` panic machinery and no
//! `core::fmt` (docs/size.md). Wasm test builds, which link `std` anyway, turn
//! `std` on; native builds always use `std`.
#![cfg_attr(all(target_arch = "wasm32", not(any(test, feature = "std"))), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod dps;
pub mod hub;
pub mod mqtt;
mod prelude;
mod text;
#[cfg(target_arch = "wasm32")]
pub mod wasm;
