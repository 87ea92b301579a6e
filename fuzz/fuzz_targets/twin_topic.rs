//! Twin response, desired and request topics; what parses rebuilds to itself.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    hubwire::hub::fuzzing::twin_topic(data);
});
