#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| ws_proto_fuzz::harness::subprotocols(data));
