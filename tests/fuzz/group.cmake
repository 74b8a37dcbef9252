# Sender-key harnesses: SKDM processing, SenderKeyMessage decryption and
# sender-key store loading; each committed corpus replays as a unit test.
parley_fuzzer(fuzz_group_skdm fuzz/fuzz_group_skdm.c AREAS signal crypto util)
parley_fuzzer(fuzz_group_message fuzz/fuzz_group_message.c AREAS signal crypto util)
parley_fuzzer(fuzz_group_store fuzz/fuzz_group_store.c AREAS signal crypto util)
