//! Fuzz the journal's entry reader and difference decoder (torn tails, damage, any bytes).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| portcullis_engine::fuzz::journal(data));
