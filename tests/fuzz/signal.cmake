# Signal session decoders and the session-record loader; each committed
# corpus replays as a unit test.
parley_fuzzer(fuzz_signal_message fuzz/fuzz_signal_message.c AREAS signal crypto util)
parley_fuzzer(fuzz_signal_prekey fuzz/fuzz_signal_prekey.c AREAS signal crypto util)
parley_fuzzer(fuzz_signal_record fuzz/fuzz_signal_record.c AREAS signal crypto util)
