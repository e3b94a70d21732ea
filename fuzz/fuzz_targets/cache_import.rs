//! Fuzz the cache handover importer (any bytes, and any bytes as well-framed entries).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| portcullis_engine::fuzz::cache_import(data));
