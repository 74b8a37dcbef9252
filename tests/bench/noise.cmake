# Noise handshakes and transport against X25519 and raw AES-256-GCM floors.
parley_bench(bench_noise SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/bench/bench_noise.c
             AREAS noise crypto util)
