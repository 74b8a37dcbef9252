# Media: encryption/decryption against raw AES-256-CBC + HMAC-SHA256, and
# the proxy against a direct download (bench/RESULTS-media.md).
parley_bench(bench_media SOURCES ${CMAKE_CURRENT_LIST_DIR}/bench_media.c
  AREAS media content crypto util LIBS parley_mediahost)
