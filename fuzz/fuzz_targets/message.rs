//! Fuzz the message parser, the parse -> write -> parse round trip and the engine's answer.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| portcullis_engine::fuzz::message(data));
