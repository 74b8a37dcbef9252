# The client's device-list parser; the committed corpus replays as a unit test.
parley_fuzzer(fuzz_client_devlist fuzz/fuzz_client_devlist.c AREAS client media content noise stanza signal crypto util)
