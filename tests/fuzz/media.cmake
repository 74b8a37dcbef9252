# Media blob decryption fuzzing; the committed corpus replays as a unit test.
parley_fuzzer(fuzz_media_decrypt fuzz/fuzz_media_decrypt.c AREAS media content crypto util)
