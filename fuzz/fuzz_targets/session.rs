//! Bytes as a script of operations on a connected MQTT session.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = hubwire::mqtt::fuzzing::session(data);
});
