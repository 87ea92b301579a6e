//! C2D and module-input topics; what parses rebuilds to itself.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    hubwire::hub::fuzzing::c2d_topic(data);
});
