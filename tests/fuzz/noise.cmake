# Noise harnesses: a responder connection fed arbitrary client bytes, and the certificate decoder.
parley_fuzzer(fuzz_noise_conn ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/fuzz_noise_conn.c AREAS noise crypto util)
parley_fuzzer(fuzz_noise_cert ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/fuzz_noise_cert.c AREAS noise crypto util)
