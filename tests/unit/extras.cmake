# XEdDSA, safety numbers, sender keys and crypto known-answer tests.
parley_test(test_xeddsa SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_xeddsa.c AREAS util crypto signal LABELS unit)
parley_test(test_crypto_kat SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_crypto_kat.c AREAS util crypto LABELS unit)
parley_test(test_fingerprint SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_fingerprint.c AREAS util crypto signal LABELS unit)
parley_test(test_group SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_group.c AREAS util crypto signal LABELS unit)
