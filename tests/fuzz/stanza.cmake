# Stanza parser fuzzing; the committed corpus replays as a unit test.
parley_fuzzer(fuzz_stanza fuzz/fuzz_stanza.c AREAS stanza util)
