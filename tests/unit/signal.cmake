# The 1:1 session core: known answers, decoders, sessions against themselves.
parley_test(test_session_kat SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_session_kat.c
            AREAS util crypto signal LABELS unit)
parley_test(test_session SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_session.c
            AREAS util crypto signal LABELS unit)
