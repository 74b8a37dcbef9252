# Provider attestations: the decoder and verifier fed arbitrary bytes.
parley_fuzzer(fuzz_attest ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/fuzz_attest.c AREAS interop crypto util)
