//! Fuzz the zone-file parser and the zone checks.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| portcullis_engine::fuzz::zone_file(data));
