//! Fuzz the response policy zone trigger parser and action decoder, and the blocklist parsers.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| portcullis_engine::policy::rpz::fuzz::policy(data));
