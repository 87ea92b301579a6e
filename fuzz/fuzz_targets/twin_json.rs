//! The twin JSON scanner; desired $version agrees with the desired section.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    hubwire::hub::fuzzing::twin_json(data);
});
