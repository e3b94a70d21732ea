//! Fuzz the UPDATE (RFC 2136) parser, prerequisite check, apply and rebuild.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| portcullis_engine::fuzz::update(data));
