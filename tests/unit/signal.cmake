# The 1:1 session core: known answers, decoders, sessions against themselves.
parley_test(test_session_kat SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_session_kat.c
            AREAS util crypto signal LABELS unit)
parley_test(test_session SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_session.c
            AREAS util crypto signal LABELS unit)
# The SignalMessage codec: hand-written encoder and direct reader against
# protobuf-c.
parley_test(test_signal_wire SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_signal_wire.c
            AREAS util crypto signal LABELS unit)
# The one-pass AES-256-CBC + HMAC-SHA256 used by the message codec.
parley_test(test_cbc_hmac SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_cbc_hmac.c
            AREAS util crypto LABELS unit)
