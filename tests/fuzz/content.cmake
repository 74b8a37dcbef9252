# Content decoding fuzzing; the committed corpus replays as a unit test.
parley_fuzzer(fuzz_content fuzz/fuzz_content.c AREAS content crypto util)
